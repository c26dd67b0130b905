"""``PoolFormer``: the MetaFormer of `PoolFormer <https://arxiv.org/abs/2111.11418>`_.

Same constructor keys, module names and numerics as MMClassification 0.x's
``mmcls.models.backbones.PoolFormer``, which MMSegmentation 0.x configs name
``type='mmcls.PoolFormer'`` (seglab builds its own class for that name; mmcls is not needed).

The image goes through ``patch_embed`` (a conv ``in_patch_size`` / ``in_stride`` / ``in_pad``,
``patch_embed.proj``), then ``network``: a ModuleList that interleaves the stages (``nn.Sequential``
of :class:`PoolFormerBlock`, ``network.{i}.{j}``) with downsampling conv embeddings between stages
of different widths (for the four-stage archs: ``[stage1, down, stage2, down, stage3, down,
stage4]``). ``out_indices`` index that list; each selected position has its own norm
``norm{index}``. A block is ``x + ls1 * (pool(n1(x)) - n1(x))`` then ``x + ls2 * mlp(n2(x))``
with GroupNorm(1 group) norms, per-channel layer scales and a 1x1-conv MLP.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import DropPath, build_activation_layer, build_norm_layer, initialize
from ..layers.weight_init import InitCfg
from .base import BaseBackbone, OutputShapes, ShapeSpec


class PoolFormerPatchEmbed(nn.Module):
    """A strided conv (``proj``) on NCHW maps: mmcls PoolFormer's ``PatchEmbed`` (no norm).

    Shape:
        (N, in_chans, H, W) -> (N, embed_dim, (H + 2 * padding - patch_size) // stride + 1, ...).
    """

    def __init__(self, patch_size: int = 16, stride: int = 16, padding: int = 0,
                 in_chans: int = 3, embed_dim: int = 768):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=stride,
                              padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Pooling(nn.Module):
    """PoolFormer's token mixer: ``avg_pool(x) - x`` (the block adds ``x`` back).

    The average excludes the zero padding (``count_include_pad=False``), so border pixels average
    over the window part inside the map.
    """

    def __init__(self, pool_size: int = 3):
        super().__init__()
        self.pool = nn.AvgPool2d(pool_size, stride=1, padding=pool_size // 2,
                                 count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x) - x


class Mlp(nn.Module):
    """1x1 conv -> activation -> dropout -> 1x1 conv -> dropout (``fc1`` / ``fc2``), on NCHW."""

    def __init__(self, in_features: int, hidden_features: int,
                 act_cfg: Mapping = dict(type="GELU"), drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Conv2d(in_features, hidden_features, 1)
        self.act = build_activation_layer(act_cfg)
        self.fc2 = nn.Conv2d(hidden_features, in_features, 1)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class PoolFormerBlock(nn.Module):
    """Norm, pooling mixer and norm, MLP, each residual with a layer scale and drop path.

    Args:
        dim: channels.
        pool_size: window of the average pooling.
        mlp_ratio: MLP hidden channels / ``dim``.
        norm_cfg: the two norms (``norm1``, ``norm2``).
        act_cfg: the MLP activation.
        drop: dropout inside the MLP.
        drop_path: stochastic depth of both residual branches.
        layer_scale_init_value: initial value of ``layer_scale_1`` / ``layer_scale_2`` (dim,).

    Shape:
        (N, dim, H, W) -> (N, dim, H, W).
    """

    def __init__(self, dim: int, pool_size: int = 3, mlp_ratio: float = 4.0,
                 norm_cfg: Mapping = dict(type="GN", num_groups=1),
                 act_cfg: Mapping = dict(type="GELU"), drop: float = 0.0, drop_path: float = 0.0,
                 layer_scale_init_value: float = 1e-5):
        super().__init__()
        self.norm1 = build_norm_layer(norm_cfg, dim)[1]
        self.token_mixer = Pooling(pool_size=pool_size)
        self.norm2 = build_norm_layer(norm_cfg, dim)[1]
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_cfg=act_cfg, drop=drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.layer_scale_1 = nn.Parameter(layer_scale_init_value * torch.ones(dim))
        self.layer_scale_2 = nn.Parameter(layer_scale_init_value * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale_1 = self.layer_scale_1[:, None, None]
        scale_2 = self.layer_scale_2[:, None, None]
        x = x + self.drop_path(scale_1 * self.token_mixer(self.norm1(x)))
        return x + self.drop_path(scale_2 * self.mlp(self.norm2(x)))


_ARCH_KEYS = ("layers", "embed_dims", "mlp_ratios", "layer_scale_init_value")


def _resolve_arch(arch: Union[str, Mapping], settings: Mapping[str, dict]) -> dict:
    """The arch dict (string names looked up; mmcls's defaults for missing optional keys)."""
    if isinstance(arch, str):
        if arch not in settings:
            raise ConfigError(f"PoolFormer: arch={arch!r} is not one of {sorted(settings)}; pass "
                              f"one of those or a dict with the keys {list(_ARCH_KEYS)}.")
        arch = settings[arch]
    if not isinstance(arch, Mapping):
        raise ConfigError(f"PoolFormer: arch must be a name or a dict, got {arch!r}")
    missing = [k for k in ("layers", "embed_dims") if k not in arch]
    unknown = sorted(set(arch) - set(_ARCH_KEYS))
    if missing or unknown:
        raise ConfigError(f"PoolFormer: the arch dict must have 'layers' and 'embed_dims' and may "
                          f"have 'mlp_ratios', 'layer_scale_init_value'; got {sorted(arch)} "
                          f"(missing {missing}, unknown {unknown}).")
    out = {"mlp_ratios": [4] * len(arch["layers"]), "layer_scale_init_value": 1e-5, **arch}
    lengths = {k: len(out[k]) for k in ("layers", "embed_dims", "mlp_ratios")}
    if len(set(lengths.values())) != 1:
        raise ConfigError(f"PoolFormer: arch 'layers', 'embed_dims' and 'mlp_ratios' need one "
                          f"entry per stage; their lengths are {lengths}.")
    return out


@MODELS.register_module(scopes=("mmcls", "mmpretrain"))
class PoolFormer(BaseBackbone):
    """PoolFormer backbone (``type='mmcls.PoolFormer'`` in MMSegmentation's configs).

    Args:
        arch: ``'s12'``, ``'s24'``, ``'s36'``, ``'m36'``, ``'m48'`` or a dict with ``layers``
            (blocks per stage), ``embed_dims`` (channels per stage) and optionally
            ``mlp_ratios`` (default 4 each) and ``layer_scale_init_value`` (default 1e-5).
        pool_size: window of the pooling token mixer.
        norm_cfg: every norm (blocks and ``norm{i}`` outputs); GroupNorm with one group.
        act_cfg: activation of the MLPs.
        in_patch_size: kernel of the input embedding conv.
        in_stride: stride of the input embedding conv.
        in_pad: padding of the input embedding conv.
        down_patch_size: kernel of the downsampling convs between stages.
        down_stride: stride of the downsampling convs.
        down_pad: padding of the downsampling convs.
        drop_rate: dropout inside the MLPs.
        drop_path_rate: stochastic depth, rising linearly from 0 to this value over all blocks.
        out_indices: positions in ``network`` whose outputs are returned (normalised by
            ``norm{i}``): 0, 2, 4, 6 are the four stages of the standard archs, odd ones the
            downsampling convs; negative values count from the end (-1 = the last stage).
        frozen_stages: -1 freezes nothing; 0 (the default, as mmcls) freezes ``patch_embed``;
            k > 0 also freezes ``network[0..k-1]`` and their ``norm{i}``.
        pretrained: checkpoint to load in :meth:`init_weights` (seglab's shorthand for
            ``init_cfg=dict(type='Pretrained', checkpoint=...)``).
        init_cfg: e.g. ``dict(type='Pretrained', checkpoint=..., prefix='backbone.')`` for an
            mmcls classifier checkpoint; None keeps PyTorch's default init, as mmcls.

    Shape:
        (N, 3, H, W) -> tuple of (N, C_i, H_i, W_i) for the positions in ``out_indices``, in
        network order; ``H_i = ceil(H / stride_i)`` for H a multiple of ``in_stride``.
    """

    arch_settings: Dict[str, dict] = {
        "s12": dict(layers=[2, 2, 6, 2], embed_dims=[64, 128, 320, 512],
                    mlp_ratios=[4, 4, 4, 4], layer_scale_init_value=1e-5),
        "s24": dict(layers=[4, 4, 12, 4], embed_dims=[64, 128, 320, 512],
                    mlp_ratios=[4, 4, 4, 4], layer_scale_init_value=1e-5),
        "s36": dict(layers=[6, 6, 18, 6], embed_dims=[64, 128, 320, 512],
                    mlp_ratios=[4, 4, 4, 4], layer_scale_init_value=1e-6),
        "m36": dict(layers=[6, 6, 18, 6], embed_dims=[96, 192, 384, 768],
                    mlp_ratios=[4, 4, 4, 4], layer_scale_init_value=1e-6),
        "m48": dict(layers=[8, 8, 24, 8], embed_dims=[96, 192, 384, 768],
                    mlp_ratios=[4, 4, 4, 4], layer_scale_init_value=1e-6),
    }

    def __init__(self, arch: Union[str, Mapping] = "s12", pool_size: int = 3,
                 norm_cfg: Mapping = dict(type="GN", num_groups=1),
                 act_cfg: Mapping = dict(type="GELU"), in_patch_size: int = 7,
                 in_stride: int = 4, in_pad: int = 2, down_patch_size: int = 3,
                 down_stride: int = 2, down_pad: int = 1, drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, out_indices: Union[int, Sequence[int]] = -1,
                 frozen_stages: int = 0, pretrained: Optional[str] = None,
                 init_cfg: InitCfg = None):
        super().__init__(pretrained=pretrained, init_cfg=init_cfg, frozen_stages=frozen_stages)
        arch = _resolve_arch(arch, self.arch_settings)
        layers, embed_dims = list(arch["layers"]), list(arch["embed_dims"])
        self.arch = arch
        self.patch_embed = PoolFormerPatchEmbed(in_patch_size, in_stride, in_pad, 3, embed_dims[0])

        # Stochastic depth of block k of the whole network: drop_path_rate * k / (blocks - 1).
        total = max(sum(layers) - 1, 1)
        network: List[nn.Module] = []
        self._channels, self._strides = [], []  # of each network position
        stride, first = in_stride, 0
        for i, (num_blocks, dims) in enumerate(zip(layers, embed_dims)):
            network.append(nn.Sequential(*(
                PoolFormerBlock(dims, pool_size=pool_size, mlp_ratio=arch["mlp_ratios"][i],
                                norm_cfg=norm_cfg, act_cfg=act_cfg, drop=drop_rate,
                                drop_path=drop_path_rate * (first + j) / total,
                                layer_scale_init_value=arch["layer_scale_init_value"])
                for j in range(num_blocks))))
            self._channels.append(dims)
            self._strides.append(stride)
            first += num_blocks
            # Like mmcls, consecutive stages of one width share a resolution (no downsampling).
            if i + 1 < len(layers) and embed_dims[i + 1] != dims:
                network.append(PoolFormerPatchEmbed(down_patch_size, down_stride, down_pad, dims,
                                                    embed_dims[i + 1]))
                stride *= down_stride
                self._channels.append(embed_dims[i + 1])
                self._strides.append(stride)
        self.network = nn.ModuleList(network)

        self.out_indices = self._check_out_indices(out_indices, len(network))
        if not -1 <= frozen_stages <= len(network):
            raise ConfigError(f"PoolFormer: frozen_stages={frozen_stages} must be in [-1, "
                              f"{len(network)}] (-1: nothing, 0: patch_embed, k: also "
                              f"network[0..k-1]).")
        for index in self.out_indices:
            # The channels at that position (mmcls's embed_dims[(i + 1) // 2] for its archs).
            self.add_module(f"norm{index}", build_norm_layer(norm_cfg, self._channels[index])[1])
        self._freeze_stages()

    @staticmethod
    def _check_out_indices(out_indices: Union[int, Sequence[int]], length: int) -> Tuple[int, ...]:
        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        # mmcls adds 7 (its four-stage network length) to negative indices; the length is general.
        resolved = [i + length if i < 0 else i for i in indices]
        if not resolved or not all(0 <= i < length for i in resolved):
            raise ConfigError(f"PoolFormer: out_indices {out_indices!r} must be positions of the "
                              f"network, in [-{length}, {length}) (this arch has {length}: stages "
                              f"and downsampling convs interleaved).")
        return tuple(dict.fromkeys(resolved))

    def output_shapes(self) -> OutputShapes:
        """Each selected network position's channels and stride, in network order."""
        return tuple(ShapeSpec(self._channels[i], self._strides[i])
                     for i in range(len(self.network)) if i in self.out_indices)

    def frozen_modules(self) -> List[nn.Module]:
        """``patch_embed``, then ``network[0..frozen_stages-1]`` with their output norms."""
        modules: List[nn.Module] = [self.patch_embed]
        for i in range(self.frozen_stages):
            modules.append(self.network[i])
            if i in self.out_indices:
                modules.append(getattr(self, f"norm{i}"))
        return modules

    def init_weights(self) -> None:
        """Load ``pretrained`` / apply ``init_cfg``; without one keep PyTorch's init (mmcls)."""
        if self.init_cfg is not None:
            initialize(self, self.init_cfg)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x: (N, 3, H, W). Returns: the normalised maps at ``out_indices``."""
        x = self.patch_embed(x)
        outs = []
        for i, module in enumerate(self.network):
            x = module(x)
            if i in self.out_indices:
                outs.append(getattr(self, f"norm{i}")(x))
        return tuple(outs)
