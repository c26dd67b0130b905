"""MMSegmentation 1.x dataset classes that 0.x lacks: ``BaseSegDataset`` (1.x's name of
``CustomDataset``), Mapillary Vistas v1.2 / v2.0, BDD100K, REFUGE, Synapse and LIP.

Classes, palettes and file suffixes are 1.x's (``mmseg/datasets/*.py`` of v1.2.2). A 1.x config's
dataset arguments (``data_prefix``, ``ann_file``, ``metainfo``) are mapped onto ``img_dir`` /
``ann_dir`` / ``split`` / ``classes`` by ``seglab.config.v1x``; these classes take
:class:`~seglab.datasets.CustomDataset`'s arguments. As 1.x datasets, they put their
``reduce_zero_label`` into each sample, where ``LoadAnnotations()`` (without its own
``reduce_zero_label``) reads it.
"""
from __future__ import annotations

from ..registry import DATASETS
from .cityscapes import CityscapesDataset
from .custom import CustomDataset


@DATASETS.register_module()
class BaseSegDataset(CustomDataset):
    """MMSegmentation 1.x's base dataset: ``CustomDataset`` whose samples carry the dataset's
    ``reduce_zero_label`` (1.x's ``LoadAnnotations`` takes it from there).

    Args: see :class:`CustomDataset`.
    """

    def pre_pipeline(self, results: dict) -> None:
        super().pre_pipeline(results)
        results["reduce_zero_label"] = self.reduce_zero_label


@DATASETS.register_module()
class MapillaryDataset_v1(BaseSegDataset):  # noqa: N801  (MMSeg's name)
    """Mapillary Vistas v1.2, 66 classes (``tools/convert_datasets/mapillary.py`` of 1.x makes the
    ``.png`` label maps); images ``.jpg``.

    Args: see :class:`CustomDataset`.
    """

    CLASSES = ("Bird", "Ground Animal", "Curb", "Fence", "Guard Rail", "Barrier", "Wall",
               "Bike Lane", "Crosswalk - Plain", "Curb Cut", "Parking", "Pedestrian Area",
               "Rail Track", "Road", "Service Lane", "Sidewalk", "Bridge", "Building", "Tunnel",
               "Person", "Bicyclist", "Motorcyclist", "Other Rider", "Lane Marking - Crosswalk",
               "Lane Marking - General", "Mountain", "Sand", "Sky", "Snow", "Terrain", "Vegetation",
               "Water", "Banner", "Bench", "Bike Rack", "Billboard", "Catch Basin", "CCTV Camera",
               "Fire Hydrant", "Junction Box", "Mailbox", "Manhole", "Phone Booth", "Pothole",
               "Street Light", "Pole", "Traffic Sign Frame", "Utility Pole", "Traffic Light",
               "Traffic Sign (Back)", "Traffic Sign (Front)", "Trash Can", "Bicycle", "Boat", "Bus",
               "Car", "Caravan", "Motorcycle", "On Rails", "Other Vehicle", "Trailer", "Truck",
               "Wheeled Slow", "Car Mount", "Ego Vehicle", "Unlabeled")
    PALETTE = [[165, 42, 42], [0, 192, 0], [196, 196, 196], [190, 153, 153], [180, 165, 180],
               [90, 120, 150], [102, 102, 156], [128, 64, 255], [140, 140, 200], [170, 170, 170],
               [250, 170, 160], [96, 96, 96], [230, 150, 140], [128, 64, 128], [110, 110, 110],
               [244, 35, 232], [150, 100, 100], [70, 70, 70], [150, 120, 90], [220, 20, 60],
               [255, 0, 0], [255, 0, 100], [255, 0, 200], [200, 128, 128], [255, 255, 255],
               [64, 170, 64], [230, 160, 50], [70, 130, 180], [190, 255, 255], [152, 251, 152],
               [107, 142, 35], [0, 170, 30], [255, 255, 128], [250, 0, 30], [100, 140, 180],
               [220, 220, 220], [220, 128, 128], [222, 40, 40], [100, 170, 30], [40, 40, 40],
               [33, 33, 33], [100, 128, 160], [142, 0, 0], [70, 100, 150], [210, 170, 100],
               [153, 153, 153], [128, 128, 128], [0, 0, 80], [250, 170, 30], [192, 192, 192],
               [220, 220, 0], [140, 140, 20], [119, 11, 32], [150, 0, 255], [0, 60, 100],
               [0, 0, 142], [0, 0, 90], [0, 0, 230], [0, 80, 100], [128, 64, 64], [0, 0, 110],
               [0, 0, 70], [0, 0, 192], [32, 32, 32], [120, 10, 10], [0, 0, 0]]
    DEFAULTS = dict(img_suffix=".jpg", seg_map_suffix=".png")


@DATASETS.register_module()
class MapillaryDataset_v2(BaseSegDataset):  # noqa: N801  (MMSeg's name)
    """Mapillary Vistas v2.0, 124 classes; images ``.jpg``, label maps ``.png``.

    Args: see :class:`CustomDataset`.
    """

    CLASSES = ("Bird", "Ground Animal", "Ambiguous Barrier", "Concrete Block", "Curb", "Fence",
               "Guard Rail", "Barrier", "Road Median", "Road Side", "Lane Separator",
               "Temporary Barrier", "Wall", "Bike Lane", "Crosswalk - Plain", "Curb Cut",
               "Driveway", "Parking", "Parking Aisle", "Pedestrian Area", "Rail Track", "Road",
               "Road Shoulder", "Service Lane", "Sidewalk", "Traffic Island", "Bridge", "Building",
               "Garage", "Tunnel", "Person", "Person Group", "Bicyclist", "Motorcyclist",
               "Other Rider", "Lane Marking - Dashed Line", "Lane Marking - Straight Line",
               "Lane Marking - Zigzag Line", "Lane Marking - Ambiguous",
               "Lane Marking - Arrow (Left)", "Lane Marking - Arrow (Other)",
               "Lane Marking - Arrow (Right)", "Lane Marking - Arrow (Split Left or Straight)",
               "Lane Marking - Arrow (Split Right or Straight)", "Lane Marking - Arrow (Straight)",
               "Lane Marking - Crosswalk", "Lane Marking - Give Way (Row)",
               "Lane Marking - Give Way (Single)", "Lane Marking - Hatched (Chevron)",
               "Lane Marking - Hatched (Diagonal)", "Lane Marking - Other",
               "Lane Marking - Stop Line", "Lane Marking - Symbol (Bicycle)",
               "Lane Marking - Symbol (Other)", "Lane Marking - Text",
               "Lane Marking (only) - Dashed Line", "Lane Marking (only) - Crosswalk",
               "Lane Marking (only) - Other", "Lane Marking (only) - Test", "Mountain", "Sand",
               "Sky", "Snow", "Terrain", "Vegetation", "Water", "Banner", "Bench", "Bike Rack",
               "Catch Basin", "CCTV Camera", "Fire Hydrant", "Junction Box", "Mailbox", "Manhole",
               "Parking Meter", "Phone Booth", "Pothole", "Signage - Advertisement",
               "Signage - Ambiguous", "Signage - Back", "Signage - Information", "Signage - Other",
               "Signage - Store", "Street Light", "Pole", "Pole Group", "Traffic Sign Frame",
               "Utility Pole", "Traffic Cone", "Traffic Light - General (Single)",
               "Traffic Light - Pedestrians", "Traffic Light - General (Upright)",
               "Traffic Light - General (Horizontal)", "Traffic Light - Cyclists",
               "Traffic Light - Other", "Traffic Sign - Ambiguous", "Traffic Sign (Back)",
               "Traffic Sign - Direction (Back)", "Traffic Sign - Direction (Front)",
               "Traffic Sign (Front)", "Traffic Sign - Parking", "Traffic Sign - Temporary (Back)",
               "Traffic Sign - Temporary (Front)", "Trash Can", "Bicycle", "Boat", "Bus", "Car",
               "Caravan", "Motorcycle", "On Rails", "Other Vehicle", "Trailer", "Truck",
               "Vehicle Group", "Wheeled Slow", "Water Valve", "Car Mount", "Dynamic",
               "Ego Vehicle", "Ground", "Static", "Unlabeled")
    PALETTE = [[165, 42, 42], [0, 192, 0], [250, 170, 31], [250, 170, 32], [196, 196, 196],
               [190, 153, 153], [180, 165, 180], [90, 120, 150], [250, 170, 33], [250, 170, 34],
               [128, 128, 128], [250, 170, 35], [102, 102, 156], [128, 64, 255], [140, 140, 200],
               [170, 170, 170], [250, 170, 36], [250, 170, 160], [250, 170, 37], [96, 96, 96],
               [230, 150, 140], [128, 64, 128], [110, 110, 110], [110, 110, 110], [244, 35, 232],
               [128, 196, 128], [150, 100, 100], [70, 70, 70], [150, 150, 150], [150, 120, 90],
               [220, 20, 60], [220, 20, 60], [255, 0, 0], [255, 0, 100], [255, 0, 200],
               [255, 255, 255], [255, 255, 255], [250, 170, 29], [250, 170, 28], [250, 170, 26],
               [250, 170, 25], [250, 170, 24], [250, 170, 22], [250, 170, 21], [250, 170, 20],
               [255, 255, 255], [250, 170, 19], [250, 170, 18], [250, 170, 12], [250, 170, 11],
               [255, 255, 255], [255, 255, 255], [250, 170, 16], [250, 170, 15], [250, 170, 15],
               [255, 255, 255], [255, 255, 255], [255, 255, 255], [255, 255, 255], [64, 170, 64],
               [230, 160, 50], [70, 130, 180], [190, 255, 255], [152, 251, 152], [107, 142, 35],
               [0, 170, 30], [255, 255, 128], [250, 0, 30], [100, 140, 180], [220, 128, 128],
               [222, 40, 40], [100, 170, 30], [40, 40, 40], [33, 33, 33], [100, 128, 160],
               [20, 20, 255], [142, 0, 0], [70, 100, 150], [250, 171, 30], [250, 172, 30],
               [250, 173, 30], [250, 174, 30], [250, 175, 30], [250, 176, 30], [210, 170, 100],
               [153, 153, 153], [153, 153, 153], [128, 128, 128], [0, 0, 80], [210, 60, 60],
               [250, 170, 30], [250, 170, 30], [250, 170, 30], [250, 170, 30], [250, 170, 30],
               [250, 170, 30], [192, 192, 192], [192, 192, 192], [192, 192, 192], [220, 220, 0],
               [220, 220, 0], [0, 0, 196], [192, 192, 192], [220, 220, 0], [140, 140, 20],
               [119, 11, 32], [150, 0, 255], [0, 60, 100], [0, 0, 142], [0, 0, 90], [0, 0, 230],
               [0, 80, 100], [128, 64, 64], [0, 0, 110], [0, 0, 70], [0, 0, 142], [0, 0, 192],
               [170, 170, 170], [32, 32, 32], [111, 74, 0], [120, 10, 10], [81, 0, 81],
               [111, 111, 0], [0, 0, 0]]
    DEFAULTS = dict(img_suffix=".jpg", seg_map_suffix=".png")


@DATASETS.register_module()
class BDD100KDataset(BaseSegDataset):
    """BDD100K semantic segmentation: Cityscapes' 19 classes and palette; ``.jpg`` images,
    ``.png`` label maps.

    Args: see :class:`CustomDataset`.
    """

    CLASSES = CityscapesDataset.CLASSES
    PALETTE = CityscapesDataset.PALETTE
    DEFAULTS = dict(img_suffix=".jpg", seg_map_suffix=".png", reduce_zero_label=False)


@DATASETS.register_module()
class REFUGEDataset(BaseSegDataset):
    """REFUGE (retinal fundus: optic cup and disc); ``.png`` images and label maps, and
    ``reduce_zero_label=False``, all fixed as in 1.x. (The class name ``' Optic Cup'`` keeps 1.x's
    leading space.)

    Args: see :class:`CustomDataset`.
    """

    CLASSES = ("background", " Optic Cup", "Optic Disc")
    PALETTE = [[120, 120, 120], [6, 230, 230], [56, 59, 120]]
    FIXED = dict(img_suffix=".png", seg_map_suffix=".png", reduce_zero_label=False)


@DATASETS.register_module()
class SynapseDataset(BaseSegDataset):
    """Synapse multi-organ CT slices (9 classes, 0 background); ``.jpg`` images, ``.png`` label
    maps.

    Args: see :class:`CustomDataset`.
    """

    CLASSES = ("background", "aorta", "gallbladder", "left_kidney", "right_kidney", "liver",
               "pancreas", "spleen", "stomach")
    PALETTE = [[0, 0, 0], [0, 0, 255], [0, 255, 0], [255, 0, 0], [0, 255, 255], [255, 0, 255],
               [255, 255, 0], [60, 255, 255], [240, 240, 240]]
    DEFAULTS = dict(img_suffix=".jpg", seg_map_suffix=".png")


@DATASETS.register_module()
class LIPDataset(BaseSegDataset):
    """Look Into Person (20 human-part classes, left / right parts apart: flip with
    ``RandomFlip(swap_seg_labels=...)``); ``.jpg`` images, ``.png`` label maps.

    Args: see :class:`CustomDataset`.
    """

    CLASSES = ("Background", "Hat", "Hair", "Glove", "Sunglasses", "UpperClothes", "Dress", "Coat",
               "Socks", "Pants", "Jumpsuits", "Scarf", "Skirt", "Face", "Left-arm", "Right-arm",
               "Left-leg", "Right-leg", "Left-shoe", "Right-shoe")
    PALETTE = [[0, 0, 0], [128, 0, 0], [255, 0, 0], [0, 85, 0], [170, 0, 51], [255, 85, 0],
               [0, 0, 85], [0, 119, 221], [85, 85, 0], [0, 85, 85], [85, 51, 0], [52, 86, 128],
               [0, 128, 0], [0, 0, 255], [51, 170, 221], [0, 255, 255], [85, 255, 170],
               [170, 255, 85], [255, 255, 0], [255, 170, 0]]
    DEFAULTS = dict(img_suffix=".jpg", seg_map_suffix=".png")
