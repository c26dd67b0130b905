"""``DepthwiseSeparableASPPHead``: the DeepLabV3+ decoder (`paper <https://arxiv.org/abs/1802.02611>`_)."""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence

import torch
from torch import nn

from ...registry import MODELS
from ..layers import ConvModule, DepthwiseSeparableConvModule, resize
from .aspp_head import image_pool
from .decode_head import BaseDecodeHead, Inputs, InputSpec


class DepthwiseSeparableASPPModule(nn.ModuleList):
    """ASPP whose dilated branches are depthwise separable (the dilation-1 branch stays 1x1).

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
        args = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        super().__init__(
            ConvModule(in_channels, channels, 1, **args) if d == 1 else
            DepthwiseSeparableConvModule(in_channels, channels, 3, dilation=d, padding=d, **args)
            for d in dilations)
        self.dilations = tuple(dilations)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Args: x: (N, C, H, W). Returns: one (N, channels, H, W) map per dilation."""
        return [branch(x) for branch in self]


@MODELS.register_module()
class DepthwiseSeparableASPPHead(BaseDecodeHead):
    """ASPP on the deepest level, upsampled and fused with low-level features (``c1``).

    Module names and order equal MMSeg's (``image_pool``, ``aspp_modules``, ``bottleneck``,
    ``c1_bottleneck``, ``sep_bottleneck``).

    Args:
        dilations: dilations of the ASPP branches.
        c1_in_channels: channels of ``inputs[0]`` (the low-level features); 0 disables them.
        c1_channels: channels the low-level features are reduced to.
        **kwargs: :class:`BaseDecodeHead` keys.

    Shape:
        inputs[in_index] (N, in_channels, h, w), inputs[0] (N, c1_in_channels, H1, W1)
        -> logits (N, out_channels, H1, W1).
    """

    def __init__(self, c1_in_channels: int, c1_channels: int,
                 dilations: Sequence[int] = (1, 6, 12, 18), **kwargs):
        super().__init__(**kwargs)
        self.dilations = tuple(dilations)
        self.image_pool = image_pool(self.in_channels, self.channels, **self.conv_args)
        self.aspp_modules = DepthwiseSeparableASPPModule(self.dilations, self.in_channels,
                                                         self.channels, **self.conv_args)
        self.bottleneck = ConvModule((len(self.dilations) + 1) * self.channels, self.channels, 3,
                                     padding=1, **self.conv_args)
        self.c1_in_channels = c1_in_channels
        if c1_in_channels > 0:
            self.c1_bottleneck = ConvModule(c1_in_channels, c1_channels, 1, **self.conv_args)
        else:
            self.c1_bottleneck = None
        sep_args = dict(norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.sep_bottleneck = nn.Sequential(
            DepthwiseSeparableConvModule(self.channels + c1_channels, self.channels, 3, padding=1,
                                         **sep_args),
            DepthwiseSeparableConvModule(self.channels, self.channels, 3, padding=1, **sep_args))

    def input_specs(self) -> List[InputSpec]:
        """``in_channels`` at ``in_index``, and ``c1_in_channels`` at output 0 (fixed)."""
        c1 = [InputSpec("c1_in_channels", self.c1_in_channels, 0, index_key=None)]
        return super().input_specs() + (c1 if self.c1_in_channels > 0 else [])

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        x = self._transform_inputs(inputs)
        pooled = resize(self.image_pool(x), size=x.shape[2:], mode="bilinear",
                        align_corners=self.align_corners)
        out = self.bottleneck(torch.cat([pooled, *self.aspp_modules(x)], dim=1))
        if self.c1_bottleneck is not None:
            c1 = self.c1_bottleneck(inputs[0])
            out = resize(out, size=c1.shape[2:], mode="bilinear", align_corners=self.align_corners)
            out = torch.cat([out, c1], dim=1)
        return self.sep_bottleneck(out)
