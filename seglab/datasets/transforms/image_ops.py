"""NumPy/OpenCV image functions with the semantics of mmcv 1.x (``mmcv.image``).

The transforms are written on top of these so that output sizes, rounding and interpolation equal
MMSegmentation 0.x, which calls ``mmcv.imrescale``, ``imresize``, ``imresize_to_multiple``,
``imflip``, ``impad``, ``impad_to_multiple``, ``imrotate``, ``imnormalize``, ``bgr2hsv`` and
``hsv2bgr``. Images are ``(H, W)`` or ``(H, W, C)`` arrays; sizes passed to resize functions are
``(w, h)`` as in mmcv.

One intended deviation: a scalar ``pad_val`` / ``border_value`` fills every channel. mmcv 1.x passes
a scalar straight to OpenCV, which fills only the first channel of a multi-channel image (mmcv 2.x
fixed this). All MMSegmentation configs pad images with 0, where both agree.
"""
from __future__ import annotations

import functools
import numbers
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np

Number = Union[int, float]
PadValue = Union[Number, Sequence[Number]]

INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}


def _interp(name: str) -> int:
    if name not in INTERPOLATIONS:
        raise ValueError(f"interpolation '{name}' is not supported; use one of "
                         f"{', '.join(INTERPOLATIONS)}.")
    return INTERPOLATIONS[name]


def scale_size(size: Tuple[int, int], scale: Union[Number, Tuple[Number, Number]]
               ) -> Tuple[int, int]:
    """Scale a ``(w, h)`` size, rounding half up as mmcv's ``_scale_size``."""
    if isinstance(scale, numbers.Number):
        scale = (scale, scale)
    w, h = size
    return int(w * float(scale[0]) + 0.5), int(h * float(scale[1]) + 0.5)


def rescale_size(old_size: Tuple[int, int], scale: Union[Number, Sequence[Number]]
                 ) -> Tuple[Tuple[int, int], float]:
    """New ``(w, h)`` size and factor when fitting ``old_size`` into ``scale``, keeping the ratio.

    Args:
        old_size: ``(w, h)`` of the image.
        scale: a factor, or ``(long_edge, short_edge)`` bounds (order does not matter).

    Returns:
        ``((new_w, new_h), factor)`` with ``factor = min(long / max(h, w), short / min(h, w))``.
    """
    w, h = old_size
    if isinstance(scale, numbers.Number):
        if scale <= 0:
            raise ValueError(f"Invalid scale {scale}, must be positive.")
        factor = float(scale)
    elif isinstance(scale, (tuple, list)) and len(scale) == 2:
        long_edge, short_edge = max(scale), min(scale)
        factor = min(long_edge / max(h, w), short_edge / min(h, w))
    else:
        raise TypeError(f"scale must be a number or a (long, short) pair, got {scale!r}")
    return scale_size((w, h), factor), factor


def imresize(img: np.ndarray, size: Tuple[int, int], interpolation: str = "bilinear"
             ) -> Tuple[np.ndarray, float, float]:
    """Resize to ``size = (w, h)``; returns ``(img, w_scale, h_scale)``."""
    h, w = img.shape[:2]
    size = (int(size[0]), int(size[1]))
    out = cv2.resize(img, size, interpolation=_interp(interpolation))
    return out, size[0] / w, size[1] / h


def imrescale(img: np.ndarray, scale: Union[Number, Sequence[Number]],
              interpolation: str = "bilinear") -> Tuple[np.ndarray, float]:
    """Resize keeping the aspect ratio (see :func:`rescale_size`); returns ``(img, factor)``."""
    h, w = img.shape[:2]
    new_size, factor = rescale_size((w, h), scale)
    out, _, _ = imresize(img, new_size, interpolation)
    return out, factor


def imresize_to_multiple(img: np.ndarray, divisor: Union[int, Tuple[int, int]],
                         scale_factor: Number = 1, interpolation: str = "bilinear") -> np.ndarray:
    """Resize by ``scale_factor`` then round each edge up to a multiple of ``divisor``."""
    h, w = img.shape[:2]
    size = scale_size((w, h), scale_factor)
    div = (divisor, divisor) if isinstance(divisor, numbers.Number) else tuple(divisor)
    size = tuple(int(np.ceil(s / d)) * d for s, d in zip(size, div))
    return imresize(img, size, interpolation)[0]


def imflip(img: np.ndarray, direction: str = "horizontal") -> np.ndarray:
    """Flip along width (``horizontal``), height (``vertical``) or both (``diagonal``).

    Returns a view with negative strides; call ``.copy()`` when a contiguous array is needed.
    """
    axes = {"horizontal": 1, "vertical": 0, "diagonal": (0, 1)}
    if direction not in axes:
        raise ValueError(f"flip direction '{direction}' is not one of {', '.join(axes)}.")
    return np.flip(img, axis=axes[direction])


def _fill_value(img: np.ndarray, value: PadValue) -> np.ndarray:
    """``value`` as an array that broadcasts over a pixel of ``img`` (one entry per channel)."""
    channels = img.shape[2] if img.ndim == 3 else 1
    if isinstance(value, numbers.Number):
        return np.asarray(value).astype(img.dtype)
    value = np.asarray(value, dtype=np.float64).reshape(-1)
    if value.size != channels:
        raise ValueError(f"pad value {tuple(value)} has {value.size} entries but the image has "
                         f"{channels} channel(s); give one number or one per channel.")
    return value.astype(img.dtype) if img.ndim == 3 else value[0].astype(img.dtype)


def impad(img: np.ndarray, shape: Tuple[int, int], pad_val: PadValue = 0) -> np.ndarray:
    """Pad at the bottom/right to ``shape = (h, w)`` (no cropping when already larger)."""
    h, w = img.shape[:2]
    new_h, new_w = max(int(shape[0]), h), max(int(shape[1]), w)
    if (new_h, new_w) == (h, w):
        return img.copy()
    out = np.empty((new_h, new_w) + img.shape[2:], dtype=img.dtype)
    out[...] = _fill_value(img, pad_val)
    out[:h, :w] = img
    return out


def pad_to_multiple_shape(hw: Tuple[int, int], divisor: int) -> Tuple[int, int]:
    """``(h, w)`` rounded up to multiples of ``divisor``, as ``mmcv.impad_to_multiple``."""
    return (int(np.ceil(hw[0] / divisor)) * divisor, int(np.ceil(hw[1] / divisor)) * divisor)


def impad_to_multiple(img: np.ndarray, divisor: int, pad_val: PadValue = 0) -> np.ndarray:
    """Pad at the bottom/right so that both edges are multiples of ``divisor``."""
    return impad(img, pad_to_multiple_shape(img.shape[:2], divisor), pad_val)


def imrotate(img: np.ndarray, angle: float, center: Optional[Tuple[float, float]] = None,
             scale: float = 1.0, border_value: PadValue = 0, interpolation: str = "bilinear",
             auto_bound: bool = False) -> np.ndarray:
    """Rotate by ``angle`` degrees clockwise about ``center = (x, y)`` (default: image centre).

    With ``auto_bound`` the output grows to hold the whole rotated image.
    """
    if center is not None and auto_bound:
        raise ValueError("RandomRotate: `auto_bound` conflicts with `center`; set only one.")
    if img.ndim == 3 and img.shape[2] > 4:
        # OpenCV takes at most 4 border values; rotate groups of 4 channels separately.
        parts = [imrotate(img[..., i:i + 4], angle, center, scale, _slice_value(border_value, i),
                          interpolation, auto_bound) for i in range(0, img.shape[2], 4)]
        return np.concatenate([p if p.ndim == 3 else p[..., None] for p in parts], axis=2)
    h, w = img.shape[:2]
    if center is None:
        center = ((w - 1) * 0.5, (h - 1) * 0.5)
    matrix = cv2.getRotationMatrix2D(tuple(float(c) for c in center), -angle, scale)
    if auto_bound:
        cos, sin = np.abs(matrix[0, 0]), np.abs(matrix[0, 1])
        new_w = h * sin + w * cos
        new_h = h * cos + w * sin
        matrix[0, 2] += (new_w - w) * 0.5
        matrix[1, 2] += (new_h - h) * 0.5
        w, h = int(np.round(new_w)), int(np.round(new_h))
    channels = img.shape[2] if img.ndim == 3 else 1
    if isinstance(border_value, numbers.Number):
        border = (float(border_value),) * channels
    else:
        border = tuple(float(v) for v in border_value)
    return cv2.warpAffine(img, matrix, (w, h), flags=_interp(interpolation),
                          borderMode=cv2.BORDER_CONSTANT, borderValue=border)


def _slice_value(value: PadValue, start: int) -> PadValue:
    if isinstance(value, numbers.Number):
        return value
    return tuple(value)[start:start + 4]


def _normalize_numpy(out: np.ndarray, mean64: np.ndarray, stdinv64: np.ndarray) -> None:
    """mmcv's arithmetic in NumPy, in place: each step in float64, rounded once to float32."""
    np.subtract(out, mean64, out=out, casting="unsafe")
    np.multiply(out, stdinv64, out=out, casting="unsafe")


def _normalize_opencv(out: np.ndarray, mean64: np.ndarray, stdinv64: np.ndarray) -> None:
    """mmcv's own calls (``cv2.subtract`` / ``cv2.multiply`` with float64 rows), in place."""
    cv2.subtract(out, mean64.reshape(1, -1), out)
    cv2.multiply(out, stdinv64.reshape(1, -1), out)


@functools.lru_cache(maxsize=1)
def _opencv_normalizes_like_mmcv() -> bool:
    """Whether this OpenCV's per-channel arithmetic gives mmcv's (OpenCV 4.x) numbers.

    OpenCV 5 changed ``cv2.subtract`` / ``cv2.multiply`` with a per-channel float64 row (a 1x1
    image came out 5.0 instead of 2.0; larger ones rounded in float32). Probed once on a 1x1 and
    a 7x9 image against the NumPy formula; where they differ, NumPy does the work (about half
    OpenCV 4's speed, same numbers).
    """
    rng = np.random.default_rng(0)
    mean64 = np.array([123.675, 116.28, 103.53], np.float32).astype(np.float64)
    stdinv64 = 1 / np.array([58.395, 57.12, 57.375], np.float32).astype(np.float64)
    for shape in ((1, 1, 3), (7, 9, 3)):
        img = (rng.random(shape) * 255).astype(np.float32)
        a, b = img.copy(), img.copy()
        _normalize_opencv(a, mean64, stdinv64)
        _normalize_numpy(b, mean64, stdinv64)
        if not np.array_equal(a, b):
            return False
    return True


def imnormalize(img: np.ndarray, mean: np.ndarray, std: np.ndarray, to_rgb: bool = True
                ) -> np.ndarray:
    """``(img - mean) / std`` in float32, after an optional BGR->RGB swap (a new array).

    mmcv's arithmetic: ``x - mean`` and then ``* (1 / std)``, each computed in float64 from the
    float32 value and rounded to float32, so results equal MMSegmentation's bit for bit. OpenCV
    does it where its arithmetic agrees (OpenCV 4.x, probed once), NumPy elsewhere.
    """
    if to_rgb and (img.ndim != 3 or img.shape[2] != 3):
        raise ValueError(f"Normalize(to_rgb=True) needs a 3-channel BGR image, got shape "
                         f"{img.shape}; set to_rgb=False for this data.")
    out = np.array(img[..., ::-1] if to_rgb else img, dtype=np.float32, order="C")  # a copy
    mean64 = np.asarray(mean, dtype=np.float64).reshape(-1)
    stdinv64 = 1 / np.asarray(std, dtype=np.float64).reshape(-1)
    normalize = _normalize_opencv if _opencv_normalizes_like_mmcv() else _normalize_numpy
    normalize(out, mean64, stdinv64)
    return out


def bgr2hsv(img: np.ndarray) -> np.ndarray:
    """BGR -> HSV with OpenCV (uint8: H in [0, 180))."""
    return cv2.cvtColor(img, cv2.COLOR_BGR2HSV)


def hsv2bgr(img: np.ndarray) -> np.ndarray:
    """HSV -> BGR with OpenCV."""
    return cv2.cvtColor(img, cv2.COLOR_HSV2BGR)
