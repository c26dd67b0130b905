"""Formatting: numpy -> tensors, and ``Collect`` of the keys the model needs.

MMSegmentation wraps these in ``DataContainer``; seglab returns plain tensors and dicts, which
``seglab.datasets.collate.collate`` batches.
"""
from __future__ import annotations

from collections.abc import Sequence as SequenceABC
from typing import Any, Dict, Sequence

import numpy as np
import torch

from ...errors import ConfigError
from ...registry import TRANSFORMS
from .base import BaseTransform

DEFAULT_META_KEYS = ("filename", "ori_filename", "ori_shape", "img_shape", "pad_shape",
                     "scale_factor", "flip", "flip_direction", "img_norm_cfg")


def to_tensor(data: Any) -> torch.Tensor:
    """A tensor from an array, tensor, sequence, int or float (as mmseg's ``to_tensor``)."""
    if isinstance(data, torch.Tensor):
        return data
    if isinstance(data, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(data))
    if isinstance(data, SequenceABC) and not isinstance(data, str):
        return torch.tensor(data)
    if isinstance(data, bool):
        return torch.tensor([data])
    if isinstance(data, int):
        return torch.LongTensor([data])
    if isinstance(data, float):
        return torch.FloatTensor([data])
    raise TypeError(f"type {type(data).__name__} cannot be converted to a tensor.")


def image_to_chw_tensor(img: np.ndarray) -> torch.Tensor:
    """``(H, W[, C])`` array -> contiguous ``(C, H, W)`` tensor (dtype kept, e.g. uint8)."""
    if img.ndim < 3:
        img = img[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


@TRANSFORMS.register_module()
class DefaultFormatBundle(BaseTransform):
    """``img`` -> ``(C, H, W)`` tensor; ``gt_semantic_seg`` -> ``(1, H, W)`` int64 tensor."""

    supports_deferred_norm = True

    def __init__(self):
        pass

    def transform(self, results: Dict) -> Dict:
        if "img" in results:
            results["img"] = image_to_chw_tensor(results["img"])
        if "gt_semantic_seg" in results:
            seg = results["gt_semantic_seg"]
            results["gt_semantic_seg"] = torch.from_numpy(seg[None].astype(np.int64))
        return results


@TRANSFORMS.register_module()
class ImageToTensor(BaseTransform):
    """Convert the images under ``keys`` to ``(C, H, W)`` tensors (``(1, H, W)`` for 2-D)."""

    supports_deferred_norm = True

    def __init__(self, keys: Sequence[str]):
        self.keys = list(keys)

    def transform(self, results: Dict) -> Dict:
        for key in self.keys:
            results[key] = image_to_chw_tensor(results[key])
        return results


@TRANSFORMS.register_module()
class ToTensor(BaseTransform):
    """Convert the values under ``keys`` to tensors (no transpose)."""

    supports_deferred_norm = True

    def __init__(self, keys: Sequence[str]):
        self.keys = list(keys)

    def transform(self, results: Dict) -> Dict:
        for key in self.keys:
            results[key] = to_tensor(results[key])
        return results


@TRANSFORMS.register_module()
class Transpose(BaseTransform):
    """Transpose the arrays under ``keys`` to ``order``.

    Not deferral-safe (a deferred normalisation assumes ``(H, W, C)`` arrays), so it normalises
    first.
    """

    def __init__(self, keys: Sequence[str], order: Sequence[int]):
        self.keys = list(keys)
        self.order = tuple(order)

    def transform(self, results: Dict) -> Dict:
        for key in self.keys:
            results[key] = results[key].transpose(self.order)
        return results


@TRANSFORMS.register_module()
class Collect(BaseTransform):
    """Keep ``keys`` and gather ``meta_keys`` into ``img_metas`` (a plain dict).

    Args:
        keys: results keys the model takes (``['img', 'gt_semantic_seg']``).
        meta_keys: results keys copied into ``img_metas``.
    """

    supports_deferred_norm = True

    def __init__(self, keys: Sequence[str], meta_keys: Sequence[str] = DEFAULT_META_KEYS):
        if isinstance(keys, str):
            raise ConfigError(f"Collect(keys='{keys}') must be a list, e.g. keys=['{keys}'].")
        self.keys = list(keys)
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: Dict) -> Dict:
        missing = [k for k in list(self.keys) + list(self.meta_keys) if k not in results]
        if missing:
            raise ConfigError(
                f"Collect: {', '.join(repr(k) for k in missing)} not in the sample (it has "
                f"{', '.join(sorted(results))}); add the transform that sets them earlier in the "
                f"pipeline (LoadAnnotations for 'gt_semantic_seg', RandomFlip for 'flip'), or "
                f"drop them from keys/meta_keys.")
        data = {"img_metas": {k: results[k] for k in self.meta_keys}}
        for key in self.keys:
            data[key] = results[key]
        return data
