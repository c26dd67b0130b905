"""MMSegmentation 1.x's ``PackSegInputs``, packing a sample the way seglab's
``DefaultFormatBundle`` + ``Collect`` do, so that seglab's collate and runner consume it."""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
import torch

from ...registry import TRANSFORMS
from .base import BaseTransform
from .formatting import DEFAULT_META_KEYS, DefaultFormatBundle

V1X_META_KEYS = ("img_path", "seg_map_path", "ori_shape", "img_shape", "pad_shape",
                 "scale_factor", "flip", "flip_direction", "reduce_zero_label")


@TRANSFORMS.register_module()
class PackSegInputs(BaseTransform):
    """The 1.x pipeline's last step, as seglab's ``DefaultFormatBundle`` + ``Collect``.

    Returns ``dict(img=Tensor[C, H, W], img_metas=dict, [gt_semantic_seg=Tensor[1, H, W] int64],
    [gt_edge_map=Tensor[1, H, W] int64])``: the image as ``DefaultFormatBundle`` makes it (dtype
    kept; a deferred ``Normalize`` finishes on the device), the label map when the sample has one
    (1.x's ``gt_sem_seg``), PIDNet's edge map from ``GenerateEdge`` when present (1.x's
    ``gt_edge_map``). ``img_metas`` holds the ``meta_keys`` the sample has (1.x's rule) plus the
    keys seglab's runtime reads (``Collect``'s defaults: ``filename``, ``ori_shape``,
    ``img_norm_cfg``...); ``flip`` defaults to False and ``flip_direction`` to None when no
    ``RandomFlip`` ran (1.x test pipelines have none).

    Args:
        meta_keys: sample keys copied into ``img_metas`` when present.
    """

    supports_deferred_norm = True

    def __init__(self, meta_keys: Sequence[str] = V1X_META_KEYS):
        self.meta_keys = tuple(meta_keys)
        self._bundle = DefaultFormatBundle()

    def transform(self, results: Dict) -> Dict:
        results.setdefault("flip", False)
        results.setdefault("flip_direction", None)
        metas = {k: results[k] for k in DEFAULT_META_KEYS + self.meta_keys if k in results}
        packed = self._bundle.transform({k: results[k] for k in ("img", "gt_semantic_seg")
                                         if k in results})
        if "gt_edge_map" in results:
            packed["gt_edge_map"] = torch.from_numpy(results["gt_edge_map"][None].astype(np.int64))
        packed["img_metas"] = metas
        return packed
