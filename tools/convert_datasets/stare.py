"""Convert STARE (retinal vessels) to MMSegmentation's layout.

Usage:
    python tools/convert_datasets/stare.py IMAGE_PATH LABELS_AH LABELS_VK [--tmp_dir DIR]
        [-o OUT_DIR]

As MMSegmentation's tool: ``stare-images.tar``, ``labels-ah.tar`` and ``labels-vk.tar`` each hold
20 gzipped images (``im0001.ppm.gz``, ``im0001.ah.ppm.gz``, ``im0001.vk.ppm.gz``, ...); the first
10 (sorted) go to ``training``, the rest to ``validation``. The output (default ``data/STARE``)
is ``images/{training,validation}/im0001.png`` and ``annotations/.../im0001.ah.png`` and
``im0001.vk.png`` with vessel 1 and background 0 (``value // 128``).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _convert_common import (RETINAL_DIRS, binarize_vessel_mask, convert_image,  # noqa: E402
                             expect_count, extract_tar, gunzip, list_files, make_dirs,
                             run_main, split_retinal, staged_output, stem)

STARE_LEN = 20
TRAINING_LEN = 10


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Convert STARE dataset to mmsegmentation format")
    parser.add_argument("image_path", help="the path of stare-images.tar")
    parser.add_argument("labels_ah", help="the path of labels-ah.tar")
    parser.add_argument("labels_vk", help="the path of labels-vk.tar")
    parser.add_argument("--tmp_dir", help="path of the temporary directory")
    parser.add_argument("-o", "--out_dir", help="output path")
    return parser.parse_args(argv)


def unpack(tar_path: str, scratch: str):
    """The tar's ``*.gz`` members, gunzipped, sorted."""
    gz_dir = extract_tar(tar_path, osp.join(scratch, "gz"))
    files_dir = osp.join(scratch, "files")
    os.makedirs(files_dir)
    for src in list_files(gz_dir):
        gunzip(src, osp.join(files_dir, stem(src)))
    files = list_files(files_dir)
    expect_count(files, STARE_LEN, f"'{tar_path}'")
    return files


def main(argv=None) -> int:
    args = parse_args(argv)
    out_dir = args.out_dir or osp.join("data", "STARE")
    with staged_output(out_dir, args.tmp_dir) as (stage, scratch):
        make_dirs(stage, *RETINAL_DIRS)
        for i, (path, kind, convert) in enumerate((
                (args.image_path, "images", convert_image),
                (args.labels_ah, "annotations", binarize_vessel_mask),
                (args.labels_vk, "annotations", binarize_vessel_mask))):
            print(f"Extracting {osp.basename(path)}...")
            files = unpack(path, osp.join(scratch, str(i)))
            split_retinal(files, TRAINING_LEN, stage, convert, kind, osp.basename(path))
    print(f"Done: STARE in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
