"""``ICNet``: `ICNet for Real-Time Semantic Segmentation <https://arxiv.org/abs/1704.08545>`_.

Same constructor keys, module names and numerics as MMSegmentation 0.x's
``mmseg.models.backbones.ICNet``. Three branches share one ResNet (``backbone``, built from
``backbone_cfg``, its max pool replaced by a ``ceil_mode`` one as MMSeg does):

- sub1 (``conv_sub1``): three stride-2 ConvModules on the full image (stride 8);
- sub2 (``conv_sub2``): the ResNet stem, pool, ``layer1`` and ``layer2`` on the half-size image,
  then a 1x1 ConvModule (nominal stride 16);
- sub4 (``conv_sub4``): the sub2 map halved again through ``layer3``/``layer4``, a pyramid pooling
  module (``psp_modules``, PSPNet's :class:`~seglab.models.decode_heads.psp_head.PPM`) fused by
  ``psp_bottleneck``, then a 1x1 ConvModule (nominal stride 32).

The ceil-mode pool makes the sub2/sub4 maps one pixel larger than ``H / stride`` on some sizes
(5x5 for a 64x64 image); the ICNeck resizes every branch to its partner, so nothing relies on it.
"""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..builder import build_backbone
from ..decode_heads.psp_head import PPM
from ..layers import ConvModule, initialize, resize
from ..layers.weight_init import InitCfg
from .base import BaseBackbone, OutputShapes, shape_specs
from .resnet import ResNet

# MMSeg's default init of ICNet's own layers (the inner ResNet then applies its own).
_DEFAULT_INIT = [dict(type="Kaiming", mode="fan_out", layer="Conv2d"),
                 dict(type="Constant", val=1, layer="_BatchNorm"),
                 dict(type="Normal", mean=0.01, layer="Linear")]


@MODELS.register_module()
class ICNet(BaseBackbone):
    """Image cascade network: maps at three resolutions for :class:`~seglab.models.necks.ICNeck`.

    Args:
        backbone_cfg: config of the shared ResNet (a ``ResNet``/``ResNetV1c``/``ResNetV1d``
            with 4 stages; MMSeg uses a dilated ResNetV1c, strides (1, 2, 1, 1)).
        in_channels: input image channels.
        layer_channels: output channels of the ResNet's ``layer2`` and ``layer4``.
        light_branch_middle_channels: channels of the first two sub1 convs.
        psp_out_channels: channels of the pyramid pooling branches and of ``psp_bottleneck``.
        out_channels: output channels of the sub1, sub2 and sub4 branches.
        pool_scales: pyramid pooling output sizes.
        conv_cfg: conv type.
        norm_cfg: norm type.
        act_cfg: activation type.
        align_corners: of the half-size resizes and the pyramid upsampling.
        pretrained: checkpoint of the whole ICNet (deprecated form of ``init_cfg``).
        init_cfg: init dicts; None = MMSeg's (Kaiming convs, BN 1), then the ResNet's own
            ``init_cfg`` (e.g. ``Pretrained`` ImageNet weights in ``backbone_cfg``).

    Shape:
        (N, in_channels, H, W) -> (N, out_channels[0], H/8, W/8), (N, out_channels[1], ~H/16,
        ~W/16), (N, out_channels[2], ~H/32, ~W/32).
    """

    def __init__(self, backbone_cfg: Mapping, in_channels: int = 3,
                 layer_channels: Sequence[int] = (512, 2048),
                 light_branch_middle_channels: int = 32, psp_out_channels: int = 512,
                 out_channels: Sequence[int] = (64, 256, 256),
                 pool_scales: Sequence[int] = (1, 2, 3, 6), conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Mapping = dict(type="BN", requires_grad=True),
                 act_cfg: Mapping = dict(type="ReLU"), align_corners: bool = False,
                 pretrained: Optional[str] = None, init_cfg: InitCfg = None):
        super().__init__(pretrained=pretrained, init_cfg=init_cfg)
        if not isinstance(backbone_cfg, Mapping):
            raise ConfigError("ICNet needs backbone_cfg, the dict of its ResNet (e.g. "
                              "dict(type='ResNetV1c', depth=50, ...)); got "
                              f"{backbone_cfg!r}")
        if len(layer_channels) != 2 or len(out_channels) != 3:
            raise ConfigError(f"ICNet: layer_channels needs 2 entries (layer2, layer4) and "
                              f"out_channels 3 (sub1, sub2, sub4), got {tuple(layer_channels)} "
                              f"and {tuple(out_channels)}")
        self.align_corners = align_corners
        self.layer_channels, self.branch_channels = tuple(layer_channels), tuple(out_channels)
        self.backbone = build_backbone(backbone_cfg)
        self._check_backbone()
        # Default ceil_mode is False; True keeps the corner pixels of odd-sized maps (MMSeg).
        self.backbone.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=True)

        conv_args = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.psp_modules = PPM(pool_scales, layer_channels[1], psp_out_channels,
                               align_corners=align_corners, **conv_args)
        self.psp_bottleneck = ConvModule(layer_channels[1] + len(pool_scales) * psp_out_channels,
                                         psp_out_channels, 3, padding=1, **conv_args)
        mid = light_branch_middle_channels
        # The branch convs use ConvModule's default ReLU, not act_cfg (as MMSeg).
        self.conv_sub1 = nn.Sequential(*(
            ConvModule(cin, cout, 3, stride=2, padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
            for cin, cout in ((in_channels, mid), (mid, mid), (mid, out_channels[0]))))
        self.conv_sub2 = ConvModule(layer_channels[0], out_channels[1], 1, conv_cfg=conv_cfg,
                                    norm_cfg=norm_cfg)
        self.conv_sub4 = ConvModule(psp_out_channels, out_channels[2], 1, conv_cfg=conv_cfg,
                                    norm_cfg=norm_cfg)

    def _check_backbone(self) -> None:
        if not isinstance(self.backbone, ResNet) or self.backbone.num_stages != 4:
            raise ConfigError(f"ICNet backbone_cfg must build a 4-stage ResNet (it runs the stem, "
                              f"max pool and layer1-4 itself), got {type(self.backbone).__name__}")
        res = self.backbone
        widths = [res.base_channels * 2 ** i * res.block.expansion for i in range(4)]
        if (widths[1], widths[3]) != self.layer_channels:
            raise ConfigError(f"ICNet layer_channels={self.layer_channels} must be the channels "
                              f"of the ResNet's layer2 and layer4, which are "
                              f"{(widths[1], widths[3])} for backbone_cfg")

    def output_shapes(self) -> OutputShapes:
        """sub1, sub2, sub4 at strides 8, 16, 32 (sub2/sub4 may be one pixel larger)."""
        return shape_specs(self.branch_channels, [8, 16, 32])

    def init_weights(self) -> None:
        """``init_cfg`` (default MMSeg's) over ICNet, then the ResNet's own init / pretrained."""
        initialize(self, self.init_cfg if self.init_cfg is not None else _DEFAULT_INIT)
        whole = isinstance(self.init_cfg, Mapping) and self.init_cfg.get("type") == "Pretrained"
        if not whole:  # a whole-ICNet checkpoint already holds the ResNet's weights
            self.backbone.init_weights()

    def _half(self, x: torch.Tensor) -> torch.Tensor:
        return resize(x, scale_factor=0.5, mode="bilinear", align_corners=self.align_corners)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x: (N, C, H, W). Returns: the sub1, sub2 and sub4 maps."""
        res = self.backbone
        outs: List[torch.Tensor] = [self.conv_sub1(x)]
        x = self._half(x)
        x = res.stem(x) if res.deep_stem else res.relu(res.norm1(res.conv1(x)))
        x = res.layer2(res.layer1(res.maxpool(x)))
        outs.append(self.conv_sub2(x))
        x = res.layer4(res.layer3(self._half(x)))
        x = self.psp_bottleneck(torch.cat([*self.psp_modules(x), x], dim=1))
        outs.append(self.conv_sub4(x))
        return tuple(outs)
