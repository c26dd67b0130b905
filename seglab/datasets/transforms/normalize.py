"""``Normalize``: ``(img - mean) / std`` after an optional BGR->RGB swap, deferred by default."""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from ...errors import ConfigError
from ...registry import TRANSFORMS
from .base import BaseTransform
from .deferred import DEFERRED
from .image_ops import imnormalize


@TRANSFORMS.register_module()
class Normalize(BaseTransform):
    """Normalise the image and record ``img_norm_cfg = dict(mean, std, to_rgb)``.

    By default the pixels are left as they are (uint8 stays uint8) and ``img_norm_cfg`` gets
    ``deferred=True``: ``seglab.datasets.collate.prepare_batch`` applies the normalisation on the
    device, with the same result as the eager one (see :mod:`.deferred`). Transforms that need
    normalised values normalise eagerly first, so any pipeline order gives MMSegmentation's values.

    Args:
        mean: per-channel means (in the output channel order).
        std: per-channel standard deviations.
        to_rgb: swap BGR to RGB first.
        defer: seglab only: set False to normalise here in float32, as MMSegmentation does.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], to_rgb: bool = True,
                 defer: bool = True):
        self.mean = np.array(mean, dtype=np.float32)
        self.std = np.array(std, dtype=np.float32)
        if self.mean.ndim != 1 or self.mean.shape != self.std.shape:
            raise ConfigError(f"Normalize(mean={mean!r}, std={std!r}): give one mean and one std "
                              f"per channel.")
        if np.any(self.std == 0):
            raise ConfigError(f"Normalize(std={std!r}) has a zero; std values divide the image.")
        self.to_rgb = to_rgb
        self.defer = defer

    def transform(self, results: Dict) -> Dict:
        img = results["img"]
        channels = img.shape[2] if img.ndim == 3 else 1
        if channels != self.mean.size or (self.to_rgb and channels != 3):
            raise ConfigError(
                f"Normalize(mean={self.mean.tolist()}, to_rgb={self.to_rgb}) does not fit an image "
                f"with {channels} channel(s) ({results.get('filename')}); match mean/std to the "
                f"channels, and use to_rgb only for BGR images.")
        cfg = dict(mean=self.mean, std=self.std, to_rgb=self.to_rgb)
        if self.defer:
            cfg[DEFERRED] = True
        else:
            results["img"] = imnormalize(results["img"], self.mean, self.std, self.to_rgb)
        results["img_norm_cfg"] = cfg
        return results
