"""``MobileNetV2`` (`paper <https://arxiv.org/abs/1801.04381>`_), MMSegmentation 0.x's backbone.

Seven stages of :class:`~seglab.models.layers.InvertedResidual` blocks after a 3x3 stride-2 stem
(``conv1``); ``widen_factor`` scales every width through ``make_divisible(c * widen_factor, 8)``.
Dilated variants set ``strides``/``dilations`` per stage (D8: ``strides=(1, 2, 2, 1, 1, 1, 1)``,
``dilations=(1, 1, 1, 2, 2, 4, 4)``); a stage's dilation applies to its first block only (MMSeg).
"""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import ConvModule, InvertedResidual, initialize, make_divisible
from ..layers.weight_init import CONV_NORM_INIT, InitCfg
from .base import BaseBackbone, OutputShapes, shape_specs

def check_out_indices(owner: str, out_indices: Sequence[int], num_outputs: int,
                      frozen_stages: int) -> Tuple[int, ...]:
    """``out_indices`` (ints in ``[0, num_outputs)``) as a tuple; checks ``frozen_stages`` too."""
    if not isinstance(out_indices, (list, tuple)) or \
            not all(isinstance(i, int) for i in out_indices):
        raise ConfigError(f"{owner} out_indices must be a tuple of ints, got {out_indices!r}")
    for index in out_indices:
        if not 0 <= index < num_outputs:
            raise ConfigError(f"{owner} out_indices items must be in range(0, {num_outputs}), "
                              f"got {index} in {tuple(out_indices)}")
    if not -1 <= frozen_stages < num_outputs:
        raise ConfigError(f"{owner} frozen_stages must be in range(-1, {num_outputs}), got "
                          f"{frozen_stages}")
    return tuple(out_indices)


@MODELS.register_module()
class MobileNetV2(BaseBackbone):
    """MobileNetV2 returning the outputs of the stages in ``out_indices`` (0-based, 0..6).

    Args:
        widen_factor: width multiplier of every layer.
        strides: stride of the first block of each of the 7 stages.
        dilations: dilation of the first block of each stage.
        out_indices: stages whose outputs are returned (in stage order).
        frozen_stages: ``conv1`` and stages ``layer1..layer{frozen_stages}`` are frozen; -1 none.
            (MMSeg only stops ``conv1``'s gradients and leaves its BN updating statistics; here
            ``conv1`` is frozen like the stages, eval mode included.)
        conv_cfg: conv type.
        norm_cfg: norm type.
        act_cfg: activation of the stem and of the expand/depthwise convs.
        norm_eval: keep batch norms in eval mode while training.
        with_cp: gradient checkpointing per block while training.
        pretrained: checkpoint to load in :meth:`init_weights` (e.g. ``'mmcls://mobilenet_v2'``).
        init_cfg: init dicts; default Kaiming convs and unit norms.

    Shape:
        (N, 3, H, W) -> tuple of (N, C_i, H / s_i, W / s_i), ``s_i = 2 * prod(strides[:i + 1])``.
    """

    # Per stage: expand_ratio, channels (before widen_factor), number of blocks.
    arch_settings = [[1, 16, 1], [6, 24, 2], [6, 32, 3], [6, 64, 4], [6, 96, 3], [6, 160, 3],
                     [6, 320, 1]]

    def __init__(self, widen_factor: float = 1.0, strides: Sequence[int] = (1, 2, 2, 2, 1, 2, 1),
                 dilations: Sequence[int] = (1, 1, 1, 1, 1, 1, 1),
                 out_indices: Sequence[int] = (1, 2, 4, 6), frozen_stages: int = -1,
                 conv_cfg: Optional[Mapping] = None, norm_cfg: Mapping = dict(type="BN"),
                 act_cfg: Mapping = dict(type="ReLU6"), norm_eval: bool = False,
                 with_cp: bool = False, pretrained: Optional[str] = None,
                 init_cfg: InitCfg = None):
        super().__init__(pretrained=pretrained, init_cfg=init_cfg, frozen_stages=frozen_stages,
                         norm_eval=norm_eval)
        num_stages = len(self.arch_settings)
        if not len(strides) == len(dilations) == num_stages:
            raise ConfigError(f"MobileNetV2 strides {tuple(strides)} and dilations "
                              f"{tuple(dilations)} must each have {num_stages} entries.")
        self.out_indices = check_out_indices("MobileNetV2", out_indices, num_stages, frozen_stages)
        self.widen_factor, self.strides, self.dilations = widen_factor, tuple(strides), \
            tuple(dilations)
        self.with_cp = with_cp
        in_channels = make_divisible(32 * widen_factor, 8)
        self.conv1 = ConvModule(3, in_channels, 3, stride=2, padding=1, conv_cfg=conv_cfg,
                                norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.layers: List[str] = []
        self.stage_channels: List[int] = []
        for i, (expand_ratio, channels, num_blocks) in enumerate(self.arch_settings):
            out_channels = make_divisible(channels * widen_factor, 8)
            blocks = [InvertedResidual(in_channels if j == 0 else out_channels, out_channels,
                                       strides[i] if j == 0 else 1, expand_ratio=expand_ratio,
                                       dilation=dilations[i] if j == 0 else 1, conv_cfg=conv_cfg,
                                       norm_cfg=norm_cfg, act_cfg=act_cfg, with_cp=with_cp)
                      for j in range(num_blocks)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            self.layers.append(f"layer{i + 1}")
            self.stage_channels.append(out_channels)
            in_channels = out_channels
        self._freeze_stages()

    def output_shapes(self) -> OutputShapes:
        """Stage i: the widened channels, stride ``2 * prod(strides[:i+1])``."""
        stride, strides = 2, []
        for s in self.strides:
            stride *= s
            strides.append(stride)
        selected = [i for i in range(len(self.layers)) if i in self.out_indices]
        return shape_specs([self.stage_channels[i] for i in selected],
                           [strides[i] for i in selected])

    def frozen_modules(self) -> List[nn.Module]:
        """``conv1`` and ``layer1..layer{frozen_stages}``."""
        return [self.conv1] + [getattr(self, f"layer{i}") for i in range(1, self.frozen_stages + 1)]

    def init_weights(self) -> None:
        """Load ``pretrained`` / apply ``init_cfg``; by default Kaiming convs and unit norms."""
        initialize(self, self.init_cfg if self.init_cfg is not None else CONV_NORM_INIT)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x: (N, 3, H, W). Returns: the outputs of the stages in ``out_indices``.

        Always a tuple (MMSeg returns a bare tensor for a single index; heads index a tuple).
        """
        x = self.conv1(x)
        outs = []
        for i, name in enumerate(self.layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
