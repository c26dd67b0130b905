"""Position embeddings of vision transformers: absolute (resized to other inputs) and relative.

* :func:`resize_pos_embed`: ViT's learned absolute embedding (extra tokens + an H x W grid)
  interpolated to another grid, as ``mmseg.models.backbones.VisionTransformer.resize_pos_embed``.
* :func:`swin_relative_position_index`: the ``relative_position_index`` buffer of Swin's
  ``WindowMSA`` (MMSeg's ``double_step_seq`` construction) into a
  ((2 * Wh - 1) * (2 * Ww - 1), num_heads) ``relative_position_bias_table``.
* :func:`beit_relative_position_index`: BEiT's index, the Swin table plus three entries for the
  cls token (cls->token, token->cls, cls->cls).
* :func:`relative_position_bias`: gathers the (num_heads, L, L) bias from a table and an index.
* :func:`resize_relative_position_bias_table`: a table for another window size (bicubic, as
  MMSeg's Swin does when loading a checkpoint trained with another window).
"""
from __future__ import annotations

from typing import Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch.nn.modules.utils import _pair

WindowSize = Union[int, Tuple[int, int]]


def resize_pos_embed(pos_embed: torch.Tensor, input_shape: Sequence[int],
                     pos_shape: Sequence[int], mode: str = "bicubic",
                     num_extra_tokens: int = 1) -> torch.Tensor:
    """Resize a (1, extra + pos_h * pos_w, C) absolute position embedding to another grid.

    The extra (cls) tokens are kept unchanged; the grid, row-major, is interpolated to
    ``input_shape`` with ``align_corners=False``.

    Args:
        pos_embed: (B, num_extra_tokens + pos_h * pos_w, C) embedding.
        input_shape: target grid (H', W') (the input size divided by the patch size).
        pos_shape: grid (pos_h, pos_w) the embedding was trained for.
        mode: ``F.interpolate`` mode (MMSeg's ViT default: ``'bicubic'``).
        num_extra_tokens: tokens before the grid (1: ViT's cls token; 0: a bare grid).

    Returns:
        (B, num_extra_tokens + H' * W', C) embedding.

    Raises:
        ValueError: ``pos_embed`` is not 3-D or its length is not ``extra + pos_h * pos_w``.
    """
    if pos_embed.ndim != 3:
        raise ValueError(f"pos_embed must be (B, L, C), got shape {tuple(pos_embed.shape)}")
    pos_h, pos_w = (int(s) for s in pos_shape)
    if pos_embed.shape[1] != num_extra_tokens + pos_h * pos_w:
        raise ValueError(
            f"pos_embed of shape {tuple(pos_embed.shape)} does not hold {num_extra_tokens} extra "
            f"token(s) + a {pos_h} x {pos_w} grid ({num_extra_tokens + pos_h * pos_w} tokens)")
    b, _, c = pos_embed.shape
    extra = pos_embed[:, :num_extra_tokens]
    grid = pos_embed[:, num_extra_tokens:].reshape(b, pos_h, pos_w, c).permute(0, 3, 1, 2)
    size = tuple(int(s) for s in input_shape)
    align = False if mode in ("linear", "bilinear", "bicubic", "trilinear") else None
    grid = F.interpolate(grid, size=size, mode=mode, align_corners=align)
    grid = grid.flatten(2).transpose(1, 2)
    return torch.cat((extra, grid), dim=1)


def double_step_seq(step1: int, len1: int, step2: int, len2: int) -> torch.Tensor:
    """(1, len1 * len2) row-major sums ``i * step1 + j * step2`` (MMSeg's ``WindowMSA`` helper)."""
    seq1 = torch.arange(0, step1 * len1, step1)
    seq2 = torch.arange(0, step2 * len2, step2)
    return (seq1[:, None] + seq2[None, :]).reshape(1, -1)


def swin_relative_position_index(window_size: WindowSize) -> torch.Tensor:
    """Swin's pairwise index into its relative position bias table.

    For tokens ``a = (i1, j1)`` and ``b = (i2, j2)`` of a Wh x Ww window (row-major), the entry is
    ``(i1 - i2 + Wh - 1) * (2 * Ww - 1) + (j1 - j2 + Ww - 1)``.

    Args:
        window_size: Ww = Wh as an int, or (Wh, Ww).

    Returns:
        (Wh * Ww, Wh * Ww) int64 tensor with values in [0, (2 * Wh - 1) * (2 * Ww - 1)).
    """
    wh, ww = _pair(window_size)
    coords = double_step_seq(2 * ww - 1, wh, 1, ww)
    # coords[a] + coords[flipped b] = offset(a) - offset(b) + the (Wh - 1, Ww - 1) shift.
    return (coords + coords.T).flip(1).contiguous()


def beit_num_relative_distance(window_size: WindowSize) -> int:
    """Rows of BEiT's relative position bias table: the Swin table + 3 cls entries."""
    wh, ww = _pair(window_size)
    return (2 * wh - 1) * (2 * ww - 1) + 3


def beit_relative_position_index(window_size: WindowSize) -> torch.Tensor:
    """BEiT's pairwise index for a cls token followed by a Wh x Ww grid of patch tokens.

    Patch pairs use the Swin index; row 0 (cls attends to a patch) is ``num - 3``, column 0
    (a patch attends to cls) ``num - 2`` and (0, 0) ``num - 1``, where ``num`` is
    :func:`beit_num_relative_distance`.

    Args:
        window_size: the patch grid, an int or (Wh, Ww).

    Returns:
        (Wh * Ww + 1, Wh * Ww + 1) int64 tensor.
    """
    wh, ww = _pair(window_size)
    num = beit_num_relative_distance((wh, ww))
    index = torch.zeros((wh * ww + 1,) * 2, dtype=torch.long)
    index[1:, 1:] = swin_relative_position_index((wh, ww))
    index[0, :] = num - 3
    index[:, 0] = num - 2
    index[0, 0] = num - 1
    return index


def relative_position_bias(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Gather the per-head attention bias from a relative position table.

    Args:
        table: (num_relative_distance, num_heads) learned bias table.
        index: (L, L) int64 index (:func:`swin_relative_position_index` or
            :func:`beit_relative_position_index`).

    Returns:
        (num_heads, L, L) bias to add to the attention logits.
    """
    if table.ndim != 2 or index.ndim != 2 or index.shape[0] != index.shape[1]:
        raise ValueError(f"expected a (num_relative_distance, num_heads) table and an (L, L) "
                         f"index, got {tuple(table.shape)} and {tuple(index.shape)}")
    length = index.shape[0]
    bias = table[index.reshape(-1)].reshape(length, length, -1)
    return bias.permute(2, 0, 1).contiguous()



def resize_relative_position_bias_table(table: torch.Tensor, dst_len: int,
                                        mode: str = "bicubic") -> torch.Tensor:
    """Resize a square-window relative position bias table to another window size.

    What MMSeg's Swin does when a checkpoint's window differs from the model's: each head's
    (2W - 1) x (2W - 1) table, as an image, is interpolated (``align_corners=False``) to the new
    side.

    Args:
        table: (L1, num_heads) table with L1 = S1 * S1.
        dst_len: rows of the wanted table, L2 = S2 * S2 (the model's own table length).
        mode: ``F.interpolate`` mode.

    Returns:
        (L2, num_heads) table; ``table`` itself when L1 == L2.

    Raises:
        ValueError: a length is not a perfect square or ``table`` is not 2-D.
    """
    if table.ndim != 2:
        raise ValueError(f"relative position bias table must be (L, num_heads), got shape "
                         f"{tuple(table.shape)}")
    src_len, heads = table.shape
    if src_len == dst_len:
        return table
    src_side, dst_side = round(src_len ** 0.5), round(dst_len ** 0.5)
    if src_side * src_side != src_len or dst_side * dst_side != dst_len:
        raise ValueError(f"cannot resize a relative position bias table of {src_len} rows to "
                         f"{dst_len}: both must be squares ((2 * window - 1) ** 2)")
    image = table.permute(1, 0).reshape(1, heads, src_side, src_side)
    align = False if mode in ("bilinear", "bicubic") else None
    image = F.interpolate(image, size=(dst_side, dst_side), mode=mode, align_corners=align)
    return image.reshape(heads, dst_len).permute(1, 0).contiguous()
