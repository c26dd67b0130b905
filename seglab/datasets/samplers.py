"""Samplers whose output depends only on (seed, epoch, rank), never on the number of workers.

Training uses :class:`InfiniteSampler`: one endless stream of indices per rank, reshuffled every
epoch with ``seed + epoch``. Each index it yields is a :class:`SampleIndex`, an ``int`` that also
carries a per-sample seed derived from ``(seed, global sample position)``; a
:class:`~seglab.datasets.seeded_dataset.SeededDataset` uses that seed to seed the random
generators before the pipeline runs, so augmentations are the same whatever the number of
DataLoader workers, and a resumed run (``skip``) continues the exact stream.

Testing uses :class:`DistributedSampler`: rank ``r`` of ``W`` gets dataset indices
``r, r + W, r + 2W, ...`` without padding duplicates, so no image is counted twice.
"""
from __future__ import annotations

import math
from typing import Iterator, List, Optional, Sequence, Sized

import numpy as np
import torch
from torch.utils.data import Sampler

from ..errors import DatasetError
from ..registry import SAMPLERS
from ..utils import get_dist_info

_UINT32 = 0xFFFFFFFF


class SampleIndex(int):
    """A dataset index (an ``int``) that also carries the seed of its augmentations.

    It compares, hashes and indexes like the plain ``int``; ``seed`` is read by
    :class:`~seglab.datasets.seeded_dataset.SeededDataset`. It survives pickling, so it reaches
    DataLoader worker processes intact.
    """

    def __new__(cls, index: int, seed: Optional[int] = None) -> "SampleIndex":
        obj = super().__new__(cls, index)
        obj.seed = seed
        return obj

    def __reduce__(self):
        return (SampleIndex, (int(self), self.seed))

    def __repr__(self) -> str:
        return f"SampleIndex({int(self)}, seed={self.seed})"


def sample_seed(seed: int, position: int) -> int:
    """A 32-bit seed for the sample at global stream ``position`` of a run seeded with ``seed``.

    SeedSequence mixes the two numbers so that neighbouring positions get unrelated seeds.
    """
    return int(np.random.SeedSequence([int(seed) & _UINT32, int(position)]).generate_state(1)[0])


def _resolve_rank(rank: Optional[int], world_size: Optional[int]):
    dist_rank, dist_world = get_dist_info()
    rank = dist_rank if rank is None else int(rank)
    world_size = dist_world if world_size is None else int(world_size)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank={rank} must be in [0, world_size={world_size}).")
    return rank, world_size


def _check_not_empty(dataset: Sized, what: str) -> int:
    size = len(dataset)
    if size == 0:
        raise DatasetError(
            f"The dataset given to {what} is empty ({type(dataset).__name__} lists 0 samples). "
            "Check img_dir, split and img_suffix in the data config, and that the files exist; "
            "`python tools/check_dataset.py CONFIG` prints what the config resolves to.")
    return size


@SAMPLERS.register_module()
class InfiniteSampler(Sampler):
    """An endless, rank-sharded stream of dataset indices for iteration-based training.

    Epoch ``e`` is a permutation of ``range(len(dataset))`` drawn from ``seed + e`` (or the
    identity when ``shuffle=False``), padded by repeating its start to a multiple of
    ``world_size``; rank ``r`` takes every ``world_size``-th element starting at ``r``. The
    stream of a rank is the concatenation of its epochs, so it depends only on
    ``(seed, epoch, rank)``. Each yielded :class:`SampleIndex` carries
    ``sample_seed(seed, p * world_size + rank)`` where ``p`` is the position in this rank's
    stream, i.e. a seed for the sample's global position.

    ``len(sampler)`` is the number of samples of one epoch on this rank (for logging); iterating
    never stops. Every ``iter()`` starts at the position set by :meth:`set_epoch` and
    :meth:`skip` (a training loop calls it once).

    Args:
        dataset: anything with ``__len__``.
        shuffle: reshuffle every epoch.
        seed: the run's seed; must be the same on every rank.
        rank: this process's rank (default: from the process group, else 0).
        world_size: number of processes (default: from the process group, else 1).
    """

    def __init__(self, dataset: Sized, shuffle: bool = True, seed: Optional[int] = 0,
                 rank: Optional[int] = None, world_size: Optional[int] = None):
        self.size = _check_not_empty(dataset, "InfiniteSampler")
        self.shuffle = bool(shuffle)
        self.seed = 0 if seed is None else int(seed)
        self.rank, self.world_size = _resolve_rank(rank, world_size)
        self.num_samples_per_epoch = math.ceil(self.size / self.world_size)
        self.epoch = 0
        self._skipped = 0

    def __len__(self) -> int:
        return self.num_samples_per_epoch

    def set_epoch(self, epoch: int) -> None:
        """Start the next ``iter()`` at the beginning of ``epoch`` (plus any ``skip``)."""
        self.epoch = int(epoch)

    def skip(self, num_samples: int) -> None:
        """Start the next ``iter()`` ``num_samples`` later in this rank's stream (cumulative).

        A resumed run calls this with the number of samples this rank has already consumed
        (``iteration * samples_per_gpu``) before its first ``iter(loader)``.
        """
        if num_samples < 0:
            raise ValueError(f"skip(num_samples={num_samples}): num_samples must be >= 0.")
        self._skipped += int(num_samples)

    def epoch_indices(self, epoch: int) -> List[int]:
        """The indices that this rank visits in ``epoch`` (length ``len(self)``)."""
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(self.seed + epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        total = self.num_samples_per_epoch * self.world_size
        while len(order) < total:  # more ranks than samples needs several repeats
            order += order[:total - len(order)]
        return order[self.rank:total:self.world_size]

    def __iter__(self) -> Iterator[SampleIndex]:
        position = self.epoch * self.num_samples_per_epoch + self._skipped
        epoch, offset = divmod(position, self.num_samples_per_epoch)
        while True:
            for index in self.epoch_indices(epoch)[offset:]:
                global_position = position * self.world_size + self.rank
                yield SampleIndex(index, sample_seed(self.seed, global_position))
                position += 1
            epoch += 1
            offset = 0


@SAMPLERS.register_module()
class DistributedSampler(Sampler):
    """Shards a (test) dataset over ranks: rank ``r`` gets indices ``r, r + W, r + 2W, ...``.

    Without ``round_up`` nothing is padded, so ranks may get one sample less than others and no
    sample is evaluated twice. Results gathered from the ranks are put back in dataset order by
    :meth:`restore_order` (dataset index ``i`` is item ``i // W`` of rank ``i % W``).

    Args:
        dataset: anything with ``__len__``.
        num_replicas: world size (default: from the process group, else 1).
        rank: this rank (default: from the process group, else 0).
        shuffle: permute the indices with ``seed + epoch`` before sharding.
        seed: seed of that permutation; the same on every rank.
        round_up: pad with the first indices so every rank gets the same count (torch's
            behaviour; those duplicates are then evaluated twice).
    """

    def __init__(self, dataset: Sized, num_replicas: Optional[int] = None,
                 rank: Optional[int] = None, shuffle: bool = False, seed: Optional[int] = 0,
                 round_up: bool = False):
        self.size = len(dataset)
        self.rank, self.num_replicas = _resolve_rank(rank, num_replicas)
        self.shuffle = bool(shuffle)
        self.seed = 0 if seed is None else int(seed)
        self.round_up = bool(round_up)
        self.epoch = 0
        if self.round_up:
            self.total_size = math.ceil(self.size / self.num_replicas) * self.num_replicas
        else:
            self.total_size = self.size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(self.seed + self.epoch)
            indices = torch.randperm(self.size, generator=generator).tolist()
        else:
            indices = list(range(self.size))
        while self.size and len(indices) < self.total_size:
            indices += indices[:self.total_size - len(indices)]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self) -> int:
        return len(range(self.rank, self.total_size, self.num_replicas))

    @staticmethod
    def restore_order(per_rank_results: Sequence[Sequence], size: Optional[int] = None) -> list:
        """Interleave the results of all ranks back into dataset order (no shuffle).

        Args:
            per_rank_results: ``per_rank_results[r]`` holds rank ``r``'s results in the order
                the sampler gave its indices.
            size: the dataset length; results beyond it (``round_up`` padding) are dropped.

        Returns:
            list: ``out[i]`` is the result for dataset index ``i``.
        """
        world = len(per_rank_results)
        total = sum(len(part) for part in per_rank_results)
        ordered = [per_rank_results[i % world][i // world] for i in range(total)]
        return ordered if size is None else ordered[:size]
