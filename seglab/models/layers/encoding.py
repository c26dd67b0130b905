"""``Encoding``: the learnable residual encoder of `EncNet <https://arxiv.org/abs/1803.08904>`_
(``mmseg.ops.Encoding``; keys ``codewords`` and ``scale``)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Encoding(nn.Module):
    """Soft-assign each pixel feature to ``num_codes`` codewords and sum the residuals.

    Assignment ``softmax_k(scale_k * ||x_i - c_k||^2)`` (``scale`` starts negative), output
    ``e_k = sum_i a_ik (x_i - c_k)``.

    Args:
        channels: feature channels.
        num_codes: number of codewords.

    Shape:
        (N, channels, H, W) -> (N, num_codes, channels).
    """

    def __init__(self, channels: int, num_codes: int):
        super().__init__()
        self.channels, self.num_codes = channels, num_codes
        std = 1.0 / (num_codes * channels) ** 0.5
        self.codewords = nn.Parameter(torch.empty(num_codes, channels).uniform_(-std, std))
        self.scale = nn.Parameter(torch.empty(num_codes).uniform_(-1, 0))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, num_codes={self.num_codes}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.size(1) != self.channels:
            raise ValueError(f"Encoding expects (N, {self.channels}, H, W) inputs, got "
                             f"{tuple(x.shape)}")
        x = x.flatten(2).transpose(1, 2)  # (N, HW, C)
        residuals = x.unsqueeze(2) - self.codewords  # (N, HW, K, C)
        weights = F.softmax(self.scale * residuals.pow(2).sum(dim=3), dim=2)  # (N, HW, K)
        return (weights.unsqueeze(3) * residuals).sum(dim=1)
