"""``NonLocal2d``: mmcv's non-local block (`Non-local Neural Networks
<https://arxiv.org/abs/1711.07971>`_), used by ``NLHead`` and, disentangled, by ``DNLHead``.

Module names equal mmcv's (``g``, ``theta``, ``phi``, ``conv_out``, ``concat_project``; with
``sub_sample`` the max pool follows as ``g.1`` / ``phi.1``), so MMSegmentation checkpoints load.
"""
from __future__ import annotations

from typing import Mapping, Optional, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from .conv_module import ConvModule
from .weight_init import constant_init, normal_init

MODES = ("gaussian", "embedded_gaussian", "dot_product", "concatenation")


class NonLocal2d(nn.Module):
    """``x + conv_out(sum_j f(x_i, x_j) g(x_j))`` over all positions j of the map.

    The pairwise term ``f`` by ``mode``: ``'embedded_gaussian'`` softmax(theta^T phi [/ sqrt(C')]),
    ``'gaussian'`` softmax(x^T x) (no theta/phi), ``'dot_product'`` theta^T phi / #keys,
    ``'concatenation'`` ReLU(concat_project([theta, phi])) / #keys.

    Args:
        in_channels: channels of the input (and output).
        reduction: ``C' = max(in_channels // reduction, 1)`` channels of g/theta/phi.
        use_scale: divide the embedded-gaussian similarities by ``sqrt(C')``.
        conv_cfg: conv type of the projections.
        norm_cfg: norm of ``conv_out`` only (as mmcv).
        mode: one of ``'gaussian'``, ``'embedded_gaussian'``, ``'dot_product'``,
            ``'concatenation'``.
        sub_sample: 2x2 max pool of the keys (phi) and values (g).
        std: std of the normal init of g/theta/phi.
        zeros_init: ``conv_out`` (its norm if any) starts at zero, so the block starts as the
            identity; else normal(std).

    Shape:
        (N, in_channels, H, W) -> (N, in_channels, H, W).
    """

    def __init__(self, in_channels: int, reduction: int = 2, use_scale: bool = True,
                 conv_cfg: Optional[Mapping] = None, norm_cfg: Optional[Mapping] = None,
                 mode: str = "embedded_gaussian", sub_sample: bool = False, std: float = 0.01,
                 zeros_init: bool = True):
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"NonLocal2d mode={mode!r} is not supported; use one of "
                              f"{', '.join(repr(m) for m in MODES)}.")
        if not isinstance(reduction, int) or reduction < 1:
            raise ConfigError(f"NonLocal2d reduction={reduction!r} must be an int >= 1.")
        self.in_channels, self.reduction, self.use_scale = in_channels, reduction, use_scale
        self.inter_channels = max(in_channels // reduction, 1)
        self.mode, self.sub_sample = mode, sub_sample

        def project(cin: int, cout: int) -> ConvModule:
            return ConvModule(cin, cout, 1, conv_cfg=conv_cfg, act_cfg=None)

        self.g: nn.Module = project(in_channels, self.inter_channels)
        self.conv_out = ConvModule(self.inter_channels, in_channels, 1, conv_cfg=conv_cfg,
                                   norm_cfg=norm_cfg, act_cfg=None)
        if mode != "gaussian":
            self.theta = project(in_channels, self.inter_channels)
            self.phi: Optional[nn.Module] = project(in_channels, self.inter_channels)
        if mode == "concatenation":
            self.concat_project = ConvModule(self.inter_channels * 2, 1, 1, bias=False,
                                             act_cfg=dict(type="ReLU"))
        self._init_projections(std, zeros_init)
        if sub_sample:
            pool = nn.MaxPool2d(kernel_size=(2, 2))
            self.g = nn.Sequential(self.g, pool)
            self.phi = nn.Sequential(self.phi, pool) if mode != "gaussian" else pool
        elif mode == "gaussian":
            self.phi = None

    def _init_projections(self, std: float, zeros_init: bool) -> None:
        for m in (self.g, self.theta, self.phi) if self.mode != "gaussian" else (self.g,):
            normal_init(m.conv, std=std)
        target = self.conv_out.norm if self.conv_out.with_norm else self.conv_out.conv
        if zeros_init:
            constant_init(target, 0)
        else:
            normal_init(target, std=std)

    # Pairwise terms: theta_x (N, L, C') and phi_x (N, C', Lk) -> weights (N, L, Lk); in the
    # concatenation mode theta_x is (N, C', L, 1) and phi_x (N, C', 1, Lk).
    def gaussian(self, theta_x: torch.Tensor, phi_x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(theta_x, phi_x).softmax(dim=-1)

    def scaled_similarity(self, theta_x: torch.Tensor, phi_x: torch.Tensor) -> torch.Tensor:
        """``theta^T phi``, divided by ``sqrt(C')`` with ``use_scale``."""
        weight = torch.matmul(theta_x, phi_x)
        if self.use_scale:
            weight = weight / theta_x.shape[-1] ** 0.5
        return weight

    def embedded_gaussian(self, theta_x: torch.Tensor, phi_x: torch.Tensor) -> torch.Tensor:
        return self.scaled_similarity(theta_x, phi_x).softmax(dim=-1)

    def dot_product(self, theta_x: torch.Tensor, phi_x: torch.Tensor) -> torch.Tensor:
        weight = torch.matmul(theta_x, phi_x)
        return weight / weight.shape[-1]

    def concatenation(self, theta_x: torch.Tensor, phi_x: torch.Tensor) -> torch.Tensor:
        length, key_length = theta_x.size(2), phi_x.size(3)
        pairs = torch.cat([theta_x.expand(-1, -1, -1, key_length),
                           phi_x.expand(-1, -1, length, -1)], dim=1)
        weight = self.concat_project(pairs).squeeze(1)  # (N, L, Lk)
        return weight / weight.shape[-1]

    def embed(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The values ``g_x`` (N, Lk, C'), queries ``theta_x`` and keys ``phi_x`` (shaped for
        the mode's pairwise term) of ``x`` (N, C, H, W)."""
        n = x.size(0)
        g_x = self.g(x).reshape(n, self.inter_channels, -1).transpose(1, 2)
        if self.mode == "gaussian":
            theta_x = x.reshape(n, self.in_channels, -1).transpose(1, 2)
            keys = self.phi(x) if self.phi is not None else x
            phi_x = keys.reshape(n, self.in_channels, -1)
        elif self.mode == "concatenation":
            theta_x = self.theta(x).reshape(n, self.inter_channels, -1, 1)
            phi_x = self.phi(x).reshape(n, self.inter_channels, 1, -1)
        else:
            theta_x = self.theta(x).reshape(n, self.inter_channels, -1).transpose(1, 2)
            phi_x = self.phi(x).reshape(n, self.inter_channels, -1)
        return g_x, theta_x, phi_x

    def pairwise(self, theta_x: torch.Tensor, phi_x: torch.Tensor) -> torch.Tensor:
        return getattr(self, self.mode)(theta_x, phi_x)

    def aggregate(self, weight: torch.Tensor, g_x: torch.Tensor,
                  size: torch.Size) -> torch.Tensor:
        """``weight @ g_x`` (N, L, C') back to a map (N, C', *size)."""
        y = torch.matmul(weight, g_x).transpose(1, 2)
        return y.reshape(y.size(0), self.inter_channels, *size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g_x, theta_x, phi_x = self.embed(x)
        y = self.aggregate(self.pairwise(theta_x, phi_x), g_x, x.shape[2:])
        return x + self.conv_out(y)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, use_scale={self.use_scale}, sub_sample={self.sub_sample}"
