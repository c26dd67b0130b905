"""Float32 fast paths measured: plain vs BN folded vs folded + channels_last (same process).

Usage:
    python benchmarks/fast_paths.py [--case whole-r50 --case slide-r18] [--repeat 5]
        [--warmup 1] [--threads N] [--no-rss] [--config configs/segformer/....py ...]

Cases (built from the real config files with SyncBN -> BN; random weights, BN statistics from
one pass over noise):

- ``whole-r50``: configs/fcn/fcn_r50-d8_512x512_20k_voc12aug.py, whole mode, one 512x512 image.
- ``slide-r18``: configs/fcn/fcn_r18-d8_512x1024_80k_cityscapes.py, slide mode (512x1024 crops,
  stride 341x683: 9 windows), one 1024x2048 image.

- ``--config PATH`` (repeatable): any config, whole mode on one 512x512 image (its test_cfg
  mode as configured), to see whether a family gains from channels_last; the header line says
  which fast paths the tools turn on for it by default (``resolve_fast_paths``).

Each pass is ``simple_test``'s work (network, resize, softmax, argmax) under
``torch.inference_mode``.
The variants are timed interleaved (plain, folded, folded+cl, plain, ...), so a machine loaded by
other work slows all of them alike, and the table gives each one's median and its ratio to the
plain one. The label maps of every variant's last pass are compared with the plain one's (share
of equal pixels) and so are the probabilities (max abs difference). Peak RSS: each variant alone
in a fresh subprocess (one pass after the model is built), since a process's peak never goes down.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import torch

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from models import build_from_config, machine_line  # noqa: E402

from seglab.apis.fast_paths import optimize_for_inference, resolve_fast_paths  # noqa: E402

CASES = {
    "whole-r50": ("configs/fcn/fcn_r50-d8_512x512_20k_voc12aug.py", (512, 512)),
    "slide-r18": ("configs/fcn/fcn_r18-d8_512x1024_80k_cityscapes.py", (1024, 2048)),
}
VARIANTS: Dict[str, dict] = {
    "plain": {},
    "folded": dict(fuse_conv_bn=True),
    "folded+channels_last": dict(fuse_conv_bn=True, channels_last=True),
}


def calibrate_bn(model: torch.nn.Module) -> None:
    """BN running statistics from one training-mode pass (fresh BN layers are the identity)."""
    with torch.no_grad():
        model.train().encode_decode(torch.randn(1, 3, 128, 128) * 2, None)
    model.eval()


def build(case: str, variant: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_from_config(ROOT.parent / CASES[case][0])
    calibrate_bn(model)
    return optimize_for_inference(model, **VARIANTS[variant])


def inputs(case: str):
    h, w = CASES[case][1]
    img = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(1))
    return img, [dict(img_shape=(h, w, 3), ori_shape=(h, w, 3), flip=False)]


def run_once(model, img, metas):
    """Probabilities (1, C, H, W) and labels (H, W) of one image: ``simple_test``'s steps."""
    with torch.inference_mode():
        probs = model.inference(img, metas, rescale=True)
        return probs, probs.argmax(dim=1)[0]


def peak_rss_child(case: str, variant: str) -> None:
    model = build(case, variant)
    img, metas = inputs(case)
    with torch.inference_mode():
        model.simple_test(img, metas)  # what tools/test.py runs
    print(json.dumps(dict(peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))


def peak_rss(case: str, variant: str, threads: int) -> float:
    cmd = [sys.executable, __file__, "--child", case, variant, "--threads", str(threads),
           "--config", CASES[case][0]]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_rss_mb"]


def measure(case: str, repeat: int, warmup: int) -> Dict[str, dict]:
    models = {v: build(case, v) for v in VARIANTS}
    img, metas = inputs(case)
    times: Dict[str, List[float]] = {v: [] for v in VARIANTS}
    last: Dict[str, tuple] = {}
    for i in range(warmup + repeat):
        for variant, model in models.items():
            start = time.perf_counter()
            last[variant] = run_once(model, img, metas)
            if i >= warmup:
                times[variant].append(time.perf_counter() - start)
    ref_probs, ref_labels = last["plain"]
    return {variant: dict(median_s=statistics.median(times[variant]),
                          equal_pixels=(labels == ref_labels).double().mean().item(),
                          max_prob_diff=(probs - ref_probs).abs().max().item())
            for variant, (probs, labels) in last.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", action="append", choices=sorted(CASES))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS subprocesses")
    parser.add_argument("--config", action="append", default=[],
                        help="also measure this config (512x512 input); repeatable")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for config in args.config:
        CASES.setdefault(Path(config).stem, (str(Path(config).resolve()), (512, 512)))
    if args.child:
        peak_rss_child(*args.child)
        return 0
    print(machine_line())
    # --case and --config add up; neither: every built-in case
    cases = (args.case or []) + [Path(c).stem for c in args.config]
    for case in cases or list(CASES):
        rows = measure(case, args.repeat, args.warmup)
        base = rows["plain"]["median_s"]
        defaults = resolve_fast_paths(build(case, "plain"))
        print(f"\n{case}: {CASES[case][0]}, input {CASES[case][1]}, simple_test, "
              f"median of {args.repeat} interleaved passes; tool defaults: "
              + (", ".join(k for k, on in defaults.items() if on) or "none"))
        print("| variant | median s | vs plain | peak RSS MiB | equal labels | max prob diff |")
        print("|---|---|---|---|---|---|")
        for variant, row in rows.items():
            rss = "-" if args.no_rss else f"{peak_rss(case, variant, args.threads):.0f}"
            print(f"| {variant} | {row['median_s']:.3f} | {row['median_s'] / base:.2f}x | {rss} | "
                  f"{row['equal_pixels']:.6f} | {row['max_prob_diff']:.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
