"""``FPN``: the feature pyramid network neck (`FPN <https://arxiv.org/abs/1612.03144>`_).

Same keys, module names and numerics as MMSegmentation 0.x's ``mmseg.models.necks.FPN``:
a 1x1 ``lateral_convs[i]`` per used input level, a top-down pass in which each lateral gains
the upsampled coarser one (coarsest first), a 3x3 ``fpn_convs[i]`` per level, then
``num_outs - levels`` extra levels: max-pooled (1x1, stride 2) from the last output, or strided
3x3 convs (``fpn_convs[levels:]``) with ``add_extra_convs``.
"""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..backbones.base import OutputShapes, ShapeSpec
from ..layers import ConvModule, xavier_init
from .base import BaseNeck

_EXTRA_SOURCES = ("on_input", "on_lateral", "on_output")


@MODELS.register_module()
class FPN(BaseNeck):
    """Top-down pyramid over the backbone levels ``start_level .. end_level``.

    Args:
        in_channels: channels of each input (one entry per backbone output).
        out_channels: channels of every output.
        num_outs: number of outputs (the used levels plus extra levels).
        start_level: first input level used.
        end_level: last input level used, exclusive; -1 means the last input (extra levels
            are only allowed then).
        add_extra_convs: False (extra levels by max pooling), True (= ``'on_output'``, or
            ``'on_input'`` with ``extra_convs_on_inputs``) or the source of the first extra
            conv: ``'on_input'``, ``'on_lateral'``, ``'on_output'``.
        extra_convs_on_inputs: legacy form of ``add_extra_convs='on_input'``.
        relu_before_extra_convs: ReLU before every extra conv but the first.
        no_norm_on_lateral: no norm in the lateral convs.
        conv_cfg: conv of the ConvModules.
        norm_cfg: norm of the ConvModules (None: conv with bias).
        act_cfg: activation of the ConvModules (None: none).
        upsample_cfg: ``F.interpolate`` keys of the top-down upsampling; without
            ``scale_factor`` the coarser map is resized to the finer one's size.

    Shape:
        inputs (N, in_channels[i], h_i, w_i) -> ``num_outs`` maps (N, out_channels, h_j, w_j):
        the used levels' sizes, then each extra level halved (ceil).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, num_outs: int,
                 start_level: int = 0, end_level: int = -1,
                 add_extra_convs: Union[bool, str] = False, extra_convs_on_inputs: bool = False,
                 relu_before_extra_convs: bool = False, no_norm_on_lateral: bool = False,
                 conv_cfg: Optional[Mapping] = None, norm_cfg: Optional[Mapping] = None,
                 act_cfg: Optional[Mapping] = None,
                 upsample_cfg: Mapping = dict(mode="nearest")):
        super().__init__()
        if not isinstance(in_channels, (list, tuple)):
            raise ConfigError(f"FPN in_channels must be a list (one entry per input), got "
                              f"{in_channels!r}")
        self.in_channels, self.out_channels = list(in_channels), out_channels
        self.num_ins, self.num_outs = len(self.in_channels), num_outs
        self.relu_before_extra_convs = relu_before_extra_convs
        self.no_norm_on_lateral = no_norm_on_lateral
        self.upsample_cfg = dict(upsample_cfg)
        if end_level == -1:
            self.backbone_end_level = self.num_ins
            if num_outs < self.num_ins - start_level:
                raise ConfigError(f"FPN: num_outs={num_outs} is fewer than the "
                                  f"{self.num_ins - start_level} levels used (inputs "
                                  f"{start_level}..{self.num_ins - 1})")
        else:
            self.backbone_end_level = end_level
            if end_level > self.num_ins or num_outs != end_level - start_level:
                raise ConfigError(f"FPN: with end_level={end_level} (at most {self.num_ins}) "
                                  f"num_outs must be end_level - start_level = "
                                  f"{end_level - start_level}, got {num_outs}")
        self.start_level, self.end_level = start_level, end_level
        if isinstance(add_extra_convs, str):
            if add_extra_convs not in _EXTRA_SOURCES:
                raise ConfigError(f"FPN add_extra_convs must be a bool or one of "
                                  f"{_EXTRA_SOURCES}, got {add_extra_convs!r}")
        elif not isinstance(add_extra_convs, bool):
            raise ConfigError(f"FPN add_extra_convs must be a bool or a str, got "
                              f"{add_extra_convs!r}")
        elif add_extra_convs:
            add_extra_convs = "on_input" if extra_convs_on_inputs else "on_output"
        self.add_extra_convs = add_extra_convs

        self.lateral_convs = nn.ModuleList()
        self.fpn_convs = nn.ModuleList()
        for i in range(start_level, self.backbone_end_level):
            self.lateral_convs.append(ConvModule(
                self.in_channels[i], out_channels, 1, conv_cfg=conv_cfg,
                norm_cfg=None if no_norm_on_lateral else norm_cfg, act_cfg=act_cfg,
                inplace=False))
            self.fpn_convs.append(ConvModule(
                out_channels, out_channels, 3, padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                act_cfg=act_cfg, inplace=False))
        extra_levels = num_outs - self.backbone_end_level + start_level
        if self.add_extra_convs and extra_levels >= 1:
            for i in range(extra_levels):
                source = (self.in_channels[self.backbone_end_level - 1]
                          if i == 0 and self.add_extra_convs == "on_input" else out_channels)
                self.fpn_convs.append(ConvModule(
                    source, out_channels, 3, stride=2, padding=1, conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg, act_cfg=act_cfg, inplace=False))

    def init_weights(self) -> None:
        """Xavier-uniform convs, as MMSeg's default ``init_cfg``."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                xavier_init(m, distribution="uniform")

    def output_shapes(self, in_shapes: OutputShapes) -> OutputShapes:
        """``out_channels`` at the used levels' strides, then x2 per extra level."""
        if in_shapes is None or len(in_shapes) != self.num_ins:
            return None
        used = in_shapes[self.start_level:self.backbone_end_level]
        if any(spec is None for spec in used):
            return None
        strides = [spec.stride for spec in used]
        while len(strides) < self.num_outs:
            strides.append(strides[-1] * 2)
        return tuple(ShapeSpec(self.out_channels, s) for s in strides)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Args: inputs: the backbone's maps. Returns: ``num_outs`` maps (see the class)."""
        if len(inputs) != self.num_ins:
            raise ValueError(f"FPN expects {self.num_ins} inputs (in_channels="
                             f"{self.in_channels}), got {len(inputs)}")
        laterals = [conv(inputs[i + self.start_level])
                    for i, conv in enumerate(self.lateral_convs)]
        levels = len(laterals)
        for i in range(levels - 1, 0, -1):
            if "scale_factor" in self.upsample_cfg:
                up = F.interpolate(laterals[i], **self.upsample_cfg)
            else:
                up = F.interpolate(laterals[i], size=laterals[i - 1].shape[2:],
                                   **self.upsample_cfg)
            laterals[i - 1] = laterals[i - 1] + up
        outs: List[torch.Tensor] = [self.fpn_convs[i](laterals[i]) for i in range(levels)]
        if self.num_outs > levels:
            if not self.add_extra_convs:
                for _ in range(self.num_outs - levels):
                    outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            else:
                source = {"on_input": inputs[self.backbone_end_level - 1],
                          "on_lateral": laterals[-1], "on_output": outs[-1]}
                outs.append(self.fpn_convs[levels](source[self.add_extra_convs]))
                for i in range(levels + 1, self.num_outs):
                    prev = F.relu(outs[-1]) if self.relu_before_extra_convs else outs[-1]
                    outs.append(self.fpn_convs[i](prev))
        return tuple(outs)
