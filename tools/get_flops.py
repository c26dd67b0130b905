"""Parameters and FLOPs of a model at one input size (MMSegmentation 0.x ``tools/get_flops.py``).

Usage:
    python tools/get_flops.py CONFIG [--shape H [W]] [--device meta|cpu|cuda] [--options k=v ...]

The count is torch's own ``torch.utils.flop_counter.FlopCounterMode`` over ``forward_dummy``
(backbone, neck, decode head; no auxiliary head), the same as tools/benchmark.py reports. Both
units are printed, because they differ by a factor of two:

- FLOPs: torch's count, 2 per multiply-add of convolutions, matrix products and attention.
- MACs: multiply-accumulates, FLOPs / 2. MMSegmentation's get_flops (mmcv's
  ``get_model_complexity_info``) prints MACs under the label "Flops" / "GFLOPs": compare its
  number with the GMACs line. mmcv also adds small terms torch does not count (norms,
  activations, pooling, upsampling), so its number is a little higher.

The default device ``meta`` runs the forward on shapes only: no memory, no weights, instant
even at 2048x1024.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from seglab.apis.cli import run_tool  # noqa: E402
from seglab.config import add_cfg_options_args  # noqa: E402
from seglab.errors import ConfigError  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Get the FLOPs and parameters of a segmentor")
    parser.add_argument("config", help="config file path")
    parser.add_argument("--shape", type=int, nargs="+", default=[2048, 1024],
                        help="input image size: H W, or one number for a square")
    parser.add_argument("--device", default="meta",
                        help="meta (shapes only, the default), cpu or cuda")
    add_cfg_options_args(parser)
    return parser.parse_args(argv)


def input_shape_of(shape) -> tuple:
    """``--shape`` as (3, H, W), as MMSeg reads it."""
    if len(shape) == 1:
        return (3, shape[0], shape[0])
    if len(shape) == 2:
        return (3,) + tuple(shape)
    raise ConfigError(f"--shape {' '.join(map(str, shape))}: give H W or one size for a square "
                      "input.")


def get_flops(cfg, input_shape: tuple, device: str = "meta") -> dict:
    """``{'flops', 'macs', 'params'}`` of ``cfg.model`` on one (1, *input_shape) image."""
    import warnings

    import torch

    from seglab.apis.benchmark import count_flops
    from seglab.models import build_segmentor

    if min(input_shape[1:]) < 1:
        raise ConfigError(f"--shape {input_shape[1:]}: sizes must be >= 1.")
    cfg.model.pretrained = None  # counting needs no weights (and no download)
    cfg.model.train_cfg = None
    torch_device = torch.device(device)
    with warnings.catch_warnings(), torch_device:
        warnings.simplefilter("ignore")  # deprecation notes of 0.x names in the config
        model = build_segmentor(cfg.model)
    model.eval()
    if not hasattr(model, "forward_dummy"):
        raise ConfigError(f"FLOPs counter is currently not supported with "
                          f"{type(model).__name__} (it has no forward_dummy).")
    img = torch.zeros((1,) + tuple(input_shape), device=torch_device)
    flops = count_flops(model, img)
    params = sum(p.numel() for p in model.parameters())
    return dict(flops=flops, macs=flops // 2, params=params)


def main(argv=None) -> int:
    args = parse_args(argv)
    input_shape = input_shape_of(args.shape)
    from seglab.config import load_config

    cfg = load_config(args.config, args.cfg_options)  # a MMSeg 1.x config: its 0.x form
    result = get_flops(cfg, input_shape, args.device)
    split_line = "=" * 30
    print(f"{split_line}\nInput shape: {input_shape}\n"
          f"Flops: {result['flops'] / 1e9:.3f} GFLOPs (torch.utils.flop_counter, "
          f"2 per multiply-add)\n"
          f"MACs: {result['macs'] / 1e9:.3f} GMACs (= FLOPs / 2; the number MMSegmentation's "
          f"get_flops prints as \"GFLOPs\")\n"
          f"Params: {result['params'] / 1e6:.3f} M\n{split_line}")
    print("!!!Please be cautious if you use the results in papers. Only convolutions, matrix "
          "products and attention are counted; check that every op of your model is.")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
