"""Transforms only MMSegmentation 1.x has that the 1.x configs of seglab's families use:
``GenerateEdge`` (PIDNet's boundary targets) and ``RandomRotFlip`` (the Synapse data set)."""
from __future__ import annotations

import numbers
from typing import Dict

import cv2
import numpy as np

from ...errors import ConfigError
from ...registry import TRANSFORMS
from .base import BaseTransform
from .image_ops import imrotate
from .rotate import degree_range


@TRANSFORMS.register_module()
class GenerateEdge(BaseTransform):
    """``results['gt_edge_map']`` (uint8, 1 on class boundaries) from the label map, as 1.x.

    A pixel is marked when its label differs from the one below, to the right, below-right or
    below-left of it (pairs with ``ignore_index`` skipped; the mark goes to the pixel in the
    upper / left position of each pair, as 1.x), then the marks are dilated with an
    ``edge_width`` x ``edge_width`` square. The map joins ``seg_fields`` (later steps such as the
    data preprocessor's ``Pad`` treat it as a label map) and ``PackSegInputs`` packs it.

    Args:
        edge_width: the dilation size.
        ignore_index: the label left out of the comparison.
    """

    supports_deferred_norm = True  # reads the label map only

    def __init__(self, edge_width: int = 3, ignore_index: int = 255):
        if not (isinstance(edge_width, numbers.Integral) and edge_width > 0):
            raise ConfigError(f"GenerateEdge(edge_width={edge_width!r}) must be a positive int.")
        self.edge_width = int(edge_width)
        self.ignore_index = ignore_index

    def transform(self, results: Dict) -> Dict:
        if "gt_semantic_seg" not in results:
            raise ConfigError("GenerateEdge needs the label map: put LoadAnnotations before it.")
        seg = results["gt_semantic_seg"]
        valid = seg != self.ignore_index
        edge = np.zeros(seg.shape[:2], dtype=np.uint8)

        def mark(out, a, b, va, vb):
            out[(a != b) & va & vb] = 1

        # 1.x marks the second row of a vertical pair and the first column of a horizontal one
        mark(edge[1:, :], seg[1:, :], seg[:-1, :], valid[1:, :], valid[:-1, :])
        mark(edge[:, :-1], seg[:, :-1], seg[:, 1:], valid[:, :-1], valid[:, 1:])
        mark(edge[:-1, :-1], seg[:-1, :-1], seg[1:, 1:], valid[:-1, :-1], valid[1:, 1:])
        mark(edge[:-1, 1:], seg[:-1, 1:], seg[1:, :-1], valid[:-1, 1:], valid[1:, :-1])
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (self.edge_width, self.edge_width))
        results["gt_edge_map"] = cv2.dilate(edge, kernel)
        results["edge_width"] = self.edge_width
        # a label map from here on: the Pad that seglab runs for 1.x's data_preprocessor pads it
        # with seg_pad_val, as 1.x pads the batch's edge maps
        if "gt_edge_map" not in results.setdefault("seg_fields", []):
            results["seg_fields"].append("gt_edge_map")
        return results


@TRANSFORMS.register_module()
class RandomRotFlip(BaseTransform):
    """With ``rotate_prob``, rotate by an angle drawn from ``degree``; otherwise, with
    ``flip_prob``, rotate by ``k * 90`` degrees and flip along a random axis. The draws are 1.x's,
    in its order: ``np.random.random()`` for the rotation, ``np.random.uniform`` for the angle,
    ``np.random.random()`` for the flip (drawn even after a rotation), then ``np.random.randint``
    for ``k`` and the axis. As 1.x (``mmcv.imrotate`` defaults: centre, border 0, bilinear), the
    label maps are rotated bilinearly too, so a free rotation can blend neighbouring labels.

    Args:
        rotate_prob: probability of the free rotation.
        flip_prob: probability of the 90-degree rotation and flip (only when not rotated).
        degree: ``(min, max)`` degrees, or ``d`` for ``(-d, d)``.
    """

    supports_deferred_norm = False  # rotation fills borders with 0 before normalisation, as 1.x

    def __init__(self, rotate_prob: float = 0.5, flip_prob: float = 0.5, degree=(-20, 20)):
        if not (0 <= rotate_prob <= 1 and 0 <= flip_prob <= 1):
            raise ConfigError(f"RandomRotFlip(rotate_prob={rotate_prob}, flip_prob={flip_prob}): "
                              f"probabilities must be in [0, 1].")
        self.rotate_prob = rotate_prob
        self.flip_prob = flip_prob
        self.degree = degree_range("RandomRotFlip", degree)

    @staticmethod
    def _apply(results: Dict, fn) -> None:
        results["img"] = fn(results["img"])
        for key in results.get("seg_fields", []):
            results[key] = fn(results[key])

    def transform(self, results: Dict) -> Dict:
        rotated = np.random.random() < self.rotate_prob
        if rotated:
            angle = np.random.uniform(min(self.degree), max(self.degree))
            self._apply(results, lambda a: imrotate(a, angle))
        if np.random.random() < self.flip_prob and not rotated:
            k = np.random.randint(0, 4)  # no draw between the two: the order is 1.x's
            axis = np.random.randint(0, 2)
            self._apply(results, lambda a: np.flip(np.rot90(a, k), axis=axis).copy())
        results["img_shape"] = results["img"].shape  # 1.x leaves it stale after an odd k
        return results
