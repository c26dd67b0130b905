"""Conversions between token sequences (N, L, C) and feature maps (N, C, H, W).

Transformer backbones work on (N, L, C) tokens with ``L = H * W`` in row-major order (what
``x.flatten(2).transpose(1, 2)`` produces) and hand (N, C, H, W) maps to the heads
(``mmseg.models.utils.shape_convert``).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch


def _check_hw(hw_shape: Sequence[int]) -> tuple:
    if len(hw_shape) != 2:
        raise ValueError(f"hw_shape must be (H, W), got {tuple(hw_shape)!r}")
    return int(hw_shape[0]), int(hw_shape[1])


def _check_nlc(x: torch.Tensor, hw_shape: Sequence[int]) -> tuple:
    h, w = _check_hw(hw_shape)
    if x.ndim != 3:
        raise ValueError(f"expected a (N, L, C) token tensor, got shape {tuple(x.shape)}")
    if x.shape[1] != h * w:
        raise ValueError(f"sequence length {x.shape[1]} of the (N, L, C) tensor "
                         f"{tuple(x.shape)} does not equal H * W = {h} * {w} = {h * w}")
    return h, w


def _check_nchw(x: torch.Tensor) -> None:
    if x.ndim != 4:
        raise ValueError(f"expected a (N, C, H, W) feature map, got shape {tuple(x.shape)}")


def nlc_to_nchw(x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
    """(N, L, C) tokens -> (N, C, H, W) map.

    Args:
        x: (N, H * W, C) tensor.
        hw_shape: (H, W) of the map.

    Returns:
        (N, C, H, W) tensor.

    Raises:
        ValueError: ``x`` is not 3-D or ``L != H * W``.
    """
    h, w = _check_nlc(x, hw_shape)
    n, _, c = x.shape
    return x.transpose(1, 2).reshape(n, c, h, w)


def nchw_to_nlc(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) map -> (N, H * W, C) tokens (contiguous).

    Raises:
        ValueError: ``x`` is not 4-D.
    """
    _check_nchw(x)
    return x.flatten(2).transpose(1, 2).contiguous()


def nchw2nlc2nchw(module: Callable[[torch.Tensor], torch.Tensor],
                  x: torch.Tensor) -> torch.Tensor:
    """Apply a token-wise ``module`` (e.g. LayerNorm over C) to a (N, C, H, W) map.

    Args:
        module: maps (N, L, C) -> (N, L, C).
        x: (N, C, H, W) tensor.

    Returns:
        (N, C, H, W) tensor.
    """
    _check_nchw(x)
    n, c, h, w = x.shape
    out = module(x.flatten(2).transpose(1, 2))
    return out.transpose(1, 2).reshape(n, c, h, w)


def nlc2nchw2nlc(module: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                 hw_shape: Sequence[int]) -> torch.Tensor:
    """Apply a map-wise ``module`` (e.g. a Conv2d) to (N, L, C) tokens.

    Args:
        module: maps (N, C, H, W) -> (N, C', H', W').
        x: (N, H * W, C) tensor.
        hw_shape: (H, W) of the map.

    Returns:
        (N, H' * W', C') tensor.
    """
    h, w = _check_nlc(x, hw_shape)
    n, _, c = x.shape
    out = module(x.transpose(1, 2).reshape(n, c, h, w))
    return out.flatten(2).transpose(1, 2)
