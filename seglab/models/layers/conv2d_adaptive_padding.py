"""``Conv2dAdaptivePadding``: a conv with TensorFlow's ``'SAME'`` padding (``conv_cfg`` type).

Registered in the conv table as ``dict(type='Conv2dAdaptivePadding')`` (mmcv's name), which
MobileNetV3 uses for its stem and its strided depthwise convs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .conv import CONV_LAYERS
from .patch_embed import AdaptivePadding


class Conv2dAdaptivePadding(nn.Conv2d):
    """``nn.Conv2d`` that pads its input so the output has ``ceil(size / stride)`` positions.

    The ``padding`` argument is ignored (as in mmcv): the zero padding is computed in each forward
    from the current kernel size, stride and dilation, split evenly with the odd pixel at the
    bottom/right. So a stride or dilation changed after construction is honoured.

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride)).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride, 0, dilation, groups, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = AdaptivePadding(self.kernel_size, self.stride, self.dilation, padding="same")(x)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


CONV_LAYERS["Conv2dAdaptivePadding"] = Conv2dAdaptivePadding
