"""Parameters, FLOPs and CPU forward time of segmentors built from the real config files.

Usage:
    python benchmarks/models.py [--config configs/fcn/fcn_r50-d8_512x512_20k_voc12aug.py]
        [--size 512] [--batch 1] [--repeat 5] [--warmup 1] [--threads N]
    python benchmarks/models.py --families [--family bisenetv2 --family fcn ...] [--size 512]
        [--repeat 3] [--warmup 1] [--max-gflops 400] [--threads N]

One model (the default): FCN R50-D8 or ``--config``, NCHW vs channels_last in the same process
(same weights and input; the logits are compared), mean and min of ``--repeat`` passes.

``--families``: one table, one representative config per family folder under configs/ (the
choice is ``REPRESENTATIVE`` below; a folder it does not name is measured with its first config
by name, so a new family shows up by itself). The real-time models come first, beside FCN-R18-D8.
Each model is built from its config file with SyncBN turned into BN (one process), randomly
initialised (no pretrained file is read), and run in whole mode: ``encode_decode`` of one
batch-1 ``--size`` x ``--size`` image, eval mode, ``torch.inference_mode``, NCHW. The time is the
median of ``--repeat`` passes after ``--warmup``. A model above ``--max-gflops`` is not timed (its
row says so), and one that cannot run at that size says why.

FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` (via ``seglab.apis.benchmark.count_flops``)
counts every convolution, linear layer and matrix product, a multiply-add as 2 FLOPs; the table
prints multiply-adds under "GFLOPs" as MMSegmentation's ``tools/get_flops.py`` (mmcv) does. mmcv
also counts biases, norms, activations, pooling and upsampling (element-wise, a few percent of a
CNN) and misses functional matrix products (attention), so transformer numbers here are higher.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from seglab.apis.benchmark import count_flops, device_name  # noqa: E402
from seglab.config import Config  # noqa: E402
from seglab.models import build_segmentor  # noqa: E402

DEFAULT_CONFIG = "configs/fcn/fcn_r50-d8_512x512_20k_voc12aug.py"

# Real-time models, measured first beside the FCN-R18-D8 baseline.
REALTIME = {
    "fcn": "fcn_r18-d8_512x1024_80k_cityscapes.py",
    "bisenetv1": "bisenetv1_r18-d32_4x4_1024x1024_160k_cityscapes.py",
    "bisenetv2": "bisenetv2_fcn_4x4_1024x1024_160k_cityscapes.py",
    "stdc": "stdc1_512x1024_80k_cityscapes.py",
    "fastscnn": "fast_scnn_lr0.12_8x4_160k_cityscapes.py",
    "icnet": "icnet_r18-d8_832x832_80k_cityscapes.py",
    "cgnet": "cgnet_512x1024_60k_cityscapes.py",
    "erfnet": "erfnet_fcn_4x4_512x1024_160k_cityscapes.py",
    "mobilenet_v3": "lraspp_m-v3-d8_512x1024_320k_cityscapes.py",
    "mobilenet_v2": "fcn_m-v2-d8_512x512_160k_ade20k.py",
}
# The others: the R-50 (or smallest) variant at 512x512 where the family has one.
REPRESENTATIVE = {
    **REALTIME,
    "ann": "ann_r50-d8_512x512_80k_ade20k.py",
    "apcnet": "apcnet_r50-d8_512x512_80k_ade20k.py",
    "beit": "upernet_beit-base_8x2_640x640_160k_ade20k.py",
    "ccnet": "ccnet_r50-d8_512x512_80k_ade20k.py",
    "convnext": "upernet_convnext_tiny_fp16_512x512_160k_ade20k.py",
    "danet": "danet_r50-d8_512x512_80k_ade20k.py",
    "deeplabv3": "deeplabv3_r50-d8_512x512_80k_ade20k.py",
    "deeplabv3plus": "deeplabv3plus_r50-d8_512x512_80k_ade20k.py",
    "dmnet": "dmnet_r50-d8_512x512_80k_ade20k.py",
    "dnlnet": "dnl_r50-d8_512x512_80k_ade20k.py",
    "dpt": "dpt_vit-b16_512x512_160k_ade20k.py",
    "emanet": "emanet_r50-d8_512x1024_80k_cityscapes.py",
    "encnet": "encnet_r50-d8_512x512_80k_ade20k.py",
    "fastfcn": "fastfcn_r50-d32_jpu_psp_512x512_80k_ade20k.py",
    "gcnet": "gcnet_r50-d8_512x512_80k_ade20k.py",
    "hrnet": "fcn_hr18_512x512_80k_ade20k.py",
    "isanet": "isanet_r50-d8_512x512_80k_ade20k.py",
    "mae": "upernet_mae-base_fp16_8x2_512x512_160k_ade20k.py",
    "nonlocal_net": "nonlocal_r50-d8_512x512_80k_ade20k.py",
    "ocrnet": "ocrnet_hr18_512x512_80k_ade20k.py",
    "point_rend": "pointrend_r50_512x512_160k_ade20k.py",
    "poolformer": "fpn_poolformer_s12_8x4_512x512_40k_ade20k.py",
    "psanet": "psanet_r50-d8_512x512_80k_ade20k.py",
    "pspnet": "pspnet_r50-d8_512x512_80k_ade20k.py",
    "resnest": "deeplabv3_s101-d8_512x512_160k_ade20k.py",
    "segformer": "segformer_mit-b0_512x512_160k_ade20k.py",
    "segmenter": "segmenter_vit-t_mask_8x1_512x512_160k_ade20k.py",
    "sem_fpn": "fpn_r50_512x512_160k_ade20k.py",
    "setr": "setr_naive_512x512_160k_b16_ade20k.py",
    "swin": "upernet_swin_tiny_patch4_window7_512x512_160k_ade20k_pretrain_224x224_1K.py",
    "twins": "twins_pcpvt-s_fpn_fpnhead_8x4_512x512_80k_ade20k.py",
    "unet": "fcn_unet_s5-d16_4x4_512x1024_160k_cityscapes.py",
    "upernet": "upernet_r50_512x512_80k_ade20k.py",
    "vit": "upernet_deit-s16_512x512_80k_ade20k.py",
}
NOT_FAMILIES = ("_base_", "demo", "1.x")  # 1.x: MMSeg 1.x configs of the same families


def family_configs(configs_dir: Path = ROOT / "configs",
                   only: Optional[Sequence[str]] = None) -> List[tuple]:
    """``(family, config path)`` per family folder: real-time ones first, then by name."""
    folders = sorted(p.name for p in configs_dir.iterdir()
                     if p.is_dir() and p.name not in NOT_FAMILIES)
    if only:
        unknown = sorted(set(only) - set(folders))
        if unknown:
            raise SystemExit(f"--family {', '.join(unknown)}: no such folder under "
                             f"{configs_dir}; the families are: {', '.join(folders)}")
        folders = [f for f in folders if f in only]
    order = list(REALTIME) + [f for f in folders if f not in REALTIME]
    rows = []
    for family in (f for f in order if f in folders):
        name = REPRESENTATIVE.get(family)
        if name is None or not (configs_dir / family / name).exists():
            name = sorted(p.name for p in (configs_dir / family).glob("*.py"))[0]
        rows.append((family, configs_dir / family / name))
    return rows


def syncbn_to_bn(cfg: Any) -> Any:
    """A copy of a config tree with every ``type='SyncBN'`` made ``'BN'`` (one process)."""
    if isinstance(cfg, dict):
        out = {k: syncbn_to_bn(v) for k, v in cfg.items()}
        if out.get("type") == "SyncBN":
            out["type"] = "BN"
        return out
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(syncbn_to_bn(v) for v in cfg)
    return cfg


def build_from_config(path, device: str = "cpu") -> torch.nn.Module:
    """The config's segmentor with plain BN, random weights, eval mode (no pretrained file read)."""
    model_cfg = syncbn_to_bn(Config.fromfile(str(path)).to_dict()["model"])
    with warnings.catch_warnings(), torch.device(device):
        warnings.simplefilter("ignore")  # deprecation notes of 0.x names the configs use
        model = build_segmentor(model_cfg)
    return model.eval()


def count_macs(model: torch.nn.Module, img: torch.Tensor) -> int:
    """Multiply-adds of one whole-image forward (mmcv's "FLOPs"): FlopCounterMode's count / 2."""
    return count_flops(model, img) // 2


def median_forward_time(model, x: torch.Tensor, repeat: int, warmup: int) -> float:
    """Median seconds of ``repeat`` ``encode_decode`` passes after ``warmup`` untimed ones."""
    return statistics.median(time_forward(model, x, repeat, warmup)[1])


@dataclass
class Row:
    family: str
    config: str
    params: Optional[int] = None
    macs: Optional[int] = None
    seconds: Optional[float] = None
    note: str = ""


def measure_family(family: str, path: Path, size: int, repeat: int, warmup: int,
                   max_gflops: Optional[float]) -> Row:
    row = Row(family, path.name)
    x_meta = torch.zeros(1, 3, size, size, device="meta")
    try:
        # Parameters and multiply-adds on the meta device first: no memory, no compute.
        model = build_from_config(path, device="meta")
        row.params = sum(p.numel() for p in model.parameters())
        try:
            row.macs = count_macs(model, x_meta)
        except Exception:  # noqa: BLE001 - data-dependent ops: count on real tensors below
            row.macs = None
        if max_gflops is not None and row.macs is not None and row.macs / 1e9 > max_gflops:
            row.note = f"not timed: {row.macs / 1e9:.0f} GFLOPs > --max-gflops {max_gflops:g}"
            return row
        torch.manual_seed(0)
        model = build_from_config(path)
        x = torch.randn(1, 3, size, size)
        if row.macs is None:
            row.macs = count_macs(model, x)
        row.seconds = median_forward_time(model, x, repeat, warmup)
    except Exception as exc:  # noqa: BLE001 - one family's failure must not end the table
        row.note = f"skipped: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return row


def format_table(rows: Sequence[Row]) -> str:
    """A Markdown table; the note column says why a row has no time."""
    width = max([len("config")] + [len(r.config) for r in rows])
    lines = [f"| {'family':<13} | {'config':<{width}} | params (M) |   GFLOPs |    CPU ms | note |",
             f"|{'-' * 15}|{'-' * (width + 2)}|{'-' * 12}|{'-' * 10}|{'-' * 11}|------|"]
    for r in rows:
        params = "" if r.params is None else f"{r.params / 1e6:.2f}"
        macs = "" if r.macs is None else f"{r.macs / 1e9:.1f}"
        ms = "" if r.seconds is None else f"{r.seconds * 1000:.1f}"
        lines.append(f"| {r.family:<13} | {r.config:<{width}} | {params:>10} | {macs:>8} | "
                     f"{ms:>9} | {r.note} |")
    return "\n".join(lines)


def machine_line() -> str:
    return (f"CPU: {device_name(torch.device('cpu'))} ({os.cpu_count()} logical CPUs, "
            f"{torch.get_num_threads()} torch threads), torch {torch.__version__}")


def run_families(args) -> List[Row]:
    print(machine_line())
    print(f"input: 1x3x{args.size}x{args.size}, whole-mode encode_decode, eval, NCHW, "
          f"median of {args.repeat} after {args.warmup} warm-up; GFLOPs = multiply-adds "
          f"(mmcv's convention); SyncBN -> BN; random weights")
    rows = []
    for family, path in family_configs(only=args.family):
        rows.append(measure_family(family, path, args.size, args.repeat, args.warmup,
                                   args.max_gflops))
        print(f"  measured {family}", file=sys.stderr, flush=True)
    print(format_table(rows))
    return rows


def time_forward(model, x, repeat: int, warmup: int):
    with torch.inference_mode():
        for _ in range(warmup):
            out = model.encode_decode(x, None)
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            out = model.encode_decode(x, None)
            times.append(time.perf_counter() - start)
    return out, times


def run_single(args) -> None:
    torch.manual_seed(0)
    model = build_from_config(ROOT / args.config)
    if model.backbone.init_cfg is None:  # no pretrained file needed: MMSeg's random init
        model.init_weights()
    x = torch.randn(args.batch, 3, args.size, args.size)

    params = sum(p.numel() for p in model.parameters())
    flops = count_flops(model, x) / args.batch

    print(machine_line())
    print(f"model: {args.config} (whole-image encode_decode, eval)")
    print(f"input: {args.batch}x3x{args.size}x{args.size}")
    print(f"parameters: {params:,}")
    print(f"GFLOPs per image: {flops / 1e9:.1f} (= {flops / 2e9:.1f} GMACs, mmcv's 'GFLOPs')")

    out_nchw, t_nchw = time_forward(model, x, args.repeat, args.warmup)
    model_cl = model.to(memory_format=torch.channels_last)
    out_cl, t_cl = time_forward(model_cl, x.contiguous(memory_format=torch.channels_last),
                                args.repeat, args.warmup)
    diff = (out_cl.float() - out_nchw.float()).abs().max().item()
    for name, times in (("NCHW", t_nchw), ("channels_last", t_cl)):
        mean = statistics.mean(times)
        print(f"{name:>14}: mean {mean * 1000:8.1f} ms, min {min(times) * 1000:8.1f} ms "
              f"({flops * args.batch / mean / 1e9:.1f} GFLOP/s)")
    print(f"channels_last speed-up (mean NCHW / mean channels_last): "
          f"{statistics.mean(t_nchw) / statistics.mean(t_cl):.2f}x; max |logit diff| {diff:.2e}")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--families", action="store_true",
                        help="one table: a representative config per family folder")
    parser.add_argument("--family", action="append", default=None,
                        help="with --families: only this family folder (repeatable)")
    parser.add_argument("--max-gflops", type=float, default=None,
                        help="with --families: do not time models above this many GFLOPs")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=None,
                        help="timed passes (default 5; 3 with --families)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 3 if args.families else 5
    if args.repeat < 1 or args.size < 32:
        parser.error("need --repeat >= 1 and --size >= 32")
    return args


def main(argv: Optional[Sequence[str]] = None) -> Optional[List[Row]]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.families:
        return run_families(args)
    run_single(args)
    return None


if __name__ == "__main__":
    main()
