"""Summaries, tables and the flat result dict, exactly as MMSeg 0.x ``CustomDataset.evaluate``.

Given per-class metrics (``eval_metrics`` / ``pre_eval_to_metrics`` / ``IoUMetric`` output):
* summary: ``np.round(np.nanmean(per_class) * 100, 2)`` per metric, named 'aAcc', 'mIoU', 'mAcc',
  'mDice', 'mFscore', 'mPrecision', 'mRecall'; the product and rounding are done in float64 (what
  NumPy 1.x did for MMSeg, whatever NumPy is installed here);
* per-class table: ``np.round(per_class * 100, 2)`` in the arrays' own dtype;
* ``eval_results`` for the json log: summary / 100 and ``'IoU.<class>'`` = table value / 100;
* ``notes``: warnings shown next to the tables when a mean is taken over fewer classes than there
  are (a class without ground-truth pixels, or one never predicted, gives NaN): the numbers stay
  MMSeg's, but a mIoU over 1 of 2 classes is never silent.
"""
from __future__ import annotations

import logging
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

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
        notes: Warning lines for means over fewer classes than there are (see
            :func:`absent_class_notes`).
    """

    summary: "OrderedDict[str, float]"
    per_class: "OrderedDict[str, np.ndarray]"
    class_names: Sequence[str]
    class_table: str
    summary_table: str
    eval_results: Dict[str, float]
    notes: List[str] = field(default_factory=list)

    def to_text(self) -> str:
        """The lines 0.x prints: 'per class results:', the table, 'Summary:', the table (then
        the notes, if any)."""
        return "\n".join(["per class results:\n\n" + self.class_table + "\nSummary:\n\n"
                          + self.summary_table, *self.notes])

    def log(self, logger: Optional[logging.Logger] = None) -> None:
        """Print the tables to ``logger`` (``print`` when None); the notes as warnings."""
        for line in ("per class results:", "\n" + self.class_table, "Summary:",
                     "\n" + self.summary_table):
            if logger is None:
                print(line)
            else:
                logger.info(line)
        for note in self.notes:
            if logger is None:
                print(note)
            else:
                logger.warning(note)


def _quoted(names: Sequence) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _subject(names: Sequence, num_classes: int) -> Tuple[str, str]:
    """("class 'a' has" | "classes 'a', 'b' (2 of 5) have", 'its' | 'their')."""
    if len(names) == 1:
        return f"class {_quoted(names)} has", "its"
    return f"classes {_quoted(names)} ({len(names)} of {num_classes}) have", "their"


def _averages(reduced: Sequence[Tuple[str, int]], num_classes: int) -> str:
    """'mIoU averages over 1 of 2 classes (mAcc too)' for [(summary name, classes used), ...]."""
    (first, used), rest = reduced[0], reduced[1:]
    extras = []
    same = [name for name, n in rest if n == used]
    if same:
        extras.append(", ".join(same) + " too")
    extras += [f"{name} over {n} of {num_classes}" for name, n in rest if n != used]
    text = f"{first} averages over {used} of {num_classes} classes"
    return text + (f" ({'; '.join(extras)})" if extras else "")


def absent_class_notes(ret_metrics: Mapping[str, np.ndarray], class_names: Sequence,
                       label_area: Optional[np.ndarray] = None) -> List[str]:
    """Warnings for classes that make a mean skip them (MMSeg's nanmean drops NaN silently).

    A class without ground-truth pixels gets a NaN IoU (unless predicted: then 0) and a NaN Acc,
    and mIoU / mAcc average over the other classes only; a labelled class never predicted gets
    a NaN Precision and Fscore.

    Args:
        ret_metrics: 'aAcc' and per-class (C,) arrays of fractions.
        class_names: C names.
        label_area: ground-truth pixels per class, (C,); None: a class without them is found
            by its NaN 'Acc' / 'Recall' (exact, as those are intersection / label area).

    Returns:
        Zero, one or two lines, e.g. "class 'fg' has no pixels in the labels: its IoU is NaN
        and mIoU averages over 1 of 2 classes (mAcc too)".
    """
    per_class = [(k, np.asarray(v, dtype=np.float64)) for k, v in ret_metrics.items()
                 if k != "aAcc"]
    if not per_class:
        return []
    num_classes = per_class[0][1].shape[0]
    if label_area is not None:
        absent = np.asarray(label_area).reshape(-1) == 0
    else:
        by_label = [v for k, v in per_class if k in ("Acc", "Recall")]
        absent = np.isnan(by_label[0]) if by_label else np.zeros(num_classes, bool)
    notes = []
    if absent.any():
        names = [class_names[i] for i in np.flatnonzero(absent)]
        subject, its = _subject(names, num_classes)
        key, values = per_class[0]  # the metric's own column: IoU, Dice or Fscore
        shown = ["NaN" if np.isnan(v) else f"{v * 100:.2f}" for v in values[absent]]
        if len(set(shown)) == 1:
            value = f"{its} {key} is {shown[0]}"
        else:
            value = f"{key} is " + ", ".join(f"{s} for '{n}'" for s, n in zip(shown, names))
        reduced = [("m" + k, int((~np.isnan(v)).sum())) for k, v in per_class
                   if np.isnan(v[absent]).any()]
        tail = (" and " + _averages(reduced, num_classes)) if reduced else \
            f", and the means average over all {num_classes} classes"
        notes.append(f"{subject} no pixels in the labels: {value}{tail}")
    # A labelled class that is never predicted: NaN precision (and F-score).
    unpredicted = np.zeros(num_classes, bool)
    for _, v in per_class:
        unpredicted |= np.isnan(v) & ~absent
    if unpredicted.any():
        names = [class_names[i] for i in np.flatnonzero(unpredicted)]
        subject, its = _subject(names, num_classes)
        keys = [k for k, v in per_class if np.isnan(v[unpredicted]).any()]
        reduced = [("m" + k, int((~np.isnan(v)).sum())) for k, v in per_class if k in keys]
        verbs = ("was" if len(names) == 1 else "were", "is" if len(keys) == 1 else "are")
        notes.append(f"{subject} labels but {verbs[0]} never predicted: {its} "
                     f"{' and '.join(keys)} {verbs[1]} NaN and {_averages(reduced, num_classes)}")
    return notes


def format_eval_results(ret_metrics: Mapping[str, np.ndarray],
                        class_names: Optional[Sequence] = None,
                        label_area: Optional[np.ndarray] = None) -> EvalReport:
    """Tables and the json-log dict from per-class metrics, like MMSeg 0.x ``evaluate``.

    Args:
        ret_metrics: 'aAcc' (0-d) and per-class (C,) arrays of fractions, e.g. the output of
            :func:`~seglab.evaluation.pre_eval_to_metrics` or ``IoUMetric.per_class_metrics()``.
        class_names: C names; ``None`` numbers the classes 0..C-1 (as 0.x without CLASSES).
        label_area: ground-truth pixels per class, (C,), for the notes (see
            :func:`absent_class_notes`).

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
                      summary_table=summary_table.get_string(), eval_results=eval_results,
                      notes=absent_class_notes(per_class_metrics, list(class_names), label_area))
