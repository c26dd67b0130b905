"""Top-k pixel accuracy in percent, as MMSegmentation reports ``acc_seg``."""
from __future__ import annotations

from typing import List, Optional, Tuple, Union

import torch
from torch import nn

from .utils import EPS


def accuracy(pred: torch.Tensor, target: torch.Tensor, topk: Union[int, Tuple[int, ...]] = 1,
             thresh: Optional[float] = None,
             ignore_index: Optional[int] = None) -> Union[torch.Tensor, List[torch.Tensor]]:
    """Percentage of (non-ignored) pixels whose label is among the ``k`` highest scores.

    The arithmetic is MMSegmentation's, to the last float32 bit:
    ``(n_correct + eps) * (100.0 / (n_valid + eps))`` with eps = float32 epsilon; the count plus eps
    is a float32 tensor, the factor a Python float. The eps keeps an all-ignored batch finite (it
    reads eps * 100 / eps = 100%, as in MMSegmentation). Ties are broken by ``torch.topk``, as in
    MMSegmentation (not always the first maximum).

    Args:
        pred: scores, (N, C, ...) e.g. logits (N, C, H, W).
        target: labels, (N, ...) e.g. (N, H, W), int64.
        topk: an int (returns one tensor) or a tuple of ints (returns a list, one per k).
        thresh: if set, a prediction only counts as correct when its score is > thresh.
        ignore_index: label value whose pixels are left out of both counts.

    Returns:
        A float32 tensor of shape (1,) per k, in percent.
    """
    if not isinstance(topk, (int, tuple)):
        raise TypeError(f"topk must be an int or a tuple of ints, got {topk!r}")
    return_single = isinstance(topk, int)
    ks = (topk,) if return_single else topk
    maxk = max(ks)
    if pred.size(0) == 0:
        accs = [pred.new_tensor(0.0) for _ in ks]
        return accs[0] if return_single else accs
    if pred.dim() != target.dim() + 1 or pred.size(0) != target.size(0) or \
            pred.shape[2:] != target.shape[1:]:
        raise ValueError(f"accuracy needs pred (N, C, ...) and target (N, ...) of matching sizes, "
                         f"got pred {tuple(pred.shape)} and target {tuple(target.shape)}")
    if maxk > pred.size(1):
        raise ValueError(f"topk {maxk} exceeds the number of classes {pred.size(1)}")
    pred_value, pred_label = pred.topk(maxk, dim=1)
    # (N, maxk, ...) -> (maxk, N, ...) so that correct[:k] selects the k best guesses.
    pred_label = pred_label.transpose(0, 1)
    correct = pred_label.eq(target.unsqueeze(0).expand_as(pred_label))
    if thresh is not None:
        correct = correct & (pred_value > thresh).transpose(0, 1)
    if ignore_index is None:
        valid = torch.ones_like(target, dtype=torch.bool)
    else:
        valid = target != ignore_index
    correct = correct[:, valid]
    total = int(valid.sum().item()) + EPS
    accs = []
    for k in ks:
        correct_k = correct[:k].reshape(-1).float().sum(0, keepdim=True) + EPS
        accs.append(correct_k.mul_(100.0 / total))
    return accs[0] if return_single else accs


class Accuracy(nn.Module):
    """Module form of :func:`accuracy`.

    Args:
        topk: an int or a tuple of ints.
        thresh: minimum score for a prediction to count as correct.
        ignore_index: label value left out of the counts.
    """

    def __init__(self, topk: Union[int, Tuple[int, ...]] = (1,), thresh: Optional[float] = None,
                 ignore_index: Optional[int] = None):
        super().__init__()
        self.topk = topk
        self.thresh = thresh
        self.ignore_index = ignore_index

    def forward(self, pred: torch.Tensor,
                target: torch.Tensor) -> Union[torch.Tensor, List[torch.Tensor]]:
        """See :func:`accuracy`."""
        return accuracy(pred, target, self.topk, self.thresh, self.ignore_index)
