"""Deferred normalisation: keep images uint8 through the pipeline, normalise on the device.

MMSegmentation's ``Normalize`` turns the uint8 image into float32 inside the DataLoader worker, so
4x more bytes cross the worker queue and the host->device copy. seglab's ``Normalize`` instead
leaves the pixels untouched and records in ``results['img_norm_cfg']``::

    dict(mean=..., std=..., to_rgb=..., deferred=True)

:func:`seglab.datasets.collate.prepare_batch` then normalises on the device: channel swap,
``x - mean`` and ``/ std`` in float32. mmcv computes ``(x - mean) * (1 / std)`` with a float64
``1 / std``; both round once to float32 and agree bit for bit on every uint8 value with the usual
mean/std (tested for ImageNet's, 127.5 and an irregular set); at worst they could differ in
the last float32 bit.

Why this is exact: after ``Normalize`` only two kinds of transforms may see the raw image.

* Pure pixel moves that never read values (``RandomFlip``, ``RandomCrop``, ``ImageToTensor``,
  ``DefaultFormatBundle``, ``Collect``, ...): they commute with a per-pixel affine map. They set
  ``supports_deferred_norm = True``.
* ``Pad``: eager padding writes ``pad_val`` into the *normalised* image. Deferred, it pads the raw
  image and records ``content_hw = (h, w)`` and ``pad_val``: after normalising, every pixel of the
  sample outside its top-left ``h x w`` block is set to ``pad_val``.

Every other transform (resize, rotate, photometric, user callables, ...) reads or mixes pixel
values, so :func:`apply_deferred_normalize` normalises eagerly right before it runs (the
thin base class and ``Compose`` do this). A pixel move after a recorded pad (the pad region would
move) is handled the same way. The collate pads a batch with 0 in *normalised* space, as MMSeg's
collate does after eager normalisation; for deferred samples it records each sample's own
``sample_hw`` in its ``img_norm_cfg`` so :func:`normalize_tensor` can zero the batch padding.

``img_norm_cfg`` dicts are never mutated in place (``MultiScaleFlipAug`` shares them between
augmentations through shallow copies); each step stores a new dict.
"""
from __future__ import annotations

import functools
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch

from .image_ops import imnormalize

DEFERRED = "deferred"
CONTENT_HW = "content_hw"
PAD_VAL = "pad_val"
SAMPLE_HW = "sample_hw"
_BOOKKEEPING = (DEFERRED, CONTENT_HW, PAD_VAL, SAMPLE_HW)


def is_deferred(norm_cfg: Optional[Mapping]) -> bool:
    """True when ``norm_cfg`` (an ``img_norm_cfg``) describes a normalisation still to apply."""
    return isinstance(norm_cfg, Mapping) and bool(norm_cfg.get(DEFERRED, False))


def pending_normalize(results: Mapping) -> bool:
    """True when ``results['img']`` still holds raw pixels that a ``Normalize`` deferred."""
    return is_deferred(results.get("img_norm_cfg"))


def has_pending_pad(results: Mapping) -> bool:
    """True when a ``Pad`` after a deferred ``Normalize`` recorded a padded region."""
    cfg = results.get("img_norm_cfg")
    return is_deferred(cfg) and cfg.get(CONTENT_HW) is not None


def eager_norm_cfg(norm_cfg: Mapping) -> Dict[str, Any]:
    """The MMSeg ``img_norm_cfg`` (mean, std, to_rgb) without seglab's bookkeeping keys."""
    return {k: v for k, v in norm_cfg.items() if k not in _BOOKKEEPING}


def record_pad(results: Dict, content_hw, pad_val) -> None:
    """Record that the sample was padded beyond ``content_hw`` with ``pad_val`` (in normalised
    space)."""
    cfg = dict(results["img_norm_cfg"])
    cfg[CONTENT_HW] = (int(content_hw[0]), int(content_hw[1]))
    cfg[PAD_VAL] = pad_val
    results["img_norm_cfg"] = cfg


def _fill_numpy(img: np.ndarray, content_hw, pad_val) -> None:
    h, w = content_hw
    value = np.asarray(pad_val, dtype=np.float32)
    img[h:, ...] = value
    img[:, w:, ...] = value


def apply_deferred_normalize(results: Dict) -> Dict:
    """Normalise ``results['img']`` now if a ``Normalize`` deferred it (no-op otherwise).

    Works on an ``(H, W[, C])`` array (before formatting) or a ``(C, H, W)`` tensor (after).
    Returns ``results`` (modified in place) with an eager ``img_norm_cfg``.
    """
    if not pending_normalize(results) or "img" not in results:
        return results
    cfg = results["img_norm_cfg"]
    img = results["img"]
    if isinstance(img, np.ndarray):
        img = imnormalize(img, cfg["mean"], cfg["std"], cfg["to_rgb"])
        if cfg.get(CONTENT_HW) is not None:
            _fill_numpy(img, cfg[CONTENT_HW], cfg[PAD_VAL])
    elif isinstance(img, torch.Tensor):
        img = normalize_tensor(img[None], [cfg])[0]
    else:
        raise TypeError(f"cannot normalise results['img'] of type {type(img).__name__}")
    results["img"] = img
    results["img_norm_cfg"] = eager_norm_cfg(cfg)
    return results


def _channel_values(values, channels: int) -> Tuple[float, ...]:
    """``values`` (one number or one per channel) as a tuple of ``channels`` float32 numbers."""
    flat = np.asarray(values, dtype=np.float32).reshape(-1)
    if flat.size == 1:
        flat = np.repeat(flat, channels)
    if flat.size != channels:
        raise ValueError(f"img_norm_cfg has {flat.size} values for an image with {channels} "
                         f"channels; give one mean/std (and pad value) per channel.")
    return tuple(float(v) for v in flat)


@functools.lru_cache(maxsize=64)
def _device_tensor(values: Tuple[float, ...], device: torch.device) -> torch.Tensor:
    # Cached: a host->device copy of pageable memory synchronises the stream, which would stall
    # the overlap of data loading and compute on every batch.
    return torch.tensor(values, dtype=torch.float32, device=device).view(-1, 1, 1)


def normalize_tensor(img: torch.Tensor, norm_cfgs) -> torch.Tensor:
    """Apply each sample's deferred normalisation to a batch; returns a new float32 tensor.

    Args:
        img: ``(B, C, H, W)`` tensor (uint8 or float), on any device.
        norm_cfgs: one ``img_norm_cfg`` (or None) per sample. Samples whose config is not
            deferred are only converted to float32 (their values are already final).

    Returns:
        ``(B, C, H, W)`` float32 tensor: ``(x[rgb order] - mean) / std`` inside each deferred
        sample's content, its ``pad_val`` in the region a deferred ``Pad`` added, and 0 beyond its
        ``sample_hw`` (padding added by the collate).
    """
    if img.dim() != 4:
        raise ValueError(f"expected a (B, C, H, W) image batch, got shape {tuple(img.shape)}")
    if len(norm_cfgs) != img.shape[0]:
        raise ValueError(f"{len(norm_cfgs)} img_norm_cfg entries for a batch of {img.shape[0]}")
    out = img.to(torch.float32)
    if not any(is_deferred(c) for c in norm_cfgs):
        return out
    if out.data_ptr() == img.data_ptr():
        out = out.clone()  # never write into the caller's tensor
    batch, channels = out.shape[:2]
    # Samples of one pipeline share mean/std/to_rgb: normalise each such group in one go.
    groups: Dict[tuple, List[int]] = {}
    for i, cfg in enumerate(norm_cfgs):
        if is_deferred(cfg):
            key = (_channel_values(cfg["mean"], channels), _channel_values(cfg["std"], channels),
                   bool(cfg["to_rgb"]))
            groups.setdefault(key, []).append(i)
    for (mean, std, to_rgb), index in groups.items():
        if to_rgb and channels != 3:
            raise ValueError(f"Normalize(to_rgb=True) needs 3-channel BGR images, got {channels} "
                             f"channels; set to_rgb=False.")
        whole = len(index) == batch
        x = out if whole else out[index]
        if to_rgb:
            x = x.flip(1)
        x = (x - _device_tensor(mean, out.device)) / _device_tensor(std, out.device)
        if whole:
            out = x
        else:
            out[index] = x
    for i, cfg in enumerate(norm_cfgs):
        if not is_deferred(cfg):
            continue
        if cfg.get(CONTENT_HW) is not None:
            h, w = cfg[CONTENT_HW]
            value = _device_tensor(_channel_values(cfg[PAD_VAL], channels), out.device)
            out[i, :, h:, :] = value
            out[i, :, :, w:] = value
        if cfg.get(SAMPLE_HW) is not None:
            h, w = cfg[SAMPLE_HW]
            out[i, :, h:, :] = 0
            out[i, :, :, w:] = 0
    return out
