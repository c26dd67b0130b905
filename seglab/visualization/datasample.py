"""MMSegmentation 1.x's painted results (``SegLocalVisualizer.add_datasample``).

1.x paints the ground truth and the prediction each over the image (RGB), blended with the
visualizer's ``alpha`` (0.8 by default), each class named in a filled box at a point of its
region, and puts the two side by side (ground truth left)::

    >>> rgb = draw_datasample(image_rgb, pred, classes, palette, gt=label)   # (H, 2W, 3)

Pixels of ids outside ``classes`` (e.g. 255) are blended with black, as in 1.x (and 0.x).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .overlay import colorize


def _label_anchor(region: np.ndarray) -> tuple:
    """Where 1.x puts a class name: in the row holding most of the class's pixels (the first such
    row), the middle one of that row's pixels; ``(x, y)``."""
    ys, xs = np.nonzero(region)  # row-major order
    rows, counts = np.unique(ys, return_counts=True)
    row = rows[counts.argmax()]
    in_row = xs[ys == row]
    return int(in_row[len(in_row) // 2]), int(row)


def draw_class_names(mask: np.ndarray, seg: np.ndarray, classes: Sequence[str],
                     palette: np.ndarray) -> np.ndarray:
    """Write each class present in ``seg`` (ids < len(classes), highest id first, as 1.x) into
    ``mask`` (RGB, modified): white text in a box of the class colour with a black border."""
    import cv2

    height, width = seg.shape
    scale = min(height, width) / 500  # 1.x: text 5% of the shorter side per 25 px
    thickness = 1 if height < 300 or width < 300 else 2
    ids = [int(i) for i in np.unique(seg)[::-1] if i < len(classes)]
    for label in ids:
        x, y = _label_anchor(seg == label)
        text = str(classes[label])
        (text_w, text_h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale,
                                                      thickness)
        corner = (x + text_w + baseline, y + text_h + baseline)
        color = tuple(int(c) for c in palette[label])
        cv2.rectangle(mask, (x, y), corner, color, -1)
        cv2.rectangle(mask, (x, y), corner, (0, 0, 0), thickness)
        cv2.putText(mask, text, (x, y + text_h), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), thickness, 2)
    return mask


def draw_sem_seg(image: np.ndarray, seg: np.ndarray, classes: Sequence[str], palette,
                 alpha: float = 0.8, with_labels: bool = True) -> np.ndarray:
    """One label map over an RGB image: ``image * (1 - alpha) + colours * alpha`` (uint8,
    truncated as 1.x), the class names written into the colours first."""
    palette = np.asarray(palette, dtype=np.uint8)[:len(classes)]
    seg = np.asarray(seg)
    if seg.shape != image.shape[:2]:
        raise ValueError(f"The label map has shape {seg.shape} but the image is "
                         f"{image.shape[:2]}; paint maps at the image size.")
    mask = np.ascontiguousarray(colorize(seg, palette))
    if with_labels:
        draw_class_names(mask, seg, classes, palette)
    return (image * (1 - alpha) + mask * alpha).astype(np.uint8)


def draw_datasample(image: np.ndarray, pred: np.ndarray, classes: Sequence[str], palette,
                    gt: Optional[np.ndarray] = None, alpha: float = 0.8,
                    with_labels: bool = True) -> np.ndarray:
    """1.x's test image: the ground truth (when given) beside the prediction, both painted by
    :func:`draw_sem_seg` on the RGB ``image``; returns RGB uint8 (H, W or 2W, 3)."""
    painted = [draw_sem_seg(image, seg, classes, palette, alpha, with_labels)
               for seg in ((gt, pred) if gt is not None else (pred,))]
    return np.concatenate(painted, axis=1)
