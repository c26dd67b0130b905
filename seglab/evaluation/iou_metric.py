"""Streaming mIoU / mDice / mFscore: per-class counts accumulated image by image.

``IoUMetric`` holds four int64 vectors of length C (intersection, union, prediction and label
areas) and nothing else, so evaluating 10 or 100,000 images takes the same memory, unlike 0.x's
"keep every prediction, then ``eval_metrics``". Counting runs on the device of the inputs.
The results equal MMSegmentation 1.x ``IoUMetric`` (and 0.30's pre-eval path) exactly.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

from seglab.errors import DatasetError
from seglab.evaluation.areas import (ArrayLike, _as_tensor, apply_label_transforms,
                                     confusion_areas, label_map_from_config)
from seglab.evaluation.metrics import check_metrics, total_area_to_metrics
from seglab.evaluation.report import EvalReport, format_eval_results, summarize
from seglab.utils import is_distributed

Batch = Union[ArrayLike, Sequence[ArrayLike]]


class IoUMetric:
    """Accumulates per-class areas and turns them into MMSegmentation's metrics.

    Args:
        num_classes: Number of classes C.
        ignore_index: Label value left out of every count.
        metrics: Any of 'mIoU', 'mDice', 'mFscore' (aAcc always comes with them).
        nan_to_num: Replace NaN per-class values (class absent everywhere) by this number.
        beta: F-score beta.
        class_names: C names for the tables (default 0..C-1).
        label_map: ``{old_id: new_id}`` applied to labels in ``process`` (0.x semantics: before
            ``reduce_zero_label``; leave it None when the data pipeline already remapped them).
        reduce_zero_label: Map label 0 to 255 and ``i`` to ``i - 1`` in ``process``.
        device: Where the counts live; None: the device of the first prediction processed.

    Example:
        >>> metric = IoUMetric(num_classes=3)
        >>> metric.process(torch.tensor([[0, 1], [2, 2]]), torch.tensor([[0, 1], [2, 255]]))
        >>> metric.compute()['mIoU']
        100.0
    """

    def __init__(self, num_classes: int, ignore_index: int = 255,
                 metrics: Union[str, Sequence[str]] = ("mIoU",), nan_to_num: Optional[float] = None,
                 beta: float = 1, class_names: Optional[Sequence[str]] = None,
                 label_map: Optional[Mapping[int, int]] = None, reduce_zero_label: bool = False,
                 device: Optional[Union[str, torch.device]] = None) -> None:
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}.")
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.metrics = check_metrics(metrics)
        self.nan_to_num = nan_to_num
        self.beta = beta
        if class_names is not None and len(class_names) != self.num_classes:
            raise ValueError(f"IoUMetric got {len(class_names)} class_names for num_classes="
                             f"{self.num_classes}; give one name per class.")
        self.class_names = list(class_names) if class_names is not None else None
        self.label_map = label_map_from_config(label_map)
        self.reduce_zero_label = reduce_zero_label
        self.device = torch.device(device) if device is not None else None
        self.num_images = 0
        # Rows: area_intersect, area_union, area_pred_label, area_label. Allocated on first use
        # so that it lands on the inputs' device.
        self._areas: Optional[Tensor] = None

    # ------------------------------------------------------------------ accumulation
    def reset(self) -> None:
        """Forget everything processed so far."""
        self._areas = None
        self.num_images = 0

    def process(self, pred: Batch, label: Batch) -> None:
        """Add one image or a batch.

        Args:
            pred: Predicted class ids: (H, W), (B, H, W), (B, 1, H, W), or a list of (H, W)
                maps of different sizes; numpy array or tensor (integer dtype).
            label: Ground truth in the same layout (as loaded, before ``label_map`` /
                ``reduce_zero_label`` if this metric was given them).
        """
        if isinstance(pred, (list, tuple)):
            if not isinstance(label, (list, tuple)) or len(pred) != len(label):
                raise DatasetError(f"process() got {len(pred)} predictions but "
                                   f"{len(label) if isinstance(label, (list, tuple)) else 1} "
                                   "labels; pass one label per prediction.")
            for p, l in zip(pred, label):
                self.process(p, l)
            return
        pred_t, label_t = _as_tensor(pred, "prediction"), _as_tensor(label, "label")
        pred_t, label_t, count = self._as_batch(pred_t, label_t)
        device = self.device or (self._areas.device if self._areas is not None else pred_t.device)
        pred_t = pred_t.to(device, non_blocking=True)
        label_t = apply_label_transforms(label_t.to(device, non_blocking=True), self.label_map,
                                         self.reduce_zero_label)
        areas = torch.stack(confusion_areas(pred_t, label_t, self.num_classes, self.ignore_index))
        if self._areas is None:
            self._areas = areas
        else:
            self._areas += areas
        self.num_images += count

    @staticmethod
    def _as_batch(pred: Tensor, label: Tensor) -> Tuple[Tensor, Tensor, int]:
        # Drop singleton channel dims ((B, 1, H, W) from the collate, (1, H, W) from PackSegInputs).
        def squeeze(x: Tensor) -> Tensor:
            return x[:, 0] if x.dim() == 4 and x.shape[1] == 1 else x

        pred, label = squeeze(pred), squeeze(label)
        if pred.dim() == 4 or pred.is_floating_point():
            raise TypeError(f"process() expects predicted class ids, got a {pred.dtype} tensor of "
                            f"shape {tuple(pred.shape)}; pass logits.argmax(dim=1) instead.")
        if pred.shape != label.shape:
            raise DatasetError(f"Prediction shape {tuple(pred.shape)} differs from label shape "
                               f"{tuple(label.shape)}; resize predictions to the label's "
                               "(original image) size before evaluation.")
        if pred.dim() not in (2, 3):
            raise DatasetError(f"process() expects (H, W) or (B, H, W) maps, got shape "
                               f"{tuple(pred.shape)}.")
        return pred, label, 1 if pred.dim() == 2 else pred.shape[0]

    # ------------------------------------------------------------------ state
    def _totals(self) -> Tensor:
        if self._areas is None:
            return torch.zeros(4, self.num_classes, dtype=torch.int64, device=self.device)
        return self._areas

    @property
    def total_areas(self) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(area_intersect, area_union, area_pred_label, area_label)``, int64 (C,) each."""
        totals = self._totals()
        return totals[0], totals[1], totals[2], totals[3]

    def state_dict(self) -> Dict[str, Any]:
        """The counts (a CPU copy) and the image count; enough to resume or merge."""
        return {"total_areas": self._totals().detach().cpu().clone(),
                "num_images": self.num_images, "num_classes": self.num_classes}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Replace the counts by a :meth:`state_dict`."""
        areas = torch.as_tensor(state["total_areas"], dtype=torch.int64)
        if tuple(areas.shape) != (4, self.num_classes):
            raise ValueError(f"IoUMetric state has areas of shape {tuple(areas.shape)}, expected "
                             f"(4, {self.num_classes}): it was made for another num_classes.")
        device = self.device or (self._areas.device if self._areas is not None else areas.device)
        self._areas = areas.to(device).clone()
        self.num_images = int(state["num_images"])

    def merge(self, other: Union["IoUMetric", Mapping[str, Any]]) -> "IoUMetric":
        """Add another accumulator's counts (or its :meth:`state_dict`) to this one."""
        state = other.state_dict() if isinstance(other, IoUMetric) else other
        areas = torch.as_tensor(state["total_areas"], dtype=torch.int64)
        if tuple(areas.shape) != (4, self.num_classes):
            raise ValueError(f"Cannot merge IoUMetric counts of shape {tuple(areas.shape)} into "
                             f"one with num_classes={self.num_classes}.")
        totals = self._totals()
        self._areas = totals + areas.to(totals.device)
        self.num_images += int(state["num_images"])
        return self

    def all_reduce(self, group: Optional[Any] = None) -> "IoUMetric":
        """Sum the counts over all ranks (no-op without a process group).

        Every rank must call it (a rank that saw no image contributes zeros). With the NCCL
        backend the counts must be on this rank's GPU (``device='cuda'`` or CUDA inputs).
        """
        if not is_distributed():
            return self
        totals = self._totals()
        if dist.get_backend(group) == "nccl" and totals.device.type != "cuda":
            totals = totals.to(torch.device("cuda", torch.cuda.current_device()))
        # The image count rides along so every rank reports the dataset total.
        packed = torch.cat([totals.reshape(-1),
                            torch.tensor([self.num_images], dtype=torch.int64,
                                         device=totals.device)])
        dist.all_reduce(packed, op=dist.ReduceOp.SUM, group=group)
        self._areas = packed[:-1].reshape(4, self.num_classes)
        self.num_images = int(packed[-1].item())
        return self

    # ------------------------------------------------------------------ results
    def per_class_metrics(self) -> "OrderedDict[str, np.ndarray]":
        """'aAcc' (0-d) and per-class (C,) float32 arrays of fractions ('IoU', 'Acc', ...)."""
        return total_area_to_metrics(*self.total_areas, metrics=self.metrics,
                                     nan_to_num=self.nan_to_num, beta=self.beta,
                                     dtype=torch.float32)

    def compute(self) -> "OrderedDict[str, Any]":
        """Summary numbers in percent, then the per-class arrays.

        Returns:
            OrderedDict: 'aAcc', 'mIoU', 'mAcc' (+ 'mDice', 'mFscore', 'mPrecision', 'mRecall'
            when asked) as floats in percent rounded to 2 decimals (MMSeg 1.x ``IoUMetric``),
            followed by the per-class float32 fraction arrays 'IoU', 'Acc', ... of shape (C,).
        """
        per_class = self.per_class_metrics()
        out: "OrderedDict[str, Any]" = OrderedDict(summarize(per_class))
        for key, value in per_class.items():
            if key != "aAcc":
                out[key] = value
        return out

    def report(self, class_names: Optional[Sequence[str]] = None) -> EvalReport:
        """Per-class and summary tables plus the json-log dict (see :func:`format_eval_results`)."""
        names: Optional[List] = list(class_names) if class_names is not None else self.class_names
        label_area = self.total_areas[3].cpu().numpy()  # names classes without ground truth
        return format_eval_results(self.per_class_metrics(), names, label_area)

    def __repr__(self) -> str:
        return (f"IoUMetric(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
                f"metrics={self.metrics}, images={self.num_images})")
