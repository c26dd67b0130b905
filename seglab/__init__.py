"""seglab: semantic segmentation in pure PyTorch, compatible with MMSegmentation 0.x configs."""
from .version import __version__


def __getattr__(name):
    # Lazy so that `import seglab` stays cheap and subpackages can be developed independently.
    if name == "Config":
        from .config import Config
        return Config
    raise AttributeError(f"module 'seglab' has no attribute {name!r}")


__all__ = ["__version__", "Config"]
