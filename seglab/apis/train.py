"""``train_segmentor``: data loaders, device, evaluation and the runner, from an MMSeg 0.x config.

The same entry point as MMSegmentation 0.30's ``mmseg/apis/train.py``. Most of the work happens in
:func:`seglab.engine.runner_from_config` (optimizer, hooks, resume/load_from) and
:func:`seglab.datasets.build_dataloader_from_cfg` (samplers, collate); this module only wires them
together and adds the evaluation during training (``evaluation = dict(interval=..., metric=...)``).
"""
from __future__ import annotations

import logging
import warnings
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from ..engine import IterBasedRunner, SegDistributedDataParallel, get_root_logger, runner_from_config
from ..engine.ddp import build_ddp
from ..engine.hooks.progress import add_progress_bar
from ..engine.resume import ResumeSource
from ..engine.dist import broadcast_object
from ..engine.seed import set_random_seed
from ..errors import ConfigError
from ..utils import get_dist_info, is_distributed

__all__ = ["init_random_seed", "set_random_seed", "train_segmentor", "get_train_device"]

Workflow = Sequence[Tuple[str, int]]


def init_random_seed(seed: Optional[int] = None, device: Union[None, str, torch.device] = None) -> int:
    """The run's seed: ``seed`` if given, else a random one that every rank shares.

    In a distributed run each process would draw a different number, so rank 0 draws it and
    broadcasts it (the samplers need the same seed on every rank to shard one stream).

    Args:
        seed: the seed given by the user (``--seed``); returned unchanged when not None.
        device: where the broadcast tensor lives (NCCL needs CUDA); default from the backend.

    Returns:
        The seed, an int in ``[0, 2**31)`` when drawn.
    """
    if seed is not None:
        return int(seed)
    drawn = int(np.random.randint(2**31))
    if not is_distributed():
        return drawn
    import torch.distributed as dist

    if device is None:
        device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    rank, _ = get_dist_info()
    tensor = torch.tensor(drawn if rank == 0 else 0, dtype=torch.int64, device=device)
    dist.broadcast(tensor, src=0)
    return int(tensor.item())


def get_train_device(cfg: Mapping[str, Any]) -> torch.device:
    """``cfg.device`` (``'cpu'``, ``'cuda'``, ``'cuda:1'``), defaulting to CUDA when available.

    A distributed CUDA run uses the current CUDA device of the process (set by the launcher).
    """
    name = cfg.get("device")
    if name is None:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device = {name!r}, but CUDA is not available on this machine; "
                              f"use --device cpu (or device='cpu').")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    return device


def _split_workflow(workflow: Optional[Workflow], logger: logging.Logger) -> List[Tuple[str, int]]:
    """Keep the train phase; MMSeg's ('val', 1) phase (validation losses) is replaced by EvalHook."""
    workflow = [tuple(phase) for phase in (workflow or [("train", 1)])]
    for phase in workflow:
        if len(phase) != 2 or phase[0] not in ("train", "val") or not isinstance(phase[1], int):
            raise ConfigError(f"workflow = {workflow}: each phase must be ('train', N) or ('val', N).")
    if not any(mode == "train" for mode, _ in workflow):
        raise ConfigError(f"workflow = {workflow} has no ('train', N) phase, so nothing would be "
                          f"trained; use workflow = [('train', 1)].")
    if any(mode == "val" for mode, _ in workflow):
        logger.warning(f"workflow = {workflow}: seglab does not run MMSeg's ('val', N) phase (losses "
                       f"on the val set); it trains with [('train', 1)] and validates with the "
                       f"`evaluation` config (mIoU etc.) instead.")
    return [("train", 1)]


def _make_evaluate_fn(cfg: Mapping[str, Any], distributed: bool, device: torch.device,
                      logger: logging.Logger, seed: Optional[int] = None
                      ) -> Optional[Callable[[nn.Module], Mapping[str, Any]]]:
    """``evaluate_fn(model) -> metrics`` over ``cfg.data.val`` for the EvalHook (None: no evaluation)."""
    eval_cfg = cfg.get("evaluation")
    if eval_cfg is None:
        return None
    from ..datasets import build_dataloader_from_cfg, build_dataset
    from .test import evaluate_segmentor

    if cfg["data"].get("val") is None:
        raise ConfigError("Validation during training needs data.val in the config; add it, remove "
                          "`evaluation`, or pass --no-validate.")
    val_dataset = build_dataset(cfg["data"]["val"], dict(test_mode=True))
    # Each rank evaluates its shard of data.val; evaluate_segmentor sums the counts over ranks.
    val_loader = build_dataloader_from_cfg(cfg["data"], "val", dataset=val_dataset, dist=distributed,
                                           seed=seed)
    metric = eval_cfg.get("metric", "mIoU")

    def evaluate_fn(model: nn.Module) -> Mapping[str, Any]:
        # Evaluate the segmentor itself: DDP's forward would wait for gradient synchronisation.
        module = model.module if isinstance(model, SegDistributedDataParallel) else model
        return evaluate_segmentor(module, val_loader, metric=metric, device=device, logger=logger)

    return evaluate_fn


def train_segmentor(model: nn.Module, dataset: Union[Dataset, Sequence[Dataset]], cfg: Any,
                    distributed: bool = False, validate: bool = False, timestamp: Optional[str] = None,
                    meta: Optional[Dict[str, Any]] = None,
                    resume: Optional[ResumeSource] = None) -> IterBasedRunner:
    """Train ``model`` on ``dataset`` as ``cfg`` says; returns the finished runner.

    Reads ``cfg.data`` (loaders: ``samples_per_gpu``, ``workers_per_gpu``, ``train_dataloader``,
    ``val_dataloader``), ``cfg.seed`` (sampler and augmentation seed), ``cfg.device``,
    ``cfg.amp`` (``--amp``), ``cfg.workflow``, ``cfg.find_unused_parameters`` (DDP),
    ``cfg.log_level`` and everything :func:`seglab.engine.runner_from_config` reads (optimizer,
    schedules, hooks, ``work_dir``, ``resume_from``, ``auto_resume``, ``load_from``).

    Distributed (``distributed=True``, every rank calls it): the model is wrapped by
    :func:`seglab.engine.ddp.build_ddp`; the data loaders use rank 0's ``cfg.seed`` on every rank
    (with ``--diff-seed`` the ranks' seeds differ, but they must shard one shared stream), so each
    rank trains on its own shard; only rank 0 writes logs and checkpoints and the logged values
    are averaged over ranks (the hooks do that); evaluation runs on every rank over its shard of
    ``data.val`` and the counts are summed once.

    Args:
        model: the segmentor (built, ``init_weights()`` done), on any device.
        dataset: the training dataset, or a list whose first entry is it (MMSeg passes
            ``[train, val]`` when the workflow has a val phase; only the first is trained on).
        cfg: the config (a MMSegmentation 1.x one is converted, see :mod:`seglab.config.v1x`).
        distributed: one process per device in an initialised process group.
        validate: evaluate on ``cfg.data.val`` every ``evaluation.interval`` iterations.
        timestamp: names the json log ``<work_dir>/<timestamp>.log.json`` (the text log's name).
        meta: run information (env info, seed, config text, CLASSES, PALETTE) saved in the json log
            and every checkpoint.
        resume: the checkpoint to resume from, found and read once by
            :func:`seglab.engine.resume.resolve_resume` (tools/train.py also takes the seed from
            it); None: found from ``cfg.resume_from``/``cfg.auto_resume``.

    Returns:
        The runner after ``runner.run`` (its ``model``, ``iter``, ``last_checkpoint``, ...).

    Raises:
        NonFiniteLossError: the loss became NaN/Inf (the message names the iteration and the last
            good checkpoint).
    """
    from ..config import convert_1x_config, is_1x_config

    if is_1x_config(cfg):  # a MMSegmentation 1.x config: the 0.x form it runs as
        cfg = convert_1x_config(cfg)
    logger = get_root_logger(log_level=cfg.get("log_level", "INFO"))
    datasets = list(dataset) if isinstance(dataset, (list, tuple)) else [dataset]
    workflow = _split_workflow(cfg.get("workflow"), logger)
    if cfg.get("runner") is None and cfg.get("total_iters") is not None:
        warnings.warn("The config sets the legacy `total_iters`; prefer runner = "
                      "dict(type='IterBasedRunner', max_iters=N).", UserWarning)
    device = get_train_device(cfg)

    from ..datasets import build_dataloader_from_cfg

    seed = cfg.get("seed")
    if distributed and seed is not None:
        seed = broadcast_object(int(seed))  # the sampler's seed: the same on every rank
    train_loader = build_dataloader_from_cfg(cfg["data"], "train", dataset=datasets[0],
                                             dist=distributed, seed=seed)
    if distributed:
        model = build_ddp(model, device,
                          find_unused_parameters=bool(cfg.get("find_unused_parameters", False)))
    else:
        model = model.to(device)
    evaluate_fn = _make_evaluate_fn(cfg, distributed, device, logger, seed) if validate else None
    runner = runner_from_config(cfg, model, evaluate_fn=evaluate_fn, meta=meta, timestamp=timestamp,
                                logger=logger, amp=cfg.get("amp"), device=device, resume=resume)
    bar = add_progress_bar(runner)  # a tqdm bar on an interactive terminal (rank 0) only
    try:
        runner.run([train_loader], workflow)
    finally:
        if bar is not None:
            bar.close()  # also when training stops with an error: the console is given back
    return runner
