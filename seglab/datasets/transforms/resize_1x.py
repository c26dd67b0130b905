"""MMSegmentation 1.x's scale-drawing resizes: ``RandomResize``, ``RandomChoiceResize`` and
``ResizeShortestEdge``.

Each picks a ``(w, h)`` scale per sample, as mmcv 2.x / mmseg 1.x do (same ``np.random`` draws,
same rounding), and hands it to an inner ``Resize`` (``resize_type``, built from the registry with
``scale=0`` and the remaining keyword arguments, e.g. ``keep_ratio=True``), which resizes the image
and label maps as :class:`~seglab.datasets.transforms.resize.Resize` with 1.x's ``scale`` does.
"""
from __future__ import annotations

import numbers
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ...errors import ConfigError
from ...registry import TRANSFORMS, build_from_cfg
from .base import BaseTransform
from .resize import Resize, _is_pair

Scale = Tuple[int, int]


def _build_resize(owner: str, resize_type: str, resize_kwargs: Dict) -> BaseTransform:
    resize = build_from_cfg({"type": resize_type, "scale": 0, **resize_kwargs}, TRANSFORMS,
                            key="resize")
    if not hasattr(resize, "scale"):
        raise ConfigError(f"{owner}(resize_type='{resize_type}'): the resize class must take a "
                          f"'scale' argument and keep it as its 'scale' attribute.")
    return resize


def _int_pair(value, owner: str, name: str) -> Scale:
    if not (_is_pair(value) and all(isinstance(v, numbers.Integral) for v in value)):
        raise ConfigError(f"{owner}({name}={value!r}): expected a (w, h) pair of ints.")
    return int(value[0]), int(value[1])


class _ScaleDrawingResize(BaseTransform):
    """The shared part: an inner resize run with the scale :meth:`_draw_scale` picks."""

    resize: BaseTransform

    def _draw_scale(self, results: Dict) -> Tuple[Scale, Optional[int]]:
        raise NotImplementedError

    def transform(self, results: Dict) -> Dict:
        scale, idx = self._draw_scale(results)
        self.resize.scale = scale
        results = self.resize(results)  # sets results['scale'] to the scale it used
        if idx is not None:
            results["scale_idx"] = idx
        return results


@TRANSFORMS.register_module()
class RandomResize(_ScaleDrawingResize):
    """Resize to a random scale (mmcv 2.x ``RandomResize``).

    ``scale=(w, h)`` with ``ratio_range=(lo, hi)``: the scale is ``(int(w * r), int(h * r))`` with
    ``r = lo + U[0, 1) * (hi - lo)`` (``np.random.random_sample``). ``scale=[(w0, h0), (w1, h1)]``:
    each edge is drawn on its own, ``np.random.randint(min, max + 1)``, width first. With
    ``keep_ratio=True`` the drawn pair bounds the long and short edges (as 0.x's ``Resize``).

    Args:
        scale: ``(w, h)`` or two ``(w, h)`` bounds.
        ratio_range: ``(min_ratio, max_ratio)``, needed with a single scale.
        resize_type: the registered resize class (``'Resize'``).
        **resize_kwargs: its other arguments (``keep_ratio``, ``interpolation``).
    """

    def __init__(self, scale: Union[Scale, Sequence[Scale]],
                 ratio_range: Optional[Tuple[float, float]] = None, resize_type: str = "Resize",
                 **resize_kwargs):
        if _is_pair(scale):
            self.scale = _int_pair(scale, "RandomResize", "scale")
            if not (_is_pair(ratio_range) and ratio_range[0] <= ratio_range[1]):
                raise ConfigError(f"RandomResize(scale={scale!r}, ratio_range={ratio_range!r}): a "
                                  f"single scale needs ratio_range=(min, max), min <= max.")
            self.ratio_range = tuple(ratio_range)
        elif isinstance(scale, (list, tuple)) and len(scale) == 2 and all(map(_is_pair, scale)):
            self.scale = [_int_pair(s, "RandomResize", "scale") for s in scale]
            self.ratio_range = ratio_range
        else:
            raise ConfigError(f"RandomResize(scale={scale!r}): expected (w, h) with ratio_range, "
                              f"or [(w_min, h_min), (w_max, h_max)].")
        self.resize = _build_resize("RandomResize", resize_type, resize_kwargs)

    def _draw_scale(self, results: Dict) -> Tuple[Scale, None]:
        if isinstance(self.scale, tuple):
            lo, hi = self.ratio_range
            ratio = np.random.random_sample() * (hi - lo) + lo
            return (int(self.scale[0] * ratio), int(self.scale[1] * ratio)), None
        widths = [s[0] for s in self.scale]
        heights = [s[1] for s in self.scale]
        w = np.random.randint(min(widths), max(widths) + 1)
        h = np.random.randint(min(heights), max(heights) + 1)
        return (int(w), int(h)), None


@TRANSFORMS.register_module()
class RandomChoiceResize(_ScaleDrawingResize):
    """Resize to one of ``scales`` picked with ``np.random.randint`` (mmcv 2.x); sets
    ``scale_idx``.

    Args:
        scales: a ``(w, h)`` / int scale or a list of them.
        resize_type: the registered resize class (``'Resize'``).
        **resize_kwargs: its other arguments (``keep_ratio``, ``interpolation``).
    """

    def __init__(self, scales: Union[Scale, int, List], resize_type: str = "Resize",
                 **resize_kwargs):
        scales = list(scales) if isinstance(scales, list) else [scales]
        if not scales or not all(isinstance(s, numbers.Integral) or _is_pair(s) for s in scales):
            raise ConfigError(f"RandomChoiceResize(scales={scales!r}): expected a list of (w, h) "
                              f"pairs or ints.")
        # as 1.x, an int reaches the inner resize as it is: Resize(keep_ratio=True) then scales
        # the image by it (a factor), ResizeShortestEdge takes it as the short edge
        self.scales = [s if isinstance(s, numbers.Integral) else tuple(s) for s in scales]
        self.resize = _build_resize("RandomChoiceResize", resize_type, resize_kwargs)

    def _draw_scale(self, results: Dict) -> Tuple[Scale, int]:
        idx = int(np.random.randint(len(self.scales)))
        return self.scales[idx], idx


@TRANSFORMS.register_module()
class ResizeShortestEdge(_ScaleDrawingResize):
    """Scale the short edge to ``scale`` unless the long edge would pass ``max_size`` (then the
    long edge becomes ``max_size``), keeping the ratio; edges rounded half up (mmseg 1.x).

    Args:
        scale: the short edge length (the smaller value of a pair).
        max_size: the longest allowed edge.
    """

    def __init__(self, scale: Union[int, Scale], max_size: int):
        if not (isinstance(scale, numbers.Integral) or _is_pair(scale)):
            raise ConfigError(f"ResizeShortestEdge(scale={scale!r}): expected an int or a pair.")
        self.scale = scale
        self.max_size = max_size
        self.resize = Resize(scale=0, keep_ratio=True)

    def _draw_scale(self, results: Dict) -> Tuple[Scale, None]:
        h, w = results["img"].shape[:2]
        size = float(self.scale if isinstance(self.scale, numbers.Integral) else min(self.scale))
        factor = size / min(h, w)
        new_h, new_w = (size, factor * w) if h < w else (factor * h, size)
        if max(new_h, new_w) > self.max_size:
            factor = self.max_size / max(new_h, new_w)
            new_h, new_w = new_h * factor, new_w * factor
        return (int(new_w + 0.5), int(new_h + 0.5)), None
