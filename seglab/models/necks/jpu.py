"""``JPU``: Joint Pyramid Upsampling of `FastFCN <https://arxiv.org/abs/1903.11816>`_.

Same keys, module names and numerics as MMSegmentation 0.x's ``mmseg.models.necks.JPU``: each
level in ``[start_level, end_level)`` goes through a 3x3 ConvModule (``conv_layers``), all are
resized to the first one's size and concatenated, then one depthwise separable conv per dilation
(``dilation_layers``; the depthwise part has a norm but no activation) and the results are
concatenated. Outputs: the input levels ``start_level .. end_level - 2`` unchanged, then the
fused map (``len(dilations) * mid_channels`` channels at the ``start_level`` resolution).
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..backbones.base import OutputShapes, ShapeSpec
from ..layers import ConvModule, DepthwiseSeparableConvModule, resize
from .base import BaseNeck


@MODELS.register_module()
class JPU(BaseNeck):
    """Fuse a dilated-free backbone's last levels at the resolution of the first one.

    Args:
        in_channels: channels of each backbone output the neck receives.
        mid_channels: channels of each conv / dilation branch.
        start_level: first input level used.
        end_level: one past the last level used; -1 = all levels.
        dilations: dilation of each separable conv branch.
        align_corners: of the resizes.
        conv_cfg: conv type.
        norm_cfg: norm type.
        act_cfg: activation type.

    Shape:
        maps (N, in_channels[i], H_i, W_i) -> inputs start_level .. end_level - 2, then
        (N, len(dilations) * mid_channels, H_start, W_start).
    """

    def __init__(self, in_channels: Sequence[int] = (512, 1024, 2048), mid_channels: int = 512,
                 start_level: int = 0, end_level: int = -1,
                 dilations: Sequence[int] = (1, 2, 4, 8), align_corners: bool = False,
                 conv_cfg: Optional[Mapping] = None, norm_cfg: Optional[Mapping] = dict(type="BN"),
                 act_cfg: Optional[Mapping] = dict(type="ReLU")):
        super().__init__()
        if not isinstance(in_channels, (list, tuple)) or not isinstance(dilations, (list, tuple)):
            raise ConfigError(f"JPU in_channels and dilations must be tuples, got "
                              f"in_channels={in_channels!r}, dilations={dilations!r}")
        self.in_channels, self.mid_channels = tuple(in_channels), mid_channels
        self.start_level, self.num_ins = start_level, len(in_channels)
        self.backbone_end_level = self.num_ins if end_level == -1 else end_level
        if not 0 <= start_level < self.backbone_end_level <= self.num_ins:
            raise ConfigError(f"JPU needs 0 <= start_level < end_level <= len(in_channels)="
                              f"{self.num_ins}, got start_level={start_level}, "
                              f"end_level={end_level}")
        self.dilations, self.align_corners = tuple(dilations), align_corners
        levels = range(start_level, self.backbone_end_level)
        self.conv_layers = nn.ModuleList(
            nn.Sequential(ConvModule(in_channels[i], mid_channels, kernel_size=3, padding=1,
                                     conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg))
            for i in levels)
        fused = len(levels) * mid_channels
        self.dilation_layers = nn.ModuleList(
            nn.Sequential(DepthwiseSeparableConvModule(
                fused, mid_channels, kernel_size=3, stride=1, padding=d, dilation=d,
                dw_norm_cfg=norm_cfg, dw_act_cfg=None, pw_norm_cfg=norm_cfg, pw_act_cfg=act_cfg))
            for d in self.dilations)

    def output_shapes(self, in_shapes: OutputShapes) -> OutputShapes:
        """The passed-through inputs, then the fused map at the start level's stride."""
        if in_shapes is None or len(in_shapes) != self.num_ins:
            return None
        passed = tuple(in_shapes[self.start_level:self.backbone_end_level - 1])
        start = in_shapes[self.start_level]
        fused = None if start is None else ShapeSpec(len(self.dilations) * self.mid_channels,
                                                     start.stride)
        return passed + (fused,)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Args: inputs: the backbone maps. Returns: see the class doc."""
        if len(inputs) != self.num_ins:
            raise ValueError(f"JPU was built for {self.num_ins} inputs (in_channels="
                             f"{self.in_channels}), got {len(inputs)}")
        feats = [conv(inputs[self.start_level + i]) for i, conv in enumerate(self.conv_layers)]
        size = feats[0].shape[2:]
        feats = [feats[0]] + [resize(f, size=size, mode="bilinear",
                                     align_corners=self.align_corners) for f in feats[1:]]
        feat = torch.cat(feats, dim=1)
        fused = torch.cat([layer(feat) for layer in self.dilation_layers], dim=1)
        return (*inputs[self.start_level:self.backbone_end_level - 1], fused)
