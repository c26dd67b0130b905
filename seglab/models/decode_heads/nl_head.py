"""``NLHead``: a non-local block between the two convs of an FCN head (`Non-local Neural
Networks <https://arxiv.org/abs/1711.07971>`_); keys ``convs.{0,1}``, ``conv_cat``,
``nl_block.*``."""
from __future__ import annotations

import torch

from ...registry import MODELS
from ..layers.non_local import NonLocal2d
from .cc_head import fcn_with_context
from .decode_head import Inputs
from .fcn_head import FCNHead


@MODELS.register_module()
class NLHead(FCNHead, fixed_keys=("num_convs",)):
    """FCN head (``num_convs=2``) with mmcv's :class:`NonLocal2d` after its first conv.

    Args:
        reduction: channel reduction of the block's projections (``channels // reduction``).
        use_scale: scale the embedded-gaussian similarities by ``1 / sqrt(channels // reduction)``.
        mode: ``'embedded_gaussian'``, ``'gaussian'``, ``'dot_product'`` or ``'concatenation'``.
        **kwargs: :class:`FCNHead` keys except ``num_convs``.

    Shape:
        inputs[in_index] (N, in_channels, h, w) -> logits (N, out_channels, h, w).
    """

    def __init__(self, reduction: int = 2, use_scale: bool = True,
                 mode: str = "embedded_gaussian", **kwargs):
        super().__init__(num_convs=2, **kwargs)
        self.reduction, self.use_scale, self.mode = reduction, use_scale, mode
        self.nl_block = NonLocal2d(self.channels, reduction=reduction, use_scale=use_scale,
                                   conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, mode=mode)

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        return fcn_with_context(self, inputs, self.nl_block)
