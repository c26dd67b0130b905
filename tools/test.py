"""Test a segmentor: metrics, overlays, saved predictions (MMSegmentation 0.x ``tools/test.py``).

Usage:
    python tools/test.py CONFIG CHECKPOINT [--eval mIoU [mDice mFscore]] [--show]
        [--show-dir DIR] [--opacity 0.5] [--wait-time S] [--out results.pkl] [--format-only
        --eval-options imgfile_prefix=DIR] [--aug-test] [--batch-size N] [--device cpu]
        [--work-dir DIR] [--precision fp32|bf16|fp16] [--[no-]fuse-conv-bn]
        [--[no-]channels-last] [--plain] [--compile [BACKEND]] [--options k=v ...]
        MMSeg 1.x configs and flags too: [--tta] [--out DIR] [--cfg-options k=v ...]; without
        --eval a 1.x config is evaluated with its test_evaluator's metrics
    tools/dist_test.sh CONFIG CHECKPOINT GPUS [same arguments] [--gpu-collect] [--tmpdir DIR]

Images are decoded and go through the test pipeline in data.workers_per_gpu persistent loader
workers (the label maps for the metrics in a quarter as many more), stay uint8 up to the device,
where they are normalised, and go through the network --batch-size (data.test.samples_per_gpu)
at a time; the predictions equal those of batch size 1 without workers (seglab.apis.test).
Metrics stream: each prediction becomes per-class counts at once, so memory does not grow with
the number of test images (unless --out keeps the predictions). Under a launcher
(``--launcher pytorch``, as dist_test.sh passes) every process tests its shard of the dataset:
the metrics are summed over processes and equal a one-process run, rank 0 writes --out in
dataset order and the json, each process paints its own images under --show-dir.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
import time

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from seglab.apis.cli import run_tool, same_on_every_rank  # noqa: E402
from seglab.config import DictAction, add_cfg_options_args  # noqa: E402
from seglab.errors import ConfigError  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="seglab: test (and eval) a model")
    parser.add_argument("config", help="test config file path")
    parser.add_argument("checkpoint", help="checkpoint file")
    parser.add_argument("--work-dir", help="write the evaluation metrics to "
                        "<work-dir>/eval_<timestamp>.json")
    parser.add_argument("--aug-test", action="store_true", help="use flip and multi-scale "
                        "augmentation (ratios 0.5-1.75)")
    parser.add_argument("--out", help="pickle the predictions (uint8/uint16 label maps in "
                        "dataset order) to this .pkl file; a name without extension is a folder "
                        "for the predicted label PNGs, as MMSeg 1.x means it (metrics still "
                        "run)")
    parser.add_argument("--tta", action="store_true", help="MMSeg 1.x: test with the config's "
                        "tta_pipeline (for 0.x configs use --aug-test)")
    parser.add_argument("--format-only", action="store_true", help="only write the results in "
                        "the dataset's submission format (needs --eval-options "
                        "imgfile_prefix=DIR)")
    parser.add_argument("--eval", type=str, nargs="+", help="metrics: mIoU, mDice, mFscore")
    parser.add_argument("--show", action="store_true", help="show the results in a window")
    parser.add_argument("--show-dir", help="write painted results to this directory (a 1.x "
                        "config: DIR/vis_data/vis_image/, ground truth beside the prediction, "
                        "as MMSeg 1.x)")
    parser.add_argument("--wait-time", type=float, default=None, help="MMSeg 1.x: seconds each "
                        "--show window stays (default: 2 for a 1.x config, else until a key)")
    parser.add_argument("--opacity", type=float, default=None, help="opacity of the painted "
                        "segmentation map, in (0, 1] (default 0.5; a 1.x config: its "
                        "visualizer.alpha, 0.8)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="images per forward pass (default: data.test.samples_per_gpu or 1)")
    parser.add_argument("--device", default=None,
                        help="cpu, cuda or cuda:N (default: cuda when available, else cpu)")
    parser.add_argument("--gpu-id", type=int, default=0, help="GPU to use with --device cuda")
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default=None,
                        help="autocast of the network (sets model.test_cfg.precision; default: "
                        "the config's, else fp32): bf16 on CPUs with native bf16 (AMX / "
                        "avx512_bf16) or GPUs, fp16 on CUDA; float32 with a warning elsewhere. "
                        "Logits, softmax and argmax stay float32")
    from seglab.apis.fast_paths import add_fast_path_args

    add_fast_path_args(parser)  # --fuse-conv-bn, --channels-last, --compile
    parser.add_argument("--gpu-collect", action="store_true", help="distributed --out: gather "
                        "the predictions through the process group instead of temporary files")
    parser.add_argument("--tmpdir", help="distributed --out: folder for the per-process result "
                        "files (must be shared by all nodes of a multi-node run)")
    add_cfg_options_args(parser)
    parser.add_argument("--eval-options", nargs="+", action=DictAction, default=None,
                        metavar="KEY=VALUE", help="options of the evaluation / format_results, "
                        "e.g. imgfile_prefix=results nan_to_num=0")
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"],
                        default="none", help="job launcher")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0)
    args = parser.parse_args(argv)
    if "LOCAL_RANK" not in os.environ:
        os.environ["LOCAL_RANK"] = str(args.local_rank)
    return args


def check_args(args: argparse.Namespace) -> None:
    """The argument combinations MMSeg refuses, plus seglab's early checks."""
    from seglab.apis.outputs import check_out_path
    from seglab.evaluation.metrics import check_metrics

    args.out_dir = None
    if args.out and not osp.splitext(args.out.rstrip("/"))[1]:
        args.out_dir, args.out = args.out, None  # MMSeg 1.x: a folder of prediction PNGs
    if not (args.out or args.out_dir or getattr(args, "config_1x", False) or args.eval or
            args.format_only or args.show or args.show_dir):
        raise ConfigError('Please specify at least one operation (save/eval/format/show the '
                          'results) with the argument "--out", "--eval", "--format-only", '
                          '"--show" or "--show-dir".')
    if args.eval and args.format_only:
        raise ConfigError("--eval and --format-only cannot be both specified.")
    check_out_path(args.out)
    if args.eval:
        check_metrics(args.eval)  # names the allowed metrics
    if args.format_only and "imgfile_prefix" not in (args.eval_options or {}):
        raise ConfigError("--format-only needs the output folder: add --eval-options "
                          "imgfile_prefix=DIR.")
    if args.opacity is not None and not 0 < args.opacity <= 1:
        raise ConfigError(f"--opacity {args.opacity}: must be in (0, 1].")
    wait_time = getattr(args, "wait_time", None)  # tools/deploy_test.py has no --wait-time
    if wait_time is not None and wait_time < 0:
        raise ConfigError(f"--wait-time {wait_time}: must be >= 0 seconds (0: until a key).")
    if args.batch_size is not None and args.batch_size < 1:
        raise ConfigError(f"--batch-size {args.batch_size}: must be >= 1.")
    if args.launcher != "none" and args.show:
        raise ConfigError("--show opens a window in every process of a distributed test; use "
                          "--show-dir DIR (each process writes its images there) or test on one "
                          "process (tools/test.py without --launcher).")
    if args.show:
        from seglab.visualization import require_display

        require_display()  # before loading anything


def init_launcher(args: argparse.Namespace, cfg) -> "torch.device":
    """Join the process group of a distributed launch; the device this process tests on.

    Backend: the config's ``dist_params`` (NCCL on a machine without CUDA becomes gloo), gloo
    when ``--device cpu``. Device: ``--device`` if given, else this process's GPU under NCCL
    (set from LOCAL_RANK by ``init_dist``) and the CPU under gloo.
    """
    import torch
    import torch.distributed as dist

    from seglab.apis.cli import resolve_device
    from seglab.engine.launch import init_dist

    dist_params = dict(cfg.get("dist_params") or {})
    if args.device is not None and args.device.startswith("cpu"):
        dist_params["backend"] = "gloo"  # NCCL cannot reduce CPU tensors
    init_dist(args.launcher, **dist_params)
    if args.device is not None:
        return resolve_device(args.device, int(os.environ.get("LOCAL_RANK", 0)))
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def main(argv=None) -> int:
    args = parse_args(argv)
    with same_on_every_rank():
        from seglab.config import Config, is_1x_config

        raw = Config.fromfile(args.config)
        # 1.x: evaluates with test_evaluator by default; also the converted 1.x config that
        # tools/train.py dumps into the work dir (it keeps test_evaluator as test_evaluation),
        # which 1.x users pass back: tools/test.py WORK_DIR/CFG.py WORK_DIR/iter_N.pth
        args.config_1x = is_1x_config(raw) or "test_evaluation" in raw
        check_args(args)
    code = test(args)
    if args.launcher != "none":
        # Only after success: a failing rank just exits, and torchrun stops the others.
        from seglab.engine.launch import destroy_dist

        destroy_dist()
    return code


def apply_1x_args(cfg, args: argparse.Namespace) -> None:
    """MMSeg 1.x's ``--tta`` and its default evaluation (the config's ``test_evaluator``)."""
    if args.tta:
        if cfg.get("tta_pipeline") is None:
            raise ConfigError("--tta needs the config's tta_pipeline (a MMSegmentation 1.x "
                              "config has one); for a 0.x config use --aug-test.")
        cfg.data.test.pipeline = cfg.tta_pipeline
    if not args.config_1x or args.eval or args.format_only:
        return
    test_eval = cfg.get("test_evaluation") or {}  # converted from test_evaluator
    if test_eval.get("format_only"):
        args.format_only = True
        args.eval_options = dict(args.eval_options or {},
                                 imgfile_prefix=test_eval.get("output_dir") or "format_results")
    else:
        args.eval = list(test_eval.get("metric") or ["mIoU"])
        if test_eval.get("output_dir") and args.out_dir is None:  # IoUMetric(output_dir=DIR)
            args.out_dir = test_eval["output_dir"]


def test(args: argparse.Namespace) -> int:
    """Everything after argument checking: config, process group, data, model, the test run."""
    from seglab.apis.cli import (build_test_loader, build_test_model, dump_json,
                                 prepare_test_config, resolve_device)
    from seglab.apis.evaluator import split_eval_kwargs
    from seglab.apis.test import run_test
    from seglab.config import load_config
    from seglab.engine import get_root_logger
    from seglab.utils import get_dist_info
    from seglab.utils.precision import effective_precision, set_test_precision

    with same_on_every_rank():
        cfg = load_config(args.config, args.cfg_options)  # a 1.x config: its 0.x form
        apply_1x_args(cfg, args)
        try:
            prepare_test_config(cfg, aug_test=args.aug_test)
        except ConfigError as err:
            if not (args.aug_test and args.config_1x):
                raise
            raise ConfigError(f"{err} This is a MMSegmentation 1.x config: test-time "
                              f"augmentation is --tta (the config's tta_pipeline).") from None
        if args.precision is not None:
            set_test_precision(cfg, args.precision)
        eval_kwargs = dict(args.eval_options or {})
        format_args = format_fn = None
        if args.format_only:
            format_args = eval_kwargs
            os.makedirs(eval_kwargs["imgfile_prefix"], exist_ok=True)
            metric_kwargs = {}
        else:
            metric_kwargs = split_eval_kwargs(eval_kwargs)
        if args.out_dir is not None:  # 1.x --out DIR: prediction PNGs beside the metrics
            from functools import partial

            from seglab.datasets.result_files import write_iou_metric_pngs

            format_args = dict(imgfile_prefix=args.out_dir)
            format_fn = partial(write_iou_metric_pngs, output_dir=args.out_dir)  # as IoUMetric
            os.makedirs(args.out_dir, exist_ok=True)
    # Before the model is built: SyncBN layers pick their implementation from the process group.
    if args.launcher != "none":
        device = init_launcher(args, cfg)
    else:
        device = resolve_device(args.device, args.gpu_id)
    rank, world_size = get_dist_info()
    logger = get_root_logger(log_level=cfg.get("log_level", "INFO"))  # rank 0 logs, others: errors

    dataset, loader = build_test_loader(cfg, args.batch_size)
    # The bare segmentor, not DDP: a test forward needs no gradient or buffer synchronisation.
    model = build_test_model(cfg, args.checkpoint, device, dataset, strict=True, logger=logger,
                             tool="tools/test.py")
    from seglab.apis.fast_paths import apply_fast_path_args, fast_path_names

    model = apply_fast_path_args(model, args)
    logger.info(f"Fast paths: {fast_path_names(args)}")
    where = f"{world_size} processes ({device.type})" if world_size > 1 else str(device)
    logger.info(f"Testing {len(dataset)} images on {where} with batch size "
                f"{loader.batch_size}{' per process' if world_size > 1 else ''} in "
                f"{effective_precision(model.test_precision, device)}")

    from seglab.apis.show_1x import painter_for

    # a 1.x config paints as 1.x (seglab/apis/show_1x.py); None: 0.x's overlays
    painter = painter_for(cfg, model, dataset, args.show, args.show_dir, args.opacity,
                          args.wait_time)
    outputs = run_test(model, loader, metric=args.eval, device=device, logger=None,
                       show=args.show, show_dir=args.show_dir,
                       opacity=0.5 if args.opacity is None else args.opacity,
                       out_file=args.out, format_only=format_args is not None,
                       format_args=format_args, eval_kwargs=metric_kwargs,
                       tmpdir=args.tmpdir, gpu_collect=args.gpu_collect,
                       wait_time=args.wait_time or 0.0, painter=painter, format_fn=format_fn)
    if args.out:
        logger.info(f"Wrote the predictions of {outputs.num_images} images to {args.out}")
    if args.show_dir:
        folder = args.show_dir if painter is None else painter.describe()
        logger.info(f"Wrote the painted results to {folder}")
    if format_args is not None:
        logger.info(f"Wrote {len(outputs.files)} result files to "
                    f"{format_args['imgfile_prefix']}")
    if args.eval and args.work_dir is not None and rank == 0:
        timestamp = time.strftime("%Y%m%d_%H%M%S", time.localtime())
        json_file = osp.join(args.work_dir, f"eval_{timestamp}.json")
        dump_json(dict(config=args.config, metric=outputs.metrics), json_file)
        logger.info(f"Wrote the metrics to {json_file}")
    return 0


if __name__ == "__main__":
    from seglab.engine.launch import run_and_exit

    run_and_exit(lambda: run_tool(main))  # a distributed rank skips interpreter finalization
