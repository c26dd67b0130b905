"""``ICNeck``: ICNet's cascade feature fusion (`ICNet <https://arxiv.org/abs/1704.08545>`_).

Same keys, module names and numerics as MMSegmentation 0.x's ``mmseg.models.necks.ICNeck``:
``cff_24`` fuses the sub4 map into the sub2 one, ``cff_12`` that result into the sub1 one. Each
:class:`CascadeFeatureFusion` upsamples the low-resolution map to the high one, applies a dilated
3x3 ``conv_low`` and a 1x1 ``conv_high``, and returns ``relu(sum)`` plus the ``conv_low`` map
(the auxiliary heads' cascade label guidance reads it).
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..backbones.base import OutputShapes, ShapeSpec
from ..layers import ConvModule, resize
from .base import BaseNeck


class CascadeFeatureFusion(nn.Module):
    """Fuse a low-resolution map into a high-resolution one.

    Args:
        low_channels: channels of the low-resolution input.
        high_channels: channels of the high-resolution input.
        out_channels: output channels.
        conv_cfg: conv type.
        norm_cfg: norm type.
        act_cfg: activation of both ConvModules.
        align_corners: of the upsampling.

    Shape:
        x_low (N, low_channels, h, w), x_high (N, high_channels, H, W) -> fused (N, out_channels,
        H, W) and the upsampled, convolved low map (N, out_channels, H, W).
    """

    def __init__(self, low_channels: int, high_channels: int, out_channels: int,
                 conv_cfg: Optional[Mapping] = None, norm_cfg: Optional[Mapping] = dict(type="BN"),
                 act_cfg: Optional[Mapping] = dict(type="ReLU"), align_corners: bool = False):
        super().__init__()
        self.align_corners = align_corners
        self.conv_low = ConvModule(low_channels, out_channels, 3, padding=2, dilation=2,
                                   conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv_high = ConvModule(high_channels, out_channels, 1, conv_cfg=conv_cfg,
                                    norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x_low: torch.Tensor,
                x_high: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x_low = self.conv_low(resize(x_low, size=x_high.shape[2:], mode="bilinear",
                                     align_corners=self.align_corners))
        return F.relu(x_low + self.conv_high(x_high)), x_low


@MODELS.register_module()
class ICNeck(BaseNeck):
    """Cascade fusion of ICNet's (sub1, sub2, sub4) maps.

    Args:
        in_channels: channels of the sub1, sub2 and sub4 inputs.
        out_channels: channels of every output.
        conv_cfg: conv type.
        norm_cfg: norm type.
        act_cfg: activation type.
        align_corners: of the upsampling.

    Shape:
        (sub1 (N, C1, H1, W1), sub2 (N, C2, H2, W2), sub4) -> (low map at sub2's size, low map at
        sub1's size, fused map at sub1's size), each with ``out_channels``.
    """

    def __init__(self, in_channels: Sequence[int] = (64, 256, 256), out_channels: int = 128,
                 conv_cfg: Optional[Mapping] = None, norm_cfg: Optional[Mapping] = dict(type="BN"),
                 act_cfg: Optional[Mapping] = dict(type="ReLU"), align_corners: bool = False):
        super().__init__()
        if not isinstance(in_channels, (list, tuple)) or len(in_channels) != 3:
            raise ConfigError(f"ICNeck in_channels must have 3 entries (sub1, sub2, sub4), got "
                              f"{in_channels!r}")
        self.in_channels, self.out_channels = tuple(in_channels), out_channels
        self.align_corners = align_corners
        args = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg,
                    align_corners=align_corners)
        self.cff_24 = CascadeFeatureFusion(in_channels[2], in_channels[1], out_channels, **args)
        self.cff_12 = CascadeFeatureFusion(out_channels, in_channels[0], out_channels, **args)

    def output_shapes(self, in_shapes: OutputShapes) -> OutputShapes:
        """``out_channels`` at sub2's, sub1's and sub1's stride."""
        if in_shapes is None or len(in_shapes) != 3 or None in in_shapes[:2]:
            return None
        sub1, sub2 = in_shapes[0].stride, in_shapes[1].stride
        return tuple(ShapeSpec(self.out_channels, s) for s in (sub2, sub1, sub1))

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Args: inputs: (sub1, sub2, sub4). Returns: (x_24, x_12, x_cff_12)."""
        if len(inputs) != 3:
            raise ValueError(f"ICNeck takes 3 maps (sub1, sub2, sub4), got {len(inputs)}")
        x_sub1, x_sub2, x_sub4 = inputs
        x_cff_24, x_24 = self.cff_24(x_sub4, x_sub2)
        x_cff_12, x_12 = self.cff_12(x_cff_24, x_sub1)
        return x_24, x_12, x_cff_12
