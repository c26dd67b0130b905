"""``STDCHead``: STDC's detail head (`Rethinking BiSeNet <https://arxiv.org/abs/2104.13188>`_).

An :class:`~seglab.models.decode_heads.fcn_head.FCNHead` trained on boundary targets instead of
the labels: the label map's Laplacian (3x3, 8 at the centre) at strides 1, 2 and 4, each
thresholded at ``boundary_threshold``, upsampled (nearest), fused with the constant weights
``fusion_kernel`` = (0.6, 0.3, 0.1) and thresholded again. MMSegmentation 0.x's arithmetic, in
float32 like it: a pixel that is a boundary only at stride 4 scores float32(0.1), which is not
above the default threshold 0.1, so it is not a boundary. The configs train it with
``CrossEntropyLoss(use_sigmoid=True)`` plus ``DiceLoss`` on ``num_classes=2``.
"""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS
from .fcn_head import FCNHead

LAPLACIAN = (-1.0, -1.0, -1.0, -1.0, 8.0, -1.0, -1.0, -1.0, -1.0)
FUSION = (6.0 / 10, 3.0 / 10, 1.0 / 10)


@MODELS.register_module()
class STDCHead(FCNHead):
    """FCNHead whose losses compare the logits with boundary targets made from the labels.

    Args:
        boundary_threshold: a Laplacian response (and the fused pyramid) above it is a boundary.
        **kwargs: :class:`FCNHead` keys.

    Shape:
        inputs[in_index] (N, in_channels, h, w) -> logits (N, out_channels, h, w); the loss
        targets are (N, H, W) in {0, 1}.
    """

    def __init__(self, boundary_threshold: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.boundary_threshold = boundary_threshold
        # A buffer (in the state_dict, as MMSeg's) so it follows the module to the labels' device.
        self.register_buffer("laplacian_kernel",
                             torch.tensor(LAPLACIAN, dtype=torch.float32).reshape(1, 1, 3, 3))
        # A constant in the original code too: the thresholds cut it out of the graph.
        self.fusion_kernel = nn.Parameter(
            torch.tensor(FUSION, dtype=torch.float32).reshape(1, 3, 1, 1), requires_grad=False)

    def _binarize(self, x: torch.Tensor) -> torch.Tensor:
        return (x > self.boundary_threshold).to(x.dtype)

    def boundary_targets(self, seg_label: torch.Tensor) -> torch.Tensor:
        """Boundary map of the labels.

        Args:
            seg_label: (N, 1, H, W) labels (ignored pixels keep their value, as in MMSeg).

        Returns:
            (N, 1, H, W) int64 in {0, 1}.
        """
        label = seg_label.to(self.laplacian_kernel)
        size = label.shape[2:]
        levels = []
        # float32 even under AMP, as MMSeg (its losses run in fp32): the fused values sit on exact
        # ties with the threshold, so they are not left to a lower precision's rounding.
        with torch.autocast(device_type=label.device.type, enabled=False):
            for stride in (1, 2, 4):
                edges = F.conv2d(label, self.laplacian_kernel, stride=stride, padding=1)
                edges = edges.clamp(min=0)
                if stride > 1:
                    edges = F.interpolate(edges, size, mode="nearest")
                levels.append(self._binarize(edges))
            fused = F.conv2d(torch.cat(levels, dim=1), self.fusion_kernel)
        return self._binarize(fused).long()

    def losses(self, seg_logit: torch.Tensor, seg_label: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The FCNHead losses (and ``acc_seg``) against :meth:`boundary_targets`."""
        return super().losses(seg_logit, self.boundary_targets(seg_label))
