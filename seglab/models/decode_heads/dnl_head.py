"""``DNLHead``: a disentangled non-local block between the two convs of an FCN head
(`Disentangled Non-Local Neural Networks <https://arxiv.org/abs/2006.06668>`_); keys
``convs.{0,1}``, ``conv_cat``, ``dnl_block.{g,theta,phi,conv_out,conv_mask}``."""
from __future__ import annotations

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers.non_local import NonLocal2d
from .cc_head import fcn_with_context
from .decode_head import Inputs
from .fcn_head import FCNHead


class DisentangledNonLocal2d(NonLocal2d):
    """Non-local block split into a whitened pairwise term and a unary term.

    Pairwise: queries and keys minus their means over the positions, similarities (embedded
    gaussian) divided by ``temperature`` before the softmax. Unary: a 1x1 ``conv_mask`` gives
    one softmax weight per position; the weighted sum of the values is added at every position.
    Their sum goes through ``conv_out``: ``x + conv_out(pairwise + unary)``.

    Args:
        temperature: divisor of the embedded-gaussian similarities.
        **kwargs: :class:`NonLocal2d` keys.

    Shape:
        (N, in_channels, H, W) -> (N, in_channels, H, W).
    """

    def __init__(self, *args, temperature: float, **kwargs):
        super().__init__(*args, **kwargs)
        if self.sub_sample:
            raise ConfigError("DisentangledNonLocal2d with sub_sample=True: the unary mask weighs "
                              "every position but the values are 2x2 max-pooled (MMSeg's block "
                              "fails there too); use sub_sample=False.")
        self.temperature = temperature
        self.conv_mask = nn.Conv2d(self.in_channels, 1, kernel_size=1)

    def embedded_gaussian(self, theta_x: torch.Tensor, phi_x: torch.Tensor) -> torch.Tensor:
        return (self.scaled_similarity(theta_x, phi_x) / self.temperature).softmax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.size(0)
        g_x, theta_x, phi_x = self.embed(x)
        # Whitening: the means over the positions (theta's dim -2, phi's dim -1 in every mode).
        # MMSeg subtracts them in place, which in the 'gaussian' mode also centres x itself
        # (and breaks backward through the preceding ReLU); here x is left untouched.
        theta_x = theta_x - theta_x.mean(dim=-2, keepdim=True)
        phi_x = phi_x - phi_x.mean(dim=-1, keepdim=True)
        y = self.aggregate(self.pairwise(theta_x, phi_x), g_x, x.shape[2:])
        unary_mask = self.conv_mask(x).reshape(n, 1, -1).softmax(dim=-1)  # (N, 1, HW)
        unary = self.aggregate(unary_mask, g_x, (1, 1))  # (N, C', 1, 1)
        return x + self.conv_out(y + unary)  # the unary context broadcast to every position


@MODELS.register_module()
class DNLHead(FCNHead, fixed_keys=("num_convs",)):
    """FCN head (``num_convs=2``) with a :class:`DisentangledNonLocal2d` after its first conv.

    Args:
        reduction: channel reduction of the block's projections (``channels // reduction``).
        use_scale: scale the similarities by ``1 / sqrt(channels // reduction)``.
        mode: ``'embedded_gaussian'`` (the one the temperature acts on), ``'gaussian'``,
            ``'dot_product'`` or ``'concatenation'``.
        temperature: divisor of the embedded-gaussian similarities.
        **kwargs: :class:`FCNHead` keys except ``num_convs``.

    Shape:
        inputs[in_index] (N, in_channels, h, w) -> logits (N, out_channels, h, w).
    """

    def __init__(self, reduction: int = 2, use_scale: bool = True,
                 mode: str = "embedded_gaussian", temperature: float = 0.05, **kwargs):
        super().__init__(num_convs=2, **kwargs)
        self.reduction, self.use_scale, self.mode = reduction, use_scale, mode
        self.temperature = temperature
        self.dnl_block = DisentangledNonLocal2d(
            self.channels, reduction=reduction, use_scale=use_scale, conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg, mode=mode, temperature=temperature)

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        return fcn_with_context(self, inputs, self.dnl_block)
