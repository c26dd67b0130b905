"""Streaming evaluation of predictions against a dataset's ground truth.

:class:`DatasetEvaluator` keeps one :class:`~seglab.evaluation.IoUMetric` (four int64 vectors of
length C) per evaluated part of the dataset and nothing per image, so memory does not depend on
the number of test images. The ground truth comes from ``dataset.get_gt_seg_map_by_idx``, which
already applies the dataset's ``label_map`` (custom classes) and ``reduce_zero_label``; the
metric is therefore built without them, so they are applied exactly once, as in MMSegmentation
0.30's ``pre_eval`` path. A ``ConcatDataset`` with ``separate_eval=True`` gets one metric per
part and result keys prefixed ``'<part>_'``, as its 0.x ``evaluate`` gives.
"""
from __future__ import annotations

import bisect
import logging
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..datasets.metrics_report import LoggerLike, print_log
from ..errors import ConfigError, DatasetError
from ..evaluation import IoUMetric
from ..evaluation.metrics import check_metrics

# Keys MMSeg's `evaluation = dict(...)` / `--eval-options` may carry that only matter to the
# 0.x list-based loop; the streaming loop needs none of them.
IGNORED_EVAL_KEYS = ("efficient_test", "pre_eval", "gpu_collect", "tmpdir", "imgfile_prefix")
METRIC_EVAL_KEYS = ("nan_to_num", "beta")


def split_eval_kwargs(eval_kwargs: Mapping[str, Any]) -> Dict[str, Any]:
    """The metric options (``nan_to_num``, ``beta``) of ``eval_kwargs``; reject unknown keys.

    Raises:
        ConfigError: a key that is neither a metric option nor one of MMSeg's loop options.
    """
    unknown = sorted(k for k in eval_kwargs if k not in METRIC_EVAL_KEYS + IGNORED_EVAL_KEYS)
    if unknown:
        raise ConfigError(f"Unknown evaluation option(s) {unknown}; accepted: "
                          f"{list(METRIC_EVAL_KEYS)} (and MMSeg's {list(IGNORED_EVAL_KEYS)}, "
                          "which the streaming evaluation does not need). Check `evaluation = "
                          "dict(...)` in the config or --eval-options.")
    return {k: eval_kwargs[k] for k in METRIC_EVAL_KEYS if k in eval_kwargs}


def _dataset_parts(dataset) -> Tuple[List[Any], Optional[List[int]]]:
    """The separately evaluated parts and their cumulative sizes (None: one part)."""
    parts = getattr(dataset, "datasets", None)
    if parts is not None and getattr(dataset, "separate_eval", False):
        return list(parts), list(dataset.cumulative_sizes)
    return [dataset], None


def _num_classes(dataset, what: str) -> Tuple[int, Sequence[str]]:
    classes = getattr(dataset, "CLASSES", None)
    if classes is None:
        raise DatasetError(f"{what} has no class names (CLASSES is None), so it cannot be "
                           "evaluated: set `classes=('name0', 'name1', ...)` in its config.")
    return len(classes), list(classes)


def _ignore_index(dataset) -> int:
    if hasattr(dataset, "ignore_index"):
        return int(dataset.ignore_index)
    parts = getattr(dataset, "datasets", None)
    return int(getattr(parts[0], "ignore_index", 255)) if parts else 255


class DatasetEvaluator:
    """Accumulates ``(dataset index, prediction)`` pairs into MMSeg's metrics.

    Args:
        dataset: a dataset with ``CLASSES`` and ``get_gt_seg_map_by_idx(index)``.
        metric: 'mIoU', 'mDice', 'mFscore' or a list of them.
        nan_to_num: replace NaN per-class values (class absent everywhere) with this number.
        beta: beta of the F-score.
    """

    def __init__(self, dataset, metric: Union[str, Sequence[str]] = "mIoU",
                 nan_to_num: Optional[float] = None, beta: float = 1):
        self.metrics = check_metrics(metric)
        if not hasattr(dataset, "get_gt_seg_map_by_idx"):
            raise DatasetError(f"{type(dataset).__name__} cannot be evaluated: it has no "
                               "get_gt_seg_map_by_idx(index) to read the ground truth. Evaluate "
                               "the dataset it wraps instead.")
        self.dataset = dataset
        self.parts, self._cumulative = _dataset_parts(dataset)
        self.part_metrics: List[IoUMetric] = []
        self.part_classes: List[Sequence[str]] = []
        for i, part in enumerate(self.parts):
            what = type(part).__name__ if self._cumulative is None else \
                f"{type(dataset).__name__} part {i} ({type(part).__name__})"
            num_classes, names = _num_classes(part, what)
            # label_map / reduce_zero_label: already applied by get_gt_seg_map_by_idx.
            self.part_metrics.append(IoUMetric(
                num_classes=num_classes, ignore_index=_ignore_index(part), metrics=self.metrics,
                nan_to_num=nan_to_num, beta=beta, class_names=names))
            self.part_classes.append(names)

    def _locate(self, index: int) -> Tuple[int, int]:
        """(part, index in that part) of a dataset index."""
        if self._cumulative is None:
            return 0, index
        part = bisect.bisect_right(self._cumulative, index)
        return part, index - (self._cumulative[part - 1] if part else 0)

    def process(self, index: int, pred: Union[np.ndarray, torch.Tensor],
                label: Optional[np.ndarray] = None) -> None:
        """Add the prediction (H, W) of dataset sample ``index``.

        Args:
            index: the sample's index in the dataset.
            pred: its label map.
            label: its ground truth, ``dataset.get_gt_seg_map_by_idx(index)`` when already read
                (e.g. by the loader's worker processes); None: read here.
        """
        part, local = self._locate(int(index))
        if label is None:
            label = self.parts[part].get_gt_seg_map_by_idx(local)
        pred = torch.as_tensor(np.asarray(pred)) if not isinstance(pred, torch.Tensor) else pred
        label = np.asarray(label)
        if label.dtype == np.uint16:  # few torch ops take uint16
            label = label.astype(np.int32)
        label = torch.as_tensor(label)
        if pred.shape != label.shape:
            raise DatasetError(
                f"Prediction for sample {index} has shape {tuple(pred.shape)} but its ground "
                f"truth {self._label_name(index)} has shape {tuple(label.shape)}; the model must "
                "predict at the original image size (rescale=True).")
        self.part_metrics[part].process(pred, label)

    def _label_name(self, index: int) -> str:
        paths = getattr(self.dataset, "sample_paths", None)
        if paths is None:
            return f"(index {index})"
        try:
            return f"'{paths(index)[1]}'"
        except Exception:  # only for the message
            return f"(index {index})"

    @property
    def num_images(self) -> int:
        return sum(m.num_images for m in self.part_metrics)

    def all_reduce(self) -> "DatasetEvaluator":
        """Sum the counts over all ranks (the hook point for distributed testing)."""
        for metric in self.part_metrics:
            metric.all_reduce()
        return self

    def summarize(self, logger: LoggerLike = None) -> Dict[str, float]:
        """Print MMSeg's per-class and summary tables; return the flat dict of fractions.

        Returns:
            ``{'aAcc', 'mIoU', 'mAcc', ..., 'IoU.<class>', 'Acc.<class>', ...}`` (values in
            [0, 1], NaN for classes absent from both prediction and ground truth), keys
            prefixed ``'<part>_'`` for separately evaluated parts of a ConcatDataset.
        """
        results: Dict[str, float] = {}
        for i, (metric, names) in enumerate(zip(self.part_metrics, self.part_classes)):
            if self._cumulative is not None:
                part = self.parts[i]
                name = getattr(part, "img_dir", type(part).__name__)
                print_log(f"\nEvaluating {name} with {metric.num_images} images now", logger)
            report = metric.report(names)
            print_log("per class results:", logger)
            print_log("\n" + report.class_table, logger)
            print_log("Summary:", logger)
            print_log("\n" + report.summary_table, logger)
            for note in report.notes:  # a mean over fewer classes than there are
                print_log(note, logger, level=logging.WARNING)
            prefix = "" if self._cumulative is None else f"{i}_"
            results.update({prefix + k: v for k, v in report.eval_results.items()})
        return results
