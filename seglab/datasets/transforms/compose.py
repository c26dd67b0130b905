"""``Compose``: a list of transform configs or callables applied in order."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Callable, Dict, List, Optional, Union

from ...errors import ConfigError
from ...registry import TRANSFORMS, build_from_cfg, current_build_path
from .base import BaseTransform
from .deferred import apply_deferred_normalize


class Compose:
    """Build and chain transforms, as MMSegmentation's ``Compose``.

    Args:
        transforms: transform configs (``dict(type='Resize', ...)``, built from the ``TRANSFORMS``
            registry) or callables taking and returning the results dict.
        key: name of this list in the config; errors report ``<parent>.<key>.<index>`` (a dataset
            built as ``data.train`` gives ``data.train.pipeline.3.type``).

    A transform that returns None drops the sample: ``Compose`` then returns None.
    """

    def __init__(self, transforms: Sequence[Union[Mapping, Callable]], key: str = "pipeline"):
        where = ".".join(p for p in (current_build_path(), key) if p)
        if isinstance(transforms, (str, bytes, Mapping)) or not isinstance(transforms, Sequence):
            raise ConfigError(f"{where} must be a list of transform dicts, got "
                              f"{type(transforms).__name__}: {transforms!r}")
        self.transforms: List[Callable] = []
        for i, transform in enumerate(transforms):
            if isinstance(transform, Mapping):
                transform = build_from_cfg(transform, TRANSFORMS, key=f"{key}.{i}")
            elif not callable(transform):
                raise ConfigError(f"{where}.{i} must be a transform dict (with a 'type' key) or a "
                                  f"callable, got {type(transform).__name__}: {transform!r}")
            self.transforms.append(transform)

    def __call__(self, results: Dict) -> Optional[Dict]:
        for t in self.transforms:
            if not isinstance(t, BaseTransform):
                # A foreign callable may read pixel values: give it normalised ones.
                apply_deferred_normalize(results)
            results = t(results)
            if results is None:
                return None
        return results

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"{type(self).__name__}([{inner}\n])"
