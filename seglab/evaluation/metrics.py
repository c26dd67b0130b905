"""MMSegmentation 0.x functional metric API (``mmseg.core.evaluation.metrics``), same names.

``intersect_and_union`` gives one image's per-class areas (exact int64 counts); the
``eval_metrics`` path sums them in float64 like 0.30 does, the ``pre_eval_to_metrics`` path
gives float32 ratios like 0.30's pre-eval path and 1.x ``IoUMetric``. Both agree with
MMSegmentation bit for bit (see tests/evaluation/test_parity.py).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from seglab.errors import RegistryError
from seglab.evaluation.areas import (LabelSource, apply_label_transforms, confusion_areas,
                                     label_map_from_config, load_label, load_pred)

ALLOWED_METRICS = ("mIoU", "mDice", "mFscore")
Areas = Tuple[Tensor, Tensor, Tensor, Tensor]


class UnknownMetricError(RegistryError):
    """A metric name other than 'mIoU', 'mDice' or 'mFscore' (a ``KeyError``, as in MMSeg)."""


def check_metrics(metrics: Union[str, Sequence[str]]) -> List[str]:
    """Normalise ``metrics`` to a list and reject unknown names."""
    if isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(metrics)
    unknown = [m for m in metrics if m not in ALLOWED_METRICS]
    if unknown:
        raise UnknownMetricError(
            f"Metric(s) {unknown} are not supported; allowed metrics are "
            f"{list(ALLOWED_METRICS)} (e.g. evaluation = dict(metric='mIoU') in the config, or "
            "--eval mIoU mDice mFscore on the command line).")
    return metrics


def f_score(precision: Union[float, Tensor], recall: Union[float, Tensor],
            beta: float = 1) -> Union[float, Tensor]:
    """F-beta score ``(1 + b^2) p r / (b^2 p + r)``; NaN where ``p = r = 0`` (as MMSeg)."""
    return (1 + beta**2) * (precision * recall) / ((beta**2 * precision) + recall)


def intersect_and_union(pred_label: LabelSource, label: LabelSource, num_classes: int,
                        ignore_index: int, label_map: Optional[Mapping[int, int]] = dict(),
                        reduce_zero_label: bool = False) -> Areas:
    """Per-class areas of one image (MMSeg 0.x ``intersect_and_union``).

    Args:
        pred_label: Prediction (H, W) as ndarray/tensor, or a ``.npy`` file path.
        label: Ground truth (H, W) as ndarray/tensor, or an image file path (read unchanged).
        num_classes: Number of classes C.
        ignore_index: Label value left out of every count (usually 255).
        label_map: ``{old_id: new_id}`` applied to the label first (never chains).
        reduce_zero_label: Then map label 0 to 255 and ``i`` to ``i - 1``.

    Returns:
        ``area_intersect, area_union, area_pred_label, area_label``: int64 tensors of shape (C,)
        on the prediction's device (0.x returned float32 ``histc`` counts; the values are equal).
    """
    pred = load_pred(pred_label)
    gt = apply_label_transforms(load_label(label), label_map_from_config(label_map),
                                reduce_zero_label)
    return confusion_areas(pred, gt, num_classes, ignore_index)


def total_intersect_and_union(results: Iterable[LabelSource], gt_seg_maps: Iterable[LabelSource],
                              num_classes: int, ignore_index: int,
                              label_map: Optional[Mapping[int, int]] = dict(),
                              reduce_zero_label: bool = False) -> Areas:
    """Areas summed over all images; int64 (C,) tensors on the CPU. Images are read one at a time,
    so ``gt_seg_maps`` may be a generator and memory does not grow with their number."""
    totals = torch.zeros(4, num_classes, dtype=torch.int64)
    for result, gt_seg_map in zip(results, gt_seg_maps):
        areas = intersect_and_union(result, gt_seg_map, num_classes, ignore_index, label_map,
                                    reduce_zero_label)
        totals += torch.stack(areas).cpu()
    return totals[0], totals[1], totals[2], totals[3]


def _ratio(num: Tensor, den: Tensor, dtype: torch.dtype) -> Tensor:
    # The exact quotient of the (float64-exact) counts rounded once to `dtype`: bitwise equal to
    # MMSeg's float32 division while its float32 counts are exact (< 2**24), and more accurate
    # beyond (float64 -> float32 double rounding of a quotient is innocuous: 53 >= 2 * 24 + 2).
    return (num.to(torch.float64) / den.to(torch.float64)).to(dtype)


def total_area_to_metrics(total_area_intersect: Tensor, total_area_union: Tensor,
                          total_area_pred_label: Tensor, total_area_label: Tensor,
                          metrics: Union[str, Sequence[str]] = ["mIoU"],
                          nan_to_num: Optional[float] = None, beta: float = 1,
                          dtype: Optional[torch.dtype] = None) -> "OrderedDict[str, np.ndarray]":
    """Per-class metrics from summed areas (MMSeg 0.x ``total_area_to_metrics``).

    Args:
        total_area_*: Summed areas, shape (C,), integer or float tensors.
        metrics: Any of 'mIoU', 'mDice', 'mFscore'.
        nan_to_num: Replace NaN (a class absent from label and prediction) by this value.
        beta: F-score beta.
        dtype: Result dtype; by default float64 for float64 areas (0.30 ``eval_metrics``), else
            float32 (0.30 pre-eval path, 1.x ``IoUMetric``).

    Returns:
        OrderedDict of numpy arrays as fractions: 'aAcc' (0-d), then per metric 'IoU', 'Acc'
        (mIoU); 'Dice', 'Acc' (mDice); 'Fscore', 'Precision', 'Recall' (mFscore); each (C,).
    """
    metrics = check_metrics(metrics)
    areas = [torch.as_tensor(a).cpu() for a in (total_area_intersect, total_area_union,
                                                 total_area_pred_label, total_area_label)]
    if dtype is None:
        dtype = torch.float64 if areas[0].dtype == torch.float64 else torch.float32
    intersect, union, pred_label, label = areas
    ret = OrderedDict(aAcc=_ratio(intersect.sum(), label.sum(), dtype))
    for metric in metrics:
        if metric == "mIoU":
            ret["IoU"] = _ratio(intersect, union, dtype)
            ret["Acc"] = _ratio(intersect, label, dtype)
        elif metric == "mDice":
            ret["Dice"] = _ratio(2 * intersect.to(torch.float64),
                                 pred_label.to(torch.float64) + label.to(torch.float64), dtype)
            ret["Acc"] = _ratio(intersect, label, dtype)
        else:  # mFscore
            precision = _ratio(intersect, pred_label, dtype)
            recall = _ratio(intersect, label, dtype)
            # Element-wise in `dtype`, like MMSeg's per-class scalar loop (it may differ from Dice
            # in the last bit, and MMSeg's numbers do too).
            ret["Fscore"] = f_score(precision, recall, beta)
            ret["Precision"] = precision
            ret["Recall"] = recall
    out = OrderedDict((k, v.numpy()) for k, v in ret.items())
    if nan_to_num is not None:
        out = OrderedDict((k, np.nan_to_num(v, nan=nan_to_num)) for k, v in out.items())
    return out


def eval_metrics(results: Iterable[LabelSource], gt_seg_maps: Iterable[LabelSource],
                 num_classes: int, ignore_index: int,
                 metrics: Union[str, Sequence[str]] = ["mIoU"], nan_to_num: Optional[float] = None,
                 label_map: Optional[Mapping[int, int]] = dict(), reduce_zero_label: bool = False,
                 beta: float = 1) -> "OrderedDict[str, np.ndarray]":
    """Metrics over whole lists of predictions and labels (MMSeg 0.x ``eval_metrics``).

    Returns float64 arrays, as 0.30 accumulates its areas in float64. Prefer
    :class:`~seglab.evaluation.IoUMetric` in new code: it never holds the predictions.
    """
    metrics = check_metrics(metrics)
    totals = total_intersect_and_union(results, gt_seg_maps, num_classes, ignore_index,
                                       label_map, reduce_zero_label)
    return total_area_to_metrics(*totals, metrics=metrics, nan_to_num=nan_to_num, beta=beta,
                                 dtype=torch.float64)


def pre_eval_to_metrics(pre_eval_results: Iterable[Sequence[Tensor]],
                        metrics: Union[str, Sequence[str]] = ["mIoU"],
                        nan_to_num: Optional[float] = None,
                        beta: float = 1) -> "OrderedDict[str, np.ndarray]":
    """Metrics from per-image ``intersect_and_union`` 4-tuples (MMSeg 0.x pre-eval path).

    Returns float32 arrays (float64 only if the given areas are float64), as 0.30 does.
    """
    metrics = check_metrics(metrics)
    totals = None
    for areas in pre_eval_results:
        if len(areas) != 4:
            raise ValueError("pre_eval_to_metrics expects one (area_intersect, area_union, "
                             f"area_pred_label, area_label) tuple per image, got {len(areas)} "
                             "items.")
        stacked = torch.stack([torch.as_tensor(a).cpu() for a in areas])
        totals = stacked if totals is None else totals + stacked
    if totals is None:
        raise ValueError("pre_eval_to_metrics got no results: was the dataset empty?")
    return total_area_to_metrics(totals[0], totals[1], totals[2], totals[3], metrics=metrics,
                                 nan_to_num=nan_to_num, beta=beta)


def mean_iou(results: Iterable[LabelSource], gt_seg_maps: Iterable[LabelSource],
             num_classes: int, ignore_index: int, nan_to_num: Optional[float] = None,
             label_map: Optional[Mapping[int, int]] = dict(),
             reduce_zero_label: bool = False) -> "OrderedDict[str, np.ndarray]":
    """``eval_metrics(..., metrics=['mIoU'])``: aAcc, IoU, Acc."""
    return eval_metrics(results, gt_seg_maps, num_classes, ignore_index, ["mIoU"], nan_to_num,
                        label_map, reduce_zero_label)


def mean_dice(results: Iterable[LabelSource], gt_seg_maps: Iterable[LabelSource],
              num_classes: int, ignore_index: int, nan_to_num: Optional[float] = None,
              label_map: Optional[Mapping[int, int]] = dict(),
              reduce_zero_label: bool = False) -> "OrderedDict[str, np.ndarray]":
    """``eval_metrics(..., metrics=['mDice'])``: aAcc, Dice, Acc."""
    return eval_metrics(results, gt_seg_maps, num_classes, ignore_index, ["mDice"], nan_to_num,
                        label_map, reduce_zero_label)


def mean_fscore(results: Iterable[LabelSource], gt_seg_maps: Iterable[LabelSource],
                num_classes: int, ignore_index: int, nan_to_num: Optional[float] = None,
                label_map: Optional[Mapping[int, int]] = dict(), reduce_zero_label: bool = False,
                beta: float = 1) -> "OrderedDict[str, np.ndarray]":
    """``eval_metrics(..., metrics=['mFscore'])``: aAcc, Fscore, Precision, Recall."""
    return eval_metrics(results, gt_seg_maps, num_classes, ignore_index, ["mFscore"], nan_to_num,
                        label_map, reduce_zero_label, beta)
