"""A stand-in ``mmcv.ops`` for mmcv-lite (which ships no compiled ops).

MMSegmentation 1.2.2 imports ``mmcv.ops`` unguarded in a few modules (point sampling, the focal
loss, the SAN head, mask classification), so ``import mmseg.models`` fails with mmcv-lite. This
module is put in ``sys.modules['mmcv.ops']`` before mmseg is imported: ``point_sample`` is
pure PyTorch (``grid_sample`` on normalised [0, 1] point coordinates, as mmcv's), and every
other name is a placeholder that raises when used. FCN, PSPNet, DeepLabV3 and UPerNet use none.
"""
from __future__ import annotations

import sys
import types

import torch
import torch.nn.functional as F


def point_sample(input: torch.Tensor, points: torch.Tensor, align_corners: bool = False,
                 **kwargs) -> torch.Tensor:
    """Sample ``input`` (N, C, H, W) at ``points`` (N, P, 2) or (N, Hp, Wp, 2) in [0, 1] (x, y)."""
    as_grid = points.dim() == 4
    grid = points if as_grid else points.unsqueeze(2)
    out = F.grid_sample(input, 2.0 * grid - 1.0, align_corners=align_corners, **kwargs)
    return out if as_grid else out.squeeze(3)


class _CompiledOp:
    """Placeholder for a compiled mmcv op: building or calling it raises."""

    def __init__(self, name: str) -> None:
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"mmcv.ops.{self.__name__} is a compiled op and mmcv-lite has none "
                           "(the side-by-side harness's stand-in mmcv.ops offers only "
                           "point_sample); benchmark a model that does not need it.")


def install() -> None:
    """Make ``import mmcv.ops`` give the stand-in (before mmseg is imported)."""
    module = types.ModuleType("mmcv.ops")
    module.__doc__ = __doc__
    module.point_sample = point_sample

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _CompiledOp(name)

    module.__getattr__ = __getattr__
    sys.modules["mmcv.ops"] = module
    mmcv = sys.modules.get("mmcv")
    if mmcv is None:
        try:
            import mmcv
        except ImportError:  # no mmcv here (seglab's own environment, the tests)
            return
    mmcv.ops = module
