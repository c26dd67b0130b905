"""``MixVisionTransformer``: the MiT encoder of `SegFormer <https://arxiv.org/abs/2105.15203>`_.

Same constructor keys, module names and numerics as MMSegmentation 0.x's
``mmseg.models.backbones.MixVisionTransformer``. Stage ``i`` is ``layers.i``, a ModuleList of
an overlapping patch embedding (``layers.i.0``: conv ``patch_sizes[i]`` with stride
``strides[i]`` and padding ``patch_sizes[i] // 2``, then LN), ``num_layers[i]``
:class:`~seglab.models.backbones.mit_blocks.TransformerEncoderLayer` blocks (``layers.i.1.j``)
and a final LN (``layers.i.2``); it has ``embed_dims * num_heads[i]`` channels. Weights of the
original SegFormer release convert with ``seglab.checkpoint.converters.convert_mit``.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import PatchEmbed, build_norm_layer, initialize, nlc_to_nchw
from ..layers.weight_init import InitCfg, pyramid_transformer_init
from .base import BaseBackbone, OutputShapes, shape_specs
from .mit_blocks import TransformerEncoderLayer


@MODELS.register_module()
class MixVisionTransformer(BaseBackbone):
    """Hierarchical transformer with overlapping patch embeddings and efficient attention.

    Args:
        in_channels: input image channels.
        embed_dims: base width; stage i has ``embed_dims * num_heads[i]`` channels.
        num_stages: number of stages.
        num_layers: blocks per stage.
        num_heads: attention heads per stage.
        patch_sizes: kernel of each stage's patch-embedding conv.
        strides: stride of each stage's patch-embedding conv.
        sr_ratios: spatial reduction of the attention's keys/values per stage.
        out_indices: stages whose outputs are returned (an int means one stage).
        mlp_ratio: MixFFN hidden channels / stage channels.
        qkv_bias: biases of the attention projections.
        drop_rate: dropout after the attention projection and inside the MixFFNs.
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth, rising linearly from 0 over all blocks to this value.
        act_cfg: activation of the MixFFNs.
        norm_cfg: every LN of the backbone.
        pretrained: checkpoint to load in :meth:`init_weights` (deprecated form of ``init_cfg``).
        init_cfg: ``dict(type='Pretrained', checkpoint=...)`` or other init dicts; None gives
            MMSeg's default init (truncated normal linears, fan-out normal convs).
        with_cp: gradient checkpointing per block while training (saves memory).

    Shape:
        (N, in_channels, H, W) -> tuple of (N, embed_dims * num_heads[i], H_i, W_i) for i in
        ``out_indices``; ``H_i = ceil(H / (strides[0] * ... * strides[i]))`` for odd patch sizes.
    """

    def __init__(self, in_channels: int = 3, embed_dims: int = 64, num_stages: int = 4,
                 num_layers: Sequence[int] = (3, 4, 6, 3), num_heads: Sequence[int] = (1, 2, 4, 8),
                 patch_sizes: Sequence[int] = (7, 3, 3, 3), strides: Sequence[int] = (4, 2, 2, 2),
                 sr_ratios: Sequence[int] = (8, 4, 2, 1),
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3), mlp_ratio: int = 4,
                 qkv_bias: bool = True, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, act_cfg: Mapping = dict(type="GELU"),
                 norm_cfg: Mapping = dict(type="LN", eps=1e-6), pretrained: Optional[str] = None,
                 init_cfg: InitCfg = None, with_cp: bool = False):
        super().__init__(pretrained=pretrained, init_cfg=init_cfg)
        per_stage = dict(num_layers=num_layers, num_heads=num_heads, patch_sizes=patch_sizes,
                         strides=strides, sr_ratios=sr_ratios)
        wrong = {k: tuple(v) for k, v in per_stage.items() if len(v) != num_stages}
        if wrong:
            raise ConfigError(f"MixVisionTransformer: num_stages={num_stages}, but these keys do "
                              f"not have one entry per stage: {wrong}")
        out_indices = (out_indices,) if isinstance(out_indices, int) else tuple(out_indices)
        if not out_indices or not all(0 <= i < num_stages for i in out_indices):
            raise ConfigError(f"MixVisionTransformer: out_indices {out_indices} must be stages "
                              f"in [0, num_stages={num_stages}).")
        self.embed_dims, self.num_stages = embed_dims, num_stages
        self.num_layers, self.num_heads = tuple(num_layers), tuple(num_heads)
        self.patch_sizes, self.strides = tuple(patch_sizes), tuple(strides)
        self.sr_ratios, self.out_indices = tuple(sr_ratios), out_indices
        self.with_cp = with_cp

        # Stochastic depth grows linearly with the block's position in the whole network (float32
        # linspace as MMSeg; on the CPU, so building under torch.device('meta') works too).
        dpr = torch.linspace(0, drop_path_rate, sum(num_layers), device="cpu").tolist()
        cur = 0
        self.layers = nn.ModuleList()
        for i, num_layer in enumerate(num_layers):
            dims = embed_dims * num_heads[i]
            patch_embed = PatchEmbed(in_channels=in_channels, embed_dims=dims,
                                     kernel_size=patch_sizes[i], stride=strides[i],
                                     padding=patch_sizes[i] // 2, norm_cfg=norm_cfg)
            blocks = nn.ModuleList(
                TransformerEncoderLayer(
                    embed_dims=dims, num_heads=num_heads[i],
                    feedforward_channels=mlp_ratio * dims, drop_rate=drop_rate,
                    attn_drop_rate=attn_drop_rate, drop_path_rate=dpr[cur + j],
                    qkv_bias=qkv_bias, act_cfg=act_cfg, norm_cfg=norm_cfg, with_cp=with_cp,
                    sr_ratio=sr_ratios[i])
                for j in range(num_layer))
            norm = build_norm_layer(norm_cfg, dims)[1]
            self.layers.append(nn.ModuleList([patch_embed, blocks, norm]))
            in_channels = dims
            cur += num_layer

    def output_shapes(self) -> OutputShapes:
        """Stage i: ``embed_dims * num_heads[i]`` channels, stride ``prod(strides[:i + 1])``."""
        channels, strides, stride = [], [], 1
        for i in range(self.num_stages):
            stride *= self.strides[i]
            channels.append(self.embed_dims * self.num_heads[i])
            strides.append(stride)
        # forward returns the selected stages in stage order, whatever the order of out_indices.
        selected = [i for i in range(self.num_stages) if i in self.out_indices]
        return shape_specs([channels[i] for i in selected], [strides[i] for i in selected])

    def init_weights(self) -> None:
        """Load ``pretrained`` / apply ``init_cfg``; by default MMSeg's MiT init."""
        if self.init_cfg is not None:
            initialize(self, self.init_cfg)
            return
        pyramid_transformer_init(self)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x: (N, C, H, W). Returns: the (N, C_i, H_i, W_i) maps of ``out_indices``."""
        outs = []
        for i, (patch_embed, blocks, norm) in enumerate(self.layers):
            x, hw_shape = patch_embed(x)
            for block in blocks:
                x = block(x, hw_shape)
            x = nlc_to_nchw(norm(x), hw_shape)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
