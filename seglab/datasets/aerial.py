"""Aerial and remote-sensing datasets: ISPRS Potsdam and Vaihingen, LoveDA, iSAID."""
from __future__ import annotations

from typing import List, Optional, Sequence, Union

from ..errors import DatasetError
from ..registry import DATASETS
from .custom import CustomDataset


@DATASETS.register_module()
class PotsdamDataset(CustomDataset):
    """ISPRS Potsdam: ``img_dir/*.png`` tiles with ``ann_dir/*.png`` labels (made by
    ``tools/convert_datasets/potsdam.py``: 0 is 'boundary', ignored by ``reduce_zero_label``).

    ``img_suffix='.png'``, ``seg_map_suffix='.png'`` and ``reduce_zero_label=True`` are fixed.

    Args: see :class:`CustomDataset`.
    """

    CLASSES = ("impervious_surface", "building", "low_vegetation", "tree", "car", "clutter")
    PALETTE = [[255, 255, 255], [0, 0, 255], [0, 255, 255], [0, 255, 0], [255, 255, 0],
               [255, 0, 0]]
    FIXED = dict(img_suffix=".png", seg_map_suffix=".png", reduce_zero_label=True)


@DATASETS.register_module()
class ISPRSDataset(PotsdamDataset):
    """ISPRS Vaihingen (``tools/convert_datasets/vaihingen.py``): Potsdam's classes, palette
    and fixed keys.

    Args: see :class:`CustomDataset`.
    """


@DATASETS.register_module()
class LoveDADataset(CustomDataset):
    """LoveDA (urban and rural scenes): ``img_dir/*.png`` with ``ann_dir/*.png`` whose 0 means
    no-data, so ``reduce_zero_label=True`` is fixed with the two ``.png`` suffixes.

    Args: see :class:`CustomDataset`.
    """

    CLASSES = ("background", "building", "road", "water", "barren", "forest", "agricultural")
    PALETTE = [[255, 255, 255], [255, 0, 0], [255, 255, 0], [0, 0, 255], [159, 129, 183],
               [0, 255, 0], [255, 195, 128]]
    FIXED = dict(img_suffix=".png", seg_map_suffix=".png", reduce_zero_label=True)

    def results2img(self, results: Sequence, imgfile_prefix: str,
                    indices: Optional[Sequence[int]] = None) -> List[str]:
        """Write predictions as grey-level PNGs of the class index (0..6, no palette)."""
        from .result_files import write_label_pngs

        return write_label_pngs(self, results, imgfile_prefix, indices, palette=False)

    def format_results(self, results: Sequence, imgfile_prefix: str,
                       indices: Optional[Sequence[int]] = None) -> List[str]:
        """Write predictions the way the LoveDA evaluation server reads them:
        ``<imgfile_prefix>/<image name>.png`` holding the class index 0..6."""
        if not isinstance(results, list):
            raise DatasetError("format_results expects a list of label maps.")
        return self.results2img(results, imgfile_prefix, indices)


@DATASETS.register_module()
class iSAIDDataset(CustomDataset):  # noqa: N801  (MMSegmentation's name)
    """iSAID (aerial instances, 15 classes + background): ``img_dir/<name>.png`` with
    ``ann_dir/<name>_instance_color_RGB.png`` (made by ``tools/convert_datasets/isaid.py``).

    The suffixes (``.png``, the label one after ``_instance_color_RGB``) and
    ``ignore_index=255`` are fixed, as in MMSegmentation.

    Args: see :class:`CustomDataset`.
    """

    CLASSES = ("background", "ship", "store_tank", "baseball_diamond", "tennis_court",
               "basketball_court", "Ground_Track_Field", "Bridge", "Large_Vehicle",
               "Small_Vehicle", "Helicopter", "Swimming_pool", "Roundabout", "Soccer_ball_field",
               "plane", "Harbor")
    PALETTE = [[0, 0, 0], [0, 0, 63], [0, 63, 63], [0, 63, 0], [0, 63, 127], [0, 63, 191],
               [0, 63, 255], [0, 127, 63], [0, 127, 127], [0, 0, 127], [0, 0, 191], [0, 0, 255],
               [0, 191, 127], [0, 127, 191], [0, 127, 255], [0, 100, 155]]
    FIXED = dict(img_suffix=".png", seg_map_suffix=".png", ignore_index=255)
    LABEL_TAG = "_instance_color_RGB"

    def load_annotations(self, img_dir: str, img_suffix: str, ann_dir: Optional[str],
                         seg_map_suffix: str, split: Union[str, Sequence[str], None]) -> List[dict]:
        """As :meth:`CustomDataset.load_annotations`, the label name tagged
        ``_instance_color_RGB`` before its suffix."""
        return super().load_annotations(img_dir, img_suffix, ann_dir,
                                        self.LABEL_TAG + seg_map_suffix, split)
