"""train_segmentor over 2 forked gloo ranks: DDP wrapping, sampler shards, reduced log values.

Each rank records its own total loss (the tensor its backward used, not reduced) with a hook;
rank 0's json log must hold their mean. The ranks are given different seeds, as ``--diff-seed``
does, and must still share one data stream split into distinct shards.
"""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from dist_launch_helpers import REPO, run_forked
from seglab.engine import Hook
from seglab.registry import HOOKS

ITERS = 2


@HOOKS.register_module(force=True)
class RecordLossHook(Hook):
    """Keeps this rank's own total loss of every iteration."""

    records: list = []

    def after_train_iter(self, runner) -> None:
        RecordLossHook.records.append(float(runner.outputs["loss"].detach()))


def _worker(rank, world_size, init_file, data_root, work_dir, out_dir):
    torch.set_num_threads(1)  # a forked child must not enter its parent's OpenMP pool
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world_size)
    try:
        from seglab.apis.train import train_segmentor
        from seglab.config import Config
        from seglab.datasets import build_dataset
        from seglab.models import build_segmentor

        cfg = Config.fromfile(str(REPO / "configs/demo/fcn_tiny_synthetic_voc_smoke.py"))
        cfg.merge_from_dict({"data.train.data_root": data_root, "data.val.data_root": data_root,
                             "runner.max_iters": ITERS, "checkpoint_config.interval": ITERS,
                             "log_config.interval": 1, "evaluation.interval": ITERS})
        cfg.work_dir = work_dir
        cfg.seed = 7 + rank  # what --diff-seed does
        cfg.device = "cpu"
        cfg.find_unused_parameters = True
        cfg.custom_hooks = [dict(type="RecordLossHook")]
        torch.manual_seed(0)  # the same initial weights everywhere
        model = build_segmentor(cfg.model, train_cfg=cfg.get("train_cfg"),
                                test_cfg=cfg.get("test_cfg"))
        model.init_weights()
        runner = train_segmentor(model, [build_dataset(cfg.data.train)], cfg, distributed=True,
                                 validate=True, meta=dict(seed=cfg.seed))
        sampler = runner.data_loader.sampler
        record = dict(wrapper=type(runner.model).__name__,
                      find_unused=runner.model.find_unused_parameters,
                      sampler_seed=sampler.seed, shard=sampler.epoch_indices(0),
                      losses=RecordLossHook.records,
                      weights=runner.model.module.decode_head.conv_seg.weight.detach().clone())
        with open(os.path.join(out_dir, f"rank{rank}.pkl"), "wb") as f:
            pickle.dump(record, f)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from seglab.datasets import make_synthetic_voc

    root = tmp_path_factory.mktemp("train_two_ranks")
    data_root = make_synthetic_voc(str(root / "voc"), num_train=8, num_val=3, size=32, seed=2)
    work_dir = root / "work"
    run_forked(_worker, (data_root, str(work_dir), str(root)))
    records = []
    for rank in range(2):
        with open(root / f"rank{rank}.pkl", "rb") as f:
            records.append(pickle.load(f))
    return records, work_dir


def _json_records(work_dir: Path):
    (name,) = [n for n in os.listdir(work_dir) if n.endswith(".log.json")]
    with open(work_dir / name) as f:
        return [json.loads(line) for line in f.read().splitlines()[1:]]


def test_model_is_wrapped_in_ddp_with_the_config_setting(run):
    records, _ = run
    for record in records:
        assert record["wrapper"] == "SegDistributedDataParallel"
        assert record["find_unused"] is True
    torch.testing.assert_close(records[0]["weights"], records[1]["weights"], rtol=0, atol=0)


def test_ranks_share_one_stream_in_distinct_shards(run):
    records, _ = run
    assert records[0]["sampler_seed"] == records[1]["sampler_seed"]
    shards = [r["shard"] for r in records]
    assert len(shards[0]) == len(shards[1]) == 4
    assert sorted(shards[0] + shards[1]) == list(range(8))


def test_logged_losses_are_the_mean_over_ranks(run):
    records, work_dir = run
    train = [r for r in _json_records(work_dir) if r["mode"] == "train"]
    assert [r["iter"] for r in train] == list(range(1, ITERS + 1))
    per_rank = [r["losses"] for r in records]
    assert all(len(v) == ITERS for v in per_rank)
    for i, logged in enumerate(train):
        values = [per_rank[0][i], per_rank[1][i]]
        assert abs(values[0] - values[1]) > 1e-3  # different samples: the mean is a real reduction
        assert logged["loss"] == pytest.approx(sum(values) / 2, abs=2e-5), i
    assert len([r for r in _json_records(work_dir) if r["mode"] == "val"]) == 1
