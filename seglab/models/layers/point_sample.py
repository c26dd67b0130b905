"""``point_sample``: features at continuous [0, 1]^2 coordinates (``mmcv.ops.point_sample``).

Pure PyTorch: :func:`torch.nn.functional.grid_sample` on the coordinates mapped to [-1, 1], so a
point (x, y) = (0, 0) is the top-left corner of the map and (1, 1) its bottom-right corner (with
``align_corners=False``, the default, as in mmcv: pixel (i, j) has its centre at
((j + 0.5) / W, (i + 0.5) / H)).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def point_sample(input: torch.Tensor, points: torch.Tensor,  # noqa: A002 - mmcv's name
                 align_corners: bool = False, mode: str = "bilinear",
                 padding_mode: str = "zeros") -> torch.Tensor:
    """Sample ``input`` at ``points``.

    Args:
        input: (N, C, H, W) maps.
        points: (N, P, 2) or (N, Hp, Wp, 2) coordinates in [0, 1], (x, y) order.
        align_corners: ``grid_sample``'s: with False, 0 and 1 are the outer edges of the border
            pixels; with True, the centres of the border pixels.
        mode: ``'bilinear'`` or ``'nearest'`` (labels).
        padding_mode: value outside the map: ``'zeros'``, ``'border'`` or ``'reflection'``.

    Returns:
        (N, C, P) for (N, P, 2) points, else (N, C, Hp, Wp).
    """
    if points.dim() not in (3, 4) or points.shape[-1] != 2 or points.shape[0] != input.shape[0]:
        raise ValueError(f"point_sample needs points (N, P, 2) or (N, Hp, Wp, 2) with N = "
                         f"{input.shape[0]} (the input's batch), got {tuple(points.shape)}")
    flat = points.dim() == 3
    grid = points.unsqueeze(2) if flat else points
    out = F.grid_sample(input, grid * 2.0 - 1.0, mode=mode, padding_mode=padding_mode,
                        align_corners=align_corners)
    return out.squeeze(3) if flat else out
