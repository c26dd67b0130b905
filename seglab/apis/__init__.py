"""High-level entry points (MMSegmentation 0.x ``mmseg.apis`` names).

Public API: :func:`init_segmentor`, :func:`inference_segmentor`, :func:`show_result`,
:func:`show_result_pyplot`, :func:`evaluate_segmentor`, :func:`single_gpu_test`,
:func:`multi_gpu_test`, :func:`train_segmentor`. Submodules are imported on first use, so
``import seglab.apis`` is cheap and each part works even while another is still missing.
"""
from importlib import import_module

_EXPORTS = {
    "init_segmentor": ".inference", "inference_segmentor": ".inference",
    "show_result": ".inference", "show_result_pyplot": ".inference",
    "evaluate_segmentor": ".test", "single_gpu_test": ".test", "multi_gpu_test": ".test",
    "run_test": ".test",
    "train_segmentor": ".train", "init_random_seed": ".train", "set_random_seed": ".train",
    "get_root_logger": "..engine",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module 'seglab.apis' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = sorted(_EXPORTS)
