"""``SELayer``: squeeze-and-excitation gating (`SENet <https://arxiv.org/abs/1709.01507>`_)."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Union

import torch
from torch import nn

from ...errors import ConfigError
from .conv_module import ConvModule
from .make_divisible import make_divisible

ActCfgs = Union[Mapping, Sequence[Mapping]]


class SELayer(nn.Module):
    """Global average pool -> 1x1 conv -> act -> 1x1 conv -> gate (``mmseg.models.utils.SELayer``).

    The squeezed width is ``make_divisible(channels // ratio, 8)``. Submodules ``conv1`` and
    ``conv2`` are ConvModules without norm (so with a bias): ``se.conv1.conv.weight``.

    Args:
        channels: input (and output) channels.
        ratio: squeeze ratio.
        conv_cfg: conv type of both convs.
        act_cfg: one activation dict for both convs, or a pair (after conv1, after conv2); the
            default gate is MMSeg's hard sigmoid ``clamp((x + 3) / 6, 0, 1)``.

    Shape:
        (N, channels, H, W) -> (N, channels, H, W).
    """

    def __init__(self, channels: int, ratio: int = 16, conv_cfg: Optional[Mapping] = None,
                 act_cfg: ActCfgs = (dict(type="ReLU"),
                                     dict(type="HSigmoid", bias=3.0, divisor=6.0))):
        super().__init__()
        if isinstance(act_cfg, Mapping):
            act_cfg = (act_cfg, act_cfg)
        if len(act_cfg) != 2 or not all(isinstance(a, Mapping) for a in act_cfg):
            raise ConfigError(f"SELayer act_cfg must be a dict or a pair of dicts, got {act_cfg!r}")
        squeezed = make_divisible(channels // ratio, 8)
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.conv1 = ConvModule(channels, squeezed, 1, conv_cfg=conv_cfg, act_cfg=act_cfg[0])
        self.conv2 = ConvModule(squeezed, channels, 1, conv_cfg=conv_cfg, act_cfg=act_cfg[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv2(self.conv1(self.global_avgpool(x)))
