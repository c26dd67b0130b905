"""DistributedDataParallel with the segmentor's ``train_step``, and :func:`build_ddp` to wrap a model."""
from __future__ import annotations

import inspect
from typing import Any, Dict, Mapping, Optional, Union

import torch
import torch.distributed
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import ConfigError
from ..utils import is_distributed

__all__ = ["SegDistributedDataParallel", "build_ddp"]


class SegDistributedDataParallel(DistributedDataParallel):
    """DDP whose :meth:`train_step` runs the forward pass through DDP (so gradients are synchronised).

    The wrapped segmentor's ``forward(**data_batch)`` returns its loss dict in training mode, and
    ``parse_losses`` turns it into the total loss and the logged values, exactly what the
    segmentor's own ``train_step`` does, but with DDP's forward bookkeeping around it.
    """

    def train_step(self, data_batch: Mapping[str, Any],
                   optimizer: Optional[torch.optim.Optimizer] = None) -> Dict[str, Any]:
        losses = self(**data_batch)
        loss, log_vars = self.module.parse_losses(losses)
        return dict(loss=loss, log_vars=log_vars, num_samples=len(data_batch["img_metas"]))


def build_ddp(model: nn.Module, device: Union[None, str, torch.device] = None,
              find_unused_parameters: bool = False,
              broadcast_buffers: bool = False) -> SegDistributedDataParallel:
    """Move ``model`` to this process's device and wrap it for distributed training or testing.

    The same wrapping as MMSeg 0.x (``broadcast_buffers=False``: BN statistics stay per process
    unless the model uses SyncBN, and a test forward runs no collective, so ranks with different
    numbers of batches never wait for each other). ``nn.SyncBatchNorm`` layers of a model that
    stays on the CPU are converted to :class:`~seglab.models.layers.sync_bn.CPUSyncBatchNorm`,
    since DDP refuses ``nn.SyncBatchNorm`` in CPU modules.

    Args:
        model: the segmentor.
        device: ``'cuda'`` (this process's current GPU, set by ``init_dist`` from LOCAL_RANK),
            ``'cuda:N'`` or ``'cpu'``; default: the current GPU under NCCL, else the CPU.
        find_unused_parameters: the config's ``find_unused_parameters`` (heads that skip some
            parameters in a step need it).
        broadcast_buffers: copy rank 0's buffers to all ranks before each training forward.

    Raises:
        ConfigError: no process group is initialised.
    """
    if not is_distributed():
        raise ConfigError("build_ddp needs an initialised process group: start the run with "
                          "tools/dist_train.sh (--launcher pytorch), or train on one process "
                          "without DDP (--launcher none).")
    if device is None:  # NCCL means GPU processes; gloo means CPU ones
        device = "cuda" if torch.distributed.get_backend() == "nccl" else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    if device.type == "cpu":
        from ..models.layers.sync_bn import to_cpu_sync_batchnorm

        model = to_cpu_sync_batchnorm(model)
    model = model.to(device)
    device_ids = [device.index] if device.type == "cuda" else None
    return SegDistributedDataParallel(model, device_ids=device_ids,
                                      find_unused_parameters=find_unused_parameters,
                                      **_buffer_sync_kwargs(broadcast_buffers))


def _buffer_sync_kwargs(broadcast_buffers: bool) -> Dict[str, bool]:
    """DDP's name for syncing buffers before each forward (renamed ``forward_sync_buffers`` in
    recent torch, where ``broadcast_buffers`` warns; both still sync once at construction)."""
    params = inspect.signature(DistributedDataParallel.__init__).parameters
    if "forward_sync_buffers" in params:
        return dict(forward_sync_buffers=broadcast_buffers)
    return dict(broadcast_buffers=broadcast_buffers)

