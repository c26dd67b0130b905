"""Residual blocks built of ConvModules (MMSegmentation 1.x's ``models/utils/basic_block.py``).

DDRNet and PIDNet stack these, not ResNet's blocks: each conv is a :class:`ConvModule` (keys
``conv1.conv.weight``, ``conv1.bn.running_mean``), and the activation after the residual sum is
optional (``act_cfg_out``), so the last block of a branch can hand its sum over un-activated.
:func:`make_res_layer` is the stage builder both backbones share.
"""
from __future__ import annotations

from typing import Mapping, Optional, Type, Union

import torch
from torch import nn

from .activation import build_activation_layer
from .conv_module import ConvModule
from .norm import build_norm_layer

BN = dict(type="BN")
RELU = dict(type="ReLU", inplace=True)


class ResidualBlock(nn.Module):
    """Base of the blocks: ``act(residual(x) + identity)``, ``act`` and ``downsample`` optional."""

    downsample: Optional[nn.Module]
    act: Optional[nn.Module]

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution branch (before the sum)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.residual(x)
        out += identity  # in place on a fresh norm output: autograd-safe
        return out if self.act is None else self.act(out)


class BasicBlock(ResidualBlock):
    """Two 3x3 ConvModules (the second without activation) plus the identity, then ``act``.

    Args:
        in_channels: input channels.
        channels: output channels (``expansion`` 1).
        stride: stride of ``conv1``.
        downsample: module applied to the identity (needed when the shape changes), or None.
        norm_cfg: norm of both convs.
        act_cfg: activation after ``conv1``.
        act_cfg_out: activation after the residual sum, or None for none (module ``act``).

    Shape:
        (N, in_channels, H, W) -> (N, channels, H / stride, W / stride).
    """

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None, norm_cfg: Optional[Mapping] = BN,
                 act_cfg: Optional[Mapping] = RELU, act_cfg_out: Optional[Mapping] = RELU):
        super().__init__()
        self.conv1 = ConvModule(in_channels, channels, 3, stride=stride, padding=1,
                                norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv2 = ConvModule(channels, channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=None)
        self.downsample = downsample
        self.act = build_activation_layer(act_cfg_out) if act_cfg_out else None

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class Bottleneck(ResidualBlock):
    """1x1 -> 3x3 (stride) -> 1x1 (x ``expansion`` = 2) ConvModules plus the identity.

    Unlike :class:`BasicBlock`, no activation after the sum by default (``act_cfg_out=None``).

    Shape:
        (N, in_channels, H, W) -> (N, 2 * channels, H / stride, W / stride).
    """

    expansion = 2

    def __init__(self, in_channels: int, channels: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None, norm_cfg: Optional[Mapping] = BN,
                 act_cfg: Optional[Mapping] = RELU, act_cfg_out: Optional[Mapping] = None):
        super().__init__()
        self.conv1 = ConvModule(in_channels, channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv2 = ConvModule(channels, channels, 3, stride=stride, padding=1,
                                norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv3 = ConvModule(channels, channels * self.expansion, 1, norm_cfg=norm_cfg,
                                act_cfg=None)
        self.downsample = downsample
        self.act = build_activation_layer(act_cfg_out) if act_cfg_out else None

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.conv2(self.conv1(x)))


Block = Type[Union[BasicBlock, Bottleneck]]


def make_downsample(in_channels: int, out_channels: int, stride: int,
                    norm_cfg: Optional[Mapping], conv_module: bool) -> nn.Module:
    """1x1 strided conv + norm of the identity branch.

    ``conv_module=True``: a ConvModule (PIDNet's keys ``downsample.conv`` / ``downsample.bn``);
    False: ``nn.Sequential(Conv2d, norm)`` (DDRNet's ``downsample.0`` / ``downsample.1``).
    """
    if conv_module:
        return ConvModule(in_channels, out_channels, 1, stride=stride, norm_cfg=norm_cfg,
                          act_cfg=None)
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                         build_norm_layer(norm_cfg, out_channels)[1])


def make_res_layer(block: Block, in_channels: int, channels: int, num_blocks: int,
                   stride: int = 1, norm_cfg: Optional[Mapping] = BN,
                   act_cfg: Optional[Mapping] = RELU,
                   conv_module_downsample: bool = True) -> nn.Sequential:
    """``num_blocks`` blocks, the first with ``stride`` (and a downsample if the shape changes).

    As MMSeg's DDRNet/PIDNet ``_make_layer``: the first block keeps its block's default
    ``act_cfg_out``; of several blocks, the middle ones end with ``act_cfg`` and the last one
    with none.

    Returns:
        (N, in_channels, H, W) -> (N, channels * block.expansion, H / stride, W / stride).
    """
    out_channels = channels * block.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = make_downsample(in_channels, out_channels, stride, norm_cfg,
                                     conv_module_downsample)
    layers = [block(in_channels, channels, stride, downsample, norm_cfg=norm_cfg)]
    for i in range(1, num_blocks):
        layers.append(block(out_channels, channels, norm_cfg=norm_cfg,
                            act_cfg_out=None if i == num_blocks - 1 else act_cfg))
    return nn.Sequential(*layers)
