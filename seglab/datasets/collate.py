"""Batch collation and device preparation for the data pipeline's samples.

``collate`` is the DataLoader's ``collate_fn``: it pads samples of different sizes at the
bottom/right to the largest height and width of the batch (images with 0, label maps with 255),
stacks them, and records ``batch_input_shape`` in every meta. Test-time samples from
``MultiScaleFlipAug`` hold one image per augmentation; each augmentation is collated separately,
giving MMSegmentation 0.x's ``forward_test`` layout (``img: list[Tensor[B, C, H, W]]``,
``img_metas: list[list[dict]]``).

``prepare_batch`` moves a batch to the device and applies the normalisation a ``Normalize``
deferred (see ``seglab.datasets.transforms.deferred``). The runner and the test loop call it before
``model(**batch)``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .transforms.deferred import SAMPLE_HW, eager_norm_cfg, is_deferred, normalize_tensor

IMG_PAD_VALUE = 0
SEG_PAD_VALUE = 255


def pad_stack(tensors: Sequence[torch.Tensor], pad_value: float) -> torch.Tensor:
    """Stack ``(..., H_i, W_i)`` tensors into ``(B, ..., H, W)``, padding bottom/right.

    Tensors of different dtypes are promoted to a common one (e.g. uint8 with float32 -> float32).
    """
    first = tensors[0]
    lead = first.shape[:-2]
    for t in tensors:
        if t.dim() != first.dim() or t.shape[:-2] != lead:
            raise ValueError(f"cannot batch tensors of shapes {tuple(first.shape)} and "
                             f"{tuple(t.shape)}: only the last two (H, W) dimensions may differ.")
    dtype = first.dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    height = max(t.shape[-2] for t in tensors)
    width = max(t.shape[-1] for t in tensors)
    if all(t.shape[-2:] == (height, width) and t.dtype == dtype for t in tensors):
        return torch.stack(list(tensors))
    out = first.new_full((len(tensors),) + tuple(lead) + (height, width), pad_value, dtype=dtype)
    for i, t in enumerate(tensors):
        out[i, ..., :t.shape[-2], :t.shape[-1]] = t
    return out


def _collate_metas(metas: Sequence[Mapping], images: Sequence[torch.Tensor],
                   batch_hw: Tuple[int, int]) -> List[Dict]:
    """Copies of ``metas`` with ``batch_input_shape`` (and each deferred sample's own size)."""
    out = []
    for meta, img in zip(metas, images):
        meta = dict(meta)
        meta["batch_input_shape"] = batch_hw
        cfg = meta.get("img_norm_cfg")
        if is_deferred(cfg):
            # prepare_batch zeroes the collate padding beyond this size, in normalised space.
            meta["img_norm_cfg"] = {**cfg, SAMPLE_HW: (int(img.shape[-2]), int(img.shape[-1]))}
        out.append(meta)
    return out


def _collate_group(samples: Sequence[Mapping]) -> Dict[str, Any]:
    """Collate samples whose values are single tensors / dicts (one augmentation)."""
    batch: Dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        if key == "img_metas":
            continue
        if key in ("img", "gt_semantic_seg") and any(isinstance(v, np.ndarray) for v in values):
            raise ValueError(f"collate: '{key}' is still a numpy array; end the pipeline with "
                             f"DefaultFormatBundle (or ImageToTensor) before Collect.")
        if all(isinstance(v, torch.Tensor) for v in values) and values[0].dim() >= 2:
            batch[key] = pad_stack(values, SEG_PAD_VALUE if key.startswith("gt_") else
                                   IMG_PAD_VALUE)
        elif all(isinstance(v, torch.Tensor) for v in values):
            batch[key] = torch.stack(values)
        else:
            batch[key] = values
    if "img_metas" in samples[0]:
        metas = [s["img_metas"] for s in samples]
        if "img" in batch and isinstance(batch["img"], torch.Tensor):
            hw = (int(batch["img"].shape[-2]), int(batch["img"].shape[-1]))
            metas = _collate_metas(metas, [s["img"] for s in samples], hw)
        batch["img_metas"] = metas
    return batch


def collate(samples: Sequence[Mapping]) -> Dict[str, Any]:
    """Batch pipeline outputs (dicts from ``Collect`` or ``MultiScaleFlipAug``).

    Args:
        samples: training samples ``dict(img=Tensor[C, H_i, W_i], gt_semantic_seg=Tensor[1, H_i,
            W_i], img_metas=dict)``, or test samples whose values are lists with one entry per
            augmentation.

    Returns:
        Training: ``dict(img=Tensor[B, C, H, W], gt_semantic_seg=Tensor[B, 1, H, W] int64,
        img_metas=list[dict])``. Test: ``dict(img=list[Tensor[B, C, H_a, W_a]],
        img_metas=list[list[dict]])``, one entry per augmentation. ``H, W`` are the largest of the
        batch (of the augmentation); every meta gets ``batch_input_shape = (H, W)``, while its
        ``img_shape`` / ``pad_shape`` stay those of its own sample, so that predictions can be
        cropped back.
    """
    samples = [s for s in samples if s is not None]
    if not samples:
        raise ValueError("collate got an empty batch (every sample was dropped by its pipeline).")
    keys = list(samples[0])
    for s in samples[1:]:
        if list(s) != keys:
            raise ValueError(f"cannot batch samples with different keys: {keys} and {list(s)}; "
                             f"use the same pipeline (Collect keys) for every dataset in a batch.")
    if not isinstance(samples[0].get("img"), list):
        return _collate_group(samples)
    num_augs = len(samples[0]["img"])
    for s in samples:
        if len(s["img"]) != num_augs:
            raise ValueError(f"test samples have {num_augs} and {len(s['img'])} augmentations; "
                             f"every image must go through the same MultiScaleFlipAug.")
    groups = [_collate_group([{k: s[k][a] if isinstance(s[k], list) else s[k] for k in keys}
                              for s in samples]) for a in range(num_augs)]
    return {key: [g[key] for g in groups] for key in groups[0]}


def _to_device(value: Any, device: torch.device, non_blocking: bool) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=non_blocking)
    if isinstance(value, list):
        return [_to_device(v, device, non_blocking) for v in value]
    return value


def prepare_batch(batch: Mapping[str, Any], device: Union[str, torch.device],
                  non_blocking: bool = True) -> Dict[str, Any]:
    """Move a collated batch to ``device`` and finish the deferred normalisation there.

    Images become float32: deferred samples get ``(x[rgb] - mean) / std``, the ``pad_val`` of a
    ``Pad`` that followed ``Normalize``, and 0 in the collate padding, exactly as an eager
    ``Normalize`` before the collate would have given. Other samples are only cast to float32.

    Args:
        batch: the output of :func:`collate`.
        device: target device.
        non_blocking: asynchronous host->device copies (useful with pinned memory).

    Returns:
        A new dict ready for ``model(**batch)``. Its ``img_metas`` carry plain MMSeg
        ``img_norm_cfg`` dicts (mean, std, to_rgb), so preparing it again changes nothing.
    """
    device = torch.device(device)
    metas = batch.get("img_metas")
    out: Dict[str, Any] = {}
    for key, value in batch.items():
        if key == "img_metas":
            out[key] = _done_metas(value)
        elif key == "img" and isinstance(value, list):
            out[key] = [_prepare_images(v, metas[a] if metas is not None else None, device,
                                        non_blocking) for a, v in enumerate(value)]
        elif key == "img":
            out[key] = _prepare_images(value, metas, device, non_blocking)
        else:
            out[key] = _to_device(value, device, non_blocking)
    return out


def _done_metas(metas: Any) -> Any:
    """Copies of the metas whose ``img_norm_cfg`` no longer says 'deferred'."""
    if isinstance(metas, list):
        return [_done_metas(m) for m in metas]
    if isinstance(metas, Mapping) and is_deferred(metas.get("img_norm_cfg")):
        return {**metas, "img_norm_cfg": eager_norm_cfg(metas["img_norm_cfg"])}
    return metas


def _prepare_images(img: torch.Tensor, metas: Optional[Sequence[Mapping]], device: torch.device,
                    non_blocking: bool) -> torch.Tensor:
    img = img.to(device, non_blocking=non_blocking)
    cfgs = [m.get("img_norm_cfg") for m in metas] if metas is not None else [None] * len(img)
    return normalize_tensor(img, cfgs)
