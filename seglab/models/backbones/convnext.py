"""``ConvNeXt``: the backbone of `A ConvNet for the 2020s <https://arxiv.org/abs/2201.03545>`_.

MMSegmentation 0.x's ConvNeXt configs use MMClassification's backbone
(``type='mmcls.ConvNeXt'``); this is seglab's own implementation with MMClassification 0.x's
constructor keys, module names and numerics, so its checkpoints (``backbone.*`` keys of the
mmcls ImageNet releases and of MMSeg's UPerNet models) load without conversion:

* ``downsample_layers.0``: the stem, a ``stem_patch_size`` conv with the same stride, then
  ``norm_cfg``; ``downsample_layers.i`` (i >= 1): ``LayerNorm2d`` (eps 1e-5, as mmcls 0.x, whatever
  ``norm_cfg`` says) and a 2x2 stride-2 conv;
* ``stages.i.j``: :class:`ConvNeXtBlock` (``depthwise_conv`` 7x7, ``norm``, ``pointwise_conv1`` /
  ``pointwise_conv2``, layer scale ``gamma``), stochastic depth rising linearly over all blocks;
* ``norm{i}``: ``norm_cfg`` applied to each output of ``out_indices``.
"""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.utils.checkpoint as cp
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import DropPath, LayerNorm2d, build_activation_layer, build_norm_layer, initialize
from ..layers.weight_init import InitCfg
from .base import BaseBackbone, OutputShapes, shape_specs

# mmcls 0.x builds the norms between stages as LayerNorm2d(C): PyTorch's default eps.
DOWNSAMPLE_NORM_EPS = 1e-5


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7 conv -> norm -> pointwise expand -> act -> pointwise project, residual.

    Args:
        in_channels: channels C of the block (input and output).
        norm_cfg: the norm after the depthwise conv (``LN2d``: over channels).
        act_cfg: activation between the pointwise layers.
        mlp_ratio: hidden channels / C.
        linear_pw_conv: pointwise layers as ``nn.Linear`` on the NHWC view (True, the official
            layout; weights (out, in)) or as 1x1 ``nn.Conv2d`` (weights (out, in, 1, 1)).
        drop_path_rate: stochastic depth of the residual branch.
        layer_scale_init_value: initial value of ``gamma``, the per-channel scale of the branch;
            0 or less: no ``gamma``.
        with_cp: gradient checkpointing while training (saves memory).

    Shape:
        (N, C, H, W) -> (N, C, H, W).
    """

    def __init__(self, in_channels: int, norm_cfg: Mapping = dict(type="LN2d", eps=1e-6),
                 act_cfg: Mapping = dict(type="GELU"), mlp_ratio: float = 4.0,
                 linear_pw_conv: bool = True, drop_path_rate: float = 0.0,
                 layer_scale_init_value: float = 1e-6, with_cp: bool = False):
        super().__init__()
        self.with_cp, self.linear_pw_conv = with_cp, linear_pw_conv
        self.depthwise_conv = nn.Conv2d(in_channels, in_channels, kernel_size=7, padding=3,
                                        groups=in_channels)
        self.norm = build_norm_layer(norm_cfg, in_channels)[1]
        mid_channels = int(mlp_ratio * in_channels)
        if linear_pw_conv:
            self.pointwise_conv1 = nn.Linear(in_channels, mid_channels)
            self.pointwise_conv2 = nn.Linear(mid_channels, in_channels)
        else:
            self.pointwise_conv1 = nn.Conv2d(in_channels, mid_channels, kernel_size=1)
            self.pointwise_conv2 = nn.Conv2d(mid_channels, in_channels, kernel_size=1)
        self.act = build_activation_layer(act_cfg)
        self.gamma = (nn.Parameter(torch.full((in_channels,), float(layer_scale_init_value)))
                      if layer_scale_init_value > 0 else None)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.norm(self.depthwise_conv(x))
        if self.linear_pw_conv:
            out = out.permute(0, 2, 3, 1)  # the Linear layers act on the last (channel) axis
        out = self.pointwise_conv2(self.act(self.pointwise_conv1(out)))
        if self.linear_pw_conv:
            out = out.permute(0, 3, 1, 2)
        if self.gamma is not None:
            out = out * self.gamma.view(1, -1, 1, 1)
        return x + self.drop_path(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)


def _arch_settings(arch: Union[str, Mapping]) -> Tuple[List[int], List[int]]:
    """(depths, channels) of an ``arch`` name or dict, checked."""
    if isinstance(arch, str):
        if arch not in ConvNeXt.arch_settings:
            raise ConfigError(f"ConvNeXt: arch={arch!r} is not one of "
                              f"{', '.join(ConvNeXt.arch_settings)}; or pass a dict "
                              f"arch=dict(depths=[...], channels=[...]).")
        arch = ConvNeXt.arch_settings[arch]
    if not isinstance(arch, Mapping):
        raise ConfigError(f"ConvNeXt: arch must be a name or a dict with 'depths' and "
                          f"'channels', got {arch!r}")
    keys = set(arch)
    if keys != {"depths", "channels"}:
        raise ConfigError(f"ConvNeXt: the arch dict must have exactly the keys 'depths' and "
                          f"'channels', got {sorted(keys)}.")
    depths, channels = arch["depths"], arch["channels"]
    if (not isinstance(depths, Sequence) or not isinstance(channels, Sequence)
            or len(depths) != len(channels) or not depths):
        raise ConfigError(f"ConvNeXt: arch depths {depths!r} and channels {channels!r} must be "
                          f"sequences of the same length (one entry per stage).")
    return [int(d) for d in depths], [int(c) for c in channels]


@MODELS.register_module(scopes=("mmcls", "mmpretrain"))  # 0.x and 1.x configs
class ConvNeXt(BaseBackbone):
    """ConvNeXt (MMClassification 0.x's ``mmcls.ConvNeXt``; see the module doc for the layout).

    Args:
        arch: ``'tiny'``, ``'small'``, ``'base'``, ``'large'``, ``'xlarge'`` or
            ``dict(depths=[...], channels=[...])`` (blocks and channels per stage).
        in_channels: input image channels.
        stem_patch_size: kernel and stride of the stem conv.
        norm_cfg: the norms of the stem, the blocks and the outputs.
        act_cfg: the blocks' activation.
        linear_pw_conv: pointwise layers as ``nn.Linear`` (True) or 1x1 convs.
        drop_path_rate: stochastic depth, rising linearly from 0 over all blocks to this value.
        layer_scale_init_value: initial ``gamma`` of every block (0: no layer scale).
        out_indices: stages whose (normalised) outputs are returned; negative counts from the
            end; an int means one stage (the default, -1, is the last).
        frozen_stages: ``downsample_layers[i]`` and ``stages[i]`` for ``i < frozen_stages`` stay
            in eval mode without gradients (mmcls's meaning: 0 freezes nothing).
        gap_before_final_norm: average each output over H and W before its norm and return
            (N, C) vectors (classification); segmentation configs set False (maps).
        with_cp: gradient checkpointing per block while training.
        pretrained: checkpoint to load in :meth:`init_weights` (deprecated form of ``init_cfg``).
        init_cfg: e.g. ``dict(type='Pretrained', checkpoint=..., prefix='backbone.')``; None keeps
            PyTorch's default init, as mmcls.

    Shape:
        (N, in_channels, H, W) -> tuple of (N, channels[i], H // s_i, W // s_i) with
        ``s_i = stem_patch_size * 2 ** i`` for i in ``out_indices`` (convs without padding:
        borders that do not fill a patch are dropped); (N, channels[i]) with
        ``gap_before_final_norm``.
    """

    arch_settings = {
        "tiny": {"depths": [3, 3, 9, 3], "channels": [96, 192, 384, 768]},
        "small": {"depths": [3, 3, 27, 3], "channels": [96, 192, 384, 768]},
        "base": {"depths": [3, 3, 27, 3], "channels": [128, 256, 512, 1024]},
        "large": {"depths": [3, 3, 27, 3], "channels": [192, 384, 768, 1536]},
        "xlarge": {"depths": [3, 3, 27, 3], "channels": [256, 512, 1024, 2048]},
    }

    def __init__(self, arch: Union[str, Mapping] = "tiny", in_channels: int = 3,
                 stem_patch_size: int = 4, norm_cfg: Mapping = dict(type="LN2d", eps=1e-6),
                 act_cfg: Mapping = dict(type="GELU"), linear_pw_conv: bool = True,
                 drop_path_rate: float = 0.0, layer_scale_init_value: float = 1e-6,
                 out_indices: Union[int, Sequence[int]] = -1, frozen_stages: int = 0,
                 gap_before_final_norm: bool = True, with_cp: bool = False,
                 pretrained: Optional[str] = None, init_cfg: InitCfg = None):
        super().__init__(pretrained=pretrained, init_cfg=init_cfg, frozen_stages=frozen_stages)
        self.depths, self.channels = _arch_settings(arch)
        self.num_stages = len(self.depths)
        self.out_indices = self._check_out_indices(out_indices)
        if not -1 <= frozen_stages <= self.num_stages:
            raise ConfigError(f"ConvNeXt: frozen_stages={frozen_stages} must be in [-1, "
                              f"{self.num_stages}] (0 freezes nothing).")
        self.stem_patch_size = stem_patch_size
        self.gap_before_final_norm = gap_before_final_norm

        dpr = torch.linspace(0, drop_path_rate, sum(self.depths), device="cpu").tolist()
        self.downsample_layers = nn.ModuleList([nn.Sequential(
            nn.Conv2d(in_channels, self.channels[0], kernel_size=stem_patch_size,
                      stride=stem_patch_size),
            build_norm_layer(norm_cfg, self.channels[0])[1])])
        self.stages = nn.ModuleList()
        block_idx = 0
        for i, (depth, channels) in enumerate(zip(self.depths, self.channels)):
            if i > 0:
                self.downsample_layers.append(nn.Sequential(
                    LayerNorm2d(self.channels[i - 1], eps=DOWNSAMPLE_NORM_EPS),
                    nn.Conv2d(self.channels[i - 1], channels, kernel_size=2, stride=2)))
            self.stages.append(nn.Sequential(*[
                ConvNeXtBlock(channels, norm_cfg=norm_cfg, act_cfg=act_cfg,
                              linear_pw_conv=linear_pw_conv, drop_path_rate=dpr[block_idx + j],
                              layer_scale_init_value=layer_scale_init_value, with_cp=with_cp)
                for j in range(depth)]))
            block_idx += depth
            if i in self.out_indices:
                self.add_module(f"norm{i}", build_norm_layer(norm_cfg, channels)[1])
        self._freeze_stages()

    def _check_out_indices(self, out_indices: Union[int, Sequence[int]]) -> Tuple[int, ...]:
        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        resolved = tuple(i + self.num_stages if i < 0 else i for i in indices)
        if not resolved or not all(0 <= i < self.num_stages for i in resolved):
            raise ConfigError(f"ConvNeXt: out_indices {out_indices!r} must be stages in "
                              f"[-{self.num_stages}, {self.num_stages}) for the "
                              f"{self.num_stages} stages of this arch.")
        return resolved

    def output_shapes(self) -> OutputShapes:
        """Stage i: ``channels[i]`` at stride ``stem_patch_size * 2 ** i``; with
        ``gap_before_final_norm`` the outputs are vectors, so nothing is declared."""
        if self.gap_before_final_norm:
            return None
        selected = [i for i in range(self.num_stages) if i in self.out_indices]
        return shape_specs([self.channels[i] for i in selected],
                           [self.stem_patch_size * 2 ** i for i in selected])

    def frozen_modules(self) -> List[nn.Module]:
        """``downsample_layers[i]`` and ``stages[i]`` for ``i < frozen_stages``."""
        modules: List[nn.Module] = []
        for i in range(max(self.frozen_stages, 0)):
            modules += [self.downsample_layers[i], self.stages[i]]
        return modules

    def init_weights(self) -> None:
        """Load ``pretrained`` / apply ``init_cfg``; without one PyTorch's init stays (mmcls)."""
        if self.init_cfg is not None:
            initialize(self, self.init_cfg)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x: (N, C, H, W). Returns: the outputs of ``out_indices``, in stage order."""
        outs = []
        for i, (downsample, stage) in enumerate(zip(self.downsample_layers, self.stages)):
            x = stage(downsample(x))
            if i in self.out_indices:
                norm = getattr(self, f"norm{i}")
                if self.gap_before_final_norm:
                    outs.append(norm(x.mean((-2, -1), keepdim=True)).flatten(1))
                else:
                    outs.append(norm(x))
        return tuple(outs)
