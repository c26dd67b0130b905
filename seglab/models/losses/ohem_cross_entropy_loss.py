"""``OhemCrossEntropy``: PIDNet's / DDRNet's cross-entropy of the hardest pixels (MMSeg 1.x).

MMSegmentation 1.x's ``OhemCrossEntropy`` (from the PIDNet code): per-pixel softmax cross-entropy
(``class_weight`` multiplies each pixel's loss, no renormalisation), then the mean over the
non-ignored pixels whose predicted probability of their true class is below
``max(thres, p_k)``, where ``p_k`` is the ``min_kept``-th smallest such probability (the
``min(min_kept, n - 1)``-th, 0-based). So at least ``min_kept`` pixels count when there are
enough, and every pixel less confident than ``thres`` counts.

The selection is found with ``kthvalue`` instead of sorting every pixel (the same pixels; the
mean may differ from MMSeg's sorted order in the last float bits). Where MMSeg's mean of an empty
selection is NaN (every pixel at the threshold or above) this returns 0.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from .utils import ClassWeight, get_class_weight, where


@MODELS.register_module()
class OhemCrossEntropy(nn.Module):
    """Online hard example mining cross-entropy.

    Args:
        ignore_label: label value without loss (MMSeg's name).
        thres: pixels whose true-class probability is below it are hard (MMSeg's spelling).
        min_kept: at least this many of the least confident pixels are kept (>= 1).
        loss_weight: factor applied to the loss.
        class_weight: per-class weights: a list, or the path of a .npy/.json/.yaml/.pkl file.
        loss_name: key of this loss in the head's loss dict.
    """

    def __init__(self, ignore_label: int = 255, thres: float = 0.7, min_kept: int = 100000,
                 loss_weight: float = 1.0, class_weight: ClassWeight = None,
                 loss_name: str = "loss_ohem"):
        super().__init__()
        self.ignore_label, self.thresh = ignore_label, thres
        self.min_kept = max(1, int(min_kept))
        self.loss_weight = loss_weight
        self.class_weight = get_class_weight(class_weight)
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """Key of this loss in the loss dict (``'loss_ohem'`` by default)."""
        return self._loss_name

    def extra_repr(self) -> str:
        return f"thres={self.thresh}, min_kept={self.min_kept}, ignore_label={self.ignore_label}"

    def forward(self, score: torch.Tensor, target: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                ignore_index: Optional[int] = None) -> torch.Tensor:
        """The loss.

        Args:
            score: logits (N, C, H, W).
            target: (N, H, W) int64 labels.
            weight: must be None (a decode head's pixel ``sampler`` would pick pixels twice).
            ignore_index: a decode head's ignore_index; None uses ``ignore_label``.

        Returns:
            0-d tensor: ``loss_weight`` times the mean loss of the selected pixels.
        """
        if weight is not None:
            raise ConfigError(f"{where('OhemCrossEntropy')}: it selects its own hard pixels; "
                              f"remove the head's sampler (or use CrossEntropyLoss with it).")
        ignore = self.ignore_label if ignore_index is None else ignore_index
        class_weight = (score.new_tensor(self.class_weight)
                        if self.class_weight is not None else None)
        if class_weight is not None and class_weight.numel() != score.size(1):
            raise ConfigError(f"{where('OhemCrossEntropy')}: class_weight has "
                              f"{class_weight.numel()} values but the prediction has "
                              f"{score.size(1)} classes; give one weight per class.")
        # one log-softmax for both the loss (cross_entropy is nll_loss of it) and the probability
        log_prob = F.log_softmax(score, dim=1)
        pixel_losses = F.nll_loss(log_prob, target, weight=class_weight, ignore_index=ignore,
                                  reduction="none").reshape(-1)
        valid = target.reshape(-1) != ignore
        safe_target = torch.where(valid.view_as(target), target, torch.zeros_like(target))
        prob = log_prob.gather(1, safe_target.unsqueeze(1)).reshape(-1)[valid].exp()
        if prob.numel() == 0:  # zero, still on the graph: backward() works on such a batch
            return score.sum() * 0.0
        k = min(self.min_kept, prob.numel() - 1)
        kth_prob = prob.detach().kthvalue(k + 1).values
        threshold = torch.clamp(kth_prob, min=self.thresh)
        hard = pixel_losses[valid][prob < threshold]
        if hard.numel() == 0:
            return score.sum() * 0.0
        return self.loss_weight * hard.mean()
