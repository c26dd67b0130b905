"""Write predicted label maps to PNG files named after their images (``format_results``)."""
from __future__ import annotations

import io
import os
import os.path as osp
from typing import Callable, List, Optional, Sequence

import numpy as np

from ..utils import atomic_open


def _palette_bytes(palette) -> Optional[List[int]]:
    if palette is None:
        return None
    rows = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)[:256]
    flat = np.zeros((256, 3), dtype=np.uint8)
    flat[:len(rows)] = rows
    return flat.ravel().tolist()


def save_label_png(label: np.ndarray, path: str, palette=None) -> None:
    """Save an (H, W) label map as a palette PNG (the raw values are the indices), atomically."""
    from PIL import Image

    label = np.asarray(label)
    if label.ndim != 2 or label.min(initial=0) < 0 or label.max(initial=0) > 255:
        raise ValueError(f"A label map to save as '{path}' must be (H, W) with values in "
                         f"[0, 255], got shape {label.shape}, range [{label.min()}, {label.max()}]")
    image = Image.fromarray(label.astype(np.uint8))
    colours = _palette_bytes(palette)
    if colours is not None:
        image.putpalette(colours)  # turns the 'L' image into 'P' with the same indices
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    with atomic_open(path, "wb") as f:
        f.write(buffer.getvalue())


def write_iou_metric_pngs(dataset, results: Sequence, indices: Optional[Sequence[int]] = None,
                          *, output_dir: str) -> List[str]:
    """Write predictions as MMSegmentation 1.x's ``IoUMetric(output_dir=...)`` does (``tools/test.py
    --out DIR``): grey-level ('L') PNGs of the class index, named after the images, plus 1 on a
    ``reduce_zero_label`` dataset (ADE20K: 1..150); no palette and no label-id conversion
    (Cityscapes keeps train ids), so ``cv2.imread(f, cv2.IMREAD_UNCHANGED)`` gives the labels."""
    shift = (lambda label: np.asarray(label).astype(np.int64) + 1) \
        if getattr(dataset, "reduce_zero_label", False) else None
    return write_label_pngs(dataset, results, output_dir, indices, convert=shift, palette=False)


def write_label_pngs(dataset, results: Sequence, imgfile_prefix: str,
                     indices: Optional[Sequence[int]] = None,
                     convert: Optional[Callable[[np.ndarray], np.ndarray]] = None,
                     palette=None) -> List[str]:
    """Write ``results[i]`` as ``<imgfile_prefix>/<basename of image indices[i]>.png``.

    Args:
        dataset: a dataset with ``img_infos``.
        results: label maps (arrays, or .npy file names).
        imgfile_prefix: output folder (created).
        indices: dataset index of each result (default ``range(len(results))``).
        convert: applied to each map before saving (e.g. train ids -> label ids).
        palette: PNG palette (default: the dataset's ``PALETTE``); False writes grey-level
            PNGs without a palette.

    Returns:
        The written file names.
    """
    if indices is None:
        indices = list(range(len(results)))
    if len(indices) != len(results):
        raise ValueError(f"format_results got {len(results)} results but {len(indices)} indices.")
    os.makedirs(imgfile_prefix, exist_ok=True)
    palette = dataset.PALETTE if palette is None else (None if palette is False else palette)
    files = []
    for result, idx in zip(results, indices):
        label = np.load(result) if isinstance(result, str) else np.asarray(result)
        if convert is not None:
            label = convert(label)
        basename = osp.splitext(osp.basename(dataset.img_infos[idx]["filename"]))[0]
        path = osp.join(imgfile_prefix, f"{basename}.png")
        save_label_png(label, path, palette)
        files.append(path)
    return files
