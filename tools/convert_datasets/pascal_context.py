"""Make the Pascal Context label PNGs and splits from the PASCAL in Detail json.

Usage:
    python tools/convert_datasets/pascal_context.py DEVKIT_PATH JSON_PATH [-o OUT_DIR]

As MMSegmentation's tool (``trainval_merged.json`` from the PASCAL in Detail release): each
``images`` entry of phase ``train`` / ``val`` gets ``OUT_DIR/<file_name>.png`` (default
``DEVKIT_PATH/VOC2010/SegmentationClassContext``), and the sorted names go to
``DEVKIT_PATH/VOC2010/ImageSets/SegmentationContext/{train,val}.txt``. The class map paints each
of the image's ``annos_segmentation`` (in file order) with its ``category_id``, as the
``detail`` API's ``getMask`` does; then the 60 ids in :data:`_mapping` (0 = background and the
59 Pascal Context classes) become 0..59 by rank. An id outside them is an error, as in MMSeg.

Differences: MMSeg calls the ``detail`` package; this tool reads the json itself (the
segmentations are COCO run-length encodings, compressed strings or count lists), so neither
``detail`` nor ``pycocotools`` is needed.
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import sys
from collections import defaultdict
from typing import Dict, List

import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _convert_common import (ConvertError, progress, require_file, run_main,  # noqa: E402
                             save_label, staged_output)

_mapping = np.sort(np.array([
    0, 2, 259, 260, 415, 324, 9, 258, 144, 18, 19, 22, 23, 397, 25, 284, 158, 159, 416, 33, 162,
    420, 454, 295, 296, 427, 44, 45, 46, 308, 59, 440, 445, 31, 232, 65, 354, 424, 68, 326, 72,
    458, 34, 207, 80, 355, 85, 347, 220, 349, 360, 98, 187, 104, 105, 366, 189, 368, 113, 115]))
_key = np.arange(len(_mapping)).astype(np.uint8)


def rle_counts(counts) -> List[int]:
    """The run lengths of a COCO RLE: a list already, or COCO's compressed string."""
    if isinstance(counts, list):
        return [int(c) for c in counts]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    runs: List[int] = []
    pos = 0
    while pos < len(counts):
        value, shift, more = 0, 0, True
        while more:
            c = ord(counts[pos]) - 48
            value |= (c & 0x1F) << (5 * shift)
            more = bool(c & 0x20)
            pos += 1
            shift += 1
            if not more and (c & 0x10):
                value |= -1 << (5 * shift)
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def decode_rle(rle: dict) -> np.ndarray:
    """COCO RLE ``{'size': [h, w], 'counts': ...}`` -> (h, w) uint8 0/1 (column-major runs)."""
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ConvertError(f"a segmentation must be a COCO RLE dict with 'size' and 'counts', "
                           f"got {type(rle).__name__} {str(rle)[:60]}")
    h, w = (int(v) for v in rle["size"])
    runs = np.asarray(rle_counts(rle["counts"]), np.int64)
    if runs.sum() != h * w or (runs < 0).any():
        raise ConvertError(f"an RLE of size {h}x{w} has runs summing to {int(runs.sum())}; the "
                           "json is damaged")
    values = np.arange(len(runs)) % 2
    return np.repeat(values.astype(np.uint8), runs).reshape(w, h).T


def class_mask(image: dict, anns: List[dict]) -> np.ndarray:
    mask = np.zeros((int(image["height"]), int(image["width"])), np.int64)
    for ann in anns:
        m = decode_rle(ann["segmentation"])
        if m.shape != mask.shape:
            raise ConvertError(f"a segmentation of '{image['file_name']}' is {m.shape[0]}x"
                               f"{m.shape[1]}, the image {mask.shape[0]}x{mask.shape[1]}")
        mask[m != 0] = int(ann["category_id"])
    return mask


def class_to_index(mask: np.ndarray, name: str) -> np.ndarray:
    unknown = np.setdiff1d(np.unique(mask), _mapping)
    if unknown.size:
        raise ConvertError(f"'{name}' holds category ids {unknown[:10].tolist()} that are not "
                           "among the 60 Pascal Context ids")
    return _key[np.digitize(mask.ravel(), _mapping, right=True)].reshape(mask.shape)


def load_detail(json_path: str) -> dict:
    require_file(json_path, "the PASCAL in Detail annotation json (trainval_merged.json)")
    try:
        with open(json_path, encoding="utf-8") as f:
            data = json.load(f)
    except ValueError as e:
        raise ConvertError(f"'{json_path}' is not valid json ({e})")
    missing = [k for k in ("images", "annos_segmentation") if not isinstance(data, dict)
               or k not in data]
    if missing:
        raise ConvertError(f"'{json_path}' lacks {missing}; give the PASCAL in Detail json "
                           "(trainval_merged.json)")
    return data


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Convert PASCAL VOC annotations to mmsegmentation format")
    parser.add_argument("devkit_path", help="pascal voc devkit path")
    parser.add_argument("json_path", help="annoation json filepath")
    parser.add_argument("-o", "--out_dir", help="output path")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    voc = osp.join(args.devkit_path, "VOC2010")
    out_dir = args.out_dir or osp.join(voc, "SegmentationClassContext")
    data = load_detail(args.json_path)
    anns: Dict[int, List[dict]] = defaultdict(list)
    for ann in data["annos_segmentation"]:
        anns[ann["image_id"]].append(ann)
    split_dir = osp.join(voc, "ImageSets", "SegmentationContext")
    lists = {}
    with staged_output(out_dir) as (stage, _), staged_output(split_dir) as (split_stage, _):
        for phase in ("train", "val"):
            images = [img for img in data["images"] if img.get("phase") == phase]
            names = []
            for img in progress(images, phase):
                filename = img["file_name"]
                labels = class_to_index(class_mask(img, anns[img["image_id"]]), filename)
                save_label(labels, osp.join(stage, filename.replace("jpg", "png")))
                names.append(osp.splitext(osp.basename(filename))[0])
            lists[phase] = sorted(names)
            with open(osp.join(split_stage, f"{phase}.txt"), "w", encoding="utf-8") as f:
                f.writelines(name + "\n" for name in lists[phase])
    print(f"Done: {len(lists['train'])} train and {len(lists['val'])} val label maps in "
          f"{out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
