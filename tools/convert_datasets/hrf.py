"""Convert HRF (High-Resolution Fundus, retinal vessels) to MMSegmentation's layout.

Usage:
    python tools/convert_datasets/hrf.py HEALTHY_PATH HEALTHY_MANUALSEGM_PATH GLAUCOMA_PATH
        GLAUCOMA_MANUALSEGM_PATH DIABETIC_RETINOPATHY_PATH DIABETIC_RETINOPATHY_MANUALSEGM_PATH
        [--tmp_dir DIR] [-o OUT_DIR]

As MMSegmentation's tool: each of the six zips holds 15 files at its top level; in each, the first
5 (sorted) go to ``training`` and the other 10 to ``validation``. The output (default
``data/HRF``) is ``images/{training,validation}/<name>.png`` and ``annotations/...
/<name>.png`` with vessel 1 and background 0 (``value // 128``).
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _convert_common import (RETINAL_DIRS, binarize_vessel_mask, convert_image,  # noqa: E402
                             expect_count, extract_zip, list_files, make_dirs, run_main,
                             split_retinal, staged_output)

HRF_LEN = 15
TRAINING_LEN = 5
PARTS = ("healthy", "glaucoma", "diabetic_retinopathy")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Convert HRF dataset to mmsegmentation format")
    for part in PARTS:
        parser.add_argument(f"{part}_path", help=f"the path of {part}.zip")
        parser.add_argument(f"{part}_manualsegm_path",
                            help=f"the path of {part}_manualsegm.zip")
    parser.add_argument("--tmp_dir", help="path of the temporary directory")
    parser.add_argument("-o", "--out_dir", help="output path")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out_dir = args.out_dir or osp.join("data", "HRF")
    with staged_output(out_dir, args.tmp_dir) as (stage, scratch):
        make_dirs(stage, *RETINAL_DIRS)
        for part in PARTS:
            for kind, path, convert in (
                    ("images", getattr(args, f"{part}_path"), convert_image),
                    ("annotations", getattr(args, f"{part}_manualsegm_path"),
                     binarize_vessel_mask)):
                folder = extract_zip(path, osp.join(scratch, osp.basename(path)))
                files = list_files(folder)
                expect_count(files, HRF_LEN, f"'{path}'")
                split_retinal(files, TRAINING_LEN, stage, convert, kind, osp.basename(path))
    print(f"Done: HRF in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
