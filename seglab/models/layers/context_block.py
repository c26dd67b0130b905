"""``ContextBlock``: the global context block of `GCNet <https://arxiv.org/abs/1904.11492>`_.

Arguments, keys (``conv_mask``, ``channel_add_conv.{0,1,3}``, ``channel_mul_conv``) and init of
``mmcv.cnn.ContextBlock``: one context vector per image (attention- or average-pooled), turned
by a bottleneck transform (1x1 conv, LayerNorm, ReLU, 1x1 conv) into a per-channel term that
is added to (``channel_add``) and/or multiplies (``channel_mul``, through a sigmoid) the input.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ...errors import ConfigError
from .weight_init import constant_init, kaiming_init

POOLING_TYPES = ("att", "avg")
FUSION_TYPES = ("channel_add", "channel_mul")


def _transform(channels: int, planes: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(channels, planes, kernel_size=1), nn.LayerNorm([planes, 1, 1]),
                         nn.ReLU(inplace=True), nn.Conv2d(planes, channels, kernel_size=1))


class ContextBlock(nn.Module):
    """Global context modelling and fusion.

    Args:
        in_channels: input channels.
        ratio: bottleneck width ``int(in_channels * ratio)``.
        pooling_type: ``'att'`` (softmax over pixels of a 1x1 ``conv_mask``) or ``'avg'``.
        fusion_types: non-empty subset of ``('channel_add', 'channel_mul')``.

    Shape:
        (N, in_channels, H, W) -> (N, in_channels, H, W).
    """

    def __init__(self, in_channels: int, ratio: float, pooling_type: str = "att",
                 fusion_types: Sequence[str] = ("channel_add",)):
        super().__init__()
        if pooling_type not in POOLING_TYPES:
            raise ConfigError(f"ContextBlock pooling_type={pooling_type!r} must be one of "
                              f"{POOLING_TYPES}.")
        if not isinstance(fusion_types, (list, tuple)) or not fusion_types or \
                any(f not in FUSION_TYPES for f in fusion_types):
            raise ConfigError(f"ContextBlock fusion_types={fusion_types!r} must be a non-empty "
                              f"list or tuple of {FUSION_TYPES}.")
        self.in_channels, self.ratio = in_channels, ratio
        self.planes = int(in_channels * ratio)
        if self.planes < 1:
            raise ConfigError(f"ContextBlock ratio={ratio} gives int({in_channels} * {ratio}) = "
                              f"{self.planes} bottleneck channels; raise the ratio.")
        self.pooling_type, self.fusion_types = pooling_type, tuple(fusion_types)
        if pooling_type == "att":
            self.conv_mask = nn.Conv2d(in_channels, 1, kernel_size=1)
            self.softmax = nn.Softmax(dim=2)
        else:
            self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.channel_add_conv = _transform(in_channels, self.planes) \
            if "channel_add" in fusion_types else None
        self.channel_mul_conv = _transform(in_channels, self.planes) \
            if "channel_mul" in fusion_types else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """MMCV's init: Kaiming (fan_in) ``conv_mask``, the last conv of each transform at 0."""
        if self.pooling_type == "att":
            kaiming_init(self.conv_mask, mode="fan_in")
        for transform in (self.channel_add_conv, self.channel_mul_conv):
            if transform is not None:
                constant_init(transform[-1], 0)

    def spatial_pool(self, x: torch.Tensor) -> torch.Tensor:
        """The context vector: (N, C, H, W) -> (N, C, 1, 1)."""
        if self.pooling_type == "avg":
            return self.avg_pool(x)
        n, c = x.shape[:2]
        weights = self.softmax(self.conv_mask(x).view(n, 1, -1))  # (N, 1, HW) over pixels
        context = torch.matmul(x.view(n, 1, c, -1), weights.unsqueeze(-1))  # (N, 1, C, 1)
        return context.view(n, c, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        context = self.spatial_pool(x)
        out = x
        if self.channel_mul_conv is not None:
            out = out * torch.sigmoid(self.channel_mul_conv(context))
        if self.channel_add_conv is not None:
            out = out + self.channel_add_conv(context)
        return out
