"""``PhotoMetricDistortion``: random brightness, contrast, saturation and hue (uint8 out)."""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
from numpy import random

from ...registry import TRANSFORMS
from .base import BaseTransform
from .image_ops import bgr2hsv, hsv2bgr


@TRANSFORMS.register_module()
class PhotoMetricDistortion(BaseTransform):
    """MMSegmentation's photometric distortion, with the same ``np.random`` draws in the same order.

    Each step applies with probability 0.5: brightness (add ``U(-delta, delta)``), contrast (mode 0:
    right after brightness; mode 1: last), saturation (scale S in HSV) and hue (shift H in HSV,
    modulo 180). Every step clips to [0, 255] and returns uint8 images.

    Args:
        brightness_delta: largest brightness shift.
        contrast_range: ``(lower, upper)`` contrast factor.
        saturation_range: ``(lower, upper)`` saturation factor.
        hue_delta: largest hue shift (OpenCV hue units, 0-180).
    """

    def __init__(self, brightness_delta: int = 32, contrast_range: Sequence[float] = (0.5, 1.5),
                 saturation_range: Sequence[float] = (0.5, 1.5), hue_delta: int = 18):
        self.brightness_delta = brightness_delta
        self.contrast_lower, self.contrast_upper = contrast_range
        self.saturation_lower, self.saturation_upper = saturation_range
        self.hue_delta = hue_delta

    @staticmethod
    def convert(img: np.ndarray, alpha: float = 1, beta: float = 0) -> np.ndarray:
        """``clip(img * alpha + beta, 0, 255)`` as uint8 (computed in float32, truncated)."""
        img = img.astype(np.float32) * alpha + beta
        return np.clip(img, 0, 255).astype(np.uint8)

    def brightness(self, img: np.ndarray) -> np.ndarray:
        if random.randint(2):
            return self.convert(img, beta=random.uniform(-self.brightness_delta,
                                                         self.brightness_delta))
        return img

    def contrast(self, img: np.ndarray) -> np.ndarray:
        if random.randint(2):
            return self.convert(img, alpha=random.uniform(self.contrast_lower, self.contrast_upper))
        return img

    def saturation(self, img: np.ndarray) -> np.ndarray:
        if random.randint(2):
            img = bgr2hsv(img)
            img[:, :, 1] = self.convert(img[:, :, 1], alpha=random.uniform(
                self.saturation_lower, self.saturation_upper))
            img = hsv2bgr(img)
        return img

    def hue(self, img: np.ndarray) -> np.ndarray:
        if random.randint(2):
            img = bgr2hsv(img)
            img[:, :, 0] = (img[:, :, 0].astype(int)
                            + random.randint(-self.hue_delta, self.hue_delta)) % 180
            img = hsv2bgr(img)
        return img

    def transform(self, results: Dict) -> Dict:
        img = self.brightness(results["img"])
        mode = random.randint(2)  # 1: contrast first, 0: contrast last
        if mode == 1:
            img = self.contrast(img)
        img = self.saturation(img)
        img = self.hue(img)
        if mode == 0:
            img = self.contrast(img)
        results["img"] = img
        return results

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(brightness_delta={self.brightness_delta}, "
                f"contrast_range=({self.contrast_lower}, {self.contrast_upper}), "
                f"saturation_range=({self.saturation_lower}, {self.saturation_upper}), "
                f"hue_delta={self.hue_delta})")
