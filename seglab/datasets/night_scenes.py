"""Night-time driving test sets with Cityscapes' 19 classes: Dark Zurich and NighttimeDriving."""
from __future__ import annotations

from ..registry import DATASETS
from .cityscapes import CityscapesDataset


@DATASETS.register_module()
class DarkZurichDataset(CityscapesDataset):
    """Dark Zurich: ``*_rgb_anon.png`` images with ``*_gt_labelTrainIds.png`` labels (fixed).

    Args: see :class:`CityscapesDataset` (without the suffixes).
    """

    FIXED = dict(img_suffix="_rgb_anon.png", seg_map_suffix="_gt_labelTrainIds.png")


@DATASETS.register_module()
class NightDrivingDataset(CityscapesDataset):
    """NighttimeDriving: ``*_leftImg8bit.png`` with ``*_gtCoarse_labelTrainIds.png`` (fixed).

    Args: see :class:`CityscapesDataset` (without the suffixes).
    """

    FIXED = dict(img_suffix="_leftImg8bit.png", seg_map_suffix="_gtCoarse_labelTrainIds.png")
