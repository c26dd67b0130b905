"""Segmentation metrics with MMSegmentation's semantics, computed from streaming per-class counts.

* :class:`IoUMetric`: the accumulator used by the test loop and the eval hook.
* MMSeg 0.x functional API: :func:`intersect_and_union`, :func:`eval_metrics`,
  :func:`pre_eval_to_metrics`, :func:`mean_iou`, ... (same names and arguments).
* :func:`format_eval_results`: the per-class / summary tables and the json-log dict.
"""
from .areas import apply_label_transforms, confusion_areas
from .iou_metric import IoUMetric
from .metrics import (ALLOWED_METRICS, UnknownMetricError, eval_metrics, f_score,
                      intersect_and_union, mean_dice, mean_fscore, mean_iou, pre_eval_to_metrics,
                      total_area_to_metrics, total_intersect_and_union)
from .report import EvalReport, format_eval_results, summarize

__all__ = [
    "IoUMetric", "ALLOWED_METRICS", "UnknownMetricError", "intersect_and_union",
    "total_intersect_and_union", "total_area_to_metrics", "eval_metrics", "pre_eval_to_metrics",
    "mean_iou", "mean_dice", "mean_fscore", "f_score", "format_eval_results", "summarize",
    "EvalReport", "apply_label_transforms", "confusion_areas",
]
