"""Sigmoid focal loss (RetinaNet), as MMSegmentation 0.x computes it without CUDA.

MMSegmentation runs mmcv's compiled kernel on CUDA and ``py_sigmoid_focal_loss`` otherwise; this is
the latter in plain PyTorch, on every device. Each class is a one-vs-rest binary problem:
``BCE(x, t) * (alpha * t + (1 - alpha) * (1 - t)) * |t - sigmoid(x)| ** gamma`` per pixel and class,
ignored pixels weighted 0, and 'mean' divides by pixels x classes (ignored pixels included).
"""
from __future__ import annotations

from typing import List, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError, DatasetError
from ...registry import MODELS
from .utils import ClassWeight, check_reduction, get_class_weight, weight_reduce_loss, where

Alpha = Union[float, List[float]]


def py_sigmoid_focal_loss(pred: torch.Tensor, target: torch.Tensor,
                          weight: Optional[torch.Tensor] = None, gamma: float = 2.0,
                          alpha: Alpha = 0.5, class_weight: Optional[List[float]] = None,
                          valid_mask: Optional[torch.Tensor] = None, reduction: str = "mean",
                          avg_factor: Optional[Union[float, torch.Tensor]] = None) -> torch.Tensor:
    """Focal loss on flattened predictions.

    Args:
        pred: logits (P, C).
        target: one-hot or soft targets (P, C).
        weight: per-pixel (P,) / (P, 1) or per-element (P, C) weight.
        gamma: focusing exponent.
        alpha: foreground weight, a float or one per class.
        class_weight: (C,) factor of each class.
        valid_mask: (P, 1), 0 at ignored pixels.
        reduction: 'none' ((P, C) loss), 'mean' or 'sum'.
        avg_factor: denominator of 'mean' instead of P * C.
    """
    if isinstance(alpha, (list, tuple)):
        alpha = pred.new_tensor(alpha)
    pred_sigmoid = pred.sigmoid()
    target = target.type_as(pred)
    one_minus_pt = (1 - pred_sigmoid) * target + pred_sigmoid * (1 - target)
    focal_weight = (alpha * target + (1 - alpha) * (1 - target)) * one_minus_pt.pow(gamma)
    loss = F.binary_cross_entropy_with_logits(pred, target, reduction="none") * focal_weight
    final_weight = torch.ones(1, pred.size(1)).type_as(loss)
    if weight is not None:
        if weight.shape != loss.shape:
            # A per-pixel weight ((N, H, W) from a pixel sampler, or (P,)) applies to all classes.
            if weight.numel() != loss.size(0):
                raise ValueError(f"focal loss weight of shape {tuple(weight.shape)} matches "
                                 f"neither the {loss.size(0)} pixels nor the loss shape "
                                 f"{tuple(loss.shape)}.")
            weight = weight.reshape(-1, 1)
        final_weight = final_weight * weight
    if class_weight is not None:
        final_weight = final_weight * pred.new_tensor(class_weight)
    if valid_mask is not None:
        final_weight = final_weight * valid_mask
    return weight_reduce_loss(loss, final_weight, reduction, avg_factor)


def _to_rows(x: torch.Tensor) -> torch.Tensor:
    """(B, C, d1, ..., dk) -> (B * d1 * ... * dk, C), pixels in (b, d1, ..., dk) order."""
    x = x.transpose(0, 1)
    return x.reshape(x.size(0), -1).transpose(0, 1).contiguous()


@MODELS.register_module()
class FocalLoss(nn.Module):
    """Sigmoid focal loss (MMSegmentation 0.x ``FocalLoss``).

    Args:
        use_sigmoid: must be True (only the sigmoid form exists, as in MMSegmentation).
        gamma: focusing exponent.
        alpha: weight of the positive (foreground) term; a float in [0, 1] or one per class.
            This is not a class weight: use ``class_weight`` for that.
        reduction: 'none', 'mean' or 'sum'.
        class_weight: per-class factor: a list or a .npy/.json/.yaml/.pkl path.
        loss_weight: factor of the loss.
        loss_name: key of this loss in the loss dict.
    """

    def __init__(self, use_sigmoid: bool = True, gamma: float = 2.0, alpha: Alpha = 0.5,
                 reduction: str = "mean", class_weight: ClassWeight = None,
                 loss_weight: float = 1.0, loss_name: str = "loss_focal"):
        super().__init__()
        if use_sigmoid is not True:
            raise ConfigError(f"{where('FocalLoss')}: only the sigmoid focal loss exists "
                              f"(use_sigmoid=True), got use_sigmoid={use_sigmoid!r}.")
        check_reduction(reduction, "FocalLoss")
        if isinstance(alpha, (list, tuple)):
            if not all(isinstance(a, (int, float)) for a in alpha):
                raise ConfigError(f"{where('FocalLoss')}: alpha must be a float or a list of "
                                  f"floats, got {alpha!r}.")
            alpha = [float(a) for a in alpha]
        elif isinstance(alpha, (int, float)) and not isinstance(alpha, bool):
            alpha = float(alpha)
        else:
            raise ConfigError(f"{where('FocalLoss')}: alpha must be a float or a list of floats, "
                              f"got {alpha!r}.")
        for name, value in (("gamma", gamma), ("loss_weight", loss_weight)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{where('FocalLoss')}: {name} must be a number, got {value!r}.")
        if not isinstance(loss_name, str):
            raise ConfigError(f"{where('FocalLoss')}: loss_name must be a str, got {loss_name!r}.")
        self.use_sigmoid = use_sigmoid
        self.gamma = float(gamma)
        self.alpha = alpha
        self.reduction = reduction
        self.class_weight = get_class_weight(class_weight)
        self.loss_weight = float(loss_weight)
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """Key of this loss in the loss dict (``'loss_focal'`` by default)."""
        return self._loss_name

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[Union[float, torch.Tensor]] = None,
                reduction_override: Optional[str] = None,
                ignore_index: int = 255) -> torch.Tensor:
        """Compute the loss.

        Args:
            pred: logits (N, C, d1, ..., dk), e.g. (N, C, H, W).
            target: labels (N, d1, ..., dk) or per-class targets of ``pred``'s shape.
            weight: optional per-pixel (N, H, W) or per-element weight.
            avg_factor: denominator of 'mean'.
            reduction_override: 'none', 'mean' or 'sum'.
            ignore_index: label value of void pixels.

        Returns:
            0-d tensor, or (N, C, d1, ..., dk) for 'none'.
        """
        if reduction_override is not None:
            check_reduction(reduction_override, "FocalLoss", "reduction_override")
        reduction = reduction_override or self.reduction
        original_shape = pred.shape
        if not (pred.shape == target.shape or
                (pred.size(0) == target.size(0) and pred.shape[2:] == target.shape[1:])):
            raise ValueError(f"FocalLoss: the target shape {tuple(target.shape)} matches neither "
                             f"the prediction {tuple(original_shape)} nor its (N, H, W) label "
                             f"shape.")
        num_classes = pred.size(1)
        for name, value in (("alpha", self.alpha), ("class_weight", self.class_weight)):
            if isinstance(value, list) and len(value) != num_classes:
                raise ConfigError(f"FocalLoss {name} has {len(value)} values but the prediction "
                                  f"has {num_classes} classes.")
        pred = _to_rows(pred)
        if original_shape == target.shape:
            target = _to_rows(target)
            valid_mask = (target.argmax(dim=1) != ignore_index).view(-1, 1)
        else:
            target = target.reshape(-1)
            valid_mask = (target != ignore_index).view(-1, 1)
            # Void pixels get class 0 so that one_hot works; valid_mask zeroes their loss.
            target = torch.where(valid_mask.view(-1), target, target.new_zeros(()))
            bad = (target < 0) | (target >= num_classes)
            if bad.any():
                raise DatasetError(
                    f"FocalLoss: label values {sorted(set(target[bad].tolist()))[:10]} are outside "
                    f"[0, {num_classes}) and are not ignore_index={ignore_index}; check "
                    f"num_classes and the label files (tools/check_dataset.py).")
            target = F.one_hot(target.long(), num_classes=num_classes)
        loss = self.loss_weight * py_sigmoid_focal_loss(
            pred, target, weight, gamma=self.gamma, alpha=self.alpha,
            class_weight=self.class_weight, valid_mask=valid_mask, reduction=reduction,
            avg_factor=avg_factor)
        if reduction == "none":
            # (P, C) -> (C, N, d1, ..., dk) -> (N, C, d1, ..., dk)
            loss = loss.transpose(0, 1).reshape(original_shape[1], original_shape[0],
                                                *original_shape[2:])
            loss = loss.transpose(0, 1).contiguous()
        return loss
