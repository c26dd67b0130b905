"""Paint a segmentation over its image, as MMSeg 0.x ``BaseSegmentor.show_result`` does."""
from __future__ import annotations

import os
from typing import Optional, Sequence, Union

import numpy as np

from seglab.errors import DatasetError
from seglab.utils import atomic_open
from seglab.visualization.display import imshow, require_display
from seglab.visualization.palettes import resolve_palette

PaletteLike = Optional[Union[str, Sequence[Sequence[int]], np.ndarray]]


def colorize(seg: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Class ids (H, W) -> RGB uint8 (H, W, 3); ids outside the palette (e.g. 255) stay black."""
    palette = np.asarray(palette, dtype=np.uint8)
    seg = np.asarray(seg)
    known = (seg >= 0) & (seg < len(palette))
    color_seg = np.zeros(seg.shape + (3,), dtype=np.uint8)
    color_seg[known] = palette[seg[known].astype(np.int64)]
    return color_seg


def _load_image(img: Union[str, os.PathLike, np.ndarray]) -> np.ndarray:
    """A BGR uint8 (H, W, 3) copy of ``img`` (a file is read in colour, as ``mmcv.imread``)."""
    if isinstance(img, (str, os.PathLike)):
        import cv2

        path = os.fspath(img)
        if not os.path.isfile(path):
            raise DatasetError(f"Image file {path!r} does not exist.")
        array = cv2.imread(path, cv2.IMREAD_COLOR)
        if array is None:
            raise DatasetError(f"Image file {path!r} cannot be decoded; it may be corrupt or in "
                               "a format OpenCV does not read.")
        return array
    array = np.asarray(img)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, :3]  # drop alpha
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"img must be a BGR image (H, W, 3) or a file path, got shape "
                         f"{array.shape}.")
    return array.copy()


def _as_seg(seg) -> np.ndarray:
    if isinstance(seg, (list, tuple)):  # 0.x passes the test loop's `result` (a list of maps)
        seg = seg[0]
    if hasattr(seg, "detach"):
        seg = seg.detach().cpu().numpy()
    seg = np.asarray(seg)
    if seg.ndim == 3 and seg.shape[0] == 1:
        seg = seg[0]
    if seg.ndim != 2:
        raise ValueError(f"seg must be a label map (H, W), got shape {seg.shape}.")
    return seg


def write_image(img: np.ndarray, out_file: Union[str, os.PathLike]) -> None:
    """Encode by the file extension and write atomically, creating parent directories."""
    import cv2

    path = os.fspath(out_file)
    ext = os.path.splitext(path)[1]
    if not ext:
        raise ValueError(f"out_file {path!r} has no extension; use e.g. '.png' or '.jpg'.")
    ok, buffer = cv2.imencode(ext, img)
    if not ok:
        raise ValueError(f"OpenCV cannot encode images as {ext!r} (out_file {path!r}); use "
                         "'.png' or '.jpg'.")
    with atomic_open(path, "wb") as f:
        f.write(buffer.tobytes())


def show_result(img: Union[str, os.PathLike, np.ndarray], seg, palette: PaletteLike = None,
                opacity: float = 0.5, out_file: Optional[Union[str, os.PathLike]] = None,
                show: bool = False, win_name: str = "", wait_time: int = 0) -> np.ndarray:
    """Blend the coloured segmentation into the image: ``img * (1 - opacity) + color * opacity``.

    Args:
        img: BGR image (H, W, 3) uint8 or an image file path.
        seg: Class ids (H, W) (ndarray, tensor, or the one-element list the test loop yields).
        palette: RGB colours per class, a dataset name ('voc', 'cityscapes', 'ade20k'), or None
            for MMSeg's seeded random palette over ids 0..max (255 is treated as ignored).
        opacity: Weight of the colours, in (0, 1].
        out_file: Write the result there (atomically, parent directories created). As in 0.x,
            an ``out_file`` turns ``show`` off.
        show: Open a window (needs a display and an OpenCV with GUI; otherwise a
            :class:`~seglab.visualization.DisplayUnavailableError` says to use --show-dir).
        win_name: Window title.
        wait_time: Milliseconds to wait in the window (0: until a key is pressed).

    Returns:
        The blended BGR uint8 image (H, W, 3) (0.x returned it only when not showing/writing).
    """
    if not 0 < opacity <= 1:
        raise ValueError(f"opacity must be in (0, 1], got {opacity}.")
    if out_file is not None:
        show = False
    if show:
        require_display()  # fail before any work
    image = _load_image(img)
    seg = _as_seg(seg)
    if seg.shape != image.shape[:2]:
        raise ValueError(f"seg has shape {seg.shape} but the image is {image.shape[:2]}; resize "
                         "the prediction to the image size (rescale=True) first.")
    num_classes = None
    if palette is None:
        valid = seg[(seg >= 0) & (seg != 255)]
        num_classes = int(valid.max()) + 1 if valid.size else 1
    colors = resolve_palette(palette, num_classes)
    color_seg = colorize(seg, colors)[..., ::-1]  # RGB palette -> BGR like the image
    # float64 blend then truncation to uint8, exactly as 0.x (no rounding).
    blended = (image * (1 - opacity) + color_seg * opacity).astype(np.uint8)
    if show:
        imshow(blended, win_name, wait_time)
    if out_file is not None:
        write_image(blended, out_file)
    return blended
