"""Cityscapes (fine annotations, the 19 evaluated classes as ``labelTrainIds``)."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from ..errors import DatasetError
from ..registry import DATASETS
from .custom import CustomDataset

# The official Cityscapes label table: (name, id, trainId, colour). trainId 255 = not evaluated.
CITYSCAPES_LABELS = (
    ("unlabeled", 0, 255, (0, 0, 0)), ("ego vehicle", 1, 255, (0, 0, 0)),
    ("rectification border", 2, 255, (0, 0, 0)), ("out of roi", 3, 255, (0, 0, 0)),
    ("static", 4, 255, (0, 0, 0)), ("dynamic", 5, 255, (111, 74, 0)),
    ("ground", 6, 255, (81, 0, 81)), ("road", 7, 0, (128, 64, 128)),
    ("sidewalk", 8, 1, (244, 35, 232)), ("parking", 9, 255, (250, 170, 160)),
    ("rail track", 10, 255, (230, 150, 140)), ("building", 11, 2, (70, 70, 70)),
    ("wall", 12, 3, (102, 102, 156)), ("fence", 13, 4, (190, 153, 153)),
    ("guard rail", 14, 255, (180, 165, 180)), ("bridge", 15, 255, (150, 100, 100)),
    ("tunnel", 16, 255, (150, 120, 90)), ("pole", 17, 5, (153, 153, 153)),
    ("polegroup", 18, 255, (153, 153, 153)), ("traffic light", 19, 6, (250, 170, 30)),
    ("traffic sign", 20, 7, (220, 220, 0)), ("vegetation", 21, 8, (107, 142, 35)),
    ("terrain", 22, 9, (152, 251, 152)), ("sky", 23, 10, (70, 130, 180)),
    ("person", 24, 11, (220, 20, 60)), ("rider", 25, 12, (255, 0, 0)),
    ("car", 26, 13, (0, 0, 142)), ("truck", 27, 14, (0, 0, 70)),
    ("bus", 28, 15, (0, 60, 100)), ("caravan", 29, 255, (0, 0, 90)),
    ("trailer", 30, 255, (0, 0, 110)), ("train", 31, 16, (0, 80, 100)),
    ("motorcycle", 32, 17, (0, 0, 230)), ("bicycle", 33, 18, (119, 11, 32)),
)


def label_id_to_train_id_lut() -> np.ndarray:
    """A 256-entry uint8 lookup table: labelId -> trainId (255 for ids that are not evaluated)."""
    lut = np.full(256, 255, dtype=np.uint8)
    for _, label_id, train_id, _ in CITYSCAPES_LABELS:
        lut[label_id] = train_id
    return lut


def train_id_to_label_id_lut() -> np.ndarray:
    """A 256-entry uint8 lookup table: trainId -> labelId (the first label with that trainId,
    so 255 -> 0 'unlabeled', as cityscapesscripts' ``trainId2label``)."""
    lut = np.zeros(256, dtype=np.uint8)
    seen = set()
    for _, label_id, train_id, _ in CITYSCAPES_LABELS:
        if train_id not in seen:
            lut[train_id] = label_id
            seen.add(train_id)
    return lut


@DATASETS.register_module()
class CityscapesDataset(CustomDataset):
    """Cityscapes: ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` with
    ``gtFine/<split>/<city>/*_gtFine_labelTrainIds.png`` (made from the ``labelIds`` files by
    ``tools/convert_datasets/cityscapes.py``).

    Args: see :class:`CustomDataset`; the suffixes default to Cityscapes' names.
    """

    CLASSES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
               "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
               "truck", "bus", "train", "motorcycle", "bicycle")
    PALETTE = [list(colour) for _, _, train_id, colour in CITYSCAPES_LABELS if train_id != 255]

    DEFAULTS = dict(img_suffix="_leftImg8bit.png", seg_map_suffix="_gtFine_labelTrainIds.png")

    @staticmethod
    def _convert_to_label_id(result: Union[np.ndarray, str]) -> np.ndarray:
        """Map a trainId prediction to Cityscapes labelIds (for the official evaluation)."""
        if isinstance(result, str):
            result = np.load(result)
        return train_id_to_label_id_lut()[np.asarray(result, dtype=np.int64).clip(0, 255)]

    def results2img(self, results: Sequence, imgfile_prefix: str, to_label_id: bool,
                    indices: Optional[Sequence[int]] = None) -> List[str]:
        """Write predictions as PNGs (labelIds with the Cityscapes colours when to_label_id)."""
        from .result_files import write_label_pngs

        if to_label_id:
            palette = np.zeros((256, 3), dtype=np.uint8)
            for _, label_id, _, colour in CITYSCAPES_LABELS:
                palette[label_id] = colour
            return write_label_pngs(self, results, imgfile_prefix, indices,
                                    convert=self._convert_to_label_id, palette=palette)
        return write_label_pngs(self, results, imgfile_prefix, indices)

    def format_results(self, results: Sequence, imgfile_prefix: str, to_label_id: bool = True,
                       indices: Optional[Sequence[int]] = None) -> List[str]:
        """Write predictions for the Cityscapes evaluation server (labelId PNGs by default)."""
        if not isinstance(results, list):
            raise DatasetError("format_results expects a list of label maps.")
        return self.results2img(results, imgfile_prefix, to_label_id, indices)

    def evaluate(self, results: list, metric: Union[str, Sequence[str]] = "mIoU", logger=None,
                 gt_seg_maps=None, imgfile_prefix: Optional[str] = None,
                 **kwargs) -> Dict[str, float]:
        """mIoU / mDice / mFscore on the 19 train ids (see :meth:`CustomDataset.evaluate`)."""
        metrics = [metric] if isinstance(metric, str) else list(metric)
        if "cityscapes" in metrics:
            raise DatasetError(
                "metric='cityscapes' (the cityscapesscripts evaluation) is not available in "
                "seglab. Its class IoU equals metric='mIoU' on labelTrainIds; use that, or write "
                "labelId PNGs with format_results() and run cityscapesscripts yourself.")
        return super().evaluate(results, metrics, logger=logger, gt_seg_maps=gt_seg_maps,
                                **kwargs)
