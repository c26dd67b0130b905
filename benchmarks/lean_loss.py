"""The lean resized cross-entropy (``BaseDecodeHead.lean_loss``) against the plain graph: one
FCN R18-D8 training step (decode + auxiliary head), batch 2 of 512x512, per class count.

    python benchmarks/lean_loss.py [--classes 19 150] [--steps 4] [--device cpu|cuda]

Each (class count, lean on/off) runs in a fresh child process (same interpreter): random weights
(seed 0), ``SEGLAB_MALLOC=memory`` on a CPU (each large block its own mapping, so the peak RSS
is the peak live memory and not the heap's history), the median step time after one warm-up
step, and the peak memory of the timed steps above the memory after the warm-up (on a CPU the
kernel's peak RSS, VmHWM, reset after the warm-up; on CUDA ``max_memory_allocated``). The
total loss of both must be equal (checked).
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

from eval_memory import rss_bytes  # benchmarks/eval_memory.py
from models import syncbn_to_bn  # benchmarks/models.py

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, "configs/fcn/fcn_r18-d8_512x1024_80k_cityscapes.py")


def reset_peak_rss() -> None:
    """Start the kernel's peak-RSS count (VmHWM) afresh from the current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss_since_reset() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(args) -> dict:
    import torch

    from seglab.config import Config
    from seglab.engine.optim_step import OptimStep
    from seglab.models import build_segmentor
    from seglab.models.decode_heads.decode_head import BaseDecodeHead

    cfg = Config.fromfile(CONFIG)
    model_cfg = syncbn_to_bn(cfg.model.to_dict())
    model_cfg["pretrained"] = None
    for head in ("decode_head", "auxiliary_head"):
        model_cfg[head]["num_classes"] = args.classes
    torch.manual_seed(0)
    BaseDecodeHead.lean_loss = args.lean
    model = build_segmentor(model_cfg).to(args.device).train()
    gen = torch.Generator().manual_seed(1)
    img = torch.randn(2, 3, 512, 512, generator=gen).to(args.device)
    label = torch.randint(0, args.classes, (2, 1, 512, 512), generator=gen).to(args.device)
    metas = [dict(img_shape=(512, 512, 3), ori_shape=(512, 512, 3), pad_shape=(512, 512, 3),
                  flip=False)] * 2
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    optim_step = OptimStep(args.device)
    cuda = args.device.startswith("cuda")

    def step() -> float:
        out = model.train_step(dict(img=img, img_metas=metas, gt_semantic_seg=label))
        optim_step.step(out["loss"], model, optimizer, 0, 1)
        return out["log_vars"]["loss"]

    losses = [step()]  # warm-up
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        reset_peak_rss()  # the warm-up's peak does not count
        base = rss_bytes()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        losses.append(step())
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() if cuda else peak_rss_since_reset()
    return dict(seconds=statistics.median(times), peak_mib=(peak - base) / 2 ** 20,
                peak_total_mib=peak / 2 ** 20, first_loss=losses[1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, nargs="+", default=[19, 150])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--lean", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.classes = args.classes[0]
        args.lean = bool(args.lean)
        print(json.dumps(child(args)))
        return 0
    import torch

    from seglab.apis.benchmark import device_name

    print(f"device: {device_name(torch.device(args.device))}, {os.cpu_count()} logical CPUs, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"FCN R18-D8 train step, batch 2 of 512x512, decode + auxiliary head, median of "
          f"{args.steps} steps after 1 warm-up; peak = above the memory after the warm-up\n")
    print("| classes | plain step | lean step | time lean / plain | plain peak | lean peak "
          "| peak lean / plain |")
    print("|---|---|---|---|---|---|---|")
    env = dict(os.environ, SEGLAB_MALLOC="memory")
    for classes in args.classes:
        res = {}
        for lean in (0, 1):
            cmd = [sys.executable, osp.abspath(__file__), "--child", "--classes", str(classes),
                   "--lean", str(lean), "--steps", str(args.steps), "--device", args.device]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if done.returncode:
                sys.stderr.write(done.stderr)
                return done.returncode
            res[lean] = json.loads(done.stdout.strip().splitlines()[-1])
        if res[0]["first_loss"] != res[1]["first_loss"]:
            print(f"loss differs for {classes} classes: {res[0]['first_loss']!r} (plain) vs "
                  f"{res[1]['first_loss']!r} (lean)", file=sys.stderr)
            return 1
        p, q = res[0], res[1]
        print(f"| {classes} | {p['seconds']:.3f} s | {q['seconds']:.3f} s | "
              f"{q['seconds'] / p['seconds']:.2f}x | {p['peak_mib']:.0f} MiB | "
              f"{q['peak_mib']:.0f} MiB | {q['peak_mib'] / p['peak_mib']:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
