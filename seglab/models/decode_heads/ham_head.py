"""``LightHamHead``: SegNeXt's decoder, a Hamburger with NMF (MMSegmentation 1.x).

`SegNeXt <https://arxiv.org/abs/2209.08575>`_ decodes with the "Hamburger" of `Is Attention Better
Than Matrix Decomposition? <https://arxiv.org/abs/2109.04553>`_: a 1x1 conv, a non-negative matrix
factorisation of the (C, H * W) map solved by a few multiplicative updates (:class:`NMF2D`), a
1x1 conv and a residual. Same keys, module names and numerics as MMSegmentation 1.x's
``mmseg.models.decode_heads.LightHamHead`` (no 0.x release), including where the random NMF
bases are drawn: one ``torch.rand`` of the global CPU generator per forward with
``rand_init=True`` (the configs' setting), so a seeded run reproduces MMSeg's outputs. One
difference: with ``rand_init=False`` the fixed bases are drawn when the head is built, not at
its first forward (see :meth:`NMF2D.init_bases`).
"""
from __future__ import annotations

from typing import Mapping, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS, current_build_path
from ..layers import ConvModule
from .decode_head import BaseDecodeHead, Inputs


class NMF2D(nn.Module):
    """Non-negative matrix factorisation of each (D, N) slice by multiplicative updates.

    The input (B, C, H, W) is seen as ``B * MD_S`` matrices ``x`` of (D = C / MD_S, N = H * W),
    factorised as ``bases @ coef^T`` with ``bases`` (D, MD_R) and ``coef`` (N, MD_R). The bases
    start at ``normalize(rand(D, MD_R))`` (per forward and per image with ``rand_init``; else once,
    into the buffer ``bases``, see :meth:`init_bases`); ``coef = softmax(inv_t * x^T @ bases)``;
    then ``train_steps`` (training) or ``eval_steps`` (eval) updates of ``coef`` then ``bases``
    (``v <- v * numerator / (denominator + 1e-6)``), a last ``coef`` update, and the product.
    As in MMSeg 1.x, gradients flow through every step (no ``no_grad``).

    Args:
        MD_S: number of slices the channels are split into.
        MD_R: rank of the factorisation.
        train_steps: updates in training mode.
        eval_steps: updates in eval mode.
        inv_t: accepted for MMSeg's key; as MMSeg's NMF2D, the softmax uses ``inv_t = 1``.
        rand_init: new random bases for every forward (else a fixed buffer).

    Shape:
        (B, C, H, W) -> (B, C, H, W), non-negative for a non-negative input.
    """

    def __init__(self, MD_S: int = 1, MD_R: int = 64, train_steps: int = 6,  # noqa: N803
                 eval_steps: int = 7, inv_t: float = 100, rand_init: bool = True):
        super().__init__()
        self.S, self.R = MD_S, MD_R
        self.train_steps, self.eval_steps = train_steps, eval_steps
        self.rand_init = rand_init
        self.inv_t = 1  # MMSeg's NMF2D sets 1 whatever the config says (the configs give 100)

    def _build_bases(self, batch: int, dims: int, device: Optional[torch.device] = None,
                     dtype: Optional[torch.dtype] = None) -> torch.Tensor:
        # Drawn from the global CPU generator then moved, as MMSeg does, so seeds agree.
        bases = torch.rand((batch * self.S, dims, self.R))
        bases = F.normalize(bases if device is None else bases.to(device), dim=1)
        return bases if dtype is None else bases.to(dtype)

    def init_bases(self, channels: int) -> None:
        """Draw the fixed ``bases`` buffer (MD_S, channels / MD_S, MD_R) for ``rand_init=False``.

        MMSeg draws it at the first forward; seglab at build time (Hamburger calls this), so the
        state_dict has its keys from the start, DDP broadcasts it, and a trace or an ONNX export
        of a fresh model holds the same bases as the model.
        """
        self.register_buffer("bases", self._build_bases(1, channels // self.S))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
        # An MMSeg model saved before its first forward has no bases yet: keep the drawn ones.
        if prefix + "bases" not in state_dict and prefix + "bases" in missing_keys:
            missing_keys.remove(prefix + "bases")

    @staticmethod
    def _update_coef(x: torch.Tensor, bases: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
        numerator = torch.bmm(x.transpose(1, 2), bases)  # (BS, N, R)
        denominator = coef.bmm(bases.transpose(1, 2).bmm(bases))
        return coef * numerator / (denominator + 1e-6)

    @staticmethod
    def _update_bases(x: torch.Tensor, bases: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
        numerator = torch.bmm(x, coef)  # (BS, D, R)
        denominator = bases.bmm(coef.transpose(1, 2).bmm(coef))
        return bases * numerator / (denominator + 1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        dims = channels // self.S
        x = x.reshape(batch * self.S, dims, height * width)
        if self.rand_init:
            bases = self._build_bases(batch, dims, x.device, x.dtype)
        elif "bases" not in self._buffers:
            raise RuntimeError("NMF2D(rand_init=False) has no bases: call init_bases(channels) "
                               "first (Hamburger does).")
        else:
            bases = self.bases.to(x.dtype).repeat(batch, 1, 1)

        coef = F.softmax(self.inv_t * torch.bmm(x.transpose(1, 2), bases), dim=-1)
        for _ in range(self.train_steps if self.training else self.eval_steps):
            coef = self._update_coef(x, bases, coef)
            bases = self._update_bases(x, bases, coef)
        coef = self._update_coef(x, bases, coef)
        return torch.bmm(bases, coef.transpose(1, 2)).reshape(batch, channels, height, width)

    def extra_repr(self) -> str:
        return (f"MD_S={self.S}, MD_R={self.R}, train_steps={self.train_steps}, "
                f"eval_steps={self.eval_steps}, rand_init={self.rand_init}")


class Hamburger(nn.Module):
    """``relu(x + ham_out(ham(relu(ham_in(x)))))``: 1x1 conv, :class:`NMF2D`, 1x1 conv + norm.

    Args:
        ham_channels: channels of the input and output.
        ham_kwargs: the :class:`NMF2D` keys (``MD_S``, ``MD_R``, ``train_steps``,
            ``eval_steps``, ``inv_t``, ``rand_init``).
        norm_cfg: norm of ``ham_out`` (``ham_in`` has none; neither has an activation).

    Shape:
        (N, ham_channels, H, W) -> (N, ham_channels, H, W).
    """

    def __init__(self, ham_channels: int = 512, ham_kwargs: Optional[Mapping] = None,
                 norm_cfg: Optional[Mapping] = None):
        super().__init__()
        ham_kwargs = dict(ham_kwargs or {})
        where = current_build_path()
        where = f"{where}: " if where else ""
        self.ham_in = ConvModule(ham_channels, ham_channels, 1, norm_cfg=None, act_cfg=None)
        try:
            self.ham = NMF2D(**ham_kwargs)
        except TypeError as err:
            raise ConfigError(f"{where}ham_kwargs {ham_kwargs!r}: {err}; accepted keys: MD_S, "
                              f"MD_R, train_steps, eval_steps, inv_t, rand_init.") from None
        if ham_channels % self.ham.S:
            raise ConfigError(f"{where}ham_channels={ham_channels} must be divisible by "
                              f"ham_kwargs MD_S={self.ham.S} (the channels are split into MD_S "
                              f"slices).")
        if not self.ham.rand_init:
            self.ham.init_bases(ham_channels)
        self.ham_out = ConvModule(ham_channels, ham_channels, 1, norm_cfg=norm_cfg, act_cfg=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        enjoy = self.ham(F.relu(self.ham_in(x)))
        return F.relu(x + self.ham_out(enjoy))


@MODELS.register_module()
class LightHamHead(BaseDecodeHead, fixed_keys=("input_transform",)):
    """SegNeXt's head: the selected levels resized to the first and concatenated, a 1x1
    ConvModule ``squeeze`` to ``ham_channels``, the :class:`Hamburger`, a 1x1 ConvModule ``align``
    to ``channels``, then ``cls_seg``.

    ``in_channels``/``in_index`` are lists. MMSeg declares ``input_transform='multiple_select'``
    and resizes and concatenates in the head (bilinear, ``align_corners``): seglab's
    ``'resize_concat'``, the same arithmetic. ``norm_cfg`` is the norm of ``squeeze``, ``align``
    and the Hamburger's ``ham_out``.

    Args:
        ham_channels: channels of the Hamburger.
        ham_kwargs: :class:`NMF2D` keys; MMSeg's defaults for missing ones.
        **kwargs: :class:`BaseDecodeHead` keys.

    Shape:
        inputs[in_index[i]] (N, in_channels[i], h_i, w_i) -> logits (N, out_channels, h_0, w_0).
    """

    def __init__(self, ham_channels: int = 512, ham_kwargs: Optional[Mapping] = None, **kwargs):
        super().__init__(input_transform="resize_concat", **kwargs)
        self.ham_channels = ham_channels
        self.squeeze = ConvModule(self.in_channels, ham_channels, 1, **self.conv_args)
        self.hamburger = Hamburger(ham_channels, ham_kwargs, norm_cfg=self.norm_cfg)
        self.align = ConvModule(ham_channels, self.channels, 1, **self.conv_args)

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        """Features before ``cls_seg``: (N, channels, h_0, w_0)."""
        return self.align(self.hamburger(self.squeeze(self._transform_inputs(inputs))))

