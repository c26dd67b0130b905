"""``SETRUPHead``: SETR's naive / progressive upsampling decoder (`SETR
<https://arxiv.org/abs/2012.15840>`_, ``mmseg.models.decode_heads.SETRUPHead``).

The selected ViT map is layer-normalised over its channels (``norm``), then each of the
``num_convs`` stages ``up_convs[i]`` is a ConvModule (``up_convs.i.0``) followed by a bilinear
x``up_scale`` upsampling, before ``conv_seg``. SETR-Naive: one 1x1 stage; SETR-PUP: four 3x3
stages of x2 (1/16 -> 1/1).
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import ConvModule, Upsample, build_norm_layer
from ..layers.weight_init import InitCfg
from .decode_head import BaseDecodeHead, Inputs


@MODELS.register_module()
class SETRUPHead(BaseDecodeHead):
    """LayerNorm, then ``num_convs`` x (conv + bilinear x``up_scale``), then ``conv_seg``.

    Args:
        norm_layer: the norm over the input's channels (``norm``).
        num_convs: conv + upsample stages.
        up_scale: upsampling factor of every stage.
        kernel_size: 1 or 3 (padding keeps the size).
        init_cfg: MMSeg's default: LayerNorms weight 1 / bias 0, ``conv_seg`` ~ N(0, 0.01).
        **kwargs: :class:`BaseDecodeHead` keys (``in_channels`` an int).

    Shape:
        inputs[in_index] (N, in_channels, h, w) ->
        logits (N, out_channels, h * up_scale ** num_convs, w * up_scale ** num_convs).
    """

    def __init__(self, norm_layer: Mapping = dict(type="LN", eps=1e-6, requires_grad=True),
                 num_convs: int = 1, up_scale: int = 4, kernel_size: int = 3,
                 init_cfg: InitCfg = (dict(type="Constant", val=1.0, bias=0, layer="LayerNorm"),
                                      dict(type="Normal", std=0.01,
                                           override=dict(name="conv_seg"))),
                 **kwargs):
        if kernel_size not in (1, 3):
            raise ConfigError(f"SETRUPHead kernel_size must be 1 or 3, got {kernel_size!r}")
        super().__init__(init_cfg=init_cfg, **kwargs)
        if not isinstance(self.in_channels, int):
            raise ConfigError(f"SETRUPHead reads one map: in_channels must be an int, got "
                              f"{self.in_channels!r}")
        self.num_convs, self.up_scale, self.kernel_size = num_convs, up_scale, kernel_size
        _, self.norm = build_norm_layer(norm_layer, self.in_channels)
        self.up_convs = nn.ModuleList()
        in_channels = self.in_channels
        for _ in range(num_convs):
            self.up_convs.append(nn.Sequential(
                ConvModule(in_channels, self.channels, kernel_size, stride=1,
                           padding=(kernel_size - 1) // 2, **self.conv_args),
                Upsample(scale_factor=up_scale, mode="bilinear",
                         align_corners=self.align_corners)))
            in_channels = self.channels

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        x = self._transform_inputs(inputs)
        n, c, h, w = x.shape
        # LayerNorm over channels: as (N, h * w, C) tokens and back.
        x = self.norm(x.reshape(n, c, h * w).transpose(1, 2))
        x = x.transpose(1, 2).reshape(n, c, h, w).contiguous()
        for up_conv in self.up_convs:
            x = up_conv(x)
        return x
