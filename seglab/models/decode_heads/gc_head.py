"""``GCHead``: a global context block between the two convs of an FCN head
(`GCNet <https://arxiv.org/abs/1904.11492>`_).

Keys: ``convs.{0,1}``, ``conv_cat``, ``gc_block.*``.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ...registry import MODELS
from ..layers.context_block import ContextBlock
from .cc_head import fcn_with_context
from .decode_head import Inputs
from .fcn_head import FCNHead


@MODELS.register_module()
class GCHead(FCNHead, fixed_keys=("num_convs",)):
    """FCN head (``num_convs=2``) with a :class:`ContextBlock` after its first conv.

    Args:
        ratio: bottleneck ratio of the context transform.
        pooling_type: ``'att'`` or ``'avg'`` context pooling.
        fusion_types: ``'channel_add'`` and/or ``'channel_mul'``.
        **kwargs: :class:`FCNHead` keys except ``num_convs``.

    Shape:
        inputs[in_index] (N, in_channels, h, w) -> logits (N, out_channels, h, w).
    """

    def __init__(self, ratio: float = 1 / 4., pooling_type: str = "att",
                 fusion_types: Sequence[str] = ("channel_add",), **kwargs):
        super().__init__(num_convs=2, **kwargs)
        self.ratio, self.pooling_type, self.fusion_types = ratio, pooling_type, tuple(fusion_types)
        self.gc_block = ContextBlock(in_channels=self.channels, ratio=ratio,
                                     pooling_type=pooling_type, fusion_types=fusion_types)

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        return fcn_with_context(self, inputs, self.gc_block)
