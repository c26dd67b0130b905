"""Samples/s of the Pascal VOC training pipeline (512x512 crops) with 0, 1 and 2 DataLoader workers.

    python benchmarks/data.py [--num-images 64] [--size 512] [--batches 30] [--workers 0 1 2]

Runs on synthetic VOC-style data (generated once into --data-dir, default a temporary folder;
images of up to --size px, labels with the VOC boundary band) through the train pipeline of
configs/_base_/datasets/pascal_voc12.py (Resize with ratio 0.5-2.0, RandomCrop 512x512,
RandomFlip, PhotoMetricDistortion, Normalize, Pad, DefaultFormatBundle, Collect) with the
DataLoader that training uses (build_dataloader: InfiniteSampler, per-sample seeds, persistent
workers, collate). Each worker count gets a warm-up of a few batches (worker start-up excluded),
then --batches timed batches of --batch-size; the speed-up is relative to 0 workers, measured in
the same invocation. Also reports how many bytes one batch carries (images stay uint8 until
``prepare_batch`` normalises them on the device).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import platform
import tempfile
import time

import torch

from seglab.config import Config
from seglab.datasets import build_dataloader, build_dataset, make_synthetic_voc

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-images", type=int, default=64)
    parser.add_argument("--size", type=int, default=512, help="longer side of the images")
    parser.add_argument("--batches", type=int, default=30, help="timed batches per setting")
    parser.add_argument("--warmup", type=int, default=3, help="untimed batches per setting")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data-dir", default=None, help="where the synthetic data goes")
    return parser.parse_args()


def samples_per_second(dataset, workers: int, args) -> float:
    loader = build_dataloader(dataset, samples_per_gpu=args.batch_size, workers_per_gpu=workers,
                              seed=0)
    it = iter(loader)
    for _ in range(args.warmup):
        next(it)
    start = time.perf_counter()
    for _ in range(args.batches):
        batch = next(it)
    elapsed = time.perf_counter() - start
    assert tuple(batch["img"].shape[-2:]) == (512, 512)
    del it, loader  # stops the persistent workers
    return args.batches * args.batch_size / elapsed


def main() -> None:
    args = parse_args()
    data_dir = args.data_dir or osp.join(tempfile.gettempdir(), "seglab_bench_synthetic_voc")
    start = time.perf_counter()
    root = make_synthetic_voc(data_dir, num_train=args.num_images, num_val=0, size=args.size,
                              seed=0)
    print(f"synthetic data: {args.num_images} images of up to {args.size} px in {root} "
          f"({time.perf_counter() - start:.1f} s, reused when present)")

    cfg = Config.fromfile(osp.join(ROOT, "configs/_base_/datasets/pascal_voc12.py"))
    train_cfg = cfg.data.train
    train_cfg.data_root = root
    dataset = build_dataset(train_cfg)
    sample = dataset[0]
    per_batch = sample["img"].numel() * sample["img"].element_size() * args.batch_size
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads")
    print(f"img per batch: {tuple(sample['img'].shape)} x {args.batch_size}, {sample['img'].dtype}"
          f" = {per_batch / 2**20:.1f} MiB")

    results = {}
    for workers in args.workers:
        results[workers] = samples_per_second(dataset, workers, args)
        base = results.get(args.workers[0])
        print(f"workers={workers}: {results[workers]:7.1f} samples/s  "
              f"(x{results[workers] / base:.2f} vs workers={args.workers[0]})")


if __name__ == "__main__":
    main()
