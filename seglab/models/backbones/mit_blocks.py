"""The blocks of SegFormer's Mix Transformer (``mmseg.models.backbones.mit``).

* :class:`MixFFN`: 1x1 conv, 3x3 depthwise conv (``pe_conv``, the positional information), GELU,
  1x1 conv; the convs are ``layers.0`` / ``layers.1`` / ``layers.4`` as in MMSeg.
* :class:`EfficientMultiheadAttention`: :class:`MultiheadAttention` whose keys and values come
  from a spatially reduced map (strided conv ``sr`` + ``norm``) when ``sr_ratio > 1``.
* :class:`TransformerEncoderLayer`: pre-norm attention then pre-norm MixFFN, each with its
  residual (``norm1``, ``attn``, ``norm2``, ``ffn``).

All three take tokens (N, H * W, C) plus the grid size ``hw_shape = (H, W)``.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import torch
import torch.utils.checkpoint as cp
from torch import nn

from ..layers import (MultiheadAttention, build_activation_layer, build_dropout, build_norm_layer,
                      nchw_to_nlc, nlc_to_nchw)
from ..layers.weight_init import InitCfg, initialize


class MixFFN(nn.Module):
    """Feed-forward block of SegFormer, with convs instead of linears and a residual.

    Args:
        embed_dims: token dimension (input and output channels).
        feedforward_channels: hidden channels.
        act_cfg: activation after the depthwise conv.
        ffn_drop: dropout after the activation and after the last conv.
        dropout_layer: dropout on the branch before the residual add
            (``dict(type='DropPath', drop_prob=...)``); None means none.
        init_cfg: ``init_cfg`` dicts applied by :meth:`init_weights`; None keeps PyTorch's init.

    Shape:
        (N, H * W, embed_dims) -> (N, H * W, embed_dims).
    """

    def __init__(self, embed_dims: int, feedforward_channels: int,
                 act_cfg: Mapping = dict(type="GELU"), ffn_drop: float = 0.0,
                 dropout_layer: Optional[Mapping] = None, init_cfg: InitCfg = None):
        super().__init__()
        self.embed_dims, self.feedforward_channels = embed_dims, feedforward_channels
        self.act_cfg, self.init_cfg = act_cfg, init_cfg
        self.activate = build_activation_layer(act_cfg)
        fc1 = nn.Conv2d(embed_dims, feedforward_channels, kernel_size=1)
        pe_conv = nn.Conv2d(feedforward_channels, feedforward_channels, kernel_size=3, padding=1,
                            groups=feedforward_channels)
        fc2 = nn.Conv2d(feedforward_channels, embed_dims, kernel_size=1)
        drop = nn.Dropout(ffn_drop)
        # The same Dropout twice, at indices 3 and 5, so the convs keep MMSeg's indices 0, 1, 4.
        self.layers = nn.Sequential(fc1, pe_conv, self.activate, drop, fc2, drop)
        self.dropout_layer = build_dropout(dropout_layer) if dropout_layer else nn.Identity()

    def init_weights(self) -> None:
        """Apply ``init_cfg`` (None keeps PyTorch's default init)."""
        initialize(self, self.init_cfg)

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int],
                identity: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``identity + dropout_layer(layers(x))`` on the (H, W) grid.

        Args:
            x: (N, H * W, embed_dims) tokens.
            hw_shape: (H, W) of the token grid.
            identity: residual of ``x``'s shape; None means ``x``.

        Returns:
            (N, H * W, embed_dims) tokens.
        """
        out = nchw_to_nlc(self.layers(nlc_to_nchw(x, hw_shape)))
        return (x if identity is None else identity) + self.dropout_layer(out)


class EfficientMultiheadAttention(MultiheadAttention):
    """Multi-head attention over spatially reduced keys/values (SegFormer's efficient attention).

    With ``sr_ratio > 1`` the keys and values are the tokens seen through a
    ``sr_ratio x sr_ratio`` conv of stride ``sr_ratio`` (``sr``) and a norm (``norm``), which
    divides the attention cost by ``sr_ratio ** 2``; the queries stay at full resolution.

    Args:
        embed_dims: token dimension.
        num_heads: attention heads.
        attn_drop: dropout on the attention weights.
        proj_drop: dropout after the output projection.
        dropout_layer: dropout on the branch before the residual add; None means none.
        init_cfg: ``init_cfg`` dicts applied by :meth:`init_weights`.
        batch_first: tokens are (N, L, C) when True, (L, N, C) when False.
        qkv_bias: biases of the q/k/v and output projections.
        norm_cfg: norm after ``sr``.
        sr_ratio: spatial reduction of keys and values (1 = none: no ``sr``/``norm``).

    Shape:
        (N, H * W, C) -> (N, H * W, C) (``batch_first``).
    """

    def __init__(self, embed_dims: int, num_heads: int, attn_drop: float = 0.0,
                 proj_drop: float = 0.0, dropout_layer: Optional[Mapping] = None,
                 init_cfg: InitCfg = None, batch_first: bool = True, qkv_bias: bool = False,
                 norm_cfg: Mapping = dict(type="LN"), sr_ratio: int = 1):
        super().__init__(embed_dims, num_heads, attn_drop, proj_drop,
                         dropout_layer=dropout_layer, init_cfg=init_cfg,
                         batch_first=batch_first, bias=qkv_bias)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sr = nn.Conv2d(embed_dims, embed_dims, kernel_size=sr_ratio, stride=sr_ratio)
            self.norm = build_norm_layer(norm_cfg, embed_dims)[1]

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int],  # type: ignore[override]
                identity: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Attend the tokens to their reduced grid and add the residual.

        Args:
            x: (N, H * W, C) tokens (``batch_first``; (H * W, N, C) otherwise).
            hw_shape: (H, W) of the token grid.
            identity: residual of ``x``'s shape; None means ``x``.

        Returns:
            Tensor of ``x``'s shape.
        """
        x_q = x
        x_kv = x
        if self.sr_ratio > 1:
            if min(hw_shape) < self.sr_ratio:
                # The sr conv has no padding: a grid smaller than its kernel cannot be reduced.
                raise ValueError(f"EfficientMultiheadAttention: the token grid {tuple(hw_shape)} "
                                 f"is smaller than sr_ratio={self.sr_ratio}; the input image is "
                                 f"too small for this stage (use a larger image).")
            tokens = x if self.batch_first else x.transpose(0, 1)
            x_kv = self.norm(nchw_to_nlc(self.sr(nlc_to_nchw(tokens, hw_shape))))
            if not self.batch_first:
                x_kv = x_kv.transpose(0, 1)
        if identity is None:
            identity = x_q
        if self.batch_first:
            # nn.MultiheadAttention is built sequence-first, as in MMCV.
            x_q, x_kv = x_q.transpose(0, 1), x_kv.transpose(0, 1)
        out = self.attn(query=x_q, key=x_kv, value=x_kv, need_weights=False)[0]
        if self.batch_first:
            out = out.transpose(0, 1)
        return identity + self.dropout_layer(self.proj_drop(out))


class TransformerEncoderLayer(nn.Module):
    """One SegFormer block: ``x + attn(norm1(x))`` then ``x + ffn(norm2(x))``.

    Args:
        embed_dims: token dimension.
        num_heads: attention heads.
        feedforward_channels: hidden channels of the MixFFN.
        drop_rate: dropout after the attention projection and inside the MixFFN.
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth of both residual branches.
        qkv_bias: biases of the attention projections.
        act_cfg: activation of the MixFFN.
        norm_cfg: ``norm1``, ``norm2`` and the attention's ``norm``.
        batch_first: tokens are (N, L, C).
        sr_ratio: spatial reduction of the attention's keys and values.
        with_cp: gradient checkpointing of the block while training (saves memory).

    Shape:
        (N, H * W, embed_dims) -> (N, H * W, embed_dims).
    """

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, qkv_bias: bool = True,
                 act_cfg: Mapping = dict(type="GELU"), norm_cfg: Mapping = dict(type="LN"),
                 batch_first: bool = True, sr_ratio: int = 1, with_cp: bool = False):
        super().__init__()
        drop_path = dict(type="DropPath", drop_prob=drop_path_rate)
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = EfficientMultiheadAttention(
            embed_dims=embed_dims, num_heads=num_heads, attn_drop=attn_drop_rate,
            proj_drop=drop_rate, dropout_layer=drop_path, batch_first=batch_first,
            qkv_bias=qkv_bias, norm_cfg=norm_cfg, sr_ratio=sr_ratio)
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = MixFFN(embed_dims=embed_dims, feedforward_channels=feedforward_channels,
                          ffn_drop=drop_rate, dropout_layer=drop_path, act_cfg=act_cfg)
        self.with_cp = with_cp

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        """Args: x: (N, H * W, C) tokens; hw_shape: (H, W). Returns: (N, H * W, C)."""
        def inner(x: torch.Tensor) -> torch.Tensor:
            x = self.attn(self.norm1(x), hw_shape, identity=x)
            return self.ffn(self.norm2(x), hw_shape, identity=x)

        if self.with_cp and x.requires_grad:
            return cp.checkpoint(inner, x, use_reentrant=False)
        return inner(x)
