"""Test batches of images of different sizes, with results identical to batch size 1.

The collate pads the images of a batch to a common size. Running such a padded batch through
the network changes the predictions of the smaller images: the logits are upsampled from 1/8
(or 1/32) resolution over the padded size rather than the image's own, and the padded zone
reaches the image borders through every convolution (it is no longer zero after the first BN).
On the tiny FCN of the tests about a third of the pixels of a 33x40 image padded to 40x40
change class. So :func:`forward_test_batch` splits a prepared batch into groups of samples of
the same size, cuts the collate padding off each group and runs the groups one after the
other; a batch whose samples share a size (fixed-scale pipelines, Cityscapes) runs as one.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence, Tuple

import torch
from torch import nn


def _own_hw(meta: Mapping, img: torch.Tensor) -> Tuple[int, int]:
    """The size a sample had before the collate padded it (its ``pad_shape``)."""
    shape = meta.get("pad_shape") or meta.get("img_shape") or tuple(img.shape[-2:])
    return int(shape[0]), int(shape[1])


def shape_groups(batch: Mapping[str, Any]) -> List[List[int]]:
    """Rows of a collated test batch grouped by the samples' own sizes (in every augmentation),
    in order of first appearance."""
    imgs = batch["img"] if isinstance(batch["img"], list) else [batch["img"]]
    metas = batch["img_metas"] if isinstance(batch["img"], list) else [batch["img_metas"]]
    groups: Dict[Tuple, List[int]] = {}
    for row in range(imgs[0].shape[0]):
        key = tuple(_own_hw(metas[a][row], imgs[a]) for a in range(len(imgs)))
        groups.setdefault(key, []).append(row)
    return list(groups.values())


def sub_batch(batch: Mapping[str, Any], rows: Sequence[int]) -> Dict[str, Any]:
    """Rows ``rows`` (same-size samples) of a prepared test batch, the collate padding cut off."""
    augmented = isinstance(batch["img"], list)
    imgs = batch["img"] if augmented else [batch["img"]]
    metas = batch["img_metas"] if augmented else [batch["img_metas"]]
    out_imgs, out_metas = [], []
    for img, aug_metas in zip(imgs, metas):
        h, w = _own_hw(aug_metas[rows[0]], img)
        out_imgs.append(img[list(rows), :, :h, :w].contiguous())
        out_metas.append([{**aug_metas[r], "batch_input_shape": (h, w)} for r in rows])
    return dict(batch, img=out_imgs if augmented else out_imgs[0],
                img_metas=out_metas if augmented else out_metas[0])


def forward_test_batch(model: nn.Module, batch: Mapping[str, Any]) -> List[Any]:
    """``model(return_loss=False, rescale=True, **batch)``, one forward per group of same-size
    samples (see :func:`shape_groups`); predictions in the batch's order."""
    groups = shape_groups(batch)
    if len(groups) == 1:
        return list(model(return_loss=False, rescale=True, **batch))
    preds: List[Any] = [None] * sum(len(g) for g in groups)
    for rows in groups:
        for row, pred in zip(rows, model(return_loss=False, rescale=True,
                                         **sub_batch(batch, rows))):
            preds[row] = pred
    return preds
