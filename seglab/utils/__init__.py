"""Small shared helpers. Imported lazily so that `seglab.utils.io` does not pull in torch."""
from importlib import import_module

_EXPORTS = {
    "get_dist_info": ".dist", "is_distributed": ".dist", "is_main_process": ".dist",
    "atomic_open": ".io", "atomic_torch_save": ".io", "atomic_write_text": ".io",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module 'seglab.utils' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
