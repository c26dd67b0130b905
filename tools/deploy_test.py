"""Test an exported model with a deployment backend (MMSegmentation 0.x ``tools/deploy_test.py``).

Usage:
    python tools/deploy_test.py CONFIG MODEL.onnx onnxruntime [--eval mIoU [mDice mFscore]]
        [--out results.pkl] [--show] [--show-dir DIR] [--opacity 0.5] [--format-only
        --eval-options imgfile_prefix=DIR] [--work-dir DIR] [--cfg-options k=v ...]

The backend may also be given as ``--backend onnxruntime`` (0.x's spelling). The .onnx file
comes from tools/pytorch2onnx.py: ONNX Runtime computes the logits, and the rest is
tools/test.py's own code (whole or slide inference from the config's ``model.test_cfg``,
rescale to the original size, softmax, argmax, metrics, overlays, --out), so the metrics equal
tools/test.py's up to the logits' float differences. A static-shape whole-mode graph needs test
images of its size (export with --dynamic-export otherwise); images go one at a time, as in
MMSeg. ``tensorrt`` is not supported. Needs onnxruntime: ``pip install seglab[onnx]``.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
import time

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from seglab.apis.cli import run_tool  # noqa: E402
from seglab.config import DictAction  # noqa: E402
from seglab.errors import ConfigError  # noqa: E402

TOOL = "tools/deploy_test.py"
BACKENDS = ("onnxruntime", "tensorrt")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="seglab backend test (and eval)")
    parser.add_argument("config", help="test config file path")
    parser.add_argument("model", help="input model file (.onnx)")
    parser.add_argument("backend", nargs="?", choices=BACKENDS, default=None,
                        help="backend of the model: onnxruntime")
    parser.add_argument("--backend", dest="backend_option", choices=BACKENDS, default=None,
                        help="the backend, as MMSeg 0.x's option")
    parser.add_argument("--out", help="pickle the predictions to this .pkl file")
    parser.add_argument("--format-only", action="store_true", help="only write the results in "
                        "the dataset's submission format (needs --eval-options "
                        "imgfile_prefix=DIR)")
    parser.add_argument("--eval", type=str, nargs="+", help="metrics: mIoU, mDice, mFscore")
    parser.add_argument("--show", action="store_true", help="show results")
    parser.add_argument("--show-dir", help="directory where painted images will be saved")
    parser.add_argument("--work-dir", help="write the metrics to <work-dir>/eval_<timestamp>.json "
                        "(a seglab addition, as tools/test.py)")
    parser.add_argument("--cfg-options", "--options", nargs="+", action=DictAction,
                        help="override config settings, key=value")
    parser.add_argument("--eval-options", nargs="+", action=DictAction, default=None,
                        help="custom options for evaluation")
    parser.add_argument("--opacity", type=float, default=0.5,
                        help="opacity of painted segmentation map, in (0, 1]")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0)
    args = parser.parse_args(argv)
    if "LOCAL_RANK" not in os.environ:
        os.environ["LOCAL_RANK"] = str(args.local_rank)
    if args.backend and args.backend_option and args.backend != args.backend_option:
        parser.error(f"backend {args.backend} and --backend {args.backend_option} disagree")
    args.backend = args.backend or args.backend_option
    return args


def check_args(args: argparse.Namespace) -> None:
    """The backends seglab runs, then tools/test.py's checks of the same options."""
    import importlib.util

    if args.backend is None:
        raise ConfigError("Name the backend: tools/deploy_test.py CONFIG MODEL onnxruntime (or "
                          "--backend onnxruntime).")
    if args.backend == "tensorrt":
        raise ConfigError("The tensorrt backend is not supported in seglab (it needs mmcv's "
                          "compiled TensorRT plugins): test the .onnx file with the onnxruntime "
                          "backend, which runs on CUDA with onnxruntime-gpu installed.")
    from seglab.apis.outputs import check_out_path

    check_out_path(args.out)  # a .pkl file (tools/test.py also takes a 1.x folder of PNGs)
    spec = importlib.util.spec_from_file_location(
        "seglab_tools_test", osp.join(osp.dirname(osp.abspath(__file__)), "test.py"))
    test_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test_tool)
    # One process, one image per batch: the options deploy_test does not have are test.py's
    # defaults.
    test_tool.check_args(argparse.Namespace(**vars(args), batch_size=None, launcher="none"))


def main(argv=None) -> int:
    args = parse_args(argv)
    check_args(args)
    from seglab.apis.cli import build_test_loader, dump_json, prepare_test_config
    from seglab.apis.evaluator import split_eval_kwargs
    from seglab.apis.onnx_export import ONNXRuntimeSegmentor, require
    from seglab.apis.test import run_test
    from seglab.config import load_config
    from seglab.engine import get_root_logger

    require("onnxruntime", TOOL)
    cfg = load_config(args.config, args.cfg_options)  # a 0.x or 1.x config
    prepare_test_config(cfg)
    eval_kwargs = dict(args.eval_options or {})
    format_args, metric_kwargs = None, {}
    if args.format_only:
        format_args = eval_kwargs
        os.makedirs(eval_kwargs["imgfile_prefix"], exist_ok=True)
    else:
        metric_kwargs = split_eval_kwargs(eval_kwargs)
    logger = get_root_logger(log_level=cfg.get("log_level", "INFO"))
    dataset, loader = build_test_loader(cfg, batch_size=1)
    model = ONNXRuntimeSegmentor(args.model, cfg.model)
    model.CLASSES, model.PALETTE = dataset.CLASSES, dataset.PALETTE
    logger.info(f"Testing {len(dataset)} images with ONNX Runtime "
                f"({model.session.get_providers()[0]}), {model._test_mode()} mode")
    outputs = run_test(model, loader, metric=args.eval, logger=None, show=args.show,
                       show_dir=args.show_dir, opacity=args.opacity, out_file=args.out,
                       format_only=args.format_only, format_args=format_args,
                       eval_kwargs=metric_kwargs)
    if args.out:
        logger.info(f"Wrote the predictions of {outputs.num_images} images to {args.out}")
    if args.show_dir:
        logger.info(f"Wrote the painted results to {args.show_dir}")
    if args.eval and args.work_dir is not None:
        timestamp = time.strftime("%Y%m%d_%H%M%S", time.localtime())
        json_file = osp.join(args.work_dir, f"eval_{timestamp}.json")
        dump_json(dict(config=args.config, model=args.model, metric=outputs.metrics), json_file)
        logger.info(f"Wrote the metrics to {json_file}")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
