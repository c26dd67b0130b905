"""Pascal VOC 2012 (and its SBD-augmented training split)."""
from __future__ import annotations

from typing import List

from ..registry import DATASETS
from .custom import CustomDataset


def voc_palette(num_colors: int = 256) -> List[List[int]]:
    """The VOC colour map: the bits of the index spread over the high bits of R, G and B."""
    palette = []
    for index in range(num_colors):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette.append([r, g, b])
    return palette


@DATASETS.register_module()
class PascalVOCDataset(CustomDataset):
    """Pascal VOC 2012: ``JPEGImages/*.jpg`` and ``SegmentationClass/*.png`` (palette PNGs whose
    indices are the labels, 255 on object boundaries), listed by ``split`` files.

    ``img_suffix`` is '.jpg' and ``seg_map_suffix`` '.png'. The augmented set of the 0.x configs
    is a list: ``ann_dir=['SegmentationClass', 'SegmentationClassAug']`` with
    ``split=['.../train.txt', '.../aug.txt']`` (see ``tools/convert_datasets/voc_aug.py``).

    Args:
        split: split file(s) of image names; required.
        Others: see :class:`CustomDataset`.
    """

    CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
               "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
               "pottedplant", "sheep", "sofa", "train", "tvmonitor")
    PALETTE = voc_palette(21)

    FIXED = dict(img_suffix=".jpg", seg_map_suffix=".png")
    REQUIRED = ("split",)
