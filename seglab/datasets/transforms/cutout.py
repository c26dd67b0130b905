"""``RandomCutOut``: fill random rectangles of the image (and optionally the labels)."""
from __future__ import annotations

import numbers
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

from ...errors import ConfigError
from ...registry import TRANSFORMS
from .base import BaseTransform


@TRANSFORMS.register_module()
class RandomCutOut(BaseTransform):
    """Cutout (arXiv:1708.04552) with MMSegmentation 0.x's arguments and ``np.random`` draws.

    With probability ``prob``, draws a number of holes in ``n_holes`` and, per hole, a top-left
    corner and a shape (``cutout_shape`` as ``(w, h)`` pixels, or ``cutout_ratio`` of the image's
    ``(w, h)``), then fills it with ``fill_in`` (and label maps with ``seg_fill_in`` if set).

    Args:
        prob: cutout probability.
        n_holes: number of holes, or ``(min, max)`` (inclusive).
        cutout_shape: ``(w, h)`` or a list of candidates.
        cutout_ratio: ``(w_ratio, h_ratio)`` or a list of candidates.
        fill_in: image fill value per channel.
        seg_fill_in: label fill value (labels untouched when None).
    """

    def __init__(self, prob: float, n_holes: Union[int, Tuple[int, int]],
                 cutout_shape: Optional[Sequence] = None, cutout_ratio: Optional[Sequence] = None,
                 fill_in: Sequence[float] = (0, 0, 0), seg_fill_in: Optional[int] = None):
        if not 0 <= prob <= 1:
            raise ConfigError(f"RandomCutOut(prob={prob!r}) must be in [0, 1].")
        if (cutout_shape is None) == (cutout_ratio is None):
            raise ConfigError("RandomCutOut: set exactly one of cutout_shape and cutout_ratio.")
        if isinstance(n_holes, numbers.Number):
            n_holes = (int(n_holes), int(n_holes))
        elif not (len(n_holes) == 2 and 0 <= n_holes[0] < n_holes[1]):
            raise ConfigError(f"RandomCutOut(n_holes={n_holes!r}): expected an int or (min, max) "
                              f"with 0 <= min < max.")
        if seg_fill_in is not None and not (isinstance(seg_fill_in, int)
                                            and 0 <= seg_fill_in <= 255):
            raise ConfigError(f"RandomCutOut(seg_fill_in={seg_fill_in!r}) must be in [0, 255].")
        self.prob = prob
        self.n_holes = tuple(n_holes)
        self.fill_in = fill_in
        self.seg_fill_in = seg_fill_in
        self.with_ratio = cutout_ratio is not None
        candidates = cutout_ratio if self.with_ratio else cutout_shape
        self.candidates = candidates if isinstance(candidates, list) else [candidates]

    def transform(self, results: Dict) -> Dict:
        if np.random.rand() < self.prob:
            img = results["img"]
            h, w = img.shape[:2]
            for _ in range(np.random.randint(self.n_holes[0], self.n_holes[1] + 1)):
                x1 = np.random.randint(0, w)
                y1 = np.random.randint(0, h)
                shape = self.candidates[np.random.randint(0, len(self.candidates))]
                if self.with_ratio:
                    cut_w, cut_h = int(shape[0] * w), int(shape[1] * h)
                else:
                    cut_w, cut_h = shape
                x2, y2 = np.clip(x1 + cut_w, 0, w), np.clip(y1 + cut_h, 0, h)
                img[y1:y2, x1:x2, ...] = self.fill_in
                if self.seg_fill_in is not None:
                    for key in results.get("seg_fields", []):
                        results[key][y1:y2, x1:x2] = self.seg_fill_in
        return results
