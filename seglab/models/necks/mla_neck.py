"""``MLANeck``: SETR's multi-level feature aggregation (``mmseg.models.necks.MLANeck``).

Each input map is layer-normalised over its channels (``norm.i``), projected to
``out_channels`` by a 1x1 ConvModule (``mla.channel_proj.i``), aggregated top-down (from the
last input: each running sum adds the next-earlier projection) and refined by a 3x3 ConvModule
(``mla.feat_extract.i``). Output ``i`` is ``feat_extract[i]`` of the ``i``-th running sum, i.e.
output 0 comes from the last input alone, as in MMSeg. All inputs must have the same size
(ViT maps).
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..backbones.base import OutputShapes, ShapeSpec
from ..layers import ConvModule, build_norm_layer
from .base import BaseNeck


class MLAModule(nn.Module):
    """1x1 projections, the top-down running sum and 3x3 refinements of :class:`MLANeck`.

    Args:
        in_channels: channels of each input.
        out_channels: channels of every output.
        norm_cfg: norm of the ConvModules.
        act_cfg: activation of the ConvModules.
    """

    def __init__(self, in_channels: Sequence[int] = (1024, 1024, 1024, 1024),
                 out_channels: int = 256, norm_cfg: Optional[Mapping] = None,
                 act_cfg: Optional[Mapping] = None):
        super().__init__()
        self.channel_proj = nn.ModuleList(
            ConvModule(c, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
            for c in in_channels)
        self.feat_extract = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, padding=1, norm_cfg=norm_cfg,
                       act_cfg=act_cfg)
            for _ in in_channels)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        projected = [conv(x) for x, conv in zip(inputs, self.channel_proj)]
        sums = []
        for feat in reversed(projected):
            sums.append(feat if not sums else sums[-1] + feat)
        return tuple(conv(s) for s, conv in zip(sums, self.feat_extract))


@MODELS.register_module()
class MLANeck(BaseNeck):
    """LayerNorm per input, then :class:`MLAModule` (``mla``).

    Args:
        in_channels: channels of each input (a list).
        out_channels: channels of every output.
        norm_layer: the norm over each input's channels (``norm.i``).
        norm_cfg: norm of the ConvModules.
        act_cfg: activation of the ConvModules.

    Shape:
        len(in_channels) maps (N, in_channels[i], h, w) -> as many (N, out_channels, h, w).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int,
                 norm_layer: Mapping = dict(type="LN", eps=1e-6, requires_grad=True),
                 norm_cfg: Optional[Mapping] = None, act_cfg: Optional[Mapping] = None):
        super().__init__()
        if not isinstance(in_channels, (list, tuple)):
            raise ConfigError(f"MLANeck in_channels must be a list (one entry per input), got "
                              f"{in_channels!r}")
        self.in_channels, self.out_channels = list(in_channels), out_channels
        self.norm = nn.ModuleList(build_norm_layer(norm_layer, c)[1] for c in self.in_channels)
        self.mla = MLAModule(self.in_channels, out_channels, norm_cfg=norm_cfg, act_cfg=act_cfg)

    def output_shapes(self, in_shapes: OutputShapes) -> OutputShapes:
        """``out_channels`` per output; output i sums inputs i.. from the end (same stride)."""
        if in_shapes is None or len(in_shapes) != len(self.in_channels):
            return None
        strides = {s.stride for s in in_shapes if s is not None}
        if len(strides) != 1 or None in in_shapes:
            return None
        stride = strides.pop()
        return tuple(ShapeSpec(self.out_channels, stride) for _ in self.in_channels)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Args: inputs: same-size maps. Returns: ``len(in_channels)`` maps."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f"MLANeck expects {len(self.in_channels)} inputs "
                             f"(in_channels={self.in_channels}), got {len(inputs)}")
        normed = []
        for x, norm in zip(inputs, self.norm):
            n, c, h, w = x.shape
            x = norm(x.reshape(n, c, h * w).transpose(1, 2))
            normed.append(x.transpose(1, 2).reshape(n, c, h, w).contiguous())
        return self.mla(normed)
