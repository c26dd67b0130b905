"""Checks of image/label files and label values, with the messages users see.

Used by :class:`~seglab.datasets.custom.CustomDataset` (every training sample is checked right
after loading, so a bad file stops training at once with a clear message) and by
``tools/check_dataset.py`` (which checks every file and prints a per-class pixel histogram).
"""
from __future__ import annotations

import os
import warnings
from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np

from ..errors import DatasetError

CHECK_HINT = ("Check the whole dataset with `python tools/check_dataset.py CONFIG` "
              "(it lists every bad file and prints a per-class pixel histogram).")

# Share of ignored pixels above which a {0, 255} label looks like a binary mask, not VOC's
# thin boundary band (a few percent of the pixels).
_BINARY_IGNORE_SHARE = 0.25


def value_counts(label: np.ndarray) -> Dict[int, int]:
    """``{value: pixel count}`` of a label map; a bincount for uint8 (cheap on large maps)."""
    if label.dtype == np.uint8:
        counts = np.bincount(label.ravel(), minlength=256)
        present = np.flatnonzero(counts)
        return {int(v): int(counts[v]) for v in present}
    values, counts = np.unique(label, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts)}


def bad_values(values: Iterable[int], num_classes: int, ignore_index: int) -> list:
    """Values outside ``[0, num_classes)`` that are not ``ignore_index`` (sorted)."""
    return sorted(v for v in values if not (0 <= v < num_classes) and v != ignore_index)


def binary_mask_explanation(num_classes: int, ignore_index: int) -> str:
    """Why 0/255 masks go wrong, and the fixes."""
    return (f"This looks like a binary mask stored as 0/255. 255 is the ignore_index by default "
            f"(here ignore_index={ignore_index}), so such masks either fail this check or, "
            "when ignore_index is 255, silently mark every foreground pixel as 'ignore' so the "
            "model never learns the foreground. Fix: convert the masks to 0/1 (e.g. "
            "`python tools/convert_datasets/color_to_index.py IN_DIR OUT_DIR --binary`), or set "
            f"classes to your {max(num_classes, 2)} classes and keep ignore_index for "
            "'don't care' pixels only.")


def looks_binary_0_255(counts: Dict[int, int]) -> bool:
    """True when a label holds only 0 and 255 and 255 covers a large share of it."""
    if not counts or not set(counts) <= {0, 255} or 255 not in counts:
        return False
    return counts[255] / sum(counts.values()) > _BINARY_IGNORE_SHARE


def label_values_message(filename: str, bad: Sequence[int], counts: Dict[int, int],
                         num_classes: int, ignore_index: int,
                         dataset_name: str = "the dataset") -> str:
    """The message for a label file with out-of-range values."""
    shown = ", ".join(str(v) for v in bad[:20]) + (", ..." if len(bad) > 20 else "")
    msg = (f"Label file '{filename}' has values [{shown}] outside the valid range: labels must "
           f"be in [0, {num_classes}) ({num_classes} classes of {dataset_name}) or equal "
           f"ignore_index={ignore_index}. ")
    if 255 in bad and set(counts) <= {0, 1, 255}:
        msg += binary_mask_explanation(num_classes, ignore_index) + " "
    elif min(bad) >= num_classes and max(bad) < 256:
        msg += ("If the file is an RGB colour mask or uses other ids, convert it to class "
                "indices (tools/convert_datasets/), or set `classes` to all the classes it "
                "uses. ")
    return msg + CHECK_HINT


def check_label_values(label: np.ndarray, filename: str, num_classes: Optional[int],
                       ignore_index: int, dataset_name: str = "the dataset") -> Dict[int, int]:
    """Raise :class:`DatasetError` if ``label`` holds values outside the valid range.

    Returns:
        The value counts of ``label`` (see :func:`value_counts`).
    """
    counts = value_counts(label)
    if num_classes is None:
        return counts
    bad = bad_values(counts, num_classes, ignore_index)
    if bad:
        raise DatasetError(label_values_message(filename, bad, counts, num_classes,
                                                ignore_index, dataset_name))
    return counts


class BinaryMaskWarner:
    """Warns once per process when the first labels all look like 0/255 binary masks.

    A 0/255 mask with ``ignore_index=255`` passes the range check (255 is 'ignore'), yet the
    model then never sees a foreground pixel. One such label is not proof (a VOC image with
    only background and its boundary band), so warn after ``patience`` suspicious labels in a
    row.
    """

    def __init__(self, patience: int = 8):
        self.patience = patience
        self._streak = 0
        self._done = False

    def update(self, counts: Dict[int, int], filename: str, num_classes: Optional[int],
               ignore_index: int) -> None:
        if self._done or ignore_index != 255:
            return
        if not looks_binary_0_255(counts):
            self._done = True  # a normal label: stop watching
            return
        self._streak += 1
        if self._streak >= self.patience:
            self._done = True
            warnings.warn(
                f"The first {self._streak} labels (e.g. '{filename}') contain only the values 0 "
                "and 255, with 255 covering a large area. "
                + binary_mask_explanation(num_classes or 2, ignore_index) + " " + CHECK_HINT,
                stacklevel=2)


def require_file(path: str, what: str) -> None:
    """Raise :class:`DatasetError` naming ``path`` if it is not an existing file."""
    if not os.path.isfile(path):
        where = os.path.dirname(path) or "."
        hint = "" if os.path.isdir(where) else f" (its folder '{where}' does not exist either)"
        raise DatasetError(f"{what} file '{path}' does not exist{hint}. Check img_dir/ann_dir, "
                           f"the suffixes and the split file in the data config. {CHECK_HINT}")


def size_mismatch_message(img_path: str, img_hw: Tuple[int, int], seg_path: str,
                          seg_hw: Tuple[int, int]) -> str:
    return (f"Image '{img_path}' is {img_hw[1]}x{img_hw[0]} (WxH) but its label '{seg_path}' is "
            f"{seg_hw[1]}x{seg_hw[0]}: every label map must have the size of its image. Check "
            f"that the two files belong together (suffixes, ann_dir). {CHECK_HINT}")


def read_label_file(path: str) -> np.ndarray:
    """Read a label map as stored (palette PNGs give their indices), as an (H, W) array.

    Raises:
        DatasetError: the file is missing or cannot be decoded.
    """
    from PIL import Image

    require_file(path, "Label")
    try:
        with Image.open(path) as im:
            im.load()
            label = np.asarray(im)
    except Exception as e:  # PIL raises several types for corrupt files
        raise DatasetError(f"Cannot decode label file '{path}' ({type(e).__name__}: {e}). "
                           f"Re-create or remove it. {CHECK_HINT}") from e
    if label.ndim == 3:
        if label.shape[2] in (3, 4) and not (np.ptp(label[..., :3], axis=2) == 0).all():
            raise DatasetError(
                f"Label file '{path}' is a colour (RGB) image, but labels must be class index "
                "maps (one channel, value = class id). Convert it with "
                "`python tools/convert_datasets/color_to_index.py`.")
        label = label[..., 0]
    return label


def read_image_file(path: str) -> np.ndarray:
    """Decode an image fully (truncated files fail too) and return it as (H, W[, C]).

    Raises:
        DatasetError: the file is missing or cannot be decoded.
    """
    from PIL import Image

    require_file(path, "Image")
    try:
        with Image.open(path) as im:
            im.load()  # full decode: catches truncated JPEG/PNG files that cv2 half-decodes
            return np.asarray(im)
    except Exception as e:
        raise DatasetError(f"Cannot decode image file '{path}' ({type(e).__name__}: {e}). "
                           f"Re-create or remove it. {CHECK_HINT}") from e
