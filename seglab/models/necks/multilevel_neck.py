"""``MultiLevelNeck``: one-stride ViT maps -> a pyramid (``mmseg.models.necks.MultiLevelNeck``).

Each input goes through a 1x1 ``lateral_convs[i]``; output i is ``convs[i]`` (3x3) of lateral i
rescaled bilinearly by ``scales[i]`` (with a single input, every output rescales that one).
With ViT-B/16 and ``scales=[4, 2, 1, 0.5]`` the four stride-16 maps become strides 4/8/16/32
for UPerHead.
"""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..backbones.base import OutputShapes, ShapeSpec
from ..layers import ConvModule, xavier_init
from .base import BaseNeck


@MODELS.register_module()
class MultiLevelNeck(BaseNeck):
    """Rescale (and project) the backbone's maps to ``len(scales)`` levels.

    Args:
        in_channels: channels of each input (one entry per input).
        out_channels: channels of every output.
        scales: bilinear scale factor per output (``F.interpolate(scale_factor=...)``, so an
            (h, w) map becomes (floor(h * s), floor(w * s))).
        norm_cfg: norm of the ConvModules (None: conv with bias).
        act_cfg: activation of the ConvModules (None: none, MMSeg's default here).

    Shape:
        len(in_channels) maps (N, in_channels[i], h, w) -> len(scales) maps
        (N, out_channels, floor(h * scales[i]), floor(w * scales[i])).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int,
                 scales: Sequence[float] = (0.5, 1, 2, 4), norm_cfg: Optional[Mapping] = None,
                 act_cfg: Optional[Mapping] = None):
        super().__init__()
        if not isinstance(in_channels, (list, tuple)):
            raise ConfigError(f"MultiLevelNeck in_channels must be a list (one entry per input), "
                              f"got {in_channels!r}")
        self.in_channels, self.out_channels = list(in_channels), out_channels
        self.scales = list(scales)
        self.num_outs = len(self.scales)
        if len(self.in_channels) not in (1, self.num_outs):
            # MMSeg would fail at the first forward with an IndexError.
            raise ConfigError(f"MultiLevelNeck: {len(self.in_channels)} inputs (in_channels="
                              f"{self.in_channels}) for {self.num_outs} scales {self.scales}; "
                              f"give one input or one per scale")
        self.lateral_convs = nn.ModuleList(
            ConvModule(c, out_channels, kernel_size=1, norm_cfg=norm_cfg, act_cfg=act_cfg)
            for c in self.in_channels)
        self.convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, kernel_size=3, padding=1, stride=1,
                       norm_cfg=norm_cfg, act_cfg=act_cfg)
            for _ in range(self.num_outs))

    def init_weights(self) -> None:
        """Xavier-uniform convs, as MMSeg."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                xavier_init(m, distribution="uniform")

    def output_shapes(self, in_shapes: OutputShapes) -> OutputShapes:
        """``out_channels`` at ``stride / scale`` per output; None when that is no integer.

        The stride is exact for inputs whose size is a multiple of the backbone's stride.
        """
        if in_shapes is None or len(in_shapes) != len(self.in_channels):
            return None
        sources = list(in_shapes) * self.num_outs if len(in_shapes) == 1 else list(in_shapes)
        out: List[ShapeSpec] = []
        for spec, scale in zip(sources, self.scales):
            stride = None if spec is None else spec.stride / scale
            if stride is None or stride < 1 or not float(stride).is_integer():
                return None
            out.append(ShapeSpec(self.out_channels, int(stride)))
        return tuple(out)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Args: inputs: the backbone's maps. Returns: ``len(scales)`` maps (see the class)."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f"MultiLevelNeck expects {len(self.in_channels)} inputs "
                             f"(in_channels={self.in_channels}), got {len(inputs)}")
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
        if len(laterals) == 1:
            laterals = laterals * self.num_outs
        # scale_factor (not a size) so the sampling grid equals MMSeg's for any input size.
        return tuple(conv(F.interpolate(x, scale_factor=s, mode="bilinear"))
                     for conv, x, s in zip(self.convs, laterals, self.scales))
