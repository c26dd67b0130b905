"""FCN R50-D8 at 512x512 on this machine: parameters, FLOPs and CPU forward time, NCHW vs channels_last.

Usage:
    python benchmarks/models.py [--config configs/fcn/fcn_r50-d8_512x512_20k_voc12aug.py]
        [--size 512] [--batch 1] [--repeat 5] [--warmup 1] [--threads N]

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` (one multiply-add = 2 FLOPs);
MMSegmentation's ``tools/get_flops.py`` (mmcv) reports multiply-adds under the name "GFLOPs", so
both numbers are printed. Times are the mean and min of ``--repeat`` forward passes
(``encode_decode``, eval mode, ``torch.inference_mode``) after ``--warmup`` passes; the
channels_last run uses the same weights and input in the same process and its logits are checked
against the NCHW ones.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from seglab.models import build_segmentor  # noqa: E402

DEFAULT_CONFIG = "configs/fcn/fcn_r50-d8_512x512_20k_voc12aug.py"


def fcn_r50_d8_model(num_classes: int = 21) -> dict:
    """MMSeg's fcn_r50-d8 base model (BN instead of SyncBN for one process)."""
    norm = dict(type="BN", requires_grad=True)
    head = lambda in_ch, idx, ch, n, cat, w: dict(  # noqa: E731
        type="FCNHead", in_channels=in_ch, in_index=idx, channels=ch, num_convs=n,
        concat_input=cat, dropout_ratio=0.1, num_classes=num_classes, norm_cfg=norm,
        align_corners=False, loss_decode=dict(type="CrossEntropyLoss", loss_weight=w))
    return dict(type="EncoderDecoder",
                backbone=dict(type="ResNetV1c", depth=50, dilations=(1, 1, 2, 4),
                              strides=(1, 2, 1, 1), norm_cfg=norm, contract_dilation=True),
                decode_head=head(2048, 3, 512, 2, True, 1.0),
                auxiliary_head=head(1024, 2, 256, 1, False, 0.4),
                train_cfg=dict(), test_cfg=dict(mode="whole"))


def load_model_cfg(path: str) -> dict:
    if path and os.path.exists(path):
        try:
            from seglab.config import Config
            return Config.fromfile(path).model
        except ImportError:
            pass
    print(f"(config {path!r} not loadable here; using the built-in fcn_r50-d8 dict)")
    return fcn_r50_d8_model()


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SyncBN -> BN on one process
        model = build_segmentor(load_model_cfg(args.config))
    if model.backbone.init_cfg is None:  # no pretrained file needed: MMSeg's random init
        model.init_weights()
    model.eval()
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, args.size, args.size)

    params = sum(p.numel() for p in model.parameters())
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model.encode_decode(x, None)
    flops = counter.get_total_flops() / args.batch

    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
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


if __name__ == "__main__":
    main()
