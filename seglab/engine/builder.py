"""Build a ready-to-run :class:`IterBasedRunner` from an MMSeg 0.x config (what tools/train.py needs)."""
from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Optional, Union

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import HOOKS, RUNNERS, build_from_cfg
from . import hooks as _hooks  # noqa: F401  (registers EvalHook etc.)
from .optim_step import OptimStep, parse_optimizer_config
from .optimizer import build_optimizer
from .resume import ResumeSource, resolve_resume
from .runner import BatchProcessor, IterBasedRunner, train_device


def build_runner(cfg: Mapping[str, Any], default_args: Optional[Mapping[str, Any]] = None) -> IterBasedRunner:
    """``runner = dict(type='IterBasedRunner', max_iters=N)`` plus ``default_args`` (model, ...)."""
    return build_from_cfg(dict(cfg), RUNNERS, default_args, key="runner")


def runner_from_config(cfg: Mapping[str, Any], model: nn.Module, *,
                       evaluate_fn: Optional[Callable[[nn.Module], Mapping[str, Any]]] = None,
                       meta: Optional[Mapping[str, Any]] = None, timestamp: Optional[str] = None,
                       logger: Optional[logging.Logger] = None, amp: Union[None, bool, str] = None,
                       batch_processor: Optional[BatchProcessor] = None,
                       device: Union[None, str, torch.device] = None,
                       resume: Optional[ResumeSource] = None) -> IterBasedRunner:
    """Optimizer, runner, hooks and resume/load, from the config sections MMSeg uses.

    Reads ``optimizer``, ``runner`` (or the legacy ``total_iters``), ``work_dir``, ``lr_config``,
    ``optimizer_config``, ``fp16``, ``checkpoint_config``, ``log_config``, ``momentum_config``,
    ``custom_hooks``, ``evaluation`` (only when ``evaluate_fn`` is given: no evaluate_fn means
    ``--no-validate``), ``resume_from``, ``auto_resume`` and ``load_from``.

    Args:
        cfg: the config (dict-like).
        model: the segmentor, already on its device (DDP-wrapped when distributed).
        evaluate_fn: ``evaluate_fn(model) -> metrics`` for the EvalHook.
        meta: run information for the logs and checkpoints.
        timestamp: names the log files (``<timestamp>.log.json``).
        logger: the logger (default ``seglab``).
        amp: ``'fp16'``/True or ``'bf16'`` (the ``--amp`` flag); the config's ``fp16`` also enables it.
        batch_processor: see :class:`IterBasedRunner`.
        device: see :class:`IterBasedRunner`.
        resume: the checkpoint to resume from, already found and read by
            :func:`seglab.engine.resume.resolve_resume` (tools/train.py reads the seed from it);
            None: resolve it here from ``resume_from``/``auto_resume``.
    """
    if cfg.get("optimizer") is None:
        raise ConfigError("The config has no `optimizer` (e.g. optimizer = dict(type='SGD', lr=0.01, "
                          "momentum=0.9, weight_decay=0.0005)).")
    optimizer = build_optimizer(model, cfg["optimizer"])
    runner_cfg = cfg.get("runner")
    if runner_cfg is None:
        if cfg.get("total_iters") is None:
            raise ConfigError("The config has neither `runner = dict(type='IterBasedRunner', "
                              "max_iters=N)` nor `total_iters`.")
        runner_cfg = dict(type="IterBasedRunner", max_iters=cfg["total_iters"])
    # The one path from optimizer_config, fp16 and --amp to the step that the runner calls.
    step_options = parse_optimizer_config(cfg.get("optimizer_config"), fp16=cfg.get("fp16"),
                                          amp=amp)
    optim_step = OptimStep(train_device(model, device), **step_options)
    runner = build_runner(runner_cfg, dict(model=model, optimizer=optimizer, work_dir=cfg.get("work_dir"),
                                           logger=logger, meta=meta, batch_processor=batch_processor,
                                           device=device, optim_step=optim_step))
    if timestamp is not None:
        runner.timestamp = timestamp
    runner.register_training_hooks(cfg.get("lr_config"), None, cfg.get("checkpoint_config"),
                                   cfg.get("log_config"), cfg.get("momentum_config"),
                                   cfg.get("custom_hooks"))
    if evaluate_fn is not None and cfg.get("evaluation") is not None:
        eval_cfg = dict(cfg["evaluation"])
        hook = build_from_cfg(dict(eval_cfg, type="EvalHook"), HOOKS, dict(evaluate_fn=evaluate_fn),
                              key="evaluation")
        runner.register_hook(hook, priority="LOW")
    if resume is None:
        resume = resolve_resume(cfg.get("resume_from"), bool(cfg.get("auto_resume")),
                                runner.work_dir, logger=runner.logger)
    if resume.path is not None:
        runner.resume(resume.path, loaded=resume.take())
    elif cfg.get("load_from"):
        runner.load_checkpoint(cfg["load_from"])
    return runner
