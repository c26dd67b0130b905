"""Lovasz-Softmax and Lovasz hinge losses (Berman et al., CVPR 2018), as in MMSegmentation 0.x.

The Lovasz extension of the Jaccard loss: sort the per-pixel errors in decreasing order and take
their dot product with the increments of the Jaccard loss of the growing set of mispredicted
pixels. ``multi_class`` uses softmax probabilities (errors ``|fg - p_c|`` per class, mean over the
classes chosen by ``classes``); ``binary`` uses the hinge errors ``1 - logit * sign`` of a single
foreground logit.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from .utils import ClassWeight, check_reduction, get_class_weight, weight_reduce_loss, where

Classes = Union[str, Sequence[int]]


def lovasz_grad(gt_sorted: torch.Tensor) -> torch.Tensor:
    """Increments of the Jaccard loss along errors sorted in decreasing order (Alg. 1).

    Args:
        gt_sorted: (P,) binary ground truth in the order of the sorted errors.

    Returns:
        (P,) float tensor.
    """
    p = len(gt_sorted)
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.float().cumsum(0)
    union = gts + (1 - gt_sorted).float().cumsum(0)
    jaccard = 1.0 - intersection / union
    if p > 1:
        jaccard[1:p] = jaccard[1:p] - jaccard[0:-1]
    return jaccard


def flatten_binary_logits(logits: torch.Tensor, labels: torch.Tensor,
                          ignore_index: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Flatten logits and labels to (P,), dropping pixels labelled ``ignore_index``."""
    logits = logits.reshape(-1)
    labels = labels.reshape(-1)
    if ignore_index is None:
        return logits, labels
    valid = labels != ignore_index
    return logits[valid], labels[valid]


def flatten_probs(probs: torch.Tensor, labels: torch.Tensor,
                  ignore_index: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Flatten (B, C, H, W) probabilities to (P, C) and labels to (P,), dropping void pixels."""
    if probs.dim() == 3:  # a sigmoid output (B, H, W)
        probs = probs.unsqueeze(1)
    c = probs.size(1)
    probs = probs.permute(0, 2, 3, 1).reshape(-1, c)
    labels = labels.reshape(-1)
    if ignore_index is None:
        return probs, labels
    valid = labels != ignore_index
    return probs[valid], labels[valid]


def lovasz_hinge_flat(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary Lovasz hinge loss of (P,) logits and (P,) {0, 1} labels; 0-d tensor."""
    if len(labels) == 0:
        return logits.sum() * 0.0  # only void pixels: zero loss, zero gradient
    signs = 2.0 * labels.float() - 1.0
    errors = 1.0 - logits * signs
    errors_sorted, perm = torch.sort(errors, dim=0, descending=True)
    grad = lovasz_grad(labels[perm])
    return torch.dot(F.relu(errors_sorted), grad)


def lovasz_hinge(logits: torch.Tensor, labels: torch.Tensor, classes: Classes = "present",
                 per_image: bool = False, class_weight: Optional[torch.Tensor] = None,
                 reduction: str = "mean", avg_factor: Optional[float] = None,
                 ignore_index: Optional[int] = 255) -> torch.Tensor:
    """Binary Lovasz hinge loss.

    Args:
        logits: (B, H, W) or (B, 1, H, W) foreground logits.
        labels: (B, H, W) binary labels.
        classes, class_weight: unused (same signature as :func:`lovasz_softmax`).
        per_image: loss per image, then reduced with ``reduction``/``avg_factor``; otherwise
            one loss over the whole batch.
        ignore_index: label value of void pixels.
    """
    if per_image:
        losses = [lovasz_hinge_flat(*flatten_binary_logits(logit, label, ignore_index))
                  for logit, label in zip(logits, labels)]
        return weight_reduce_loss(torch.stack(losses), None, reduction, avg_factor)
    return lovasz_hinge_flat(*flatten_binary_logits(logits, labels, ignore_index))


def lovasz_softmax_flat(probs: torch.Tensor, labels: torch.Tensor, classes: Classes = "present",
                        class_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Multi-class Lovasz-Softmax of (P, C) probabilities and (P,) labels; 0-d tensor.

    ``classes``: 'all', 'present' (classes in ``labels``) or a list of class indices to average.
    """
    if probs.numel() == 0:
        return probs.sum() * 0.0  # only void pixels: zero loss, zero gradient
    c = probs.size(1)
    class_to_sum = list(range(c)) if classes in ("all", "present") else list(classes)
    losses = []
    for cls in class_to_sum:
        fg = (labels == cls).float()
        if classes == "present" and fg.sum() == 0:
            continue
        if c == 1:
            if not isinstance(classes, str) and len(class_to_sum) > 1:
                raise ValueError("Sigmoid output possible only with 1 class")
            class_pred = probs[:, 0]
        else:
            class_pred = probs[:, cls]
        errors = (fg - class_pred).abs()
        errors_sorted, perm = torch.sort(errors, 0, descending=True)
        loss = torch.dot(errors_sorted, lovasz_grad(fg[perm]))
        if class_weight is not None:
            loss = loss * class_weight[cls]
        losses.append(loss)
    if not losses:  # 'present' but no label in [0, C), or an empty class list
        return probs.sum() * 0.0
    return torch.stack(losses).mean()


def lovasz_softmax(probs: torch.Tensor, labels: torch.Tensor, classes: Classes = "present",
                   per_image: bool = False, class_weight: Optional[torch.Tensor] = None,
                   reduction: str = "mean", avg_factor: Optional[float] = None,
                   ignore_index: Optional[int] = 255) -> torch.Tensor:
    """Multi-class Lovasz-Softmax loss.

    Args:
        probs: (B, C, H, W) class probabilities.
        labels: (B, H, W) labels in [0, C) or ``ignore_index``.
        classes: 'all', 'present' or a list of class indices.
        per_image: loss per image, then reduced with ``reduction``/``avg_factor``; otherwise one
            loss over the batch.
        class_weight: (C,) factor of each class's loss.
        ignore_index: label value of void pixels.
    """
    if per_image:
        losses = [lovasz_softmax_flat(*flatten_probs(prob.unsqueeze(0), label.unsqueeze(0),
                                                     ignore_index),
                                      classes=classes, class_weight=class_weight)
                  for prob, label in zip(probs, labels)]
        return weight_reduce_loss(torch.stack(losses), None, reduction, avg_factor)
    return lovasz_softmax_flat(*flatten_probs(probs, labels, ignore_index), classes=classes,
                               class_weight=class_weight)


@MODELS.register_module()
class LovaszLoss(nn.Module):
    """Lovasz loss (MMSegmentation 0.x ``LovaszLoss``).

    Args:
        loss_type: 'multi_class' (Lovasz-Softmax on softmax probabilities) or 'binary' (Lovasz
            hinge on a single foreground logit).
        classes: 'all', 'present' or a list of class indices to average over.
        per_image: compute the loss per image and reduce with ``reduction`` (else one loss over
            the batch, for which ``reduction`` does not matter; MMSegmentation insists on
            ``reduction='none'`` there, seglab accepts any value).
        reduction: 'none', 'mean' or 'sum' over the images when ``per_image``.
        class_weight: per-class factor: a list or a .npy/.json/.yaml/.pkl path.
        loss_weight: factor of the loss.
        loss_name: key of this loss in the loss dict.
    """

    def __init__(self, loss_type: str = "multi_class", classes: Classes = "present",
                 per_image: bool = False, reduction: str = "mean",
                 class_weight: ClassWeight = None, loss_weight: float = 1.0,
                 loss_name: str = "loss_lovasz"):
        super().__init__()
        if loss_type not in ("binary", "multi_class"):
            raise ConfigError(f"{where('LovaszLoss')}: loss_type={loss_type!r}; use 'binary' or "
                              f"'multi_class'.")
        if not (classes in ("all", "present") or (
                isinstance(classes, (list, tuple)) and
                all(isinstance(c, int) and not isinstance(c, bool) for c in classes))):
            raise ConfigError(f"{where('LovaszLoss')}: classes={classes!r}; use 'all', 'present' "
                              f"or a list of class indices.")
        check_reduction(reduction, "LovaszLoss")
        self.loss_type = loss_type
        self.classes = classes if isinstance(classes, str) else list(classes)
        self.per_image = per_image
        self.reduction = reduction
        self.class_weight = get_class_weight(class_weight)
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """Key of this loss in the loss dict (``'loss_lovasz'`` by default)."""
        return self._loss_name

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor,
                weight: Optional[torch.Tensor] = None, avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                ignore_index: Optional[int] = 255) -> torch.Tensor:
        """Compute the loss.

        Args:
            cls_score: logits (N, C, H, W) ('binary': (N, 1, H, W) or (N, H, W)).
            label: (N, H, W) labels.
            weight: accepted for the decode-head interface and not used (the Lovasz extension is
                not a sum of per-pixel terms; MMSegmentation ignores it too).
            avg_factor: denominator of the per-image 'mean'.
            reduction_override: 'none', 'mean' or 'sum'.
            ignore_index: label value of void pixels.

        Returns:
            0-d tensor ((N,) for ``per_image`` with 'none').
        """
        if reduction_override is not None:
            check_reduction(reduction_override, "LovaszLoss", "reduction_override")
        reduction = reduction_override or self.reduction
        class_weight = None
        if self.class_weight is not None:
            class_weight = cls_score.new_tensor(self.class_weight)
        if self.loss_type == "multi_class":
            loss = lovasz_softmax(F.softmax(cls_score, dim=1), label, self.classes,
                                  self.per_image, class_weight=class_weight, reduction=reduction,
                                  avg_factor=avg_factor, ignore_index=ignore_index)
        else:
            loss = lovasz_hinge(cls_score, label, self.classes, self.per_image,
                                class_weight=class_weight, reduction=reduction,
                                avg_factor=avg_factor, ignore_index=ignore_index)
        return self.loss_weight * loss
