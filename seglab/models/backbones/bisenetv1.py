"""``BiSeNetV1``: `BiSeNet <https://arxiv.org/abs/1808.00897>`_, a spatial and a context path.

Same constructor keys, module names and numerics as MMSegmentation 0.x's
``mmseg.models.backbones.BiSeNetV1``: ``spatial_path`` (three strided convs, stride 8),
``context_path`` (a ResNet built from ``backbone_cfg``, :class:`AttentionRefinementModule`\\ s on
its 1/16 and 1/32 maps plus a global-pool branch, nearest upsampling) and ``ffm``
(:class:`FeatureFusionModule`). Outputs: ``(fused, context at 1/8, context at 1/16)``, picked by
``out_indices``.

As in MMSegmentation, ``norm_cfg`` / ``act_cfg`` / ``conv_cfg`` of ``BiSeNetV1`` are stored but the
BiSeNet modules keep their own defaults (BN, ReLU): the released models were trained that way.
The context backbone takes its norm from ``backbone_cfg``.
"""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS, build_from_cfg, current_build_path
from ..layers import ConvModule, initialize, resize
from ..layers.weight_init import InitCfg
from .base import BaseBackbone, OutputShapes, ShapeSpec

BN = dict(type="BN")
RELU = dict(type="ReLU")


def _where() -> str:
    path = current_build_path()
    return f"{path}: " if path else ""


def build_inner_backbone(cfg: Mapping, owner: str) -> nn.Module:
    """Build the backbone a composite backbone wraps (``backbone_cfg`` of BiSeNetV1 / STDC).

    Errors name the path ``...backbone.backbone_cfg`` like any other config error.
    """
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"{_where()}{owner} needs backbone_cfg, a backbone dict such as "
                          f"dict(type='ResNet', depth=18), got {cfg!r}")
    return build_from_cfg(cfg, MODELS, key="backbone_cfg")


def select_outputs(outs: Sequence, out_indices: Sequence[int]) -> tuple:
    """``outs[i] for i in out_indices``, in that order (MMSeg's selection, repeats allowed)."""
    return tuple(outs[i] for i in out_indices)


def check_out_indices(out_indices, num_outputs: int, owner: str) -> Tuple[int, ...]:
    """``out_indices`` as a tuple of ints in ``[-num_outputs, num_outputs)``, else a clear error."""
    indices = (out_indices,) if isinstance(out_indices, int) else tuple(out_indices)
    if not indices or not all(isinstance(i, int) and -num_outputs <= i < num_outputs
                              for i in indices):
        raise ConfigError(f"{_where()}{owner} out_indices={out_indices!r}: each index must be an "
                          f"int in [0, {num_outputs}) (it has {num_outputs} outputs).")
    return indices


class SpatialPath(nn.Module):
    """Three stride-2 convs (7x7, 3x3, 3x3) and a 1x1: detail at 1/8 (``layer1``..``layer4``).

    Args:
        in_channels: image channels.
        num_channels: output channels of the four layers.
        conv_cfg, norm_cfg, act_cfg: of the ConvModules.

    Shape:
        (N, in_channels, H, W) -> (N, num_channels[3], ceil(H / 8), ceil(W / 8)).
    """

    def __init__(self, in_channels: int = 3, num_channels: Sequence[int] = (64, 64, 64, 128),
                 conv_cfg: Optional[Mapping] = None, norm_cfg: Optional[Mapping] = BN,
                 act_cfg: Optional[Mapping] = RELU):
        super().__init__()
        if len(num_channels) != 4:
            raise ConfigError(f"{_where()}BiSeNetV1 spatial_channels={tuple(num_channels)} must "
                              f"have 4 entries.")
        # (kernel, stride) of layer1..layer4
        specs = ((7, 2), (3, 2), (3, 2), (1, 1))
        cin = in_channels
        self.layers: List[str] = []
        for i, ((k, s), cout) in enumerate(zip(specs, num_channels)):
            self.add_module(f"layer{i + 1}", ConvModule(cin, cout, k, stride=s, padding=k // 2,
                                                        conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                                        act_cfg=act_cfg))
            self.layers.append(f"layer{i + 1}")
            cin = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.layers:
            x = getattr(self, name)(x)
        return x


class AttentionRefinementModule(nn.Module):
    """3x3 conv, then channel attention from its global average (1x1 conv + BN + sigmoid).

    Also used by STDC's context path (MMSeg imports it from bisenetv1.py too).

    Args:
        in_channels: input channels.
        out_channel: output channels (MMSeg's singular name).
        conv_cfg, norm_cfg, act_cfg: of the ConvModules (the attention conv has no activation).

    Shape:
        (N, in_channels, H, W) -> (N, out_channel, H, W).
    """

    def __init__(self, in_channels: int, out_channel: int, conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Optional[Mapping] = BN, act_cfg: Optional[Mapping] = RELU):
        super().__init__()
        self.conv_layer = ConvModule(in_channels, out_channel, 3, padding=1, conv_cfg=conv_cfg,
                                     norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.atten_conv_layer = nn.Sequential(
            nn.AdaptiveAvgPool2d((1, 1)),
            ConvModule(out_channel, out_channel, 1, bias=False, conv_cfg=conv_cfg,
                       norm_cfg=norm_cfg, act_cfg=None),
            nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_layer(x)
        return x * self.atten_conv_layer(x)


class ContextPath(nn.Module):
    """The context backbone's 1/16 and 1/32 maps refined, summed top-down, upsampled (nearest).

    Args:
        backbone_cfg: the backbone (four outputs at strides 4/8/16/32, e.g. a ResNet).
        context_channels: (channels of the path, of the 1/16 map, of the 1/32 map).
        align_corners: kept for MMSeg compatibility (the upsampling is nearest).
        conv_cfg, norm_cfg, act_cfg: of the ConvModules.

    Shape:
        (N, C, H, W) -> ((N, context_channels[0], H / 8, W / 8),
        (N, context_channels[0], H / 16, W / 16)).
    """

    def __init__(self, backbone_cfg: Mapping, context_channels: Sequence[int] = (128, 256, 512),
                 align_corners: bool = False, conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Optional[Mapping] = BN, act_cfg: Optional[Mapping] = RELU):
        super().__init__()
        if len(context_channels) != 3:
            raise ConfigError(f"{_where()}BiSeNetV1 context_channels={tuple(context_channels)} "
                              f"must have 3 entries.")
        self.backbone = build_inner_backbone(backbone_cfg, "BiSeNetV1")
        self._check_backbone(context_channels)
        self.align_corners = align_corners
        c0, c16, c32 = context_channels
        conv = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.arm16 = AttentionRefinementModule(c16, c0)
        self.arm32 = AttentionRefinementModule(c32, c0)
        self.conv_head32 = ConvModule(c0, c0, 3, padding=1, **conv)
        self.conv_head16 = ConvModule(c0, c0, 3, padding=1, **conv)
        self.gap_conv = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), ConvModule(c32, c0, 1, **conv))

    def _check_backbone(self, context_channels: Sequence[int]) -> None:
        shapes = self.backbone.output_shapes() if hasattr(self.backbone, "output_shapes") else None
        if shapes is None:
            return
        if len(shapes) != 4:
            raise ConfigError(f"{_where()}BiSeNetV1's context backbone must return 4 maps "
                              f"(strides 4/8/16/32), it declares {len(shapes)}: set "
                              f"backbone_cfg.out_indices=(0, 1, 2, 3).")
        got = (shapes[2].channels, shapes[3].channels)
        if got != tuple(context_channels[1:]):
            raise ConfigError(f"{_where()}BiSeNetV1 context_channels={tuple(context_channels)}: "
                              f"entries 1 and 2 must be the channels of the context backbone's "
                              f"1/16 and 1/32 maps, which are {got}.")

    def context_strides(self) -> Tuple[int, int]:
        """Strides of the two outputs (those of the backbone's second and third maps)."""
        shapes = self.backbone.output_shapes()
        if shapes is None:  # undeclared: ResNet-like strides
            return 8, 16
        return shapes[1].stride, shapes[2].stride

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        _, x_8, x_16, x_32 = self.backbone(x)
        x_gap = self.gap_conv(x_32)
        x_32_up = resize(self.arm32(x_32) + x_gap, size=x_16.shape[2:], mode="nearest")
        x_32_up = self.conv_head32(x_32_up)
        x_16_up = resize(self.arm16(x_16) + x_32_up, size=x_8.shape[2:], mode="nearest")
        x_16_up = self.conv_head16(x_16_up)
        return x_16_up, x_32_up


class FeatureFusionModule(nn.Module):
    """BiSeNetV1's fusion: concat, 1x1 ConvModule, ``x + x * attention(x)`` with a BN+ReLU conv.

    (STDC's module of the same name has two norm-free attention convs and other keys:
    :class:`seglab.models.backbones.stdc.FeatureFusionModule`.)

    Args:
        in_channels: channels of the two inputs together.
        out_channels: output channels.
        conv_cfg, norm_cfg, act_cfg: of the ConvModules.

    Shape:
        (N, C1, H, W), (N, C2, H, W) with C1 + C2 = in_channels -> (N, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Optional[Mapping] = BN, act_cfg: Optional[Mapping] = RELU):
        super().__init__()
        conv = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv1 = ConvModule(in_channels, out_channels, 1, **conv)
        self.gap = nn.AdaptiveAvgPool2d((1, 1))
        self.conv_atten = nn.Sequential(ConvModule(out_channels, out_channels, 1, bias=False,
                                                   **conv), nn.Sigmoid())

    def forward(self, x_sp: torch.Tensor, x_cp: torch.Tensor) -> torch.Tensor:
        x_fuse = self.conv1(torch.cat([x_sp, x_cp], dim=1))
        return x_fuse * self.conv_atten(self.gap(x_fuse)) + x_fuse


@MODELS.register_module()
class BiSeNetV1(BaseBackbone):
    """BiSeNetV1 backbone: outputs ``(fused, context 1/8, context 1/16)`` by ``out_indices``.

    Args:
        backbone_cfg: context-path backbone with four outputs (strides 4/8/16/32).
        in_channels: image channels of the spatial path.
        spatial_channels: channels of the four spatial-path layers.
        context_channels: (path channels, backbone 1/16 channels, backbone 1/32 channels).
        out_indices: which of the three outputs to return, in this order.
        align_corners: kept for MMSeg compatibility (upsampling is nearest).
        out_channels: channels of the fused output (the decode head's ``in_channels``).
        conv_cfg, norm_cfg, act_cfg: stored, not used by the BiSeNet modules (as in MMSeg).
        pretrained: checkpoint of the whole backbone (deprecated form of ``init_cfg``).
        init_cfg: init dict(s); the context backbone's own ``init_cfg`` loads its weights.

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, H/8, W/8), (N, context_channels[0], H/8,
        W/8), (N, context_channels[0], H/16, W/16) (sizes rounded up), selected by out_indices.
    """

    def __init__(self, backbone_cfg: Mapping, in_channels: int = 3,
                 spatial_channels: Sequence[int] = (64, 64, 64, 128),
                 context_channels: Sequence[int] = (128, 256, 512),
                 out_indices: Sequence[int] = (0, 1, 2), align_corners: bool = False,
                 out_channels: int = 256, conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Optional[Mapping] = dict(type="BN", requires_grad=True),
                 act_cfg: Optional[Mapping] = RELU, pretrained: Optional[str] = None,
                 init_cfg: InitCfg = None):
        super().__init__(pretrained=pretrained, init_cfg=init_cfg)
        if len(spatial_channels) != 4 or len(context_channels) != 3:
            raise ConfigError(f"{_where()}BiSeNetV1 needs 4 spatial_channels and 3 "
                              f"context_channels, got {tuple(spatial_channels)} and "
                              f"{tuple(context_channels)}.")
        if spatial_channels[3] + context_channels[0] != context_channels[1]:
            # MMSeg sizes the fusion module's input by context_channels[1].
            raise ConfigError(
                f"{_where()}BiSeNetV1: the fusion module reads spatial_channels[3] + "
                f"context_channels[0] = {spatial_channels[3]} + {context_channels[0]} channels "
                f"but is built for context_channels[1] = {context_channels[1]}; make them equal.")
        self.out_indices = check_out_indices(out_indices, 3, "BiSeNetV1")
        self.align_corners = align_corners
        self.spatial_channels = tuple(spatial_channels)
        self.context_channels = tuple(context_channels)
        self.fuse_channels = out_channels
        self.context_path = ContextPath(backbone_cfg, context_channels, align_corners)
        self.spatial_path = SpatialPath(in_channels, spatial_channels)
        self.ffm = FeatureFusionModule(context_channels[1], out_channels)
        if self.context_path.context_strides()[0] != 8:
            raise ConfigError(f"{_where()}BiSeNetV1 fuses the 1/8 spatial path with the context "
                              f"backbone's second map, which has stride "
                              f"{self.context_path.context_strides()[0]}; use backbone strides "
                              f"that put it at 1/8 (ResNet strides=(1, 2, 2, 2)).")
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg

    def output_shapes(self) -> OutputShapes:
        """Fused map (``out_channels``, 8), context maps (``context_channels[0]``, 8 and 16)."""
        s8, s16 = self.context_path.context_strides()
        c0 = self.context_channels[0]
        all_outs = (ShapeSpec(self.fuse_channels, 8), ShapeSpec(c0, s8), ShapeSpec(c0, s16))
        return select_outputs(all_outs, self.out_indices)

    def init_weights(self) -> None:
        """``init_cfg`` if set; then the context backbone's own init (its pretrained weights)."""
        if self.init_cfg is not None:
            initialize(self, self.init_cfg)
            if isinstance(self.init_cfg, Mapping) and self.init_cfg.get("type") == "Pretrained":
                return
        self.context_path.backbone.init_weights()

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x: (N, C, H, W). Returns: the outputs picked by ``out_indices``."""
        x_context8, x_context16 = self.context_path(x)
        x_fuse = self.ffm(self.spatial_path(x), x_context8)
        return select_outputs((x_fuse, x_context8, x_context16), self.out_indices)
