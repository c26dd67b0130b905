"""``MobileNetV3`` (`paper <https://arxiv.org/abs/1905.02244>`_): MMSegmentation 0.x's dilated one.

``layer0`` (3x3 stride-2 stem, HSwish), one :class:`~seglab.models.layers.InvertedResidualV3` per
row of the arch table (``layer1..``), and a final 1x1 conv (576 / 960 channels). As in MMSeg the
network is then made a segmentation backbone of output stride 8: the last two strided blocks get
stride 1 and the layers from the first of them on are dilated (2, then 4 from the second).
``reduction_factor`` divides the widths of the last stage (blocks 9.. of 'small', 13.. of 'large').
"""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import Conv2dAdaptivePadding, ConvModule, InvertedResidualV3, initialize
from ..layers.weight_init import CONV_NORM_INIT, InitCfg
from .base import BaseBackbone, OutputShapes, shape_specs
from .mobilenet_v2 import check_out_indices

# Where each arch stops striding: (first layer of dilation 2, first layer of dilation 4,
# first layer whose widths reduction_factor divides).
_SEG_LAYOUT = {"small": (4, 9, 9), "large": (7, 13, 13)}
_SE_GATE = (dict(type="ReLU"), dict(type="HSigmoid", bias=3.0, divisor=6.0))


def _spatial_conv(layer: nn.Module) -> nn.Conv2d:
    """The conv of a layer that strides / dilates: a block's depthwise conv, or the layer's conv."""
    return layer.depthwise_conv.conv if isinstance(layer, InvertedResidualV3) else layer.conv


@MODELS.register_module()
class MobileNetV3(BaseBackbone):
    """MobileNetV3 small/large returning the outputs of the layers in ``out_indices``.

    Args:
        arch: ``'small'`` or ``'large'``.
        conv_cfg: conv type.
        norm_cfg: norm type (MMSeg's LRASPP configs use ``eps=0.001``).
        out_indices: layers whose outputs are returned; 0 is the stem, the last is the 1x1 conv
            (12 for 'small', 16 for 'large').
        frozen_stages: layers ``0..frozen_stages`` are frozen; -1 none.
        reduction_factor: divides the widths of the last stage (a positive int).
        norm_eval: keep batch norms in eval mode while training.
        with_cp: gradient checkpointing per block while training.
        pretrained: checkpoint to load in :meth:`init_weights`
            (e.g. ``'open-mmlab://contrib/mobilenet_v3_large'``).
        init_cfg: init dicts; default Kaiming convs and unit norms.

    Shape:
        (N, 3, H, W) -> tuple of (N, C_i, H / s_i, W / s_i) with s_i in {2, 4, 8}.
    """

    # Per block: kernel size, mid channels, out channels, with SE, activation, stride.
    arch_settings = {
        "small": [[3, 16, 16, True, "ReLU", 2],
                  [3, 72, 24, False, "ReLU", 2],
                  [3, 88, 24, False, "ReLU", 1],
                  [5, 96, 40, True, "HSwish", 2],
                  [5, 240, 40, True, "HSwish", 1],
                  [5, 240, 40, True, "HSwish", 1],
                  [5, 120, 48, True, "HSwish", 1],
                  [5, 144, 48, True, "HSwish", 1],
                  [5, 288, 96, True, "HSwish", 2],
                  [5, 576, 96, True, "HSwish", 1],
                  [5, 576, 96, True, "HSwish", 1]],
        "large": [[3, 16, 16, False, "ReLU", 1],
                  [3, 64, 24, False, "ReLU", 2],
                  [3, 72, 24, False, "ReLU", 1],
                  [5, 72, 40, True, "ReLU", 2],
                  [5, 120, 40, True, "ReLU", 1],
                  [5, 120, 40, True, "ReLU", 1],
                  [3, 240, 80, False, "HSwish", 2],
                  [3, 200, 80, False, "HSwish", 1],
                  [3, 184, 80, False, "HSwish", 1],
                  [3, 184, 80, False, "HSwish", 1],
                  [3, 480, 112, True, "HSwish", 1],
                  [3, 672, 112, True, "HSwish", 1],
                  [5, 672, 160, True, "HSwish", 2],
                  [5, 960, 160, True, "HSwish", 1],
                  [5, 960, 160, True, "HSwish", 1]],
    }
    final_channels = {"small": 576, "large": 960}

    def __init__(self, arch: str = "small", conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Mapping = dict(type="BN"), out_indices: Sequence[int] = (0, 1, 12),
                 frozen_stages: int = -1, reduction_factor: int = 1, norm_eval: bool = False,
                 with_cp: bool = False, pretrained: Optional[str] = None,
                 init_cfg: InitCfg = None):
        super().__init__(pretrained=pretrained, init_cfg=init_cfg, frozen_stages=frozen_stages,
                         norm_eval=norm_eval)
        if arch not in self.arch_settings:
            raise ConfigError(f"MobileNetV3 arch={arch!r} is invalid; use 'small' or 'large'.")
        if not isinstance(reduction_factor, int) or reduction_factor <= 0:
            raise ConfigError(f"MobileNetV3 reduction_factor must be a positive int, got "
                              f"{reduction_factor!r}")
        num_layers = len(self.arch_settings[arch]) + 2
        self.out_indices = check_out_indices("MobileNetV3", out_indices, num_layers, frozen_stages)
        self.arch, self.reduction_factor, self.with_cp = arch, reduction_factor, with_cp
        self.conv_cfg, self.norm_cfg = conv_cfg, norm_cfg
        self.layers = self._make_layer()
        self._freeze_stages()

    def _make_layer(self) -> List[str]:
        dilate2_from, dilate4_from, reduce_from = _SEG_LAYOUT[self.arch]
        in_channels = 16
        self.layer0 = ConvModule(3, in_channels, 3, stride=2, padding=1,
                                 conv_cfg=dict(type="Conv2dAdaptivePadding"),
                                 norm_cfg=self.norm_cfg, act_cfg=dict(type="HSwish"))
        self.layer_channels = [in_channels]
        for i, (kernel, mid, out, with_se, act, stride) in enumerate(self.arch_settings[self.arch]):
            if i + 1 >= reduce_from:
                mid, out = mid // self.reduction_factor, out // self.reduction_factor
            se_cfg = dict(channels=mid, ratio=4, act_cfg=_SE_GATE) if with_se else None
            block = InvertedResidualV3(in_channels, out, mid, kernel_size=kernel, stride=stride,
                                       se_cfg=se_cfg, with_expand_conv=in_channels != mid,
                                       conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                                       act_cfg=dict(type=act), with_cp=self.with_cp)
            self.add_module(f"layer{i + 1}", block)
            self.layer_channels.append(out)
            in_channels = out
        last = len(self.layer_channels)
        self.add_module(f"layer{last}", ConvModule(
            in_channels, self.final_channels[self.arch], 1, dilation=4, conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg, act_cfg=dict(type="HSwish")))
        self.layer_channels.append(self.final_channels[self.arch])
        names = [f"layer{i}" for i in range(last + 1)]

        # Output stride 8: no stride from layer `dilate2_from` / `dilate4_from` on; dilate instead.
        getattr(self, f"layer{dilate2_from}").depthwise_conv.conv.stride = (1, 1)
        getattr(self, f"layer{dilate4_from}").depthwise_conv.conv.stride = (1, 1)
        for i in range(dilate2_from, last + 1):
            conv = _spatial_conv(getattr(self, names[i]))
            dilation = 2 if i < dilate4_from else 4
            conv.dilation = (dilation, dilation)
            if not isinstance(conv, Conv2dAdaptivePadding):  # it pads for the dilation itself
                pad = dilation * ((conv.kernel_size[0] - 1) // 2)
                conv.padding = (pad, pad)
        return names

    def output_shapes(self) -> OutputShapes:
        """Widths from the arch table; stride 2 after the stem, x2 per strided block (up to 8)."""
        strides, stride = [], 1
        for name in self.layers:
            stride *= _spatial_conv(getattr(self, name)).stride[0]
            strides.append(stride)
        selected = [i for i in range(len(self.layers)) if i in self.out_indices]
        return shape_specs([self.layer_channels[i] for i in selected],
                           [strides[i] for i in selected])

    def frozen_modules(self) -> List[nn.Module]:
        """Layers ``layer0..layer{frozen_stages}``."""
        return [getattr(self, f"layer{i}") for i in range(self.frozen_stages + 1)]

    def init_weights(self) -> None:
        """Load ``pretrained`` / apply ``init_cfg``; by default Kaiming convs and unit norms."""
        initialize(self, self.init_cfg if self.init_cfg is not None else CONV_NORM_INIT)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x: (N, 3, H, W). Returns: the outputs of the layers in ``out_indices``."""
        outs = []
        for i, name in enumerate(self.layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
