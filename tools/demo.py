#!/usr/bin/env python
"""`make demo`: the MMSegmentation walkthrough on a dataset seglab generates itself.

1. generate the synthetic VOC-layout dataset (tools/misc/make_synthetic_voc.py),
2. train an FCN on it on the CPU (tools/train.py, configs/demo/fcn_r18-d8_synthetic_voc.py),
3. test the last checkpoint with --eval mIoU --show-dir --out (tools/test.py),
and print where everything is. Each step is the same command a user would type.
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = "configs/demo/fcn_r18-d8_synthetic_voc.py"


def run(cmd, env=None):
    print(f"\n$ {' '.join(shlex.quote(c) for c in cmd)}", flush=True)
    start = time.time()
    subprocess.run(cmd, cwd=ROOT, check=True, env=env)
    return time.time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo_output", help="folder for the data and the run")
    parser.add_argument("--num-train", type=int, default=240)
    parser.add_argument("--num-val", type=int, default=60)
    parser.add_argument("--max-iters", type=int, default=None,
                        help="override runner.max_iters of the demo config")
    args = parser.parse_args()

    out = os.path.join(ROOT, args.out)
    data_root = os.path.join(out, "synthetic_voc")
    work_dir = os.path.join(out, "work_dir")
    py = sys.executable
    options = [f"data_root={data_root}", f"data.train.data_root={data_root}",
               f"data.val.data_root={data_root}", f"data.test.data_root={data_root}"]
    if args.max_iters:
        options.append(f"runner.max_iters={args.max_iters}")

    print("seglab demo: synthetic VOC data -> train FCN on the CPU -> test with mIoU, overlays, pickle")
    if not os.path.isfile(os.path.join(data_root, "ImageSets", "Segmentation", "val.txt")):
        run([py, "tools/misc/make_synthetic_voc.py", data_root, "--num-train", str(args.num_train),
             "--num-val", str(args.num_val)])
    else:
        print(f"\nusing the existing dataset in {data_root}")
    train_s = run([py, "tools/train.py", CONFIG, "--work-dir", work_dir, "--seed", "0",
                   "--deterministic", "--options", *options])
    show_dir = os.path.join(out, "show")
    results = os.path.join(out, "results.pkl")
    test_s = run([py, "tools/test.py", CONFIG, os.path.join(work_dir, "latest.pth"), "--eval", "mIoU",
                  "--show-dir", show_dir, "--out", results, "--work-dir", work_dir,
                  "--options", *options])
    print(f"\nDone in {train_s:.0f} s of training and {test_s:.0f} s of testing.")
    print(f"  dataset:      {data_root}")
    print(f"  work dir:     {work_dir} (config, logs, checkpoints, eval json)")
    print(f"  overlays:     {show_dir}")
    print(f"  predictions:  {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
