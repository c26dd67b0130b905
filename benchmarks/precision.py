"""float32 against bfloat16 inference: accuracy of the demo model, speed of FCN R50-D8 at 512x512.

Usage:
    python benchmarks/precision.py [--speed] [--size 512] [--repeat 5] [--threads N]
        [--demo-checkpoint CKPT --data-root DIR] [--precision bf16]

``--demo-checkpoint``: the demo model (configs/demo/fcn_r18-d8_synthetic_voc.py, trained by
``make demo`` or tools/train.py) is tested on the synthetic validation set under ``--data-root``
twice in the same process, with ``model.test_cfg.precision`` 'fp32' then ``--precision``; prints
both mIoU / aAcc, their difference in points and the fraction of pixels whose class agrees.

``--speed``: FCN R50-D8 (configs/fcn/fcn_r50-d8_512x512_20k_voc12aug.py, SyncBN -> BN, random
weights) in whole mode on one ``--size`` image, ``encode_decode`` under the precision's
autocast; fp32 and bf16 passes alternate (so load from other processes hits both alike), the
medians and their ratio are printed with the CPU and its bf16 flags. The precision's decision is
seglab.utils.precision's: on a CPU without native bf16 the "bf16" row runs in float32 (said).
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from models import DEFAULT_CONFIG, build_from_config, machine_line, time_forward  # noqa: E402
from seglab.utils.precision import autocast, cpu_bf16_support, effective_precision  # noqa: E402

DEMO_CONFIG = "configs/demo/fcn_r18-d8_synthetic_voc.py"


def demo_accuracy(checkpoint: str, data_root: str, precision: str) -> Dict[str, float]:
    """mIoU / aAcc of the demo model in fp32 and ``precision`` on the synthetic val set."""
    from seglab.apis import init_segmentor
    from seglab.apis.cli import build_test_loader, prepare_test_config
    from seglab.apis.test import run_test

    options = {"data_root": data_root, "data.test.data_root": data_root}
    model = init_segmentor(str(ROOT / DEMO_CONFIG), checkpoint, device="cpu", cfg_options=options)
    prepare_test_config(model.cfg)
    _, loader = build_test_loader(model.cfg, batch_size=4, workers=0)
    runs = {}
    for name in ("fp32", precision):
        model.test_cfg["precision"] = name
        runs[name] = run_test(model, loader, metric="mIoU", keep_predictions=True,
                              logger="silent")
    same = sum(int((a == b).sum()) for a, b in zip(runs["fp32"].predictions,
                                                    runs[precision].predictions))
    total = sum(p.size for p in runs["fp32"].predictions)
    out = {f"{k}_{name}": 100 * runs[name].metrics[k] for name in runs for k in ("mIoU", "aAcc")}
    out.update(images=runs["fp32"].num_images, pixel_agreement=same / total,
               miou_delta=out[f"mIoU_{precision}"] - out["mIoU_fp32"])
    print(f"demo model {DEMO_CONFIG} ({checkpoint}) on {out['images']} synthetic val images, "
          f"{effective_precision(precision, 'cpu')} as run:")
    print(f"  fp32:         mIoU {out['mIoU_fp32']:.2f}  aAcc {out['aAcc_fp32']:.2f}")
    print(f"  {precision}:         mIoU {out[f'mIoU_{precision}']:.2f}  "
          f"aAcc {out[f'aAcc_{precision}']:.2f}")
    print(f"  mIoU {precision} - fp32: {out['miou_delta']:+.3f} points; pixels with the same "
          f"class: {100 * out['pixel_agreement']:.3f}%")
    return out


def speed(size: int, repeat: int, warmup: int, precision: str) -> Dict[str, float]:
    """Median whole-inference seconds of FCN R50-D8 in fp32 and ``precision``, alternating."""
    torch.manual_seed(0)
    model = build_from_config(ROOT / DEFAULT_CONFIG)
    x = torch.randn(1, 3, size, size)
    times: Dict[str, list] = {"fp32": [], precision: []}
    outs = {}
    for i in range(warmup + repeat):
        for name in times:
            with autocast(name, "cpu"):
                outs[name], (seconds,) = time_forward(model, x, 1, 0)
            if i >= warmup:
                times[name].append(seconds)
    medians = {name: statistics.median(t) for name, t in times.items()}
    diff = (outs[precision] - outs["fp32"]).abs().max().item()
    agree = (outs[precision].argmax(1) == outs["fp32"].argmax(1)).float().mean().item()
    print(machine_line())
    print(f"bf16 support: {cpu_bf16_support().describe()}, native: {cpu_bf16_support().native}")
    print(f"FCN R50-D8 ({DEFAULT_CONFIG}, random weights), 1x3x{size}x{size}, whole "
          f"encode_decode, median of {repeat} alternating passes after {warmup} warm-up:")
    for name, value in medians.items():
        print(f"  {name} (runs as {effective_precision(name, 'cpu')}): {value * 1000:.0f} ms")
    ratio = medians["fp32"] / medians[precision]
    print(f"  speed-up fp32 / {precision}: {ratio:.2f}x; max |logit diff| {diff:.4f}, "
          f"argmax agreement {100 * agree:.2f}% (random weights)")
    return dict(medians, ratio=ratio, max_logit_diff=diff, argmax_agreement=agree)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", action="store_true", help="time FCN R50-D8 fp32 vs bf16")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--precision", default="bf16", choices=["bf16", "fp16"])
    parser.add_argument("--demo-checkpoint", help="checkpoint of the demo config")
    parser.add_argument("--data-root", help="the synthetic VOC dataset of the demo")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Dict[str, float]]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    np.set_printoptions(precision=4)
    results = {}
    if args.demo_checkpoint:
        if not args.data_root:
            raise SystemExit("--demo-checkpoint needs --data-root (the synthetic VOC folder)")
        results["demo"] = demo_accuracy(args.demo_checkpoint, args.data_root, args.precision)
    if args.speed:
        results["speed"] = speed(args.size, args.repeat, args.warmup, args.precision)
    if not results:
        raise SystemExit("nothing to do: pass --speed and/or --demo-checkpoint CKPT "
                         "--data-root DIR")
    return results


if __name__ == "__main__":
    main()
