"""``PCPVT`` and ``SVT``: the backbones of `Twins <https://arxiv.org/abs/2104.13840>`_.

Same constructor keys, module names and numerics as MMSegmentation 0.x's
``mmseg.models.backbones.PCPVT`` / ``SVT``. Stage ``i`` is a corner-padded patch embedding
(``patch_embeds.i``: conv ``patch_sizes[i]`` with stride ``strides[i]``, then a norm), dropout
(``position_encoding_drops.i``), the blocks ``layers.i.j`` and, after the first block, the PEG
``position_encodings.i``; with ``norm_after_stage`` a norm ``norm_list.i`` ends the stage.
PCPVT's blocks are all :class:`~.twins_blocks.GSAEncoderLayer`; SVT's even blocks are
:class:`~.twins_blocks.LSAEncoderLayer` (windows of ``windiow_sizes[i]``, MMSeg's spelling).
Weights of the original Twins release convert with ``seglab.checkpoint.converters.convert_twins``.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import PatchEmbed, build_norm_layer, initialize, nlc_to_nchw
from ..layers.weight_init import InitCfg, pyramid_transformer_init
from .base import BaseBackbone, OutputShapes, shape_specs
from .twins_blocks import ConditionalPositionEncoding, GSAEncoderLayer, LSAEncoderLayer


@MODELS.register_module()
class PCPVT(BaseBackbone):
    """Twins-PCPVT: a pyramid of global sub-sampled attention stages with PEG positions.

    Args:
        in_channels: input image channels.
        embed_dims: channels of each stage.
        patch_sizes: kernel of each stage's patch-embedding conv.
        strides: stride of each stage's patch-embedding conv.
        num_heads: attention heads per stage.
        mlp_ratios: FFN hidden channels / stage channels, per stage.
        out_indices: stages whose outputs are returned.
        qkv_bias: biases of the attention projections.
        drop_rate: dropout after the patch embeddings, attention projections and in the FFNs.
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth, rising linearly from 0 over all blocks to this value.
        norm_cfg: norm of the patch embeddings and of ``norm_list`` (the blocks use LN, as MMSeg).
        depths: blocks per stage.
        sr_ratios: spatial reduction of the global attention's keys/values per stage.
        norm_after_stage: a norm at the end of every stage (``norm_list``).
        pretrained: checkpoint to load in :meth:`init_weights` (deprecated form of ``init_cfg``).
        init_cfg: ``dict(type='Pretrained', checkpoint=...)`` or other init dicts; None gives
            MMSeg's default init (truncated normal linears, fan-out normal convs).

    Shape:
        (N, in_channels, H, W) -> tuple of (N, embed_dims[i], H_i, W_i) for i in ``out_indices``
        with ``H_i = ceil(H / (strides[0] * ... * strides[i]))`` (patch size = stride).
    """

    def __init__(self, in_channels: int = 3, embed_dims: Sequence[int] = (64, 128, 256, 512),
                 patch_sizes: Sequence[int] = (4, 2, 2, 2), strides: Sequence[int] = (4, 2, 2, 2),
                 num_heads: Sequence[int] = (1, 2, 4, 8), mlp_ratios: Sequence[int] = (4, 4, 4, 4),
                 out_indices: Sequence[int] = (0, 1, 2, 3), qkv_bias: bool = False,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, norm_cfg: Mapping = dict(type="LN"),
                 depths: Sequence[int] = (3, 4, 6, 3), sr_ratios: Sequence[int] = (8, 4, 2, 1),
                 norm_after_stage: bool = False, pretrained: Optional[str] = None,
                 init_cfg: InitCfg = None):
        super().__init__(pretrained=pretrained, init_cfg=init_cfg)
        num_stages = len(depths)
        per_stage = dict(embed_dims=embed_dims, patch_sizes=patch_sizes, strides=strides,
                         num_heads=num_heads, mlp_ratios=mlp_ratios, sr_ratios=sr_ratios)
        wrong = {k: tuple(v) for k, v in per_stage.items() if len(v) < num_stages}
        if wrong:
            raise ConfigError(f"{type(self).__name__}: depths has {num_stages} stages, but these "
                              f"keys have fewer entries: {wrong}")
        out_indices = (out_indices,) if isinstance(out_indices, int) else tuple(out_indices)
        if not out_indices or not all(0 <= i < num_stages for i in out_indices):
            raise ConfigError(f"{type(self).__name__}: out_indices {out_indices} must be stages "
                              f"in [0, {num_stages}).")
        self.depths, self.embed_dims = tuple(depths), tuple(embed_dims[:num_stages])
        self.strides, self.out_indices = tuple(strides[:num_stages]), out_indices
        self.norm_after_stage = norm_after_stage

        self.patch_embeds = nn.ModuleList()
        self.position_encoding_drops = nn.ModuleList()
        for i in range(num_stages):
            self.patch_embeds.append(PatchEmbed(
                in_channels=in_channels if i == 0 else embed_dims[i - 1],
                embed_dims=embed_dims[i], conv_type="Conv2d", kernel_size=patch_sizes[i],
                stride=strides[i], padding="corner", norm_cfg=norm_cfg))
            self.position_encoding_drops.append(nn.Dropout(p=drop_rate))
        self.position_encodings = nn.ModuleList(
            ConditionalPositionEncoding(dims, dims) for dims in self.embed_dims)

        # Float32 linspace as MMSeg; on the CPU, so building under torch.device('meta') works.
        self.dpr = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist()
        self.layers = nn.ModuleList()
        cur = 0
        for k in range(num_stages):
            self.layers.append(nn.ModuleList(
                GSAEncoderLayer(
                    embed_dims=embed_dims[k], num_heads=num_heads[k],
                    feedforward_channels=mlp_ratios[k] * embed_dims[k],
                    attn_drop_rate=attn_drop_rate, drop_rate=drop_rate,
                    drop_path_rate=self.dpr[cur + i], num_fcs=2, qkv_bias=qkv_bias,
                    act_cfg=dict(type="GELU"), norm_cfg=dict(type="LN"), sr_ratio=sr_ratios[k])
                for i in range(depths[k])))
            cur += depths[k]
        # MMSeg also builds a final norm that it never registers (not in its state_dict).
        if norm_after_stage:
            self.norm_list = nn.ModuleList(
                build_norm_layer(norm_cfg, dims)[1] for dims in self.embed_dims)

    def output_shapes(self) -> OutputShapes:
        """Stage i: ``embed_dims[i]`` channels, stride ``prod(strides[:i + 1])``."""
        channels, strides, stride = [], [], 1
        for i, s in enumerate(self.strides):
            stride *= s
            if i in self.out_indices:  # stage order, whatever the order of out_indices
                channels.append(self.embed_dims[i])
                strides.append(stride)
        return shape_specs(channels, strides)

    def init_weights(self) -> None:
        """Load ``pretrained`` / apply ``init_cfg``; by default MMSeg's Twins init."""
        if self.init_cfg is not None:
            initialize(self, self.init_cfg)
            return
        pyramid_transformer_init(self, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x: (N, C, H, W). Returns: the (N, C_i, H_i, W_i) maps of ``out_indices``."""
        outs = []
        for i, blocks in enumerate(self.layers):
            x, hw_shape = self.patch_embeds[i](x)
            x = self.position_encoding_drops[i](x)
            for j, block in enumerate(blocks):
                x = block(x, hw_shape)
                if j == 0:  # the PEG sits after the first block of each stage
                    x = self.position_encodings[i](x, hw_shape)
            if self.norm_after_stage:
                x = self.norm_list[i](x)
            x = nlc_to_nchw(x, hw_shape).contiguous()
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


@MODELS.register_module()
class SVT(PCPVT):
    """Twins-SVT: PCPVT whose even blocks attend inside windows (LSA), odd ones globally (GSA).

    Args:
        windiow_sizes: LSA window side per stage (MMSeg's spelling of the key).
        Others: as :class:`PCPVT` (SVT's defaults differ: three stages, ``drop_path_rate``
            0.2, ``norm_after_stage`` True).

    Shape:
        As :class:`PCPVT`.
    """

    def __init__(self, in_channels: int = 3, embed_dims: Sequence[int] = (64, 128, 256),
                 patch_sizes: Sequence[int] = (4, 2, 2, 2), strides: Sequence[int] = (4, 2, 2, 2),
                 num_heads: Sequence[int] = (1, 2, 4), mlp_ratios: Sequence[int] = (4, 4, 4),
                 out_indices: Sequence[int] = (0, 1, 2, 3), qkv_bias: bool = False,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.2, norm_cfg: Mapping = dict(type="LN"),
                 depths: Sequence[int] = (4, 4, 4), sr_ratios: Sequence[int] = (4, 2, 1),
                 windiow_sizes: Sequence[int] = (7, 7, 7), norm_after_stage: bool = True,
                 pretrained: Optional[str] = None, init_cfg: InitCfg = None):
        super().__init__(in_channels, embed_dims, patch_sizes, strides, num_heads, mlp_ratios,
                         out_indices, qkv_bias, drop_rate, attn_drop_rate, drop_path_rate,
                         norm_cfg, depths, sr_ratios, norm_after_stage, pretrained, init_cfg)
        if len(windiow_sizes) < len(depths):
            raise ConfigError(f"SVT: depths has {len(depths)} stages but windiow_sizes "
                              f"{tuple(windiow_sizes)} has fewer entries")
        self.windiow_sizes = tuple(windiow_sizes[:len(depths)])
        for k, depth in enumerate(depths):
            for i in range(0, depth, 2):
                self.layers[k][i] = LSAEncoderLayer(
                    embed_dims=embed_dims[k], num_heads=num_heads[k],
                    feedforward_channels=mlp_ratios[k] * embed_dims[k], drop_rate=drop_rate,
                    attn_drop_rate=attn_drop_rate, drop_path_rate=self.dpr[sum(depths[:k]) + i],
                    qkv_bias=qkv_bias, window_size=windiow_sizes[k])
