"""Inverted residual blocks of MobileNetV2 and V3 (``mmseg.models.utils.inverted_residual``).

* :class:`InvertedResidual` (MobileNetV2): 1x1 expand -> 3x3 depthwise -> 1x1 linear, in an
  ``nn.Sequential`` named ``conv`` (``layer2.0.conv.0.conv.weight``, ``...conv.2.bn.bias``).
* :class:`InvertedResidualV3` (MobileNetV3): named ``expand_conv`` (only when the width changes),
  ``depthwise_conv``, optional ``se`` (:class:`SELayer`) and ``linear_conv``.

Both add the input back when the stride is 1 and the channels do not change.
"""
from __future__ import annotations

from typing import Callable, Mapping, Optional

import torch
import torch.utils.checkpoint as cp
from torch import nn

from ...errors import ConfigError
from .conv_module import ConvModule
from .se_layer import SELayer


def _check_stride(block: str, stride: int) -> None:
    if stride not in (1, 2):
        raise ConfigError(f"{block}: stride must be 1 or 2, got {stride!r}")


def _residual_forward(block: nn.Module, inner: Callable[[torch.Tensor], torch.Tensor],
                      x: torch.Tensor) -> torch.Tensor:
    """``x + inner(x)`` (or ``inner(x)``), gradient-checkpointed when ``block.with_cp``."""
    def run(x: torch.Tensor) -> torch.Tensor:
        out = inner(x)
        return x + out if block.with_res_shortcut else out

    if block.with_cp and x.requires_grad and torch.is_grad_enabled():
        return cp.checkpoint(run, x, use_reentrant=False)
    return run(x)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: expand (skipped when ``expand_ratio == 1``), depthwise, linear project.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        stride: stride of the depthwise conv (1 or 2).
        expand_ratio: hidden width = ``round(in_channels * expand_ratio)``.
        dilation: dilation (and padding) of the depthwise conv.
        conv_cfg: conv type.
        norm_cfg: norm of all three convs.
        act_cfg: activation of the expand and depthwise convs (the projection is linear).
        with_cp: gradient checkpointing of the block while training.

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride)).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: float,
                 dilation: int = 1, conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Optional[Mapping] = dict(type="BN"),
                 act_cfg: Optional[Mapping] = dict(type="ReLU6"), with_cp: bool = False):
        super().__init__()
        _check_stride("InvertedResidual", stride)
        self.stride, self.with_cp = stride, with_cp
        self.with_res_shortcut = stride == 1 and in_channels == out_channels
        hidden = int(round(in_channels * expand_ratio))
        args = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        layers = [ConvModule(in_channels, hidden, 1, act_cfg=act_cfg, **args)] \
            if expand_ratio != 1 else []
        layers += [ConvModule(hidden, hidden, 3, stride=stride, padding=dilation, dilation=dilation,
                              groups=hidden, act_cfg=act_cfg, **args),
                   ConvModule(hidden, out_channels, 1, act_cfg=None, **args)]
        self.conv = nn.Sequential(*layers)

    @property
    def use_res_connect(self) -> bool:
        """MMSeg's name for :attr:`with_res_shortcut` in this block."""
        return self.with_res_shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _residual_forward(self, self.conv, x)


class InvertedResidualV3(nn.Module):
    """MobileNetV3 block: optional expand, k x k depthwise, optional SE, linear project.

    A strided depthwise conv pads like TensorFlow (``Conv2dAdaptivePadding``), as in MMSeg.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        mid_channels: width of the depthwise conv.
        kernel_size: depthwise kernel size.
        stride: depthwise stride (1 or 2).
        se_cfg: :class:`SELayer` keys, or None for no SE.
        with_expand_conv: 1x1 expand conv first; without it ``mid_channels`` must equal
            ``in_channels``.
        conv_cfg: conv type.
        norm_cfg: norm of the convs.
        act_cfg: activation of the expand and depthwise convs.
        with_cp: gradient checkpointing of the block while training.

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride)).
    """

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int,
                 kernel_size: int = 3, stride: int = 1, se_cfg: Optional[Mapping] = None,
                 with_expand_conv: bool = True, conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Optional[Mapping] = dict(type="BN"),
                 act_cfg: Optional[Mapping] = dict(type="ReLU"), with_cp: bool = False):
        super().__init__()
        _check_stride("InvertedResidualV3", stride)
        if se_cfg is not None and not isinstance(se_cfg, Mapping):
            raise ConfigError(f"InvertedResidualV3 se_cfg must be a dict or None, got {se_cfg!r}")
        if not with_expand_conv and mid_channels != in_channels:
            raise ConfigError(f"InvertedResidualV3 without expand conv needs mid_channels == "
                              f"in_channels, got {mid_channels} and {in_channels}")
        self.with_cp, self.with_se, self.with_expand_conv = with_cp, se_cfg is not None, \
            with_expand_conv
        self.with_res_shortcut = stride == 1 and in_channels == out_channels
        args = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        if with_expand_conv:
            self.expand_conv = ConvModule(in_channels, mid_channels, 1, act_cfg=act_cfg, **args)
        dw_conv_cfg = dict(type="Conv2dAdaptivePadding") if stride == 2 else conv_cfg
        self.depthwise_conv = ConvModule(mid_channels, mid_channels, kernel_size, stride=stride,
                                         padding=kernel_size // 2, groups=mid_channels,
                                         conv_cfg=dw_conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        if self.with_se:
            self.se = SELayer(**se_cfg)
        self.linear_conv = ConvModule(mid_channels, out_channels, 1, act_cfg=None, **args)

    def _inner(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand_conv(x) if self.with_expand_conv else x
        out = self.depthwise_conv(out)
        if self.with_se:
            out = self.se(out)
        return self.linear_conv(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _residual_forward(self, self._inner, x)
