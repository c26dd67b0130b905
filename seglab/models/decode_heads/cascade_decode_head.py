"""``BaseCascadeDecodeHead``: a decode head that also reads the previous stage's logits.

Used by :class:`~seglab.models.segmentors.CascadeEncoderDecoder` for its stages after the first
(OCRHead, PointHead). Subclasses implement ``forward(inputs, prev_output)``; ``prev_output`` is
the previous stage's ``forward_test`` logits (N, num_classes, h, w) at that head's resolution.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional

import torch

from .decode_head import BaseDecodeHead, Inputs


class BaseCascadeDecodeHead(BaseDecodeHead):
    """Base of cascade heads: ``forward_train``/``forward_test`` take ``prev_output`` too.

    Accepts every :class:`BaseDecodeHead` key.
    """

    def forward(self, inputs: Inputs,  # type: ignore[override]
                prev_output: torch.Tensor) -> torch.Tensor:
        """Args: inputs: backbone (or neck) outputs; prev_output: the previous stage's logits.
        Returns: logits (N, out_channels, h, w)."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(inputs, "
                                  f"prev_output)")

    def forward_train(self, inputs: Inputs, prev_output: torch.Tensor,  # type: ignore[override]
                      img_metas: List[dict], gt_semantic_seg: torch.Tensor,
                      train_cfg: Optional[Mapping]) -> Dict[str, torch.Tensor]:
        """Logits from ``inputs`` and ``prev_output``, then :meth:`losses`."""
        return self.losses(self(inputs, prev_output), gt_semantic_seg)

    def forward_test(self, inputs: Inputs, prev_output: torch.Tensor,  # type: ignore[override]
                     img_metas: List[dict], test_cfg: Optional[Mapping]) -> torch.Tensor:
        """Logits (N, out_channels, h, w) from ``inputs`` and ``prev_output``."""
        return self(inputs, prev_output)
