"""``BoundaryLoss``: PIDNet's class-balanced binary cross-entropy of boundaries (MMSeg 1.x).

MMSegmentation 1.x's ``BoundaryLoss`` (from the PIDNet code): sigmoid cross-entropy of the
boundary logits against the edge label, every edge pixel weighted by the fraction of non-edge
pixels and every non-edge pixel by the fraction of edge pixels (over the whole batch), averaged
over all pixels; pixels labelled neither 0 nor 1 (padding, 255) weigh 0 but count in the mean.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS
from .utils import where


@MODELS.register_module()
class BoundaryLoss(nn.Module):
    """Boundary loss.

    Args:
        loss_weight: factor applied to the loss.
        loss_name: key of this loss in a loss dict (PIDHead names its terms itself).
    """

    def __init__(self, loss_weight: float = 1.0, loss_name: str = "loss_boundary"):
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """Key of this loss in the loss dict (``'loss_boundary'`` by default)."""
        return self._loss_name

    def forward(self, bd_pre: torch.Tensor, bd_gt: torch.Tensor) -> torch.Tensor:
        """The loss.

        Args:
            bd_pre: boundary logits (N, 1, H, W).
            bd_gt: edge label (N, H, W): 1 edge, 0 not, anything else ignored.

        Returns:
            0-d tensor: ``loss_weight`` times the mean.
        """
        if bd_pre.dim() != 4 or bd_pre.size(1) != 1 or bd_gt.numel() != bd_pre.numel():
            raise ValueError(f"{where('BoundaryLoss')} takes one boundary logit per pixel "
                              f"(N, 1, H, W) and an (N, H, W) edge label, got "
                              f"{tuple(bd_pre.shape)} and {tuple(bd_gt.shape)}.")
        logit = bd_pre.reshape(-1)  # (N, 1, H, W): pixel order equals the label's
        target = bd_gt.reshape(-1).float()
        pos, neg = target == 1, target == 0
        num_pos, num_neg = pos.sum(), neg.sum()
        total = num_pos + num_neg
        if total == 0:  # every pixel ignored (MMSeg: 0 / 0, NaN)
            return logit.sum() * 0.0
        weight = torch.zeros_like(logit)
        weight[pos] = num_neg / total
        weight[neg] = num_pos / total
        loss = F.binary_cross_entropy_with_logits(logit, target, weight, reduction="mean")
        return self.loss_weight * loss
