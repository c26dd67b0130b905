"""``RandomRotate``: rotate image (bilinear) and label maps (nearest) by a random angle."""
from __future__ import annotations

import numbers
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

from ...errors import ConfigError
from ...registry import TRANSFORMS
from .base import BaseTransform
from .image_ops import imrotate


def degree_range(owner: str, degree) -> Tuple[float, float]:
    """``(min, max)`` degrees from a pair, or from ``d > 0`` as ``(-d, d)``."""
    if isinstance(degree, numbers.Number):
        if degree <= 0:
            raise ConfigError(f"{owner}(degree={degree!r}) must be positive.")
        degree = (-degree, degree)
    if not (isinstance(degree, (tuple, list)) and len(degree) == 2):
        raise ConfigError(f"{owner}(degree={degree!r}): expected (min, max) or a number.")
    return tuple(degree)


@TRANSFORMS.register_module()
class RandomRotate(BaseTransform):
    """Rotate with probability ``prob`` by an angle drawn uniformly from ``degree``.

    As MMSegmentation, both random numbers are drawn on every call (``np.random.rand`` then
    ``np.random.uniform``), whether or not the sample is rotated.

    Args:
        prob: rotation probability.
        degree: ``(min, max)`` in degrees, or ``d > 0`` for ``(-d, d)``.
        pad_val: image border value (a scalar fills every channel).
        seg_pad_val: label border value.
        center: rotation centre ``(x, y)``; the image centre when None.
        auto_bound: grow the output to hold the whole rotated image.
    """

    def __init__(self, prob: float, degree: Union[float, Sequence[float]],
                 pad_val: Union[float, Sequence[float]] = 0, seg_pad_val: int = 255,
                 center: Optional[Tuple[float, float]] = None, auto_bound: bool = False):
        if not 0 <= prob <= 1:
            raise ConfigError(f"RandomRotate(prob={prob!r}) must be in [0, 1].")
        degree = degree_range("RandomRotate", degree)
        if center is not None and auto_bound:
            raise ConfigError("RandomRotate: `auto_bound` conflicts with `center`; set only one.")
        self.prob = prob
        self.degree = tuple(degree)
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val
        self.center = tuple(center) if center is not None else None
        self.auto_bound = auto_bound

    def transform(self, results: Dict) -> Dict:
        rotate = np.random.rand() < self.prob
        angle = np.random.uniform(min(*self.degree), max(*self.degree))
        if rotate:
            results["img"] = imrotate(results["img"], angle, center=self.center,
                                      border_value=self.pad_val, auto_bound=self.auto_bound)
            for key in results.get("seg_fields", []):
                results[key] = imrotate(results[key], angle, center=self.center,
                                        border_value=self.seg_pad_val, interpolation="nearest",
                                        auto_bound=self.auto_bound)
            if self.auto_bound:
                # MMSeg leaves img_shape stale here; the real size keeps un-padding correct.
                results["img_shape"] = results["img"].shape
        return results
