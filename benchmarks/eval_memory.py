"""Peak memory of streaming evaluation (IoUMetric) vs MMSeg 0.x "keep every prediction, then
eval_metrics", for N synthetic predictions, both run by one invocation of this script.

    python benchmarks/eval_memory.py --num-images 200 --size 512 1024 --num-classes 19

The 0.x test loop appends each image's (H, W) int64 prediction to a list and evaluates at the
end, so its memory grows with N; the streaming path keeps four int64 vectors of num_classes
counts. Each path runs in a fresh child process (same interpreter, same arguments) that reports
its peak resident memory (``ru_maxrss``, exact, transient buffers included) above its resident
memory after imports and a warm-up; with --device cuda the streaming path counts on the GPU and
its peak CUDA memory is printed too. Both paths must give identical metrics (checked).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Tuple

import numpy as np
import torch

from seglab.evaluation import IoUMetric, eval_metrics

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def synthetic(index: int, size: Tuple[int, int], num_classes: int) -> Tuple[np.ndarray, np.ndarray]:
    """Image `index`'s (pred, label): int64 prediction like 0.x simple_test, uint8 label."""
    rng = np.random.default_rng(index)
    label = rng.integers(0, num_classes, size, dtype=np.uint8)
    label[rng.random(size) < 0.05] = 255
    pred = np.where(rng.random(size) < 0.7, label, rng.integers(0, num_classes, size))
    pred[pred == 255] = 0
    return pred.astype(np.int64), label


def streaming(n: int, size, num_classes: int, device: str) -> dict:
    metric = IoUMetric(num_classes, device=device)
    for i in range(n):
        pred, label = synthetic(i, size, num_classes)
        metric.process(torch.from_numpy(pred), torch.from_numpy(label))
    return metric.per_class_metrics()


def keep_all(n: int, size, num_classes: int) -> dict:
    results = []
    for i in range(n):
        results.append(synthetic(i, size, num_classes)[0])  # the 0.x test loop's list
    labels = (synthetic(i, size, num_classes)[1] for i in range(n))
    ret = eval_metrics(results, labels, num_classes, 255)
    return {k: v.astype(np.float32) for k, v in ret.items()}


def child(path: str, n: int, size, c: int, device: str) -> None:
    """Run one path and print a json line: peak RSS above the post-warm-up level, time, metrics."""
    run = (lambda m: streaming(m, size, c, device)) if path == "streaming" else (
        lambda m: keep_all(m, size, c))
    run(2)  # warm-up: one-time allocations (torch kernels, thread pools) count against neither
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    base = rss_bytes()
    if peak_rss_bytes() > base:
        # ru_maxrss cannot be reset; the warm-up peak is small (2 images) and is subtracted.
        base = peak_rss_bytes()
    start = time.perf_counter()
    out = run(n)
    seconds = time.perf_counter() - start
    peak = max(peak_rss_bytes() - base, 0)
    cuda_peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else 0
    print(json.dumps({"peak": peak, "seconds": seconds, "cuda_peak": cuda_peak,
                      "metrics": {k: np.atleast_1d(v).tolist() for k, v in out.items()}}))


def run_child(path: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", path, "--num-images",
           str(args.num_images), "--size", *map(str, args.size), "--num-classes",
           str(args.num_classes), "--device", args.device]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-images", type=int, default=100)
    parser.add_argument("--size", type=int, nargs=2, default=(512, 512), metavar=("H", "W"))
    parser.add_argument("--num-classes", type=int, default=19)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", choices=("streaming", "keep_all"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    n, size, c = args.num_images, tuple(args.size), args.num_classes
    if args.child:
        child(args.child, n, size, c, args.device)
        return

    stream, keep = run_child("streaming", args), run_child("keep_all", args)
    for key, values in keep["metrics"].items():
        np.testing.assert_allclose(stream["metrics"][key], values, rtol=1e-6, equal_nan=True)

    mib = 1024 ** 2
    print(f"{n} images of {size[0]}x{size[1]}, {c} classes, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {args.device}")
    print(f"held state: streaming {4 * c * 8} B (4 x {c} int64 counts); "
          f"keep-all {n * size[0] * size[1] * 8 / mib:.1f} MiB of int64 predictions")
    print(f"peak RSS above warm-up: streaming {stream['peak'] / mib:8.1f} MiB "
          f"({stream['seconds']:.2f} s, synthetic data included)")
    print(f"                        keep-all  {keep['peak'] / mib:8.1f} MiB "
          f"({keep['seconds']:.2f} s)")
    if args.device.startswith("cuda"):
        print(f"peak CUDA memory of the streaming path: {stream['cuda_peak'] / mib:.1f} MiB")
    print(f"ratio keep-all / streaming peak RSS: {keep['peak'] / max(stream['peak'], 1):.1f}x "
          "(metrics identical)")


if __name__ == "__main__":
    main()
