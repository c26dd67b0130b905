"""``TensorboardLoggerHook``: scalars under ``<work_dir>/tf_logs`` (needs the tensorboard package)."""
from __future__ import annotations

import numbers
import os.path as osp
from typing import TYPE_CHECKING, Any, Dict, Optional

from ...registry import HOOKS
from ...utils import get_dist_info
from .logger import LoggerHook

if TYPE_CHECKING:  # pragma: no cover
    from ..runner import IterBasedRunner

_SKIP = ("mode", "epoch", "iter")


def _summary_writer_class():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise ImportError(
            "TensorboardLoggerHook needs the 'tensorboard' package, which is not installed: run "
            "`pip install tensorboard` (or `pip install seglab[tensorboard]`), or remove "
            "dict(type='TensorboardLoggerHook') from log_config.hooks (in a MMSegmentation 1.x "
            "config: dict(type='TensorboardVisBackend') from visualizer.vis_backends).") from err
    return SummaryWriter


@HOOKS.register_module()
class TensorboardLoggerHook(LoggerHook):
    """Write every logged number as a TensorBoard scalar ``<mode>/<name>`` at the training iteration.

    Args:
        log_dir: event directory; default ``<work_dir>/tf_logs``.
        interval: log every ``interval`` iterations.
        ignore_last: skip the last, incomplete window.
        reset_flag: kept for config compatibility.
        by_epoch: kept for config compatibility.
    """

    def __init__(self, log_dir: Optional[str] = None, interval: int = 10, ignore_last: bool = True,
                 reset_flag: bool = False, by_epoch: bool = True):
        super().__init__(interval, ignore_last, reset_flag, by_epoch)
        self.log_dir = log_dir
        self._writer_cls = _summary_writer_class()  # fail at build time, not after hours of training
        self.writer = None

    def before_run(self, runner: "IterBasedRunner") -> None:
        if get_dist_info()[0] != 0:
            return
        if self.log_dir is None:
            self.log_dir = osp.join(runner.work_dir or ".", "tf_logs")
        self.writer = self._writer_cls(self.log_dir)

    def log(self, runner: "IterBasedRunner", log_dict: Dict[str, Any]) -> None:
        if self.writer is None:
            return
        mode = log_dict["mode"]
        for name, value in log_dict.items():
            if name in _SKIP or isinstance(value, bool) or not isinstance(value, numbers.Number):
                continue
            self.writer.add_scalar(f"{mode}/{name}", value, runner.iter + 1)
        self.writer.flush()

    def after_run(self, runner: "IterBasedRunner") -> None:
        if self.writer is not None:
            self.writer.close()
