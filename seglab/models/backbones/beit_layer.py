"""BEiT's attention and encoder block (``mmseg.models.backbones.beit``, MMSegmentation 0.x).

:class:`BEiTAttention` is multi-head self-attention over a cls token plus a Wh x Ww patch grid
with a learned relative position bias per layer (``relative_position_bias_table`` indexed by the
``relative_position_index`` buffer, as :func:`~seglab.models.layers.beit_relative_position_index`
builds it). Its q/k/v projection is one ``qkv`` Linear; with ``bias='qv_bias'`` it has no bias of
its own and the learned ``q_bias`` / ``v_bias`` (k gets zeros) are used instead.

:class:`BEiTTransformerEncoderLayer` is the pre-norm block with layer scale:
``x + drop_path(gamma_1 * attn(ln1(x)))`` then ``x + drop_path(gamma_2 * ffn(ln2(x)))``.
"""
from __future__ import annotations

from typing import Mapping, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

from ...errors import ConfigError
from ..layers import (FFN, beit_num_relative_distance, beit_relative_position_index,
                      build_dropout, build_norm_layer, named_norm, relative_position_bias)

Bias = Union[bool, str]


class BEiTAttention(nn.Module):
    """Self-attention with BEiT's relative position bias on (N, 1 + Wh * Ww, C) tokens.

    Args:
        embed_dims: token dimension C.
        num_heads: attention heads (must divide ``embed_dims``).
        window_size: the patch grid (Wh, Ww) the bias table is built for.
        bias: ``'qv_bias'`` (learned q and v biases, none for k), True (a bias on ``qkv``)
            or False (no bias).
        qk_scale: scale of q; None = ``head_dims ** -0.5``.
        attn_drop_rate: dropout on the attention weights.
        proj_drop_rate: dropout after the output projection.

    Shape:
        (N, 1 + Wh * Ww, C) -> (N, 1 + Wh * Ww, C).
    """

    def __init__(self, embed_dims: int, num_heads: int, window_size: Tuple[int, int],
                 bias: Bias = "qv_bias", qk_scale: Optional[float] = None,
                 attn_drop_rate: float = 0.0, proj_drop_rate: float = 0.0):
        super().__init__()
        if embed_dims % num_heads:
            raise ConfigError(f"BEiTAttention: embed_dims={embed_dims} is not divisible by "
                              f"num_heads={num_heads}")
        if bias not in ("qv_bias", True, False):
            raise ConfigError(f"BEiTAttention: bias must be 'qv_bias', True or False, got "
                              f"{bias!r}")
        self.embed_dims, self.num_heads, self.bias = embed_dims, num_heads, bias
        self.scale = qk_scale or (embed_dims // num_heads) ** -0.5
        if bias == "qv_bias":
            self.q_bias = nn.Parameter(torch.zeros(embed_dims))
            self.v_bias = nn.Parameter(torch.zeros(embed_dims))
        self.window_size = _pair(window_size)
        self.num_relative_distance = beit_num_relative_distance(self.window_size)
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros(self.num_relative_distance, num_heads))
        self.register_buffer("relative_position_index",
                             beit_relative_position_index(self.window_size))
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=bias is True)
        self.attn_drop = nn.Dropout(attn_drop_rate)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (N, L, C) with L = 1 + Wh * Ww. Returns: (N, L, C)."""
        n, length, c = x.shape
        expected = self.relative_position_index.shape[0]
        if length != expected:
            # MMSeg fails here with a broadcast error; the bias table fixes the grid size.
            wh, ww = self.window_size
            raise ValueError(f"BEiTAttention: {length} tokens, but the relative position bias is "
                             f"built for 1 + {wh} x {ww} = {expected} (the backbone's img_size // "
                             f"patch_size); feed images of img_size")
        if self.bias == "qv_bias":
            qkv_bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
            qkv = F.linear(x, self.qkv.weight, qkv_bias)
        else:
            qkv = self.qkv(x)
        q, k, v = qkv.reshape(n, length, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = relative_position_bias(self.relative_position_bias_table,
                                      self.relative_position_index)
        attn = self.attn_drop((attn + bias.unsqueeze(0)).softmax(dim=-1))
        x = (attn @ v).transpose(1, 2).reshape(n, length, c)
        return self.proj_drop(self.proj(x))


class BEiTTransformerEncoderLayer(nn.Module):
    """Pre-norm block with layer scale and stochastic depth on both branches.

    Keys as MMSeg's: ``gamma_1``, ``gamma_2``, ``ln1``, ``attn.*`` (:class:`BEiTAttention`),
    ``ln2``, ``ffn.layers.0.0`` / ``ffn.layers.1``.

    Args:
        embed_dims: token dimension C.
        num_heads: attention heads.
        feedforward_channels: hidden width of the FFN.
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth of both residual branches.
        num_fcs: Linear layers of the FFN.
        bias: q/k/v bias mode of :class:`BEiTAttention`.
        act_cfg: FFN activation.
        norm_cfg: norm of ``ln1`` / ``ln2``.
        window_size: the patch grid (Wh, Ww).
        init_values: initial value of the layer-scale vectors ``gamma_1`` / ``gamma_2``.

    Shape:
        (N, L, C) -> (N, L, C).
    """

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0, num_fcs: int = 2,
                 bias: Bias = "qv_bias", act_cfg: Mapping = dict(type="GELU"),
                 norm_cfg: Mapping = dict(type="LN"),
                 window_size: Tuple[int, int] = (14, 14), init_values: float = 0.1):
        super().__init__()
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, embed_dims, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.attn = BEiTAttention(embed_dims=embed_dims, num_heads=num_heads,
                                  window_size=window_size, bias=bias,
                                  attn_drop_rate=attn_drop_rate)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, embed_dims, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.ffn = FFN(embed_dims=embed_dims, feedforward_channels=feedforward_channels,
                       num_fcs=num_fcs, ffn_drop=0.0, act_cfg=act_cfg, add_identity=False)
        self.drop_path = build_dropout(dict(type="DropPath", drop_prob=drop_path_rate))
        self.gamma_1 = nn.Parameter(init_values * torch.ones(embed_dims))
        self.gamma_2 = nn.Parameter(init_values * torch.ones(embed_dims))

    norm1 = named_norm(1)
    norm2 = named_norm(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (N, L, C) tokens. Returns: (N, L, C)."""
        x = x + self.drop_path(self.gamma_1 * self.attn(self.norm1(x)))
        return x + self.drop_path(self.gamma_2 * self.ffn(self.norm2(x)))
