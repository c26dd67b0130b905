"""``PSAHead``: point-wise spatial attention (`PSANet
<https://hszhao.github.io/papers/eccv18_psanet.pdf>`_), MMSeg 0.x arithmetic in pure PyTorch.

Each pixel of the (shrunk) map predicts a ``mask_size`` attention mask centred on itself;
:class:`~seglab.models.layers.psa_mask.PSAMask` turns it into an (HW x HW) attention for the
'collect' branch (what each pixel gathers) and the 'distribute' branch (what each pixel sends).
``compact=True`` reads the attention map directly as HW x HW (needs ``mask_h * mask_w`` equal
to the shrunk map's pixel count).
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import ConvModule, resize
from ..layers.psa_mask import PSAMask
from .decode_head import BaseDecodeHead, Inputs

PSA_TYPES = ("collect", "distribute", "bi-direction")


def _attention(channels: int, mask_area: int, conv_args: Mapping) -> nn.Sequential:
    return nn.Sequential(ConvModule(channels, channels, 1, **conv_args),
                         nn.Conv2d(channels, mask_area, kernel_size=1, bias=False))


@MODELS.register_module()
class PSAHead(BaseDecodeHead):
    """PSANet head.

    Args:
        mask_size: (mask_h, mask_w) of the predicted masks; MMSeg configs use
            2 * (shrunk map side) - 1 or more, so every pixel can reach every other.
        psa_type: ``'collect'``, ``'distribute'`` or ``'bi-direction'`` (both, concatenated).
        compact: use the attention channels as the HW x HW map directly (no PSAMask).
        shrink_factor: the attention runs on the map downsampled by this factor.
        normalization_factor: the attended features are divided by it; None = mask_h * mask_w.
        psa_softmax: softmax of the attention over source pixels.
        **kwargs: :class:`BaseDecodeHead` keys.

    Shape:
        inputs[in_index] (N, in_channels, h, w) -> logits (N, out_channels, h, w).
    """

    def __init__(self, mask_size: Sequence[int], psa_type: str = "bi-direction",
                 compact: bool = False, shrink_factor: int = 2,
                 normalization_factor: Optional[float] = 1.0, psa_softmax: bool = True,
                 **kwargs):
        if psa_type not in PSA_TYPES:
            raise ConfigError(f"PSAHead psa_type={psa_type!r} must be one of {PSA_TYPES}.")
        if not isinstance(mask_size, (list, tuple)) or len(mask_size) != 2:
            raise ConfigError(f"PSAHead mask_size={mask_size!r} must be a pair (mask_h, mask_w).")
        if not isinstance(shrink_factor, int) or shrink_factor < 1:
            raise ConfigError(f"PSAHead shrink_factor={shrink_factor!r} must be an int >= 1.")
        super().__init__(**kwargs)
        self.psa_type, self.compact, self.shrink_factor = psa_type, compact, shrink_factor
        self.mask_size: Tuple[int, int] = tuple(mask_size)
        mask_h, mask_w = self.mask_size
        self.psa_softmax = psa_softmax
        self.normalization_factor = (mask_h * mask_w if normalization_factor is None
                                     else normalization_factor)
        args = self.conv_args
        self.reduce = ConvModule(self.in_channels, self.channels, 1, **args)
        self.attention = _attention(self.channels, mask_h * mask_w, args)
        if psa_type == "bi-direction":
            self.reduce_p = ConvModule(self.in_channels, self.channels, 1, **args)
            self.attention_p = _attention(self.channels, mask_h * mask_w, args)
            self.psamask_collect = PSAMask("collect", self.mask_size)
            self.psamask_distribute = PSAMask("distribute", self.mask_size)
        else:
            self.psamask = PSAMask(psa_type, self.mask_size)
        branches = 2 if psa_type == "bi-direction" else 1
        # padding=1 on a 1x1 conv (as MMSeg): the map grows by one pixel per side; the resize
        # back to the input size below absorbs it.
        self.proj = ConvModule(self.channels * branches, self.in_channels, 1, padding=1, **args)
        self.bottleneck = ConvModule(self.in_channels * 2, self.channels, 3, padding=1, **args)

    def _shrink(self, feats: Sequence[torch.Tensor]) -> Tuple[list, bool]:
        """Downsample the reduced maps by ``shrink_factor`` as MMSeg 0.x: odd sides (both odd)
        keep their corners ((s - 1) // f + 1, align_corners=True), others halve (s // f,
        align_corners=False). Returns the maps and the align_corners of the final resize."""
        if self.shrink_factor == 1:
            return list(feats), self.align_corners
        h, w = feats[0].shape[2:]
        f = self.shrink_factor
        if h % f and w % f:
            size, align = ((h - 1) // f + 1, (w - 1) // f + 1), True
        else:
            size, align = (h // f, w // f), False
        return [resize(x, size=size, mode="bilinear", align_corners=align) for x in feats], align

    def _check_compact(self, h: int, w: int) -> None:
        if self.compact and self.mask_size[0] * self.mask_size[1] != h * w:
            raise ValueError(f"PSAHead compact=True reads the {self.mask_size[0]}x"
                             f"{self.mask_size[1]} attention channels as the {h}x{w} map's pixels; "
                             f"mask_size must have h*w = {h * w} entries (or set compact=False).")

    def _attend(self, x: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """Features (N, c, h, w) mixed by an (N, hw, h, w) attention (source pixel first)."""
        n, c, h, w = x.shape
        if self.psa_softmax:
            attention = F.softmax(attention, dim=1)
        out = torch.bmm(x.reshape(n, c, h * w), attention.reshape(n, h * w, h * w))
        return out.view(n, c, h, w) * (1.0 / self.normalization_factor)

    @staticmethod
    def _transposed(y: torch.Tensor) -> torch.Tensor:
        n, _, h, w = y.shape
        return y.reshape(n, h * w, h * w).transpose(1, 2).reshape(n, h * w, h, w)

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        x = self._transform_inputs(inputs)
        if self.psa_type == "bi-direction":
            (x_col, x_dis), align = self._shrink([self.reduce(x), self.reduce_p(x)])
            self._check_compact(*x_col.shape[2:])
            y_col, y_dis = self.attention(x_col), self.attention_p(x_dis)
            if self.compact:
                y_dis = self._transposed(y_dis)
            else:
                y_col, y_dis = self.psamask_collect(y_col), self.psamask_distribute(y_dis)
            out = torch.cat([self._attend(x_col, y_col), self._attend(x_dis, y_dis)], dim=1)
        else:
            (out,), align = self._shrink([self.reduce(x)])
            self._check_compact(*out.shape[2:])
            y = self.attention(out)
            if not self.compact:
                y = self.psamask(y)
            elif self.psa_type == "collect":
                y = self._transposed(y)
            out = self._attend(out, y)
        out = resize(self.proj(out), size=x.shape[2:], mode="bilinear", align_corners=align)
        return self.bottleneck(torch.cat([x, out], dim=1))
