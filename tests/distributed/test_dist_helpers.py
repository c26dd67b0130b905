"""seglab.engine.dist in one process (no group, and a gloo group of one).

The 2-process gathering is in test_collectives_two_processes.py.
"""
import os

import pytest
import torch
import torch.distributed as dist

from seglab.datasets.samplers import DistributedSampler
from seglab.engine.dist import collect_results, dist_device, interleave_results


@pytest.fixture
def gloo_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_interleave_results_inverts_the_distributed_sampler():
    """Both with the sampler's padding (round_up) and without it."""
    for size, world, round_up in [(7, 3, False), (7, 3, True), (2, 4, True), (6, 2, False)]:
        dataset = list(range(size))
        parts = [[f"r{i}" for i in DistributedSampler(dataset, world, rank, round_up=round_up)]
                 for rank in range(world)]
        assert interleave_results(parts, size) == [f"r{i}" for i in range(size)]


def test_interleave_results_errors_name_the_counts():
    with pytest.raises(RuntimeError, match=r"3 results for a dataset of 4 samples \(\[2, 1\] per rank\)"):
        interleave_results([[0, 2], [1]], 4)
    with pytest.raises(RuntimeError, match="pass the dataset indices"):
        interleave_results([[0, 2, 4], []], 3)


def test_collect_results_without_group():
    assert dist_device() == torch.device("cpu")
    assert collect_results(["a", "b", "c"], 2) == ["a", "b"]  # padding past the size is dropped
    assert collect_results(["c", "a", "b", "a"], 3, indices=[2, 0, 1, 0]) == ["a", "b", "c"]
    with pytest.raises(RuntimeError, match=r"dataset indices \[1\]"):
        collect_results(["a", "c"], 3, indices=[0, 2])
    with pytest.raises(ValueError, match="2 results but 1 indices"):
        collect_results(["a", "b"], 2, indices=[0])


def test_collect_results_in_a_group_of_one_keeps_user_files(gloo_group, tmp_path):
    tmpdir = tmp_path / "collect"
    tmpdir.mkdir()
    (tmpdir / "keep.txt").write_text("mine")
    preds = [torch.full((2, 2), i) for i in range(3)]
    got = collect_results(preds, 3, tmpdir=str(tmpdir))
    assert [int(p[0, 0]) for p in got] == [0, 1, 2]
    assert os.listdir(tmpdir) == ["keep.txt"]  # its own sub-folder is gone, the user's file stays
    assert collect_results(preds, 3, gpu_collect=True)[2].equal(preds[2])
    assert collect_results(["b", "a"], 2, indices=[1, 0], gpu_collect=True) == ["a", "b"]
