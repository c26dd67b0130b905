"""Dice loss (V-Net), as in MMSegmentation 0.x.

For each class c: ``1 - (2 * sum(p_c * t_c * valid) + smooth) / (sum(p_c^e + t_c^e) + smooth)``
per image, averaged over the batch; the class losses (times ``class_weight``) are summed and divided
by the number of classes. ``p`` is the softmax of the logits, ``t`` the one-hot label. Two details
are MMSegmentation's and kept on purpose so that numbers match: the denominator is *not* masked by
the valid pixels, and an ignored pixel's one-hot target is the last class (its label is clamped to
``C - 1`` before one-hot encoding); the class whose index equals ``ignore_index`` (if any) is
skipped but still counted in the division.
"""
from __future__ import annotations

import warnings
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from .utils import ClassWeight, check_reduction, get_class_weight, weight_reduce_loss, where


def binary_dice_loss(pred: torch.Tensor, target: torch.Tensor, valid_mask: torch.Tensor,
                     smooth: float = 1, exponent: float = 2) -> torch.Tensor:
    """Dice loss of one class, averaged over the images of the batch.

    Args:
        pred: probabilities (N, H, W).
        target: binary target (N, H, W).
        valid_mask: 1 at non-ignored pixels (N, H, W).
        smooth: added to numerator and denominator.
        exponent: power of ``pred`` and ``target`` in the denominator.

    Returns:
        0-d tensor.
    """
    n = pred.shape[0]
    pred = pred.reshape(n, -1)
    target = target.reshape(n, -1)
    valid_mask = valid_mask.reshape(n, -1)
    num = torch.sum(pred * target * valid_mask, dim=1) * 2 + smooth
    den = torch.sum(pred.pow(exponent) + target.pow(exponent), dim=1) + smooth
    return (1 - num / den).mean()


def dice_loss(pred: torch.Tensor, target: torch.Tensor, valid_mask: torch.Tensor,
              smooth: float = 1, exponent: float = 2,
              class_weight: Optional[torch.Tensor] = None, ignore_index: int = 255,
              reduction: str = "mean",
              avg_factor: Optional[Union[float, torch.Tensor]] = None) -> torch.Tensor:
    """Multi-class Dice loss: the mean over classes of :func:`binary_dice_loss`.

    Args:
        pred: probabilities (N, C, H, W).
        target: one-hot target (N, H, W, C).
        valid_mask: 1 at non-ignored pixels (N, H, W).
        smooth, exponent: see :func:`binary_dice_loss`.
        class_weight: (C,) factor of each class's loss.
        ignore_index: a class with this index is skipped.
        reduction, avg_factor: applied to the (already scalar) loss, as MMSegmentation does:
            only an ``avg_factor`` with 'mean' changes it (divides by ``avg_factor + eps``).

    Returns:
        0-d tensor.
    """
    num_classes = pred.shape[1]
    total = pred.new_zeros(())
    for i in range(num_classes):
        if i == ignore_index:
            continue
        loss_i = binary_dice_loss(pred[:, i], target[..., i], valid_mask=valid_mask,
                                  smooth=smooth, exponent=exponent)
        if class_weight is not None:
            loss_i = loss_i * class_weight[i]
        total = total + loss_i
    return weight_reduce_loss(total / num_classes, None, reduction, avg_factor)


@MODELS.register_module()
class DiceLoss(nn.Module):
    """Softmax Dice loss (MMSegmentation 0.x ``DiceLoss``).

    Args:
        smooth: smoothing term of numerator and denominator.
        exponent: power in the denominator.
        reduction: 'none', 'mean' or 'sum'; the loss is a scalar whatever the choice (kept for
            config compatibility).
        class_weight: per-class factors: a list or a .npy/.json/.yaml/.pkl path.
        loss_weight: factor of the loss.
        ignore_index: label value of void pixels. This value, not the one the decode head passes
            to ``forward``, is used (as in MMSegmentation 0.x).
        loss_name: key of this loss in the loss dict.
    """

    def __init__(self, smooth: float = 1, exponent: float = 2, reduction: str = "mean",
                 class_weight: ClassWeight = None, loss_weight: float = 1.0,
                 ignore_index: int = 255, loss_name: str = "loss_dice"):
        super().__init__()
        check_reduction(reduction, "DiceLoss")
        if exponent <= 0:
            raise ConfigError(f"{where('DiceLoss')}: exponent must be > 0, got {exponent!r}.")
        self.smooth = smooth
        self.exponent = exponent
        self.reduction = reduction
        self.class_weight = get_class_weight(class_weight)
        self.loss_weight = loss_weight
        self.ignore_index = ignore_index
        self._loss_name = loss_name
        self._warned_ignore_index = False

    @property
    def loss_name(self) -> str:
        """Key of this loss in the loss dict (``'loss_dice'`` by default)."""
        return self._loss_name

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[Union[float, torch.Tensor]] = None,
                reduction_override: Optional[str] = None,
                ignore_index: Optional[int] = None) -> torch.Tensor:
        """Compute the loss.

        Args:
            pred: logits (N, C, H, W).
            target: labels (N, H, W).
            weight: accepted for the decode-head interface and not used: Dice is not a sum of
                per-pixel terms (MMSegmentation ignores it too).
            avg_factor: optional divisor of the loss.
            reduction_override: 'none', 'mean' or 'sum'.
            ignore_index: accepted for the decode-head interface; ``self.ignore_index`` is used.

        Returns:
            0-d tensor.
        """
        if reduction_override is not None:
            check_reduction(reduction_override, "DiceLoss", "reduction_override")
        reduction = reduction_override or self.reduction
        if ignore_index is not None and ignore_index != self.ignore_index and \
                not self._warned_ignore_index:
            self._warned_ignore_index = True
            warnings.warn(f"DiceLoss uses its own ignore_index={self.ignore_index}, not the "
                          f"ignore_index={ignore_index} of the decode head; set "
                          f"loss_decode.ignore_index to match.")
        num_classes = pred.shape[1]
        class_weight = None
        if self.class_weight is not None:
            if len(self.class_weight) != num_classes:
                raise ConfigError(f"DiceLoss class_weight has {len(self.class_weight)} values but "
                                  f"the prediction has {num_classes} classes.")
            class_weight = pred.new_tensor(self.class_weight)
        prob = F.softmax(pred, dim=1)
        one_hot = F.one_hot(torch.clamp(target.long(), 0, num_classes - 1),
                            num_classes=num_classes)
        valid_mask = (target != self.ignore_index).long()
        loss = dice_loss(prob, one_hot, valid_mask, smooth=self.smooth, exponent=self.exponent,
                         class_weight=class_weight, ignore_index=self.ignore_index,
                         reduction=reduction, avg_factor=avg_factor)
        return self.loss_weight * loss
