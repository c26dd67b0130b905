"""Activation layers built from MMCV-style ``act_cfg`` dicts (``dict(type='ReLU', inplace=True)``)."""
from __future__ import annotations

from typing import Callable, Dict, Mapping, Optional

import torch
from torch import nn

from ...errors import ConfigError


class HSigmoid(nn.Module):
    """Hard sigmoid ``clamp((x + bias) / divisor, min_value, max_value)`` (MMCV >= 1.4.4 defaults).

    Args:
        bias: added before the division.
        divisor: the divisor; must not be 0.
        min_value: lower clamp bound.
        max_value: upper clamp bound.
    """

    def __init__(self, bias: float = 3.0, divisor: float = 6.0, min_value: float = 0.0,
                 max_value: float = 1.0):
        super().__init__()
        if divisor == 0:
            raise ConfigError("act_cfg HSigmoid: divisor must not be 0")
        self.bias, self.divisor = bias, divisor
        self.min_value, self.max_value = min_value, max_value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + self.bias) / self.divisor).clamp(self.min_value, self.max_value)


class Swish(nn.Module):
    """``x * sigmoid(x)`` (MMCV's name for SiLU; it takes no arguments)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


class Clamp(nn.Module):
    """Clamp values to ``[min, max]``."""

    def __init__(self, min: float = -1.0, max: float = 1.0):  # noqa: A002 - MMCV's key names
        super().__init__()
        self.min, self.max = min, max

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x, min=self.min, max=self.max)


class GELU(nn.GELU):
    """``nn.GELU`` that ignores MMCV's ``inplace`` key (ConvModule never sets it for GELU)."""


ACTIVATIONS: Dict[str, Callable[..., nn.Module]] = {
    "ReLU": nn.ReLU,
    "LeakyReLU": nn.LeakyReLU,
    "PReLU": nn.PReLU,
    "RReLU": nn.RReLU,
    "ReLU6": nn.ReLU6,
    "ELU": nn.ELU,
    "Sigmoid": nn.Sigmoid,
    "Tanh": nn.Tanh,
    "GELU": GELU,
    "SiLU": nn.SiLU,
    "Swish": Swish,
    "HSigmoid": HSigmoid,
    "HSwish": nn.Hardswish,
    "Clamp": Clamp,
}

# Activations whose constructor has no ``inplace`` argument; ConvModule leaves them alone.
NO_INPLACE = frozenset({"Tanh", "PReLU", "Sigmoid", "HSigmoid", "Swish", "GELU", "Clamp"})


def build_activation_layer(cfg: Optional[Mapping]) -> nn.Module:
    """Build an activation module from ``cfg``.

    Args:
        cfg: ``dict(type=name, **args)``; ``type`` is one of :data:`ACTIVATIONS`.

    Returns:
        The activation module.

    Raises:
        ConfigError: unknown type or arguments the activation does not accept.
    """
    if not isinstance(cfg, Mapping) or "type" not in cfg:
        raise ConfigError(f"act_cfg must be a dict with a 'type' key, got {cfg!r}")
    args = dict(cfg)
    act_type = args.pop("type")
    if act_type not in ACTIVATIONS:
        raise ConfigError(f"act_cfg type '{act_type}' is not supported; use one of "
                          f"{', '.join(sorted(ACTIVATIONS))}.")
    try:
        return ACTIVATIONS[act_type](**args)
    except TypeError as err:
        raise ConfigError(f"act_cfg {dict(cfg)!r}: invalid arguments for {act_type} ({err}).") from err
