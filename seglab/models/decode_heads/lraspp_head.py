"""``LRASPPHead``: Lite R-ASPP of `MobileNetV3 <https://arxiv.org/abs/1905.02244>`_ (MMSeg 0.x).

The deepest level goes through a 1x1 conv (``aspp_conv``) gated by a sigmoid of its average-pooled
self (``image_pool``: ``AvgPool2d(49, stride=(16, 20))`` then a 1x1 conv, the TF model's pooling
for 512x1024 crops), then a 1x1 ``conv_up_input``; each shallower level, coarse to fine, is
projected (``convs.conv{i}``), concatenated with the upsampled map and fused
(``conv_ups.conv_up{i}``).
"""
from __future__ import annotations

from typing import List, Sequence, Tuple, Union

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import ConvModule, resize
from .decode_head import BaseDecodeHead, Inputs

IntPair = Union[int, Tuple[int, int]]


@MODELS.register_module()
class LRASPPHead(BaseDecodeHead):
    """Lite R-ASPP over ``len(branch_channels) + 1`` levels (``input_transform='multiple_select'``).

    Args:
        branch_channels: projection width of each shallower level, finest first.
        image_pool_kernel: kernel of the gate's average pooling; MMSeg fixes 49 (seglab key,
            for inputs whose deepest level is smaller than 49x49).
        image_pool_stride: stride of that pooling; MMSeg fixes (16, 20) (seglab key).
        **kwargs: :class:`BaseDecodeHead` keys; ``in_channels``/``in_index`` list every level.

    Shape:
        inputs[in_index[i]] (N, in_channels[i], H_i, W_i) -> logits (N, out_channels, H_0, W_0).
    """

    def __init__(self, branch_channels: Sequence[int] = (32, 64), image_pool_kernel: IntPair = 49,
                 image_pool_stride: IntPair = (16, 20), **kwargs):
        super().__init__(**kwargs)
        if self.input_transform != "multiple_select":
            raise ConfigError(f"LRASPPHead needs input_transform='multiple_select', got "
                              f"{self.input_transform!r}")
        if not isinstance(branch_channels, (list, tuple)) or \
                not all(isinstance(c, int) for c in branch_channels) or \
                len(branch_channels) != len(self.in_channels) - 1:
            raise ConfigError(f"LRASPPHead branch_channels must be {len(self.in_channels) - 1} "
                              f"ints (one per level but the deepest of in_channels="
                              f"{tuple(self.in_channels)}), got {branch_channels!r}")
        self.branch_channels = tuple(branch_channels)
        self.image_pool_kernel = image_pool_kernel
        self.convs = nn.Sequential()
        self.conv_ups = nn.Sequential()
        for i, width in enumerate(self.branch_channels):
            self.convs.add_module(f"conv{i}", nn.Conv2d(self.in_channels[i], width, 1, bias=False))
            self.conv_ups.add_module(f"conv_up{i}", ConvModule(
                self.channels + width, self.channels, 1, norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg, bias=False))
        self.conv_up_input = nn.Conv2d(self.channels, self.channels, 1)
        deepest = self.in_channels[-1]
        self.aspp_conv = ConvModule(deepest, self.channels, 1, norm_cfg=self.norm_cfg,
                                    act_cfg=self.act_cfg, bias=False)
        self.image_pool = nn.Sequential(
            nn.AvgPool2d(kernel_size=image_pool_kernel, stride=image_pool_stride),
            ConvModule(deepest, self.channels, 1, act_cfg=dict(type="Sigmoid"), bias=False))

    def _gate(self, x: torch.Tensor) -> torch.Tensor:
        kernel = nn.modules.utils._pair(self.image_pool_kernel)
        if x.shape[-2] < kernel[0] or x.shape[-1] < kernel[1]:
            raise ValueError(f"LRASPPHead pools its deepest level with a {kernel[0]}x{kernel[1]} "
                             f"window (MMSeg's fixed AvgPool2d), but that level is "
                             f"{x.shape[-2]}x{x.shape[-1]}: use larger images (>= 8 * 49 = 392 px "
                             f"at output stride 8) or set image_pool_kernel.")
        # align_corners=True here whatever the head's setting, as in MMSeg.
        return resize(self.image_pool(x), size=x.shape[2:], mode="bilinear", align_corners=True)

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        levels: List[torch.Tensor] = self._transform_inputs(inputs)
        x = levels[-1]
        x = self.conv_up_input(self.aspp_conv(x) * self._gate(x))
        for i in range(len(self.branch_channels) - 1, -1, -1):
            x = resize(x, size=levels[i].shape[2:], mode="bilinear", align_corners=False)
            x = self.conv_ups[i](torch.cat([x, self.convs[i](levels[i])], dim=1))
        return x
