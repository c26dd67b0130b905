"""Logger hooks: the text log (through the ``seglab`` logger) and the json log.

Every ``interval`` iterations the runner's :class:`LogBuffer` is averaged (and averaged over ranks)
and each logger hook receives one log dict, in mmcv's schema::

    {"mode": "train", "epoch": 1, "iter": 50, "lr": 0.00998, "memory": 3683, "data_time": 0.01,
     "decode.loss_ce": 1.23, ..., "loss": 1.73, "time": 0.512}

Validation results arrive as ``{"mode": "val", "epoch": 1, "iter": <training iteration>, "lr": ...,
"aAcc": ..., "mIoU": ..., ...}``. ``memory`` is the peak CUDA memory allocated (MB, max over ranks)
when training on CUDA, else the peak resident set size of the process (MB).
"""
from __future__ import annotations

import datetime
import json
import os.path as osp
import resource
import sys
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Dict

import torch

from ...registry import HOOKS
from ...utils import get_dist_info, is_distributed
from ..dist import all_reduce_dict
from .hook import Hook

if TYPE_CHECKING:  # pragma: no cover
    from ..runner import IterBasedRunner

# Keys the text line shows in its fixed prefix rather than in the list of values.
_PREFIX_KEYS = ("mode", "epoch", "iter", "lr", "time", "data_time", "memory")


def peak_memory_mb(device: torch.device) -> int:
    """Peak CUDA memory allocated on ``device`` (max over ranks), else peak RSS, in MB."""
    if device.type == "cuda":
        mem = torch.tensor([torch.cuda.max_memory_allocated(device) // (1024 * 1024)],
                           dtype=torch.int64, device=device)
        if is_distributed():
            torch.distributed.all_reduce(mem, op=torch.distributed.ReduceOp.MAX)
        return int(mem.item())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss // (1024 * 1024) if sys.platform == "darwin" else rss // 1024)  # bytes vs KiB


def memory_kind(device: torch.device) -> str:
    return ("peak CUDA memory allocated (MB)" if device.type == "cuda"
            else "peak resident memory of the process (MB, CPU run)")


class LoggerHook(Hook):
    """Base of the logger hooks: decides when to log and builds the train log dict.

    Args:
        interval: log every ``interval`` iterations.
        ignore_last: skip the last, incomplete window at the end of training.
        reset_flag: kept for config compatibility (the buffer restarts after every log anyway).
        by_epoch: kept for config compatibility; logs always count iterations.
    """

    priority = "BELOW_NORMAL"  # after CheckpointHook, before EvalHook, as in mmcv logs

    def __init__(self, interval: int = 10, ignore_last: bool = True, reset_flag: bool = False,
                 by_epoch: bool = True):
        self.interval = interval
        self.ignore_last = ignore_last
        self.reset_flag = reset_flag
        self.by_epoch = by_epoch

    def log(self, runner: "IterBasedRunner", log_dict: Dict[str, Any]) -> None:
        """Write one train or val log dict."""
        raise NotImplementedError

    def after_train_iter(self, runner: "IterBasedRunner") -> None:
        due = self.every_n_iters(runner, self.interval) or (
            not self.ignore_last and self.is_last_iter(runner))
        if not due or len(runner.log_buffer) == 0:
            return
        if not runner.log_buffer.ready:
            runner.log_buffer.average()
            # Every rank runs this hook, so the values can be averaged over ranks here.
            runner.log_buffer.output = OrderedDict(all_reduce_dict(runner.log_buffer.output))
        log_dict: Dict[str, Any] = OrderedDict(mode="train", epoch=runner.epoch + 1, iter=runner.iter + 1,
                                               lr=runner.current_lr()[0],
                                               memory=peak_memory_mb(runner.device))
        log_dict.update(runner.log_buffer.output)
        self.log(runner, log_dict)


@HOOKS.register_module()
class TextLoggerHook(LoggerHook):
    """Text lines through ``runner.logger`` and json lines in ``<work_dir>/<timestamp>.log.json``.

    The json file starts with ``runner.meta`` (env info, seed, config text, ...), then one object
    per log. Floats are rounded to 5 decimals, as mmcv does.

    Args:
        by_epoch: kept for config compatibility (iteration-based logs).
        interval: log every ``interval`` iterations.
        ignore_last: skip the last, incomplete window.
        reset_flag: kept for config compatibility.
        interval_exp_name: print ``Exp name: ...`` (``runner.meta['exp_name']``) this often.
    """

    def __init__(self, by_epoch: bool = True, interval: int = 10, ignore_last: bool = True,
                 reset_flag: bool = False, interval_exp_name: int = 1000):
        super().__init__(interval, ignore_last, reset_flag, by_epoch)
        self.interval_exp_name = interval_exp_name
        self.time_sec_tot = 0.0
        self.start_iter = 0
        self.last_logged_iter = 0
        self.json_log_path = None

    def before_run(self, runner: "IterBasedRunner") -> None:
        self.start_iter = self.last_logged_iter = runner.iter
        if runner.work_dir is not None:
            self.json_log_path = osp.join(runner.work_dir, f"{runner.timestamp}.log.json")
            if runner.meta is not None:
                self._dump(runner, runner.meta)
        runner.logger.info(f"memory: {memory_kind(runner.device)}")

    def _dump(self, runner: "IterBasedRunner", record: Dict[str, Any]) -> None:
        if self.json_log_path is None or get_dist_info()[0] != 0:
            return
        rounded = OrderedDict((k, _round(v)) for k, v in record.items())
        with open(self.json_log_path, "a+", encoding="utf-8") as f:
            f.write(json.dumps(rounded, default=str) + "\n")

    def log(self, runner: "IterBasedRunner", log_dict: Dict[str, Any]) -> None:
        meta = runner.meta or {}
        if "exp_name" in meta and self.every_n_iters(runner, self.interval_exp_name):
            runner.logger.info(f"Exp name: {meta['exp_name']}")
        if log_dict["mode"] == "train":
            text = f"Iter [{log_dict['iter']}/{runner.max_iters}]\tlr: {log_dict['lr']:.3e}, "
            if "time" in log_dict:
                window = runner.iter + 1 - self.last_logged_iter
                self.last_logged_iter = runner.iter + 1
                self.time_sec_tot += log_dict["time"] * window
                avg = self.time_sec_tot / max(runner.iter + 1 - self.start_iter, 1)
                eta = datetime.timedelta(seconds=int(avg * (runner.max_iters - runner.iter - 1)))
                text += (f"eta: {eta}, time: {log_dict['time']:.3f}, "
                         f"data_time: {log_dict['data_time']:.3f}, ")
            text += f"memory: {log_dict['memory']}, "
        else:
            text = f"Iter({log_dict['mode']}) [{log_dict['iter']}]\t"
        items = [f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}"
                 for k, v in log_dict.items() if k not in _PREFIX_KEYS]
        runner.logger.info(text + ", ".join(items))
        self._dump(runner, log_dict)


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 5)
    if isinstance(value, (list, tuple)):
        return [_round(v) for v in value]
    return value
