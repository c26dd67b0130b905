"""A small synthetic segmentation dataset in the Pascal VOC layout, for demos and tests.

``make_synthetic_voc(out_dir)`` writes, deterministically from ``seed``::

    out_dir/JPEGImages/<name>.jpg             RGB images (JPEG quality 90)
    out_dir/SegmentationClass/<name>.png      palette PNGs: class index per pixel, 255 = boundary
    out_dir/ImageSets/Segmentation/{train,val,trainval}.txt
    out_dir/synthetic_voc.json                what was generated (written last)

Objects of five classes (disc, square, triangle, striped ellipse, ring) lie on varied
backgrounds (gradients, colour blotches, noise textures and background-labelled clutter blobs).
Every colour is drawn from one shared set for all classes and the background, so colour alone
does not tell the classes apart: shape, texture (stripes) and context (the hole of a ring shows
background) do. Later objects occlude earlier ones, and, as in VOC, a band of 255 a few pixels
wide covers object boundaries.
"""
from __future__ import annotations

import io
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, Optional, Tuple

import cv2
import numpy as np

from ..errors import DatasetError
from ..registry import DATASETS
from .result_files import save_label_png
from .voc import PascalVOCDataset, voc_palette

SYNTHETIC_CLASSES = ("background", "disc", "square", "triangle", "stripes", "ring")
SYNTHETIC_PALETTE = voc_palette(len(SYNTHETIC_CLASSES))
META_FILE = "synthetic_voc.json"
_FORMAT_VERSION = 1
_SPLIT_CODES = {"train": 0, "val": 1}

# The one colour set that the background and every class draw from.
_BASE_COLOURS = np.array([
    [200, 60, 50], [60, 160, 70], [50, 90, 200], [220, 200, 60], [150, 70, 170],
    [90, 190, 200], [230, 140, 60], [125, 125, 125], [235, 235, 225], [45, 45, 50]],
    dtype=np.float32)


def _colour(rng: np.random.Generator) -> np.ndarray:
    base = _BASE_COLOURS[rng.integers(len(_BASE_COLOURS))]
    return np.clip(base + rng.normal(0.0, 18.0, 3), 0, 255).astype(np.float32)


def _grid(h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return yy, xx


def _directional(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """A ramp along a random direction, from 0 to 1 over the image."""
    angle = rng.uniform(0, np.pi)
    ramp = np.cos(angle) * xx + np.sin(angle) * yy
    return (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1e-6)


def _blob_polygon(rng: np.random.Generator, cx: float, cy: float, r: float) -> np.ndarray:
    """An irregular, star-convex polygon (background clutter: no class has this shape)."""
    n = int(rng.integers(7, 12))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = r * rng.uniform(0.5, 1.2, n)
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    yy, xx = _grid(h, w)
    kind = rng.integers(3)
    if kind == 0:  # two-colour gradient
        t = _directional(rng, yy, xx)[..., None]
        img = _colour(rng) * (1 - t) + _colour(rng) * t
    elif kind == 1:  # smooth colour blotches
        gh, gw = rng.integers(2, 6, size=2)
        cells = np.stack([_colour(rng) for _ in range(gh * gw)]).reshape(gh, gw, 3)
        img = cv2.resize(cells, (w, h), interpolation=cv2.INTER_CUBIC)
    else:  # flat colour with a soft noise texture
        noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 3)
        img = _colour(rng) + 60.0 * noise[..., None]
    for _ in range(int(rng.integers(0, 4))):  # background-labelled clutter
        r = rng.uniform(0.06, 0.2) * max(h, w)
        poly = _blob_polygon(rng, rng.uniform(0, w), rng.uniform(0, h), r)
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
        img = np.where(mask[..., None] > 0, _colour(rng), img)
    return img.astype(np.float32)


def _object_mask(rng: np.random.Generator, cls: str, h: int, w: int) -> np.ndarray:
    size = max(h, w)
    r = rng.uniform(0.08, 0.22) * size
    cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
    mask = np.zeros((h, w), np.uint8)
    centre = (int(round(cx)), int(round(cy)))
    if cls == "disc":
        cv2.circle(mask, centre, int(round(r)), 1, -1)
    elif cls == "square":
        box = cv2.boxPoints(((cx, cy), (1.8 * r, 1.8 * r), float(rng.uniform(0, 90))))
        cv2.fillPoly(mask, [np.round(box).astype(np.int32)], 1)
    elif cls == "triangle":
        a = rng.uniform(0, 2 * np.pi) + np.arange(3) * 2 * np.pi / 3
        pts = np.stack([cx + 1.3 * r * np.cos(a), cy + 1.3 * r * np.sin(a)], 1)
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    elif cls == "stripes":
        axes = (int(round(r * 1.2)), int(round(r * rng.uniform(0.55, 1.0))))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    elif cls == "ring":
        cv2.circle(mask, centre, int(round(r)), 1, -1)
        cv2.circle(mask, centre, int(round(r * rng.uniform(0.45, 0.65))), 0, -1)
    else:
        raise ValueError(f"unknown synthetic class {cls!r}")
    return mask


def _object_fill(rng: np.random.Generator, cls: str, h: int, w: int) -> np.ndarray:
    yy, xx = _grid(h, w)
    colour = _colour(rng)
    if cls == "stripes":
        other = _colour(rng)
        while np.abs(other - colour).sum() < 120:  # keep the stripes visible
            other = _colour(rng)
        period = rng.uniform(5.0, 10.0) * max(h, w) / 256.0
        angle = rng.uniform(0, np.pi)
        phase = np.cos(angle) * xx + np.sin(angle) * yy
        on = np.sin(2 * np.pi * phase / period + rng.uniform(0, 2 * np.pi)) > 0
        return np.where(on[..., None], colour, other).astype(np.float32)
    shade = rng.uniform(10, 35) * (_directional(rng, yy, xx) - 0.5)
    return (colour + shade[..., None]).astype(np.float32)


def render_sample(rng: np.random.Generator, size: int = 256,
                  num_classes: int = len(SYNTHETIC_CLASSES)) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one image and its label map.

    Args:
        rng: the random generator (everything drawn comes from it).
        size: length of the longer image side; the other is 70-100% of it.
        num_classes: use the first ``num_classes`` classes (background included), 2..6.

    Returns:
        (image (H, W, 3) uint8 RGB, label (H, W) uint8 with 255 on boundaries)
    """
    short = int(rng.integers(int(0.7 * size), size + 1))
    h, w = (size, short) if rng.random() < 0.5 else (short, size)
    object_classes = SYNTHETIC_CLASSES[1:num_classes]
    while True:
        img = _background(rng, h, w)
        label = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(1, 5))):
            cls_index = int(rng.integers(len(object_classes)))
            cls = object_classes[cls_index]
            mask = _object_mask(rng, cls, h, w) > 0
            img = np.where(mask[..., None], _object_fill(rng, cls, h, w), img)
            label[mask] = cls_index + 1  # drawn later = in front: occlusion
        if (label > 0).mean() > 0.02:
            break
    img = img + rng.normal(0.0, 5.0, img.shape).astype(np.float32)
    band = max(1, int(round(size / 128)))
    kernel = np.ones((2 * band + 1, 2 * band + 1), np.uint8)
    boundary = cv2.dilate(label, kernel) != cv2.erode(label, kernel)
    label[boundary] = 255
    return np.clip(img, 0, 255).round().astype(np.uint8), label


def _meta(num_train: int, num_val: int, size: int, seed: int, num_classes: int) -> dict:
    return dict(format_version=_FORMAT_VERSION, num_train=num_train, num_val=num_val,
                size=size, seed=seed, num_classes=num_classes,
                classes=list(SYNTHETIC_CLASSES[:num_classes]))


def read_meta(out_dir: str) -> Optional[dict]:
    """The generation parameters of a complete synthetic dataset, else None."""
    try:
        with open(osp.join(out_dir, META_FILE), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_dataset(root: str, meta: dict) -> None:
    from PIL import Image

    for sub in ("JPEGImages", "SegmentationClass", osp.join("ImageSets", "Segmentation")):
        os.makedirs(osp.join(root, sub))
    names: Dict[str, list] = {}
    for split, count in (("train", meta["num_train"]), ("val", meta["num_val"])):
        names[split] = []
        for i in range(count):
            name = f"{split}_{i:05d}"
            rng = np.random.default_rng([meta["seed"], _SPLIT_CODES[split], i])
            img, label = render_sample(rng, meta["size"], meta["num_classes"])
            buffer = io.BytesIO()
            Image.fromarray(img).save(buffer, format="JPEG", quality=90, subsampling=0)
            with open(osp.join(root, "JPEGImages", name + ".jpg"), "wb") as f:
                f.write(buffer.getvalue())
            save_label_png(label, osp.join(root, "SegmentationClass", name + ".png"),
                           voc_palette(256))
            names[split].append(name)
    # The split files and the meta file last: a dataset without them is visibly incomplete.
    split_dir = osp.join(root, "ImageSets", "Segmentation")
    for split, lines in (("train", names["train"]), ("val", names["val"]),
                         ("trainval", names["train"] + names["val"])):
        with open(osp.join(split_dir, f"{split}.txt"), "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines)
    with open(osp.join(root, META_FILE), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)


def make_synthetic_voc(out_dir: str, num_train: int = 200, num_val: int = 50, size: int = 256,
                       seed: int = 0, num_classes: int = len(SYNTHETIC_CLASSES),
                       overwrite: bool = False) -> str:
    """Write the synthetic dataset to ``out_dir`` atomically and return its absolute path.

    The data is built in a temporary folder beside ``out_dir`` and renamed into place, so an
    interrupted run never leaves a dataset that looks complete. If ``out_dir`` already holds a
    dataset made with the same arguments, nothing is written.

    Args:
        out_dir: destination folder.
        num_train: training images.
        num_val: validation images.
        size: longer image side in pixels (>= 32).
        seed: everything is determined by it (same arguments, same bytes).
        num_classes: classes including background, 2..6.
        overwrite: replace an existing ``out_dir`` that holds something else.
    """
    if not 2 <= num_classes <= len(SYNTHETIC_CLASSES):
        raise ValueError(f"num_classes must be in [2, {len(SYNTHETIC_CLASSES)}], got {num_classes}")
    if size < 32 or num_train < 0 or num_val < 0:
        raise ValueError(f"need size >= 32 and non-negative counts, got size={size}, "
                         f"num_train={num_train}, num_val={num_val}")
    meta = _meta(int(num_train), int(num_val), int(size), int(seed), int(num_classes))
    out_dir = osp.abspath(out_dir)
    if osp.exists(out_dir):
        if read_meta(out_dir) == meta:
            return out_dir
        if not overwrite:
            raise DatasetError(f"'{out_dir}' already exists and does not hold a synthetic dataset "
                               "made with these arguments; choose another folder or pass "
                               "overwrite=True (--force) to replace it.")
    parent = osp.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{osp.basename(out_dir)}.partial-", dir=parent)
    try:
        root = osp.join(tmp, "data")
        _write_dataset(root, meta)
        if osp.exists(out_dir):
            os.rename(out_dir, osp.join(tmp, "old"))
        try:
            os.rename(root, out_dir)
        except OSError:
            if read_meta(out_dir) != meta:  # not another process finishing the same job
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


@DATASETS.register_module()
class SyntheticVOCDataset(PascalVOCDataset):
    """The dataset written by :func:`make_synthetic_voc` (VOC layout, 6 classes).

    Args: see :class:`PascalVOCDataset`.
    """

    CLASSES = SYNTHETIC_CLASSES
    PALETTE = SYNTHETIC_PALETTE
    PREPARE_HINT = ("Generate it with `python tools/misc/make_synthetic_voc.py data/synthetic_voc` "
                    "(or set data_root to where you generated it)")
