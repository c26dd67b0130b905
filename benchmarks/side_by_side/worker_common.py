"""Shared by the side-by-side workers (seglab and MMSegmentation 1.x); imports neither library.

A worker is one measurement in its own process: it prints one line ``RESULT {json}`` on stdout
(the driver, benchmarks/mmseg_side_by_side.py, reads it and measures the process's peak RSS
with ``os.wait4``).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

RESULT_PREFIX = "RESULT "
# Pascal VOC / Cityscapes normalisation of the FCN configs (RGB order).
MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)


def emit(**fields: Any) -> None:
    """Print the worker's result line."""
    print(RESULT_PREFIX + json.dumps(fields), flush=True)


def time_calls(fn: Callable[[], Any], warmup: int, iters: int) -> Dict[str, Any]:
    """Run ``fn`` ``warmup`` times untimed, then ``iters`` timed; median and all times (s)."""
    torch = sys.modules.get("torch")
    sync = (torch.cuda.synchronize if torch is not None and torch.cuda.is_initialized()
            else lambda: None)
    for _ in range(warmup):
        fn()
    times: List[float] = []
    for _ in range(iters):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return dict(seconds=statistics.median(times), times=times)


def make_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A deterministic BGR uint8 image (smooth gradients plus noise, as a photo-like input)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / max(width - 1, 1), yy / max(height - 1, 1),
                     (xx + yy) / max(width + height - 2, 1)], axis=2) * 200.0
    noise = rng.normal(0.0, 25.0, (height, width, 3)).astype(np.float32)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def make_train_batch(batch: int, height: int, width: int, num_classes: int,
                     seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """(B, H, W, 3) BGR uint8 images and (B, H, W) int64 labels (a few 255 pixels)."""
    images = np.stack([make_image(height, width, seed + i) for i in range(batch)])
    rng = np.random.default_rng(seed + 1000)
    labels = rng.integers(0, num_classes, (batch, height, width)).astype(np.int64)
    labels[:, :4, :] = 255
    return images, labels


def add_measure_args(parser: argparse.ArgumentParser) -> None:
    """The options both workers take: input size, repeats, precision, device."""
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (infer and train)")
    parser.add_argument("--save-pred")
    parser.add_argument("--traceback", action="store_true", help="raise instead of one line")


def run_worker(tasks: Dict[str, Callable[[Any], Dict[str, Any]]], args: Any) -> int:
    """Run ``tasks[args.task](args)`` and print its result; an error becomes a one-line result."""
    try:
        result = tasks[args.task](args)
        torch = sys.modules.get("torch")
        if torch is not None:
            result.update(torch=torch.__version__, threads=torch.get_num_threads())
        emit(ok=True, **result)
        return 0
    except Exception as exc:  # the driver prints this line in the row instead of a traceback
        emit(ok=False, error=f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
        if "--traceback" in sys.argv:
            raise
        return 1
