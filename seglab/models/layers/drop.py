"""Stochastic depth (``DropPath``), MMCV's ``Dropout`` and ``build_dropout``.

Transformer blocks take ``dropout_layer=dict(type='DropPath', drop_prob=0.1)`` (or
``type='Dropout'``) for the residual branch; :func:`build_dropout` builds it from the
``DROPOUT_LAYERS`` registry. Both layers have no parameters, so they add no state_dict keys.
"""
from __future__ import annotations

from typing import Mapping, Optional

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import DROPOUT_LAYERS, build_from_cfg


def drop_path(x: torch.Tensor, drop_prob: float = 0.0, training: bool = False) -> torch.Tensor:
    """Zero whole samples of ``x`` with probability ``drop_prob`` and rescale the others.

    The kept samples are divided by ``1 - drop_prob`` so the expectation is unchanged. The random
    draw is one ``torch.rand`` of shape (N, 1, ..., 1) in ``x``'s dtype, as in MMCV and timm, so a
    seeded run drops the same samples.

    Args:
        x: (N, ...) tensor of any rank; one keep/drop decision per sample.
        drop_prob: probability of dropping a sample, in [0, 1).
        training: identity when False.

    Returns:
        Tensor of ``x``'s shape.
    """
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1.0 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    # floor(keep_prob + U[0, 1)) is 1 with probability keep_prob, else 0.
    mask = (keep_prob + torch.rand(shape, dtype=x.dtype, device=x.device)).floor()
    return x.div(keep_prob) * mask


def _check_prob(name: str, drop_prob: float, allow_one: bool) -> None:
    # DropPath divides by 1 - drop_prob, so 1 is only valid for element dropout.
    ok = 0.0 <= drop_prob <= 1.0 if allow_one else 0.0 <= drop_prob < 1.0
    if not ok:
        interval = "[0, 1]" if allow_one else "[0, 1)"
        raise ConfigError(f"{name}: drop_prob must be in {interval}, got {drop_prob!r}")


@DROPOUT_LAYERS.register_module()
class DropPath(nn.Module):
    """Per-sample stochastic depth on a residual branch (``mmcv.cnn.bricks.DropPath``).

    Args:
        drop_prob: probability of dropping a sample's branch output.

    Shape:
        (N, ...) -> (N, ...).
    """

    def __init__(self, drop_prob: float = 0.1):
        super().__init__()
        _check_prob("DropPath", drop_prob, allow_one=False)
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


@DROPOUT_LAYERS.register_module()
class Dropout(nn.Dropout):
    """``nn.Dropout`` whose probability is called ``drop_prob`` (MMCV's name, as in DropPath).

    Args:
        drop_prob: probability of zeroing an element.
        inplace: zero in place.
    """

    def __init__(self, drop_prob: float = 0.5, inplace: bool = False):
        _check_prob("Dropout", drop_prob, allow_one=True)
        super().__init__(p=drop_prob, inplace=inplace)


def build_dropout(cfg: Optional[Mapping], default_args: Optional[Mapping] = None) -> nn.Module:
    """Build a dropout layer from ``dict(type='DropPath' | 'Dropout', drop_prob=...)``.

    Args:
        cfg: the layer's config; None gives ``nn.Identity`` (MMCV's blocks do the same for a
            falsy ``dropout_layer``).
        default_args: keys used when ``cfg`` does not set them.

    Returns:
        The layer.

    Raises:
        RegistryError: unknown type or key (``p`` instead of ``drop_prob`` names the accepted keys).
    """
    if cfg is None:
        return nn.Identity()
    return build_from_cfg(cfg, DROPOUT_LAYERS, default_args)
