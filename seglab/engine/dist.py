"""Distributed helpers for the training and test loops (no-ops without a process group).

Collectives need tensors on the device of the backend: the current CUDA device under NCCL, the CPU
otherwise (:func:`dist_device`). :func:`collect_results` brings per-image results of all ranks to
rank 0 in dataset order, either through files in a shared temporary folder (MMSeg's default) or
through the process group itself (``gpu_collect=True``, MMSeg's ``--gpu-collect``).
"""
from __future__ import annotations

import os
import os.path as osp
import pickle
import shutil
import tempfile
from typing import Any, Dict, List, Mapping, Optional, Sequence

import torch
import torch.distributed as dist

from ..utils import atomic_open, get_dist_info, is_distributed

__all__ = ["dist_device", "all_reduce_dict", "all_gather_object", "barrier", "broadcast_object",
           "collect_results", "interleave_results", "is_peer_failure", "PEER_FAILURE_NOTE"]

# How the backends report a collective whose peer process is gone (gloo: the TCP pair closed;
# NCCL: the communicator was aborted by the watchdog).
_PEER_GONE_MARKERS = ("connection closed by peer", "connection reset by peer", "broken pipe",
                      "remote worker crashing", "communicator was aborted")
PEER_FAILURE_NOTE = ("stopped because another process of this job failed; its error is shown "
                     "above (or in its node's log)")


def dist_device() -> torch.device:
    """Where tensors for the default group's collectives must live (CPU without a group)."""
    if is_distributed() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def is_peer_failure(err: BaseException, launch_world_size: int = 1) -> bool:
    """Whether ``err`` is a collective that failed because another rank died (not a fault of
    this rank), so a tool can stop with one short note instead of a second traceback.

    Only meaningful in a process group, or in a launch of ``launch_world_size`` > 1 processes
    whose group is not up yet (``init_process_group`` fails the same way when a peer that
    finished it has already exited); the markers are the gloo and NCCL messages.
    """
    if not isinstance(err, RuntimeError) or not (is_distributed() or launch_world_size > 1):
        return False
    if isinstance(err, dist.DistNetworkError):
        return True
    text = str(err).lower()
    return any(marker in text for marker in _PEER_GONE_MARKERS)


def all_reduce_dict(values: Mapping[str, float], op: str = "mean") -> Dict[str, float]:
    """Average (or sum) a dict of floats over all ranks; identity on one process.

    All ranks must call it with the same keys in the same order.

    Args:
        values: name -> number.
        op: ``'mean'`` or ``'sum'``.
    """
    if op not in ("mean", "sum"):
        raise ValueError(f"op must be 'mean' or 'sum', got {op!r}")
    if not is_distributed() or not values:
        return dict(values)
    _, world_size = get_dist_info()
    keys = list(values)
    packed = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=dist_device())
    dist.all_reduce(packed)
    if op == "mean":
        packed /= world_size
    return dict(zip(keys, packed.tolist()))


def all_gather_object(obj: Any) -> List[Any]:
    """Every rank's ``obj`` (a one-element list without a process group)."""
    if not is_distributed():
        return [obj]
    out: List[Any] = [None] * get_dist_info()[1]
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    """Wait for all ranks (no-op without a process group)."""
    if not is_distributed():
        return
    if dist.get_backend() == "nccl":  # name the GPU, or NCCL guesses one and warns
        dist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        dist.barrier()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (``obj`` itself without a process group)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def interleave_results(parts: Sequence[Sequence[Any]], size: int) -> List[Any]:
    """Dataset-order results from the parts of a rank-interleaving sampler.

    ``DistributedSampler`` gives rank ``r`` of ``W`` the dataset indices ``r, r + W, ...`` (padded
    with the first indices when it rounds up), so dataset index ``i`` is item ``i // W`` of part
    ``i % W``. Items past ``size`` are padding and are dropped.

    Raises:
        RuntimeError: the parts hold fewer than ``size`` results.
    """
    world = len(parts)
    available = sum(len(part) for part in parts)
    if available < size:
        raise RuntimeError(f"The ranks returned {available} results for a dataset of {size} samples "
                           f"({[len(p) for p in parts]} per rank); every sample must be tested.")
    try:
        return [parts[i % world][i // world] for i in range(size)]
    except IndexError:
        raise RuntimeError(f"The per-rank result counts {[len(p) for p in parts]} do not match a "
                           f"sampler that deals indices round-robin over {world} ranks; pass the "
                           f"dataset indices (collect_results(..., indices=...)).") from None


def _ordered_by_index(parts: Sequence[Sequence[Any]], index_parts: Sequence[Sequence[int]],
                      size: int) -> List[Any]:
    """Put ``parts[r][k]`` at dataset index ``index_parts[r][k]``; duplicates (padding) count once."""
    out: List[Any] = [None] * size
    seen = [False] * size
    for part, indices in zip(parts, index_parts):
        if len(part) != len(indices):
            raise ValueError(f"{len(part)} results but {len(indices)} indices on one rank.")
        for index, result in zip(indices, part):
            index = int(index)
            if not 0 <= index < size:
                raise RuntimeError(f"Result for dataset index {index} outside [0, {size}).")
            if not seen[index]:
                out[index], seen[index] = result, True
    missing = [i for i, got in enumerate(seen) if not got]
    if missing:
        raise RuntimeError(f"No rank returned results for dataset indices {missing[:20]}"
                           f"{' ...' if len(missing) > 20 else ''} ({len(missing)} of {size}).")
    return out


def _gather_through_files(payload: Any, tmpdir: Optional[str]) -> Optional[List[Any]]:
    """Every rank's ``payload`` on rank 0 (None elsewhere) through pickles in a temporary folder."""
    rank, world_size = get_dist_info()
    folder = None
    if rank == 0:
        if tmpdir is not None:
            os.makedirs(tmpdir, exist_ok=True)
        # A fresh sub-folder, so nothing the user keeps in tmpdir is read or removed.
        folder = tempfile.mkdtemp(prefix=".dist_collect_", dir=tmpdir)
    folder = broadcast_object(folder)
    with atomic_open(osp.join(folder, f"part_{rank}.pkl"), "wb") as f:
        pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)
    barrier()
    if rank != 0:
        return None
    gathered = []
    try:
        for other in range(world_size):
            path = osp.join(folder, f"part_{other}.pkl")
            if not osp.isfile(path):
                raise RuntimeError(
                    f"The results of rank {other} are not in {folder}: the ranks do not share this "
                    f"folder (a multi-node run). Pass --tmpdir on a filesystem all nodes share, or "
                    f"--gpu-collect to gather through the process group.")
            with open(path, "rb") as f:
                gathered.append(pickle.load(f))  # files this job just wrote in its own folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return gathered


def collect_results(result_part: Sequence[Any], size: int, tmpdir: Optional[str] = None,
                    gpu_collect: bool = False,
                    indices: Optional[Sequence[int]] = None) -> Optional[List[Any]]:
    """Gather the results of all ranks on rank 0, in dataset order, each sample once.

    Every rank must call it. Without ``indices`` the parts are assumed to come from
    ``seglab.datasets.DistributedSampler`` (rank ``r`` tested indices ``r, r + W, ...``; see
    :func:`interleave_results`). With ``indices`` (the dataset index of each result of this rank)
    any sampler works and repeated indices (a sampler's padding) count once.

    Args:
        result_part: this rank's results, in the order its sampler gave the samples.
        size: the dataset length; the returned list has exactly this length.
        tmpdir: folder for the per-rank files (a fresh sub-folder is created and removed in it);
            default: the system temp dir, which only works when all ranks are on one node.
        gpu_collect: gather through the process group (``gather_object``) instead of files.
        indices: dataset index of each entry of ``result_part``.

    Returns:
        The ``size`` results in dataset order on rank 0; None on the other ranks. Without a process
        group, this process's results in order.
    """
    part = list(result_part)
    index_part = None if indices is None else [int(i) for i in indices]
    if index_part is not None and len(index_part) != len(part):
        raise ValueError(f"collect_results: {len(part)} results but {len(index_part)} indices.")
    if not is_distributed():
        gathered: Optional[List[Any]] = [(part, index_part)]
    elif gpu_collect:
        rank, world_size = get_dist_info()
        gathered = [None] * world_size if rank == 0 else None
        dist.gather_object((part, index_part), gathered, dst=0)
    else:
        gathered = _gather_through_files((part, index_part), tmpdir)
    if gathered is None:
        return None
    parts = [p for p, _ in gathered]
    if index_part is None:
        return interleave_results(parts, size)
    return _ordered_by_index(parts, [i for _, i in gathered], size)
