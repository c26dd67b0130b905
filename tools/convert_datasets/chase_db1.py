"""Convert CHASE_DB1 (retinal vessels) to MMSegmentation's layout.

Usage:
    python tools/convert_datasets/chase_db1.py DATASET_PATH [--tmp_dir DIR] [-o OUT_DIR]

As MMSegmentation's tool: ``CHASEDB1.zip`` holds 28 images ``Image_01L.jpg`` ... and their two
observers' masks ``Image_01L_1stHO.png`` / ``Image_01L_2ndHO.png`` (84 files) at its top level;
the first 60 sorted files (20 images) go to ``training``, the rest to ``validation``. The output
(default ``data/CHASE_DB1``) is ``images/{training,validation}/Image_01L.png`` and
``annotations/.../Image_01L_1stHO.png`` (and ``_2ndHO``) with vessel 1, background 0.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _convert_common import (RETINAL_DIRS, binarize_vessel_mask, convert_image,  # noqa: E402
                             expect_count, extract_zip, list_files, make_dirs, run_main,
                             split_retinal, staged_output)

CHASE_DB1_LEN = 28 * 3
TRAINING_LEN = 60


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Convert CHASE_DB1 dataset to mmsegmentation format")
    parser.add_argument("dataset_path", help="path of CHASEDB1.zip")
    parser.add_argument("--tmp_dir", help="path of the temporary directory")
    parser.add_argument("-o", "--out_dir", help="output path")
    return parser.parse_args(argv)


def is_image(path: str) -> bool:
    """``.jpg`` files are the images, the others the masks."""
    return path.lower().endswith(".jpg")


def convert_either(src: str, dst: str) -> None:
    (convert_image if is_image(src) else binarize_vessel_mask)(src, dst)


def main(argv=None) -> int:
    args = parse_args(argv)
    out_dir = args.out_dir or osp.join("data", "CHASE_DB1")
    with staged_output(out_dir, args.tmp_dir) as (stage, scratch):
        make_dirs(stage, *RETINAL_DIRS)
        print("Extracting CHASEDB1.zip...")
        files = list_files(extract_zip(args.dataset_path, scratch))
        expect_count(files, CHASE_DB1_LEN, f"'{args.dataset_path}'")
        split_retinal(files, TRAINING_LEN, stage, convert_either,
                      lambda src: "images" if is_image(src) else "annotations", "CHASEDB1")
    print(f"Done: CHASE_DB1 in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
