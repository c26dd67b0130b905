"""Convert iSAID to MMSegmentation's layout.

Usage:
    python tools/convert_datasets/isaid.py DATASET_PATH [--tmp_dir DIR] [-o OUT_DIR]
        [--patch_width 896] [--patch_height 896] [--overlap_area 384]

As MMSegmentation's tool: ``DATASET_PATH/{train,val,test}/images/*.zip`` unpack to
``images/P0000.png`` ..., ``DATASET_PATH/{train,val}/Semantic_masks/*.zip`` to
``images/P0000_instance_color_RGB.png``. Train and val images are cut into overlapping patches
``img_dir/<split>/P0000_<y0>_<y1>_<x0>_<x1>.png`` (images smaller than a patch are padded with
0 at the bottom/right) and the colour masks into ``ann_dir/<split>/P0000_<y0>_<y1>_<x0>_<x1>
_instance_color_RGB.png`` holding 0..15 (padding 255; unknown colours 0). Test images are moved
unchanged to ``img_dir/test``. Default OUT_DIR: ``data/iSAID``.

Deviation: MMSeg passes ``--patch_width`` as the patch height and ``--patch_height`` as the width;
here each is what its name says (the same with the default square patches). MMSeg pads an image
only when one side is smaller than the patch and the other larger (or both smaller); here any image
smaller than the patch on a side is padded (MMSeg would cut off-image windows there).
"""
from __future__ import annotations

import argparse
import os.path as osp
import shutil
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _convert_common import (ConvertError, colour_to_label, extract_zip,  # noqa: E402
                             find_zips, list_files, make_dirs, progress, read_image,
                             require_dir, run_main, save_image, save_label, staged_output)

ISAID_PALETTE = ((0, 0, 0), (0, 0, 63), (0, 63, 63), (0, 63, 0), (0, 63, 127), (0, 63, 191),
                 (0, 63, 255), (0, 127, 63), (0, 127, 127), (0, 0, 127), (0, 0, 191),
                 (0, 0, 255), (0, 191, 127), (0, 127, 191), (0, 127, 255), (0, 100, 155))
LABEL_TAG = "_instance_color_RGB"


def patch_boxes(h: int, w: int, patch_h: int, patch_w: int, overlap: int):
    """``(y0, y1, x0, x1)`` windows every ``patch - overlap`` pixels, the last ones pushed back
    inside the (padded) image; in MMSeg's order (columns outer), duplicates dropped."""
    if min(patch_h, patch_w) - overlap <= 0 or overlap < 0:
        raise ConvertError(f"--overlap_area ({overlap}) must be in [0, patch size) (patch "
                           f"{patch_w}x{patch_h})")
    boxes = []
    for x in range(0, w, patch_w - overlap):
        for y in range(0, h, patch_h - overlap):
            x1, y1 = min(x + patch_w, w), min(y + patch_h, h)
            box = (y1 - patch_h, y1, x1 - patch_w, x1)
            if box not in boxes:
                boxes.append(box)
    return boxes


def pad_to(array: np.ndarray, patch_h: int, patch_w: int, value: int) -> np.ndarray:
    h, w = array.shape[:2]
    if h >= patch_h and w >= patch_w:
        return array
    padded = np.full((max(h, patch_h), max(w, patch_w)) + array.shape[2:], value, array.dtype)
    padded[:h, :w] = array
    return padded


def slide_crop(src: str, dst_dir: str, patch_h: int, patch_w: int, overlap: int,
               to_label: bool) -> int:
    array = read_image(src)
    if to_label:
        array = colour_to_label(array, ISAID_PALETTE)
    array = pad_to(array, patch_h, patch_w, 255 if to_label else 0)
    name = osp.basename(src).split(".")[0]
    if to_label:
        name = name.split("_")[0]
    boxes = patch_boxes(array.shape[0], array.shape[1], patch_h, patch_w, overlap)
    for y0, y1, x0, x1 in boxes:
        out = osp.join(dst_dir, f"{name}_{y0}_{y1}_{x0}_{x1}" + (LABEL_TAG if to_label else "")
                       + ".png")
        (save_label if to_label else save_image)(array[y0:y1, x0:x1], out)
    return len(boxes)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Convert iSAID dataset to mmsegmentation format")
    parser.add_argument("dataset_path", help="iSAID folder path")
    parser.add_argument("--tmp_dir", help="path of the temporary directory")
    parser.add_argument("-o", "--out_dir", help="output path")
    parser.add_argument("--patch_width", default=896, type=int,
                        help="Width of the cropped image patch")
    parser.add_argument("--patch_height", default=896, type=int,
                        help="Height of the cropped image patch")
    parser.add_argument("--overlap_area", default=384, type=int, help="Overlap area")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out_dir = args.out_dir or osp.join("data", "iSAID")
    patch_h, patch_w, overlap = args.patch_height, args.patch_width, args.overlap_area
    for mode in ("train", "val", "test"):
        require_dir(osp.join(args.dataset_path, mode),
                    f"the iSAID folder that holds train/, val/ and test/ ({mode} is missing)")
    with staged_output(out_dir, args.tmp_dir) as (stage, scratch):
        make_dirs(stage, *(f"{d}/{m}" for d in ("img_dir", "ann_dir")
                           for m in ("train", "val", "test")))
        for mode in ("train", "val", "test"):
            for zip_path in find_zips(osp.join(args.dataset_path, mode, "images"),
                                      f"iSAID {mode}/images"):
                extract_zip(zip_path, osp.join(scratch, mode, "img"))
            images = list_files(osp.join(scratch, mode, "img", "images"), "*.png")
            if not images:
                raise ConvertError(f"the zips in '{osp.join(args.dataset_path, mode, 'images')}'"
                                   " hold no images/*.png")
            for src in progress(images, f"{mode} images"):
                if mode == "test":
                    shutil.move(src, osp.join(stage, "img_dir", "test", osp.basename(src)))
                else:
                    slide_crop(src, osp.join(stage, "img_dir", mode), patch_h, patch_w,
                               overlap, to_label=False)
            if mode == "test":
                continue
            for zip_path in find_zips(osp.join(args.dataset_path, mode, "Semantic_masks"),
                                      f"iSAID {mode}/Semantic_masks"):
                extract_zip(zip_path, osp.join(scratch, mode, "lab"))
            labels = list_files(osp.join(scratch, mode, "lab", "images"), "*.png")
            for src in progress(labels, f"{mode} masks"):
                slide_crop(src, osp.join(stage, "ann_dir", mode), patch_h, patch_w, overlap,
                           to_label=True)
    print(f"Done: iSAID in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
