"""Residual blocks of ResNet (``BasicBlock``, ``Bottleneck``) and ``ResLayer``, one stage of blocks.

Attribute names (``conv1``, ``bn1``, ``downsample.0``...) follow MMSegmentation so that its
checkpoints load unchanged.
"""
from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence, Type, Union

import torch
import torch.utils.checkpoint as cp
from torch import nn

from ...errors import ConfigError
from ..layers import build_conv_layer, build_norm_layer, named_norm


def _run(block: nn.Module, inner, x: torch.Tensor) -> torch.Tensor:
    """Run ``inner(x)``, through gradient checkpointing when the block asks for it."""
    if block.with_cp and x.requires_grad and torch.is_grad_enabled():
        # Activations inside the block are recomputed in backward instead of being stored.
        return cp.checkpoint(inner, x, use_reentrant=False)
    return inner(x)


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection (ResNet-18/34).

    Only ``conv1`` carries the stride and dilation; ``conv2`` is always 3x3, padding 1, as in
    MMSegmentation.

    Args:
        inplanes: input channels.
        planes: output channels (``expansion`` is 1).
        stride: stride of ``conv1``.
        dilation: dilation (and padding) of ``conv1``.
        downsample: module applied to the identity branch, or None.
        style: 'pytorch' or 'caffe' (no difference for this block).
        with_cp: gradient checkpointing of the block while training.
        conv_cfg: conv type.
        norm_cfg: norm type.
        dcn: not supported (needs compiled ops); must be None.
        plugins: not supported; must be None.

    Shape:
        (N, inplanes, H, W) -> (N, planes, H / stride, W / stride).
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: Optional[nn.Module] = None, style: str = "pytorch",
                 with_cp: bool = False, conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Mapping = dict(type="BN"), dcn: Optional[Mapping] = None,
                 plugins: Optional[Sequence] = None):
        super().__init__()
        if dcn is not None or plugins is not None:
            raise ConfigError("ResNet BasicBlock: dcn and plugins are not supported; set them to None.")
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.conv1 = build_conv_layer(conv_cfg, inplanes, planes, 3, stride=stride,
                                      padding=dilation, dilation=dilation, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, planes, planes, 3, padding=1, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride, self.dilation, self.with_cp = stride, dilation, with_cp

    norm1 = named_norm(1)
    norm2 = named_norm(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def inner(x: torch.Tensor) -> torch.Tensor:
            out = self.relu(self.norm1(self.conv1(x)))
            out = self.norm2(self.conv2(out))
            identity = x if self.downsample is None else self.downsample(x)
            out += identity  # in place, as MMSeg: saves one activation per block
            return out

        return self.relu(_run(self, inner, x))


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 convs with a residual connection (ResNet-50/101/152).

    With ``style='pytorch'`` the 3x3 conv carries the stride, with ``'caffe'`` the first 1x1.
    With ``groups > 1`` it is ResNeXt's block: the 3x3 conv is grouped and the inner width is
    ``floor(planes * base_width / base_channels) * groups``.

    Args:
        inplanes: input channels.
        planes: width of the 3x3 conv (with ``groups=1``); output channels are ``planes * 4``.
        stride: block stride.
        dilation: dilation (and padding) of the 3x3 conv.
        downsample: module applied to the identity branch, or None.
        style: 'pytorch' or 'caffe'.
        with_cp: gradient checkpointing of the block while training.
        conv_cfg: conv type.
        norm_cfg: norm type.
        dcn: not supported (needs compiled ops); must be None.
        plugins: not supported; must be None.
        groups: groups of the 3x3 conv (ResNeXt's cardinality).
        base_width: width per group relative to ``base_channels`` (ResNeXt's "4d" in 32x4d).
        base_channels: the stem-stage width ``base_width`` refers to.

    Shape:
        (N, inplanes, H, W) -> (N, planes * 4, H / stride, W / stride).
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: Optional[nn.Module] = None, style: str = "pytorch",
                 with_cp: bool = False, conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Mapping = dict(type="BN"), dcn: Optional[Mapping] = None,
                 plugins: Optional[Sequence] = None, groups: int = 1, base_width: int = 4,
                 base_channels: int = 64):
        super().__init__()
        if style not in ("pytorch", "caffe"):
            raise ConfigError(f"ResNet style must be 'pytorch' or 'caffe', got {style!r}")
        if dcn is not None or plugins is not None:
            raise ConfigError("ResNet Bottleneck: dcn and plugins are not supported; set them to None.")
        self.inplanes, self.planes, self.style = inplanes, planes, style
        self.stride, self.dilation, self.with_cp = stride, dilation, with_cp
        self.conv_cfg, self.norm_cfg = conv_cfg, norm_cfg
        self.conv1_stride, self.conv2_stride = (1, stride) if style == "pytorch" else (stride, 1)
        width = planes if groups == 1 else math.floor(planes * base_width / base_channels) * groups
        self.width = width
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, width, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, width, postfix=2)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, planes * self.expansion, postfix=3)
        self.conv1 = build_conv_layer(conv_cfg, inplanes, width, kernel_size=1,
                                      stride=self.conv1_stride, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, width, width, kernel_size=3,
                                      stride=self.conv2_stride, padding=dilation,
                                      dilation=dilation, groups=groups, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.conv3 = build_conv_layer(conv_cfg, width, planes * self.expansion, kernel_size=1,
                                      bias=False)
        self.add_module(self.norm3_name, norm3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    norm1 = named_norm(1)
    norm2 = named_norm(2)
    norm3 = named_norm(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def inner(x: torch.Tensor) -> torch.Tensor:
            out = self.relu(self.norm1(self.conv1(x)))
            out = self.relu(self.norm2(self.conv2(out)))
            out = self.norm3(self.conv3(out))
            identity = x if self.downsample is None else self.downsample(x)
            out += identity  # in place, as MMSeg: saves one activation per block
            return out

        return self.relu(_run(self, inner, x))


Block = Union[Type[BasicBlock], Type[Bottleneck]]


class ResLayer(nn.Sequential):
    """One ResNet stage: ``num_blocks`` blocks, the first one strided and with a downsample.

    Args:
        block: ``BasicBlock`` or ``Bottleneck``.
        inplanes: input channels.
        planes: block width (output channels ``planes * block.expansion``).
        num_blocks: blocks in the stage.
        stride: stride of the first block.
        dilation: dilation of the stage.
        avg_down: downsample with ``AvgPool2d(stride)`` then a stride-1 1x1 conv (ResNetV1d)
            instead of a strided 1x1 conv.
        conv_cfg: conv type.
        norm_cfg: norm type.
        multi_grid: per-block dilations of this stage (overrides ``dilation``), or None.
        contract_dilation: the first block uses ``dilation // 2`` when ``dilation > 1``.
        style: block style.
        with_cp: gradient checkpointing per block.
        block_args: further keys of every block (ResNeXt's ``groups``, ResNeSt's ``radix``...).
    """

    def __init__(self, block: Block, inplanes: int, planes: int, num_blocks: int, stride: int = 1,
                 dilation: int = 1, avg_down: bool = False, conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Mapping = dict(type="BN"), multi_grid: Optional[Sequence[int]] = None,
                 contract_dilation: bool = False, style: str = "pytorch", with_cp: bool = False,
                 block_args: Optional[Mapping] = None):
        out_channels = planes * block.expansion
        downsample = None
        if stride != 1 or inplanes != out_channels:
            layers = []
            conv_stride = stride
            if avg_down:
                conv_stride = 1
                layers.append(nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True,
                                           count_include_pad=False))
            layers += [build_conv_layer(conv_cfg, inplanes, out_channels, kernel_size=1,
                                        stride=conv_stride, bias=False),
                       build_norm_layer(norm_cfg, out_channels)[1]]
            downsample = nn.Sequential(*layers)
        if multi_grid is not None:
            if len(multi_grid) < num_blocks:
                raise ConfigError(f"ResNet multi_grid {tuple(multi_grid)} must give a dilation for "
                                  f"each of the {num_blocks} blocks of the last stage.")
            dilations = list(multi_grid[:num_blocks])
        else:
            first = dilation // 2 if (dilation > 1 and contract_dilation) else dilation
            dilations = [first] + [dilation] * (num_blocks - 1)
        common = dict(style=style, with_cp=with_cp, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                      **(block_args or {}))
        blocks = [block(inplanes=inplanes, planes=planes, stride=stride, dilation=dilations[0],
                        downsample=downsample, **common)]
        blocks += [block(inplanes=out_channels, planes=planes, stride=1, dilation=d, **common)
                   for d in dilations[1:]]
        super().__init__(*blocks)
