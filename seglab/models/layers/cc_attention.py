"""``CrissCrossAttention`` (`CCNet <https://arxiv.org/abs/1811.11721>`_), pure PyTorch.

Same keys (``query_conv``, ``key_conv``, ``value_conv``, ``gamma.scale``) and numbers as
``mmcv.ops.CrissCrossAttention`` (MMCV >= 1.3.13 is itself pure PyTorch): each pixel attends to
the pixels of its column and of its row in one softmax over H + W energies, where the column
energy of the pixel itself is -inf so that it is counted once (through its row).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .scale import Scale


class CrissCrossAttention(nn.Module):
    """One criss-cross attention step with a residual: ``gamma * attention(x) + x``.

    Args:
        in_channels: channels of the input; query and key have ``in_channels // 8``.

    Shape:
        (N, in_channels, H, W) -> (N, in_channels, H, W).
    """

    def __init__(self, in_channels: int):
        super().__init__()
        self.in_channels = in_channels
        self.query_conv = nn.Conv2d(in_channels, in_channels // 8, 1)
        self.key_conv = nn.Conv2d(in_channels, in_channels // 8, 1)
        self.value_conv = nn.Conv2d(in_channels, in_channels, 1)
        self.gamma = Scale(0.0)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.size(2)
        query, key, value = self.query_conv(x), self.key_conv(x), self.value_conv(x)
        # energy_col[n, y, x, i]: pixel (y, x) against (i, x) of its column; (y, x) itself -inf.
        self_mask = torch.diag(query.new_full((h,), float("-inf")))
        energy_col = torch.einsum("nchw,nciw->nwhi", query, key) + self_mask
        energy_col = energy_col.transpose(1, 2)
        energy_row = torch.einsum("nchw,nchj->nhwj", query, key)  # against (y, j) of its row
        attn = F.softmax(torch.cat([energy_col, energy_row], dim=-1), dim=-1)  # (N, H, W, H + W)
        out = torch.einsum("nciw,nhwi->nchw", value, attn[..., :h])
        out = out + torch.einsum("nchj,nhwj->nchw", value, attn[..., h:])
        return self.gamma(out) + x
