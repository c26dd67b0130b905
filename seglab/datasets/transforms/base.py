"""The thin base class of seglab's transforms."""
from __future__ import annotations

from typing import ClassVar, Dict, Optional

from .deferred import apply_deferred_normalize


class BaseTransform:
    """A pipeline step: ``transform(results) -> results`` (or None to drop the sample).

    ``results`` is MMSegmentation's sample dict (``img``, ``gt_semantic_seg``, ``img_shape``, ...).
    Subclasses that only move pixels (never read or mix their values) set
    ``supports_deferred_norm = True``; for the others, calling the transform first applies a
    normalisation that ``Normalize`` deferred (see :mod:`.deferred`), so that they see exactly the
    values MMSegmentation's eager pipeline would give them.
    """

    supports_deferred_norm: ClassVar[bool] = False

    def __call__(self, results: Dict) -> Optional[Dict]:
        if not self.supports_deferred_norm:
            apply_deferred_normalize(results)
        return self.transform(results)

    def transform(self, results: Dict) -> Optional[Dict]:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"
