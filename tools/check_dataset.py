"""Check every image and label file of a config's dataset and print a per-class pixel histogram.

Usage:
    python tools/check_dataset.py CONFIG [--split train|val|test] [--nproc N] [--options k=v ...]

Each sample's image must exist and decode; its label must exist, decode, be a one-channel map of
the image's size, and hold values in [0, num_classes) or ignore_index (after the dataset's
label_map / reduce_zero_label). Files are read directly, without augmentation. Exit status: 0 when
everything is fine, 1 when some files are bad (all are listed) or every label is a 0/255 binary
mask, 2 when the config or dataset cannot be loaded.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from seglab.config import add_cfg_options_args, load_config  # noqa: E402
from seglab.errors import SeglabError  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Check a dataset's files and label values")
    parser.add_argument("config", help="config file path")
    parser.add_argument("--split", choices=["train", "val", "test"], default="train",
                        help="which dataset of the config's data section (default: train)")
    parser.add_argument("--nproc", type=int, default=min(8, os.cpu_count() or 1),
                        help="decoding threads")
    add_cfg_options_args(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from seglab.datasets import build_dataset
    from seglab.datasets.dataset_check import check_dataset, format_report

    try:
        cfg = load_config(args.config, args.cfg_options)  # a MMSeg 1.x config: its 0.x form
        data = cfg.get("data")
        if not data or args.split not in data:
            print(f"error: {args.config} has no data.{args.split} dataset.", file=sys.stderr)
            return 2
        dataset = build_dataset(data[args.split])
    except SeglabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if len(dataset) == 0:
        print(f"error: data.{args.split} lists no samples; check img_dir, split and img_suffix.",
              file=sys.stderr)
        return 1
    report = check_dataset(dataset, nproc=args.nproc)
    title = f"data.{args.split} of {args.config}: {type(dataset).__name__}"
    print(format_report(report, title))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
