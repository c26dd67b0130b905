"""The pixel-sampler interface of the decode heads, and its builder."""
from __future__ import annotations

from abc import ABCMeta, abstractmethod
from typing import Any, Mapping

import torch

from ...registry import PIXEL_SAMPLERS, build_from_cfg


class BasePixelSampler(metaclass=ABCMeta):
    """A pixel sampler turns logits and labels into a per-pixel loss weight."""

    @abstractmethod
    def sample(self, seg_logit: torch.Tensor, seg_label: torch.Tensor) -> torch.Tensor:
        """Per-pixel weight (N, H, W) from logits (N, C, H, W) and labels (N, 1, H, W)."""


def build_pixel_sampler(cfg: Mapping, **default_args: Any) -> BasePixelSampler:
    """Build a sampler from ``dict(type='OHEMPixelSampler', ...)``.

    The decode head passes itself: ``build_pixel_sampler(cfg, context=self)``.
    """
    return build_from_cfg(cfg, PIXEL_SAMPLERS, default_args, key="sampler")
