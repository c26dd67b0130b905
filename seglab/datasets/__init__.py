"""Datasets, samplers and DataLoaders; importing this package registers them all.

Public API (MMSegmentation 0.x names): :class:`CustomDataset`, :class:`PascalVOCDataset`,
:class:`CityscapesDataset`, :class:`ADE20KDataset`, :class:`SyntheticVOCDataset`,
the retinal vessel datasets (:class:`DRIVEDataset`, :class:`STAREDataset`, :class:`ChaseDB1Dataset`,
:class:`HRFDataset`), :class:`PascalContextDataset`, :class:`PascalContextDataset59`,
:class:`COCOStuffDataset`, :class:`LoveDADataset`, :class:`PotsdamDataset`, :class:`ISPRSDataset`,
:class:`iSAIDDataset`, :class:`FaceOccludedDataset`, :class:`DarkZurichDataset`,
:class:`NightDrivingDataset`,
:class:`ConcatDataset`, :class:`RepeatDataset`, :func:`build_dataset`,
:func:`build_dataloader`, :class:`InfiniteSampler`, :class:`DistributedSampler`,
:func:`make_synthetic_voc`; the transforms live in :mod:`seglab.datasets.transforms`.
"""
from . import transforms  # noqa: F401  (registers the pipeline transforms)
from .ade import ADE20KDataset
from .aerial import ISPRSDataset, LoveDADataset, PotsdamDataset, iSAIDDataset
from .builder import build_dataloader, build_dataloader_from_cfg, build_dataset, worker_init_fn
from .cityscapes import CityscapesDataset
from .coco_stuff import COCOStuffDataset
from .collate import collate, prepare_batch
from .custom import CustomDataset
from .dataset_wrappers import ConcatDataset, RepeatDataset
from .datasets_1x import (BaseSegDataset, BDD100KDataset, LIPDataset, MapillaryDataset_v1,
                          MapillaryDataset_v2, REFUGEDataset, SynapseDataset)
from .face import FaceOccludedDataset
from .night_scenes import DarkZurichDataset, NightDrivingDataset
from .pascal_context import PascalContextDataset, PascalContextDataset59
from .retinal import ChaseDB1Dataset, DRIVEDataset, HRFDataset, STAREDataset
from .samplers import DistributedSampler, InfiniteSampler, SampleIndex
from .seeded_dataset import SeededDataset
from .synthetic import SYNTHETIC_CLASSES, SyntheticVOCDataset, make_synthetic_voc
from .voc import PascalVOCDataset

__all__ = [
    "ADE20KDataset", "CityscapesDataset", "ConcatDataset", "CustomDataset", "DistributedSampler",
    "InfiniteSampler", "PascalVOCDataset", "RepeatDataset", "SYNTHETIC_CLASSES", "SampleIndex",
    "SeededDataset", "SyntheticVOCDataset", "build_dataloader", "build_dataloader_from_cfg",
    "build_dataset", "make_synthetic_voc", "worker_init_fn", "collate", "prepare_batch",
]
__all__ += ["DRIVEDataset", "STAREDataset", "ChaseDB1Dataset", "HRFDataset"]
__all__ += ["PascalContextDataset", "PascalContextDataset59", "COCOStuffDataset", "LoveDADataset",
            "PotsdamDataset", "ISPRSDataset", "iSAIDDataset", "FaceOccludedDataset",
            "DarkZurichDataset", "NightDrivingDataset"]
# MMSegmentation 1.x dataset classes
__all__ += ["BaseSegDataset", "MapillaryDataset_v1", "MapillaryDataset_v2", "BDD100KDataset",
            "REFUGEDataset", "SynapseDataset", "LIPDataset"]
