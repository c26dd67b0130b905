"""Swin's window attention: ``WindowMSA`` and its shifted-window wrapper ``ShiftWindowMSA``.

Same module names, buffers and numerics as MMSegmentation 0.x's ``mmseg.models.backbones.swin``:
``w_msa.relative_position_bias_table`` (a parameter), ``w_msa.relative_position_index`` (a
persistent buffer, so it is in the state_dict as in MMSeg's checkpoints), ``w_msa.qkv`` and
``w_msa.proj``. The shifted windows use MMSeg's attention mask (-100 between tokens that come from
different regions of the rolled map) and maps that are not window multiples are zero-padded at
the bottom/right, then cropped back.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

from ...errors import ConfigError
from ..layers.drop import build_dropout
from ..layers.pos_embed import relative_position_bias, swin_relative_position_index

# MMSeg's value for "different region": large enough that softmax gives ~0, finite so that a
# fully masked row cannot produce NaN.
MASK_VALUE = -100.0


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """Cut a map into non-overlapping windows.

    Args:
        x: (B, H, W, C) map with H and W multiples of ``window_size``.
        window_size: window side.

    Returns:
        (B * nH * nW, window_size, window_size, C) windows, batch-major then row-major.
    """
    b, h, w, c = x.shape
    x = x.view(b, h // window_size, window_size, w // window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size, window_size, c)


def window_reverse(windows: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`.

    Args:
        windows: (B * nH * nW, ws, ws, C) windows.
        h: map height (a multiple of ws).
        w: map width (a multiple of ws).

    Returns:
        (B, h, w, C) map.
    """
    ws = windows.shape[1]
    b = windows.shape[0] // ((h // ws) * (w // ws))
    x = windows.view(b, h // ws, w // ws, ws, ws, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, -1)


def shift_window_mask(h_pad: int, w_pad: int, window_size: int, shift_size: int,
                      device: Optional[torch.device] = None) -> torch.Tensor:
    """The additive attention mask of the shifted windows (MMSeg's construction).

    After rolling the map by ``-shift_size``, a window at the bottom/right border holds tokens
    from up to four regions that were not neighbours; each region gets its own label and token
    pairs with different labels get :data:`MASK_VALUE`.

    Args:
        h_pad: padded map height (a multiple of ``window_size``).
        w_pad: padded map width.
        window_size: window side.
        shift_size: shift in [1, window_size).
        device: device of the mask.

    Returns:
        (nW, ws * ws, ws * ws) float mask with values 0 and -100, nW = (h_pad / ws) * (w_pad / ws).
    """
    labels = torch.zeros((1, h_pad, w_pad, 1), device=device)
    bounds = (slice(0, -window_size), slice(-window_size, -shift_size), slice(-shift_size, None))
    region = 0
    for hs in bounds:
        for ws in bounds:
            labels[:, hs, ws, :] = region
            region += 1
    windows = window_partition(labels, window_size).view(-1, window_size * window_size)
    diff = windows.unsqueeze(1) - windows.unsqueeze(2)
    return diff.masked_fill(diff != 0, MASK_VALUE).masked_fill(diff == 0, 0.0)


class WindowMSA(nn.Module):
    """Multi-head self-attention inside a window, with a learned relative position bias.

    Args:
        embed_dims: token dimension.
        num_heads: attention heads (``embed_dims`` must be divisible by it).
        window_size: (Wh, Ww) or an int.
        qkv_bias: bias of the fused ``qkv`` Linear.
        qk_scale: scale of the logits; None means ``head_dims ** -0.5``.
        attn_drop_rate: dropout on the attention weights.
        proj_drop_rate: dropout after ``proj``.

    Shape:
        (num_windows * B, Wh * Ww, embed_dims) -> same.
    """

    def __init__(self, embed_dims: int, num_heads: int, window_size: Sequence[int],
                 qkv_bias: bool = True, qk_scale: Optional[float] = None,
                 attn_drop_rate: float = 0.0, proj_drop_rate: float = 0.0):
        super().__init__()
        if embed_dims % num_heads:
            raise ConfigError(f"WindowMSA: embed_dims={embed_dims} is not divisible by "
                              f"num_heads={num_heads}")
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.window_size = _pair(window_size)
        self.scale = qk_scale or (embed_dims // num_heads) ** -0.5  # MMSeg: 0 also means default
        wh, ww = self.window_size
        # Zeros, as in MMSeg: its SwinTransformer.init_weights never calls WindowMSA's init.
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        self.register_buffer("relative_position_index", swin_relative_position_index((wh, ww)))
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop_rate)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop_rate)

    def init_weights(self) -> None:
        """Truncated-normal table (std 0.02), as MMSeg's ``WindowMSA.init_weights``."""
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Attend within each window.

        Args:
            x: (num_windows * B, N, C) tokens, N = Wh * Ww.
            mask: (num_windows, N, N) additive mask (0 or negative) or None.

        Returns:
            (num_windows * B, N, C) tokens.
        """
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B', heads, N, head_dims)
        bias = relative_position_bias(self.relative_position_bias_table,
                                      self.relative_position_index).unsqueeze(0)
        if mask is not None:
            windows = mask.shape[0]
            bias = (bias + mask.unsqueeze(1)).repeat(b // windows, 1, 1, 1)
        # One fused kernel instead of softmax(q k^T * scale + bias) v materialised step by step.
        drop = self.attn_drop.p if self.attn_drop.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), dropout_p=drop,
                                             scale=self.scale)
        out = out.transpose(1, 2).reshape(b, n, c)
        return self.proj_drop(self.proj(out))


class ShiftWindowMSA(nn.Module):
    """Window attention over a token map, optionally on windows shifted by ``shift_size``.

    Args:
        embed_dims: token dimension.
        num_heads: attention heads.
        window_size: window side.
        shift_size: cyclic shift towards the bottom-right, in [0, window_size); 0 means plain
            windows.
        qkv_bias: bias of ``w_msa.qkv``.
        qk_scale: logit scale override.
        attn_drop_rate: dropout on the attention weights.
        proj_drop_rate: dropout after the projection.
        dropout_layer: dropout on the output (``dict(type='DropPath', drop_prob=...)``).

    Shape:
        ((B, H * W, C), (H, W)) -> (B, H * W, C).
    """

    def __init__(self, embed_dims: int, num_heads: int, window_size: int, shift_size: int = 0,
                 qkv_bias: bool = True, qk_scale: Optional[float] = None,
                 attn_drop_rate: float = 0.0, proj_drop_rate: float = 0.0,
                 dropout_layer: Optional[Mapping] = dict(type="DropPath", drop_prob=0.0)):
        super().__init__()
        if not 0 <= shift_size < window_size:
            raise ConfigError(f"ShiftWindowMSA: shift_size={shift_size} must be in "
                              f"[0, window_size={window_size})")
        self.window_size, self.shift_size = window_size, shift_size
        self.w_msa = WindowMSA(embed_dims=embed_dims, num_heads=num_heads,
                               window_size=_pair(window_size), qkv_bias=qkv_bias,
                               qk_scale=qk_scale, attn_drop_rate=attn_drop_rate,
                               proj_drop_rate=proj_drop_rate)
        self.drop = build_dropout(dropout_layer) if dropout_layer else nn.Identity()

    def forward(self, query: torch.Tensor, hw_shape: Tuple[int, int]) -> torch.Tensor:
        """Args: query: (B, H * W, C); hw_shape: (H, W). Returns: (B, H * W, C)."""
        b, length, c = query.shape
        h, w = hw_shape
        if length != h * w:
            raise ValueError(f"ShiftWindowMSA: {length} tokens do not form the {h} x {w} map")
        ws, shift = self.window_size, self.shift_size
        x = query.view(b, h, w, c)
        pad_r, pad_b = (ws - w % ws) % ws, (ws - h % ws) % ws
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        h_pad, w_pad = x.shape[1], x.shape[2]
        mask = None
        if shift > 0:
            x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
            mask = shift_window_mask(h_pad, w_pad, ws, shift, device=x.device)
        windows = window_partition(x, ws).view(-1, ws * ws, c)
        windows = self.w_msa(windows, mask=mask)
        x = window_reverse(windows.view(-1, ws, ws, c), h_pad, w_pad)
        if shift > 0:
            x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
        x = x[:, :h, :w, :].reshape(b, h * w, c)
        return self.drop(x)
