"""``MultiScaleFlipAug``: run the inner transforms once per (scale, flip, direction)."""
from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping
from typing import Dict, List, Optional, Sequence, Union

from ...errors import ConfigError
from ...registry import TRANSFORMS
from .base import BaseTransform
from .compose import Compose
from .resize import _is_pair


@TRANSFORMS.register_module()
class MultiScaleFlipAug(BaseTransform):
    """Test-time augmentation over scales and flips, as MMSegmentation 0.x.

    Each augmentation gets a shallow copy of the results with ``scale``, ``flip`` and
    ``flip_direction`` set, runs ``transforms`` (which should contain ``Resize`` and
    ``RandomFlip``), and the outputs are gathered key by key into lists: ``dict(img=[...],
    img_metas=[...])``, augmentations ordered scale-major, then flip (False, True), then direction.

    Scales: ``img_scale`` with ``img_ratios`` gives ``int(w * r), int(h * r)`` per ratio;
    ``img_scale`` alone gives that scale (or list of scales); ``img_scale=None`` with
    ``img_ratios`` uses the image's own ``(w, h)`` times each ratio.

    Args:
        transforms: the per-augmentation transform configs.
        img_scale: ``(w, h)``, a list of them, or None.
        img_ratios: a ratio or a list of ratios.
        flip: also run flipped copies.
        flip_direction: ``'horizontal'`` / ``'vertical'`` or a list of them.
    """

    def __init__(self, transforms: Sequence[Union[Mapping, object]], img_scale=None,
                 img_ratios: Optional[Union[float, Sequence[float]]] = None, flip: bool = False,
                 flip_direction: Union[str, Sequence[str]] = "horizontal"):
        self.transforms = Compose(transforms, key="transforms")
        if img_ratios is not None:
            ratios = list(img_ratios) if isinstance(img_ratios, (list, tuple)) else [img_ratios]
            if not ratios or not all(isinstance(r, numbers.Number) and r > 0 for r in ratios):
                raise ConfigError(f"MultiScaleFlipAug(img_ratios={img_ratios!r}): expected a "
                                  f"positive number or a list of them, e.g. [0.5, 1.0, 1.5].")
            img_ratios = [float(r) for r in ratios]
        if img_scale is None:
            if img_ratios is None:
                raise ConfigError("MultiScaleFlipAug needs img_scale=(w, h), img_ratios, or both.")
            self.img_scale = None
        elif _is_pair(img_scale) and img_ratios is not None:
            self.img_scale = [(int(img_scale[0] * r), int(img_scale[1] * r)) for r in img_ratios]
        elif _is_pair(img_scale):
            self.img_scale = [tuple(img_scale)]
        elif isinstance(img_scale, list) and img_scale and all(_is_pair(s) for s in img_scale):
            self.img_scale = [tuple(s) for s in img_scale]
        else:
            raise ConfigError(f"MultiScaleFlipAug(img_scale={img_scale!r}): expected a (w, h) "
                              f"tuple or a list of them.")
        self.img_ratios = img_ratios
        self.flip = flip
        directions = [flip_direction] if isinstance(flip_direction, str) else list(flip_direction)
        for d in directions:
            if d not in ("horizontal", "vertical"):
                raise ConfigError(f"MultiScaleFlipAug(flip_direction={flip_direction!r}): each "
                                  f"direction must be 'horizontal' or 'vertical'.")
        self.flip_direction = directions
        if not flip and directions != ["horizontal"]:
            warnings.warn("MultiScaleFlipAug: flip_direction has no effect when flip=False")
        types = [t.get("type") for t in transforms if isinstance(t, Mapping)]
        if flip and "RandomFlip" not in types:
            warnings.warn("MultiScaleFlipAug: flip has no effect without RandomFlip in transforms")

    def transform(self, results: Dict) -> Dict[str, List]:
        if self.img_scale is None:
            h, w = results["img"].shape[:2]
            scales = [(int(w * r), int(h * r)) for r in self.img_ratios]
        else:
            scales = self.img_scale
        flips = [False, True] if self.flip else [False]
        augmented = []
        for scale in scales:
            for flip in flips:
                for direction in self.flip_direction:
                    sample = results.copy()
                    sample["scale"] = scale
                    sample["flip"] = flip
                    sample["flip_direction"] = direction
                    out = self.transforms(sample)
                    if out is None:
                        return None
                    augmented.append(out)
        return {key: [aug[key] for aug in augmented] for key in augmented[0]}
