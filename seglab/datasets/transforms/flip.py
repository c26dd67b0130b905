"""``RandomFlip``: flip image and label maps together."""
from __future__ import annotations

import warnings
from typing import Dict, Optional

import numpy as np

from ...errors import ConfigError
from ...registry import TRANSFORMS
from .base import BaseTransform
from .deferred import apply_deferred_normalize, has_pending_pad
from .image_ops import imflip

_DIRECTIONS = ("horizontal", "vertical")


@TRANSFORMS.register_module()
class RandomFlip(BaseTransform):
    """Flip with probability ``prob`` (``np.random.rand``) unless ``results['flip']`` is set.

    ``MultiScaleFlipAug`` sets ``flip`` and ``flip_direction``; ``prob`` may then be None.

    Args:
        prob: flip probability in [0, 1].
        direction: ``'horizontal'`` or ``'vertical'``.
        flip_ratio: deprecated MMSegmentation name of ``prob``.
    """

    supports_deferred_norm = True  # a flip only moves pixels

    def __init__(self, prob: Optional[float] = None, direction: str = "horizontal",
                 flip_ratio: Optional[float] = None):
        if flip_ratio is not None:
            if prob is not None:
                raise ConfigError("RandomFlip: give prob only (flip_ratio is its deprecated name).")
            warnings.warn("RandomFlip(flip_ratio=...) is deprecated; use prob=...", stacklevel=2)
            prob = flip_ratio
        if prob is not None and not 0 <= prob <= 1:
            raise ConfigError(f"RandomFlip(prob={prob!r}) must be in [0, 1].")
        if direction not in _DIRECTIONS:
            raise ConfigError(f"RandomFlip(direction='{direction}') must be one of "
                              f"{', '.join(_DIRECTIONS)}.")
        self.prob = prob
        self.direction = direction

    def transform(self, results: Dict) -> Dict:
        if "flip" not in results:
            if self.prob is None:
                raise ConfigError("RandomFlip(prob=None) only works inside MultiScaleFlipAug, "
                                  "which decides the flip; set prob (e.g. 0.5) for training.")
            results["flip"] = bool(np.random.rand() < self.prob)
        if "flip_direction" not in results:
            results["flip_direction"] = self.direction
        if results["flip"]:
            if has_pending_pad(results):
                apply_deferred_normalize(results)  # the recorded pad region would move
            direction = results["flip_direction"]
            results["img"] = np.ascontiguousarray(imflip(results["img"], direction))
            for key in results.get("seg_fields", []):
                results[key] = np.ascontiguousarray(imflip(results[key], direction))
        return results
