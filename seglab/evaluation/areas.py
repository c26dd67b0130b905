"""Per-class pixel areas of one or more label maps, counted with one ``torch.bincount``.

The four areas MMSegmentation's metrics are built from are read off a small confusion matrix:
``area_intersect`` (its diagonal), ``area_pred_label`` (column sums), ``area_label`` (row sums)
and ``area_union = area_pred_label + area_label - area_intersect``. Counting goes through
``bincount(code_label * width + code_pred)`` so no per-pixel Python runs, nothing synchronises
with the device (no boolean indexing) and the counts stay exact int64 integers.

Semantics equal MMSegmentation's ``torch.histc(..., bins=num_classes, min=0, max=num_classes - 1)``
counts: pixels whose label equals ``ignore_index`` are dropped; a label or prediction outside
``[0, num_classes)`` adds nothing to its own histogram but the pixel still counts in the other one.
"""
from __future__ import annotations

import os
from typing import Dict, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from seglab.errors import DatasetError

ArrayLike = Union[np.ndarray, Tensor]
LabelSource = Union[np.ndarray, Tensor, str, os.PathLike]


def load_pred(pred: LabelSource) -> Tensor:
    """A prediction as a tensor: arrays and tensors as given, a path through ``np.load`` (0.x)."""
    if isinstance(pred, (str, os.PathLike)):
        path = os.fspath(pred)
        if not os.path.isfile(path):
            raise DatasetError(f"Prediction file {path!r} does not exist; 0.x-style evaluation "
                               "expects the .npy files written by the test loop (efficient_test).")
        pred = np.load(path)
    return _as_tensor(pred, "prediction")


def load_label(label: LabelSource) -> Tensor:
    """A ground-truth map as a tensor; a path is read unchanged with Pillow, as 0.x does.

    Palette PNGs (e.g. VOC ``SegmentationClass``) give their palette indices, not colours.
    """
    if isinstance(label, (str, os.PathLike)):
        path = os.fspath(label)
        if not os.path.isfile(path):
            raise DatasetError(f"Label file {path!r} does not exist; check the dataset's ann_dir "
                               "and seg_map_suffix.")
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as img:
                array = np.array(img)
        except (UnidentifiedImageError, OSError) as exc:
            raise DatasetError(f"Label file {path!r} cannot be read as an image ({exc}); it may "
                               "be corrupt or truncated.") from exc
        if array.ndim != 2:
            raise DatasetError(f"Label file {path!r} has shape {array.shape}; a label map must be "
                               "a single-channel image (class index per pixel).")
        label = array
    return _as_tensor(label, "label")


def _as_tensor(x: ArrayLike, what: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    raise TypeError(f"The {what} must be a numpy array, a torch tensor or a file path, "
                    f"got {type(x).__name__}.")


def apply_label_transforms(label: Tensor, label_map: Optional[Mapping[int, int]] = None,
                           reduce_zero_label: bool = False) -> Tensor:
    """Remap ground-truth ids the way MMSegmentation 0.x ``intersect_and_union`` does.

    ``label_map`` is applied first, then ``reduce_zero_label`` (0.x order; 1.x ``LoadAnnotations``
    does the reverse). The input is never modified.

    Args:
        label: Ground-truth ids, any shape.
        label_map: ``{old_id: new_id}``. Every old id is looked up in the untouched input, so a
            swap such as ``{1: 2, 2: 1}`` swaps instead of chaining (as in MMSeg >= 0.22).
        reduce_zero_label: Map 0 to 255 (ignored) and every other id ``i`` to ``i - 1``.

    Returns:
        A new int64 tensor of the same shape.
    """
    out = label.to(torch.int64, copy=True)
    if label_map:
        original = out.clone()
        for old_id, new_id in label_map.items():
            out[original == old_id] = new_id
    if reduce_zero_label:
        out[out == 0] = 255
        out -= 1
        out[out == 254] = 255
    return out


def confusion_areas(pred: Tensor, label: Tensor, num_classes: int,
                    ignore_index: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-class areas of a prediction against its label, summed over all given pixels.

    Args:
        pred: Predicted class ids, any integer dtype, shape (...) equal to ``label``'s
            (one image (H, W) or a batch (B, H, W) of same-size images).
        label: Ground-truth ids (already remapped), same shape.
        num_classes: Number of classes C.
        ignore_index: Label value whose pixels are left out entirely.

    Returns:
        ``area_intersect, area_union, area_pred_label, area_label``: int64 tensors of shape (C,)
        on ``pred``'s device.
    """
    if pred.shape != label.shape:
        raise DatasetError(f"Prediction shape {tuple(pred.shape)} differs from label shape "
                           f"{tuple(label.shape)}; predictions must be resized to the label's "
                           "(original image) size before evaluation.")
    if pred.is_floating_point() or pred.is_complex():
        raise TypeError(f"Predictions must be integer class ids, got dtype {pred.dtype}; take "
                        "the argmax over the class dimension of the logits first.")
    n = int(num_classes)
    label = label.to(device=pred.device, dtype=torch.int64)
    pred = pred.to(torch.int64)
    # Codes: 0..n-1 the classes, n = out of range (counts in the other histogram only),
    # n + 1 = ignored (label only; the whole row is dropped below).
    label_code = torch.where((label >= 0) & (label < n), label, n)
    label_code = torch.where(label == ignore_index, n + 1, label_code)
    pred_code = torch.where((pred >= 0) & (pred < n), pred, n)
    index = (label_code * (n + 1) + pred_code).reshape(-1)
    confusion = torch.bincount(index, minlength=(n + 2) * (n + 1)).reshape(n + 2, n + 1)[:n + 1]
    area_intersect = torch.diagonal(confusion)[:n].clone()
    area_label = confusion[:n].sum(dim=1)
    area_pred_label = confusion[:, :n].sum(dim=0)
    area_union = area_pred_label + area_label - area_intersect
    return area_intersect, area_union, area_pred_label, area_label


def label_map_from_config(label_map: Optional[Mapping]) -> Dict[int, int]:
    """A clean ``{int: int}`` copy of a config's ``label_map`` (None -> empty)."""
    if label_map is None:
        return {}
    if not isinstance(label_map, Mapping):
        raise TypeError(f"label_map must be a dict {{old_id: new_id}}, got {label_map!r}.")
    return {int(k): int(v) for k, v in label_map.items()}
