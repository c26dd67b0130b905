"""Checkpoint files: safe loading, atomic saving, model-zoo names, key converters.

This package sits below both :mod:`seglab.models` and :mod:`seglab.engine` and imports only
torch, :mod:`seglab.errors`, :mod:`seglab.utils` and :mod:`seglab.version`: a model's
``init_cfg=dict(type='Pretrained', ...)`` loads weights through it, the runner saves and loads
through it, and the tools (``tools/model_converters/*``) convert original weights with it, none
of them reaching up into another layer.

Modules:
    io: ``load_checkpoint_file`` (``torch.load(weights_only=True)`` with the numpy allow-list),
        ``load_checkpoint`` / ``apply_checkpoint`` / ``load_state_dict``, ``save_checkpoint``.
    mismatch: ``CheckpointMismatchError`` and the report of missing / unexpected / mis-shaped keys.
    model_zoo: ``open-mmlab://``, ``mmcls://``, ``torchvision://`` names and the offline messages.
    convert: ``convert_checkpoint``, which rewrites a trusted pickle into a clean file.
    converters: MMSegmentation's key converters for the public original weights (MiT, Swin, ViT,
        BEiT, Twins); ``converter_cli`` is the shared command line of their tools.

What stays in :mod:`seglab.engine`: everything that needs a run -- choosing the checkpoint to
resume from (``engine.resume``, ``engine.latest``), restoring the optimizer, the lr schedule, the
AMP scaler and the RNG states (``IterBasedRunner.resume``), and the ``CheckpointHook``.
``save_checkpoint`` takes an optimizer, but only calls its ``state_dict()``, so it lives here.
``seglab.engine.checkpoint``, ``seglab.engine.model_zoo`` and ``seglab.engine.convert`` re-export
these modules for older imports.
"""
from .convert import convert_checkpoint
from .io import (DEFAULT_REVISE_KEYS, PathLike, apply_checkpoint, get_state_dict, load_checkpoint,
                 load_checkpoint_file, load_checkpoint_with_prefix, load_state_dict,
                 save_checkpoint, to_plain, weights_to_cpu)
from .mismatch import CheckpointMismatchError
from .model_zoo import cache_dirs, resolve_checkpoint_path, url_of

__all__ = [
    "DEFAULT_REVISE_KEYS", "PathLike", "apply_checkpoint", "get_state_dict", "load_checkpoint",
    "load_checkpoint_file", "load_checkpoint_with_prefix", "load_state_dict", "save_checkpoint",
    "to_plain", "weights_to_cpu", "CheckpointMismatchError", "cache_dirs",
    "resolve_checkpoint_path", "url_of", "convert_checkpoint",
]
