"""``PSAMask``: the point-wise spatial attention mask shuffle of `PSANet
<https://hszhao.github.io/papers/eccv18_psanet.pdf>`_, in pure PyTorch.

MMCV's ``PSAMask`` is a compiled op; this gives the same numbers with a gather. A pixel
``p = (h, w)`` of an H x W map predicts ``mask_h * mask_w`` values, one per offset of a mask
centred on it (centre ``((mask_h - 1) // 2, (mask_w - 1) // 2)``). The op spreads them over the
H*W pixels of the map: entry ``(hidx, widx)`` concerns the pixel ``t = (h + hidx - half_h,
w + widx - half_w)``, and mask entries that fall outside the map are dropped, pixels outside the
mask get 0. ``'collect'`` writes ``out[n, t, h, w]`` (channel = the other pixel), ``'distribute'``
``out[n, p, t]`` (channel = the pixel itself, its map = the pixels it reaches).
"""
from __future__ import annotations

from typing import Sequence, Tuple, Union

import torch
from torch import nn
from torch.nn.modules.utils import _pair

from ...errors import ConfigError

PSA_TYPES = ("collect", "distribute")


def psa_mask_index(h: int, w: int, mask_h: int, mask_w: int,
                   device: torch.device = None) -> torch.Tensor:
    """``index[t, p]``: the mask channel that pixel ``p`` predicts for pixel ``t``, or
    ``mask_h * mask_w`` (a zero channel) where ``t`` is outside ``p``'s mask. Shape (HW, HW)."""
    rows = torch.arange(h, device=device).repeat_interleave(w)  # pixel index -> row
    cols = torch.arange(w, device=device).repeat(h)
    dh = rows[:, None] - rows[None, :] + (mask_h - 1) // 2  # mask row of t relative to p
    dw = cols[:, None] - cols[None, :] + (mask_w - 1) // 2
    inside = (dh >= 0) & (dh < mask_h) & (dw >= 0) & (dw < mask_w)
    return torch.where(inside, dh * mask_w + dw, torch.full_like(dh, mask_h * mask_w))


def psa_mask(x: torch.Tensor, psa_type: str, mask_size: Union[int, Sequence[int]]) -> torch.Tensor:
    """Args: x (N, mask_h * mask_w, H, W). Returns (N, H*W, H, W); see the module docstring."""
    mask_h, mask_w = _pair(mask_size)
    n, c, h, w = x.shape
    if c != mask_h * mask_w:
        raise ValueError(f"PSAMask with mask_size ({mask_h}, {mask_w}) needs {mask_h * mask_w} "
                         f"input channels, got {c}.")
    padded = torch.cat([x.reshape(n, c, h * w), x.new_zeros(n, 1, h * w)], dim=1)
    index = psa_mask_index(h, w, mask_h, mask_w, device=x.device)
    collected = torch.gather(padded, 1, index.expand(n, -1, -1))  # [n, t, p] = padded[n, i, p]
    if psa_type == "distribute":
        collected = collected.transpose(1, 2)
    return collected.reshape(n, h * w, h, w)


class PSAMask(nn.Module):
    """``mmcv.ops.PSAMask`` (no parameters).

    Args:
        psa_type: ``'collect'`` or ``'distribute'``.
        mask_size: (mask_h, mask_w) of the predicted masks.

    Shape:
        (N, mask_h * mask_w, H, W) -> (N, H * W, H, W).
    """

    def __init__(self, psa_type: str, mask_size: Union[int, Tuple[int, int]]):
        super().__init__()
        if psa_type not in PSA_TYPES:
            raise ConfigError(f"PSAMask psa_type={psa_type!r} must be one of {PSA_TYPES}.")
        self.psa_type, self.mask_size = psa_type, _pair(mask_size)

    def extra_repr(self) -> str:
        return f"psa_type={self.psa_type}, mask_size={self.mask_size}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return psa_mask(x, self.psa_type, self.mask_size)
