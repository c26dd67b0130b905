"""``IterBasedRunner``: the training loop of MMSeg 0.x configs (``runner = dict(type='IterBasedRunner',
max_iters=20000)``), written as one readable loop plus a few hook points.

Per iteration (:meth:`IterBasedRunner.train_iter`): fetch a batch and move it to the device
(``data_time``), hooks ``before_train_iter`` (lr), ``model.train_step`` under autocast, stop on a
non-finite loss, backward + clip + step (:class:`OptimStep`), hooks ``after_train_iter``
(checkpoint, logs, evaluation).
"""
from __future__ import annotations

import logging
import os
import os.path as osp
import time
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from ..checkpoint import io as ckpt_io
from ..errors import CheckpointError, ConfigError, SeglabError
from ..registry import HOOKS, RUNNERS, build_from_cfg
from ..utils import get_dist_info, is_distributed
from .dist import all_gather_object
from .hooks.hook import Hook, get_priority
from .hooks.logger import LoggerHook
from .hooks.lr import build_lr_hook
from .latest import update_latest
from .log_buffer import LogBuffer
from .optim_step import OptimStep, parse_optimizer_config
from .optimizer import load_optimizer_state
from .resume import check_resumable
from .seed import get_rng_state, set_rng_state

BatchProcessor = Callable[[Any, torch.device], Any]


class NonFiniteLossError(SeglabError, FloatingPointError):
    """The training loss became NaN or infinite."""


def _default_batch_processor(batch: Any, device: torch.device) -> Any:
    try:
        from ..datasets import prepare_batch
    except ImportError:
        from ..datasets.collate import prepare_batch
    return prepare_batch(batch, device)


class _IterLoader:
    """Endless iteration over a data loader; counts passes (epochs) and tells the sampler."""

    def __init__(self, loader: Any, epoch: int = 0):
        self.loader, self.epoch = loader, epoch
        self._iter = iter(loader)

    def __next__(self) -> Any:
        try:
            return next(self._iter)
        except StopIteration:
            self.epoch += 1
            sampler = getattr(self.loader, "sampler", None)
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(self.epoch)
            self._iter = iter(self.loader)
            return next(self._iter)


def train_device(model: nn.Module, device: Union[None, str, torch.device] = None) -> torch.device:
    """``device``, defaulting to the device of the model's first parameter (CPU without any)."""
    if device is None:
        param = next(iter(model.parameters()), None)
        device = param.device if param is not None else "cpu"
    return torch.device(device)


@RUNNERS.register_module()
class IterBasedRunner:
    """Train ``model`` for ``max_iters`` iterations.

    Args:
        model: follows the segmentor API: ``train_step(data_batch, optimizer) -> dict(loss,
            log_vars, num_samples)``.
        optimizer: the optimizer (see :func:`seglab.engine.build_optimizer`).
        work_dir: where checkpoints and logs go.
        logger: default the ``seglab`` logger.
        meta: run information (env info, seed, config text, CLASSES, PALETTE); written first in the
            json log and saved in every checkpoint.
        max_iters: number of iterations.
        max_epochs: not supported (MMSeg's ``EpochBasedRunner``); kept to give a clear error.
        batch_processor: ``f(batch, device) -> batch`` applied to each loaded batch; default
            :func:`seglab.datasets.prepare_batch` (moves to the device, normalises).
        device: where batches go; default the device of the model's first parameter.
        grad_clip, cumulative_iters, amp, loss_scale: :class:`OptimStep` options, for a runner
            built by hand (mmcv's ``register_training_hooks(optimizer_config=...)`` also sets them).
        optim_step: the step itself, built from the config by
            :func:`seglab.engine.runner_from_config`; excludes the four options above.
    """

    def __init__(self, model: nn.Module, optimizer: Optional[torch.optim.Optimizer] = None,
                 work_dir: Optional[str] = None, logger: Optional[logging.Logger] = None,
                 meta: Optional[Mapping[str, Any]] = None, max_iters: Optional[int] = None,
                 max_epochs: Optional[int] = None, batch_processor: Optional[BatchProcessor] = None,
                 device: Union[None, str, torch.device] = None, grad_clip: Optional[Mapping] = None,
                 cumulative_iters: int = 1, amp: Union[None, bool, str] = None,
                 loss_scale: Union[str, float, Mapping] = "dynamic",
                 optim_step: Optional[OptimStep] = None):
        if max_epochs is not None:
            raise ConfigError("runner.max_epochs: seglab's IterBasedRunner counts iterations; use "
                              "runner = dict(type='IterBasedRunner', max_iters=N).")
        if not isinstance(max_iters, int) or max_iters <= 0:
            raise ConfigError(f"runner.max_iters must be a positive int, got {max_iters!r}")
        if not hasattr(model, "train_step"):
            raise TypeError(f"{type(model).__name__} has no train_step(data_batch, optimizer); wrap a "
                            f"DDP model with seglab.engine.SegDistributedDataParallel.")
        self.model, self.optimizer = model, optimizer
        self.work_dir = osp.abspath(work_dir) if work_dir is not None else None
        if self.work_dir is not None:
            os.makedirs(self.work_dir, exist_ok=True)
        self.logger = logger or logging.getLogger("seglab")
        self.meta: Dict[str, Any] = dict(meta or {})
        self.timestamp = time.strftime("%Y%m%d_%H%M%S", time.localtime())
        self.mode = "train"
        self.rank, self.world_size = get_dist_info()
        self.device = train_device(model, device)
        self.batch_processor = batch_processor or _default_batch_processor
        if optim_step is None:
            optim_step = OptimStep(self.device, grad_clip, cumulative_iters, amp, loss_scale)
        elif grad_clip is not None or cumulative_iters != 1 or amp or loss_scale != "dynamic":
            raise TypeError("IterBasedRunner takes either optim_step or its options (grad_clip, "
                            "cumulative_iters, amp, loss_scale), not both.")
        self.optim_step = optim_step
        self.log_buffer = LogBuffer()
        self.last_checkpoint: Optional[str] = None
        self.data_loader: Any = None
        self.outputs: Dict[str, Any] = {}
        self._hooks: List[Hook] = []
        self._max_iters, self._iter, self._inner_iter, self._epoch = max_iters, 0, 0, 0
        self._pending_rng: Optional[List[Dict[str, Any]]] = None

    # -- state -------------------------------------------------------------------------------
    @property
    def iter(self) -> int:
        """Finished iterations (the 0-based index of the running one)."""
        return self._iter

    @property
    def inner_iter(self) -> int:
        return self._inner_iter

    @property
    def epoch(self) -> int:
        """Completed passes over the training data."""
        return self._epoch

    @property
    def max_iters(self) -> int:
        return self._max_iters

    @property
    def hooks(self) -> List[Hook]:
        return list(self._hooks)

    def current_lr(self) -> List[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def iters_per_epoch(self) -> int:
        return len(self.data_loader)

    # -- hooks -------------------------------------------------------------------------------
    def register_hook(self, hook: Hook, priority: Union[int, str, None] = None) -> None:
        """Add ``hook``; hooks run by priority (low first), in registration order within one."""
        hook.priority = get_priority(priority if priority is not None else hook.priority)
        index = len(self._hooks)
        while index > 0 and self._hooks[index - 1].priority > hook.priority:
            index -= 1
        self._hooks.insert(index, hook)

    def call_hook(self, fn_name: str) -> None:
        for hook in self._hooks:
            getattr(hook, fn_name)(self)

    def register_training_hooks(self, lr_config: Optional[Mapping], optimizer_config: Optional[Mapping] = None,
                                checkpoint_config: Optional[Mapping] = None,
                                log_config: Optional[Mapping] = None,
                                momentum_config: Optional[Mapping] = None,
                                custom_hooks_config: Optional[Sequence[Mapping]] = None) -> None:
        """Set up the loop from MMSeg's config sections (as mmcv's runner does)."""
        if momentum_config is not None:
            raise ConfigError("momentum_config is not supported by seglab; remove it.")
        if lr_config is not None:
            self.register_hook(build_lr_hook(lr_config))
        if optimizer_config is not None:  # mmcv's API; runner_from_config passes its step instead
            # An amp given to the runner (--amp) stays unless optimizer_config asks for float16.
            opts = parse_optimizer_config(optimizer_config, amp=self.optim_step.amp)
            self.optim_step = OptimStep(self.device, **opts)
        if checkpoint_config is not None:
            cfg = dict(checkpoint_config)
            cfg.setdefault("type", "CheckpointHook")
            self.register_hook(build_from_cfg(cfg, HOOKS, key="checkpoint_config"))
        if log_config is not None:
            for i, info in enumerate(log_config.get("hooks", [])):
                hook = build_from_cfg(info, HOOKS, dict(interval=log_config.get("interval", 50)),
                                      key=f"log_config.hooks[{i}]")
                self.register_hook(hook)
        for i, info in enumerate(custom_hooks_config or []):
            info = dict(info)
            priority = info.pop("priority", None)
            self.register_hook(build_from_cfg(info, HOOKS, key=f"custom_hooks[{i}]"), priority)

    # -- the loop ----------------------------------------------------------------------------
    def run(self, data_loaders: Any, workflow: Sequence = (("train", 1),),
            max_iters: Optional[int] = None) -> None:
        """Train until ``max_iters`` (``data_loaders``: one loader or a one-element list)."""
        loader = data_loaders[0] if isinstance(data_loaders, (list, tuple)) else data_loaders
        if any(mode != "train" for mode, _ in workflow):
            raise ConfigError(f"workflow = {list(workflow)}: only [('train', 1)] is supported; "
                              f"validation runs through the `evaluation` config (EvalHook).")
        if max_iters is not None:
            self._max_iters = max_iters
        self.data_loader = loader
        self._skip_consumed(loader)
        data_iter = _IterLoader(loader, self._epoch)
        # Creating the iterator draws a seed from the global generator; restore resumed RNG states
        # after it so the resumed run continues the original random stream exactly.
        if self._pending_rng is not None:
            states = self._pending_rng
            set_rng_state(states[self.rank] if len(states) == self.world_size else states[0])
            self._pending_rng = None
        self.logger.info(f"Start running, work_dir: {self.work_dir}, max iters: {self.max_iters}")
        self.call_hook("before_run")
        self.optimizer.zero_grad(set_to_none=True)
        self.model.train()
        while self.iter < self.max_iters:
            self.train_iter(data_iter)
        self.call_hook("after_run")

    def train_iter(self, data_iter: Iterator) -> None:
        start = time.perf_counter()
        data_batch = self.batch_processor(next(data_iter), self.device)
        self._epoch = data_iter.epoch
        self.log_buffer.update({"data_time": time.perf_counter() - start})
        self.call_hook("before_train_iter")
        with self.optim_step.autocast():
            outputs = self.model.train_step(data_batch, self.optimizer)
        self._check_finite(outputs)
        grad_norm = self.optim_step.step(outputs["loss"], self.model, self.optimizer, self.iter,
                                         self.max_iters)
        log_vars = dict(outputs["log_vars"])
        if grad_norm is not None:
            log_vars["grad_norm"] = grad_norm
        self.log_buffer.update(log_vars, outputs["num_samples"])
        self.log_buffer.update({"time": time.perf_counter() - start})
        self.outputs = outputs
        self.call_hook("after_train_iter")
        if self.log_buffer.ready:
            self.log_buffer.clear()
        self._inner_iter += 1
        self._iter += 1

    def _check_finite(self, outputs: Mapping[str, Any]) -> None:
        finite = torch.isfinite(outputs["loss"].detach()).all()
        if is_distributed():  # all ranks must stop together, or the others hang in a collective
            flag = finite.to(torch.int32)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
            finite = flag.bool()
        if bool(finite):
            return
        values = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in outputs.get("log_vars", {}).items())
        last = self.last_checkpoint or "none saved yet"
        raise NonFiniteLossError(
            f"The loss is not finite at iteration {self.iter + 1} ({values}); training stopped "
            f"before the optimizer step and no checkpoint of this state was written. Last good "
            f"checkpoint: {last}. Usual causes: a learning rate too high for this batch size "
            f"(lower optimizer.lr or set optimizer_config.grad_clip), fp16 overflow, or label "
            f"values outside [0, num_classes) other than ignore_index.")

    def _skip_consumed(self, loader: Any) -> None:
        """Tell the sampler how many samples the resumed iterations already used."""
        if self.iter == 0:
            return
        batch_sampler = getattr(loader, "batch_sampler", None)
        batch_size = getattr(loader, "batch_size", None) or getattr(batch_sampler, "batch_size", None)
        for candidate in (batch_sampler, getattr(batch_sampler, "sampler", None),
                          getattr(loader, "sampler", None)):
            if hasattr(candidate, "skip") and batch_size:
                candidate.skip(self.iter * batch_size)
                self.logger.info(f"Data sampler continues after {self.iter * batch_size} samples.")
                return
        self.logger.warning("The data loader's sampler has no skip(num_samples): the resumed run "
                            "starts a new pass over the data, so its sample order differs from "
                            "an uninterrupted run.")

    # -- logs ----------------------------------------------------------------------------------
    def log_val(self, metrics: Mapping[str, float]) -> None:
        """Send validation metrics to every logger hook (``mode='val'``)."""
        log_dict: Dict[str, Any] = dict(mode="val", epoch=self.epoch + 1, iter=self.iter + 1,
                                        lr=self.current_lr()[0])
        log_dict.update(metrics)
        for hook in self._hooks:
            if isinstance(hook, LoggerHook):
                hook.log(self, log_dict)

    # -- checkpoints -------------------------------------------------------------------------
    def save_checkpoint(self, out_dir: str, filename_tmpl: str = "iter_{}.pth",
                        meta: Optional[Mapping[str, Any]] = None, save_optimizer: bool = True,
                        create_symlink: bool = True) -> str:
        """Save everything exact resume needs after the current iteration; returns the path.

        Call it on every rank (RNG states are gathered); rank 0 writes.
        """
        path = osp.join(out_dir, filename_tmpl.format(self.iter + 1))
        meta = {**(meta or {}), **self.meta, "iter": self.iter + 1, "epoch": self.epoch + 1}
        rng_states = all_gather_object(get_rng_state())
        if self.rank == 0:
            extra = {"rng_state": rng_states, "lr_schedule": {"iter": self.iter + 1},
                     "amp": self.optim_step.state_dict()}
            ckpt_io.save_checkpoint(self.model, path, self.optimizer if save_optimizer else None,
                                    meta, extra)
            if create_symlink:
                update_latest(out_dir, osp.basename(path))
        self.last_checkpoint = path
        return path

    def resume(self, checkpoint: ckpt_io.PathLike, resume_optimizer: bool = True,
               map_location: Any = "cpu", *, loaded: Optional[Mapping[str, Any]] = None) -> None:
        """Continue a run from ``checkpoint``: weights, iteration, optimizer, AMP scaler, RNG.

        Args:
            checkpoint: the checkpoint file (named in messages; becomes ``last_checkpoint``).
            resume_optimizer: restore the optimizer state too.
            map_location: as in ``torch.load``, when the file is read here.
            loaded: the file's content when the caller has read it already (see
                :func:`seglab.engine.resume.resolve_resume`); the file is then not read again.
        """
        checkpoint = os.fspath(checkpoint)
        ckpt = loaded
        if ckpt is None:
            ckpt = ckpt_io.load_checkpoint_file(checkpoint, map_location)
        meta = check_resumable(ckpt, checkpoint)  # before any state changes
        ckpt_io.apply_checkpoint(self.model, ckpt, checkpoint, strict=True, logger=self.logger)
        self._iter = self._inner_iter = int(meta["iter"])
        self._epoch = max(int(meta.get("epoch", 1)) - 1, 0)
        self.meta.setdefault("hook_msgs", {}).update(meta.get("hook_msgs", {}))
        if resume_optimizer and "optimizer" in ckpt:
            try:
                load_optimizer_state(self.optimizer, self.model, ckpt["optimizer"])
            except (ValueError, KeyError) as err:
                raise CheckpointError(f"The optimizer state in '{checkpoint}' does not fit this "
                                      f"optimizer (was optimizer.paramwise_cfg or the model changed?): "
                                      f"{err}") from err
        # seglab keeps the scaler in 'amp'; mmcv's Fp16OptimizerHook in meta['fp16'].
        self.optim_step.load_state_dict(ckpt.get("amp") or meta.get("fp16"))
        self._pending_rng = ckpt.get("rng_state")
        self.last_checkpoint = os.fspath(checkpoint)
        self.logger.info(f"resumed from {checkpoint}: iter {self.iter}")

    def load_checkpoint(self, filename: str, map_location: Any = "cpu", strict: bool = False) -> Dict:
        """Load weights only (``load_from``): training starts at iteration 0."""
        return ckpt_io.load_checkpoint(self.model, filename, map_location, strict, self.logger)
