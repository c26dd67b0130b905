"""``ResNeSt`` (`Split-Attention Networks <https://arxiv.org/abs/2004.08955>`_), as MMSeg 0.x's.

A :class:`ResNetV1d` (deep stem, average-pool downsample branches) whose Bottleneck 3x3 conv is a
:class:`SplitAttentionConv2d`: ``radix`` parallel grouped convs (one conv of ``groups * radix``
groups, ``conv2.conv``, normalised by ``conv2.bn0``), fused by attention weights computed from
their pooled sum (``conv2.fc1`` -> ``conv2.bn1`` -> ReLU -> ``conv2.fc2`` -> softmax over radix).
With ``avg_down_stride`` the block's stride moves from the conv to a 3x3 average pool after it
(``avd_layer``).
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import build_conv_layer, build_norm_layer, named_norm
from .resnet import ResNetV1d
from .resnet_blocks import Bottleneck as _Bottleneck
from .resnet_blocks import _run


class RSoftmax(nn.Module):
    """Softmax over the radix within each group (sigmoid when ``radix == 1``).

    Shape:
        (N, groups * radix * C, 1, 1) -> (N, radix * groups * C), radix-major.
    """

    def __init__(self, radix: int, groups: int):
        super().__init__()
        self.radix, self.groups = radix, groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.size(0)
        if self.radix == 1:
            return torch.sigmoid(x)
        # fc2 outputs are grouped (group, radix, channel); the softmax runs across radix.
        x = x.view(batch, self.groups, self.radix, -1).transpose(1, 2)
        return F.softmax(x, dim=1).reshape(batch, -1)


class SplitAttentionConv2d(nn.Module):
    """Split-attention conv: ``radix`` grouped k x k convs weighted by channel attention.

    Args:
        in_channels: input channels.
        channels: output channels.
        kernel_size: conv kernel.
        stride: conv stride.
        padding: conv padding.
        dilation: conv dilation.
        groups: cardinality (groups of each split).
        radix: number of splits.
        reduction_factor: attention width = ``max(in_channels * radix // reduction_factor, 32)``.
        conv_cfg: conv type of the split conv.
        norm_cfg: norm after the split conv (``bn0``) and in the attention (``bn1``).
        dcn: not supported (compiled ops); must be None.

    Shape:
        (N, in_channels, H, W) -> (N, channels, H', W').
    """

    def __init__(self, in_channels: int, channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, dilation: int = 1, groups: int = 1, radix: int = 2,
                 reduction_factor: int = 4, conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Mapping = dict(type="BN"), dcn: Optional[Mapping] = None):
        super().__init__()
        if dcn is not None:
            raise ConfigError("ResNeSt: dcn needs compiled ops that seglab does not have; set "
                              "dcn=None.")
        if radix < 1 or reduction_factor < 1:
            raise ConfigError(f"ResNeSt radix and reduction_factor must be >= 1, got "
                              f"radix={radix}, reduction_factor={reduction_factor}")
        inter_channels = max(in_channels * radix // reduction_factor, 32)
        self.radix, self.groups, self.channels = radix, groups, channels
        self.conv = build_conv_layer(conv_cfg, in_channels, channels * radix, kernel_size,
                                     stride=stride, padding=padding, dilation=dilation,
                                     groups=groups * radix, bias=False)
        self.norm0_name, norm0 = build_norm_layer(norm_cfg, channels * radix, postfix=0)
        self.add_module(self.norm0_name, norm0)
        self.relu = nn.ReLU(inplace=True)
        self.fc1 = nn.Conv2d(channels, inter_channels, 1, groups=groups)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, inter_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.fc2 = nn.Conv2d(inter_channels, channels * radix, 1, groups=groups)
        self.rsoftmax = RSoftmax(radix, groups)

    norm0 = named_norm(0)
    norm1 = named_norm(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.norm0(self.conv(x)))
        batch = x.size(0)
        splits = x.view(batch, self.radix, -1, *x.shape[2:]) if self.radix > 1 else None
        gap = splits.sum(dim=1) if self.radix > 1 else x
        gap = self.relu(self.norm1(self.fc1(F.adaptive_avg_pool2d(gap, 1))))
        atten = self.rsoftmax(self.fc2(gap)).view(batch, -1, 1, 1)
        if self.radix == 1:
            return (atten * x).contiguous()
        atten = atten.view(batch, self.radix, -1, 1, 1)
        return torch.sum(atten * splits, dim=1).contiguous()


class Bottleneck(_Bottleneck):
    """ResNeSt Bottleneck: ``conv2`` is a :class:`SplitAttentionConv2d` (no ``bn2``).

    Args:
        inplanes: input channels.
        planes: block width (output ``planes * 4``).
        groups: cardinality of the split-attention conv.
        base_width: width per group (as ResNeXt, used when ``groups > 1``).
        base_channels: the width ``base_width`` refers to.
        radix: splits of the split-attention conv.
        reduction_factor: attention reduction of the split-attention conv.
        avg_down_stride: stride with a 3x3 average pool after ``conv2`` (``avd_layer``)
            instead of in ``conv2``.
        **kwargs: the ResNet Bottleneck keys (stride, dilation, downsample, style, ...).
    """

    def __init__(self, inplanes: int, planes: int, groups: int = 1, base_width: int = 4,
                 base_channels: int = 64, radix: int = 2, reduction_factor: int = 4,
                 avg_down_stride: bool = True, **kwargs):
        super().__init__(inplanes, planes, groups=groups, base_width=base_width,
                         base_channels=base_channels, **kwargs)
        self.avg_down_stride = avg_down_stride and self.conv2_stride > 1
        self.conv2 = SplitAttentionConv2d(
            self.width, self.width, kernel_size=3,
            stride=1 if self.avg_down_stride else self.conv2_stride, padding=self.dilation,
            dilation=self.dilation, groups=groups, radix=radix,
            reduction_factor=reduction_factor, conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg)
        delattr(self, self.norm2_name)  # the split-attention conv has its own norms
        if self.avg_down_stride:
            self.avd_layer = nn.AvgPool2d(3, self.conv2_stride, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def inner(x: torch.Tensor) -> torch.Tensor:
            out = self.conv2(self.relu(self.norm1(self.conv1(x))))
            if self.avg_down_stride:
                out = self.avd_layer(out)
            out = self.norm3(self.conv3(out))
            identity = x if self.downsample is None else self.downsample(x)
            out += identity
            return out

        return self.relu(_run(self, inner, x))


@MODELS.register_module()
class ResNeSt(ResNetV1d):
    """ResNeSt-50/101/152/200 (a ResNetV1d with split-attention Bottlenecks).

    Args:
        groups: cardinality of the split-attention convs.
        base_width: width per group (used when ``groups > 1``).
        radix: splits of the split-attention convs.
        reduction_factor: attention reduction of the split-attention convs.
        avg_down_stride: strided blocks pool after the 3x3 conv instead of striding it.
        **kwargs: :class:`ResNetV1d` keys (``depth``, ``stem_channels``, ``strides``, ...).
    """

    arch_settings = {
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
        200: (Bottleneck, (3, 24, 36, 3)),
    }

    def __init__(self, groups: int = 1, base_width: int = 4, radix: int = 2,
                 reduction_factor: int = 4, avg_down_stride: bool = True, **kwargs):
        # Set before ResNet builds its stages, which read them through _block_args().
        self.groups, self.base_width, self.radix = groups, base_width, radix
        self.reduction_factor, self.avg_down_stride = reduction_factor, avg_down_stride
        super().__init__(**kwargs)

    def _block_args(self) -> Dict[str, Any]:
        return dict(groups=self.groups, base_width=self.base_width,
                    base_channels=self.base_channels, radix=self.radix,
                    reduction_factor=self.reduction_factor, avg_down_stride=self.avg_down_stride)
