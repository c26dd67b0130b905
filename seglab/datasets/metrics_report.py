"""Print ``evaluate``'s tables the way MMSeg 0.x does, to a logger, a logger name or stdout."""
from __future__ import annotations

import logging
from typing import Dict, Mapping, Optional, Sequence, Union

import numpy as np

from ..errors import DatasetError

LoggerLike = Union[logging.Logger, str, None]


def print_log(msg: str, logger: LoggerLike = None, level: int = logging.INFO) -> None:
    """As mmcv's ``print_log``: None prints, 'silent' drops, a Logger or a logger name logs."""
    if logger is None:
        print(msg)
    elif logger == "silent":
        return
    elif isinstance(logger, logging.Logger):
        logger.log(level, msg)
    elif isinstance(logger, str):
        logging.getLogger(logger).log(level, msg)
    else:
        raise TypeError(f"logger must be a logging.Logger, a logger name, 'silent' or None, "
                        f"got {type(logger).__name__}")


def summarize_metrics(ret_metrics: Mapping[str, np.ndarray], class_names: Sequence,
                      logger: LoggerLike = None) -> Dict[str, float]:
    """Print the per-class and summary tables and return the flat result dict.

    Args:
        ret_metrics: ``{'aAcc': scalar, 'IoU': (C,), ...}`` fractions from ``eval_metrics`` /
            ``pre_eval_to_metrics``.
        class_names: C names.
        logger: see :func:`print_log`.

    Returns:
        ``{'aAcc', 'mIoU', ..., 'IoU.<class>', ...}`` as fractions (MMSeg 0.x ``evaluate``).
    """
    from ..evaluation import format_eval_results

    report = format_eval_results(ret_metrics, class_names)
    print_log("per class results:", logger)
    print_log("\n" + report.class_table, logger)
    print_log("Summary:", logger)
    print_log("\n" + report.summary_table, logger)
    for note in report.notes:  # a mean over fewer classes than there are
        print_log(note, logger, level=logging.WARNING)
    return report.eval_results


def num_classes_or_raise(classes: Optional[Sequence], dataset_name: str) -> int:
    """``len(classes)``, or a :class:`DatasetError` saying how to set them."""
    if classes is None:
        raise DatasetError(
            f"{dataset_name} has no class names, so it cannot be evaluated: set "
            "`classes=('name0', 'name1', ...)` (or a file with one name per line) in its "
            "config.")
    return len(classes)
