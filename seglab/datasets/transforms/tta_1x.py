"""MMSegmentation 1.x's ``TestTimeAug`` (mmcv 2.x): every combination of a list of choices."""
from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from typing import Dict, List, Optional, Sequence

from ...errors import ConfigError
from ...registry import TRANSFORMS, build_from_cfg
from .base import BaseTransform
from .compose import Compose


@TRANSFORMS.register_module()
class TestTimeAug(BaseTransform):
    """Run the sample through each combination of ``transforms`` (a list of lists: one choice
    from each inner list, in order; ``itertools.product`` order, the last list varying fastest).

    Each combination gets a deep copy of the sample; the outputs are gathered key by key into lists
    (``dict(img=[...], img_metas=[...])``), the form seglab's ``MultiScaleFlipAug`` gives and its
    collate and ``aug_test`` take. The 1.x configs' ``tta_pipeline``
    ``[[Resize(scale_factor=r, keep_ratio=True) for r in ratios], [RandomFlip(prob=0.),
    RandomFlip(prob=1.)], [LoadAnnotations()], [PackSegInputs()]]`` gives scale-major, unflipped
    then flipped, the order of 0.x's ``MultiScaleFlipAug(img_ratios=..., flip=True)``; sizes can
    differ by a pixel (1.x rounds the image size times the factor half up, 0.x truncates).

    Args:
        transforms: the lists of transform dicts (or callables).
    """

    def __init__(self, transforms: Sequence[Sequence]):
        if not isinstance(transforms, (list, tuple)) or not transforms or not all(
                isinstance(group, (list, tuple)) and group for group in transforms):
            raise ConfigError(f"TestTimeAug(transforms={transforms!r}): expected a list of "
                              f"non-empty lists of transforms, e.g. [[dict(type='Resize', ...), "
                              f"...], [dict(type='RandomFlip', prob=0.), ...], "
                              f"[dict(type='PackSegInputs')]].")
        groups: List[List] = []
        for i, group in enumerate(transforms):
            groups.append([build_from_cfg(t, TRANSFORMS, key=f"transforms.{i}.{j}")
                           if isinstance(t, Mapping) else t for j, t in enumerate(group)])
        self.subroutines = [Compose(list(chain), key="transforms")
                            for chain in itertools.product(*groups)]

    def transform(self, results: Dict) -> Optional[Dict[str, List]]:
        augmented = []
        for subroutine in self.subroutines:
            out = subroutine(copy.deepcopy(results))
            if out is None:
                return None
            augmented.append(out)
        return {key: [aug[key] for aug in augmented] for key in augmented[0]}
