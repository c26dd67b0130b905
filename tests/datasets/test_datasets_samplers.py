"""InfiniteSampler / DistributedSampler: streams depend only on (seed, epoch, rank)."""
from __future__ import annotations

import pickle
from itertools import islice

import numpy as np
import pytest

from seglab.datasets import DistributedSampler, InfiniteSampler, SampleIndex, SeededDataset
from seglab.errors import DatasetError
from seglab.registry import SAMPLERS


def take(sampler, n):
    return list(islice(iter(sampler), n))


def test_epochs_are_permutations_reshuffled_by_seed_and_epoch():
    s = InfiniteSampler(range(10), seed=3)
    stream = take(s, 30)
    epochs = [stream[i:i + 10] for i in (0, 10, 20)]
    for epoch in epochs:
        assert sorted(epoch) == list(range(10))
    assert epochs[0] != epochs[1]
    assert take(InfiniteSampler(range(10), seed=3), 30) == stream  # deterministic
    assert take(InfiniteSampler(range(10), seed=4), 10) != epochs[0]
    assert take(InfiniteSampler(range(10), shuffle=False), 12) == list(range(10)) + [0, 1]
    assert len(s) == 10 and SAMPLERS.get("InfiniteSampler") is InfiniteSampler


def test_ranks_get_disjoint_shards_covering_the_epoch():
    shards = [take(InfiniteSampler(range(10), seed=0, rank=r, world_size=3), 4) for r in range(3)]
    assert all(len(s) == 4 for s in shards)
    flat = [i for s in shards for i in s]
    assert set(flat) == set(range(10)) and len(flat) == 12  # 2 padding repeats, as torch
    first_two = [set(s[:3]) for s in shards]
    assert not (first_two[0] & first_two[1]) and not (first_two[1] & first_two[2])
    tiny = [take(InfiniteSampler(range(2), rank=r, world_size=5, shuffle=False), 1)
            for r in range(5)]
    assert tiny == [[0], [1], [0], [1], [0]]


def test_seeds_belong_to_global_positions():
    one = take(InfiniteSampler(range(7), seed=5, rank=0, world_size=1), 14)
    assert all(isinstance(i, SampleIndex) and isinstance(i, int) for i in one)
    seeds = [i.seed for i in one]
    assert len(set(seeds)) == len(seeds)
    r0 = take(InfiniteSampler(range(7), seed=5, rank=0, world_size=2), 5)
    r1 = take(InfiniteSampler(range(7), seed=5, rank=1, world_size=2), 5)
    assert not ({i.seed for i in r0} & {i.seed for i in r1})


def test_skip_continues_the_stream_exactly():
    full = take(InfiniteSampler(range(9), seed=2, rank=1, world_size=2), 25)
    for k in (0, 3, 5, 11):
        s = InfiniteSampler(range(9), seed=2, rank=1, world_size=2)
        s.skip(k)
        rest = take(s, 25 - k)
        assert rest == full[k:]
        assert [i.seed for i in rest] == [i.seed for i in full[k:]]
    s = InfiniteSampler(range(9), seed=2, rank=1, world_size=2)
    s.skip(2)
    s.skip(3)
    assert take(s, 4) == full[5:9]
    with pytest.raises(ValueError):
        s.skip(-1)


def test_set_epoch_starts_at_that_epoch():
    full = take(InfiniteSampler(range(6), seed=1), 18)
    s = InfiniteSampler(range(6), seed=1)
    s.set_epoch(2)
    assert take(s, 6) == full[12:18]


def test_sample_index_pickles_with_its_seed():
    i = SampleIndex(4, seed=1234)
    j = pickle.loads(pickle.dumps(i))
    assert j == 4 and j.seed == 1234 and isinstance(j, SampleIndex)
    assert [10, 11, 12, 13, 14][i] == 14


def test_empty_dataset_is_refused():
    with pytest.raises(DatasetError, match="empty"):
        InfiniteSampler([], seed=0)


def test_bad_rank_is_refused():
    with pytest.raises(ValueError, match="rank=2"):
        InfiniteSampler(range(3), rank=2, world_size=2)


def test_distributed_sampler_has_no_padding_and_restores_order():
    parts = [list(DistributedSampler(range(10), num_replicas=3, rank=r)) for r in range(3)]
    assert parts == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert [len(DistributedSampler(range(10), 3, r)) for r in range(3)] == [4, 3, 3]
    results = [[f"r{i}" for i in p] for p in parts]
    assert DistributedSampler.restore_order(results) == [f"r{i}" for i in range(10)]
    padded = [list(DistributedSampler(range(10), 3, r, round_up=True)) for r in range(3)]
    assert [len(p) for p in padded] == [4, 4, 4]
    merged = DistributedSampler.restore_order(padded, size=10)
    assert merged == list(range(10))
    shuffled = [list(DistributedSampler(range(10), 2, r, shuffle=True, seed=3)) for r in range(2)]
    assert sorted(shuffled[0] + shuffled[1]) == list(range(10))


class RandomDataset:
    """Returns random numbers drawn from every generator a transform might use."""

    def __len__(self):
        return 5

    def __getitem__(self, index):
        import random

        import torch

        return (int(index), np.random.randint(1 << 30), random.random(), float(torch.rand(1)))


def test_seeded_dataset_repeats_draws_and_restores_global_state():
    ds = SeededDataset(RandomDataset())
    a = ds[SampleIndex(2, seed=99)]
    state = np.random.get_state()[1].copy()
    b = ds[SampleIndex(2, seed=99)]
    assert a == b and a[0] == 2
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    assert ds[SampleIndex(2, seed=100)] != a
    assert len(ds) == 5 and ds[3][0] == 3  # plain ints pass through
    clone = pickle.loads(pickle.dumps(ds))
    assert clone[SampleIndex(2, seed=99)] == a
