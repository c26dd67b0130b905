"""``TransformerEncoderLayer``: one pre-norm block of MMSegmentation 0.x's ``VisionTransformer``.

Module names equal MMSeg's so checkpoints load strictly: ``ln1`` -> ``attn`` (MMCV's
``MultiheadAttention``: ``attn.attn.in_proj_weight``, ``attn.attn.out_proj.weight``) ->
``ln2`` -> ``ffn`` (``ffn.layers.0.0.weight``, ``ffn.layers.1.weight``).

Stochastic depth follows 0.x exactly: ``drop_path_rate`` acts on the FFN branch only (MMSeg
0.x builds the attention with MMCV's default ``Dropout(0)`` residual dropout), and only when
it is positive.
"""
from __future__ import annotations

from typing import Mapping

import torch
import torch.utils.checkpoint as cp
from torch import nn

from ..layers import FFN, MultiheadAttention, build_norm_layer, named_norm


class TransformerEncoderLayer(nn.Module):
    """``x + attn(ln1(x))`` then ``x + ffn(ln2(x))`` on (N, L, C) tokens.

    Args:
        embed_dims: token dimension C.
        num_heads: attention heads (must divide ``embed_dims``).
        feedforward_channels: hidden width of the FFN.
        drop_rate: dropout after the attention projection and inside the FFN.
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth of the FFN branch (0 disables it).
        num_fcs: Linear layers of the FFN.
        qkv_bias: biases of the q/k/v (and output) projections.
        act_cfg: FFN activation.
        norm_cfg: norm of ``ln1`` / ``ln2``.
        batch_first: tokens are (N, L, C) when True, (L, N, C) when False.
        with_cp: gradient checkpointing of the block when its input requires grad.

    Shape:
        (N, L, C) -> (N, L, C).
    """

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, num_fcs: int = 2, qkv_bias: bool = True,
                 act_cfg: Mapping = dict(type="GELU"), norm_cfg: Mapping = dict(type="LN"),
                 batch_first: bool = True, with_cp: bool = False):
        super().__init__()
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, embed_dims, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.attn = MultiheadAttention(embed_dims=embed_dims, num_heads=num_heads,
                                       attn_drop=attn_drop_rate, proj_drop=drop_rate,
                                       batch_first=batch_first, bias=qkv_bias)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, embed_dims, postfix=2)
        self.add_module(self.norm2_name, norm2)
        drop_path = (dict(type="DropPath", drop_prob=drop_path_rate) if drop_path_rate > 0
                     else None)
        self.ffn = FFN(embed_dims=embed_dims, feedforward_channels=feedforward_channels,
                       num_fcs=num_fcs, ffn_drop=drop_rate, dropout_layer=drop_path,
                       act_cfg=act_cfg)
        self.with_cp = with_cp

    norm1 = named_norm(1)
    norm2 = named_norm(2)

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attn(self.norm1(x), identity=x)
        return self.ffn(self.norm2(x), identity=x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (N, L, C) tokens. Returns: (N, L, C)."""
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)
