"""The blocks of Twins (``mmseg.models.backbones.twins``).

* :class:`GlobalSubsampledAttention` (GSA): SegFormer's efficient attention (keys and values
  from an ``sr_ratio``-strided conv of the tokens).
* :class:`GSAEncoderLayer`: pre-norm GSA then pre-norm FFN, each with its residual.
* :class:`LocallygroupedSelfAttention` (LSA): attention inside non-overlapping windows.
* :class:`LSAEncoderLayer`: pre-norm LSA then pre-norm FFN (SVT's even blocks).
* :class:`ConditionalPositionEncoding`: the PEG, a depthwise 3x3 conv added to the tokens.

All take tokens (N, H * W, C) plus the grid size ``hw_shape = (H, W)``.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import FFN, build_dropout, build_norm_layer, nchw_to_nlc, nlc_to_nchw
from .mit_blocks import EfficientMultiheadAttention


class GlobalSubsampledAttention(EfficientMultiheadAttention):
    """Twins' name for :class:`EfficientMultiheadAttention` (same keys, defaults, numerics).

    Args:
        embed_dims: token dimension.
        num_heads: attention heads.
        attn_drop: dropout on the attention weights.
        proj_drop: dropout after the output projection.
        dropout_layer: dropout on the branch (``dict(type='DropPath', ...)``); None means none.
        batch_first: tokens are (N, L, C).
        qkv_bias: biases of the q/k/v and output projections.
        norm_cfg: norm after ``sr``.
        sr_ratio: spatial reduction of keys and values (1 = none).

    Shape:
        (N, H * W, C) -> (N, H * W, C).
    """

    def __init__(self, embed_dims: int, num_heads: int, attn_drop: float = 0.0,
                 proj_drop: float = 0.0, dropout_layer: Optional[Mapping] = None,
                 batch_first: bool = True, qkv_bias: bool = True,
                 norm_cfg: Mapping = dict(type="LN"), sr_ratio: int = 1):
        super().__init__(embed_dims, num_heads, attn_drop=attn_drop, proj_drop=proj_drop,
                         dropout_layer=dropout_layer, batch_first=batch_first,
                         qkv_bias=qkv_bias, norm_cfg=norm_cfg, sr_ratio=sr_ratio)


def _drop_path(rate: float) -> nn.Module:
    return build_dropout(dict(type="DropPath", drop_prob=rate)) if rate > 0 else nn.Identity()


class GSAEncoderLayer(nn.Module):
    """``x + drop_path(gsa(norm1(x)))`` then ``x + drop_path(ffn(norm2(x)))``.

    As in MMSeg the attention and the FFN also carry their own DropPath (``dropout_layer``), so
    while training a branch goes through two independent stochastic-depth masks.

    Args:
        embed_dims: token dimension.
        num_heads: attention heads.
        feedforward_channels: hidden channels of the FFN.
        drop_rate: dropout after the attention projection and inside the FFN.
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth of both branches.
        num_fcs: linears of the FFN.
        qkv_bias: biases of the attention projections.
        act_cfg: activation of the FFN.
        norm_cfg: ``norm1``, ``norm2`` and the attention's ``norm``.
        sr_ratio: spatial reduction of the attention's keys and values.

    Shape:
        (N, H * W, embed_dims) -> (N, H * W, embed_dims).
    """

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, num_fcs: int = 2, qkv_bias: bool = True,
                 act_cfg: Mapping = dict(type="GELU"), norm_cfg: Mapping = dict(type="LN"),
                 sr_ratio: int = 1):
        super().__init__()
        drop_path = dict(type="DropPath", drop_prob=drop_path_rate)
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = GlobalSubsampledAttention(
            embed_dims=embed_dims, num_heads=num_heads, attn_drop=attn_drop_rate,
            proj_drop=drop_rate, dropout_layer=drop_path, qkv_bias=qkv_bias,
            norm_cfg=norm_cfg, sr_ratio=sr_ratio)
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(embed_dims=embed_dims, feedforward_channels=feedforward_channels,
                       num_fcs=num_fcs, ffn_drop=drop_rate, dropout_layer=drop_path,
                       act_cfg=act_cfg, add_identity=False)
        self.drop_path = _drop_path(drop_path_rate)

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        """Args: x: (N, H * W, C) tokens; hw_shape: (H, W). Returns: (N, H * W, C)."""
        # identity=0: the attention returns its branch only; the residual is added here.
        x = x + self.drop_path(self.attn(self.norm1(x), hw_shape, identity=0.0))
        return x + self.drop_path(self.ffn(self.norm2(x)))


class LocallygroupedSelfAttention(nn.Module):
    """Multi-head self-attention inside ``window_size x window_size`` windows.

    The grid is zero-padded at the bottom/right to window multiples. MMSeg masks the padded
    tokens (-1000 on the logits between real and padded tokens), but its mask is built with
    ``mask[:, -pad_b:, :] = 1`` and ``mask[:, :, -pad_r:] = 1``: a zero pad selects the whole
    grid, so the mask only takes effect when both pads are non-zero. That is kept as is, since
    it is what MMSeg's checkpoints were trained and evaluated with.

    Args:
        embed_dims: token dimension.
        num_heads: attention heads.
        qkv_bias: bias of the fused ``qkv`` linear.
        qk_scale: logit scale; None means ``head_dim ** -0.5``.
        attn_drop_rate: dropout on the attention weights.
        proj_drop_rate: dropout after ``proj``.
        window_size: side of the windows (1 = attention per token).

    Shape:
        (N, H * W, C) -> (N, H * W, C).
    """

    def __init__(self, embed_dims: int, num_heads: int = 8, qkv_bias: bool = False,
                 qk_scale: Optional[float] = None, attn_drop_rate: float = 0.0,
                 proj_drop_rate: float = 0.0, window_size: int = 1):
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f"LocallygroupedSelfAttention: embed_dims {embed_dims} is not "
                             f"divisible by num_heads {num_heads}")
        self.embed_dims, self.num_heads, self.window_size = embed_dims, num_heads, window_size
        self.scale = qk_scale or (embed_dims // num_heads) ** -0.5
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop_rate)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop_rate)

    def _window_mask(self, hp: int, wp: int, pad_b: int, pad_r: int,
                     device: torch.device) -> torch.Tensor:
        """(1, windows, ws * ws, ws * ws) additive mask, with MMSeg's zero-pad behaviour."""
        ws = self.window_size
        mask = torch.zeros((1, hp, wp), device=device)
        mask[:, -pad_b:, :] = 1  # pad_b == 0 selects every row (MMSeg's behaviour, see class)
        mask[:, :, -pad_r:] = 1
        mask = mask.reshape(1, hp // ws, ws, wp // ws, ws).transpose(2, 3)
        mask = mask.reshape(1, (hp // ws) * (wp // ws), ws * ws)
        attn_mask = mask.unsqueeze(2) - mask.unsqueeze(3)
        return attn_mask.masked_fill(attn_mask != 0, -1000.0).masked_fill(attn_mask == 0, 0.0)

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        """Args: x: (N, H * W, C) tokens; hw_shape: (H, W). Returns: (N, H * W, C)."""
        b, n, c = x.shape
        h, w = hw_shape
        ws = self.window_size
        x = x.view(b, h, w, c)
        pad_r, pad_b = (ws - w % ws) % ws, (ws - h % ws) % ws
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        hp, wp = x.shape[1:3]
        gh, gw = hp // ws, wp // ws
        attn_mask = self._window_mask(hp, wp, pad_b, pad_r, x.device)

        # (N, gh, gw, ws, ws, C) windows -> q, k, v of (N, windows, heads, ws * ws, head_dim)
        x = x.reshape(b, gh, ws, gw, ws, c).transpose(2, 3)
        qkv = self.qkv(x).reshape(b, gh * gw, ws * ws, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(3, 0, 1, 4, 2, 5)
        attn = (q @ k.transpose(-2, -1)) * self.scale + attn_mask.unsqueeze(2)
        attn = self.attn_drop(attn.softmax(dim=-1))
        out = (attn @ v).transpose(2, 3).reshape(b, gh, gw, ws, ws, c)
        out = out.transpose(2, 3).reshape(b, hp, wp, c)[:, :h, :w, :]
        return self.proj_drop(self.proj(out.reshape(b, n, c)))


class LSAEncoderLayer(nn.Module):
    """``x + drop_path(lsa(norm1(x)))`` then ``x + drop_path(ffn(norm2(x)))`` (SVT's LSA block).

    Args:
        embed_dims: token dimension.
        num_heads: attention heads.
        feedforward_channels: hidden channels of the FFN.
        drop_rate: dropout after the attention projection and inside the FFN.
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth of both branches (the FFN has its own DropPath too).
        num_fcs: linears of the FFN.
        qkv_bias: bias of the attention's ``qkv``.
        qk_scale: logit scale; None means ``head_dim ** -0.5``.
        act_cfg: activation of the FFN.
        norm_cfg: ``norm1`` and ``norm2``.
        window_size: side of the attention windows.

    Shape:
        (N, H * W, embed_dims) -> (N, H * W, embed_dims).
    """

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, num_fcs: int = 2, qkv_bias: bool = True,
                 qk_scale: Optional[float] = None, act_cfg: Mapping = dict(type="GELU"),
                 norm_cfg: Mapping = dict(type="LN"), window_size: int = 1):
        super().__init__()
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = LocallygroupedSelfAttention(embed_dims, num_heads, qkv_bias, qk_scale,
                                                attn_drop_rate, drop_rate, window_size)
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(embed_dims=embed_dims, feedforward_channels=feedforward_channels,
                       num_fcs=num_fcs, ffn_drop=drop_rate,
                       dropout_layer=dict(type="DropPath", drop_prob=drop_path_rate),
                       act_cfg=act_cfg, add_identity=False)
        self.drop_path = _drop_path(drop_path_rate)

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        """Args: x: (N, H * W, C) tokens; hw_shape: (H, W). Returns: (N, H * W, C)."""
        x = x + self.drop_path(self.attn(self.norm1(x), hw_shape))
        return x + self.drop_path(self.ffn(self.norm2(x)))


class ConditionalPositionEncoding(nn.Module):
    """The position encoding generator (PEG): a depthwise 3x3 conv of the token map.

    With ``stride == 1`` the conv output is added to the tokens (a residual); otherwise it
    replaces them.

    Args:
        in_channels: token dimension in.
        embed_dims: token dimension out (the conv has ``embed_dims`` groups).
        stride: stride of the conv.

    Shape:
        (N, H * W, C) -> (N, H' * W', embed_dims).
    """

    def __init__(self, in_channels: int, embed_dims: int = 768, stride: int = 1):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dims, kernel_size=3, stride=stride, padding=1,
                              bias=True, groups=embed_dims)
        self.stride = stride

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        """Args: x: (N, H * W, C) tokens; hw_shape: (H, W). Returns: (N, H' * W', embed_dims)."""
        feat = nlc_to_nchw(x, hw_shape)
        out = self.proj(feat)
        if self.stride == 1:
            out = out + feat
        return nchw_to_nlc(out)
