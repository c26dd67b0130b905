"""Export a segmentor to TorchScript (MMSegmentation 0.x ``tools/pytorch2torchscript.py``).

Usage:
    python tools/pytorch2torchscript.py CONFIG [--checkpoint CKPT] [--output-file tmp.pt]
        [--shape H [W]] [--verify] [--show] [--cfg-options k=v ...]

Traces the whole-image network (``forward_dummy``: normalised (N, 3, H, W) images -> logits at
the input size) on one H x W image (default 512 x 512) and saves it with ``torch.jit.save``;
``torch.jit.load`` (or libtorch's ``torch::jit::load``) runs it without seglab. ``--verify``
runs the traced module and PyTorch on the same images and prints the max abs logit
difference (an error above 1e-4). ``--show`` prints the graph. The .pt accepts H x W images
only: see seglab/apis/torchscript_export.py for what it holds (meta.json: CLASSES, PALETTE,
img_norm_cfg) and which families fix the batch to 1. MMSegmentation 1.x configs work too (their
``--cfg-options`` use 1.x keys; img_norm_cfg comes from ``model.data_preprocessor``).
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from seglab.apis.cli import run_tool  # noqa: E402
from seglab.config import add_cfg_options_args  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Convert a seglab (MMSeg) model to TorchScript")
    parser.add_argument("config", help="test config file path")
    parser.add_argument("--checkpoint", default=None, help="checkpoint file (default: random "
                        "weights)")
    parser.add_argument("--show", action="store_true", help="show TorchScript graph")
    parser.add_argument("--verify", action="store_true", help="verify the TorchScript model "
                        "(max abs logit difference to PyTorch)")
    parser.add_argument("--output-file", type=str, default="tmp.pt")
    parser.add_argument("--shape", type=int, nargs="+", default=[512, 512],
                        help="input image size (height, width)")
    add_cfg_options_args(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from seglab.apis import torchscript_export as export
    from seglab.apis.cli import build_test_model
    from seglab.config import load_config

    input_shape = export.input_shape_of(args.shape)
    cfg = load_config(args.config, args.cfg_options)  # a 1.x config: its 0.x form
    model = build_test_model(cfg, args.checkpoint, torch.device("cpu"),
                             tool="tools/pytorch2torchscript.py")
    test_cfg = model.test_cfg or {}
    if test_cfg.get("mode") == "slide":
        crop = tuple(test_cfg["crop_size"])
        print(f"note: test_cfg.mode is 'slide': the TorchScript model segments one "
              f"{input_shape[2]}x{input_shape[3]} window; for the config's windows export with "
              f"--shape {crop[0]} {crop[1]} and run the sliding window around it.")
    traced = export.trace_segmentor(model, input_shape)
    if args.show:
        print(traced.segmentor.forward_dummy.inlined_graph)
    if args.verify:
        diff = export.verify(traced, model, input_shape)
        print(f"The outputs are same between PyTorch and TorchScript: max abs logit difference "
              f"{diff:.3g} (bound {export.DEFAULT_ATOL:g}).")
    export.save(traced, args.output_file,
                export.export_meta(model, input_shape, traced.batch_free, cfg))
    print(f"Successfully exported TorchScript model: {args.output_file}")
    print(export.input_description(traced))
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
