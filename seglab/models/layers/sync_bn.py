"""Synchronised batch normalisation for process groups that ``nn.SyncBatchNorm`` cannot serve.

``nn.SyncBatchNorm`` only runs on GPUs (its forward refuses CPU tensors, and
``DistributedDataParallel`` refuses CPU modules that contain it). :class:`CPUSyncBatchNorm` is the
same layer for gloo process groups (multi-process CPU runs, and the tests of distributed training
on a machine without GPUs): in training mode it normalises with the mean and variance of the whole
global batch (all processes), and its backward all-reduces the gradient terms, so N processes with
batch B compute exactly what one process with batch N*B computes with ``nn.BatchNorm2d``.

Which class ``norm_cfg=dict(type='SyncBN')`` becomes is decided when the layer is built (before the
model moves to its device), by the backend of the default process group: see
:func:`sync_batchnorm_class`. :func:`convert_sync_batchnorm` and :func:`revert_sync_batchnorm`
turn the BN layers of a built model into SyncBN layers and back (same parameters and buffers).
"""
from __future__ import annotations

from typing import Any, Optional, Tuple, Type

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["CPUSyncBatchNorm", "sync_batch_norm", "sync_batchnorm_class", "convert_sync_batchnorm",
           "to_cpu_sync_batchnorm", "revert_sync_batchnorm"]


def _channel_shape(x: Tensor) -> Tuple[int, ...]:
    """(1, C, 1, ...): broadcasts a per-channel vector against ``x`` of shape (N, C, *)."""
    return (1, x.shape[1]) + (1,) * (x.dim() - 2)


class _SyncBatchNormFunction(torch.autograd.Function):
    """Batch norm over the union of the batches of all processes in ``process_group``.

    Forward: each process computes the per-channel count, mean and sum of squared deviations of its
    own batch; these are all-gathered and combined with Chan's parallel formula (stable, unlike
    ``E[x^2] - E[x]^2``). Backward: the per-channel sums of ``dy`` and ``dy * (x - mean)`` are
    all-reduced, because every input element influences the global statistics; the weight and bias
    gradients stay local (DDP averages them like any other parameter gradient).
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Optional[Tensor], bias: Optional[Tensor],
                running_mean: Optional[Tensor], running_var: Optional[Tensor], eps: float,
                momentum: float, process_group: Any, world_size: int) -> Tensor:
        channels = x.shape[1]
        dims = [0] + list(range(2, x.dim()))
        # Statistics in float32 at least, so fp16/bf16 inputs do not lose the sums.
        compute_dtype = torch.promote_types(x.dtype, torch.float32)
        xc = x.to(compute_dtype)
        count = x.numel() // channels
        if count > 0:
            var, mean = torch.var_mean(xc, dim=dims, correction=0)
        else:  # an empty shard contributes nothing (count 0)
            var = mean = torch.zeros(channels, dtype=compute_dtype, device=x.device)
        local = torch.cat([mean.double(), (var * count).double(),
                           torch.tensor([float(count)], dtype=torch.float64, device=x.device)])
        gathered = [torch.empty_like(local) for _ in range(world_size)]
        dist.all_gather(gathered, local, group=process_group)
        stats = torch.stack(gathered)  # (W, 2C + 1)
        counts = stats[:, -1:]  # (W, 1)
        total = float(counts.sum())
        if total <= 1:  # the same on every rank, so every rank raises
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"{list(x.shape)} summed over {world_size} processes.")
        global_mean = (counts * stats[:, :channels]).sum(0) / total
        sq_dev = (stats[:, channels:2 * channels]
                  + counts * (stats[:, :channels] - global_mean) ** 2).sum(0)
        global_var = sq_dev / total
        if running_mean is not None:
            running_mean.mul_(1 - momentum).add_(global_mean.to(running_mean.dtype), alpha=momentum)
        if running_var is not None:  # the unbiased variance, as nn.BatchNorm2d stores it
            unbiased = (sq_dev / (total - 1)).to(running_var.dtype)
            running_var.mul_(1 - momentum).add_(unbiased, alpha=momentum)

        shape = _channel_shape(x)
        mean_c = global_mean.to(compute_dtype).view(shape)
        invstd_c = torch.rsqrt(global_var + eps).to(compute_dtype).view(shape)
        out = (xc - mean_c) * invstd_c
        if weight is not None:
            out = out * weight.to(compute_dtype).view(shape)
        if bias is not None:
            out = out + bias.to(compute_dtype).view(shape)
        ctx.save_for_backward(x, weight, mean_c, invstd_c)
        ctx.total, ctx.process_group = total, process_group
        ctx.param_dtype = weight.dtype if weight is not None else x.dtype
        return out.to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor):
        x, weight, mean_c, invstd_c = ctx.saved_tensors
        channels = x.shape[1]
        dims = [0] + list(range(2, x.dim()))
        dy = grad_out.to(mean_c.dtype)
        xmu = x.to(mean_c.dtype) - mean_c
        sum_dy = dy.sum(dims)  # (C,), this process's share
        sum_dy_xmu = (dy * xmu).sum(dims)
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[1]:
            grad_weight = (sum_dy_xmu * invstd_c.flatten()).to(ctx.param_dtype)
        if ctx.needs_input_grad[2]:
            grad_bias = sum_dy.to(ctx.param_dtype)
        if ctx.needs_input_grad[0]:
            # All ranks build the same graph, so either all or none of them reach this collective.
            packed = torch.cat([sum_dy, sum_dy_xmu])
            dist.all_reduce(packed, group=ctx.process_group)
            shape = _channel_shape(x)
            mean_dy = (packed[:channels] / ctx.total).view(shape)
            mean_dy_xmu = (packed[channels:] / ctx.total).view(shape)
            scale = invstd_c if weight is None else invstd_c * weight.to(mean_c.dtype).view(shape)
            grad_x = ((dy - mean_dy - xmu * invstd_c.pow(2) * mean_dy_xmu) * scale).to(x.dtype)
        return grad_x, grad_weight, grad_bias, None, None, None, None, None, None


def sync_batch_norm(x: Tensor, running_mean: Optional[Tensor], running_var: Optional[Tensor],
                    weight: Optional[Tensor], bias: Optional[Tensor], momentum: float = 0.1,
                    eps: float = 1e-5, process_group: Any = None) -> Tensor:
    """Training-mode batch norm with statistics over all processes of ``process_group``.

    Args:
        x: (N, C, *) input of this process (N may differ between processes, even be 0).
        running_mean, running_var: (C,) buffers updated in place (None: not tracked).
        weight, bias: (C,) affine parameters or None.
        momentum: weight of the new statistics in the running averages.
        eps: added to the variance.
        process_group: the group to synchronise over (default: the world).

    Returns:
        (N, C, *) normalised ``x``, the same on every process as one big-batch BatchNorm.
    """
    group = process_group if process_group is not None else dist.group.WORLD
    world_size = dist.get_world_size(group)
    return _SyncBatchNormFunction.apply(x, weight, bias, running_mean, running_var, eps, momentum,
                                        group, world_size)


class CPUSyncBatchNorm(_BatchNorm):
    """``nn.SyncBatchNorm`` for gloo process groups (CPU processes), with BatchNorm2d's state.

    Parameters, buffers and state_dict keys equal ``nn.BatchNorm2d``'s and ``nn.SyncBatchNorm``'s,
    so checkpoints move freely between the three. Training mode inside a process group of more than
    one process synchronises the statistics (:func:`sync_batch_norm`); eval mode, or no process
    group, is plain batch norm. The collectives run on the tensors' own device, so the layer also
    works on CUDA with gloo, but ``nn.SyncBatchNorm`` is faster there.

    Args:
        num_features: channels C of the (N, C, *) input.
        eps, momentum, affine, track_running_stats: as ``nn.BatchNorm2d`` (``momentum=None``:
            cumulative average).
        process_group: the group to synchronise over (default: the world).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 affine: bool = True, track_running_stats: bool = True, process_group: Any = None,
                 device: Any = None, dtype: Optional[torch.dtype] = None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats,
                         device=device, dtype=dtype)
        self.process_group = process_group

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (N, C, *), got {input.dim()}D input")

    def forward(self, input: Tensor) -> Tensor:
        """(N, C, *) -> (N, C, *)."""
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        # Same rule as nn.BatchNorm: batch statistics in training, or in eval without buffers.
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        running_mean = self.running_mean if track else None
        running_var = self.running_var if track else None
        if use_batch_stats and self.training and dist.is_available() and dist.is_initialized():
            group = self.process_group if self.process_group is not None else dist.group.WORLD
            if dist.get_world_size(group) > 1:
                return sync_batch_norm(input, running_mean, running_var, self.weight, self.bias,
                                       factor, self.eps, group)
        return F.batch_norm(input, running_mean, running_var, self.weight, self.bias,
                            use_batch_stats, factor, self.eps)


def sync_batchnorm_class() -> Type[_BatchNorm]:
    """The class that ``type='SyncBN'`` builds in this process.

    ``nn.SyncBatchNorm`` when the default process group uses NCCL (its CUDA kernels are the fast
    path, and NCCL means the model will run on GPUs); :class:`CPUSyncBatchNorm` for every other
    backend (gloo: CPU processes). The choice is made by backend, not by device, because layers are
    built before the model moves to its device. Without a process group there is nothing to
    synchronise; callers fall back to ``nn.BatchNorm2d`` (see ``build_norm_layer``).
    """
    if dist.is_available() and dist.is_initialized() and dist.get_backend() == "nccl":
        return nn.SyncBatchNorm
    return CPUSyncBatchNorm


def _copy_state(src: _BatchNorm, dst: _BatchNorm) -> _BatchNorm:
    """Give ``dst`` the parameters (same Parameter objects), buffers and mode of ``src``."""
    if src.affine:
        dst.weight, dst.bias = src.weight, src.bias
    dst.running_mean = src.running_mean
    dst.running_var = src.running_var
    dst.num_batches_tracked = src.num_batches_tracked
    dst.train(src.training)
    return dst


def _replace(module: nn.Module, match: Tuple[type, ...], skip: Tuple[type, ...],
             make: Any) -> nn.Module:
    """Replace ``module`` and its descendants that are ``match`` but not ``skip`` by ``make(old)``."""
    if isinstance(module, match) and not isinstance(module, skip):
        return make(module)
    for name, child in module.named_children():
        new = _replace(child, match, skip, make)
        if new is not child:
            setattr(module, name, new)
    return module


def convert_sync_batchnorm(module: nn.Module, process_group: Any = None,
                           sync_cls: Optional[Type[_BatchNorm]] = None) -> nn.Module:
    """Make every BatchNorm layer in ``module`` a synchronised one of class ``sync_cls``, keeping
    its parameters (the same objects) and buffers.

    Like ``nn.SyncBatchNorm.convert_sync_batchnorm``, but the class defaults to
    :func:`sync_batchnorm_class` (CPU processes get :class:`CPUSyncBatchNorm`), and SyncBN layers
    of the other class are converted too. Call it before wrapping the model in DDP.

    Args:
        module: a model or a single BN layer.
        process_group: the group the new layers synchronise over (default: the world).
        sync_cls: ``nn.SyncBatchNorm`` or :class:`CPUSyncBatchNorm`.

    Returns:
        ``module`` (changed in place) or, when it is itself a BN layer, its replacement.
    """
    sync_cls = sync_cls or sync_batchnorm_class()

    def make(old: _BatchNorm) -> _BatchNorm:
        return _copy_state(old, sync_cls(old.num_features, old.eps, old.momentum, old.affine,
                                         old.track_running_stats, process_group))

    return _replace(module, (_BatchNorm,), (sync_cls,), make)


def to_cpu_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace only the ``nn.SyncBatchNorm`` layers by :class:`CPUSyncBatchNorm` (for CPU DDP,
    which refuses ``nn.SyncBatchNorm``); plain BN layers stay plain."""
    def make(old: nn.SyncBatchNorm) -> CPUSyncBatchNorm:
        return _copy_state(old, CPUSyncBatchNorm(old.num_features, old.eps, old.momentum, old.affine,
                                                 old.track_running_stats, old.process_group))

    return _replace(module, (nn.SyncBatchNorm,), (), make)


def revert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every SyncBN layer (``nn.SyncBatchNorm`` or :class:`CPUSyncBatchNorm`) by
    ``nn.BatchNorm2d`` with the same state, e.g. to run a SyncBN model in one process or export it.

    Returns:
        ``module`` (changed in place) or, when it is itself a SyncBN layer, its replacement.
    """
    def make(old: _BatchNorm) -> nn.BatchNorm2d:
        return _copy_state(old, nn.BatchNorm2d(old.num_features, old.eps, old.momentum, old.affine,
                                               old.track_running_stats))

    return _replace(module, (nn.SyncBatchNorm, CPUSyncBatchNorm), (), make)
