"""``build_*`` helpers of MMSegmentation 0.x (``mmseg.models.builder``)."""
from __future__ import annotations

import warnings
from typing import Mapping, Optional

from torch import nn

from ..errors import ConfigError
from ..registry import MODELS, build_from_cfg
from .losses import build_pixel_sampler  # noqa: F401 (MMSeg exposes it here too)


def build_backbone(cfg: Mapping) -> nn.Module:
    """Build a backbone from ``dict(type='ResNetV1c', ...)``."""
    return build_from_cfg(cfg, MODELS, key="backbone")


def build_neck(cfg: Mapping) -> nn.Module:
    """Build a neck."""
    return build_from_cfg(cfg, MODELS, key="neck")


def build_head(cfg: Mapping, key: str = "decode_head") -> nn.Module:
    """Build a decode or auxiliary head; ``key`` names it in error messages."""
    return build_from_cfg(cfg, MODELS, key=key)


def build_loss(cfg: Mapping, key: str = "loss_decode") -> nn.Module:
    """Build a loss module."""
    return build_from_cfg(cfg, MODELS, key=key)


def build_segmentor(cfg: Mapping, train_cfg: Optional[Mapping] = None,
                    test_cfg: Optional[Mapping] = None) -> nn.Module:
    """Build a segmentor from ``cfg.model``.

    ``train_cfg``/``test_cfg`` given here (the pre-0.13 MMSeg layout) are used when the model dict
    has none; putting them inside the model dict is preferred.

    Parameters keep PyTorch's (and ConvModule's) construction-time init until
    ``model.init_weights()`` applies MMSegmentation's init and loads ``pretrained`` weights, as
    ``tools/train.py`` does; building never reads a pretrained file, so testing with a config that
    names one works offline.
    """
    if train_cfg is not None or test_cfg is not None:
        warnings.warn("train_cfg and test_cfg are deprecated outside the model dict; put them in "
                      "model.train_cfg / model.test_cfg.", DeprecationWarning, stacklevel=2)
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"build_segmentor needs the model config dict (cfg.model), got "
                          f"{type(cfg).__name__}")
    if train_cfg is not None and cfg.get("train_cfg") is not None:
        raise ConfigError("train_cfg is given both as an argument and in model.train_cfg; keep one.")
    if test_cfg is not None and cfg.get("test_cfg") is not None:
        raise ConfigError("test_cfg is given both as an argument and in model.test_cfg; keep one.")
    defaults = {}
    if train_cfg is not None:
        defaults["train_cfg"] = train_cfg
    if test_cfg is not None:
        defaults["test_cfg"] = test_cfg
    return build_from_cfg(cfg, MODELS, default_args=defaults, key="model")
