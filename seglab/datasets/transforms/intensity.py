"""Per-pixel intensity transforms of MMSegmentation 0.x: ``Rerange``, ``CLAHE``, ``RGB2Gray``,
``AdjustGamma``."""
from __future__ import annotations

import numbers
from typing import Dict, Optional, Sequence

import cv2
import numpy as np

from ...errors import ConfigError, DatasetError
from ...registry import TRANSFORMS
from .base import BaseTransform


@TRANSFORMS.register_module()
class Rerange(BaseTransform):
    """Linearly map the image's own [min, max] to [min_value, max_value] (float output).

    Args:
        min_value: new minimum.
        max_value: new maximum.
    """

    def __init__(self, min_value: float = 0, max_value: float = 255):
        if not (isinstance(min_value, numbers.Number) and isinstance(max_value, numbers.Number)
                and min_value < max_value):
            raise ConfigError(f"Rerange(min_value={min_value!r}, max_value={max_value!r}): need "
                              f"two numbers with min_value < max_value.")
        self.min_value = min_value
        self.max_value = max_value

    def transform(self, results: Dict) -> Dict:
        img = results["img"]
        low, high = np.min(img), np.max(img)
        if not low < high:
            raise DatasetError(f"Rerange: image {results.get('filename')} is constant ({low}); "
                               f"it cannot be stretched.")
        img = (img - low) / (high - low)
        results["img"] = img * (self.max_value - self.min_value) + self.min_value
        return results


@TRANSFORMS.register_module()
class CLAHE(BaseTransform):
    """Contrast Limited Adaptive Histogram Equalization on each channel (uint8, OpenCV).

    Args:
        clip_limit: contrast limit.
        tile_grid_size: ``(rows, cols)`` of tiles.
    """

    def __init__(self, clip_limit: float = 40.0, tile_grid_size: Sequence[int] = (8, 8)):
        if not isinstance(clip_limit, numbers.Number):
            raise ConfigError(f"CLAHE(clip_limit={clip_limit!r}) must be a number.")
        if not (len(tile_grid_size) == 2 and all(isinstance(t, int) for t in tile_grid_size)):
            raise ConfigError(f"CLAHE(tile_grid_size={tile_grid_size!r}) must be two ints.")
        self.clip_limit = clip_limit
        self.tile_grid_size = tuple(tile_grid_size)

    def transform(self, results: Dict) -> Dict:
        clahe = cv2.createCLAHE(float(self.clip_limit), self.tile_grid_size)
        img = results["img"]
        for i in range(img.shape[2]):
            img[:, :, i] = clahe.apply(np.array(img[:, :, i], dtype=np.uint8))
        return results


@TRANSFORMS.register_module()
class RGB2Gray(BaseTransform):
    """Weighted channel mean, repeated to ``out_channels`` (input channel count when None).

    Args:
        out_channels: channels of the output.
        weights: one weight per input channel.
    """

    def __init__(self, out_channels: Optional[int] = None,
                 weights: Sequence[float] = (0.299, 0.587, 0.114)):
        if out_channels is not None and out_channels <= 0:
            raise ConfigError(f"RGB2Gray(out_channels={out_channels!r}) must be positive.")
        self.out_channels = out_channels
        self.weights = tuple(weights)

    def transform(self, results: Dict) -> Dict:
        img = results["img"]
        if img.ndim != 3 or img.shape[2] != len(self.weights):
            raise ConfigError(f"RGB2Gray has {len(self.weights)} weights for an image of shape "
                              f"{img.shape}; give one weight per channel.")
        weights = np.array(self.weights).reshape((1, 1, -1))
        gray = (img * weights).sum(2, keepdims=True)
        img = gray.repeat(self.out_channels or weights.shape[2], axis=2)
        results["img"] = img
        results["img_shape"] = img.shape
        return results


@TRANSFORMS.register_module()
class AdjustGamma(BaseTransform):
    """Gamma correction through a 256-entry lookup table (uint8).

    Args:
        gamma: the gamma; the table maps ``i`` to ``(i / 255) ** (1 / gamma) * 255``.
    """

    def __init__(self, gamma: float = 1.0):
        if not (isinstance(gamma, numbers.Number) and gamma > 0):
            raise ConfigError(f"AdjustGamma(gamma={gamma!r}) must be a positive number.")
        self.gamma = gamma
        self._table = np.array([(i / 255.0) ** (1.0 / gamma) * 255
                                for i in np.arange(256)]).astype("uint8")

    def transform(self, results: Dict) -> Dict:
        results["img"] = cv2.LUT(np.array(results["img"], dtype=np.uint8), self._table)
        return results
