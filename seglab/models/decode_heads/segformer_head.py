"""``SegformerHead``: the all-MLP decoder of `SegFormer <https://arxiv.org/abs/2105.15203>`_."""
from __future__ import annotations

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import ConvModule, resize
from .decode_head import BaseDecodeHead, Inputs


@MODELS.register_module()
class SegformerHead(BaseDecodeHead, fixed_keys=("input_transform",)):
    """A 1x1 ConvModule per level, all resized to the first level, concatenated and fused.

    ``input_transform`` is always ``'multiple_select'`` (``in_index``/``in_channels`` are lists).
    As in MMSeg, the ConvModules ignore ``conv_cfg``, and ``fusion_conv`` always uses ReLU
    (``act_cfg`` applies to the per-level ``convs`` only).

    Args:
        interpolate_mode: mode of the resize of each level to the first level's size.
        **kwargs: :class:`BaseDecodeHead` keys.

    Shape:
        inputs[in_index[i]] (N, in_channels[i], h_i, w_i) -> logits (N, out_channels, h_0, w_0).
    """

    def __init__(self, interpolate_mode: str = "bilinear", **kwargs):
        super().__init__(input_transform="multiple_select", **kwargs)
        self.interpolate_mode = interpolate_mode
        if len(self.in_channels) != len(self.in_index):
            raise ConfigError(f"SegformerHead: in_channels {self.in_channels} and in_index "
                              f"{self.in_index} must have the same length.")
        self.convs = nn.ModuleList(
            ConvModule(c, self.channels, kernel_size=1, stride=1, norm_cfg=self.norm_cfg,
                       act_cfg=self.act_cfg)
            for c in self.in_channels)
        self.fusion_conv = ConvModule(self.channels * len(self.in_channels), self.channels,
                                      kernel_size=1, norm_cfg=self.norm_cfg)

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        """Features before ``cls_seg``: (N, channels, h_0, w_0)."""
        inputs = self._transform_inputs(inputs)
        size = inputs[0].shape[2:]
        outs = [resize(conv(x), size=size, mode=self.interpolate_mode,
                       align_corners=self.align_corners)
                for conv, x in zip(self.convs, inputs)]
        return self.fusion_conv(torch.cat(outs, dim=1))
