"""Segment one image and show or save the overlay (MMSegmentation 0.x ``demo/image_demo.py``).

Usage:
    python demo/image_demo.py IMG CONFIG CHECKPOINT [--out-file overlay.png] [--device cpu]
        [--palette voc|cityscapes|ade20k] [--opacity 0.5]

Without a display, pass --out-file (the overlay is written there).
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from seglab.apis.cli import run_tool  # noqa: E402
from seglab.errors import ConfigError  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="seglab: segment one image")
    parser.add_argument("img", help="image file")
    parser.add_argument("config", help="config file")
    parser.add_argument("checkpoint", help="checkpoint file")
    parser.add_argument("--out-file", default=None, help="write the overlay to this file")
    parser.add_argument("--device", default=None,
                        help="device for inference (default: cuda:0 when available, else cpu)")
    parser.add_argument("--palette", default=None, help="palette of a dataset (voc, cityscapes, "
                        "ade20k); default: the checkpoint's (else the dataset's)")
    parser.add_argument("--opacity", type=float, default=0.5,
                        help="opacity of the painted segmentation map, in (0, 1]")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not 0 < args.opacity <= 1:
        raise ConfigError(f"--opacity {args.opacity}: must be in (0, 1].")

    from seglab.apis import inference_segmentor, init_segmentor, show_result_pyplot
    from seglab.apis.cli import resolve_device
    from seglab.visualization import get_palette

    palette = None
    if args.palette is not None:
        try:
            palette = get_palette(args.palette)
        except (KeyError, ValueError) as e:
            raise ConfigError(f"--palette {args.palette!r}: {e}") from None
    model = init_segmentor(args.config, args.checkpoint, device=resolve_device(args.device))
    result = inference_segmentor(model, args.img)
    show_result_pyplot(model, args.img, result, palette, opacity=args.opacity,
                       out_file=args.out_file)
    if args.out_file:
        print(f"Wrote {args.out_file}")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
