"""``CCHead``: criss-cross attention between the two convs of an FCN head
(`CCNet <https://arxiv.org/abs/1811.11721>`_); keys ``convs.{0,1}``, ``conv_cat``, ``cca.*``."""
from __future__ import annotations

from typing import Callable

import torch

from ...errors import ConfigError
from ...registry import MODELS
from ..layers.cc_attention import CrissCrossAttention
from .decode_head import Inputs
from .fcn_head import FCNHead


def fcn_with_context(head: FCNHead, inputs: Inputs,
                     context: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``convs[0]``, ``context``, ``convs[1]``, then ``conv_cat`` over [input, output] if the
    head concatenates its input: the body of the FCN-based context heads (CC, GC)."""
    x = head._transform_inputs(inputs)
    out = head.convs[1](context(head.convs[0](x)))
    if head.concat_input:
        out = head.conv_cat(torch.cat([x, out], dim=1))
    return out


@MODELS.register_module()
class CCHead(FCNHead, fixed_keys=("num_convs",)):
    """FCN head (``num_convs=2``) with ``recurrence`` criss-cross attention steps (one shared
    :class:`CrissCrossAttention`) after its first conv.

    Args:
        recurrence: attention steps; 2 lets every pixel reach every other one.
        **kwargs: :class:`FCNHead` keys except ``num_convs``.

    Shape:
        inputs[in_index] (N, in_channels, h, w) -> logits (N, out_channels, h, w).
    """

    def __init__(self, recurrence: int = 2, **kwargs):
        if not isinstance(recurrence, int) or recurrence < 0:
            raise ConfigError(f"CCHead recurrence={recurrence!r} must be an int >= 0.")
        super().__init__(num_convs=2, **kwargs)
        if self.channels < 8:
            raise ConfigError(f"CCHead channels={self.channels}: the criss-cross query/key have "
                              f"channels // 8 channels, so channels must be at least 8.")
        self.recurrence = recurrence
        self.cca = CrissCrossAttention(self.channels)

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(self.recurrence):
            x = self.cca(x)
        return x

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        return fcn_with_context(self, inputs, self._attend)
