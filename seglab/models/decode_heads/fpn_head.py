"""``FPNHead``: the head of `Semantic FPN <https://arxiv.org/abs/1901.02446>`_."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import ConvModule, Upsample, resize
from .decode_head import BaseDecodeHead, Inputs


@MODELS.register_module()
class FPNHead(BaseDecodeHead, fixed_keys=("input_transform",)):
    """Per level a ``scale_heads[i]`` of 3x3 convs and x2 upsamplings back to the finest level,
    summed, then ``cls_seg``.

    Level i has ``max(1, log2(feature_strides[i] / feature_strides[0]))`` ConvModules, each
    followed (for the coarser levels) by a bilinear x2 ``Upsample``, so the keys are
    ``scale_heads.i.0``, ``scale_heads.i.2``, ... as in MMSeg. ``input_transform`` is always
    ``'multiple_select'``.

    Args:
        feature_strides: stride of each input level (powers of 2, the first the smallest).
        **kwargs: :class:`BaseDecodeHead` keys.

    Shape:
        inputs[in_index[i]] (N, in_channels[i], h_i, w_i) -> logits (N, out_channels, h_0, w_0).
    """

    def __init__(self, feature_strides: Sequence[int], **kwargs):
        super().__init__(input_transform="multiple_select", **kwargs)
        if len(feature_strides) != len(self.in_channels):
            raise ConfigError(f"FPNHead: {len(feature_strides)} feature_strides "
                              f"{tuple(feature_strides)} for {len(self.in_channels)} in_channels")
        if min(feature_strides) != feature_strides[0]:
            raise ConfigError(f"FPNHead: the first of feature_strides {tuple(feature_strides)} "
                              f"must be the smallest")
        self.feature_strides = list(feature_strides)
        self.scale_heads = nn.ModuleList()
        for i, stride in enumerate(self.feature_strides):
            # float log2 then int(), as MMSeg's numpy expression
            length = max(1, int(math.log2(stride) - math.log2(self.feature_strides[0])))
            layers = []
            for k in range(length):
                layers.append(ConvModule(self.in_channels[i] if k == 0 else self.channels,
                                         self.channels, 3, padding=1, **self.conv_args))
                if stride != self.feature_strides[0]:
                    layers.append(Upsample(scale_factor=2, mode="bilinear",
                                           align_corners=self.align_corners))
            self.scale_heads.append(nn.Sequential(*layers))

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        """Features before ``cls_seg``: (N, channels, h_0, w_0)."""
        x = self._transform_inputs(inputs)
        out = self.scale_heads[0](x[0])
        for i in range(1, len(self.feature_strides)):
            # Resize once more: x2 steps need not land on level 0's size for odd inputs.
            out = out + resize(self.scale_heads[i](x[i]), size=out.shape[2:], mode="bilinear",
                               align_corners=self.align_corners)
        return out
