"""Resizing BEiT relative position bias tables to another patch grid, with MMSeg's numbers.

MMSegmentation 0.x (``BEiT.resize_rel_pos_embed``) resamples each head's (S, S) table of a
checkpoint to (D, D) (S = 2 * src_grid - 1, D = 2 * dst_grid - 1) with scipy's ``interp2d(kind=
'cubic')``: the source offsets are not 0, +-1, +-2, ... but a geometric progression whose ratio
is found by bisection so that the outermost offset reaches D // 2, which keeps the centre of the
table (near offsets) as it is and stretches the edges. ``interp2d`` on a grid fits FITPACK's
interpolating bicubic spline (``regrid``, s=0: interior knots at all but the second and the
second-last points, i.e. not-a-knot) and evaluates it at the integer offsets, clamped to the
source range. A tensor-product interpolating spline is separable, so here one (D, S) matrix ``W``
maps the table as ``W @ table @ W.T``; numpy only (scipy is not needed at run time).
"""
from __future__ import annotations

from typing import List

import numpy as np
import torch

NUM_EXTRA_TOKENS = 3  # cls->token, token->cls and cls->cls biases, kept at the end of the table


def geometric_offsets(src_size: int, dst_size: int) -> List[float]:
    """MMSeg's source offsets: ``-d_n, ..., -d_1, 0, d_1, ..., d_n`` with ``d_i = sum q**j``."""
    left, right = 1.01, 1.5
    while right - left > 1e-6:  # the same bisection, float for float
        q = (left + right) / 2.0
        if (1.0 - q ** (src_size // 2)) / (1.0 - q) > dst_size // 2:
            right = q
        else:
            left = q
    dis, cur = [], 1.0
    for i in range(src_size // 2):
        dis.append(cur)
        cur += q ** (i + 1)
    return [-d for d in reversed(dis)] + [0.0] + dis


def _cubic_bspline_basis(knots: np.ndarray, u: np.ndarray) -> np.ndarray:
    """(len(u), len(knots) - 4) values of the cubic B-splines on ``knots`` (Cox-de Boor)."""
    u = np.clip(u, knots[0], knots[-1])[:, None]
    basis = ((knots[:-1] <= u) & (u < knots[1:])).astype(np.float64)
    last = np.flatnonzero(knots[:-1] < knots[1:])[-1]  # the right end closes the last interval
    basis[u[:, 0] >= knots[-1], last] = 1.0
    for degree in range(1, 4):
        lo, hi = knots[:-degree - 1], knots[degree:-1]
        lo1, hi1 = knots[1:-degree], knots[degree + 1:]
        left = np.divide(u - lo, hi - lo, out=np.zeros((len(u), len(lo))), where=hi > lo)
        right = np.divide(hi1 - u, hi1 - lo1, out=np.zeros((len(u), len(lo1))), where=hi1 > lo1)
        basis = left * basis[:, :-1] + right * basis[:, 1:]
    return basis


def spline_interpolation_matrix(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(len(dst), len(src)) ``W``: ``W @ f(src)`` is the not-a-knot cubic spline of f at dst."""
    knots = np.concatenate([[src[0]] * 4, src[2:-2], [src[-1]] * 4])
    collocation = _cubic_bspline_basis(knots, src)
    return np.linalg.solve(collocation.T, _cubic_bspline_basis(knots, dst).T).T


def resize_rel_pos_bias_table(table: torch.Tensor, dst_grid: int) -> torch.Tensor:
    """A ((2 * g - 1) ** 2 + 3, heads) table for a square g x g grid -> the same for ``dst_grid``.

    The three extra-token rows are kept as they are; the dtype is kept.
    """
    src_size = int((table.shape[0] - NUM_EXTRA_TOKENS) ** 0.5)
    dst_size = 2 * dst_grid - 1
    if src_size == dst_size:
        return table
    half = dst_size // 2.0
    weights = spline_interpolation_matrix(np.array(geometric_offsets(src_size, dst_size)),
                                          np.arange(-half, half + 0.1, 1.0))
    grid = table[:-NUM_EXTRA_TOKENS].detach().to("cpu", torch.float32).double().numpy()
    grid = grid.reshape(src_size, src_size, -1)  # rows: y offsets, columns: x offsets
    resized = np.einsum("ia,abh,jb->ijh", weights, grid, weights).reshape(dst_size ** 2, -1)
    resized = torch.from_numpy(resized).to(table.dtype)
    return torch.cat((resized, table[-NUM_EXTRA_TOKENS:].detach().cpu()), dim=0)
