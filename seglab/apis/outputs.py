"""What a test run writes: overlay images under --show-dir, predictions to --out."""
from __future__ import annotations

import os
import os.path as osp
import pickle
import re
from typing import Any, Optional, Sequence

import numpy as np

from ..errors import ConfigError
from ..utils import atomic_open

# Extensions OpenCV encodes everywhere; other image names get '.png' appended.
_IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
PICKLE_EXTS = (".pkl", ".pickle")


def safe_output_path(out_dir: str, rel_name: Optional[str], fallback: str) -> str:
    """``out_dir / rel_name`` made safe: never outside ``out_dir``.

    ``rel_name`` is an image's ``ori_filename`` (e.g. ``'leftImg8bit/val/a/b.png'``): its
    sub-folders are kept; ``..``, ``.``, empty components and an absolute prefix (``/``, a drive
    letter) are dropped, so a hostile or odd name cannot escape ``out_dir``. A name without an
    image extension gets ``.png`` appended (the overlay must be encodable).

    Args:
        out_dir: the output folder.
        rel_name: the name to keep, or None.
        fallback: used when nothing is left of ``rel_name`` (e.g. ``'000042.png'``).

    Returns:
        An absolute path inside ``out_dir``.
    """
    root = osp.abspath(out_dir)
    parts = []
    if rel_name:
        for part in re.split(r"[\\/]+", os.fspath(rel_name)):
            if part in ("", ".", ".."):
                continue
            if re.fullmatch(r"[A-Za-z]:", part):  # Windows drive of an absolute name
                continue
            parts.append(part)
    if not parts:
        parts = [fallback]
    if osp.splitext(parts[-1])[1].lower() not in _IMAGE_EXTS:
        parts[-1] += ".png"
    path = osp.abspath(osp.join(root, *parts))
    if osp.commonpath([root, path]) != root:  # defence in depth; cannot happen after the filter
        raise ConfigError(f"Refusing to write {rel_name!r} outside the output folder {root}.")
    return path


def storage_dtype(num_classes: Optional[int], preds: Sequence[np.ndarray] = ()) -> np.dtype:
    """uint8 when every class id fits in 8 bits, else uint16 (label maps of --out)."""
    if num_classes is None:
        num_classes = 1 + max((int(p.max()) for p in preds if p.size), default=0)
    if num_classes <= 256:
        return np.dtype(np.uint8)
    if num_classes <= 65536:
        return np.dtype(np.uint16)
    raise ValueError(f"{num_classes} classes do not fit in a uint16 label map.")


def as_label_map(pred: Any, dtype: np.dtype) -> np.ndarray:
    """A prediction (tensor or array, (H, W) or (1, H, W)) as an (H, W) array of ``dtype``."""
    if hasattr(pred, "detach"):
        pred = pred.detach().cpu().numpy()
    pred = np.asarray(pred)
    if pred.ndim == 3 and pred.shape[0] == 1:
        pred = pred[0]
    return pred.astype(dtype, copy=False)


def check_out_path(out: Optional[str]) -> None:
    """MMSeg's rule: ``--out`` must name a pickle file."""
    if out is not None and not out.endswith(PICKLE_EXTS):
        raise ConfigError(f"--out {out!r}: the output file must be a pkl file (end with .pkl or "
                          ".pickle).")


def dump_pickle(obj: Any, path: str) -> None:
    """Pickle ``obj`` to ``path`` atomically (an interrupted run leaves no partial file)."""
    check_out_path(path)
    with atomic_open(path, "wb") as f:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
