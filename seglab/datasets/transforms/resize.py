"""``Resize`` and ``ResizeToMultiple`` (images bilinear, label maps nearest, as mmcv)."""
from __future__ import annotations

import numbers
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...errors import ConfigError
from ...registry import TRANSFORMS
from .base import BaseTransform
from .image_ops import INTERPOLATIONS, imrescale, imresize, imresize_to_multiple, scale_size

Scale = Tuple[int, int]


def _is_pair(value) -> bool:
    return (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, numbers.Number) for v in value))


def _pair_or_none(value, name: str) -> Optional[Tuple]:
    if value is None:
        return None
    if not _is_pair(value):
        raise ConfigError(f"Resize({name}={value!r}): expected a number or a (w, h) pair.")
    return tuple(value)


def _scales(img_scale) -> Optional[List[Scale]]:
    """``img_scale`` as a list of ``(long, short)`` / ``(w, h)`` tuples (None stays None)."""
    if img_scale is None:
        return None
    if _is_pair(img_scale):  # one scale; a JSON/YAML config turns the tuple into a list
        return [tuple(img_scale)]
    if isinstance(img_scale, list) and img_scale and all(_is_pair(s) for s in img_scale):
        return [tuple(s) for s in img_scale]
    raise ConfigError(f"Resize(img_scale={img_scale!r}): expected a (w, h) tuple such as "
                      f"(2048, 512) or a list of such tuples.")


@TRANSFORMS.register_module()
class Resize(BaseTransform):
    """Resize the image and label maps to a scale chosen as MMSegmentation 0.x does.

    The scale comes from ``results['scale']`` when set (``MultiScaleFlipAug``), otherwise:
    with ``ratio_range``, ``img_scale`` (or the image's own ``(w, h)`` when ``img_scale`` is None)
    times a ratio drawn uniformly from the range; with several ``img_scale`` values, a long and a
    short edge drawn between them (``multiscale_mode='range'``) or one of them
    (``'value'``); otherwise the single ``img_scale``. Random draws use ``np.random``.

    With ``keep_ratio`` the image is scaled by ``min(long / max(h, w), short / min(h, w))`` and each
    edge rounded half up; otherwise it is resized to exactly ``scale = (w, h)``. Sets ``img_shape``,
    ``pad_shape``, ``scale_factor`` (float32 ``[w_scale, h_scale, w_scale, h_scale]``),
    ``keep_ratio``, ``scale`` and ``scale_idx``.

    MMSegmentation 1.x's spelling (mmcv 2.x ``Resize``) is accepted too: ``scale=(w, h)`` (an int
    ``s`` means ``(s, s)``) or ``scale_factor=f`` / ``(fw, fh)`` (the scale is then the image's
    ``(w, h)`` times the factor, rounded half up); the resize uses that scale even when the sample
    has one (``results['scale']`` is overwritten), and ``keep_ratio`` defaults to False, as in 1.x.
    ``RandomResize`` / ``RandomChoiceResize`` / ``ResizeShortestEdge`` set ``scale`` per sample.

    Args:
        img_scale: ``(w, h)`` / ``(long, short)`` tuple, a list of them, or None.
        multiscale_mode: ``'range'`` or ``'value'``.
        ratio_range: ``(min_ratio, max_ratio)``.
        keep_ratio: keep the aspect ratio (default True, False with 1.x's ``scale`` /
            ``scale_factor``).
        min_size: lower bound for the short edge when ``keep_ratio`` (SETR/BEiT configs).
        scale: 1.x: the ``(w, h)`` scale (``(long, short)`` bounds with ``keep_ratio``).
        scale_factor: 1.x: a factor or ``(w_factor, h_factor)`` of the image size.
        interpolation: image interpolation (label maps are always nearest).
        backend: ``'cv2'`` only (mmcv's ``'pillow'`` resize gives other numbers).
        clip_object_border: 1.x's box clipping flag; seglab has no boxes, it has no effect.
    """

    def __init__(self, img_scale=None, multiscale_mode: str = "range",
                 ratio_range: Optional[Sequence[float]] = None, keep_ratio: Optional[bool] = None,
                 min_size: Optional[int] = None, scale=None, scale_factor=None,
                 interpolation: str = "bilinear", backend: str = "cv2",
                 clip_object_border: bool = True):
        self.v1x = scale is not None or scale_factor is not None
        if self.v1x and (img_scale is not None or ratio_range is not None):
            raise ConfigError("Resize: give MMSeg 1.x's scale / scale_factor or 0.x's img_scale / "
                              "ratio_range, not both (1.x draws scales in RandomResize).")
        if backend != "cv2":
            raise ConfigError(f"Resize(backend='{backend}'): only 'cv2' is available in seglab.")
        if interpolation not in INTERPOLATIONS:
            raise ConfigError(f"Resize(interpolation='{interpolation}') is not one of "
                              f"{', '.join(INTERPOLATIONS)}.")
        self.interpolation = interpolation
        self.scale = (scale, scale) if isinstance(scale, int) else _pair_or_none(scale, "scale")
        if isinstance(scale_factor, numbers.Number):
            scale_factor = (float(scale_factor), float(scale_factor))
        self.scale_factor = _pair_or_none(scale_factor, "scale_factor")
        if keep_ratio is None:
            keep_ratio = not self.v1x
        self.img_scale = _scales(img_scale)
        if ratio_range is not None:
            if not (_is_pair(ratio_range) and ratio_range[0] <= ratio_range[1]):
                raise ConfigError(f"Resize(ratio_range={ratio_range!r}): expected (min, max) with "
                                  f"min <= max, e.g. (0.5, 2.0).")
            if self.img_scale is not None and len(self.img_scale) != 1:
                raise ConfigError("Resize: ratio_range needs a single img_scale (or None), got "
                                  f"{len(self.img_scale)} scales.")
            ratio_range = tuple(ratio_range)
        elif multiscale_mode not in ("value", "range"):
            raise ConfigError(f"Resize(multiscale_mode='{multiscale_mode}') must be 'range' or "
                              f"'value'.")
        self.multiscale_mode = multiscale_mode
        self.ratio_range = ratio_range
        self.keep_ratio = keep_ratio
        self.min_size = min_size

    @staticmethod
    def random_select(img_scales: List[Scale]) -> Tuple[Scale, int]:
        """One of ``img_scales`` at random, with its index."""
        idx = np.random.randint(len(img_scales))
        return img_scales[idx], idx

    @staticmethod
    def random_sample(img_scales: List[Scale]) -> Tuple[Scale, None]:
        """A ``(long, short)`` scale drawn between two bounding scales."""
        if len(img_scales) != 2:
            raise ConfigError(f"Resize(multiscale_mode='range') needs exactly 2 img_scale bounds, "
                              f"got {len(img_scales)}.")
        longs = [max(s) for s in img_scales]
        shorts = [min(s) for s in img_scales]
        long_edge = np.random.randint(min(longs), max(longs) + 1)
        short_edge = np.random.randint(min(shorts), max(shorts) + 1)
        return (long_edge, short_edge), None

    @staticmethod
    def random_sample_ratio(img_scale: Scale, ratio_range: Tuple[float, float]
                            ) -> Tuple[Scale, None]:
        """``img_scale`` times a ratio drawn uniformly from ``ratio_range`` (truncated to int)."""
        min_ratio, max_ratio = ratio_range
        ratio = np.random.random_sample() * (max_ratio - min_ratio) + min_ratio
        return (int(img_scale[0] * ratio), int(img_scale[1] * ratio)), None

    def _random_scale(self, results: Dict) -> None:
        if self.ratio_range is not None:
            if self.img_scale is None:
                h, w = results["img"].shape[:2]
                scale, idx = self.random_sample_ratio((w, h), self.ratio_range)
            else:
                scale, idx = self.random_sample_ratio(self.img_scale[0], self.ratio_range)
        elif self.img_scale is None:
            raise ConfigError("Resize has no img_scale and no ratio_range, and the sample has no "
                              "'scale' (only MultiScaleFlipAug sets one): give img_scale=(w, h).")
        elif len(self.img_scale) == 1:
            scale, idx = self.img_scale[0], 0
        elif self.multiscale_mode == "range":
            scale, idx = self.random_sample(self.img_scale)
        else:
            scale, idx = self.random_select(self.img_scale)
        results["scale"] = scale
        results["scale_idx"] = idx

    def _resize_img(self, results: Dict) -> None:
        img = results["img"]
        if self.keep_ratio:
            if self.min_size is not None:
                # As 0.x: raise the short edge to min_size; the stored pair is (h, w)-ordered but
                # only its max/min are used, so the order does not matter.
                new_short = max(min(results["scale"]), self.min_size)
                h, w = img.shape[:2]
                if h > w:
                    results["scale"] = (new_short * h / w, new_short)
                else:
                    results["scale"] = (new_short, new_short * w / h)
            out, _ = imrescale(img, results["scale"], interpolation=self.interpolation)
            h, w = img.shape[:2]
            new_h, new_w = out.shape[:2]
            w_scale, h_scale = new_w / w, new_h / h
        else:
            out, w_scale, h_scale = imresize(img, results["scale"],
                                             interpolation=self.interpolation)
        results["img"] = out
        results["img_shape"] = out.shape
        results["pad_shape"] = out.shape  # in case no Pad follows
        results["scale_factor"] = np.array([w_scale, h_scale, w_scale, h_scale], dtype=np.float32)
        results["keep_ratio"] = self.keep_ratio

    def _resize_seg(self, results: Dict) -> None:
        for key in results.get("seg_fields", []):
            if self.keep_ratio:
                results[key] = imrescale(results[key], results["scale"], interpolation="nearest")[0]
            else:
                results[key] = imresize(results[key], results["scale"], interpolation="nearest")[0]

    def transform(self, results: Dict) -> Dict:
        if self.v1x:  # 1.x: the transform's own scale, else the image size times scale_factor
            if isinstance(self.scale, numbers.Number) and not self.keep_ratio:
                raise ConfigError(f"Resize(keep_ratio=False) got the number {self.scale} as its "
                                  f"scale (from RandomChoiceResize scales): give (w, h) pairs.")
            if self.scale:
                results["scale"] = self.scale
            else:
                h, w = results["img"].shape[:2]
                results["scale"] = scale_size((w, h), self.scale_factor)
        elif "scale" not in results:
            self._random_scale(results)
        self._resize_img(results)
        self._resize_seg(results)
        return results


@TRANSFORMS.register_module()
class ResizeToMultiple(BaseTransform):
    """Resize the image and label maps so that each edge becomes a ``size_divisor`` multiple.

    Args:
        size_divisor: the multiple.
        interpolation: image interpolation (``'bilinear'`` when None); label maps use nearest.
    """

    def __init__(self, size_divisor: int = 32, interpolation: Optional[str] = None):
        self.size_divisor = size_divisor
        self.interpolation = interpolation

    def transform(self, results: Dict) -> Dict:
        img = imresize_to_multiple(results["img"], self.size_divisor, scale_factor=1,
                                   interpolation=self.interpolation or "bilinear")
        results["img"] = img
        results["img_shape"] = img.shape
        results["pad_shape"] = img.shape
        for key in results.get("seg_fields", []):
            results[key] = imresize_to_multiple(results[key], self.size_divisor, scale_factor=1,
                                                interpolation="nearest")
        return results


@TRANSFORMS.register_module()
class SegRescale(BaseTransform):
    """Rescale the label maps only (nearest), e.g. to a head's output stride.

    Args:
        scale_factor: the factor; 1 leaves them unchanged.
    """

    supports_deferred_norm = True  # the image is not touched

    def __init__(self, scale_factor: float = 1):
        self.scale_factor = scale_factor

    def transform(self, results: Dict) -> Dict:
        if self.scale_factor != 1:
            for key in results.get("seg_fields", []):
                results[key] = imrescale(results[key], self.scale_factor,
                                         interpolation="nearest")[0]
        return results
