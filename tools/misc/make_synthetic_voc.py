"""Generate seglab's synthetic VOC-style dataset (deterministic from --seed).

Usage:
    python tools/misc/make_synthetic_voc.py OUT_DIR [--num-train N] [--num-val M] [--size 256]
        [--seed 0] [--num-classes 6] [--force]

Writes OUT_DIR/JPEGImages/*.jpg, OUT_DIR/SegmentationClass/*.png (palette PNGs, 255 on object
boundaries) and OUT_DIR/ImageSets/Segmentation/{train,val,trainval}.txt, atomically. The configs
using it: configs/_base_/datasets/synthetic_voc.py (data_root='data/synthetic_voc').
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
import time

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from seglab.errors import SeglabError  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Generate the synthetic VOC-style dataset")
    parser.add_argument("out_dir", help="output folder, e.g. data/synthetic_voc")
    parser.add_argument("--num-train", type=int, default=200, help="training images")
    parser.add_argument("--num-val", type=int, default=50, help="validation images")
    parser.add_argument("--size", type=int, default=256, help="longer image side in pixels")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--num-classes", type=int, default=6,
                        help="classes including background (2..6)")
    parser.add_argument("--force", action="store_true",
                        help="replace OUT_DIR if it holds something else")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from seglab.datasets.synthetic import make_synthetic_voc

    start = time.time()
    try:
        out = make_synthetic_voc(args.out_dir, num_train=args.num_train, num_val=args.num_val,
                                 size=args.size, seed=args.seed, num_classes=args.num_classes,
                                 overwrite=args.force)
    except (SeglabError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"Synthetic VOC dataset ({args.num_train} train / {args.num_val} val, size {args.size}, "
          f"seed {args.seed}) in {out} ({time.time() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
