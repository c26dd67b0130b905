"""Check every file of a dataset directly (no augmentation) and count label pixels per class.

``tools/check_dataset.py`` is the command-line front end. For each sample: the image exists and
decodes fully, the label exists, decodes and is a one-channel index map of the image's size, and
its values (after the dataset's ``label_map`` and ``reduce_zero_label``) lie in
``[0, num_classes)`` or equal ``ignore_index``.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import DatasetError
from .dataset_wrappers import ConcatDataset, RepeatDataset
from .label_check import (CHECK_HINT, bad_values, binary_mask_explanation, read_image_file,
                          read_label_file)
from .seeded_dataset import SeededDataset
from .transforms.loading import reduce_zero_label as _reduce_zero_label
from .transforms.loading import LoadAnnotations


@dataclass
class SampleResult:
    """What checking one sample found."""

    img_path: str
    seg_path: Optional[str]
    problems: List[Tuple[str, str]] = field(default_factory=list)  # (file, problem)
    counts: Dict[int, int] = field(default_factory=dict)


@dataclass
class DatasetCheckReport:
    """Totals over a dataset.

    Attributes:
        class_names: names of the classes (None entries when the dataset has none).
        ignore_index: the dataset's ignore value.
        num_samples: samples checked.
        class_pixels: pixels per class index, (num_classes,) int64.
        class_images: images containing each class, (num_classes,) int64.
        ignore_pixels: pixels equal to ignore_index.
        bad_pixels: ``{value: pixels}`` for values outside the valid range.
        problems: ``(file, problem)`` for every bad file.
    """

    class_names: Sequence[str]
    ignore_index: int
    num_samples: int = 0
    class_pixels: np.ndarray = None
    class_images: np.ndarray = None
    ignore_pixels: int = 0
    bad_pixels: Dict[int, int] = field(default_factory=dict)
    problems: List[Tuple[str, str]] = field(default_factory=list)

    @property
    def binary_0_255(self) -> bool:
        """Every label holds only 0 and ignore_index=255: the 0/255 binary-mask trap."""
        labelled = int(self.class_pixels.sum()) + self.ignore_pixels + sum(self.bad_pixels.values())
        return (self.ignore_index == 255 and labelled > 0 and self.ignore_pixels > 0
                and int(self.class_pixels[1:].sum()) == 0 and not self.bad_pixels)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.binary_0_255

    def histogram_table(self) -> str:
        """Per-class pixel histogram as a text table."""
        from prettytable import PrettyTable

        total = max(int(self.class_pixels.sum()) + self.ignore_pixels
                    + sum(self.bad_pixels.values()), 1)
        table = PrettyTable(["Index", "Class", "Pixels", "Share %", "Images"])
        table.align["Class"] = "l"
        for i, name in enumerate(self.class_names):
            share = f"{100.0 * self.class_pixels[i] / total:.2f}"
            table.add_row([i, name, int(self.class_pixels[i]), share, int(self.class_images[i])])
        table.add_row([self.ignore_index, "(ignore_index)", self.ignore_pixels,
                       f"{100.0 * self.ignore_pixels / total:.2f}", ""])
        for value, pixels in sorted(self.bad_pixels.items()):
            table.add_row([value, "(OUT OF RANGE)", pixels, f"{100.0 * pixels / total:.2f}", ""])
        return table.get_string()


def leaf_datasets(dataset) -> Iterator:
    """The datasets holding files inside wrappers (concatenations are listed part by part)."""
    if isinstance(dataset, SeededDataset):
        yield from leaf_datasets(dataset.dataset)
    elif isinstance(dataset, RepeatDataset):
        yield from leaf_datasets(dataset.dataset)
    elif isinstance(dataset, ConcatDataset):
        for part in dataset.datasets:
            yield from leaf_datasets(part)
    else:
        yield dataset


def label_settings(dataset) -> Tuple[bool, Optional[Dict[int, int]]]:
    """(reduce_zero_label, label_map) with which the training pipeline loads labels.

    The pipeline's ``LoadAnnotations`` decides ``reduce_zero_label`` for training; a pipeline
    without one (a test pipeline) falls back to the dataset's own flag.
    """
    transforms = getattr(getattr(dataset, "pipeline", None), "transforms", [])
    loaders = [t for t in transforms if isinstance(t, LoadAnnotations)]
    reduce = loaders[0].reduce_zero_label if loaders else bool(dataset.reduce_zero_label)
    if reduce is None:  # LoadAnnotations() takes the sample's flag (1.x datasets set it)
        sample: dict = {}
        dataset.pre_pipeline(sample)
        reduce = bool(sample.get("reduce_zero_label", False))
    label_map = dataset.label_map if getattr(dataset, "custom_classes", False) else None
    return reduce, label_map


def _apply(label: np.ndarray, reduce: bool, label_map: Optional[Dict[int, int]]) -> np.ndarray:
    if label_map:
        original = label.copy()
        for old, new in label_map.items():
            label[original == old] = 255 if new < 0 else new
    return _reduce_zero_label(label) if reduce else label


def _short(error: DatasetError) -> str:
    return str(error).replace(" " + CHECK_HINT, "")


def check_sample(img_path: str, seg_path: Optional[str], num_classes: Optional[int],
                 ignore_index: int, reduce: bool = False,
                 label_map: Optional[Dict[int, int]] = None) -> SampleResult:
    """Check one image/label pair; problems are collected, not raised."""
    result = SampleResult(img_path, seg_path)
    img_hw = None
    try:
        img_hw = read_image_file(img_path).shape[:2]
    except DatasetError as e:
        result.problems.append((img_path, _short(e)))
    if seg_path is None:
        return result
    try:
        label = _apply(np.array(read_label_file(seg_path)), reduce, label_map)
    except DatasetError as e:
        result.problems.append((seg_path, _short(e)))
        return result
    if img_hw is not None and label.shape[:2] != img_hw:
        result.problems.append((seg_path, (
            f"size mismatch: image '{img_path}' is {img_hw[1]}x{img_hw[0]} (WxH), label "
            f"'{seg_path}' is {label.shape[1]}x{label.shape[0]}")))
    values, counts = np.unique(label, return_counts=True)
    result.counts = {int(v): int(c) for v, c in zip(values, counts)}
    if num_classes is not None:
        bad = bad_values(result.counts, num_classes, ignore_index)
        if bad:
            msg = (f"label '{seg_path}' has values {bad} outside [0, {num_classes}) and not "
                   f"ignore_index={ignore_index}")
            if 255 in bad and set(result.counts) <= {0, 1, 255}:
                msg += " (a 0/255 binary mask?)"
            result.problems.append((seg_path, msg))
    return result


def check_dataset(dataset, nproc: int = 4) -> DatasetCheckReport:
    """Check every sample of ``dataset`` (wrappers are unwrapped; files are read directly).

    Args:
        dataset: a built dataset (``CustomDataset`` or a wrapper of such).
        nproc: decoding threads.
    """
    leaves = list(leaf_datasets(dataset))
    first = leaves[0]
    classes = first.CLASSES
    ignore_index = first.ignore_index
    jobs = []
    seen = set()
    for ds in leaves:
        reduce, label_map = label_settings(ds)
        num_classes = None if ds.CLASSES is None else len(ds.CLASSES)
        for idx in range(len(ds)):
            img_path, seg_path = ds.sample_paths(idx)
            if (img_path, seg_path) in seen:
                continue
            seen.add((img_path, seg_path))
            jobs.append((img_path, seg_path, num_classes, ds.ignore_index, reduce, label_map))
    with ThreadPoolExecutor(max(1, nproc)) as pool:
        results = list(pool.map(lambda job: check_sample(*job), jobs))

    max_value = max([max(r.counts, default=0) for r in results] + [0])
    num_classes = len(classes) if classes is not None else max_value + 1 if max_value < 255 \
        else 0
    names = list(classes) if classes is not None else [str(i) for i in range(num_classes)]
    report = DatasetCheckReport(class_names=names, ignore_index=ignore_index,
                                num_samples=len(results),
                                class_pixels=np.zeros(num_classes, np.int64),
                                class_images=np.zeros(num_classes, np.int64))
    for r in results:
        report.problems.extend(r.problems)
        for value, pixels in r.counts.items():
            if 0 <= value < num_classes:
                report.class_pixels[value] += pixels
                report.class_images[value] += 1
            elif value == ignore_index:
                report.ignore_pixels += pixels
            else:
                report.bad_pixels[value] = report.bad_pixels.get(value, 0) + pixels
    return report


def format_report(report: DatasetCheckReport, title: str = "") -> str:
    """The text ``tools/check_dataset.py`` prints."""
    lines = [title] if title else []
    lines.append(f"Checked {report.num_samples} samples; label pixels per class (after "
                 "label_map / reduce_zero_label):")
    lines.append(report.histogram_table())
    if report.binary_0_255:
        lines.append("PROBLEM: every label contains only the values 0 and 255, so no pixel "
                     "belongs to a class other than 0. "
                     + binary_mask_explanation(len(report.class_names), report.ignore_index))
    if report.problems:
        lines.append(f"{len(report.problems)} problem(s) in these files:")
        lines.extend(f"  {path}: {problem}" for path, problem in report.problems)
    elif not report.binary_0_255:
        lines.append("All files are fine.")
    return "\n".join(lines)
