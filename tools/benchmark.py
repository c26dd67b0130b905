"""Benchmark inference speed (MMSegmentation 0.x ``tools/benchmark.py``, with more numbers).

Usage:
    python tools/benchmark.py CONFIG CHECKPOINT [--repeat-times N] [--num-images 200]
        [--log-interval 50] [--device cpu|cuda] [--precision fp32|bf16|fp16] [--work-dir DIR]
        [--fuse-conv-bn] [--channels-last] [--compile [BACKEND]] [--options k=v ...]

Per run: the test set at batch size 1, 5 warm-up images, then the mean time of the network
forward plus post-processing over --num-images images (data loading excluded), fps, peak memory,
device name, torch version and GFLOPs. Results go to <work-dir>/fps_<timestamp>.json
(default work dir: ./work_dirs/<config name>, as MMSeg).
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
import time

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from seglab.apis.cli import run_tool  # noqa: E402
from seglab.config import add_cfg_options_args  # noqa: E402
from seglab.errors import ConfigError  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="seglab: benchmark a model")
    parser.add_argument("config", help="test config file path")
    parser.add_argument("checkpoint", help="checkpoint file")
    parser.add_argument("--log-interval", type=int, default=50, help="interval of logging")
    parser.add_argument("--work-dir", help="write the results to <work-dir>/fps_<time>.json")
    parser.add_argument("--repeat-times", type=int, default=1, help="number of timed runs")
    parser.add_argument("--num-images", type=int, default=200, help="timed images per run")
    parser.add_argument("--num-warmup", type=int, default=5, help="untimed images first")
    parser.add_argument("--device", default=None,
                        help="cpu, cuda or cuda:N (default: cuda when available, else cpu)")
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default=None,
                        help="autocast of the network (sets model.test_cfg.precision; default: "
                        "the config's, else fp32); see tools/test.py --precision")
    from seglab.apis.fast_paths import add_fast_path_args

    add_fast_path_args(parser)  # --fuse-conv-bn, --channels-last, --compile
    add_cfg_options_args(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.repeat_times < 1 or args.num_images < 1 or args.num_warmup < 0:
        raise ConfigError("--repeat-times and --num-images must be >= 1 and --num-warmup >= 0.")

    import numpy as np
    import torch

    from seglab.apis.benchmark import benchmark_segmentor
    from seglab.apis.cli import (build_test_loader, build_test_model, dump_json,
                                 prepare_test_config, resolve_device)
    from seglab.config import load_config
    from seglab.utils.precision import effective_precision, set_test_precision

    cfg = load_config(args.config, args.cfg_options)  # a 1.x config: its 0.x form
    prepare_test_config(cfg)
    if args.precision is not None:
        set_test_precision(cfg, args.precision)
    timestamp = time.strftime("%Y%m%d_%H%M%S", time.localtime())
    work_dir = args.work_dir or osp.join("./work_dirs",
                                         osp.splitext(osp.basename(args.config))[0])
    json_file = osp.join(work_dir, f"fps_{timestamp}.json")
    torch.backends.cudnn.benchmark = False  # MMSeg's setting: no autotuning noise
    device = resolve_device(args.device)
    cfg.model.train_cfg = None
    _, loader = build_test_loader(cfg, batch_size=1)
    model = build_test_model(cfg, args.checkpoint, device, strict=True,
                             tool="tools/benchmark.py")

    from seglab.apis.fast_paths import apply_fast_path_args, fast_path_names

    model = apply_fast_path_args(model, args)
    precision = effective_precision(model.test_precision, device)
    print(f"Precision: {precision}; fast paths: {fast_path_names(args)}")
    results = dict(config=args.config, unit="img / s", precision=precision,
                   fast_paths=fast_path_names(args))
    fps_list = []
    for run in range(args.repeat_times):
        print(f"Run {run + 1}:")
        stats = benchmark_segmentor(model, loader, num_images=args.num_images,
                                    num_warmup=args.num_warmup, log_interval=args.log_interval,
                                    device=device, count_flops_once=run == 0)
        print(f"Overall fps: {stats['fps']:.2f} img / s, mean time "
              f"{stats['mean_time_ms']:.2f} ms / img\n")
        results[f"overall_fps_{run + 1}"] = round(stats["fps"], 2)
        results[f"mean_time_ms_{run + 1}"] = round(stats["mean_time_ms"], 3)
        fps_list.append(stats["fps"])
        if run == 0:
            first = stats
    results.update(
        average_fps=round(float(np.mean(fps_list)), 2),
        fps_variance=round(float(np.var(fps_list)), 4),
        num_images=args.num_images, num_warmup=args.num_warmup, batch_size=1,
        device=first["device"], device_name=first["device_name"],
        torch_version=first["torch_version"], gflops=first["gflops"],
        flops_input_shape=first["flops_input_shape"],
        peak_memory_mb=round(stats["peak_memory_mb"], 1),
        peak_memory_kind=stats["peak_memory_kind"])
    print(f"Average fps of {args.repeat_times} evaluations: {results['average_fps']}")
    print(f"The variance of {args.repeat_times} evaluations: {results['fps_variance']}")
    gflops = "n/a" if first["gflops"] is None else f"{first['gflops']:.3f}"
    print(f"Device: {first['device_name']} ({first['device']}), torch {first['torch_version']}, "
          f"peak memory {results['peak_memory_mb']} MiB ({results['peak_memory_kind']}), "
          f"GFLOPs {gflops} at input {first['flops_input_shape']}")
    dump_json(results, json_file)
    print(f"Results written to {json_file}")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main, malloc_policy="speed"))  # one input size, over and over
