"""Convert COCO-Stuff 10k (v1.1) annotations to MMSegmentation's layout.

Usage:
    python tools/convert_datasets/coco_stuff10k.py COCO_PATH [-o OUT_DIR] [--nproc N]

As MMSegmentation's tool: ``COCO_PATH`` holds ``imageLists/{train,test}.txt`` (names without
suffix), ``images/<name>.jpg`` and ``annotations/<name>.mat`` (the label map in ``S``: 0
unlabeled, 1..182 COCO-Stuff ids). Under OUT_DIR (default COCO_PATH) the images are copied to
``images/{train2014,test2014}/<name>.jpg`` and the labels written to
``annotations/{train2014,test2014}/<name>_labelTrainIds.png`` with MMSeg's ``clsID_to_trID``
(0 stays 0, the 171 used ids become 1..171; the configs set ``reduce_zero_label=True``). An id
outside that table is an error (MMSeg would keep it unchanged). Needs scipy.
"""
from __future__ import annotations

import os.path as osp
import shutil
import sys
from functools import partial
from typing import List, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _convert_common import (ConvertError, coco_stuff_args, coco_stuff_lut,  # noqa: E402
                             make_dirs, map_ids, require_file, run_jobs, run_main, save_label,
                             staged_output)

COCO_LEN = 10000
clsID_to_trID = {int(i): int(t) for i, t in enumerate(coco_stuff_lut(1)) if t >= 0}  # noqa: N816
SPLIT_DIRS = {"train": "train2014", "test": "test2014"}


def convert_to_trainID(names: Tuple[str, str], in_img_dir: str, in_ann_dir: str,  # noqa: N802
                       out_img_dir: str, out_mask_dir: str) -> str:
    """Copy ``<name>.jpg`` and write ``<name>_labelTrainIds.png`` (``names``: (name, split
    folder))."""
    from scipy.io import loadmat

    name, folder = names
    src_img = require_file(osp.join(in_img_dir, name + ".jpg"), f"the image of '{name}'")
    src_mat = require_file(osp.join(in_ann_dir, name + ".mat"), f"the annotation of '{name}'")
    try:
        data = loadmat(src_mat)
    except Exception as e:  # scipy raises several types for unreadable files
        raise ConvertError(f"'{src_mat}' is not a readable .mat file ({e})")
    if "S" not in data:
        raise ConvertError(f"'{src_mat}' has no label map 'S' (keys: "
                           f"{sorted(k for k in data if not k.startswith('__'))})")
    lut = coco_stuff_lut(1)
    save_label(map_ids(data["S"], lut, src_mat),
               osp.join(out_mask_dir, folder, name + "_labelTrainIds.png"))
    shutil.copyfile(src_img, osp.join(out_img_dir, folder, name + ".jpg"))
    return name


def generate_coco_list(folder: str) -> Tuple[List[str], List[str]]:
    lists = []
    for split in ("train", "test"):
        path = require_file(osp.join(folder, "imageLists", f"{split}.txt"),
                            f"the COCO-Stuff 10k folder that holds imageLists/{split}.txt")
        with open(path, encoding="utf-8") as f:
            lists.append([line.strip() for line in f if line.strip()])
    return lists[0], lists[1]


def parse_args(argv=None):
    return coco_stuff_args("Convert COCO Stuff 10k annotations to mmsegmentation format", argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out_dir = args.out_dir or args.coco_path
    train_list, test_list = generate_coco_list(args.coco_path)
    if len(train_list) + len(test_list) != COCO_LEN:
        print(f"note: the full COCO-Stuff 10k lists {COCO_LEN} images; these list "
              f"{len(train_list)} + {len(test_list)}.")
    jobs = [(n, SPLIT_DIRS["train"]) for n in train_list] + \
        [(n, SPLIT_DIRS["test"]) for n in test_list]
    with staged_output(out_dir) as (stage, _):
        make_dirs(stage, *(f"{d}/{s}" for d in ("images", "annotations")
                           for s in SPLIT_DIRS.values()))
        convert = partial(convert_to_trainID, in_img_dir=osp.join(args.coco_path, "images"),
                          in_ann_dir=osp.join(args.coco_path, "annotations"),
                          out_img_dir=osp.join(stage, "images"),
                          out_mask_dir=osp.join(stage, "annotations"))
        run_jobs(convert, jobs, args.nproc, "converted")
    print(f"Done: {len(train_list)} train and {len(test_list)} test images in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
