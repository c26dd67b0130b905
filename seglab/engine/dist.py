"""Distributed helpers for the training loop (no-ops without a process group)."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping

import torch
import torch.distributed as dist

from ..utils import get_dist_info, is_distributed


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
    backend = dist.get_backend()
    device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
    keys = list(values)
    packed = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
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
    if is_distributed():
        dist.barrier()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (``obj`` itself without a process group)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
