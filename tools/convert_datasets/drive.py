"""Convert DRIVE (retinal vessels) to MMSegmentation's layout.

Usage:
    python tools/convert_datasets/drive.py TRAINING_PATH TESTING_PATH [--tmp_dir DIR] [-o OUT_DIR]

As MMSegmentation's tool: ``training.zip`` holds ``training/images/<n>_training.tif`` and
``training/1st_manual/<n>_manual1.gif``, ``test.zip`` ``test/images/<n>_test.tif`` and (when
present) ``test/1st_manual`` / ``test/2nd_manual``. The output (default ``data/DRIVE``) is
``images/{training,validation}/<n>.png`` and ``annotations/{training,validation}/
<n>_manual1.png`` (``_manual2.png`` from the second observer) with vessel 1 and background 0
(``value // 128``).
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _convert_common import (RETINAL_DIRS, ConvertError, binarize_vessel_mask,  # noqa: E402
                             convert_image, extract_zip, list_files, make_dirs, progress,
                             require_dir, run_main, stem, staged_output)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Convert DRIVE dataset to mmsegmentation format")
    parser.add_argument("training_path", help="the training part of DRIVE dataset")
    parser.add_argument("testing_path", help="the testing part of DRIVE dataset")
    parser.add_argument("--tmp_dir", help="path of the temporary directory")
    parser.add_argument("-o", "--out_dir", help="output path")
    return parser.parse_args(argv)


def convert_part(root: str, part: str, split: str, stage: str) -> int:
    """``root/<part>/images`` and ``root/<part>/{1st,2nd}_manual`` -> ``stage``."""
    images = list_files(require_dir(osp.join(root, part, "images"),
                                    f"an archive with {part}/images/ (the DRIVE {part} zip)"))
    if not images:
        raise ConvertError(f"'{part}/images/' in the {part} archive holds no images")
    for src in progress(images, f"{part} images"):
        convert_image(src, osp.join(stage, "images", split,
                                    stem(src).replace(f"_{part}", "") + ".png"))
    manual_dirs = ["1st_manual"] + (["2nd_manual"] if part == "test" else [])
    for sub in manual_dirs:
        folder = osp.join(root, part, sub)
        if part == "training":
            require_dir(folder, "an archive with training/1st_manual/ (the DRIVE training zip)")
        elif not osp.isdir(folder):
            continue
        for src in progress(list_files(folder), f"{part} {sub}"):
            binarize_vessel_mask(src, osp.join(stage, "annotations", split, stem(src) + ".png"))
    return len(images)


def main(argv=None) -> int:
    args = parse_args(argv)
    out_dir = args.out_dir or osp.join("data", "DRIVE")
    with staged_output(out_dir, args.tmp_dir) as (stage, scratch):
        make_dirs(stage, *RETINAL_DIRS)
        print("Extracting training.zip...")
        n_train = convert_part(extract_zip(args.training_path, osp.join(scratch, "train")),
                               "training", "training", stage)
        print("Extracting test.zip...")
        n_val = convert_part(extract_zip(args.testing_path, osp.join(scratch, "test")),
                             "test", "validation", stage)
    print(f"Done: {n_train} training and {n_val} validation images in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
