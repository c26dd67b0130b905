"""Make Cityscapes ``*_gtFine_labelTrainIds.png`` files and the train/val/test lists.

Usage:
    python tools/convert_datasets/cityscapes.py CITYSCAPES_PATH [--gt-dir gtFine] [-o OUT_DIR]
        [--nproc N]

Every ``<gt-dir>/**/*_gtFine_labelIds.png`` gets a ``*_gtFine_labelTrainIds.png`` beside it, with
the official 34 label ids mapped to the 19 train ids (255 for ids that are not evaluated). Then
``OUT_DIR/{train,val,test}.txt`` (default OUT_DIR = CITYSCAPES_PATH) list the frames of each split
as ``<city>/<city>_<seq>_<frame>`` (relative to ``leftImg8bit/<split>``), sorted, as MMSeg's
``split=`` files expect. (MMSeg's own tool renders the polygon JSON files with cityscapesscripts;
the labelIds PNGs shipped with Cityscapes give the same maps.)
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import List

import numpy as np

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

LABEL_SUFFIX = "_gtFine_labelIds.png"
TRAIN_SUFFIX = "_gtFine_labelTrainIds.png"


def convert_label_ids(label_file: str) -> str:
    """``*_gtFine_labelIds.png`` -> ``*_gtFine_labelTrainIds.png`` beside it."""
    from PIL import Image

    from seglab.datasets.cityscapes import label_id_to_train_id_lut

    with Image.open(label_file) as im:
        ids = np.asarray(im)
    if ids.ndim != 2:
        raise ValueError(f"'{label_file}' is not a one-channel labelIds image (shape {ids.shape})")
    train_ids = label_id_to_train_id_lut()[ids.clip(0, 255).astype(np.uint8)]
    out = label_file[:-len(LABEL_SUFFIX)] + TRAIN_SUFFIX
    tmp = out + ".tmp"
    Image.fromarray(train_ids).save(tmp, format="PNG")
    os.replace(tmp, out)
    return out


def find_files(root: str, suffix: str) -> List[str]:
    found = []
    for dirpath, _, files in os.walk(root):
        found += [osp.join(dirpath, f) for f in files if f.endswith(suffix)]
    return sorted(found)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Convert Cityscapes labelIds to labelTrainIds")
    parser.add_argument("cityscapes_path", help="Cityscapes folder (holds gtFine/, leftImg8bit/)")
    parser.add_argument("--gt-dir", default="gtFine", help="annotation folder inside it")
    parser.add_argument("-o", "--out-dir", help="where train/val/test.txt go")
    parser.add_argument("--nproc", default=1, type=int, help="worker processes")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    gt_dir = osp.join(args.cityscapes_path, args.gt_dir)
    out_dir = args.out_dir or args.cityscapes_path
    if not osp.isdir(gt_dir):
        print(f"error: '{gt_dir}' does not exist; give the Cityscapes folder that holds "
              f"{args.gt_dir}/.", file=sys.stderr)
        return 2
    label_files = find_files(gt_dir, LABEL_SUFFIX)
    if args.nproc > 1:
        with ProcessPoolExecutor(args.nproc) as pool:
            list(pool.map(convert_label_ids, label_files, chunksize=16))
    else:
        for f in label_files:
            convert_label_ids(f)
    print(f"Wrote {len(label_files)} {TRAIN_SUFFIX} files under {gt_dir}")

    os.makedirs(out_dir, exist_ok=True)
    for split in ("train", "val", "test"):
        split_root = osp.join(gt_dir, split)
        if not osp.isdir(split_root):
            continue
        names = [osp.relpath(f, split_root)[:-len(LABEL_SUFFIX)]
                 for f in find_files(split_root, LABEL_SUFFIX)]
        with open(osp.join(out_dir, f"{split}.txt"), "w", encoding="utf-8") as f:
            f.writelines(name.replace(os.sep, "/") + "\n" for name in names)
        print(f"{split}.txt: {len(names)} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
