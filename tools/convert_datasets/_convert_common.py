"""Helpers shared by the dataset converters in this folder (archives, staged output, images).

Every converter builds its output in a hidden staging folder beside ``out_dir`` and moves the
files into place only when the whole conversion succeeded (:func:`staged_output`), so an error
(a bad archive, a missing file) leaves no half-converted dataset behind. Bad input raises
:class:`ConvertError` with a message that names the file and says what was expected;
:func:`run_main` turns it into ``error: ...`` on stderr and exit status 2.
"""
from __future__ import annotations

import contextlib
import glob
import gzip
import os
import os.path as osp
import shutil
import sys
import tarfile
import tempfile
import zipfile
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

# ISPRS Potsdam / Vaihingen label colours (RGB) -> label 0..6 (0: boundary / unknown colour).
ISPRS_COLOUR_MAP = ((0, 0, 0), (255, 255, 255), (0, 0, 255), (0, 255, 255), (0, 255, 0),
                    (255, 255, 0), (255, 0, 0))

# The retinal vessel sets (DRIVE, HRF, STARE, CHASE_DB1) share this output layout.
RETINAL_DIRS = ("images/training", "images/validation", "annotations/training",
                "annotations/validation")

# COCO-Stuff: the 0-based ids (as in the 164k stuffthingmaps) of the 11 COCO thing classes that
# were never annotated; the 171 others, in order, are the train ids 0..170.
COCO_STUFF_UNUSED_IDS = (11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90)
COCO_STUFF_NUM_IDS = 182


class ConvertError(Exception):
    """Bad input to a converter (the message says which file and what to do)."""


def run_main(main: Callable[[Optional[Sequence[str]]], int], argv=None) -> int:
    """Call ``main(argv)``; a :class:`ConvertError` becomes ``error: ...`` and status 2."""
    try:
        return main(argv)
    except ConvertError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def require_file(path: str, what: str) -> str:
    if not osp.isfile(path):
        raise ConvertError(f"'{path}' does not exist; give the path of {what}.")
    return path


def require_dir(path: str, what: str) -> str:
    if not osp.isdir(path):
        raise ConvertError(f"'{path}' is not a folder; give {what}.")
    return path


def extract_zip(path: str, dst: str) -> str:
    """Extract the zip archive ``path`` into ``dst`` (clear error when it is not a zip)."""
    require_file(path, "the zip archive")
    try:
        with zipfile.ZipFile(path) as archive:
            archive.extractall(dst)
    except zipfile.BadZipFile as e:
        raise ConvertError(f"'{path}' is not a readable zip archive ({e}); download it again.")
    return dst


def extract_tar(path: str, dst: str) -> str:
    """Extract the tar archive ``path`` into ``dst`` (members may not leave ``dst``)."""
    require_file(path, "the tar archive")
    try:
        with tarfile.open(path) as archive:
            root = osp.realpath(dst)
            for member in archive.getmembers():
                target = osp.realpath(osp.join(dst, member.name))
                if not (target == root or target.startswith(root + os.sep)):
                    raise ConvertError(f"'{path}' holds '{member.name}' outside the archive "
                                       "folder; refusing to extract it.")
            archive.extractall(dst)
    except tarfile.TarError as e:
        raise ConvertError(f"'{path}' is not a readable tar archive ({e}); download it again.")
    return dst


def gunzip(src: str, dst: str) -> str:
    try:
        with gzip.open(src) as f_in, open(dst, "wb") as f_out:
            shutil.copyfileobj(f_in, f_out)
    except OSError as e:
        raise ConvertError(f"'{src}' is not a readable .gz file ({e}).")
    return dst


def list_files(folder: str, pattern: str = "*") -> List[str]:
    """Sorted paths of the plain files matching ``pattern`` directly in ``folder``."""
    return sorted(p for p in glob.glob(osp.join(folder, pattern)) if osp.isfile(p))


def expect_count(files: Sequence[str], expected: int, where: str) -> None:
    if len(files) != expected:
        raise ConvertError(f"{where} holds {len(files)} files, expected {expected}; the split "
                           "(first files train, the rest validation) needs the complete archive.")


def split_retinal(files: Sequence[str], n_train: int, stage: str, convert: Callable,
                  kind, label: str) -> None:
    """The first ``n_train`` (sorted) files go to ``<kind>/training``, the rest to
    ``<kind>/validation``, each through ``convert(src, dst)`` as ``<stem>.png``; ``kind`` is
    'images', 'annotations' or a function of the source path giving one of them."""
    for i, src in enumerate(progress(files, label)):
        split = "training" if i < n_train else "validation"
        folder = kind(src) if callable(kind) else kind
        convert(src, osp.join(stage, folder, split, stem(src) + ".png"))


def stem(path: str) -> str:
    return osp.splitext(osp.basename(path))[0]


@contextlib.contextmanager
def staged_output(out_dir: str, tmp_dir: Optional[str] = None) -> Iterator[Tuple[str, str]]:
    """Yield ``(stage, scratch)``: write the outputs under ``stage`` (relative paths as under
    ``out_dir``), unpack archives into ``scratch``. On success the staged files move into
    ``out_dir`` (existing files of the same name are replaced); on an error nothing is moved
    and both folders are removed."""
    parent = osp.dirname(osp.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    stage = tempfile.mkdtemp(prefix="." + osp.basename(osp.abspath(out_dir)) + ".partial-",
                             dir=parent)
    scratch = tempfile.mkdtemp(dir=tmp_dir)
    try:
        yield stage, scratch
        for root, _, files in os.walk(stage):
            dest_root = osp.join(out_dir, osp.relpath(root, stage))
            os.makedirs(dest_root, exist_ok=True)
            for name in files:
                os.replace(osp.join(root, name), osp.join(dest_root, name))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


def make_dirs(root: str, *subdirs: str) -> None:
    for sub in subdirs:
        os.makedirs(osp.join(root, sub), exist_ok=True)


def read_image(path: str, mode: Optional[str] = "RGB") -> np.ndarray:
    """Read an image file as an array (``mode`` 'RGB', 'L', or None for the raw values of a
    grey or palette image), clear error when unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im if mode is None else im.convert(mode))
    except (UnidentifiedImageError, OSError) as e:
        raise ConvertError(f"'{path}' is not a readable image ({e}).")


def save_image(array: np.ndarray, path: str) -> None:
    """Save an RGB (or grey) uint8 image as PNG (the suffix of ``path`` picks the format)."""
    from PIL import Image

    os.makedirs(osp.dirname(path) or ".", exist_ok=True)
    Image.fromarray(np.ascontiguousarray(array).astype(np.uint8)).save(path)


def save_label(label: np.ndarray, path: str) -> None:
    """Save an (H, W) class-index map as a grey-level PNG."""
    from PIL import Image

    label = np.asarray(label)
    if label.ndim != 2:
        raise ConvertError(f"a label map for '{path}' must be (H, W), got {label.shape}")
    os.makedirs(osp.dirname(path) or ".", exist_ok=True)
    Image.fromarray(label.astype(np.uint8)).save(path, format="PNG")


def convert_image(src: str, dst: str) -> None:
    """Any readable image -> RGB PNG (MMSeg reads and re-writes them with mmcv)."""
    save_image(read_image(src), dst)


def binarize_vessel_mask(src: str, dst: str) -> None:
    """A 0/255 (possibly not clean) vessel mask -> 0/1 labels: ``value // 128`` as in MMSeg
    (its blue channel; the masks are grey)."""
    rgb = read_image(src)
    save_label(rgb[..., 2] // 128, dst)


def colour_to_label(rgb: np.ndarray, colours: Sequence[Sequence[int]]) -> np.ndarray:
    """(H, W, 3) RGB -> (H, W) uint8 with colour i -> i; colours not listed -> 0."""
    keys = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    out = np.zeros(rgb.shape[:2], np.uint8)
    for index, (r, g, b) in enumerate(colours):
        out[keys == ((r << 16) | (g << 8) | b)] = index
    return out


def clip_boxes(h: int, w: int, clip_size: int, stride_size: int) -> List[Tuple[int, int, int,
                                                                               int]]:
    """MMSeg's ISPRS tiling (potsdam.py / vaihingen.py ``clip_big_image``): ``(x0, y0, x1, y1)``
    boxes of side ``clip_size``; the count per axis follows ``stride_size`` while the boxes
    start every ``clip_size`` pixels, the last ones pushed back inside the image. Duplicates
    (which MMSeg writes twice under one name) are dropped; the order is row-major."""
    if clip_size <= 0 or stride_size <= 0:
        raise ConvertError(f"--clip_size ({clip_size}) and --stride_size ({stride_size}) must "
                           "be positive")

    def count(size: int) -> int:
        n = int(np.ceil((size - clip_size) / stride_size))
        return n if n * stride_size + clip_size >= size else n + 1

    boxes = []
    for row in range(count(h) + 1):
        for col in range(count(w) + 1):
            x0, y0 = col * clip_size, row * clip_size
            x0 = x0 + (w - x0 - clip_size if x0 + clip_size > w else 0)
            y0 = y0 + (h - y0 - clip_size if y0 + clip_size > h else 0)
            box = (x0, y0, min(x0 + clip_size, w), min(y0 + clip_size, h))
            if box not in boxes:
                boxes.append(box)
    return boxes


def clip_big_image(src: str, dst_dir: str, prefix: str, clip_size: int, stride_size: int,
                   to_label: bool) -> int:
    """Cut one ISPRS tile into ``dst_dir/<prefix>_<x0>_<y0>_<x1>_<y1>.png`` clips
    (:func:`clip_boxes`); labels go through :data:`ISPRS_COLOUR_MAP` first. Returns the count."""
    image = read_image(src)
    h, w = image.shape[:2]
    if to_label:
        image = colour_to_label(image, ISPRS_COLOUR_MAP)
    boxes = clip_boxes(h, w, clip_size, stride_size)
    for x0, y0, x1, y1 in boxes:
        tile = image[max(y0, 0):y1, max(x0, 0):x1]
        path = osp.join(dst_dir, f"{prefix}_{x0}_{y0}_{x1}_{y1}.png")
        (save_label if to_label else save_image)(tile, path)
    return len(boxes)


def convert_isprs(args, what: str, default_out: str, zip_tifs: Callable[[str, str], List[str]],
                  tile_index: Callable[[str], str], train: Sequence[str],
                  is_label: Callable[[str], bool]) -> int:
    """The Potsdam / Vaihingen conversion: every ``args.dataset_path/*.zip`` is unpacked,
    ``zip_tifs(zip_path, folder)`` picks its tiles, and each tile is clipped into
    ``{img,ann}_dir/{train,val}`` (train when ``tile_index(path)`` is in ``train``)."""
    out_dir = args.out_dir or default_out
    zips = find_zips(args.dataset_path, what)
    print("Find the data", zips)
    n = 0
    with staged_output(out_dir, args.tmp_dir) as (stage, scratch):
        make_dirs(stage, "img_dir/train", "img_dir/val", "ann_dir/train", "ann_dir/val")
        for k, zip_path in enumerate(zips):
            tifs = zip_tifs(zip_path, extract_zip(zip_path, osp.join(scratch, str(k))))
            for src in progress(tifs, osp.basename(zip_path)):
                index = tile_index(src)
                label = is_label(osp.basename(src))
                dst = osp.join(stage, "ann_dir" if label else "img_dir",
                               "train" if index in train else "val")
                n += clip_big_image(src, dst, index, args.clip_size, args.stride_size, label)
    print(f"Done: {n} clips in {out_dir}")
    return 0


def add_clip_args(parser, clip_size: int = 512, stride_size: int = 256) -> None:
    parser.add_argument("--tmp_dir", help="path of the temporary directory")
    parser.add_argument("-o", "--out_dir", help="output path")
    parser.add_argument("--clip_size", type=int, default=clip_size,
                        help="clipped size of image after preparation")
    parser.add_argument("--stride_size", type=int, default=stride_size,
                        help="stride of clipping original images")


def find_zips(folder: str, what: str) -> List[str]:
    require_dir(folder, f"the {what} folder that holds the downloaded zips")
    zips = list_files(folder, "*.zip")
    if not zips:
        raise ConvertError(f"no .zip files in '{folder}'; put the {what} zips there.")
    return zips


def coco_stuff_lut(offset: int) -> np.ndarray:
    """A 256-entry table from COCO-Stuff ids to train ids, -1 for ids that are not COCO-Stuff
    classes. ``offset=0`` (164k PNGs): 0..181 -> 0..170, 255 -> 255. ``offset=1`` (10k .mat
    files, 1-based with 0 unlabeled): 0 -> 0, 1..182 -> 1..171 (MMSeg's ``clsID_to_trID``)."""
    lut = np.full(256, -1, np.int64)
    used = [i for i in range(COCO_STUFF_NUM_IDS) if i not in COCO_STUFF_UNUSED_IDS]
    lut[np.asarray(used) + offset] = np.arange(len(used)) + offset
    lut[0 if offset else 255] = 0 if offset else 255
    return lut


def map_ids(ids: np.ndarray, lut: np.ndarray, src: str) -> np.ndarray:
    """``lut[ids]``; ids the table does not know are an error naming the file."""
    if ids.ndim != 2:
        raise ConvertError(f"'{src}' holds a {ids.shape} array, expected an (H, W) id map")
    ids = ids.astype(np.int64)
    bad = np.unique(ids[(ids < 0) | (ids > 255)])
    if bad.size == 0:
        bad = np.unique(ids[lut[ids] < 0])
    if bad.size:
        raise ConvertError(f"'{src}' holds ids {bad[:10].tolist()} that are no class of this "
                           "dataset; is it the right annotation file?")
    return lut[ids].astype(np.uint8)


def run_jobs(convert: Callable, jobs: Sequence, nproc: int, label: str) -> None:
    """``convert(job)`` for every job, in ``nproc`` worker processes when ``nproc > 1``."""
    if nproc > 1 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(nproc) as pool:
            for _ in progress(list(pool.map(convert, jobs, chunksize=32)), label):
                pass
    else:
        for job in progress(jobs, label):
            convert(job)


def coco_stuff_args(description: str, argv=None):
    """MMSeg's arguments of both COCO-Stuff converters."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("coco_path", help="coco stuff path")
    parser.add_argument("-o", "--out_dir", help="output path")
    parser.add_argument("--nproc", default=16, type=int, help="number of process")
    return parser.parse_args(argv)


def progress(items: Sequence, label: str) -> Iterator:
    """Iterate ``items`` printing ``label: i/n`` about 5 times (plain text, log friendly)."""
    n = len(items)
    step = max(1, n // 5)
    for i, item in enumerate(items, 1):
        yield item
        if i % step == 0 or i == n:
            print(f"{label}: {i}/{n}", flush=True)
