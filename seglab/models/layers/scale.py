"""``Scale``: one learnable scalar multiplier (``mmcv.cnn.Scale``), key ``<name>.scale``."""
from __future__ import annotations

import torch
from torch import nn


class Scale(nn.Module):
    """Multiply the input by a learnable 0-d parameter ``scale``.

    The attention modules (criss-cross, DANet's PAM/CAM) start it at 0 so that a freshly
    built block is the identity on its residual path.

    Args:
        scale: initial value.
    """

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale, dtype=torch.float))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale
