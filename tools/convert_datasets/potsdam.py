"""Convert ISPRS Potsdam to MMSegmentation's layout.

Usage:
    python tools/convert_datasets/potsdam.py DATASET_PATH [--tmp_dir DIR] [-o OUT_DIR]
        [--clip_size 512] [--stride_size 256]

As MMSegmentation's tool: every ``DATASET_PATH/*.zip`` (``2_Ortho_RGB.zip`` and
``5_Labels_all_noBoundary.zip`` in MMSeg's instructions) holds ``top_potsdam_<i>_<j>_*.tif``
files at its top level or in one folder. Files whose name holds ``label`` are labels: their
colours become 0..6 (boundary/unknown 0, impervious surface 1, building 2, low vegetation 3,
tree 4, car 5, clutter 6). Each tile is cut into ``clip_size`` squares
``<i>_<j>_<x0>_<y0>_<x1>_<y1>.png`` under ``{img,ann}_dir/{train,val}`` (default OUT_DIR
``data/potsdam``); tiles 2_10 ... 7_9 (24) are train, the others val.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from typing import List

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _convert_common import (ConvertError, add_clip_args, convert_isprs,  # noqa: E402
                             list_files, run_main)

SPLITS = {
    "train": ["2_10", "2_11", "2_12", "3_10", "3_11", "3_12", "4_10", "4_11", "4_12", "5_10",
              "5_11", "5_12", "6_10", "6_11", "6_12", "6_7", "6_8", "6_9", "7_10", "7_11",
              "7_12", "7_7", "7_8", "7_9"],
    "val": ["5_15", "6_15", "6_13", "3_13", "4_14", "6_14", "5_14", "2_13", "4_15", "2_14",
            "5_13", "4_13", "3_14", "7_13"],
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Convert potsdam dataset to mmsegmentation format")
    parser.add_argument("dataset_path", help="potsdam folder path")
    add_clip_args(parser)
    return parser.parse_args(argv)


def tile_index(path: str) -> str:
    parts = osp.basename(path).split("_")
    if len(parts) < 4 or parts[0] != "top" or parts[1] != "potsdam":
        raise ConvertError(f"'{osp.basename(path)}' is not a Potsdam tile name "
                           "(top_potsdam_<i>_<j>_....tif)")
    return f"{parts[2]}_{parts[3]}"


def zip_tifs(zip_path: str, folder: str) -> List[str]:
    """The ``*.tif`` at the top of the unpacked zip, or else in its (first) folder."""
    tifs = list_files(folder, "*.tif")
    if not tifs and os.listdir(folder):
        tifs = list_files(osp.join(folder, sorted(os.listdir(folder))[0]), "*.tif")
    return tifs


def main(argv=None) -> int:
    args = parse_args(argv)
    return convert_isprs(args, "Potsdam", osp.join("data", "potsdam"), zip_tifs, tile_index,
                         SPLITS["train"], lambda name: "label" in name)


if __name__ == "__main__":
    sys.exit(run_main(main))
