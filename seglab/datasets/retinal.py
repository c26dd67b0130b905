"""Retinal vessel datasets of MMSegmentation 0.x: DRIVE, STARE, CHASE_DB1 and HRF.

Two classes (background 0, vessel 1) in ``.png`` images; only the label suffix differs (see
``tools/convert_datasets/{drive,stare,chase_db1,hrf}.py`` of MMSegmentation for the layout
``images/{training,validation}`` + ``annotations/{training,validation}`` with 0/1 labels).
``img_suffix``, ``seg_map_suffix`` and ``reduce_zero_label=False`` are fixed, as in MMSeg.
"""
from __future__ import annotations

from ..registry import DATASETS
from .custom import CustomDataset


class RetinalVesselDataset(CustomDataset):
    """Base of the vessel datasets: subclasses set ``SEG_MAP_SUFFIX`` and fix it.

    Args: see :class:`CustomDataset` (without the suffixes and ``reduce_zero_label``).
    """

    CLASSES = ("background", "vessel")
    PALETTE = [[120, 120, 120], [6, 230, 230]]
    SEG_MAP_SUFFIX = ".png"
    FIXED = dict(img_suffix=".png", seg_map_suffix=SEG_MAP_SUFFIX, reduce_zero_label=False)

    def __init_subclass__(cls, **kwargs):
        cls.FIXED = dict(seg_map_suffix=cls.SEG_MAP_SUFFIX)
        super().__init_subclass__(**kwargs)


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
