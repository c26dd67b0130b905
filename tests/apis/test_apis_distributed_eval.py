"""The hook point for distributed testing: sharded sampler + summed counts give one result."""
from __future__ import annotations

import json
import os

import pytest
import torch
import torch.distributed as dist

from apis_helpers import NUM_CLASSES, OracleSegmentor
from seglab.apis import evaluate_segmentor
from seglab.apis.cli import build_test_loader
from seglab.config import Config
from seglab.datasets import DistributedSampler, build_dataloader
from spawn_ranks import spawn_ranks


def _worker(rank, world_size, init_file, config, out_dir):
    # A forked child must not enter the OpenMP pool its parent already started (it hangs).
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world_size)
    try:
        dataset, _ = build_test_loader(Config.fromfile(config))
        loader = build_dataloader(dataset, samples_per_gpu=2, workers_per_gpu=0, dist=True,
                                  shuffle=False, seed=0, infinite=False)
        assert isinstance(loader.sampler, DistributedSampler)
        model = OracleSegmentor(dataset, NUM_CLASSES, step=3)
        results = evaluate_segmentor(model, loader, metric=["mIoU", "mFscore"],
                                     logger="silent")
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump(dict(results=results, seen=len(model.returned)), f)
    finally:
        dist.destroy_process_group()


def test_two_ranks_give_the_single_process_result(fixture_files, tmp_path):
    spawn_ranks(_worker, (fixture_files["config"], str(tmp_path)))
    dataset, loader = build_test_loader(Config.fromfile(fixture_files["config"]))
    single = evaluate_segmentor(OracleSegmentor(dataset, NUM_CLASSES, step=3), loader,
                                metric=["mIoU", "mFscore"], logger="silent")
    ranks = []
    for rank in range(2):
        with open(tmp_path / f"rank{rank}.json") as f:
            ranks.append(json.load(f))
    assert [r["seen"] for r in ranks] == [3, 2]  # each image evaluated once, no padding
    for r in ranks:
        assert r["results"] == pytest.approx(single, nan_ok=True)
