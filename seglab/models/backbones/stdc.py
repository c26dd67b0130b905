"""STDC backbones of `Rethinking BiSeNet <https://arxiv.org/abs/2104.13188>`_: ``STDCNet`` and
``STDCContextPathNet``.

Same constructor keys, module names and numerics as MMSegmentation 0.x's ``mmseg.models.backbones
.stdc``. ``STDCNet`` is two stride-2 ConvModules (``stages.0``, ``stages.1``) and three stages of
:class:`STDCModule` (``stages.2..4``, 1/8 to 1/32); it returns the three STDC stages.
``STDCContextPathNet`` wraps it (``backbone``) with BiSeNetV1's
:class:`~seglab.models.backbones.bisenetv1.AttentionRefinementModule` (``arms``), 3x3 ``convs``,
a global-pool ``conv_avg`` and STDC's own :class:`FeatureFusionModule` (``ffm``). The original
ImageNet weights convert with ``tools/model_converters/stdc2mmseg.py``.
"""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import ConvModule, initialize, resize
from ..layers.weight_init import InitCfg
from .base import BaseBackbone, OutputShapes, ShapeSpec, shape_specs
from .bisenetv1 import BN, RELU, AttentionRefinementModule, _where, build_inner_backbone


class STDCModule(nn.Module):
    """Short-term dense concatenation: ``num_convs`` convs of halving width, outputs joined.

    ``fusion_type='cat'`` concatenates (the stride-2 module average-pools the first output);
    ``'add'`` concatenates and adds the input (through a strided depthwise + 1x1 skip when
    downsampling).

    Args:
        in_channels: input channels.
        out_channels: output channels (the sum of the conv outputs).
        stride: 1 or 2 (2 adds the depthwise ``downsample`` conv after the first conv).
        norm_cfg: norm of the convs.
        act_cfg: activation of the 3x3 convs (the first 1x1 conv always has ReLU).
        num_convs: convs per module (> 1).
        fusion_type: 'add' or 'cat'.

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 norm_cfg: Optional[Mapping] = None, act_cfg: Optional[Mapping] = None,
                 num_convs: int = 4, fusion_type: str = "add"):
        super().__init__()
        if num_convs <= 1:
            raise ConfigError(f"{_where()}STDC num_convs={num_convs} must be > 1.")
        if fusion_type not in ("add", "cat"):
            raise ConfigError(f"{_where()}STDC bottleneck_type={fusion_type!r} must be 'add' or "
                              f"'cat'.")
        self.stride, self.fusion_type = stride, fusion_type
        self.with_downsample = stride == 2
        half = out_channels // 2
        self.layers = nn.ModuleList()
        conv_0 = ConvModule(in_channels, half, kernel_size=1, norm_cfg=norm_cfg)
        if self.with_downsample:
            self.downsample = ConvModule(half, half, 3, stride=2, padding=1, groups=half,
                                         norm_cfg=norm_cfg, act_cfg=None)
            if fusion_type == "add":
                self.layers.append(nn.Sequential(conv_0, self.downsample))
                self.skip = nn.Sequential(
                    ConvModule(in_channels, in_channels, 3, stride=2, padding=1,
                               groups=in_channels, norm_cfg=norm_cfg, act_cfg=None),
                    ConvModule(in_channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None))
            else:
                self.layers.append(conv_0)
                self.skip = nn.AvgPool2d(kernel_size=3, stride=2, padding=1)
        else:
            self.layers.append(conv_0)
        for i in range(1, num_convs):
            # widths out/2, out/4, ..., and the last repeats the one before it
            out_factor = 2 ** (i + 1) if i != num_convs - 1 else 2 ** i
            self.layers.append(ConvModule(out_channels // 2 ** i, out_channels // out_factor, 3,
                                          padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.fusion_type == "add":
            return self._forward_add(inputs)
        return self._forward_cat(inputs)

    def _forward_add(self, inputs: torch.Tensor) -> torch.Tensor:
        outs, x = [], inputs
        for layer in self.layers:
            x = layer(x)
            outs.append(x)
        skip = self.skip(inputs) if self.with_downsample else inputs
        return torch.cat(outs, dim=1) + skip

    def _forward_cat(self, inputs: torch.Tensor) -> torch.Tensor:
        x0 = self.layers[0](inputs)
        x = self.downsample(x0) if self.with_downsample else x0
        outs = [self.skip(x0) if self.with_downsample else x0]
        for layer in self.layers[1:]:
            x = layer(x)
            outs.append(x)
        return torch.cat(outs, dim=1)


class FeatureFusionModule(nn.Module):
    """STDC's fusion: concat, 1x1 ConvModule, ``x + x * attention(x)``; the attention is two
    norm-free 1x1 convs (``out_channels // scale_factor`` in between) and a sigmoid.

    Not BiSeNetV1's module of the same name (one BN conv, keys ``conv1``/``conv_atten``).

    Shape:
        (N, C1, H, W), (N, C2, H, W) with C1 + C2 = in_channels -> (N, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, scale_factor: int = 4,
                 norm_cfg: Optional[Mapping] = BN, act_cfg: Optional[Mapping] = RELU):
        super().__init__()
        channels = out_channels // scale_factor
        self.conv0 = ConvModule(in_channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d((1, 1)),
            ConvModule(out_channels, channels, 1, norm_cfg=None, bias=False, act_cfg=act_cfg),
            ConvModule(channels, out_channels, 1, norm_cfg=None, bias=False, act_cfg=None),
            nn.Sigmoid())

    def forward(self, spatial_inputs: torch.Tensor, context_inputs: torch.Tensor) -> torch.Tensor:
        x = self.conv0(torch.cat([spatial_inputs, context_inputs], dim=1))
        return x * self.attention(x) + x


@MODELS.register_module()
class STDCNet(BaseBackbone):
    """STDCNet1 / STDCNet2: returns the three STDC stages (strides 8, 16, 32).

    Args:
        stdc_type: 'STDCNet1' (modules per stage 2/2/2) or 'STDCNet2' (4/5/3).
        in_channels: image channels.
        channels: output channels of the five stages.
        bottleneck_type: 'cat' or 'add' (:class:`STDCModule` fusion).
        norm_cfg: norm of every conv.
        act_cfg: activation of the convs.
        num_convs: convs per STDC module.
        with_final_conv: a 1x1 ConvModule to ``max(1024, channels[-1])`` on the last output.
        pretrained: checkpoint path (deprecated form of ``init_cfg``; MMSeg stores it unused).
        init_cfg: e.g. ``dict(type='Pretrained', checkpoint=...)`` for converted STDC weights.

    Shape:
        (N, in_channels, H, W) -> (N, channels[2], H/8, W/8), (N, channels[3], H/16, W/16),
        (N, channels[4] or the final conv's, H/32, W/32) (sizes rounded up).
    """

    arch_settings = {"STDCNet1": [(2, 1), (2, 1), (2, 1)],
                     "STDCNet2": [(2, 1, 1, 1), (2, 1, 1, 1, 1), (2, 1, 1)]}

    def __init__(self, stdc_type: str, in_channels: int, channels: Sequence[int],
                 bottleneck_type: str, norm_cfg: Optional[Mapping], act_cfg: Optional[Mapping],
                 num_convs: int = 4, with_final_conv: bool = False,
                 pretrained: Optional[str] = None, init_cfg: InitCfg = None):
        super().__init__(pretrained=pretrained, init_cfg=init_cfg)
        if stdc_type not in self.arch_settings:
            raise ConfigError(f"{_where()}STDCNet stdc_type={stdc_type!r} is invalid; use one of "
                              f"{', '.join(self.arch_settings)}.")
        if bottleneck_type not in ("add", "cat"):
            raise ConfigError(f"{_where()}STDCNet bottleneck_type={bottleneck_type!r} must be "
                              f"'add' or 'cat'.")
        if len(channels) != 5:
            raise ConfigError(f"{_where()}STDCNet channels={tuple(channels)} must have 5 entries "
                              f"(two shallow stages and three STDC stages).")
        unit = 2 ** (num_convs - 1) if num_convs > 1 else 1
        if any(c % unit for c in channels[2:]):
            raise ConfigError(f"{_where()}STDCNet channels={tuple(channels)}: the last three must "
                              f"be multiples of 2**(num_convs - 1) = {unit} (each STDC module "
                              f"halves its width num_convs - 1 times and concatenates the parts).")
        self.in_channels, self.channels = in_channels, tuple(channels)
        self.stage_strides = self.arch_settings[stdc_type]
        self.num_convs, self.with_final_conv = num_convs, with_final_conv
        conv = dict(kernel_size=3, stride=2, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.stages = nn.ModuleList([ConvModule(in_channels, channels[0], **conv),
                                     ConvModule(channels[0], channels[1], **conv)])
        # Stages 1-2 of the paper feed nothing downstream, so forward drops their outputs.
        self.num_shallow_features = len(self.stages)
        for i, strides in enumerate(self.stage_strides):
            cin, cout = channels[i + 1], channels[i + 2]
            self.stages.append(nn.Sequential(*[
                STDCModule(cin if j == 0 else cout, cout, stride, norm_cfg, act_cfg,
                           num_convs=num_convs, fusion_type=bottleneck_type)
                for j, stride in enumerate(strides)]))
        if with_final_conv:
            self.final_conv = ConvModule(channels[-1], max(1024, channels[-1]), 1,
                                         norm_cfg=norm_cfg, act_cfg=act_cfg)

    def output_shapes(self) -> OutputShapes:
        """channels[2..4] (the last widened by ``final_conv``) at strides 8, 16, 32."""
        last = max(1024, self.channels[-1]) if self.with_final_conv else self.channels[-1]
        return shape_specs(self.channels[2:4] + (last,), (8, 16, 32))

    def init_weights(self) -> None:
        """Apply ``init_cfg`` (ConvModules keep their Kaiming init otherwise)."""
        initialize(self, self.init_cfg)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x: (N, C, H, W). Returns: the outputs of the three STDC stages."""
        outs: List[torch.Tensor] = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        if self.with_final_conv:
            outs[-1] = self.final_conv(outs[-1])
        return tuple(outs[self.num_shallow_features:])


@MODELS.register_module()
class STDCContextPathNet(BaseBackbone):
    """STDCNet plus its context path: ``(stage 1/8, context 1/16, context 1/8, fused 1/8)``.

    The deepest map's global average (``conv_avg``) is added to the refined (``arms``) 1/32 map,
    upsampled (``upsample_mode``), convolved, added to the refined 1/16 map, and so on; the
    finest context map is fused (``ffm``) with the backbone's 1/8 map for the decode head.

    Args:
        backbone_cfg: the STDCNet dict (three outputs).
        last_in_channels: channels of the backbone's last and second-to-last outputs.
        out_channels: channels of the context path.
        ffm_cfg: :class:`FeatureFusionModule` keys (``in_channels`` = backbone 1/8 channels +
            ``out_channels``).
        upsample_mode: ``F.interpolate`` mode of the upsampling.
        align_corners: of the upsampling (None for 'nearest').
        norm_cfg: norm of ``convs`` and ``conv_avg``.
        pretrained: checkpoint of the whole backbone (deprecated form of ``init_cfg``).
        init_cfg: init dict(s); the STDCNet's own ``init_cfg`` loads its ImageNet weights.

    Shape:
        (N, 3, H, W) -> (N, C8, H/8, W/8), (N, out_channels, H/16, W/16),
        (N, out_channels, H/8, W/8), (N, ffm out_channels, H/8, W/8).
    """

    def __init__(self, backbone_cfg: Mapping, last_in_channels: Sequence[int] = (1024, 512),
                 out_channels: int = 128,
                 ffm_cfg: Mapping = dict(in_channels=512, out_channels=256, scale_factor=4),
                 upsample_mode: str = "nearest", align_corners: Optional[bool] = None,
                 norm_cfg: Optional[Mapping] = BN, pretrained: Optional[str] = None,
                 init_cfg: InitCfg = None):
        super().__init__(pretrained=pretrained, init_cfg=init_cfg)
        self.backbone = build_inner_backbone(backbone_cfg, "STDCContextPathNet")
        self.last_in_channels, self.path_channels = tuple(last_in_channels), out_channels
        self._check(dict(ffm_cfg))
        self.arms = nn.ModuleList()
        self.convs = nn.ModuleList()
        for channels in last_in_channels:
            self.arms.append(AttentionRefinementModule(channels, out_channels))
            self.convs.append(ConvModule(out_channels, out_channels, 3, padding=1,
                                         norm_cfg=norm_cfg))
        self.conv_avg = ConvModule(last_in_channels[0], out_channels, 1, norm_cfg=norm_cfg)
        self.ffm_cfg = dict(ffm_cfg)
        self.ffm = FeatureFusionModule(**self.ffm_cfg)
        self.upsample_mode, self.align_corners = upsample_mode, align_corners

    def _check(self, ffm_cfg: dict) -> None:
        unknown = set(ffm_cfg) - {"in_channels", "out_channels", "scale_factor", "norm_cfg",
                                  "act_cfg"}
        if unknown or not {"in_channels", "out_channels"} <= set(ffm_cfg):
            raise ConfigError(f"{_where()}STDCContextPathNet ffm_cfg={ffm_cfg!r} needs "
                              f"in_channels and out_channels (optional: scale_factor, norm_cfg, "
                              f"act_cfg).")
        if len(self.last_in_channels) != 2:
            raise ConfigError(f"{_where()}STDCContextPathNet last_in_channels="
                              f"{self.last_in_channels} must have 2 entries (the backbone's "
                              f"last two outputs).")
        shapes = self.backbone.output_shapes()
        if shapes is None:
            return
        if len(shapes) != 3:
            raise ConfigError(f"{_where()}STDCContextPathNet needs a backbone with 3 outputs "
                              f"(1/8, 1/16, 1/32), it declares {len(shapes)}.")
        deep = (shapes[2].channels, shapes[1].channels)
        if deep != self.last_in_channels:
            raise ConfigError(f"{_where()}STDCContextPathNet last_in_channels="
                              f"{self.last_in_channels} must be the channels of the backbone's "
                              f"last two outputs, {deep}.")
        fused = shapes[0].channels + self.path_channels
        if ffm_cfg["in_channels"] != fused:
            raise ConfigError(f"{_where()}STDCContextPathNet ffm_cfg.in_channels="
                              f"{ffm_cfg['in_channels']} must be the backbone's 1/8 channels "
                              f"plus out_channels = {shapes[0].channels} + {self.path_channels} "
                              f"= {fused}.")

    def output_shapes(self) -> OutputShapes:
        """The backbone's first map, the two context maps, the fused map."""
        first = self.backbone.output_shapes()
        first = first[0] if first is not None else ShapeSpec(self.ffm_cfg["in_channels"]
                                                            - self.path_channels, 8)
        c = self.path_channels
        return (first, ShapeSpec(c, 2 * first.stride), ShapeSpec(c, first.stride),
                ShapeSpec(self.ffm_cfg["out_channels"], first.stride))

    def init_weights(self) -> None:
        """``init_cfg`` if set; then the STDCNet's own init (its pretrained weights)."""
        if self.init_cfg is not None:
            initialize(self, self.init_cfg)
            if isinstance(self.init_cfg, Mapping) and self.init_cfg.get("type") == "Pretrained":
                return
        self.backbone.init_weights()

    def _up(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return resize(x, size=like.shape[2:], mode=self.upsample_mode,
                      align_corners=self.align_corners)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x: (N, C, H, W). Returns: (1/8 stage, context 1/16, context 1/8, fused)."""
        outs = list(self.backbone(x))
        feature_up = self._up(self.conv_avg(F.adaptive_avg_pool2d(outs[-1], 1)), outs[-1])
        arms_out = []
        for i, (arm, conv) in enumerate(zip(self.arms, self.convs)):
            x_arm = arm(outs[len(outs) - 1 - i]) + feature_up
            feature_up = conv(self._up(x_arm, outs[len(outs) - 2 - i]))
            arms_out.append(feature_up)
        feat_fuse = self.ffm(outs[0], arms_out[1])
        return (outs[0], *arms_out, feat_fuse)
