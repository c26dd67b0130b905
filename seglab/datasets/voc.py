"""Pascal VOC 2012 (and its SBD-augmented training split)."""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Union

from ..errors import DatasetError
from ..registry import DATASETS
from .custom import CustomDataset, Palette


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

    def __init__(self, split: Union[str, Sequence[str]], pipeline: Sequence, img_dir: str,
                 ann_dir: Optional[str] = None, data_root: Optional[str] = None,
                 test_mode: bool = False, ignore_index: int = 255,
                 reduce_zero_label: bool = False,
                 classes: Union[str, Sequence[str], None] = None,
                 palette: Optional[Palette] = None,
                 gt_seg_map_loader_cfg: Optional[Mapping] = None,
                 file_client_args: Optional[Mapping] = None):
        if split is None:
            raise DatasetError(f"{type(self).__name__} needs split= (e.g. "
                               "'ImageSets/Segmentation/train.txt').")
        super().__init__(pipeline=pipeline, img_dir=img_dir, img_suffix=".jpg", ann_dir=ann_dir,
                         seg_map_suffix=".png", split=split, data_root=data_root,
                         test_mode=test_mode, ignore_index=ignore_index,
                         reduce_zero_label=reduce_zero_label, classes=classes, palette=palette,
                         gt_seg_map_loader_cfg=gt_seg_map_loader_cfg,
                         file_client_args=file_client_args)
