"""Convolution layers built from MMCV-style ``conv_cfg`` dicts (``None`` means ``Conv2d``)."""
from __future__ import annotations

from typing import Any, Mapping, Optional

from torch import nn

from ...errors import ConfigError

CONV_LAYERS = {"Conv": nn.Conv2d, "Conv1d": nn.Conv1d, "Conv2d": nn.Conv2d, "Conv3d": nn.Conv3d}


def build_conv_layer(cfg: Optional[Mapping], *args: Any, **kwargs: Any) -> nn.Module:
    """Build a convolution layer.

    Args:
        cfg: ``None`` (``Conv2d``) or ``dict(type=name, **layer_args)``.
        *args: positional arguments of the layer (in_channels, out_channels, kernel_size, ...).
        **kwargs: keyword arguments of the layer (stride, padding, dilation, groups, bias, ...).

    Returns:
        The convolution module.
    """
    if cfg is None:
        cfg = {"type": "Conv2d"}
    if not isinstance(cfg, Mapping) or "type" not in cfg:
        raise ConfigError(f"conv_cfg must be None or a dict with a 'type' key, got {cfg!r}")
    layer_args = dict(cfg)
    conv_type = layer_args.pop("type")
    if conv_type not in CONV_LAYERS:
        hint = (" Deformable and other compiled-op convolutions (DCN, ConvWS...) are not available "
                "in seglab (pure PyTorch)." if conv_type not in ("deconv",) else "")
        raise ConfigError(f"conv_cfg type '{conv_type}' is not supported; use one of "
                          f"{', '.join(CONV_LAYERS)}.{hint}")
    layer_args.update(kwargs)
    return CONV_LAYERS[conv_type](*args, **layer_args)
