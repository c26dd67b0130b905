"""``RandomFlip``: flip image and label maps together."""
from __future__ import annotations

import warnings
from typing import Dict, Optional, Sequence

import numpy as np

from ...errors import ConfigError
from ...registry import TRANSFORMS
from .base import BaseTransform
from .deferred import apply_deferred_normalize, has_pending_pad
from .image_ops import imflip
from .loading import _apply_label_map

_DIRECTIONS = ("horizontal", "vertical")
_DIRECTIONS_1X = _DIRECTIONS + ("diagonal",)


@TRANSFORMS.register_module()
class RandomFlip(BaseTransform):
    """Flip with probability ``prob`` (``np.random.rand``) unless ``results['flip']`` is set.

    ``MultiScaleFlipAug`` sets ``flip`` and ``flip_direction``; ``prob`` may then be None.

    MMSegmentation 1.x's forms (mmcv 2.x ``RandomFlip``) are accepted too: ``direction`` a list
    (``'diagonal'`` allowed) with ``prob`` a float (shared evenly by the directions) or a list (one
    probability per direction). These draw one direction or no flip with
    ``np.random.choice(directions + [None], p=...)`` on every call, as 1.x, and set
    ``flip_direction=None`` when not flipping. (A float ``prob`` with one direction draws
    ``np.random.rand() < prob``: the same number and outcome as 1.x's choice, but, as 0.x,
    ``flip_direction`` stays the direction when not flipping, where 1.x says None; seglab reads it
    only when ``flip`` is True.) ``swap_seg_labels`` (1.x) swaps label pairs such as left / right
    arm in the flipped label maps. ``'diagonal'`` (both axes) is accepted as a direction too.

    Args:
        prob: flip probability in [0, 1], or (1.x) one per direction.
        direction: ``'horizontal'``, ``'vertical'`` (or 1.x's ``'diagonal'``), or (1.x) a list.
        flip_ratio: deprecated MMSegmentation name of ``prob``.
        swap_seg_labels: (1.x) label pairs to swap after a flip, e.g. ``[(14, 15)]``.
    """

    supports_deferred_norm = True  # a flip only moves pixels

    def __init__(self, prob=None, direction="horizontal", flip_ratio: Optional[float] = None,
                 swap_seg_labels: Optional[Sequence[Sequence[int]]] = None):
        if flip_ratio is not None:
            if prob is not None:
                raise ConfigError("RandomFlip: give prob only (flip_ratio is its deprecated name).")
            warnings.warn("RandomFlip(flip_ratio=...) is deprecated; use prob=...", stacklevel=2)
            prob = flip_ratio
        self.choice = isinstance(prob, (list, tuple)) or isinstance(direction, (list, tuple))
        if self.choice:
            directions = [direction] if isinstance(direction, str) else list(direction)
            bad = [d for d in directions if d not in _DIRECTIONS_1X]
            probs = list(prob) if isinstance(prob, (list, tuple)) else None
            if bad or not directions:
                raise ConfigError(f"RandomFlip(direction={direction!r}): each direction must be "
                                  f"one of {', '.join(_DIRECTIONS_1X)}.")
            if probs is not None and (len(probs) != len(directions) or not 0 <= sum(probs) <= 1
                                      or min(probs) < 0):
                raise ConfigError(f"RandomFlip(prob={prob!r}, direction={direction!r}): give one "
                                  f"probability per direction, summing to at most 1.")
            if probs is None and (prob is None or not 0 <= prob <= 1):
                raise ConfigError(f"RandomFlip(prob={prob!r}) must be in [0, 1].")
            direction = directions
        else:
            if prob is not None and not 0 <= prob <= 1:
                raise ConfigError(f"RandomFlip(prob={prob!r}) must be in [0, 1].")
            if direction not in _DIRECTIONS_1X:
                raise ConfigError(f"RandomFlip(direction='{direction}') must be one of "
                                  f"{', '.join(_DIRECTIONS_1X)}.")
        for pair in swap_seg_labels or ():
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise ConfigError(f"RandomFlip(swap_seg_labels={swap_seg_labels!r}): expected "
                                  f"label pairs, e.g. [(14, 15), (16, 17)].")
        self.prob = prob
        self.direction = direction
        self.swap_seg_labels = swap_seg_labels
        # both ways of each pair, one simultaneous remap (a later pair's entry wins, as 1.x's loop)
        self._swap_map = {k: v for a, b in swap_seg_labels or () for k, v in ((a, b), (b, a))}

    def _choose_direction(self) -> Optional[str]:
        """1.x's draw: one of the directions or None (no flip)."""
        options = list(self.direction) + [None]
        if isinstance(self.prob, (list, tuple)):
            p = list(self.prob) + [1 - sum(self.prob)]
        else:
            share = self.prob / len(self.direction)
            p = [share] * len(self.direction) + [1 - self.prob]
        return options[np.random.choice(len(options), p=p)]

    def transform(self, results: Dict) -> Dict:
        if self.choice:
            direction = self._choose_direction()
            results["flip"] = direction is not None
            results["flip_direction"] = direction
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
                if self._swap_map:
                    results[key] = _apply_label_map(results[key], self._swap_map)
        return results
