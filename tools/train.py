"""Train a segmentor from an MMSegmentation 0.x or 1.x config, as MMSegmentation's tools/train.py.

Usage:
    python tools/train.py CONFIG [--work-dir DIR] [--resume-from CKPT | --load-from CKPT]
        [--auto-resume | --resume [CKPT]] [--no-validate] [--options k=v ...] [--seed N]
        [--diff_seed]
        [--deterministic] [--device cpu|cuda] [--amp] [--eval-precision fp32|bf16|fp16]
        [--no-label-check]
        [--launcher none|pytorch|slurm]

A 1.x config (``train_dataloader``, ``optim_wrapper``, ...) is converted once to the 0.x form
(:func:`seglab.config.load_config`); ``--cfg-options`` then use the 1.x keys, and 1.x's
``--resume`` (the latest checkpoint of the work dir; ``--resume CKPT``: that file) works too.

The work dir (default ``work_dirs/<config name>``) receives the resolved config, ``<timestamp>.log``,
``<timestamp>.log.json``, ``iter_N.pth``, ``latest.pth`` and ``best_<metric>_iter_N.pth``.
"""
from __future__ import annotations

import argparse
import copy
import logging
import os
import os.path as osp
import sys
import time
import warnings
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from seglab.config import Config, add_cfg_options_args, load_config  # noqa: E402
from seglab.errors import SeglabError  # noqa: E402

if TYPE_CHECKING:  # imported lazily at run time, so that --help stays fast
    from seglab.engine.resume import ResumeSource

_WORKER_TRACEBACK = "Original Traceback (most recent call last):"


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a segmentor")
    parser.add_argument("config", help="train config file path")
    parser.add_argument("--work-dir", help="the dir to save logs and models")
    parser.add_argument("--load-from", help="the checkpoint file to load weights from")
    parser.add_argument("--resume-from", help="the checkpoint file to resume from")
    parser.add_argument("--no-validate", action="store_true",
                        help="do not evaluate the checkpoints during training")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--gpus", type=int, help="(deprecated, kept for compatibility) number of GPUs; "
                       "only 1 is supported without a launcher")
    group.add_argument("--gpu-ids", type=int, nargs="+",
                       help="(deprecated, kept for compatibility) ids of GPUs; only one is used")
    group.add_argument("--gpu-id", type=int, default=0, help="id of the GPU to use (non-distributed)")
    parser.add_argument("--seed", type=int, default=None, help="random seed")
    parser.add_argument("--diff_seed", "--diff-seed", dest="diff_seed", action="store_true",
                        help="whether or not to set different seeds for different ranks")
    parser.add_argument("--deterministic", action="store_true",
                        help="whether to set deterministic options for the CUDNN backend")
    add_cfg_options_args(parser)
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none",
                        help="job launcher")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0,
                        help="set by torch.distributed.launch (torchrun uses LOCAL_RANK)")
    parser.add_argument("--auto-resume", action="store_true",
                        help="resume from the latest checkpoint in the work dir automatically")
    parser.add_argument("--resume", nargs="?", const=True, default=None, metavar="CKPT",
                        help="MMSeg 1.x's flag: alone, as --auto-resume; with a checkpoint, as "
                        "--resume-from CKPT (put it after CONFIG)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None,
                        help="device to train on (default: cuda when available, else cpu)")
    parser.add_argument("--amp", action="store_true",
                        help="mixed precision: float16 autocast with a loss scaler on CUDA, "
                        "bfloat16 autocast on a CPU with native bf16 (AMX / avx512_bf16); "
                        "float32 with a warning elsewhere")
    parser.add_argument("--eval-precision", choices=["fp32", "bf16", "fp16"], default=None,
                        help="precision of the evaluation during training (sets "
                        "model.test_cfg.precision; default: the config's, else fp32)")
    parser.add_argument("--no-label-check", action="store_true",
                        help="skip the start-up check of a sample of the training labels (it "
                        "stops on 0/255 binary masks; same as `label_check = False` in the config)")
    args = parser.parse_args(argv)
    if "LOCAL_RANK" not in os.environ:
        os.environ["LOCAL_RANK"] = str(args.local_rank)
    return args


def config_options(args: argparse.Namespace) -> dict:
    """``--cfg-options``, plus ``resume=True`` for a bare ``--resume``: MMSeg 1.x's flag sets
    ``cfg.resume = True``, so a 1.x config with ``load_from`` resumes from that file (mmengine's
    ``Runner.load_or_resume``), not from the work dir (see ``v1x_schedule.convert_runtime``)."""
    options = dict(args.cfg_options or {})
    if args.resume is True:
        options.setdefault("resume", True)
    return options


def apply_args(cfg: Config, args: argparse.Namespace) -> None:
    """Command-line flags override the config (``--cfg-options`` were merged by
    :func:`load_config`), with MMSeg's priorities."""
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get("work_dir") is None:
        cfg.work_dir = osp.join("./work_dirs", osp.splitext(osp.basename(args.config))[0])
    if args.load_from is not None:
        cfg.load_from = args.load_from
    if args.resume_from is not None:
        cfg.resume_from = args.resume_from
    if isinstance(args.resume, str):
        cfg.resume_from = args.resume
    # A 1.x config's randomness.deterministic / diff_rank_seed (see seglab/config/v1x_schedule.py).
    args.deterministic = bool(args.deterministic or cfg.get("deterministic", False))
    args.diff_seed = bool(args.diff_seed or cfg.get("diff_seed", False))
    if args.gpus is not None:
        warnings.warn("--gpus is deprecated: non-distributed training uses one GPU; use --gpu-id.")
        cfg.gpu_ids = list(range(1))
    elif args.gpu_ids is not None:
        warnings.warn("--gpu-ids is deprecated: non-distributed training uses one GPU; the first "
                      "id is used.")
        cfg.gpu_ids = args.gpu_ids[:1]
    else:
        cfg.gpu_ids = [args.gpu_id]
    cfg.auto_resume = bool(args.auto_resume or args.resume is True or
                           cfg.get("auto_resume", False))
    if args.amp:
        cfg.amp = "auto"  # decided on the training device (seglab.utils.precision.train_amp)
    if args.eval_precision is not None:
        from seglab.utils.precision import set_test_precision

        set_test_precision(cfg, args.eval_precision)
    if args.device is not None:
        cfg.device = args.device
    if cfg.get("device") == "cuda" and args.launcher == "none":
        cfg.device = f"cuda:{cfg.gpu_ids[0]}"


def init_launcher(launcher: str, cfg: Config) -> bool:
    """Join the process group of a distributed launch; returns whether the run is distributed."""
    if launcher == "none":
        return False
    try:
        from seglab.engine.launch import init_dist
    except ImportError:
        raise SeglabError(f"--launcher {launcher} is not yet supported by this seglab version; "
                          f"train on one device with --launcher none.") from None
    dist_params = dict(cfg.get("dist_params") or {})
    if str(cfg.get("device") or "").startswith("cpu"):
        dist_params["backend"] = "gloo"  # --device cpu: NCCL cannot reduce CPU tensors
    _, world_size = init_dist(launcher, **dist_params)
    cfg.gpu_ids = list(range(world_size))
    return True


def find_resume(cfg: Config, logger: logging.Logger) -> "ResumeSource":
    """The checkpoint this run resumes from, found and read once.

    Its seed is used here (resuming with the original seed makes the data sampler continue the
    original stream, which exact resume needs; MMSeg silently draws a new one) and the runner
    restores its state from the same loaded dict. ``--auto-resume`` skips unreadable files,
    saying which and why.
    """
    from seglab.config.v1x_checkpoint import resume_note
    from seglab.engine.resume import resolve_resume

    source = resolve_resume(cfg.get("resume_from"), bool(cfg.get("auto_resume")), cfg.work_dir,
                            logger=logger)
    note = resume_note(source.checkpoint)  # what a MMSeg 1.x checkpoint does not restore
    if note:
        logger.warning(f"{source.path}: {note}")
    return source


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from seglab.apis.cli import launch_rank, same_on_every_rank
    from seglab.engine import NonFiniteLossError
    from seglab.engine.dist import PEER_FAILURE_NOTE, is_peer_failure

    try:
        if argv is None:  # the process is the tool's: its allocator policy (SEGLAB_MALLOC)
            from seglab.utils.malloc import apply_malloc_policy_from_env

            # 'speed': every iteration allocates the same sizes (crops of one size)
            apply_malloc_policy_from_env(default="speed")
        with same_on_every_rank():  # config mistakes: every rank of a launch has the same one
            cfg = load_config(args.config, config_options(args))  # a 1.x config: its 0.x form
            apply_args(cfg, args)
        return train(cfg, args)
    except SeglabError as err:
        # A user mistake (config, data, checkpoint) or a diverged run: the message says what to do.
        # NaN/Inf stops every rank at the same iteration (the check is all-reduced): show it once.
        rank, world_size = launch_rank()
        if world_size > 1 and (getattr(err, "same_on_every_rank", False)
                               or isinstance(err, NonFiniteLossError)):
            if rank == 0:
                print(f"error: {one_line(err)}", file=sys.stderr)
        else:
            tag = f"[rank {rank}] " if world_size > 1 else ""
            print(f"error: {tag}{one_line(err)}", file=sys.stderr)
        return 2
    except ImportError as err:
        # An optional package the config asks for (e.g. tensorboard for TensorboardLoggerHook);
        # a failing import inside seglab itself is a bug: keep its traceback.
        if (getattr(err, "name", None) or "").split(".")[0] == "seglab":
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        if not is_peer_failure(err):
            raise
        print(f"note: [rank {launch_rank()[0]}] {PEER_FAILURE_NOTE}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; resume with --resume-from <work_dir>/latest.pth", file=sys.stderr)
        return 130
    finally:
        # Flush and release <timestamp>.log (matters when main() runs in-process, e.g. in tests).
        from seglab.engine.logging import close_file_handlers

        close_file_handlers(logging.getLogger("seglab"))


def one_line(err: BaseException) -> str:
    """The user-facing message of ``err``, without a DataLoader worker's re-raised traceback."""
    text = str(err)
    if _WORKER_TRACEBACK in text:
        marker = f"{type(err).__name__}: "
        position = text.rfind(marker)
        if position >= 0:
            text = text[position + len(marker):]
    return text.strip()


def train(cfg: Config, args: argparse.Namespace) -> int:
    """Everything after parsing: process group, work dir, logs, seed, model, data, training."""
    import torch

    from seglab.apis.cli import same_on_every_rank
    from seglab.apis.train import train_segmentor
    from seglab.datasets.label_sample_check import check_label_sample

    if cfg.get("cudnn_benchmark", False) and not args.deterministic:
        torch.backends.cudnn.benchmark = True
    distributed = init_launcher(args.launcher, cfg)
    logger, timestamp, meta = start_logs(cfg, distributed)
    with same_on_every_rank():  # every rank reads the same checkpoint, config and data files
        resume = find_resume(cfg, logger)
        meta["seed"] = choose_seed(cfg, args, logger, resume.seed)
        meta["exp_name"] = osp.basename(args.config)
        model, datasets = build_model_and_data(cfg, logger)
        if not args.no_label_check and cfg.get("label_check", True):
            # Every rank reads the same files, so every rank stops alike: no rank left waiting.
            check_label_sample(datasets[0], logger)
    # Saved in the json log and every checkpoint, so tools/test.py and inference know the classes.
    palette = datasets[0].PALETTE
    meta.update(config=cfg.pretty_text, CLASSES=list(datasets[0].CLASSES),
                PALETTE=None if palette is None else [list(c) for c in palette])
    model.CLASSES, model.PALETTE = datasets[0].CLASSES, datasets[0].PALETTE
    train_segmentor(model, datasets, cfg, distributed=distributed, validate=not args.no_validate,
                    timestamp=timestamp, meta=meta, resume=resume)
    logger.info(f"Training finished; checkpoints and logs are in {osp.abspath(cfg.work_dir)}")
    return 0


def start_logs(cfg: Config, distributed: bool) -> Tuple[logging.Logger, str, Dict[str, Any]]:
    """Create the work dir and ``<timestamp>.log``; log the environment and the config.

    Returns:
        (logger, timestamp, meta with ``env_info`` and ``seglab_version``)
    """
    from seglab.engine import collect_env, format_env, get_root_logger
    from seglab.version import __version__

    os.makedirs(osp.abspath(cfg.work_dir), exist_ok=True)
    timestamp = time.strftime("%Y%m%d_%H%M%S", time.localtime())
    logger = get_root_logger(log_file=osp.join(cfg.work_dir, f"{timestamp}.log"),
                             log_level=cfg.get("log_level", "INFO"))
    env_info = format_env(collect_env())
    dash_line = "-" * 60 + "\n"
    logger.info("Environment info:\n" + dash_line + env_info + "\n" + dash_line)
    logger.info(f"Distributed training: {distributed}")
    logger.info(f"Config:\n{cfg.pretty_text}")
    return logger, timestamp, dict(env_info=env_info, seglab_version=__version__)


def choose_seed(cfg: Config, args: argparse.Namespace, logger: logging.Logger,
                saved_seed: Optional[int] = None) -> int:
    """Seed the generators: --seed, else the config's ``seed``, else the resumed run's, else random.

    ``saved_seed`` is the resumed run's (see :func:`find_resume`). Also sets ``cfg.seed`` and
    dumps the config to the work dir with it, so that training with the dumped config repeats
    this run.
    """
    from seglab.apis.train import init_random_seed, set_random_seed
    from seglab.utils import get_dist_info

    seed = args.seed if args.seed is not None else cfg.get("seed")
    if saved_seed is not None:
        if seed is not None and seed != saved_seed:
            logger.warning(f"The seed {seed} differs from the seed {saved_seed} of the resumed run: "
                           f"the data order will not continue the original run.")
        elif seed is None:
            seed = int(saved_seed)
            logger.info(f"Using the seed {seed} of the resumed run.")
    seed = init_random_seed(seed)
    if args.diff_seed:
        seed = seed + get_dist_info()[0]
    logger.info(f"Set random seed to {seed}, deterministic: {args.deterministic}")
    set_random_seed(seed, deterministic=args.deterministic)
    cfg.seed = seed
    if get_dist_info()[0] == 0:
        cfg.dump(osp.join(cfg.work_dir, osp.basename(args.config)))
    return seed


def build_model_and_data(cfg: Config, logger: logging.Logger) -> Tuple[Any, List[Any]]:
    """The segmentor (``init_weights()`` done) and the training dataset (plus, as MMSeg does, the
    val set with the training pipeline when ``workflow`` has a val phase)."""
    from seglab.datasets import build_dataset
    from seglab.errors import ConfigError
    from seglab.models import build_segmentor

    if not isinstance(cfg.get("data"), dict) or cfg.data.get("train") is None:
        raise ConfigError("The config has no training data: set data.train (0.x) or "
                          "train_dataloader (MMSegmentation 1.x).")
    model = build_segmentor(cfg.model, train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg"))
    model.init_weights()
    logger.info(model)
    datasets = [build_dataset(cfg.data.train)]
    if len(cfg.get("workflow") or []) == 2:
        val_dataset = copy.deepcopy(cfg.data.val)
        val_dataset.pipeline = cfg.data.train.pipeline
        datasets.append(build_dataset(val_dataset))
    return model, datasets


if __name__ == "__main__":
    from seglab.engine.launch import run_and_exit

    run_and_exit(main)  # a distributed rank skips interpreter finalization (see finish_process)
