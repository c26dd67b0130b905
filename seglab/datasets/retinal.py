"""Retinal vessel datasets of MMSegmentation 0.x: DRIVE, STARE, CHASE_DB1 and HRF.

Two classes (background 0, vessel 1) in ``.png`` images; only the label suffix differs (see
``tools/convert_datasets/{drive,stare,chase_db1,hrf}.py`` of MMSegmentation for the layout
``images/{training,validation}`` + ``annotations/{training,validation}`` with 0/1 labels).
``img_suffix``, ``seg_map_suffix`` and ``reduce_zero_label=False`` are fixed, as in MMSeg.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Union

from ..registry import DATASETS
from .custom import CustomDataset, Palette


class RetinalVesselDataset(CustomDataset):
    """Base of the vessel datasets: subclasses set ``SEG_MAP_SUFFIX``.

    Args: see :class:`CustomDataset` (without the suffixes and ``reduce_zero_label``).
    """

    CLASSES = ("background", "vessel")
    PALETTE = [[120, 120, 120], [6, 230, 230]]
    SEG_MAP_SUFFIX = ".png"

    def __init__(self, pipeline: Sequence, img_dir: str, ann_dir: Optional[str] = None,
                 split: Union[str, Sequence[str], None] = None, data_root: Optional[str] = None,
                 test_mode: bool = False, ignore_index: int = 255,
                 classes: Union[str, Sequence[str], None] = None,
                 palette: Optional[Palette] = None,
                 gt_seg_map_loader_cfg: Optional[Mapping] = None,
                 file_client_args: Optional[Mapping] = None):
        super().__init__(pipeline=pipeline, img_dir=img_dir, img_suffix=".png", ann_dir=ann_dir,
                         seg_map_suffix=self.SEG_MAP_SUFFIX, split=split, data_root=data_root,
                         test_mode=test_mode, ignore_index=ignore_index,
                         reduce_zero_label=False, classes=classes, palette=palette,
                         gt_seg_map_loader_cfg=gt_seg_map_loader_cfg,
                         file_client_args=file_client_args)


@DATASETS.register_module()
class DRIVEDataset(RetinalVesselDataset):
    """DRIVE: ``<name>.png`` with ``<name>_manual1.png`` labels."""

    SEG_MAP_SUFFIX = "_manual1.png"


@DATASETS.register_module()
class STAREDataset(RetinalVesselDataset):
    """STARE: ``<name>.png`` with ``<name>.ah.png`` labels."""

    SEG_MAP_SUFFIX = ".ah.png"


@DATASETS.register_module()
class ChaseDB1Dataset(RetinalVesselDataset):
    """CHASE_DB1: ``<name>.png`` with ``<name>_1stHO.png`` labels."""

    SEG_MAP_SUFFIX = "_1stHO.png"


@DATASETS.register_module()
class HRFDataset(RetinalVesselDataset):
    """HRF: ``<name>.png`` with ``<name>.png`` labels."""

    SEG_MAP_SUFFIX = ".png"
