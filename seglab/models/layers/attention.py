"""``MultiheadAttention``: ``nn.MultiheadAttention`` with MMCV's residual and position inputs.

The torch module is the attribute ``attn``, so the parameters are ``attn.in_proj_weight``
(3 * embed_dims, embed_dims; q, k, v stacked), ``attn.in_proj_bias``, ``attn.out_proj.weight``
and ``attn.out_proj.bias``; a transformer layer that calls this block ``attn`` stores them as
``attn.attn.in_proj_weight`` etc., exactly as MMCV / MMSegmentation checkpoints do.
"""
from __future__ import annotations

import warnings
from typing import Mapping, Optional

import torch
from torch import nn

from ...errors import ConfigError
from .drop import build_dropout
from .weight_init import InitCfg, initialize


class MultiheadAttention(nn.Module):
    """Multi-head attention with identity connection (``mmcv.cnn.bricks.MultiheadAttention``).

    Args:
        embed_dims: token dimension.
        num_heads: attention heads; must divide ``embed_dims``.
        attn_drop: dropout on the attention weights (``nn.MultiheadAttention``'s ``dropout``).
        proj_drop: dropout after the output projection.
        dropout_layer: dropout on the branch before the residual add
            (``dict(type='DropPath', drop_prob=...)``); None means none.
        init_cfg: ``init_cfg`` dicts applied by :meth:`init_weights`; None keeps PyTorch's init
            (Xavier-uniform in-projection, zero biases).
        batch_first: inputs are (N, L, C) when True, (L, N, C) when False (MMCV's default).
        bias: biases of the q/k/v and output projections.

    Shape:
        query (Lq, N, C) or (N, Lq, C) -> the same shape.
    """

    def __init__(self, embed_dims: int, num_heads: int, attn_drop: float = 0.0,
                 proj_drop: float = 0.0,
                 dropout_layer: Optional[Mapping] = dict(type="Dropout", drop_prob=0.0),
                 init_cfg: InitCfg = None, batch_first: bool = False, bias: bool = True):
        super().__init__()
        if embed_dims % num_heads:
            raise ConfigError(f"MultiheadAttention: embed_dims ({embed_dims}) must be divisible "
                              f"by num_heads ({num_heads})")
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.batch_first, self.init_cfg = batch_first, init_cfg
        self.attn = nn.MultiheadAttention(embed_dims, num_heads, dropout=attn_drop, bias=bias)
        self.proj_drop = nn.Dropout(proj_drop)
        self.dropout_layer = build_dropout(dropout_layer) if dropout_layer else nn.Identity()

    def init_weights(self) -> None:
        """Apply ``init_cfg`` (None keeps PyTorch's default init, as MMCV's BaseModule)."""
        initialize(self, self.init_cfg)

    def forward(self, query: torch.Tensor, key: Optional[torch.Tensor] = None,
                value: Optional[torch.Tensor] = None, identity: Optional[torch.Tensor] = None,
                query_pos: Optional[torch.Tensor] = None, key_pos: Optional[torch.Tensor] = None,
                attn_mask: Optional[torch.Tensor] = None,
                key_padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Attend ``query + query_pos`` to ``key + key_pos`` / ``value``; add the residual.

        The result is ``identity + dropout_layer(proj_drop(attention))``.

        Args:
            query: (Lq, N, C), or (N, Lq, C) when ``batch_first``.
            key: (Lk, N, C) / (N, Lk, C); None means ``query`` (self-attention).
            value: like ``key``; None means ``key`` (before ``key_pos`` is added).
            identity: residual, like ``query``; None means ``query`` (before ``query_pos``).
            query_pos: position encoding added to ``query``.
            key_pos: position encoding added to ``key``; None reuses ``query_pos`` when it has
                ``key``'s shape (self-attention), else ``key`` gets none and a warning says so.
            attn_mask: (Lq, Lk) or (N * num_heads, Lq, Lk) mask, as ``nn.MultiheadAttention``.
            key_padding_mask: (N, Lk) mask of padded keys.

        Returns:
            Tensor of ``query``'s shape.
        """
        if key is None:
            key = query
        if value is None:
            value = key
        if identity is None:
            identity = query
        if key_pos is None and query_pos is not None:
            if query_pos.shape == key.shape:
                key_pos = query_pos
            else:
                warnings.warn(f"position encoding of key is missing in {type(self).__name__}: "
                              f"query_pos {tuple(query_pos.shape)} does not match key "
                              f"{tuple(key.shape)} and no key_pos was given.", stacklevel=2)
        if query_pos is not None:
            query = query + query_pos
        if key_pos is not None:
            key = key + key_pos
        if self.batch_first:
            # nn.MultiheadAttention is built sequence-first, as in MMCV; swap in and out.
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        out = self.attn(query=query, key=key, value=value, attn_mask=attn_mask,
                        key_padding_mask=key_padding_mask, need_weights=False)[0]
        if self.batch_first:
            out = out.transpose(0, 1)
        return identity + self.dropout_layer(self.proj_drop(out))
