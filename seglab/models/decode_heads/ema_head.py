"""``EMAHead``: expectation-maximisation attention (`EMANet <https://arxiv.org/abs/1907.13426>`_).

:class:`EMAModule` keeps ``num_bases`` unit-norm bases in the buffer ``bases`` (1, C, K): it is
in the state_dict, so checkpoints save it and resume continues from it exactly. Each forward
runs ``num_stages`` EM iterations from them (no gradient) and reconstructs the features from
the final bases and responsibilities; in training the buffer then moves towards the batch mean
of the final bases (``momentum``; averaged over processes in distributed training), as MMSeg.
Keys equal MMSegmentation 0.x's (``ema_module.bases``, ``ema_in_conv``, ``ema_mid_conv``
(frozen), ``ema_out_conv``, ``bottleneck``, ``conv_cat``).
"""
from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import ConvModule
from .decode_head import BaseDecodeHead, Inputs


def reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Mean over the processes of a distributed run; the tensor itself otherwise."""
    if not (dist.is_available() and dist.is_initialized()):
        return tensor
    tensor = tensor.clone()
    dist.all_reduce(tensor.div_(dist.get_world_size()), op=dist.ReduceOp.SUM)
    return tensor


class EMAModule(nn.Module):
    """EM attention over a feature map.

    Args:
        channels: feature channels.
        num_bases: number of bases K.
        num_stages: EM iterations (>= 1).
        momentum: weight of the new bases in the training-time moving average.

    Shape:
        (N, channels, H, W) -> (N, channels, H, W) reconstruction.
    """

    def __init__(self, channels: int, num_bases: int, num_stages: int, momentum: float):
        super().__init__()
        if not isinstance(num_stages, int) or num_stages < 1:
            raise ConfigError(f"EMAModule num_stages={num_stages!r} must be an int >= 1 (EM "
                              f"iterations).")
        self.num_bases, self.num_stages, self.momentum = num_bases, num_stages, momentum
        # Drawn from the global RNG at build time (normal(0, sqrt(2 / K)), then unit columns).
        bases = torch.zeros(1, channels, num_bases).normal_(0, math.sqrt(2.0 / num_bases))
        self.register_buffer("bases", F.normalize(bases, dim=1, p=2))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        n, c, h, w = feats.shape
        feats = feats.reshape(n, c, h * w)
        bases = self.bases.repeat(n, 1, 1)  # (N, C, K)
        with torch.no_grad():
            for _ in range(self.num_stages):
                attention = F.softmax(torch.einsum("bcn,bck->bnk", feats, bases), dim=2)
                attention_normed = F.normalize(attention, dim=1, p=1)  # over the pixels
                bases = F.normalize(torch.einsum("bcn,bnk->bck", feats, attention_normed),
                                    dim=1, p=2)
        recon = torch.einsum("bck,bnk->bcn", bases, attention).reshape(n, c, h, w)
        if self.training:
            mean = F.normalize(reduce_mean(bases.mean(dim=0, keepdim=True)), dim=1, p=2)
            self.bases = (1 - self.momentum) * self.bases + self.momentum * mean
        return recon

    def extra_repr(self) -> str:
        return (f"num_bases={self.num_bases}, num_stages={self.num_stages}, "
                f"momentum={self.momentum}")


@MODELS.register_module()
class EMAHead(BaseDecodeHead):
    """``ema_in_conv`` (3x3), the frozen 1x1 ``ema_mid_conv``, :class:`EMAModule`, ReLU,
    ``ema_out_conv`` (1x1, no act), ReLU of the residual sum, 3x3 ``bottleneck``, optionally
    ``conv_cat`` over [input, output], ``cls_seg``.

    Args:
        ema_channels: channels of the EM attention.
        num_bases: number of bases.
        num_stages: EM iterations per forward.
        concat_input: concatenate the input before ``cls_seg`` (``conv_cat``).
        momentum: moving-average weight of the bases update in training.
        **kwargs: :class:`BaseDecodeHead` keys.

    Shape:
        inputs[in_index] (N, in_channels, h, w) -> logits (N, out_channels, h, w).
    """

    def __init__(self, ema_channels: int, num_bases: int, num_stages: int,
                 concat_input: bool = True, momentum: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.ema_channels, self.num_bases, self.num_stages = ema_channels, num_bases, num_stages
        self.concat_input, self.momentum = concat_input, momentum
        self.ema_module = EMAModule(ema_channels, num_bases, num_stages, momentum)
        self.ema_in_conv = ConvModule(self.in_channels, ema_channels, 3, padding=1,
                                      **self.conv_args)
        # Maps the ReLU output (0, inf) to (-inf, inf); frozen at its init, as in MMSeg.
        self.ema_mid_conv = ConvModule(ema_channels, ema_channels, 1, conv_cfg=self.conv_cfg,
                                       norm_cfg=None, act_cfg=None)
        self.ema_mid_conv.requires_grad_(False)
        self.ema_out_conv = ConvModule(ema_channels, ema_channels, 1, conv_cfg=self.conv_cfg,
                                       norm_cfg=self.norm_cfg, act_cfg=None)
        self.bottleneck = ConvModule(ema_channels, self.channels, 3, padding=1, **self.conv_args)
        if concat_input:
            self.conv_cat = ConvModule(self.in_channels + self.channels, self.channels, 3,
                                       padding=1, **self.conv_args)

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        x = self._transform_inputs(inputs)
        identity = self.ema_in_conv(x)
        recon = F.relu(self.ema_module(self.ema_mid_conv(identity)))
        feats = self.bottleneck(F.relu(identity + self.ema_out_conv(recon)))
        if self.concat_input:
            feats = self.conv_cat(torch.cat([x, feats], dim=1))
        return feats
