"""Cross-entropy losses: softmax, sigmoid (binary / one-vs-rest) and mask variants.

Numerics follow MMSegmentation 0.x (v0.30): the softmax loss is
``F.cross_entropy(reduction='none')`` (0 at ignored pixels), times an optional per-pixel weight,
then ``sum / (n + eps)`` where ``n`` counts every label pixel, ignored ones included, unless
``avg_non_ignore=True`` (then only the non-ignored ones). ``class_weight`` rescales each pixel's
loss by the weight of its class but - unlike PyTorch's own mean - is not part of the denominator.
"""
from __future__ import annotations

import warnings
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from ...errors import ConfigError, DatasetError
from ...registry import MODELS
from ..layers import resize
from .utils import ClassWeight, check_reduction, get_class_weight, weight_reduce_loss, where

AvgFactor = Optional[Union[float, torch.Tensor]]


def _bad_labels_message(label: torch.Tensor, num_classes: int, ignore_index: int) -> str:
    bad = label[((label < 0) | (label >= num_classes)) & (label != ignore_index)]
    values = sorted(set(bad.unique().tolist()))
    shown = ", ".join(str(v) for v in values[:10]) + (", ..." if len(values) > 10 else "")
    return (f"label values [{shown}] are outside [0, {num_classes}) and are not ignore_index="
            f"{ignore_index}: check num_classes in the model config, the dataset's "
            f"reduce_zero_label / label_map settings, and the label files "
            f"(tools/check_dataset.py lists bad files).")


def _check_class_weight(class_weight: Optional[torch.Tensor], num_classes: int) -> None:
    if class_weight is not None and class_weight.numel() != num_classes:
        raise ConfigError(f"class_weight has {class_weight.numel()} values but the prediction has "
                          f"{num_classes} classes; give one weight per class.")


def _pixel_cross_entropy(pred: torch.Tensor, label: torch.Tensor,
                         class_weight: Optional[torch.Tensor], ignore_index: int) -> torch.Tensor:
    """``F.cross_entropy(reduction='none')``; labels out of range give a DatasetError."""
    _check_class_weight(class_weight, pred.size(1))
    try:
        return F.cross_entropy(pred, label, weight=class_weight, reduction="none",
                               ignore_index=ignore_index)
    except (IndexError, RuntimeError) as exc:
        out_of_range = (label < 0) | (label >= pred.size(1))
        if label.numel() and (out_of_range & (label != ignore_index)).any():
            raise DatasetError(_bad_labels_message(label, pred.size(1), ignore_index)) from exc
        raise


def _reduce_cross_entropy(loss: torch.Tensor, label: torch.Tensor, weight: Optional[torch.Tensor],
                          reduction: str, avg_factor: AvgFactor, ignore_index: int,
                          avg_non_ignore: bool) -> torch.Tensor:
    """MMSegmentation's weighting and averaging of the per-pixel loss."""
    if avg_factor is None and reduction == "mean":
        # The sum over all pixels divided by numel (+eps) is the exact arithmetic of MMSeg's mean.
        if avg_non_ignore:
            avg_factor = label.numel() - (label == ignore_index).sum().item()
        else:
            avg_factor = label.numel()
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(loss, weight=weight, reduction=reduction, avg_factor=avg_factor)


def cross_entropy(pred: torch.Tensor, label: torch.Tensor, weight: Optional[torch.Tensor] = None,
                  class_weight: Optional[torch.Tensor] = None, reduction: str = "mean",
                  avg_factor: AvgFactor = None, ignore_index: int = -100,
                  avg_non_ignore: bool = False) -> torch.Tensor:
    """Softmax cross-entropy with MMSegmentation's averaging.

    Args:
        pred: logits (N, C, H, W) (or (N, C)).
        label: class indices (N, H, W) (or (N,)), int64; ``ignore_index`` marks void pixels.
        weight: per-pixel weight, same shape as ``label`` (e.g. from a pixel sampler).
        class_weight: (C,) weight of each class.
        reduction: 'none' (per-pixel loss, shape of ``label``), 'mean' or 'sum'.
        avg_factor: denominator of the mean; default: ``label.numel()``, or the number of
            non-ignored pixels when ``avg_non_ignore``.
        ignore_index: label value that contributes neither loss nor gradient.
        avg_non_ignore: average over non-ignored pixels only.

    Returns:
        The loss: per pixel for 'none', else a 0-d tensor.
    """
    loss = _pixel_cross_entropy(pred, label, class_weight, ignore_index)
    return _reduce_cross_entropy(loss, label, weight, reduction, avg_factor, ignore_index,
                                 avg_non_ignore)


def _autocast_state(device_type: str) -> Tuple[bool, torch.dtype]:
    """Whether autocast is on for ``device_type`` and its dtype (torch >= 2.4, and older)."""
    try:
        return torch.is_autocast_enabled(device_type), torch.get_autocast_dtype(device_type)
    except (TypeError, AttributeError):  # torch < 2.4: one function per device type
        if device_type == "cpu":
            return torch.is_autocast_cpu_enabled(), torch.get_autocast_cpu_dtype()
        return torch.is_autocast_enabled(), torch.get_autocast_gpu_dtype()


class _ResizedPixelCrossEntropy(torch.autograd.Function):
    """Per-pixel cross-entropy of bilinearly resized logits that keeps only the small logits.

    Autograd on ``F.cross_entropy(resize(logit))`` keeps the full-resolution log-probabilities
    (N x C x H x W floats: 630 MB for ADE20K's 150 classes at batch 4 of 512x512) alive from the
    loss until the backward pass. This function keeps the logits at the head's resolution and
    the labels, and recomputes the resize and the log-softmax in backward, under the forward's
    autocast state: the same kernels in the same order, so loss and gradients are bit-identical
    to the plain graph (tested), at the price of computing the resize and the log-softmax twice.

    Returns the per-pixel loss and the resized logits (not differentiable, for the accuracy).
    """

    @staticmethod
    def forward(ctx, logit, label, class_weight, size, align_corners, ignore_index):
        resized = resize(logit, size=size, mode="bilinear", align_corners=align_corners)
        loss = _pixel_cross_entropy(resized, label, class_weight, ignore_index)
        ctx.save_for_backward(logit, label)
        ctx.class_weight = class_weight
        ctx.args = (tuple(size), align_corners, ignore_index)
        ctx.autocast = (logit.device.type, *_autocast_state(logit.device.type))
        ctx.mark_non_differentiable(resized)
        ctx.set_materialize_grads(False)  # no zero gradient of the resized logits' size
        return loss, resized

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss, _grad_resized):
        if grad_loss is None:
            return None, None, None, None, None, None
        logit, label = ctx.saved_tensors
        size, align_corners, ignore_index = ctx.args
        device_type, enabled, dtype = ctx.autocast
        with torch.enable_grad(), torch.autocast(device_type, dtype=dtype, enabled=enabled):
            leaf = logit.detach().requires_grad_()
            resized = F.interpolate(leaf, size, mode="bilinear", align_corners=align_corners)
            loss = F.cross_entropy(resized, label, weight=ctx.class_weight, reduction="none",
                                   ignore_index=ignore_index)
            del resized
            (grad,) = torch.autograd.grad(loss, leaf, grad_loss)
        return grad, None, None, None, None, None


def _expand_onehot_labels(labels: torch.Tensor, label_weights: Optional[torch.Tensor],
                          target_shape: torch.Size, ignore_index: int):
    """One-hot (N, C, ...) targets, their weights and validity for a one-vs-rest sigmoid loss."""
    bin_labels = labels.new_zeros(target_shape)
    valid_mask = (labels >= 0) & (labels != ignore_index)
    inds = torch.nonzero(valid_mask, as_tuple=True)
    if inds[0].numel() > 0:
        if labels.dim() == 3:
            bin_labels[inds[0], labels[valid_mask], inds[1], inds[2]] = 1
        else:
            bin_labels[inds[0], labels[valid_mask]] = 1
    valid_mask = valid_mask.unsqueeze(1).expand(target_shape).float()
    if label_weights is None:
        bin_label_weights = valid_mask
    else:
        bin_label_weights = label_weights.unsqueeze(1).expand(target_shape).float() * valid_mask
    return bin_labels, bin_label_weights, valid_mask


def binary_cross_entropy(pred: torch.Tensor, label: torch.Tensor,
                         weight: Optional[torch.Tensor] = None, reduction: str = "mean",
                         avg_factor: AvgFactor = None, class_weight: Optional[torch.Tensor] = None,
                         ignore_index: int = -100, avg_non_ignore: bool = False) -> torch.Tensor:
    """Sigmoid binary cross-entropy, per class (one-vs-rest) or for a single foreground channel.

    Shapes: ``pred`` (N, 1, H, W) with ``label`` (N, H, W) in {0, 1} (binary segmentation);
    ``pred`` (N, C, H, W) with ``label`` (N, H, W) in [0, C) (one-hot expanded); or ``pred`` and
    ``label`` of the same shape (label = per-element targets). Ignored pixels get weight 0, the
    mean divides by every element unless ``avg_non_ignore``. ``class_weight`` is BCE's
    ``pos_weight`` (one value per channel).

    Returns:
        The loss: element-wise for 'none' (shape of ``pred`` after squeezing a single channel),
        else a 0-d tensor.
    """
    if pred.dim() == label.dim() + 1 and pred.size(1) == 1:
        valid = label[label != ignore_index]
        if valid.numel() and (valid.max() > 1 or valid.min() < 0):
            raise DatasetError(
                f"a prediction with one channel (N, 1, H, W) is binary segmentation: labels must "
                f"be 0, 1 or ignore_index={ignore_index}, got values "
                f"{sorted(set(valid.unique().tolist()))[:10]}; use num_classes=2 with softmax or "
                f"fix the labels.")
        pred = pred.squeeze(1)
    if pred.dim() != label.dim():
        if not ((pred.dim() == 2 and label.dim() == 1) or (pred.dim() == 4 and label.dim() == 3)):
            raise ValueError(f"binary_cross_entropy supports pred (N, C) with label (N,) or pred "
                             f"(N, C, H, W) with label (N, H, W); got {tuple(pred.shape)} and "
                             f"{tuple(label.shape)}.")
        label, weight, valid_mask = _expand_onehot_labels(label, weight, pred.shape, ignore_index)
    else:
        valid_mask = ((label >= 0) & (label != ignore_index)).float()
        weight = valid_mask if weight is None else weight * valid_mask
        # Void pixels are masked out anyway; a 0 target keeps their (unused) loss finite.
        label = torch.where(valid_mask.bool(), label, torch.zeros_like(label))
    if reduction == "mean" and avg_factor is None and avg_non_ignore:
        avg_factor = valid_mask.sum().item()
    pos_weight = class_weight
    if pos_weight is not None and pred.dim() > 2 and pos_weight.numel() > 1:
        # One weight per channel: align it with dim 1, not with the last (width) dimension.
        pos_weight = pos_weight.view(-1, *([1] * (pred.dim() - 2)))
    loss = F.binary_cross_entropy_with_logits(pred, label.float(), pos_weight=pos_weight,
                                              reduction="none")
    return weight_reduce_loss(loss, weight, reduction=reduction, avg_factor=avg_factor)


def mask_cross_entropy(pred: torch.Tensor, target: torch.Tensor, label: torch.Tensor,
                       reduction: str = "mean", avg_factor: AvgFactor = None,
                       class_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Binary cross-entropy of per-object masks, reading each object's mask from its class channel.

    Args:
        pred: mask logits (R, C, H, W), one row per object (R objects, C classes).
        target: binary masks (R, H, W).
        label: class index of each object, (R,).
        reduction: only 'mean' is supported (as in MMSegmentation).
        avg_factor: must be None.
        class_weight: BCE element weight.

    Returns:
        Tensor of shape (1,).
    """
    if reduction != "mean" or avg_factor is not None:
        raise ValueError("the mask cross-entropy (use_mask=True) supports only reduction='mean' "
                         "without avg_factor.")
    if label is None:
        raise ValueError("use_mask=True needs the class index of each mask, passed as `weight` "
                         "(shape (R,)), as in MMSegmentation.")
    inds = torch.arange(pred.size(0), dtype=torch.long, device=pred.device)
    pred_slice = pred[inds, label.long()]
    return F.binary_cross_entropy_with_logits(pred_slice, target.float(), weight=class_weight,
                                              reduction="mean")[None]


@MODELS.register_module()
class CrossEntropyLoss(nn.Module):
    """Cross-entropy loss (softmax by default) with MMSegmentation 0.x's options and numerics.

    Args:
        use_sigmoid: sigmoid binary cross-entropy instead of softmax (see
            :func:`binary_cross_entropy`).
        use_mask: per-object mask cross-entropy (see :func:`mask_cross_entropy`).
        reduction: 'none', 'mean' or 'sum'.
        class_weight: per-class weights: a list, or the path of a .npy/.json/.yaml/.pkl file.
        loss_weight: factor applied to the loss.
        loss_name: key of this loss in the head's loss dict.
        avg_non_ignore: average over non-ignored pixels only (PyTorch's convention); the default
            False averages over all pixels, as MMSegmentation does.
    """

    def __init__(self, use_sigmoid: bool = False, use_mask: bool = False, reduction: str = "mean",
                 class_weight: ClassWeight = None, loss_weight: float = 1.0,
                 loss_name: str = "loss_ce", avg_non_ignore: bool = False):
        super().__init__()
        if use_sigmoid and use_mask:
            raise ConfigError(f"{where('CrossEntropyLoss')}: use_sigmoid and use_mask cannot both "
                              f"be True; pick one.")
        check_reduction(reduction, "CrossEntropyLoss")
        self.use_sigmoid = use_sigmoid
        self.use_mask = use_mask
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.class_weight = get_class_weight(class_weight)
        self.avg_non_ignore = avg_non_ignore
        if not self.avg_non_ignore and self.reduction == "mean":
            warnings.warn(
                "Default ``avg_non_ignore`` is False, if you would like to ignore the certain "
                "label and average loss over non-ignore labels, which is the same with PyTorch "
                "official cross_entropy, set ``avg_non_ignore=True``.")
        self._loss_name = loss_name

    def extra_repr(self) -> str:
        return f"avg_non_ignore={self.avg_non_ignore}"

    @property
    def loss_name(self) -> str:
        """Key of this loss in the loss dict (``'loss_ce'`` by default)."""
        return self._loss_name

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor,
                weight: Optional[torch.Tensor] = None, avg_factor: AvgFactor = None,
                reduction_override: Optional[str] = None, ignore_index: int = 255) -> torch.Tensor:
        """Compute the loss.

        Args:
            cls_score: logits (N, C, H, W) (sigmoid binary: (N, 1, H, W)).
            label: (N, H, W) int64 class indices.
            weight: optional per-pixel weight (N, H, W); for ``use_mask`` the class of each mask.
            avg_factor: denominator of the mean instead of the pixel count.
            reduction_override: 'none', 'mean' or 'sum' for this call.
            ignore_index: label value to ignore (the decode head passes its own); not used by the
                mask variant.

        Returns:
            ``loss_weight`` times the loss (0-d, or per pixel for 'none').
        """
        reduction, class_weight = self._reduction_and_class_weight(cls_score, reduction_override)
        if self.use_mask:
            loss = mask_cross_entropy(cls_score, label, weight, reduction=reduction,
                                      avg_factor=avg_factor, class_weight=class_weight)
        elif self.use_sigmoid:
            loss = binary_cross_entropy(cls_score, label, weight, reduction=reduction,
                                        avg_factor=avg_factor, class_weight=class_weight,
                                        ignore_index=ignore_index,
                                        avg_non_ignore=self.avg_non_ignore)
        else:
            loss = cross_entropy(cls_score, label, weight, class_weight=class_weight,
                                 reduction=reduction, avg_factor=avg_factor,
                                 ignore_index=ignore_index, avg_non_ignore=self.avg_non_ignore)
        return self.loss_weight * loss

    def _reduction_and_class_weight(self, ref: torch.Tensor, reduction_override: Optional[str]
                                    ) -> Tuple[str, Optional[torch.Tensor]]:
        """This call's reduction and the class weights as a tensor like ``ref``."""
        if reduction_override is not None:
            check_reduction(reduction_override, "CrossEntropyLoss", "reduction_override")
        class_weight = ref.new_tensor(self.class_weight) if self.class_weight is not None else None
        return reduction_override or self.reduction, class_weight

    @property
    def takes_resized_logits(self) -> bool:
        """Whether :meth:`forward_resized` applies (the softmax loss, not sigmoid or mask)."""
        return not (self.use_sigmoid or self.use_mask)

    def forward_resized(self, logit: torch.Tensor, label: torch.Tensor,
                        align_corners: Optional[bool], weight: Optional[torch.Tensor] = None,
                        avg_factor: AvgFactor = None, reduction_override: Optional[str] = None,
                        ignore_index: int = 255) -> Tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward` of ``logit`` resized bilinearly to the label size, lighter in memory.

        The same loss and the same gradients, bit for bit, as ``forward(resize(logit, ...))``,
        but the full-resolution log-probabilities are not kept for backward (see
        :class:`_ResizedPixelCrossEntropy`). Only for the softmax loss
        (:attr:`takes_resized_logits`).

        Returns:
            ``(loss, resized logits)``; the resized logits carry no gradient.
        """
        if not self.takes_resized_logits:
            raise ValueError("forward_resized is the softmax loss; call forward for "
                             "use_sigmoid / use_mask.")
        reduction, class_weight = self._reduction_and_class_weight(logit, reduction_override)
        loss, resized = _ResizedPixelCrossEntropy.apply(logit, label, class_weight, label.shape[1:],
                                                        align_corners, ignore_index)
        loss = _reduce_cross_entropy(loss, label, weight, reduction, avg_factor, ignore_index,
                                     self.avg_non_ignore)
        return self.loss_weight * loss, resized
