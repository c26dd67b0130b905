"""Export a segmentor to ONNX (MMSegmentation 0.x ``tools/pytorch2onnx.py``).

Usage:
    python tools/pytorch2onnx.py CONFIG [--checkpoint CKPT] [--output-file tmp.onnx]
        [--shape H [W]] [--dynamic-export] [--verify [--atol 1e-4] [--rtol 1e-5]]
        [--input-img IMG] [--rescale_shape H W] [--opset-version 17] [--show]
        [--cfg-options k=v ...]

The graph maps ``input`` (N, 3, H, W) normalised images to ``output`` (N, C, H, W) logits
(MMSeg 0.x exports the argmax label map instead; the logits let --verify compare numbers and
tools/deploy_test.py post-process exactly as tools/test.py). In ``slide`` mode the graph is one
``test_cfg.crop_size`` window and deploy_test runs the sliding window around it, so one file
serves every image size; ``--shape`` is then the image --verify slides over.
``--dynamic-export`` makes the batch, H and W dynamic (in slide mode too, unlike MMSeg 0.x:
the windows of an image smaller than the crop are smaller); the export then checks the graph
at another size with ONNX Runtime and refuses a graph that holds only at the traced size
(seglab.apis.onnx_export._check_other_size), and --verify also runs MMSeg's check on a 1.5x
larger batch of two. ``--verify`` prints the max abs logit
difference between ONNX Runtime and PyTorch and fails above ``atol + rtol * |logit|``.
Without ``--shape`` the size is the test pipeline's ``img_scale``, as in MMSeg.
Needs onnx and onnxruntime: ``pip install seglab[onnx]``.
"""
from __future__ import annotations

import argparse
import copy
import os.path as osp
import sys

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from seglab.apis.cli import run_tool  # noqa: E402
from seglab.config import DictAction  # noqa: E402
from seglab.errors import ConfigError  # noqa: E402

TOOL = "tools/pytorch2onnx.py"
MIN_OPSET = 11  # MMSeg 0.x's default; the exporter's bilinear Resize to a size needs it


def parse_args(argv=None) -> argparse.Namespace:
    from seglab.apis.onnx_export import DEFAULT_OPSET

    parser = argparse.ArgumentParser(description="Convert a seglab (MMSeg) model to ONNX")
    parser.add_argument("config", help="test config file path")
    parser.add_argument("--checkpoint", help="checkpoint file", default=None)
    parser.add_argument("--input-img", type=str, default=None,
                        help="an image to export and verify with (default: random input)")
    parser.add_argument("--show", action="store_true", help="print the exported graph")
    parser.add_argument("--verify", action="store_true",
                        help="compare ONNX Runtime's logits with PyTorch's")
    parser.add_argument("--atol", type=float, default=1e-4,
                        help="--verify bound: |onnx - pytorch| <= atol + rtol * |pytorch|")
    parser.add_argument("--rtol", type=float, default=1e-5, help="see --atol")
    parser.add_argument("--output-file", type=str, default="tmp.onnx")
    parser.add_argument("--opset-version", type=int, default=DEFAULT_OPSET,
                        help=f"ONNX opset (default {DEFAULT_OPSET}; MMSeg 0.x's 11 cannot "
                        "express the transformers' attention)")
    parser.add_argument("--shape", type=int, nargs="+", default=None,
                        help="input image height and width (one number: a square)")
    parser.add_argument("--rescale_shape", type=int, nargs="+", default=None,
                        help="whole mode: the graph resizes its logits to this height and width")
    parser.add_argument("--cfg-options", "--options", nargs="+", action=DictAction,
                        help="override config settings, key=value (e.g. "
                        "model.test_cfg.mode=slide)")
    parser.add_argument("--dynamic-export", action="store_true",
                        help="export with dynamic batch, height and width")
    return parser.parse_args(argv)


def input_shape_of(args: argparse.Namespace, cfg) -> tuple:
    """(1, 3, H, W): ``--shape``, else the test pipeline's ``img_scale`` (W, H), as MMSeg (a
    1.x config: its ``Resize`` ``scale``, also (W, H))."""
    if args.shape is None:
        try:
            pipeline = cfg.get("test_pipeline") or cfg.data.test.pipeline
            step = pipeline[1]
            scale = step["img_scale"] if "img_scale" in step or step.get("type") != "Resize" \
                else step["scale"]
            width, height = scale[:2]
        except (AttributeError, KeyError, IndexError, TypeError, ValueError):
            raise ConfigError("The config's test pipeline has no img_scale to export at; give "
                              "--shape H W.") from None
        return (1, 3, int(height), int(width))
    from seglab.apis.torchscript_export import input_shape_of as parse_shape

    return parse_shape(args.shape)  # pytorch2torchscript's --shape: H W, or one for a square


def image_input(cfg, path: str, input_shape: tuple):
    """``path`` through the test pipeline, resized to ``input_shape`` (MMSeg: keep_ratio off)
    and normalised (the pipeline defers its ``Normalize`` to the batch)."""
    from seglab.apis.inference import LoadImage
    from seglab.datasets import collate
    from seglab.datasets.collate import prepare_batch
    from seglab.datasets.transforms import Compose

    pipeline = copy.deepcopy(list(cfg.data.test.pipeline))
    aug = pipeline[1] if len(pipeline) > 1 else None
    scale = (input_shape[3], input_shape[2])
    if aug and aug.get("type") == "MultiScaleFlipAug":
        aug["img_scale"], aug["flip"] = scale, False
        aug["transforms"][0]["keep_ratio"] = False
    elif aug and aug.get("type") == "Resize" and "scale" in aug:  # a 1.x config's test pipeline
        aug["scale"], aug["keep_ratio"] = scale, False
    else:
        raise ConfigError("--input-img needs data.test.pipeline[1] to be a MultiScaleFlipAug "
                          "(or a 1.x config's Resize).")
    batch = prepare_batch(collate([Compose([LoadImage()] + pipeline[1:])(dict(img=path))]),
                          "cpu")
    return batch["img"][0] if isinstance(batch["img"], list) else batch["img"]


def main(argv=None) -> int:
    args = parse_args(argv)
    from seglab.apis.onnx_export import (DEFAULT_OPSET, export_onnx, require, test_mode_of,
                                         verify_onnx)
    from seglab.apis.inference import build_and_load
    from seglab.checkpoint import CheckpointMismatchError
    from seglab.config import load_config

    require("onnx", TOOL)  # before the work, with the install command
    if args.verify:
        require("onnxruntime", TOOL)
    if args.opset_version < MIN_OPSET:
        raise ConfigError(f"--opset-version {args.opset_version}: seglab's graphs need opset "
                          f"{MIN_OPSET} or above (ONNX Resize with sizes); the default is "
                          f"{DEFAULT_OPSET}.")
    if args.rescale_shape is not None and (len(args.rescale_shape) != 2 or
                                           min(args.rescale_shape) <= 0):
        raise ConfigError("--rescale_shape needs two positive numbers: H W.")
    out_dir = osp.dirname(osp.abspath(args.output_file))
    if not osp.isdir(out_dir):
        raise ConfigError(f"--output-file {args.output_file}: the folder {out_dir} does not "
                          "exist; create it first.")
    cfg = load_config(args.config, args.cfg_options)  # a 0.x or 1.x config
    input_shape = input_shape_of(args, cfg)
    try:
        model, meta = build_and_load(cfg, args.checkpoint, strict=True)
    except CheckpointMismatchError as err:
        raise err.for_tool(TOOL) from None
    model.eval()
    mode = test_mode_of(model)
    image = image_input(cfg, args.input_img, input_shape) if args.input_img else None
    export_onnx(model, args.output_file, input_shape, args.opset_version, args.dynamic_export,
                args.rescale_shape, args.show)
    print(f"Successfully exported ONNX model: {args.output_file}")
    if mode == "slide":
        h, w = model._slide_options()["crop_size"]
        print(f"slide mode: the graph is one {h}x{w} window; tools/deploy_test.py slides it "
              "over each image")
    if args.verify:
        results = verify_onnx(model, args.output_file, input_shape, args.dynamic_export,
                              args.rescale_shape, args.atol, args.rtol, image=image)
        for r in results:
            print(f"max abs logit difference between PyTorch and ONNX Runtime on a "
                  f"{'x'.join(map(str, r['shape']))} input: {r['max_abs']:.3g} (bound atol "
                  f"{args.atol:g} + rtol {args.rtol:g} * |logit|); the same class at "
                  f"{100 * r['same_labels']:.2f}% of the pixels")
        print("The outputs are same between Pytorch and ONNX")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
