"""Convert ISPRS Vaihingen to MMSegmentation's layout.

Usage:
    python tools/convert_datasets/vaihingen.py DATASET_PATH [--tmp_dir DIR] [-o OUT_DIR]
        [--clip_size 512] [--stride_size 256]

As MMSegmentation's tool: ``DATASET_PATH`` holds ``ISPRS_semantic_labeling_Vaihingen.zip``
(images in ``top/top_mosaic_09cm_area<k>.tif``) and
``ISPRS_semantic_labeling_Vaihingen_ground_truth_eroded_COMPLETE.zip`` (labels
``top_mosaic_09cm_area<k>_noBoundary.tif`` at its top level; area9 is left out, as in MMSeg).
Other zips are read at their top level. Label colours become 0..6 as for Potsdam; each tile is cut
into ``clip_size`` squares ``area<k>_<x0>_<y0>_<x1>_<y1>.png`` under ``{img,ann}_dir/{train,val}``
(default OUT_DIR ``data/vaihingen``); the 16 areas listed in ``SPLITS['train']`` are train.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import List

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _convert_common import (ConvertError, add_clip_args, convert_isprs,  # noqa: E402
                             list_files, run_main)

SPLITS = {
    "train": ["area1", "area11", "area13", "area15", "area17", "area21", "area23", "area26",
              "area28", "area3", "area30", "area32", "area34", "area37", "area5", "area7"],
    "val": ["area6", "area24", "area35", "area16", "area14", "area22", "area10", "area4",
            "area2", "area20", "area8", "area31", "area33", "area27", "area38", "area12",
            "area29"],
}
IMAGES_ZIP = "ISPRS_semantic_labeling_Vaihingen"
LABELS_ZIP = "ISPRS_semantic_labeling_Vaihingen_ground_truth_eroded_COMPLETE"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Convert vaihingen dataset to mmsegmentation format")
    parser.add_argument("dataset_path", help="vaihingen folder path")
    add_clip_args(parser)
    return parser.parse_args(argv)


def area_index(path: str) -> str:
    parts = osp.splitext(osp.basename(path))[0].split("_")
    if len(parts) < 4 or not parts[3].startswith("area"):
        raise ConvertError(f"'{osp.basename(path)}' is not a Vaihingen tile name "
                           "(top_mosaic_09cm_area<k>[_noBoundary].tif)")
    return parts[3]


def zip_tifs(zip_path: str, folder: str) -> List[str]:
    name = osp.basename(zip_path)
    if LABELS_ZIP in name:
        return [t for t in list_files(folder, "*.tif") if area_index(t) != "area9"]
    if IMAGES_ZIP in name:
        return list_files(osp.join(folder, "top"), "*.tif")
    return list_files(folder, "*.tif")


def main(argv=None) -> int:
    args = parse_args(argv)
    return convert_isprs(args, "Vaihingen", osp.join("data", "vaihingen"), zip_tifs,
                         area_index, SPLITS["train"], lambda name: "noBoundary" in name)


if __name__ == "__main__":
    sys.exit(run_main(main))
