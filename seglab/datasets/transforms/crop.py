"""``RandomCrop``: crop image and label maps at a random position, avoiding one-class crops."""
from __future__ import annotations

from typing import Dict, Sequence, Tuple, Union

import numpy as np

from ...errors import ConfigError
from ...registry import TRANSFORMS
from .base import BaseTransform
from .deferred import apply_deferred_normalize, has_pending_pad

Bbox = Tuple[int, int, int, int]


@TRANSFORMS.register_module()
class RandomCrop(BaseTransform):
    """Crop ``crop_size = (h, w)`` at a random offset (the whole edge when the image is smaller).

    With ``cat_max_ratio < 1``, up to 10 more offsets are drawn until the crop's label map holds at
    least two classes and no single class (``ignore_index`` excluded) covers ``cat_max_ratio`` or
    more of the labelled pixels; the last draw is used otherwise. Updates ``img_shape`` (not
    ``pad_shape``, as MMSegmentation). Offsets are drawn with ``np.random``.

    Args:
        crop_size: ``(h, w)``, or (1.x) an int for a square crop.
        cat_max_ratio: the largest share one class may take in the crop.
        ignore_index: label value left out of the class count.
    """

    supports_deferred_norm = True  # a crop only selects pixels

    def __init__(self, crop_size: Union[int, Sequence[int]], cat_max_ratio: float = 1.0,
                 ignore_index: int = 255):
        if isinstance(crop_size, int) and not isinstance(crop_size, bool):
            crop_size = (crop_size, crop_size)  # MMSeg 1.x: an int is a square crop
        if not (isinstance(crop_size, (tuple, list)) and len(crop_size) == 2
                and crop_size[0] > 0 and crop_size[1] > 0):
            raise ConfigError(f"RandomCrop(crop_size={crop_size!r}): expected a positive (h, w) "
                              f"pair, e.g. (512, 512).")
        self.crop_size = tuple(int(c) for c in crop_size)
        self.cat_max_ratio = cat_max_ratio
        self.ignore_index = ignore_index

    def get_crop_bbox(self, img: np.ndarray) -> Bbox:
        """A random ``(y1, y2, x1, x2)`` box of ``crop_size`` inside ``img``."""
        margin_h = max(img.shape[0] - self.crop_size[0], 0)
        margin_w = max(img.shape[1] - self.crop_size[1], 0)
        offset_h = np.random.randint(0, margin_h + 1)
        offset_w = np.random.randint(0, margin_w + 1)
        return offset_h, offset_h + self.crop_size[0], offset_w, offset_w + self.crop_size[1]

    @staticmethod
    def crop(img: np.ndarray, bbox: Bbox) -> np.ndarray:
        y1, y2, x1, x2 = bbox
        return img[y1:y2, x1:x2, ...]

    def _class_counts(self, seg: np.ndarray) -> np.ndarray:
        """Pixel count of each label present in ``seg``, ``ignore_index`` left out."""
        if seg.dtype in (np.uint8, np.uint16):
            # A histogram is O(n); np.unique sorts, and this runs up to 10 times per sample.
            counts = np.bincount(seg.ravel())
            if 0 <= self.ignore_index < len(counts):
                counts[self.ignore_index] = 0
            return counts[counts > 0]
        labels, counts = np.unique(seg, return_counts=True)
        return counts[labels != self.ignore_index]

    def transform(self, results: Dict) -> Dict:
        if has_pending_pad(results):
            apply_deferred_normalize(results)  # the recorded pad region would move
        img = results["img"]
        bbox = self.get_crop_bbox(img)
        if self.cat_max_ratio < 1.0:
            if "gt_semantic_seg" not in results:
                raise ConfigError("RandomCrop(cat_max_ratio < 1) needs the label map: put "
                                  "LoadAnnotations before it in the pipeline.")
            for _ in range(10):
                counts = self._class_counts(self.crop(results["gt_semantic_seg"], bbox))
                if len(counts) > 1 and np.max(counts) / np.sum(counts) < self.cat_max_ratio:
                    break
                bbox = self.get_crop_bbox(img)
        img = self.crop(img, bbox)
        results["img"] = img
        results["img_shape"] = img.shape
        for key in results.get("seg_fields", []):
            results[key] = self.crop(results[key], bbox)
        return results
