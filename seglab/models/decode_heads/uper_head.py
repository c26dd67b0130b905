"""``UPerHead``: FPN + pyramid pooling (`UPerNet <https://arxiv.org/abs/1807.10221>`_)."""
from __future__ import annotations

from typing import List, Sequence

import torch
from torch import nn

from ...registry import MODELS
from ..layers import ConvModule, resize
from .decode_head import BaseDecodeHead, Inputs
from .psp_head import PPM


@MODELS.register_module()
class UPerHead(BaseDecodeHead, fixed_keys=("input_transform",)):
    """PPM on the deepest level, a top-down FPN over all levels, fused at the finest level.

    ``input_transform`` is always ``'multiple_select'`` (``in_index``/``in_channels`` are lists).

    Args:
        pool_scales: sizes of the PPM pools.
        **kwargs: :class:`BaseDecodeHead` keys.

    Shape:
        inputs[in_index[i]] (N, in_channels[i], h_i, w_i) -> logits (N, out_channels, h_0, w_0).
    """

    def __init__(self, pool_scales: Sequence[int] = (1, 2, 3, 6), **kwargs):
        super().__init__(input_transform="multiple_select", **kwargs)
        self.psp_modules = PPM(pool_scales, self.in_channels[-1], self.channels,
                               align_corners=self.align_corners, **self.conv_args)
        self.bottleneck = ConvModule(self.in_channels[-1] + len(pool_scales) * self.channels,
                                     self.channels, 3, padding=1, **self.conv_args)
        self.lateral_convs = nn.ModuleList(
            ConvModule(c, self.channels, 1, inplace=False, **self.conv_args)
            for c in self.in_channels[:-1])
        self.fpn_convs = nn.ModuleList(
            ConvModule(self.channels, self.channels, 3, padding=1, inplace=False, **self.conv_args)
            for _ in self.in_channels[:-1])
        self.fpn_bottleneck = ConvModule(len(self.in_channels) * self.channels, self.channels, 3,
                                         padding=1, **self.conv_args)

    def psp_forward(self, inputs: List[torch.Tensor]) -> torch.Tensor:
        """PPM + bottleneck on the deepest level: (N, channels, h_last, w_last)."""
        x = inputs[-1]
        return self.bottleneck(torch.cat([x, *self.psp_modules(x)], dim=1))

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        inputs = self._transform_inputs(inputs)
        laterals = [conv(inputs[i]) for i, conv in enumerate(self.lateral_convs)]
        laterals.append(self.psp_forward(inputs))
        # Top-down: each level adds the upsampled coarser level.
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + resize(
                laterals[i], size=laterals[i - 1].shape[2:], mode="bilinear",
                align_corners=self.align_corners)
        outs = [conv(laterals[i]) for i, conv in enumerate(self.fpn_convs)]
        outs.append(laterals[-1])
        size = outs[0].shape[2:]
        outs = [outs[0]] + [resize(o, size=size, mode="bilinear", align_corners=self.align_corners)
                            for o in outs[1:]]
        return self.fpn_bottleneck(torch.cat(outs, dim=1))
