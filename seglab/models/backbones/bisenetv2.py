"""``BiSeNetV2``: `BiSeNetV2 <https://arxiv.org/abs/2004.02147>`_, detail + semantic branches.

Same constructor keys, module names and numerics as MMSegmentation 0.x's
``mmseg.models.backbones.BiSeNetV2``: ``detail`` (:class:`DetailBranch`, wide and shallow, 1/8),
``semantic`` (:class:`SemanticBranch`: :class:`StemBlock`, :class:`GELayer` stages and a
:class:`CEBlock`, down to 1/32) and ``bga`` (:class:`BGALayer`, the guided aggregation of the
two). Outputs: ``(bga, semantic stage1, stage2, stage3, stage4)`` picked by ``out_indices``; the
stage outputs feed MMSeg's booster (auxiliary) heads.

As in MMSegmentation, ``conv_cfg`` / ``norm_cfg`` / ``act_cfg`` of ``BiSeNetV2`` are stored while
the branches keep their defaults (BN, ReLU).
"""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import (ConvModule, DepthwiseSeparableConvModule, build_activation_layer,
                      build_norm_layer, initialize, resize)
from ..layers.weight_init import CONV_NORM_INIT, InitCfg
from .base import BaseBackbone, OutputShapes, shape_specs
from .bisenetv1 import BN, RELU, _where, check_out_indices, select_outputs


class DetailBranch(nn.Module):
    """Stages of stride-2 3x3 ConvModules (2 convs in the first stage, 3 after): 1/8 detail.

    Shape:
        (N, in_channels, H, W) -> (N, detail_channels[-1], H / 2**len(detail_channels), ...).
    """

    def __init__(self, detail_channels: Sequence[int] = (64, 64, 128), in_channels: int = 3,
                 conv_cfg: Optional[Mapping] = None, norm_cfg: Optional[Mapping] = BN,
                 act_cfg: Optional[Mapping] = RELU):
        super().__init__()
        conv = dict(kernel_size=3, padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                    act_cfg=act_cfg)
        stages, cin = [], in_channels
        for i, cout in enumerate(detail_channels):
            repeats = 1 if i == 0 else 2
            layers = [ConvModule(cin, cout, stride=2, **conv)]
            layers += [ConvModule(cout, cout, stride=1, **conv) for _ in range(repeats)]
            stages.append(nn.Sequential(*layers))
            cin = cout
        self.detail_branch = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.detail_branch:
            x = stage(x)
        return x


class StemBlock(nn.Module):
    """Stride-2 conv, then a conv branch and a max-pool branch (both stride 2) fused: 1/4.

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, H / 4, W / 4).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 16,
                 conv_cfg: Optional[Mapping] = None, norm_cfg: Optional[Mapping] = BN,
                 act_cfg: Optional[Mapping] = RELU):
        super().__init__()
        conv = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv_first = ConvModule(in_channels, out_channels, 3, stride=2, padding=1, **conv)
        self.convs = nn.Sequential(
            ConvModule(out_channels, out_channels // 2, 1, **conv),
            ConvModule(out_channels // 2, out_channels, 3, stride=2, padding=1, **conv))
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=False)
        self.fuse_last = ConvModule(out_channels * 2, out_channels, 3, padding=1, **conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_first(x)
        return self.fuse_last(torch.cat([self.convs(x), self.pool(x)], dim=1))


class GELayer(nn.Module):
    """Gather-and-Expansion layer: 3x3 conv, depthwise expansion (x ``exp_ratio``), 1x1
    projection, plus the identity (stride 1) or a depthwise-separable shortcut (stride 2).

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, exp_ratio: int = 6, stride: int = 1,
                 conv_cfg: Optional[Mapping] = None, norm_cfg: Optional[Mapping] = BN,
                 act_cfg: Optional[Mapping] = RELU):
        super().__init__()
        if stride == 1 and in_channels != out_channels:
            raise ConfigError(f"{_where()}GELayer with stride 1 adds its input, so in_channels "
                              f"({in_channels}) must equal out_channels ({out_channels}).")
        mid = in_channels * exp_ratio
        conv = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.conv1 = ConvModule(in_channels, in_channels, 3, padding=1, act_cfg=act_cfg, **conv)
        expand = ConvModule(in_channels, mid, 3, stride=stride, padding=1, groups=in_channels,
                            bias=False if stride != 1 else "auto",
                            act_cfg=act_cfg if stride == 1 else None, **conv)
        if stride == 1:
            self.dwconv = nn.Sequential(expand)
            self.shortcut = None
        else:
            self.dwconv = nn.Sequential(
                expand, ConvModule(mid, mid, 3, padding=1, groups=mid, act_cfg=act_cfg, **conv))
            self.shortcut = nn.Sequential(DepthwiseSeparableConvModule(
                in_channels, out_channels, 3, stride=stride, padding=1, dw_norm_cfg=norm_cfg,
                dw_act_cfg=None, pw_norm_cfg=norm_cfg, pw_act_cfg=None))
        self.conv2 = nn.Sequential(ConvModule(mid, out_channels, 1, bias=False, act_cfg=None,
                                              **conv))
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.dwconv(self.conv1(x)))
        out = out + (x if self.shortcut is None else self.shortcut(x))
        return self.act(out)


class CEBlock(nn.Module):
    """Context embedding: global average + BN, 1x1 conv, added to the input, 3x3 conv.

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, H, W) (in_channels == out_channels).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 16,
                 conv_cfg: Optional[Mapping] = None, norm_cfg: Optional[Mapping] = BN,
                 act_cfg: Optional[Mapping] = RELU):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        conv = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.gap = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)),
                                 build_norm_layer(norm_cfg, in_channels)[1])
        self.conv_gap = ConvModule(in_channels, out_channels, 1, **conv)
        self.conv_last = ConvModule(out_channels, out_channels, 3, padding=1, **conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_last(x + self.conv_gap(self.gap(x)))


class SemanticBranch(nn.Module):
    """``stage1`` (StemBlock, 1/4), GELayer stages to 1/32 (the last has 4 layers), then the
    CEBlock ``stage{n}_CEBlock``; returns every stage's output (the CEBlock's last).
    """

    def __init__(self, semantic_channels: Sequence[int] = (16, 32, 64, 128),
                 in_channels: int = 3, exp_ratio: int = 6):
        super().__init__()
        self.in_channels, self.semantic_channels = in_channels, tuple(semantic_channels)
        self.semantic_stages: List[str] = []
        last = len(semantic_channels) - 1
        for i, cout in enumerate(semantic_channels):
            if i == 0:
                stage = StemBlock(in_channels, cout)
            else:
                cin = semantic_channels[i - 1]
                layers = [GELayer(cin, cout, exp_ratio, 2)]
                layers += [GELayer(cout, cout, exp_ratio, 1) for _ in range(3 if i == last else 1)]
                stage = nn.Sequential(*layers)
            self.add_module(f"stage{i + 1}", stage)
            self.semantic_stages.append(f"stage{i + 1}")
        ce_name = f"stage{len(semantic_channels)}_CEBlock"
        self.add_module(ce_name, CEBlock(semantic_channels[-1], semantic_channels[-1]))
        self.semantic_stages.append(ce_name)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        outs = []
        for name in self.semantic_stages:
            x = getattr(self, name)(x)
            outs.append(x)
        return outs


class BGALayer(nn.Module):
    """Bilateral guided aggregation: detail (1/8) and semantic (1/32) features gate each other
    through sigmoids at both resolutions; the sum goes through a 3x3 ConvModule.

    Shape:
        (N, C, H/8, W/8), (N, C, H/32, W/32) -> (N, C, H/8, W/8), C = ``out_channels``.
    """

    def __init__(self, out_channels: int = 128, align_corners: bool = False,
                 conv_cfg: Optional[Mapping] = None, norm_cfg: Optional[Mapping] = BN,
                 act_cfg: Optional[Mapping] = RELU):
        super().__init__()
        c = self.out_channels = out_channels
        self.align_corners = align_corners
        plain = dict(bias=False, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=None)

        def dw_separable() -> nn.Sequential:  # depthwise with norm, pointwise bare
            return nn.Sequential(DepthwiseSeparableConvModule(
                c, c, 3, padding=1, dw_norm_cfg=norm_cfg, dw_act_cfg=None, pw_norm_cfg=None,
                pw_act_cfg=None))

        self.detail_dwconv = dw_separable()
        self.detail_down = nn.Sequential(
            ConvModule(c, c, 3, stride=2, padding=1, **plain),
            nn.AvgPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=False))
        self.semantic_conv = nn.Sequential(ConvModule(c, c, 3, padding=1, **plain))
        self.semantic_dwconv = dw_separable()
        self.conv = ConvModule(c, c, 3, padding=1, inplace=True, conv_cfg=conv_cfg,
                               norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x_d: torch.Tensor, x_s: torch.Tensor) -> torch.Tensor:
        detail_dwconv = self.detail_dwconv(x_d)
        detail_down = self.detail_down(x_d)
        semantic_conv = resize(self.semantic_conv(x_s), size=detail_dwconv.shape[2:],
                               mode="bilinear", align_corners=self.align_corners)
        fuse_1 = detail_dwconv * torch.sigmoid(semantic_conv)
        fuse_2 = detail_down * torch.sigmoid(self.semantic_dwconv(x_s))
        fuse_2 = resize(fuse_2, size=fuse_1.shape[2:], mode="bilinear",
                        align_corners=self.align_corners)
        return self.conv(fuse_1 + fuse_2)


@MODELS.register_module()
class BiSeNetV2(BaseBackbone):
    """BiSeNetV2 backbone.

    Args:
        in_channels: image channels.
        detail_channels: channels of the detail branch's stages (the last must equal
            ``bga_channels``).
        semantic_channels: channels of the semantic branch's stages (the last must equal
            ``bga_channels``).
        semantic_expansion_ratio: GELayer expansion of the middle channels.
        bga_channels: channels of the aggregation layer (the decode head's ``in_channels``).
        out_indices: which of ``(bga, stage1, stage2, stage3, stage4)`` to return, in order.
        align_corners: of the bilinear resizes in the aggregation layer.
        conv_cfg, norm_cfg, act_cfg: stored, not used by the branches (as in MMSeg).
        pretrained: checkpoint of the backbone (deprecated form of ``init_cfg``).
        init_cfg: default Kaiming for convs and 1 for norms (MMSeg's default).

    Shape:
        (N, in_channels, H, W) -> bga (N, bga_channels, H/8, W/8) and stage i
        (N, semantic_channels[i], H / 2**(i+2), W / 2**(i+2)) (sizes rounded up).
    """

    def __init__(self, in_channels: int = 3, detail_channels: Sequence[int] = (64, 64, 128),
                 semantic_channels: Sequence[int] = (16, 32, 64, 128),
                 semantic_expansion_ratio: int = 6, bga_channels: int = 128,
                 out_indices: Sequence[int] = (0, 1, 2, 3, 4), align_corners: bool = False,
                 conv_cfg: Optional[Mapping] = None, norm_cfg: Optional[Mapping] = BN,
                 act_cfg: Optional[Mapping] = RELU, pretrained: Optional[str] = None,
                 init_cfg: InitCfg = None):
        if init_cfg is None and pretrained is None:
            init_cfg = [dict(cfg) for cfg in CONV_NORM_INIT]
        super().__init__(pretrained=pretrained, init_cfg=init_cfg)
        if detail_channels[-1] != bga_channels or semantic_channels[-1] != bga_channels:
            raise ConfigError(f"{_where()}BiSeNetV2 aggregates the last detail and semantic maps, "
                              f"so detail_channels[-1] ({detail_channels[-1]}) and "
                              f"semantic_channels[-1] ({semantic_channels[-1]}) must equal "
                              f"bga_channels ({bga_channels}).")
        if len(detail_channels) != 3 or len(semantic_channels) != 4:
            raise ConfigError(f"{_where()}BiSeNetV2 needs 3 detail_channels (1/8) and 4 "
                              f"semantic_channels (1/4 to 1/32), got {tuple(detail_channels)} and "
                              f"{tuple(semantic_channels)}.")
        self.in_channels = in_channels
        self.out_indices = check_out_indices(out_indices, 1 + len(semantic_channels), "BiSeNetV2")
        self.detail_channels = tuple(detail_channels)
        self.semantic_channels = tuple(semantic_channels)
        self.semantic_expansion_ratio, self.bga_channels = semantic_expansion_ratio, bga_channels
        self.align_corners = align_corners
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.detail = DetailBranch(self.detail_channels, in_channels)
        self.semantic = SemanticBranch(self.semantic_channels, in_channels,
                                       semantic_expansion_ratio)
        self.bga = BGALayer(bga_channels, align_corners)

    def output_shapes(self) -> OutputShapes:
        """bga at 1/8, semantic stages at 1/4, 1/8, 1/16, 1/32."""
        channels = (self.bga_channels,) + self.semantic_channels
        strides = (8,) + tuple(2 ** (i + 2) for i in range(len(self.semantic_channels)))
        return select_outputs(shape_specs(channels, strides), self.out_indices)

    def init_weights(self) -> None:
        """Apply ``init_cfg`` (Kaiming convs, unit norms by default; or pretrained weights)."""
        initialize(self, self.init_cfg)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x: (N, C, H, W). Returns: the outputs picked by ``out_indices``."""
        semantic = self.semantic(x)
        x_head = self.bga(self.detail(x), semantic[-1])
        return select_outputs([x_head] + semantic[:-1], self.out_indices)
