"""Online hard example mining of pixels (MMSegmentation 0.x ``OHEMPixelSampler``)."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...registry import PIXEL_SAMPLERS
from .base_pixel_sampler import BasePixelSampler
from .utils import where


@PIXEL_SAMPLERS.register_module()
class OHEMPixelSampler(BasePixelSampler):
    """Keep the hardest pixels: weight 1 for them, 0 for the others.

    With ``thresh``: pixels whose softmax probability of the true class is below
    ``max(thresh, p_k)`` are kept, ``p_k`` being the (``min_kept`` x batch)-th smallest such
    probability, so at least about that many pixels survive. Without ``thresh``: the
    ``min_kept`` x batch pixels with the largest loss (sum of the head's ``loss_decode`` losses,
    computed per pixel) are kept. Ignored pixels always get weight 0.

    Args:
        context: the decode head; its ``ignore_index`` and ``loss_decode`` (a loss module or a
            ``ModuleList``) are used.
        thresh: probability threshold, or None for loss ranking.
        min_kept: minimum number of pixels kept per image (> 1).
    """

    def __init__(self, context, thresh: Optional[float] = None, min_kept: int = 100000):
        super().__init__()
        if not isinstance(min_kept, int) or min_kept <= 1:
            raise ConfigError(f"{where('OHEMPixelSampler')}: min_kept must be an int > 1, got "
                              f"{min_kept!r}.")
        self.context = context
        self.thresh = thresh
        self.min_kept = min_kept

    def _pixel_losses(self, seg_logit: torch.Tensor, seg_label: torch.Tensor) -> torch.Tensor:
        loss_decode = self.context.loss_decode
        modules = loss_decode if isinstance(loss_decode, nn.ModuleList) else [loss_decode]
        losses = 0.0
        for loss_module in modules:
            loss = loss_module(seg_logit, seg_label, weight=None,
                               ignore_index=self.context.ignore_index, reduction_override="none")
            if loss.dim() == seg_logit.dim() and loss.shape == seg_logit.shape:
                loss = loss.sum(dim=1)  # per-class terms (focal loss) -> per pixel
            if loss.shape != seg_label.shape:
                raise ValueError(
                    f"OHEMPixelSampler without thresh ranks pixels by their loss, but "
                    f"{type(loss_module).__name__} gives no per-pixel loss (shape "
                    f"{tuple(loss.shape)} for labels {tuple(seg_label.shape)}); set "
                    f"sampler.thresh or use a per-pixel loss such as CrossEntropyLoss.")
            losses = losses + loss
        return losses

    def sample(self, seg_logit: torch.Tensor, seg_label: torch.Tensor) -> torch.Tensor:
        """Weight the hardest pixels.

        Args:
            seg_logit: logits (N, C, H, W).
            seg_label: labels (N, 1, H, W).

        Returns:
            float weights (N, H, W): 1 for kept pixels, 0 elsewhere.
        """
        if seg_label.dim() != 4 or seg_label.shape[1] != 1 or \
                seg_logit.shape[2:] != seg_label.shape[2:]:
            raise ValueError(f"OHEMPixelSampler needs logits (N, C, H, W) and labels (N, 1, H, W) "
                             f"of the same size, got {tuple(seg_logit.shape)} and "
                             f"{tuple(seg_label.shape)}.")
        ignore_index = self.context.ignore_index
        with torch.no_grad():
            seg_label = seg_label.squeeze(1).long()
            batch_kept = self.min_kept * seg_label.size(0)
            valid_mask = seg_label != ignore_index
            seg_weight = seg_logit.new_zeros(size=seg_label.size())
            valid_seg_weight = seg_weight[valid_mask]
            if self.thresh is not None:
                seg_prob = F.softmax(seg_logit, dim=1)
                safe_label = seg_label.clone().unsqueeze(1)
                safe_label[safe_label == ignore_index] = 0  # any class: masked out below
                seg_prob = seg_prob.gather(1, safe_label).squeeze(1)
                sort_prob, _ = seg_prob[valid_mask].sort()
                if sort_prob.numel() > 0:
                    min_threshold = sort_prob[min(batch_kept, sort_prob.numel() - 1)]
                else:
                    min_threshold = 0.0
                threshold = max(min_threshold, self.thresh)
                valid_seg_weight[seg_prob[valid_mask] < threshold] = 1.0
            else:
                losses = self._pixel_losses(seg_logit, seg_label)
                # sort is faster than topk here (pytorch/pytorch#22812)
                _, sort_indices = losses[valid_mask].sort(descending=True)
                valid_seg_weight[sort_indices[:batch_kept]] = 1.0
            seg_weight[valid_mask] = valid_seg_weight
        return seg_weight
