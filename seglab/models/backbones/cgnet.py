"""``CGNet``: `A Light-weight Context Guided Network <https://arxiv.org/abs/1811.08201>`_.

Same constructor keys, module names and numerics as MMSegmentation 0.x's
``mmseg.models.backbones.CGNet``: a 3-conv ``stem`` (stride 2) concatenated with the 2x
average-pooled image (``norm_prelu_0``), then two stages (``level1``, ``level2``) of
:class:`ContextGuidedBlock` whose first block downsamples; stage 1 is concatenated with its
first block's output and the 4x pooled image (``norm_prelu_1``), stage 2 with its first block's
output (``norm_prelu_2``). Outputs at strides 2, 4 and 8 with ``num_channels[0] + in_channels``,
``2 * num_channels[1] + in_channels`` and ``2 * num_channels[2]`` channels.
"""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Tuple

import torch
import torch.utils.checkpoint as cp
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import ConvModule, build_conv_layer, build_norm_layer, initialize
from ..layers.weight_init import InitCfg
from .base import BaseBackbone, OutputShapes, shape_specs

# MMSeg's default init of CGNet (0.x init_cfg).
_DEFAULT_INIT = [dict(type="Kaiming", layer=["Conv2d", "Linear"]),
                 dict(type="Constant", val=1, layer=["_BatchNorm", "GroupNorm"]),
                 dict(type="Constant", val=0, layer="PReLU")]


def _act(act_cfg: Optional[Mapping], channels: int) -> Optional[dict]:
    """``act_cfg`` with one PReLU weight per channel (MMSeg sets ``num_parameters`` so)."""
    if act_cfg is None:
        return None
    act_cfg = dict(act_cfg)
    if act_cfg.get("type") == "PReLU":
        act_cfg["num_parameters"] = channels
    return act_cfg


def _norm_prelu(norm_cfg: Mapping, channels: int) -> nn.Sequential:
    return nn.Sequential(build_norm_layer(norm_cfg, channels)[1], nn.PReLU(channels))


def _checkpointed(module: nn.Module, fn, x: torch.Tensor) -> torch.Tensor:
    if module.with_cp and x.requires_grad:
        return cp.checkpoint(fn, x, use_reentrant=False)
    return fn(x)


class GlobalContextExtractor(nn.Module):
    """Squeeze-and-excitation: global average pool, two linears, sigmoid channel gates.

    Args:
        channel: input channels.
        reduction: hidden channels = ``channel // reduction``.
        with_cp: gradient checkpointing while training.
    """

    def __init__(self, channel: int, reduction: int = 16, with_cp: bool = False):
        super().__init__()
        if not 1 <= reduction <= channel:
            raise ConfigError(f"CGNet GlobalContextExtractor needs 1 <= reduction <= channels, got "
                              f"reduction={reduction} for {channel} channels")
        self.channel, self.reduction, self.with_cp = channel, reduction, with_cp
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(channel, channel // reduction), nn.ReLU(inplace=True),
                                nn.Linear(channel // reduction, channel), nn.Sigmoid())

    def _gate(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        return x * self.fc(self.avg_pool(x).view(n, c)).view(n, c, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _checkpointed(self, self._gate, x)


class ContextGuidedBlock(nn.Module):
    """Local (3x3 depthwise) and surrounding (dilated depthwise) features, joined and gated.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        dilation: dilation of the surrounding-context conv ``f_sur``.
        reduction: reduction of the global context extractor ``f_glo``.
        skip_connect: add the input to the output (not with ``downsample``).
        downsample: a 3x3 stride-2 ``conv1x1`` and a 1x1 ``bottleneck`` after the join.
        conv_cfg: conv type.
        norm_cfg: norm type.
        act_cfg: activation of ``conv1x1`` (PReLU gets one weight per channel).
        with_cp: gradient checkpointing while training.

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, H', W'), halved with ``downsample``.
    """

    def __init__(self, in_channels: int, out_channels: int, dilation: int = 2,
                 reduction: int = 16, skip_connect: bool = True, downsample: bool = False,
                 conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Mapping = dict(type="BN", requires_grad=True),
                 act_cfg: Optional[Mapping] = dict(type="PReLU"), with_cp: bool = False):
        super().__init__()
        self.with_cp, self.downsample = with_cp, downsample
        channels = out_channels if downsample else out_channels // 2
        kernel_size = 3 if downsample else 1
        self.conv1x1 = ConvModule(in_channels, channels, kernel_size, 2 if downsample else 1,
                                  (kernel_size - 1) // 2, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                  act_cfg=_act(act_cfg, channels))
        self.f_loc = build_conv_layer(conv_cfg, channels, channels, kernel_size=3, padding=1,
                                      groups=channels, bias=False)
        self.f_sur = build_conv_layer(conv_cfg, channels, channels, kernel_size=3,
                                      padding=dilation, groups=channels, dilation=dilation,
                                      bias=False)
        self.bn = build_norm_layer(norm_cfg, 2 * channels)[1]
        self.activate = nn.PReLU(2 * channels)
        if downsample:
            self.bottleneck = build_conv_layer(conv_cfg, 2 * channels, out_channels,
                                               kernel_size=1, bias=False)
        self.skip_connect = skip_connect and not downsample
        self.f_glo = GlobalContextExtractor(out_channels, reduction, with_cp)

    def _block(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1x1(x)
        joint = self.activate(self.bn(torch.cat([self.f_loc(out), self.f_sur(out)], dim=1)))
        if self.downsample:
            joint = self.bottleneck(joint)
        out = self.f_glo(joint)
        return x + out if self.skip_connect else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _checkpointed(self, self._block, x)


class InputInjection(nn.Module):
    """``num_downsampling`` 3x3 stride-2 average pools of the image (``pool.<i>``)."""

    def __init__(self, num_downsampling: int):
        super().__init__()
        self.pool = nn.ModuleList(nn.AvgPool2d(3, stride=2, padding=1)
                                  for _ in range(num_downsampling))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for pool in self.pool:
            x = pool(x)
        return x


def _pair(name: str, value: Sequence[int], length: int) -> Tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or len(value) != length:
        raise ConfigError(f"CGNet {name} must have {length} entries, got {value!r}")
    return tuple(value)


@MODELS.register_module()
class CGNet(BaseBackbone):
    """CGNet backbone: stem plus two context-guided stages, three outputs.

    Args:
        in_channels: input image channels.
        num_channels: channels of the stem, stage 1 and stage 2 blocks.
        num_blocks: context-guided blocks of stage 1 and stage 2.
        dilations: ``f_sur`` dilation of stage 1 and stage 2.
        reductions: ``f_glo`` reduction of stage 1 and stage 2.
        conv_cfg: conv type.
        norm_cfg: norm type (the configs use BN with eps 1e-3).
        act_cfg: activation of the stem and of the blocks' ``conv1x1`` (PReLU per channel).
        norm_eval: keep batch norms in eval mode while training.
        with_cp: gradient checkpointing per block while training.
        pretrained: checkpoint to load in :meth:`init_weights` (deprecated form of ``init_cfg``).
        init_cfg: init dicts; None = MMSeg's (Kaiming convs and linears, BN 1, PReLU 0).

    Shape:
        (N, in_channels, H, W) -> maps at strides 2, 4, 8 (see the module doc for channels).
    """

    def __init__(self, in_channels: int = 3, num_channels: Sequence[int] = (32, 64, 128),
                 num_blocks: Sequence[int] = (3, 21), dilations: Sequence[int] = (2, 4),
                 reductions: Sequence[int] = (8, 16), conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Mapping = dict(type="BN", requires_grad=True),
                 act_cfg: Optional[Mapping] = dict(type="PReLU"), norm_eval: bool = False,
                 with_cp: bool = False, pretrained: Optional[str] = None,
                 init_cfg: InitCfg = None):
        super().__init__(pretrained=pretrained, init_cfg=init_cfg, norm_eval=norm_eval)
        self.in_channels = in_channels
        self.num_channels = _pair("num_channels", num_channels, 3)
        self.num_blocks = _pair("num_blocks", num_blocks, 2)
        self.dilations = _pair("dilations", dilations, 2)
        self.reductions = _pair("reductions", reductions, 2)
        if min(self.num_blocks) < 1:
            raise ConfigError(f"CGNet num_blocks={self.num_blocks}: each stage needs a block")
        self.conv_cfg, self.norm_cfg, self.act_cfg, self.with_cp = (conv_cfg, norm_cfg, act_cfg,
                                                                    with_cp)
        stem_channels = self.num_channels[0]
        self.stem = nn.ModuleList(
            ConvModule(in_channels if i == 0 else stem_channels, stem_channels, 3,
                       2 if i == 0 else 1, padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                       act_cfg=_act(act_cfg, stem_channels)) for i in range(3))
        self.inject_2x = InputInjection(1)
        self.inject_4x = InputInjection(2)
        self.norm_prelu_0 = _norm_prelu(norm_cfg, stem_channels + in_channels)
        self.level1 = self._stage(stem_channels + in_channels, 0)
        self.norm_prelu_1 = _norm_prelu(norm_cfg, 2 * self.num_channels[1] + in_channels)
        self.level2 = self._stage(2 * self.num_channels[1] + in_channels, 1)
        self.norm_prelu_2 = _norm_prelu(norm_cfg, 2 * self.num_channels[2])

    def _stage(self, in_channels: int, i: int) -> nn.ModuleList:
        channels = self.num_channels[i + 1]
        return nn.ModuleList(
            ContextGuidedBlock(in_channels if j == 0 else channels, channels, self.dilations[i],
                               self.reductions[i], downsample=(j == 0), conv_cfg=self.conv_cfg,
                               norm_cfg=self.norm_cfg, act_cfg=self.act_cfg, with_cp=self.with_cp)
            for j in range(self.num_blocks[i]))

    def output_shapes(self) -> OutputShapes:
        """Strides 2, 4, 8 (channels in the module doc)."""
        c = self.num_channels
        return shape_specs([c[0] + self.in_channels, 2 * c[1] + self.in_channels, 2 * c[2]],
                           [2, 4, 8])

    def init_weights(self) -> None:
        """Load ``pretrained`` / apply ``init_cfg``; by default MMSeg's CGNet init."""
        initialize(self, self.init_cfg if self.init_cfg is not None else _DEFAULT_INIT)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x: (N, C, H, W). Returns: the three stage maps."""
        outs: List[torch.Tensor] = []
        inp_2x, inp_4x = self.inject_2x(x), self.inject_4x(x)
        for layer in self.stem:
            x = layer(x)
        x = self.norm_prelu_0(torch.cat([x, inp_2x], dim=1))
        outs.append(x)
        down1 = x = self.level1[0](x)
        for layer in self.level1[1:]:
            x = layer(x)
        x = self.norm_prelu_1(torch.cat([x, down1, inp_4x], dim=1))
        outs.append(x)
        down2 = x = self.level2[0](x)
        for layer in self.level2[1:]:
            x = layer(x)
        outs.append(self.norm_prelu_2(torch.cat([down2, x], dim=1)))
        return tuple(outs)
