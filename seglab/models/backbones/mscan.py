"""``MSCAN``: the encoder of `SegNeXt <https://arxiv.org/abs/2209.08575>`_ (MMSegmentation 1.x).

Same constructor keys, module names and numerics as MMSegmentation 1.x's
``mmseg.models.backbones.MSCAN`` (SegNeXt has no 0.x release; its configs are 1.x ones). Stage
``i`` (1-based, as MMSeg names it) is ``patch_embed{i}`` (stage 1: :class:`StemConv`, two
stride-2 3x3 convs; later: :class:`OverlapPatchEmbed`, one stride-2 3x3 conv and a norm),
``block{i}`` (a ModuleList of :class:`MSCABlock`) and ``norm{i}`` (a LayerNorm over the channels).
A block is ``x + drop_path(layer_scale_1 * attn(norm1(x)))`` then the same with ``mlp``/``norm2``;
the attention is the multi-scale convolutional attention :class:`MSCAAttention` (a 5x5 depthwise
conv, then branches of depthwise strip convs ``1 x k`` / ``k x 1``, summed, a 1x1 channel mix,
multiplied with its input). Everything stays (N, C, H, W); MMSeg's blocks pass the same values
as (N, H * W, C) tokens.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn
from torch.nn.modules.utils import _pair

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import DropPath, LayerNorm2d, build_activation_layer, build_norm_layer, initialize
from ..layers.weight_init import InitCfg, pyramid_transformer_init
from .base import BaseBackbone, OutputShapes, shape_specs

KernelSizes = Sequence[Union[int, Sequence[int]]]
DEFAULT_KERNEL_SIZES = (5, (1, 7), (1, 11), (1, 21))
DEFAULT_KERNEL_PADDINGS = (2, (0, 3), (0, 5), (0, 10))


class Mlp(nn.Module):
    """1x1 conv ``fc1``, 3x3 depthwise conv ``dwconv``, activation, dropout, 1x1 conv ``fc2``,
    dropout (MMSeg's MSCAN ``Mlp``).

    Shape:
        (N, in_features, H, W) -> (N, out_features, H, W).
    """

    def __init__(self, in_features: int, hidden_features: Optional[int] = None,
                 out_features: Optional[int] = None, act_cfg: Mapping = dict(type="GELU"),
                 drop: float = 0.0):
        super().__init__()
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        self.fc1 = nn.Conv2d(in_features, hidden_features, 1)
        self.dwconv = nn.Conv2d(hidden_features, hidden_features, 3, 1, 1, groups=hidden_features)
        self.act = build_activation_layer(act_cfg)
        self.fc2 = nn.Conv2d(hidden_features, out_features, 1)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.act(self.dwconv(self.fc1(x))))
        return self.drop(self.fc2(x))


class StemConv(nn.Module):
    """Stage 1's embedding ``proj``: conv 3x3/2 to ``out_channels // 2``, norm, activation,
    conv 3x3/2 to ``out_channels``, norm (stride 4 in all).

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, ceil(H / 4), ceil(W / 4)).
    """

    def __init__(self, in_channels: int, out_channels: int, act_cfg: Mapping = dict(type="GELU"),
                 norm_cfg: Mapping = dict(type="SyncBN", requires_grad=True)):
        super().__init__()
        mid = out_channels // 2
        self.proj = nn.Sequential(
            nn.Conv2d(in_channels, mid, kernel_size=3, stride=2, padding=1),
            build_norm_layer(norm_cfg, mid)[1],
            build_activation_layer(act_cfg),
            nn.Conv2d(mid, out_channels, kernel_size=3, stride=2, padding=1),
            build_norm_layer(norm_cfg, out_channels)[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class OverlapPatchEmbed(nn.Module):
    """Conv ``proj`` (``patch_size``, ``stride``, padding ``patch_size // 2``) then ``norm``.

    Shape:
        (N, in_channels, H, W) -> (N, embed_dim, H', W').
    """

    def __init__(self, patch_size: int = 7, stride: int = 4, in_channels: int = 3,
                 embed_dim: int = 768, norm_cfg: Mapping = dict(type="SyncBN", requires_grad=True)):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=stride,
                              padding=patch_size // 2)
        self.norm = build_norm_layer(norm_cfg, embed_dim)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x))


class MSCAAttention(nn.Module):
    """Multi-scale convolutional attention: ``conv3(a + sum_i branch_i(a)) * x``, ``a = conv0(x)``.

    ``conv0`` is depthwise with ``kernel_sizes[0]``; branch ``i`` (for each further entry
    ``(1, k)``) is the depthwise strip convs ``conv{i}_1`` (``1 x k``) then ``conv{i}_2``
    (``k x 1``, the kernel and padding reversed); ``conv3`` is a 1x1 conv.

    Args:
        channels: channels of the map.
        kernel_sizes: ``conv0``'s kernel, then one ``(1, k)`` pair per branch.
        paddings: the matching paddings (``k // 2`` keeps the size).

    Shape:
        (N, channels, H, W) -> (N, channels, H, W).
    """

    def __init__(self, channels: int, kernel_sizes: KernelSizes = DEFAULT_KERNEL_SIZES,
                 paddings: KernelSizes = DEFAULT_KERNEL_PADDINGS):
        super().__init__()
        if len(kernel_sizes) != len(paddings) or len(kernel_sizes) < 1:
            raise ConfigError(f"MSCAN: attention_kernel_sizes {kernel_sizes!r} and "
                              f"attention_kernel_paddings {paddings!r} need one entry each per "
                              f"conv (conv0, then one (1, k) pair per branch).")
        self.conv0 = nn.Conv2d(channels, channels, kernel_size=_pair(kernel_sizes[0]),
                               padding=_pair(paddings[0]), groups=channels)
        self.num_branches = len(kernel_sizes) - 1
        for i, (kernel, pad) in enumerate(zip(kernel_sizes[1:], paddings[1:])):
            kernel, pad = _pair(kernel), _pair(pad)
            for suffix, k, p in (("1", kernel, pad), ("2", kernel[::-1], pad[::-1])):
                self.add_module(f"conv{i}_{suffix}", nn.Conv2d(channels, channels, kernel_size=k,
                                                               padding=p, groups=channels))
        self.conv3 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attn = self.conv0(x)
        total = attn
        for i in range(self.num_branches):
            total = total + getattr(self, f"conv{i}_2")(getattr(self, f"conv{i}_1")(attn))
        return self.conv3(total) * x


class MSCASpatialAttention(nn.Module):
    """``x + proj_2(spatial_gating_unit(activation(proj_1(x))))`` with 1x1 ``proj_1``/``proj_2``.

    Shape:
        (N, in_channels, H, W) -> (N, in_channels, H, W).
    """

    def __init__(self, in_channels: int,
                 attention_kernel_sizes: KernelSizes = DEFAULT_KERNEL_SIZES,
                 attention_kernel_paddings: KernelSizes = DEFAULT_KERNEL_PADDINGS,
                 act_cfg: Mapping = dict(type="GELU")):
        super().__init__()
        self.proj_1 = nn.Conv2d(in_channels, in_channels, 1)
        self.activation = build_activation_layer(act_cfg)
        self.spatial_gating_unit = MSCAAttention(in_channels, attention_kernel_sizes,
                                                 attention_kernel_paddings)
        self.proj_2 = nn.Conv2d(in_channels, in_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj_2(self.spatial_gating_unit(self.activation(self.proj_1(x)))) + x


class MSCABlock(nn.Module):
    """One MSCAN block: attention then MLP, each pre-norm, layer-scaled, with stochastic depth.

    Args:
        channels: channels of the map.
        attention_kernel_sizes: see :class:`MSCAAttention`.
        attention_kernel_paddings: see :class:`MSCAAttention`.
        mlp_ratio: hidden channels of the MLP / ``channels``.
        drop: dropout inside the MLP.
        drop_path: stochastic depth of both residual branches.
        act_cfg: activation of the attention and the MLP.
        norm_cfg: ``norm1`` and ``norm2``.

    Shape:
        (N, channels, H, W) -> (N, channels, H, W).
    """

    # MMSeg initialises the layer scales to 1e-2 (no config key).
    layer_scale_init_value = 1e-2

    def __init__(self, channels: int, attention_kernel_sizes: KernelSizes = DEFAULT_KERNEL_SIZES,
                 attention_kernel_paddings: KernelSizes = DEFAULT_KERNEL_PADDINGS,
                 mlp_ratio: float = 4.0, drop: float = 0.0, drop_path: float = 0.0,
                 act_cfg: Mapping = dict(type="GELU"),
                 norm_cfg: Mapping = dict(type="SyncBN", requires_grad=True)):
        super().__init__()
        self.norm1 = build_norm_layer(norm_cfg, channels)[1]
        self.attn = MSCASpatialAttention(channels, attention_kernel_sizes,
                                         attention_kernel_paddings, act_cfg)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = build_norm_layer(norm_cfg, channels)[1]
        self.mlp = Mlp(channels, int(channels * mlp_ratio), act_cfg=act_cfg, drop=drop)
        self.layer_scale_1 = nn.Parameter(self.layer_scale_init_value * torch.ones(channels))
        self.layer_scale_2 = nn.Parameter(self.layer_scale_init_value * torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.layer_scale_1[:, None, None] * self.attn(self.norm1(x)))
        return x + self.drop_path(self.layer_scale_2[:, None, None] * self.mlp(self.norm2(x)))


@MODELS.register_module()
class MSCAN(BaseBackbone):
    """SegNeXt's Multi-Scale Convolutional Attention Network.

    Args:
        in_channels: input image channels (MMSeg's stem always takes 3; the same for 3).
        embed_dims: channels of each stage.
        mlp_ratios: MLP hidden channels / stage channels, per stage.
        drop_rate: dropout inside the MLPs.
        drop_path_rate: stochastic depth, rising linearly from 0 over all blocks to this value.
        depths: blocks per stage.
        num_stages: number of stages (the per-stage lists need at least this many entries).
        attention_kernel_sizes: ``conv0``'s kernel, then ``(1, k)`` per strip-conv branch.
        attention_kernel_paddings: the matching paddings.
        act_cfg: activation of the stem, attentions and MLPs.
        norm_cfg: the batch norms of the embeddings and blocks (``norm{i}`` is always LN).
        pretrained: checkpoint to load in :meth:`init_weights` (deprecated form of ``init_cfg``).
        init_cfg: ``dict(type='Pretrained', checkpoint=...)`` or other init dicts; None gives
            MMSeg's default init (fan-out normal convs, LN weight 1 and bias 0).

    Shape:
        (N, in_channels, H, W) -> tuple of (N, embed_dims[i], ceil(H / 2 ** (i + 2)),
        ceil(W / 2 ** (i + 2))), one per stage.
    """

    def __init__(self, in_channels: int = 3, embed_dims: Sequence[int] = (64, 128, 256, 512),
                 mlp_ratios: Sequence[float] = (4, 4, 4, 4), drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, depths: Sequence[int] = (3, 4, 6, 3),
                 num_stages: int = 4, attention_kernel_sizes: KernelSizes = DEFAULT_KERNEL_SIZES,
                 attention_kernel_paddings: KernelSizes = DEFAULT_KERNEL_PADDINGS,
                 act_cfg: Mapping = dict(type="GELU"),
                 norm_cfg: Mapping = dict(type="SyncBN", requires_grad=True),
                 pretrained: Optional[str] = None, init_cfg: InitCfg = None):
        super().__init__(pretrained=pretrained, init_cfg=init_cfg)
        per_stage = dict(embed_dims=embed_dims, mlp_ratios=mlp_ratios, depths=depths)
        short = {k: tuple(v) for k, v in per_stage.items() if len(v) < num_stages}
        if num_stages < 1 or short:
            raise ConfigError(f"MSCAN: num_stages={num_stages}, but these keys do not have an "
                              f"entry per stage: {short}")
        self.embed_dims = tuple(embed_dims[:num_stages])
        self.depths, self.num_stages = tuple(depths[:num_stages]), num_stages

        # Stochastic depth grows linearly over all blocks (float32 linspace on the CPU, as MMSeg).
        dpr = torch.linspace(0, drop_path_rate, sum(self.depths), device="cpu").tolist()
        cur = 0
        for i in range(num_stages):
            if i == 0:
                patch_embed = StemConv(in_channels, embed_dims[0], norm_cfg=norm_cfg)
            else:
                patch_embed = OverlapPatchEmbed(patch_size=3, stride=2,
                                                in_channels=embed_dims[i - 1],
                                                embed_dim=embed_dims[i], norm_cfg=norm_cfg)
            block = nn.ModuleList(
                MSCABlock(embed_dims[i], attention_kernel_sizes, attention_kernel_paddings,
                          mlp_ratio=mlp_ratios[i], drop=drop_rate, drop_path=dpr[cur + j],
                          act_cfg=act_cfg, norm_cfg=norm_cfg)
                for j in range(depths[i]))
            cur += depths[i]
            setattr(self, f"patch_embed{i + 1}", patch_embed)
            setattr(self, f"block{i + 1}", block)
            setattr(self, f"norm{i + 1}", LayerNorm2d(embed_dims[i]))

    def output_shapes(self) -> OutputShapes:
        """Stage i: ``embed_dims[i]`` channels at stride ``2 ** (i + 2)``."""
        return shape_specs(self.embed_dims, [2 ** (i + 2) for i in range(self.num_stages)])

    def init_weights(self) -> None:
        """Load ``pretrained`` / apply ``init_cfg``; by default MMSeg's MSCAN init."""
        if self.init_cfg is not None:
            initialize(self, self.init_cfg)
            return
        pyramid_transformer_init(self)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x: (N, C, H, W). Returns: the (N, embed_dims[i], H_i, W_i) map of every stage."""
        outs = []
        for i in range(1, self.num_stages + 1):
            x = getattr(self, f"patch_embed{i}")(x)
            for block in getattr(self, f"block{i}"):
                x = block(x)
            x = getattr(self, f"norm{i}")(x)
            outs.append(x)
        return tuple(outs)
