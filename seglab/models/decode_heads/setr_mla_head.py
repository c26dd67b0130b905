"""``SETRMLAHead``: SETR's multi-level aggregation decoder (``mmseg.models.decode_heads``).

Each selected map (the :class:`~seglab.models.necks.MLANeck` outputs) goes through its own two
3x3 ConvModules to ``mla_channels`` and a bilinear x``up_scale`` upsampling (``up_convs.i.0``,
``up_convs.i.1``); the results are concatenated (``channels = len(in_channels) *
mla_channels``) and classified by ``conv_seg``.
"""
from __future__ import annotations

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import ConvModule, Upsample
from .decode_head import BaseDecodeHead, Inputs


@MODELS.register_module()
class SETRMLAHead(BaseDecodeHead, fixed_keys=("input_transform",)):
    """Per-level conv-conv-upsample, concatenated; ``input_transform`` is 'multiple_select'.

    Args:
        mla_channels: channels of each level's branch.
        up_scale: upsampling factor of each branch.
        **kwargs: :class:`BaseDecodeHead` keys (``in_channels``/``in_index`` lists;
            ``channels`` must equal ``len(in_channels) * mla_channels``).

    Shape:
        inputs[in_index[i]] (N, in_channels[i], h, w), all the same size ->
        logits (N, out_channels, h * up_scale, w * up_scale).
    """

    def __init__(self, mla_channels: int = 128, up_scale: int = 4, **kwargs):
        super().__init__(input_transform="multiple_select", **kwargs)
        self.mla_channels, self.up_scale = mla_channels, up_scale
        num_inputs = len(self.in_channels)
        if self.channels != num_inputs * mla_channels:
            raise ConfigError(f"SETRMLAHead: channels ({self.channels}) must equal "
                              f"len(in_channels) * mla_channels = {num_inputs} * {mla_channels}"
                              f" = {num_inputs * mla_channels}")
        self.up_convs = nn.ModuleList(
            nn.Sequential(
                ConvModule(c, mla_channels, 3, padding=1, **self.conv_args),
                ConvModule(mla_channels, mla_channels, 3, padding=1, **self.conv_args),
                Upsample(scale_factor=up_scale, mode="bilinear",
                         align_corners=self.align_corners))
            for c in self.in_channels)

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        inputs = self._transform_inputs(inputs)
        return torch.cat([up_conv(x) for x, up_conv in zip(inputs, self.up_convs)], dim=1)
