"""Occluded faces (the CelebAMask-HQ / NatOcc / RandOcc mix of ``occlude_face.py``)."""
from __future__ import annotations

from ..registry import DATASETS
from .custom import CustomDataset


@DATASETS.register_module()
class FaceOccludedDataset(CustomDataset):
    """Face Occluded: ``img/*.jpg`` with ``mask/*.png`` (0 background, 1 face), listed by
    ``split`` files (required); ``img_suffix='.jpg'`` and ``seg_map_suffix='.png'`` are fixed.

    Args: see :class:`CustomDataset`.
    """

    CLASSES = ("background", "face")
    PALETTE = [[0, 0, 0], [128, 0, 0]]
    FIXED = dict(img_suffix=".jpg", seg_map_suffix=".png")
    REQUIRED = ("split",)
