"""Pyramid pooling of the dual-resolution networks: DDRNet's ``DAPPM`` and PIDNet's ``PAPPM``.

Names, keys and arithmetic of MMSegmentation 1.x's ``mmseg.models.utils.ppm``. Every ConvModule
runs norm -> act -> conv (pre-activation) without bias. ``scales[0]`` is a 1x1 conv of the input;
``scales[1..n-2]`` average-pool (kernel ``k``, stride ``s``, padding ``p``) first, the last one
pools globally; each pooled map is upsampled back (bilinear).
"""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from .conv_module import ConvModule

PRE_ACT = dict(order=("norm", "act", "conv"), bias=False)


class DAPPM(nn.Module):
    """Deep Aggregation Pyramid Pooling Module of `DDRNet <https://arxiv.org/abs/2101.06085>`_.

    Each scale's upsampled map is added to the previous scale's processed map and processed by
    its own 3x3 ConvModule (``processes[i - 1]``), a cascade; then ``compression`` (1x1) of the
    concatenation plus the 1x1 ``shortcut`` of the input.

    Args:
        in_channels: input channels.
        branch_channels: channels of every scale.
        out_channels: output channels.
        num_scales: scales including the 1x1 and the global one (>= 2).
        kernel_sizes: average-pool kernels of the middle scales (``num_scales - 2`` used).
        strides: their strides.
        paddings: their paddings.
        norm_cfg: norm of the ConvModules.
        act_cfg: activation of the ConvModules.
        conv_cfg: further ConvModule arguments (MMSeg's default: pre-activation, no bias).
        upsample_mode: interpolation mode of the upsampling.

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, H, W).
    """

    def __init__(self, in_channels: int, branch_channels: int, out_channels: int,
                 num_scales: int, kernel_sizes: Sequence[int] = (5, 9, 17),
                 strides: Sequence[int] = (2, 4, 8), paddings: Sequence[int] = (2, 4, 8),
                 norm_cfg: Optional[Mapping] = dict(type="BN", momentum=0.1),
                 act_cfg: Optional[Mapping] = dict(type="ReLU", inplace=True),
                 conv_cfg: Mapping = PRE_ACT, upsample_mode: str = "bilinear"):
        super().__init__()
        middle = num_scales - 2
        if num_scales < 2 or min(len(kernel_sizes), len(strides), len(paddings)) < middle:
            raise ConfigError(f"{type(self).__name__}: num_scales={num_scales} needs >= 2 scales "
                              f"and {middle} kernel_sizes/strides/paddings for the pooled ones, "
                              f"got {list(kernel_sizes)}, {list(strides)}, {list(paddings)}.")
        self.num_scales, self.upsample_mode = num_scales, upsample_mode
        self.in_channels, self.branch_channels = in_channels, branch_channels
        self.out_channels = out_channels
        self.norm_cfg, self.act_cfg, self.conv_cfg = norm_cfg, act_cfg, dict(conv_cfg)

        pools: List[nn.Module] = [nn.AvgPool2d(kernel_sizes[i], strides[i], paddings[i])
                                  for i in range(middle)] + [nn.AdaptiveAvgPool2d((1, 1))]
        self.scales = nn.ModuleList([self._conv(in_channels, branch_channels, 1)] + [
            nn.Sequential(pool, self._conv(in_channels, branch_channels, 1)) for pool in pools])
        self.processes = self._make_processes()
        self.compression = self._conv(branch_channels * num_scales, out_channels, 1)
        self.shortcut = self._conv(in_channels, out_channels, 1)

    def _conv(self, cin: int, cout: int, kernel_size: int, groups: int = 1) -> ConvModule:
        return ConvModule(cin, cout, kernel_size, padding=kernel_size // 2, groups=groups,
                          norm_cfg=self.norm_cfg, act_cfg=self.act_cfg, **self.conv_cfg)

    def _make_processes(self) -> nn.Module:
        """One 3x3 ConvModule per pooled scale."""
        return nn.ModuleList([self._conv(self.branch_channels, self.branch_channels, 3)
                              for _ in range(self.num_scales - 1)])

    def _upsampled(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """Scale ``i`` of ``x`` at the size of ``x``."""
        return F.interpolate(self.scales[i](x), size=x.shape[2:], mode=self.upsample_mode,
                             align_corners=False if self.upsample_mode == "bilinear" else None)

    def _fuse(self, x: torch.Tensor, feats: List[torch.Tensor]) -> torch.Tensor:
        return self.compression(torch.cat(feats, dim=1)) + self.shortcut(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [self.scales[0](x)]
        for i in range(1, self.num_scales):
            feats.append(self.processes[i - 1](self._upsampled(x, i) + feats[i - 1]))
        return self._fuse(x, feats)


class PAPPM(DAPPM):
    """Parallel Aggregation PPM of `PIDNet <https://arxiv.org/abs/2206.02066>`_.

    The pooled scales each add ``scales[0](x)`` and are processed *in parallel* by one grouped
    3x3 ConvModule (``processes``, ``num_scales - 1`` groups) instead of DAPPM's cascade.
    Arguments as :class:`DAPPM`.
    """

    def _make_processes(self) -> nn.Module:
        width = self.branch_channels * (self.num_scales - 1)
        return self._conv(width, width, 3, groups=self.num_scales - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = self.scales[0](x)
        pooled = [self._upsampled(x, i) + base for i in range(1, self.num_scales)]
        return self._fuse(x, [base, self.processes(torch.cat(pooled, dim=1))])
