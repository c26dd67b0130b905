"""``Pad``: pad image and label maps at the bottom/right to a size or a multiple."""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence, Union

from ...errors import ConfigError
from ...registry import TRANSFORMS
from .base import BaseTransform
from .deferred import apply_deferred_normalize, has_pending_pad, pending_normalize, record_pad
from .image_ops import impad, pad_to_multiple_shape

PadValue = Union[float, Sequence[float]]


@TRANSFORMS.register_module()
class Pad(BaseTransform):
    """Pad to ``size = (h, w)`` or to the next multiple of ``size_divisor`` (never crops).

    Sets ``pad_shape``, ``pad_fixed_size`` and ``pad_size_divisor``; label maps are padded to
    ``pad_shape`` with ``seg_pad_val``. A scalar ``pad_val`` fills every channel.

    After a deferred ``Normalize`` the raw image is padded and the region recorded, so that
    ``prepare_batch`` writes ``pad_val`` there after normalising (see :mod:`.deferred`).

    MMSeg 1.x's (mmcv 2.x) arguments are accepted too: ``pad_val=dict(img=0, seg=255)`` and
    ``padding_mode='constant'`` (the only mode). Note that mmcv 2.x reads ``size`` as ``(w, h)``;
    seglab reads it as 0.x's ``(h, w)``: the 1.x config converter swaps a 1.x pipeline's
    ``Pad(size=(w, h))`` (:func:`seglab.config.v1x_data.insert_before_pack`).

    Args:
        size: fixed ``(h, w)``.
        size_divisor: pad each edge to a multiple of this.
        pad_val: image padding value (per channel or one for all), or (1.x) ``dict(img, seg)``.
        seg_pad_val: label padding value.
        padding_mode: (1.x) only ``'constant'``.
    """

    supports_deferred_norm = True

    def __init__(self, size: Optional[Sequence[int]] = None, size_divisor: Optional[int] = None,
                 pad_val: PadValue = 0, seg_pad_val: int = 255, padding_mode: str = "constant"):
        if isinstance(pad_val, Mapping):
            unknown = sorted(set(pad_val) - {"img", "seg"})
            if unknown:
                raise ConfigError(f"Pad(pad_val={dict(pad_val)!r}): unknown key(s) {unknown}; "
                                  f"1.x's dict has 'img' and 'seg'.")
            if seg_pad_val != 255 and pad_val.get("seg", seg_pad_val) != seg_pad_val:
                raise ConfigError(f"Pad(pad_val={dict(pad_val)!r}, seg_pad_val={seg_pad_val!r}) "
                                  f"gives two label padding values; set pad_val['seg'] only.")
            pad_val, seg_pad_val = pad_val.get("img", 0), pad_val.get("seg", seg_pad_val)
        if padding_mode != "constant":
            raise ConfigError(f"Pad(padding_mode='{padding_mode}') is a MMSeg 1.x feature seglab "
                              f"does not run yet; use 'constant'.")
        if (size is None) == (size_divisor is None):
            raise ConfigError(f"Pad(size={size!r}, size_divisor={size_divisor!r}): set exactly "
                              f"one of them.")
        if size is not None and not (isinstance(size, (tuple, list)) and len(size) == 2):
            raise ConfigError(f"Pad(size={size!r}): expected an (h, w) pair.")
        self.size = tuple(size) if size is not None else None
        self.size_divisor = size_divisor
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val

    def transform(self, results: Dict) -> Dict:
        img = results["img"]
        hw = img.shape[:2]
        if self.size is not None:
            target = self.size
        else:
            target = pad_to_multiple_shape(hw, self.size_divisor)
        if pending_normalize(results) and has_pending_pad(results):
            apply_deferred_normalize(results)  # two deferred pads: just do it now
            img = results["img"]
        if pending_normalize(results):
            padded = impad(img, target, 0)  # the value is written after normalising
            record_pad(results, hw, self.pad_val)
        else:
            padded = impad(img, target, self.pad_val)
        results["img"] = padded
        results["pad_shape"] = padded.shape
        results["pad_fixed_size"] = self.size
        results["pad_size_divisor"] = self.size_divisor
        for key in results.get("seg_fields", []):
            results[key] = impad(results[key], padded.shape[:2], self.seg_pad_val)
        return results
