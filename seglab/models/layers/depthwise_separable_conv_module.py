"""Depthwise separable convolution: a depthwise ``ConvModule`` then a pointwise (1x1) one."""
from __future__ import annotations

from typing import Mapping, Optional, Union

import torch
from torch import nn

from .conv_module import ConvModule, IntOrPair

_DEFAULT = "default"


class DepthwiseSeparableConvModule(nn.Module):
    """``mmcv.cnn.DepthwiseSeparableConvModule`` (submodules ``depthwise_conv``, ``pointwise_conv``).

    Args:
        in_channels: input channels (also the depthwise conv's groups).
        out_channels: output channels of the pointwise conv.
        kernel_size: depthwise kernel size.
        stride: depthwise stride.
        padding: depthwise padding.
        dilation: depthwise dilation.
        norm_cfg: norm of both convs unless ``dw_norm_cfg``/``pw_norm_cfg`` override it.
        act_cfg: activation of both convs unless ``dw_act_cfg``/``pw_act_cfg`` override it.
        dw_norm_cfg: norm of the depthwise conv, ``'default'`` = ``norm_cfg``.
        dw_act_cfg: activation of the depthwise conv, ``'default'`` = ``act_cfg``.
        pw_norm_cfg: norm of the pointwise conv, ``'default'`` = ``norm_cfg``.
        pw_act_cfg: activation of the pointwise conv, ``'default'`` = ``act_cfg``.
        conv_cfg: conv type of both convs.

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, H', W').
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair,
                 stride: IntOrPair = 1, padding: IntOrPair = 0, dilation: IntOrPair = 1,
                 norm_cfg: Optional[Mapping] = None,
                 act_cfg: Optional[Mapping] = dict(type="ReLU"),
                 dw_norm_cfg: Union[Mapping, str, None] = _DEFAULT,
                 dw_act_cfg: Union[Mapping, str, None] = _DEFAULT,
                 pw_norm_cfg: Union[Mapping, str, None] = _DEFAULT,
                 pw_act_cfg: Union[Mapping, str, None] = _DEFAULT,
                 conv_cfg: Optional[Mapping] = None):
        super().__init__()
        dw_norm_cfg = norm_cfg if dw_norm_cfg == _DEFAULT else dw_norm_cfg
        dw_act_cfg = act_cfg if dw_act_cfg == _DEFAULT else dw_act_cfg
        pw_norm_cfg = norm_cfg if pw_norm_cfg == _DEFAULT else pw_norm_cfg
        pw_act_cfg = act_cfg if pw_act_cfg == _DEFAULT else pw_act_cfg
        self.depthwise_conv = ConvModule(in_channels, in_channels, kernel_size, stride=stride,
                                         padding=padding, dilation=dilation, groups=in_channels,
                                         conv_cfg=conv_cfg, norm_cfg=dw_norm_cfg, act_cfg=dw_act_cfg)
        self.pointwise_conv = ConvModule(in_channels, out_channels, 1, conv_cfg=conv_cfg,
                                         norm_cfg=pw_norm_cfg, act_cfg=pw_act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_conv(self.depthwise_conv(x))
