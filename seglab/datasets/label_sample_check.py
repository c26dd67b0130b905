"""A cheap check of the training labels before training starts: a bounded sample of label files.

``tools/train.py`` runs :func:`check_label_sample` on the training set before the first
iteration. It reads up to ``max_files`` label files (never the images), spread evenly over the
dataset, applies ``label_map`` / ``reduce_zero_label`` as loading does, and

* raises :class:`~seglab.errors.DatasetError` when every sampled label holds only 0 and 255
  while the dataset has 2 classes: the 0/255 binary-mask trap, where 255 is ``ignore_index``,
  so the foreground is never learnt and validation reports mIoU 1.0;
* warns (through the logger) when a class never appears in the sample.

The full check of every file is ``tools/check_dataset.py``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import DatasetError
from .dataset_check import _apply as apply_label_settings
from .dataset_check import label_settings, leaf_datasets
from .label_check import CHECK_HINT, binary_mask_explanation, read_label_file, value_counts

DEFAULT_MAX_FILES = 32
DISABLE_HINT = ("To skip this start-up check (if the labels are right), pass --no-label-check "
                "to tools/train.py or set `label_check = False` in the config.")
_MAX_NAMED = 10  # class names listed in one message
_FILES_NAMED = 3  # label files named in the error (paths are long)


@dataclass
class LabelSample:
    """What the sampled label files hold.

    Attributes:
        files: the label files read, in dataset order.
        num_samples: samples of the whole (unwrapped) dataset the files were drawn from.
        class_names: the dataset's classes.
        ignore_index: the dataset's ignore value.
        counts: ``{value: pixels}`` summed over the files (after label_map/reduce_zero_label).
        values_per_file: the set of values of each file.
    """

    files: List[str]
    num_samples: int
    class_names: Sequence[str]
    ignore_index: int
    counts: Dict[int, int] = field(default_factory=dict)
    values_per_file: List[frozenset] = field(default_factory=list)

    @property
    def only_0_255(self) -> bool:
        """Every file holds only 0 and 255, and 255 occurs: a 0/255 binary mask set."""
        return (bool(self.files) and all(v <= {0, 255} for v in self.values_per_file)
                and 255 in self.counts)

    @property
    def missing_classes(self) -> List[str]:
        """Names of the classes with no pixel in any sampled file."""
        return [name for i, name in enumerate(self.class_names) if self.counts.get(i, 0) == 0]


def spread_indices(length: int, count: int) -> List[int]:
    """``min(count, length)`` indices in ``[0, length)`` spread evenly, first and last included.

    Deterministic, so every rank of a launch reads the same files.
    """
    if length <= 0 or count <= 0:
        return []
    if length <= count:
        return list(range(length))
    return sorted({int(round(x)) for x in np.linspace(0, length - 1, count)})


def sample_label_files(dataset, max_files: int = DEFAULT_MAX_FILES
                       ) -> Tuple[List[Tuple[str, bool, Optional[Dict[int, int]]]], int]:
    """Pick up to ``max_files`` label files spread over ``dataset`` (wrappers unwrapped).

    Returns:
        ``([(label path, reduce_zero_label, label_map), ...], number of samples)``; samples
        without a label file (no ``ann_dir``) are left out.
    """
    leaves = [ds for ds in leaf_datasets(dataset) if hasattr(ds, "sample_paths")]
    sizes = [len(ds) for ds in leaves]
    total = sum(sizes)
    bounds = np.cumsum([0] + sizes)
    picked = []
    for index in spread_indices(total, max_files):
        part = int(np.searchsorted(bounds, index, side="right")) - 1
        leaf = leaves[part]
        seg_path = leaf.sample_paths(index - int(bounds[part]))[1]
        if seg_path is not None:
            reduce, label_map = label_settings(leaf)
            picked.append((seg_path, reduce, label_map))
    return picked, total


def read_label_sample(dataset, max_files: int = DEFAULT_MAX_FILES) -> Optional[LabelSample]:
    """Read the sampled label files of ``dataset``; None when it has no classes or no labels.

    Raises:
        DatasetError: a sampled label file is missing or cannot be decoded.
    """
    leaves = list(leaf_datasets(dataset))
    classes = getattr(leaves[0], "CLASSES", None) if leaves else None
    if classes is None:
        return None
    picked, total = sample_label_files(dataset, max_files)
    if not picked:
        return None
    sample = LabelSample(files=[p for p, _, _ in picked], num_samples=total,
                         class_names=list(classes),
                         ignore_index=int(getattr(leaves[0], "ignore_index", 255)))
    for seg_path, reduce, label_map in picked:
        # np.array: a writable copy, which label_map remapping needs.
        label = apply_label_settings(np.array(read_label_file(seg_path)), reduce, label_map)
        counts = value_counts(label)
        sample.values_per_file.append(frozenset(counts))
        for value, pixels in counts.items():
            sample.counts[value] = sample.counts.get(value, 0) + pixels
    return sample


def _listed(items: Sequence[str], limit: int = _MAX_NAMED) -> str:
    shown = ", ".join(f"'{x}'" for x in items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def binary_sample_message(sample: LabelSample, config_key: str) -> str:
    """The error for a sample of 0/255 masks in a 2-class dataset."""
    fg = sample.class_names[1]
    return (f"{config_key}: all {len(sample.files)} label files checked at start-up "
            f"({len(sample.files)} of the {sample.num_samples} training samples, e.g. "
            f"{_listed(sample.files, _FILES_NAMED)}) contain only the values 0 and 255, but the "
            f"dataset has 2 classes {tuple(sample.class_names)}: no pixel is labelled '{fg}', "
            f"so training would never learn it and validation would report mIoU 1.0 with "
            f"IoU.{fg} = nan. "
            + binary_mask_explanation(2, sample.ignore_index) + " " + CHECK_HINT + " "
            + DISABLE_HINT)


def missing_classes_message(sample: LabelSample, config_key: str) -> str:
    """The warning for classes without a pixel in the sample."""
    missing = sample.missing_classes
    what = f"class {_listed(missing)} has" if len(missing) == 1 else \
        f"{len(missing)} of {len(sample.class_names)} classes ({_listed(missing)}) have"
    msg = (f"{config_key}: {what} no pixels in a sample of {len(sample.files)} label files "
           f"(of {sample.num_samples} training samples, spread evenly). If the labels should "
           "contain them, check the class ids of the labels and `classes` in the config. ")
    if sample.only_0_255:
        msg += binary_mask_explanation(len(sample.class_names), sample.ignore_index) + " "
    return msg + CHECK_HINT


def check_label_sample(dataset, logger: Optional[logging.Logger] = None,
                       max_files: int = DEFAULT_MAX_FILES,
                       config_key: str = "data.train") -> Optional[LabelSample]:
    """Check a bounded sample of ``dataset``'s label files before training.

    Args:
        dataset: the training dataset (``CustomDataset`` or a wrapper of such).
        logger: receives the warning for classes absent from the sample (default: 'seglab').
        max_files: most label files read.
        config_key: the config entry of ``dataset``, named in the messages.

    Returns:
        The sample read (None: the dataset has no classes or no label files to check).

    Raises:
        DatasetError: every sampled label holds only 0 and 255 in a 2-class dataset, or a
            sampled label file is missing or unreadable.
    """
    sample = read_label_sample(dataset, max_files)
    if sample is None:
        return None
    if len(sample.class_names) == 2 and sample.only_0_255:
        raise DatasetError(binary_sample_message(sample, config_key))
    if sample.missing_classes:
        (logger or logging.getLogger("seglab")).warning(
            missing_classes_message(sample, config_key))
    return sample
