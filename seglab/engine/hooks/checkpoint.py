"""``CheckpointHook``: ``iter_N.pth`` every ``interval`` iterations, ``latest.pth`` beside it."""
from __future__ import annotations

import os
import os.path as osp
from typing import TYPE_CHECKING, Any, Mapping, Optional

import torch

from ...errors import ConfigError
from ...registry import HOOKS
from ...utils import get_dist_info, is_distributed
from .hook import Hook

if TYPE_CHECKING:  # pragma: no cover
    from ..runner import IterBasedRunner


@HOOKS.register_module()
class CheckpointHook(Hook):
    """Save checkpoints during training (MMSeg's ``checkpoint_config``).

    Args:
        interval: save after every ``interval`` iterations (-1: never, apart from ``save_last``).
        by_epoch: must be False (iteration-based training).
        save_optimizer: include the optimizer state (needed to resume exactly).
        out_dir: directory for the files; default the work dir (as in mmcv, a given ``out_dir``
            gets the work dir's name appended).
        max_keep_ckpts: keep only the newest ``max_keep_ckpts`` ``iter_N.pth`` files (-1: all).
        save_last: also save after the last iteration when it is not a multiple of ``interval``.
        sync_buffer: average the model's buffers (BN statistics) over ranks before saving.
        meta: extra meta saved in every checkpoint (MMSeg puts CLASSES, PALETTE, config here).
        filename_tmpl: file name pattern, formatted with the 1-based iteration number.
        create_symlink: keep ``latest.pth`` pointing to the newest file.
    """

    priority = "NORMAL"

    def __init__(self, interval: int = -1, by_epoch: bool = False, save_optimizer: bool = True,
                 out_dir: Optional[str] = None, max_keep_ckpts: int = -1, save_last: bool = True,
                 sync_buffer: bool = False, meta: Optional[Mapping[str, Any]] = None,
                 filename_tmpl: str = "iter_{}.pth", create_symlink: bool = True):
        if by_epoch:
            raise ConfigError("checkpoint_config.by_epoch=True: seglab trains by iterations; set "
                              "checkpoint_config.by_epoch=False.")
        self.interval = interval
        self.save_optimizer = save_optimizer
        self.out_dir = out_dir
        self.max_keep_ckpts = max_keep_ckpts
        self.save_last = save_last
        self.sync_buffer = sync_buffer
        self.meta = dict(meta) if meta else None
        self.filename_tmpl = filename_tmpl
        self.create_symlink = create_symlink

    def before_run(self, runner: "IterBasedRunner") -> None:
        if self.out_dir is None and runner.work_dir is None:
            raise ConfigError("checkpoint_config is set but the runner has no work_dir; pass "
                              "--work-dir or set work_dir in the config.")
        if self.out_dir is None:
            self.out_dir = runner.work_dir
        elif runner.work_dir is not None:
            self.out_dir = osp.join(self.out_dir, osp.basename(osp.normpath(runner.work_dir)))

    def after_train_iter(self, runner: "IterBasedRunner") -> None:
        if not (self.every_n_iters(runner, self.interval) or (self.save_last and self.is_last_iter(runner))):
            return
        runner.logger.info(f"Saving checkpoint at {runner.iter + 1} iterations")
        if self.sync_buffer and is_distributed():
            _average_buffers(runner.model)
        runner.save_checkpoint(self.out_dir, filename_tmpl=self.filename_tmpl, meta=self.meta,
                               save_optimizer=self.save_optimizer, create_symlink=self.create_symlink)
        if self.max_keep_ckpts > 0 and self.interval > 0 and get_dist_info()[0] == 0:
            self._remove_old(runner.iter + 1)

    def _remove_old(self, current: int) -> None:
        # Walk back from the oldest file to keep; stop at the first gap (older files are gone).
        for step in range(current - self.max_keep_ckpts * self.interval, 0, -self.interval):
            path = osp.join(self.out_dir, self.filename_tmpl.format(step))
            if not osp.exists(path):
                break
            os.remove(path)


def _average_buffers(model: torch.nn.Module) -> None:
    import torch.distributed as dist

    world_size = get_dist_info()[1]
    for buf in model.buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf)
            buf.div_(world_size)
