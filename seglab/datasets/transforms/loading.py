"""``LoadImageFromFile`` and ``LoadAnnotations``: read images and label maps from disk.

Decoding follows ``mmcv.imfrombytes``: the ``cv2`` backend uses ``cv2.imdecode`` (BGR); the
``pillow`` backend converts to RGB then BGR for ``color``, and returns the raw array for
``unchanged`` (so palette PNGs give their indices, 16-bit PNGs their 16-bit values).

Label maps differ from MMSegmentation 0.x in one deliberate way: 0.x casts every label map to uint8,
which silently wraps 16-bit values (256 -> 0). seglab keeps uint8 maps uint8 and 16-bit maps
uint16; values below 256 give identical results.
"""
from __future__ import annotations

import io
import os.path as osp
from typing import Dict, Mapping, Optional

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ...errors import ConfigError, DatasetError
from ...registry import TRANSFORMS
from .base import BaseTransform

_CV2_FLAGS = {
    "color": cv2.IMREAD_COLOR,
    "grayscale": cv2.IMREAD_GRAYSCALE,
    "unchanged": cv2.IMREAD_UNCHANGED,
    "color_ignore_orientation": cv2.IMREAD_IGNORE_ORIENTATION | cv2.IMREAD_COLOR,
    "grayscale_ignore_orientation": cv2.IMREAD_IGNORE_ORIENTATION | cv2.IMREAD_GRAYSCALE,
}
_BACKENDS = ("cv2", "pillow")


def _check_file_client_args(owner: str, file_client_args: Optional[Mapping]) -> None:
    backend = (file_client_args or {}).get("backend", "disk")
    if backend != "disk":
        raise ConfigError(f"{owner}(file_client_args={dict(file_client_args)!r}): only the 'disk' "
                          f"backend is supported; copy the data to a local or mounted directory "
                          f"and remove file_client_args.")


def _check_backend_args(owner: str, backend_args: Optional[Mapping]) -> None:
    """MMSeg 1.x's ``backend_args`` (mmengine file backends): only the local disk."""
    backend = (backend_args or {}).get("backend", "local")
    if backend not in ("local", "disk"):
        raise ConfigError(f"{owner}(backend_args={dict(backend_args)!r}): only local files are "
                          f"supported; copy the data to a local or mounted directory and remove "
                          f"backend_args.")


def _check_backend(owner: str, backend: str) -> None:
    if backend not in _BACKENDS:
        raise ConfigError(f"{owner}(imdecode_backend='{backend}') is not available; use one of "
                          f"{', '.join(repr(b) for b in _BACKENDS)}.")


def read_bytes(filename: str, what: str) -> bytes:
    """The content of ``filename``, or a :class:`DatasetError` that names it."""
    try:
        with open(filename, "rb") as f:
            content = f.read()
    except FileNotFoundError:
        raise DatasetError(f"{what} not found: {filename}. Check data_root / img_dir / ann_dir "
                           f"and the file suffixes in the dataset config.") from None
    except OSError as e:
        raise DatasetError(f"cannot read {what} {filename}: {e.strerror or e}.") from None
    if not content:
        raise DatasetError(f"{what} {filename} is empty (0 bytes); re-copy or remove it.")
    return content


def _pillow_decode(content: bytes, flag: str) -> np.ndarray:
    with Image.open(io.BytesIO(content)) as img:
        img.load()
        if flag == "unchanged":
            array = np.array(img)
            if array.ndim == 3 and array.shape[2] >= 3:
                array[:, :, :3] = array[:, :, 2::-1]  # RGB(A) -> BGR(A)
            return array
        if flag in ("color", "grayscale"):
            img = ImageOps.exif_transpose(img)
        if img.mode != "RGB":
            if img.mode == "LA":
                # As mmcv: composite on a fixed colour so black foregrounds stay visible.
                rgba = img.convert("RGBA")
                img = Image.new("RGB", rgba.size, (124, 117, 104))
                img.paste(rgba, mask=rgba.split()[3])
            else:
                img = img.convert("RGB")
        if flag in ("color", "color_ignore_orientation"):
            return np.ascontiguousarray(np.array(img)[:, :, ::-1])
        return np.array(img.convert("L"))


def imfrombytes(content: bytes, flag: str, backend: str, filename: str, what: str) -> np.ndarray:
    """Decode image bytes as ``mmcv.imfrombytes`` (BGR channel order); errors name ``filename``."""
    if flag not in _CV2_FLAGS:
        raise ConfigError(f"color_type '{flag}' is not one of {', '.join(_CV2_FLAGS)}.")
    try:
        if backend == "pillow":
            img = _pillow_decode(content, flag)
        else:
            img = cv2.imdecode(np.frombuffer(content, np.uint8), _CV2_FLAGS[flag])
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, cv2.error) as e:
        raise DatasetError(f"cannot decode {what} {filename} ({type(e).__name__}: {e}); the file "
                           f"is corrupt or not an image.") from None
    if img is None or img.size == 0:
        raise DatasetError(f"cannot decode {what} {filename}: the file is corrupt or not an image.")
    return img


@TRANSFORMS.register_module()
class LoadImageFromFile(BaseTransform):
    """Load ``img_prefix / img_info['filename']`` into ``results['img']`` (uint8 BGR by default).

    Sets ``filename``, ``ori_filename``, ``img``, ``img_shape``, ``ori_shape``, ``pad_shape``,
    ``scale_factor`` (1.0) and an identity ``img_norm_cfg``, as MMSegmentation 0.x.

    Args:
        to_float32: convert the image to float32 (keeps uint8 otherwise, which is cheaper).
        color_type: ``'color'``, ``'grayscale'``, ``'unchanged'``, ``'color_ignore_orientation'``
            or ``'grayscale_ignore_orientation'``.
        file_client_args: only ``dict(backend='disk')`` is supported.
        imdecode_backend: ``'cv2'`` or ``'pillow'``.
        ignore_empty: (1.x) drop the sample (return None) when the file is missing or unreadable.
        backend_args: (1.x) only ``None`` / ``dict(backend='local')`` is supported.

    Also sets 1.x's ``img_path`` (the same path as ``filename``).
    """

    def __init__(self, to_float32: bool = False, color_type: str = "color",
                 file_client_args: Optional[dict] = None, imdecode_backend: str = "cv2",
                 ignore_empty: bool = False, backend_args: Optional[dict] = None):
        _check_file_client_args(type(self).__name__, file_client_args)
        _check_backend_args(type(self).__name__, backend_args)
        self.ignore_empty = ignore_empty
        _check_backend(type(self).__name__, imdecode_backend)
        if color_type not in _CV2_FLAGS:
            raise ConfigError(f"LoadImageFromFile(color_type='{color_type}') is not one of "
                              f"{', '.join(_CV2_FLAGS)}.")
        self.to_float32 = to_float32
        self.color_type = color_type
        self.imdecode_backend = imdecode_backend

    def transform(self, results: Dict) -> Dict:
        rel = results["img_info"]["filename"]
        prefix = results.get("img_prefix")
        filename = osp.join(prefix, rel) if prefix is not None else rel
        try:
            img = imfrombytes(read_bytes(filename, "image file"), self.color_type,
                              self.imdecode_backend, filename, "image file")
        except DatasetError:
            if self.ignore_empty:
                return None
            raise
        if self.to_float32:
            img = img.astype(np.float32)
        results["filename"] = results["img_path"] = filename
        results["ori_filename"] = rel
        results["img"] = img
        results["img_shape"] = img.shape
        results["ori_shape"] = img.shape
        results["pad_shape"] = img.shape
        results["scale_factor"] = 1.0
        channels = 1 if img.ndim < 3 else img.shape[2]
        results["img_norm_cfg"] = dict(mean=np.zeros(channels, dtype=np.float32),
                                       std=np.ones(channels, dtype=np.float32), to_rgb=False)
        return results


def _as_label_array(seg: np.ndarray, filename: str) -> np.ndarray:
    """Check that a decoded label map is one channel of integer class indices."""
    if seg.ndim == 3 and seg.shape[2] == 1:
        seg = seg[:, :, 0]
    if seg.ndim != 2:
        raise DatasetError(f"label map {filename} has shape {seg.shape}: it is a colour image, not "
                           f"a map of class indices. Save labels as single-channel (grayscale or "
                           f"palette) PNGs whose pixel values are class ids.")
    if seg.dtype == np.bool_:
        return seg.astype(np.uint8)
    if seg.dtype in (np.uint8, np.uint16):
        return seg
    if np.issubdtype(seg.dtype, np.integer) and seg.size and 0 <= seg.min() and seg.max() < 65536:
        return seg.astype(np.uint16)
    raise DatasetError(f"label map {filename} has pixel type {seg.dtype} with values outside "
                       f"[0, 65535]; class-index maps must be 8- or 16-bit unsigned integers.")


@TRANSFORMS.register_module()
class LoadAnnotations(BaseTransform):
    """Load ``seg_prefix / ann_info['seg_map']`` into ``results['gt_semantic_seg']``.

    As MMSegmentation 0.30: ``results['label_map']`` (old id -> new id, set by datasets with custom
    classes) is applied first, on a copy so that chains of ids do not remap twice; then
    ``reduce_zero_label`` maps 0 -> 255 and x -> x - 1 (so 255 stays 255). A new id below 0 (0.x
    datasets used -1 for dropped classes) means ignore, 255.

    ``reduce_zero_label=None`` (the default) takes the sample's ``results['reduce_zero_label']``,
    which MMSeg 1.x datasets set from their own ``reduce_zero_label``; without it (0.x datasets)
    it is False, MMSeg 0.x's default. Given here and by the dataset, the two must agree (as 1.x
    asserts). A 1.x dataset's sample also gets 1.x's order: ``reduce_zero_label`` first, then
    ``label_map`` (1.x builds ``label_map`` over the reduced ids). Also sets 1.x's
    ``seg_map_path`` and ``reduce_zero_label``.

    Args:
        reduce_zero_label: shift labels down by one, making 0 (often "other") ignored.
        file_client_args: only ``dict(backend='disk')`` is supported.
        imdecode_backend: ``'pillow'`` (default; palette PNGs give raw indices) or ``'cv2'``.
        backend_args: (1.x) only ``None`` / ``dict(backend='local')`` is supported.
    """

    def __init__(self, reduce_zero_label: Optional[bool] = None,
                 file_client_args: Optional[dict] = None, imdecode_backend: str = "pillow",
                 backend_args: Optional[dict] = None):
        _check_file_client_args(type(self).__name__, file_client_args)
        _check_backend_args(type(self).__name__, backend_args)
        _check_backend(type(self).__name__, imdecode_backend)
        self.reduce_zero_label = reduce_zero_label
        self.imdecode_backend = imdecode_backend

    def transform(self, results: Dict) -> Dict:
        rel = results["ann_info"]["seg_map"]
        prefix = results.get("seg_prefix")
        filename = osp.join(prefix, rel) if prefix is not None else rel
        seg = imfrombytes(read_bytes(filename, "label file"), "unchanged", self.imdecode_backend,
                          filename, "label file")
        seg = _as_label_array(seg, filename)
        reduce = self.reduce_zero_label
        from_dataset = results.get("reduce_zero_label")
        if reduce is None:
            reduce = bool(from_dataset)
        elif from_dataset is not None and bool(from_dataset) != bool(reduce):
            raise ConfigError(f"LoadAnnotations(reduce_zero_label={reduce}) but the dataset has "
                              f"reduce_zero_label={from_dataset}: set it in one place (MMSeg 1.x: "
                              f"on the dataset) or make both agree.")
        if from_dataset is None:  # 0.x: label_map, then reduce_zero_label
            seg = _apply_label_map(seg, results.get("label_map"))
            seg = reduce_zero_label(seg) if reduce else seg
        else:  # a 1.x dataset's sample: 1.x's order, reduce_zero_label then label_map
            seg = reduce_zero_label(seg) if reduce else seg
            seg = _apply_label_map(seg, results.get("label_map"))
        results["seg_map_path"] = filename
        results["reduce_zero_label"] = bool(reduce)
        results["gt_semantic_seg"] = seg
        results.setdefault("seg_fields", []).append("gt_semantic_seg")
        return results


def _apply_label_map(seg: np.ndarray, label_map: Optional[Mapping]) -> np.ndarray:
    """Old id -> new id on a copy (chains of ids do not remap twice); a new id < 0 means 255."""
    if label_map is None:
        return seg
    original = seg.copy()
    for old_id, new_id in label_map.items():
        seg[original == old_id] = 255 if new_id < 0 else new_id
    return seg


def reduce_zero_label(seg: np.ndarray) -> np.ndarray:
    """0 -> 255, x -> x - 1, 255 stays 255 (MMSegmentation's order of operations, no underflow)."""
    seg = seg.copy()
    seg[seg == 0] = 255
    seg = seg - 1
    seg[seg == 254] = 255
    return seg
