"""Samplers under a real 2-process gloo group: shared seed, disjoint shards, no test duplicates."""
from __future__ import annotations

import json
import os.path as osp
from itertools import islice

from spawn_ranks import spawn_ranks


def _worker(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    from seglab.datasets import build_dataloader

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world_size)
    try:
        dataset = list(range(11))
        train = build_dataloader(dataset, samples_per_gpu=2, workers_per_gpu=0, seed=None)
        test = build_dataloader(dataset, samples_per_gpu=1, workers_per_gpu=0, shuffle=False)
        result = dict(seed=train.sampler.seed, rank=train.sampler.rank,
                      world=train.sampler.world_size,
                      train=[int(i) for i in islice(iter(train.sampler), 6)],
                      test=list(test.sampler))
        with open(osp.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump(result, f)
    finally:
        dist.destroy_process_group()


def test_two_ranks_share_the_seed_and_split_the_data(tmp_path):
    spawn_ranks(_worker, (str(tmp_path),))
    r0, r1 = (json.load(open(tmp_path / f"rank{r}.json")) for r in range(2))
    assert (r0["rank"], r1["rank"], r0["world"], r1["world"]) == (0, 1, 2, 2)
    assert r0["seed"] == r1["seed"]  # drawn on rank 0, broadcast
    # One epoch has 12 slots for 11 samples: 6 per rank, every sample once plus one repeat.
    assert len(r0["train"]) == len(r1["train"]) == 6
    assert set(r0["train"]) | set(r1["train"]) == set(range(11))
    assert sorted(r0["test"] + r1["test"]) == list(range(11))  # no padding duplicates
    assert len(r0["test"]) == 6 and len(r1["test"]) == 5
