"""Convert LoveDA to MMSegmentation's layout.

Usage:
    python tools/convert_datasets/loveda.py DATASET_PATH [--tmp_dir DIR] [-o OUT_DIR]

As MMSegmentation's tool: ``DATASET_PATH`` holds ``Train.zip``, ``Val.zip`` and ``Test.zip``;
each unpacks to ``<Train|Val|Test>/<Rural|Urban>/images_png/*.png`` (and ``masks_png/*.png``
for Train and Val). The files are moved unchanged to ``img_dir/{train,val,test}`` and
``ann_dir/{train,val}`` under OUT_DIR (default ``data/loveDA``).
"""
from __future__ import annotations

import argparse
import os.path as osp
import shutil
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _convert_common import (ConvertError, extract_zip, list_files, make_dirs,  # noqa: E402
                             require_dir, run_main, staged_output)

ARCHIVES = ("Train", "Val", "Test")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Convert LoveDA dataset to mmsegmentation format")
    parser.add_argument("dataset_path", help="LoveDA folder path")
    parser.add_argument("--tmp_dir", help="path of the temporary directory")
    parser.add_argument("-o", "--out_dir", help="output path")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out_dir = args.out_dir or osp.join("data", "loveDA")
    require_dir(args.dataset_path, "the LoveDA folder that holds Train.zip, Val.zip, Test.zip")
    missing = [f"{a}.zip" for a in ARCHIVES
               if not osp.isfile(osp.join(args.dataset_path, f"{a}.zip"))]
    if missing:
        raise ConvertError(f"{', '.join(missing)} not in '{args.dataset_path}'; it must hold "
                           "Train.zip, Val.zip and Test.zip as downloaded.")
    counts = {}
    with staged_output(out_dir, args.tmp_dir) as (stage, scratch):
        make_dirs(stage, "img_dir/train", "img_dir/val", "img_dir/test", "ann_dir/train",
                  "ann_dir/val")
        for archive in ARCHIVES:
            extract_zip(osp.join(args.dataset_path, archive + ".zip"), scratch)
            split = archive.lower()
            kinds = [("images_png", "img_dir")] + \
                ([("masks_png", "ann_dir")] if archive != "Test" else [])
            for location in ("Rural", "Urban"):
                for folder, dst in kinds:
                    src_dir = require_dir(osp.join(scratch, archive, location, folder),
                                          f"{archive}.zip with {archive}/{location}/{folder}/")
                    for src in list_files(src_dir):
                        shutil.move(src, osp.join(stage, dst, split, osp.basename(src)))
                        counts[(dst, split)] = counts.get((dst, split), 0) + 1
    for (dst, split), n in sorted(counts.items()):
        print(f"{dst}/{split}: {n} files")
    print(f"Done: LoveDA in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
