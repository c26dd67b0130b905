"""Convert the SBD (Semantic Boundaries Dataset) labels to VOC-style PNGs and write the aug split.

Usage:
    python tools/convert_datasets/voc_aug.py DEVKIT_PATH AUG_PATH [-o OUT_DIR] [--nproc N]

As MMSegmentation's tool: every ``AUG_PATH/dataset/cls/*.mat`` (its ``GTcls.Segmentation``) becomes
``OUT_DIR/<name>.png`` (default ``DEVKIT_PATH/VOC2012/SegmentationClassAug``), and two split files
go to ``DEVKIT_PATH/VOC2012/ImageSets/Segmentation``:

* ``trainaug.txt``: VOC train + SBD train + SBD val, minus VOC val (10582 names for the real data);
* ``aug.txt``: SBD train + SBD val minus VOC train and VOC val (the part the 0.x "voc12aug"
  configs add to VOC train, with ``ann_dir=['SegmentationClass', 'SegmentationClassAug']``).

The lists are sorted (MMSeg's come in set order). Needs scipy.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Iterable, List

import numpy as np

AUG_LEN = 10582  # size of trainaug.txt for the real VOC2012 + SBD


def convert_mat(mat_file: str, in_dir: str, out_dir: str) -> str:
    """``in_dir/<name>.mat`` -> ``out_dir/<name>.png`` (uint8 class indices)."""
    from PIL import Image
    from scipy.io import loadmat

    data = loadmat(osp.join(in_dir, mat_file))
    mask = data["GTcls"][0]["Segmentation"][0].astype(np.uint8)
    out = osp.join(out_dir, osp.splitext(mat_file)[0] + ".png")
    tmp = out + ".tmp"
    Image.fromarray(mask).save(tmp, format="PNG")
    os.replace(tmp, out)  # never a half-written PNG under the final name
    return out


def read_list(path: str) -> List[str]:
    if not osp.isfile(path):
        raise FileNotFoundError(f"split file '{path}' does not exist; check DEVKIT_PATH/AUG_PATH.")
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def generate_aug_list(merged: Iterable[str], excluded: Iterable[str]) -> List[str]:
    """Sorted names of ``merged`` that are not in ``excluded``."""
    return sorted(set(merged) - set(excluded))


def write_list(path: str, names: Iterable[str]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(name + "\n" for name in names)
    os.replace(tmp, path)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Convert SBD annotations for VOC aug training")
    parser.add_argument("devkit_path", help="Pascal VOC devkit path (holds VOC2012/)")
    parser.add_argument("aug_path", help="SBD path (holds dataset/cls, dataset/train.txt, ...)")
    parser.add_argument("-o", "--out_dir", "--out-dir", dest="out_dir", help="output folder")
    parser.add_argument("--nproc", default=1, type=int, help="worker processes")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    voc = osp.join(args.devkit_path, "VOC2012")
    out_dir = args.out_dir or osp.join(voc, "SegmentationClassAug")
    in_dir = osp.join(args.aug_path, "dataset", "cls")
    if not osp.isdir(in_dir):
        print(f"error: '{in_dir}' does not exist; AUG_PATH must be the SBD folder "
              "(benchmark_RELEASE) that holds dataset/cls/*.mat.", file=sys.stderr)
        return 2
    os.makedirs(out_dir, exist_ok=True)
    mats = sorted(f for f in os.listdir(in_dir) if f.endswith(".mat"))
    convert = partial(convert_mat, in_dir=in_dir, out_dir=out_dir)
    if args.nproc > 1:
        with ProcessPoolExecutor(args.nproc) as pool:
            list(pool.map(convert, mats, chunksize=64))
    else:
        for mat in mats:
            convert(mat)
    print(f"Converted {len(mats)} .mat files to {out_dir}")

    try:
        sbd = read_list(osp.join(args.aug_path, "dataset", "train.txt"))
        sbd += read_list(osp.join(args.aug_path, "dataset", "val.txt"))
        split_dir = osp.join(voc, "ImageSets", "Segmentation")
        voc_train = read_list(osp.join(split_dir, "train.txt"))
        voc_val = read_list(osp.join(split_dir, "val.txt"))
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    trainaug = generate_aug_list(voc_train + sbd, voc_val)
    aug = generate_aug_list(sbd, voc_train + voc_val)
    write_list(osp.join(split_dir, "trainaug.txt"), trainaug)
    write_list(osp.join(split_dir, "aug.txt"), aug)
    print(f"trainaug.txt: {len(trainaug)} names, aug.txt: {len(aug)} names in {split_dir}")
    if len(trainaug) != AUG_LEN:
        print(f"note: the real VOC2012 + SBD give {AUG_LEN} trainaug names; got {len(trainaug)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
