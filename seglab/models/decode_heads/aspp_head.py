"""``ASPPHead``: atrous spatial pyramid pooling (`DeepLabV3 <https://arxiv.org/abs/1706.05587>`_)."""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence

import torch
from torch import nn

from ...registry import MODELS
from ..layers import ConvModule, resize
from .decode_head import BaseDecodeHead, Inputs


class ASPPModule(nn.ModuleList):
    """Parallel ConvModules: 1x1 for dilation 1, otherwise 3x3 with padding = dilation.

    Args:
        dilations: one branch per dilation.
        in_channels: input channels.
        channels: channels of each branch.
        conv_cfg: conv type.
        norm_cfg: norm type.
        act_cfg: activation type.
    """

    def __init__(self, dilations: Sequence[int], in_channels: int, channels: int,
                 conv_cfg: Optional[Mapping], norm_cfg: Optional[Mapping],
                 act_cfg: Optional[Mapping]):
        super().__init__(
            ConvModule(in_channels, channels, 1 if d == 1 else 3, dilation=d,
                       padding=0 if d == 1 else d, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                       act_cfg=act_cfg)
            for d in dilations)
        self.dilations = tuple(dilations)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Args: x: (N, C, H, W). Returns: one (N, channels, H, W) map per dilation."""
        return [branch(x) for branch in self]


def image_pool(in_channels: int, channels: int, conv_cfg: Optional[Mapping],
               norm_cfg: Optional[Mapping], act_cfg: Optional[Mapping]) -> nn.Sequential:
    """Global average pool then a 1x1 ConvModule (``image_pool.1`` in MMSeg's names)."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1),
                         ConvModule(in_channels, channels, 1, conv_cfg=conv_cfg,
                                    norm_cfg=norm_cfg, act_cfg=act_cfg))


@MODELS.register_module()
class ASPPHead(BaseDecodeHead):
    """Image pooling + ASPP branches, concatenated and fused by a 3x3 ``bottleneck``.

    Args:
        dilations: dilations of the ASPP branches.
        **kwargs: :class:`BaseDecodeHead` keys.

    Shape:
        inputs[in_index] (N, in_channels, h, w) -> logits (N, out_channels, h, w).
    """

    def __init__(self, dilations: Sequence[int] = (1, 6, 12, 18), **kwargs):
        super().__init__(**kwargs)
        self.dilations = tuple(dilations)
        self.image_pool = image_pool(self.in_channels, self.channels, **self.conv_args)
        self.aspp_modules = ASPPModule(self.dilations, self.in_channels, self.channels,
                                       **self.conv_args)
        self.bottleneck = ConvModule((len(self.dilations) + 1) * self.channels, self.channels, 3,
                                     padding=1, **self.conv_args)

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        x = self._transform_inputs(inputs)
        pooled = resize(self.image_pool(x), size=x.shape[2:], mode="bilinear",
                        align_corners=self.align_corners)
        return self.bottleneck(torch.cat([pooled, *self.aspp_modules(x)], dim=1))
