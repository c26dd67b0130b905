"""Convert COCO-Stuff 164k annotations to MMSegmentation's layout.

Usage:
    python tools/convert_datasets/coco_stuff164k.py COCO_PATH [-o OUT_DIR] [--nproc N]

As MMSegmentation's tool: ``COCO_PATH`` holds ``images/{train2017,val2017}/*.jpg`` and the
stuffthingmaps ``annotations/{train2017,val2017}/<name>.png`` (0..181 COCO-Stuff ids, 255
unlabeled). Every map gets ``OUT_DIR/annotations/<split>/<name>_labelTrainIds.png`` with MMSeg's
``clsID_to_trID`` (the 171 used ids become 0..170, 255 stays); with an OUT_DIR other than
COCO_PATH the images are copied to ``OUT_DIR/images``. An id outside that table is an error
(MMSeg would keep it unchanged).
"""
from __future__ import annotations

import os.path as osp
import shutil
import sys
from functools import partial

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _convert_common import (coco_stuff_args, coco_stuff_lut, list_files,  # noqa: E402
                             make_dirs, map_ids, read_image, require_dir, run_jobs, run_main,
                             save_label, staged_output)

COCO_LEN = 123287
clsID_to_trID = {int(i): int(t) for i, t in enumerate(coco_stuff_lut(0)) if t >= 0}  # noqa: N816
SPLITS = ("train2017", "val2017")


def convert_to_trainID(maskpath: str, out_mask_dir: str) -> str:  # noqa: N802
    """``annotations/<split>/<name>.png`` -> ``out_mask_dir/<split>/<name>_labelTrainIds.png``."""
    split = osp.basename(osp.dirname(maskpath))
    name = osp.basename(maskpath).split(".")[0]
    labels = map_ids(read_image(maskpath, None), coco_stuff_lut(0), maskpath)
    save_label(labels, osp.join(out_mask_dir, split, name + "_labelTrainIds.png"))
    return name


def parse_args(argv=None):
    return coco_stuff_args("Convert COCO Stuff 164k annotations to mmsegmentation format", argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out_dir = args.out_dir or args.coco_path
    masks = []
    for split in SPLITS:
        folder = require_dir(osp.join(args.coco_path, "annotations", split),
                             f"the COCO-Stuff 164k folder that holds annotations/{split}/")
        masks += [m for m in list_files(folder, "*.png") if "_labelTrainIds" not in m]
    if len(masks) != COCO_LEN:
        print(f"note: the full COCO-Stuff 164k has {COCO_LEN} maps; found {len(masks)}.")
    with staged_output(out_dir) as (stage, _):
        make_dirs(stage, *(f"annotations/{s}" for s in SPLITS))
        if osp.abspath(out_dir) != osp.abspath(args.coco_path):
            shutil.copytree(require_dir(osp.join(args.coco_path, "images"),
                                        "the COCO-Stuff 164k folder that holds images/"),
                            osp.join(stage, "images"))
        convert = partial(convert_to_trainID, out_mask_dir=osp.join(stage, "annotations"))
        run_jobs(convert, masks, args.nproc, "converted")
    print(f"Done: {len(masks)} label maps in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
