"""Summaries, tables and the flat result dict, exactly as MMSeg 0.x ``CustomDataset.evaluate``.

Given per-class metrics (``eval_metrics`` / ``pre_eval_to_metrics`` / ``IoUMetric`` output):
* summary: ``np.round(np.nanmean(per_class) * 100, 2)`` per metric, named 'aAcc', 'mIoU', 'mAcc',
  'mDice', 'mFscore', 'mPrecision', 'mRecall'; the product and rounding are done in float64 (what
  NumPy 1.x did for MMSeg, whatever NumPy is installed here);
* per-class table: ``np.round(per_class * 100, 2)`` in the arrays' own dtype;
* ``eval_results`` for the json log: summary / 100 and ``'IoU.<class>'`` = table value / 100.
"""
from __future__ import annotations

import logging
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Sequence

import numpy as np
from prettytable import PrettyTable


def percent_summary(value: np.ndarray) -> float:
    """MMSeg's summary number: NaN-mean of the per-class fractions in percent, 2 decimals.

    The mean is taken in the array's dtype (float32 for the streaming path), then scaled and
    rounded in float64, as NumPy 1.x promoted ``np.float32 * 100`` (MMSeg 1.2.2 fixtures).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column: NaN is the answer
        mean = np.nanmean(value)
    return float(np.round(np.float64(mean) * 100, 2))


def summarize(ret_metrics: Mapping[str, np.ndarray]) -> "OrderedDict[str, float]":
    """``{'aAcc': 68.5, 'mIoU': 52.07, 'mAcc': ...}`` (percent) from per-class metrics."""
    summary: "OrderedDict[str, float]" = OrderedDict()
    for key, value in ret_metrics.items():
        summary[key if key == "aAcc" else "m" + key] = percent_summary(value)
    return summary


@dataclass
class EvalReport:
    """Everything ``evaluate`` shows and logs.

    Attributes:
        summary: Percent numbers ('aAcc', 'mIoU', ...).
        per_class: Metric name ('IoU', 'Acc', ...) -> (C,) array in percent, 2 decimals.
        class_names: Row names of the per-class table.
        class_table: The per-class PrettyTable as text (Class, IoU, Acc, ...).
        summary_table: The summary PrettyTable as text (aAcc, mIoU, mAcc, ...).
        eval_results: Flat dict of fractions for the json log ('mIoU', 'IoU.<class>', ...).
    """

    summary: "OrderedDict[str, float]"
    per_class: "OrderedDict[str, np.ndarray]"
    class_names: Sequence[str]
    class_table: str
    summary_table: str
    eval_results: Dict[str, float]

    def to_text(self) -> str:
        """The lines 0.x prints: 'per class results:', the table, 'Summary:', the table."""
        return ("per class results:\n\n" + self.class_table + "\nSummary:\n\n"
                + self.summary_table)

    def log(self, logger: Optional[logging.Logger] = None) -> None:
        """Print the tables to ``logger`` (``print`` when None)."""
        for line in ("per class results:", "\n" + self.class_table, "Summary:",
                     "\n" + self.summary_table):
            if logger is None:
                print(line)
            else:
                logger.info(line)


def format_eval_results(ret_metrics: Mapping[str, np.ndarray],
                        class_names: Optional[Sequence] = None) -> EvalReport:
    """Tables and the json-log dict from per-class metrics, like MMSeg 0.x ``evaluate``.

    Args:
        ret_metrics: 'aAcc' (0-d) and per-class (C,) arrays of fractions, e.g. the output of
            :func:`~seglab.evaluation.pre_eval_to_metrics` or ``IoUMetric.per_class_metrics()``.
        class_names: C names; ``None`` numbers the classes 0..C-1 (as 0.x without CLASSES).

    Returns:
        An :class:`EvalReport`.
    """
    summary = summarize(ret_metrics)
    per_class_metrics = OrderedDict((k, np.asarray(v)) for k, v in ret_metrics.items()
                                    if k != "aAcc")
    num_classes = next((v.shape[0] for v in per_class_metrics.values()), 0)
    if class_names is None:
        class_names = tuple(range(num_classes))
    if per_class_metrics and len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names given for {num_classes} classes; "
                         "the dataset's CLASSES must have one name per class index.")
    # Python's * 100 keeps the array dtype, so float32 metrics round in float32, as in 0.x.
    per_class = OrderedDict((k, np.round(v * 100, 2)) for k, v in per_class_metrics.items())

    class_table = PrettyTable()
    class_table.add_column("Class", list(class_names))
    for key, values in per_class.items():
        class_table.add_column(key, list(values))
    summary_table = PrettyTable()
    for key, value in summary.items():
        summary_table.add_column(key, [np.float64(value)])

    eval_results: Dict[str, float] = {}
    for key, value in summary.items():
        eval_results[key] = value / 100.0
    for key, values in per_class.items():
        for name, value in zip(class_names, values):
            # 0.x divided the table's (float32) value by a Python float, i.e. in float64.
            eval_results[f"{key}.{name}"] = float(np.float64(value) / 100.0)
    return EvalReport(summary=summary, per_class=per_class, class_names=list(class_names),
                      class_table=class_table.get_string(),
                      summary_table=summary_table.get_string(), eval_results=eval_results)
