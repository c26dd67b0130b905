"""``PSPHead``: pyramid pooling module (`PSPNet <https://arxiv.org/abs/1612.01105>`_)."""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence

import torch
from torch import nn

from ...registry import MODELS
from ..layers import ConvModule, resize
from .decode_head import BaseDecodeHead, Inputs


class PPM(nn.ModuleList):
    """Pooling pyramid: per scale ``AdaptiveAvgPool2d(scale)`` then a 1x1 ConvModule.

    Module names (``<i>.1.conv``) are MMSeg's. ``forward`` returns each branch upsampled
    bilinearly to the input size.

    Args:
        pool_scales: output sizes of the adaptive pools.
        in_channels: input channels.
        channels: channels of each branch.
        conv_cfg: conv type.
        norm_cfg: norm type.
        act_cfg: activation type.
        align_corners: of the upsampling.
    """

    def __init__(self, pool_scales: Sequence[int], in_channels: int, channels: int,
                 conv_cfg: Optional[Mapping], norm_cfg: Optional[Mapping],
                 act_cfg: Optional[Mapping], align_corners: bool):
        super().__init__(
            nn.Sequential(nn.AdaptiveAvgPool2d(scale),
                          ConvModule(in_channels, channels, 1, conv_cfg=conv_cfg,
                                     norm_cfg=norm_cfg, act_cfg=act_cfg))
            for scale in pool_scales)
        self.pool_scales, self.align_corners = tuple(pool_scales), align_corners

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Args: x: (N, C, H, W). Returns: one (N, channels, H, W) map per scale."""
        return [resize(branch(x), size=x.shape[2:], mode="bilinear",
                       align_corners=self.align_corners) for branch in self]


@MODELS.register_module()
class PSPHead(BaseDecodeHead):
    """Concatenate the input with its pooling pyramid, fuse with a 3x3 ``bottleneck``.

    Args:
        pool_scales: sizes of the pyramid pools.
        **kwargs: :class:`BaseDecodeHead` keys.

    Shape:
        inputs[in_index] (N, in_channels, h, w) -> logits (N, out_channels, h, w).
    """

    def __init__(self, pool_scales: Sequence[int] = (1, 2, 3, 6), **kwargs):
        super().__init__(**kwargs)
        self.pool_scales = tuple(pool_scales)
        self.psp_modules = PPM(self.pool_scales, self.in_channels, self.channels,
                               align_corners=self.align_corners, **self.conv_args)
        self.bottleneck = ConvModule(self.in_channels + len(self.pool_scales) * self.channels,
                                     self.channels, 3, padding=1, **self.conv_args)

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        x = self._transform_inputs(inputs)
        return self.bottleneck(torch.cat([x, *self.psp_modules(x)], dim=1))
