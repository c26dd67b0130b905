"""Distributed testing in-process: run_test / multi_gpu_test over 2 forked gloo ranks.

One module-scoped 2-rank run exercises every mode (metrics, --out through a temp folder and
through the process group, overlays, format_only, pre_eval, a padding sampler, an unsharded
loader); each test compares one of them with the same call on one process. The 5 test images
have different sizes and batches hold 2, so ranks get 3 and 2 images of mixed sizes.
"""
from __future__ import annotations

import contextlib
import io
import os
import os.path as osp
import pickle
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist

from dist_launch_helpers import REPO, run_forked

sys.path.insert(0, str(REPO / "tests" / "apis"))

from apis_helpers import make_fixture_files, tiny_model  # noqa: E402
from seglab.apis.cli import build_test_loader, prepare_test_config  # noqa: E402
from seglab.apis.test import multi_gpu_test, run_test, single_gpu_test  # noqa: E402
from seglab.config import Config  # noqa: E402
from seglab.datasets import DistributedSampler  # noqa: E402
from seglab.datasets.collate import collate  # noqa: E402
from seglab.errors import ConfigError  # noqa: E402

METRICS = ["mIoU", "mDice"]


def _loader(config: str):
    cfg = Config.fromfile(config)
    prepare_test_config(cfg)
    return build_test_loader(cfg, batch_size=2)


def _worker(rank, world_size, init_file, config, out_dir):
    torch.set_num_threads(1)  # a forked child must not enter its parent's OpenMP pool
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world_size)
    try:
        dataset, loader = _loader(config)
        model = tiny_model()
        record = dict(sampler=type(loader.sampler).__name__, shard=list(loader.sampler))
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            out = run_test(model, loader, metric=METRICS, logger=None,
                           show_dir=osp.join(out_dir, "show"),
                           out_file=osp.join(out_dir, "dist.pkl"),
                           tmpdir=osp.join(out_dir, "collect"))
        record.update(metrics=out.metrics, num_images=out.num_images,
                      predictions=out.predictions, stdout=stdout.getvalue(),
                      stderr=stderr.getvalue())
        record["gpu_collect"] = run_test(model, loader, keep_predictions=True, gpu_collect=True,
                                         logger="silent").predictions
        record["pre_eval"] = multi_gpu_test(model, loader, pre_eval=True,
                                            tmpdir=osp.join(out_dir, "collect"))
        record["multi_gpu"] = multi_gpu_test(model, loader, gpu_collect=True)
        record["format_files"] = run_test(
            model, loader, format_only=True, logger="silent",
            format_args=dict(imgfile_prefix=osp.join(out_dir, "fmt"))).files
        # torch's sampler pads 5 samples to 6: fine for gathering, wrong for metrics.
        padded = torch.utils.data.DataLoader(
            dataset, batch_size=1, collate_fn=collate,
            sampler=torch.utils.data.DistributedSampler(dataset, shuffle=False))
        record["padded_multi_gpu"] = multi_gpu_test(model, padded)
        try:
            run_test(model, padded, metric="mIoU", logger="silent")
        except ConfigError as err:
            record["padded_error"] = str(err)
        # Every rank runs the whole dataset: its results must not be summed over ranks.
        whole = torch.utils.data.DataLoader(dataset, batch_size=2, collate_fn=collate)
        record["unsharded"] = run_test(model, whole, metric=METRICS, logger="silent").metrics
        with open(osp.join(out_dir, f"rank{rank}.pkl"), "wb") as f:
            pickle.dump(record, f)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(files, single-process reference, [rank 0 record, rank 1 record], output folders)."""
    root = tmp_path_factory.mktemp("multi_gpu_test")
    files = make_fixture_files(str(root / "fixture"))
    dist_dir, single_dir = root / "dist", root / "single"
    dist_dir.mkdir()
    run_forked(_worker, (files["config"], str(dist_dir)))
    records = []
    for rank in range(2):
        with open(dist_dir / f"rank{rank}.pkl", "rb") as f:
            records.append(pickle.load(f))
    dataset, loader = _loader(files["config"])
    model = tiny_model()
    reference = run_test(model, loader, metric=METRICS, logger="silent",
                         show_dir=str(single_dir / "show"), keep_predictions=True)
    reference.pre_eval = single_gpu_test(model, loader, pre_eval=True)
    reference.format_files = run_test(
        model, loader, format_only=True, logger="silent",
        format_args=dict(imgfile_prefix=str(single_dir / "fmt"))).files
    return files, reference, records, dist_dir, single_dir


def _assert_same_maps(got, expected):
    assert len(got) == len(expected) == 5
    for a, b in zip(got, expected):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def test_each_rank_tests_its_own_shard_without_padding(runs):
    _, _, records, _, _ = runs
    assert [r["sampler"] for r in records] == ["DistributedSampler"] * 2
    assert [r["shard"] for r in records] == [[0, 2, 4], [1, 3]]


def test_metrics_equal_one_process_on_every_rank(runs):
    _, reference, records, _, _ = runs
    for record in records:
        assert record["metrics"] == pytest.approx(reference.metrics, nan_ok=True)
        assert record["num_images"] == 5
    assert any(v > 0 for k, v in reference.metrics.items() if k.startswith("IoU."))


def test_out_is_written_by_rank_0_in_dataset_order(runs):
    _, reference, records, dist_dir, _ = runs
    with open(dist_dir / "dist.pkl", "rb") as f:
        saved = pickle.load(f)
    _assert_same_maps(saved, reference.predictions)
    _assert_same_maps(records[0]["predictions"], reference.predictions)
    assert records[1]["predictions"] is None
    # The gathering files were removed; the user's tmpdir itself is kept.
    assert os.listdir(dist_dir / "collect") == []


def test_gpu_collect_gathers_through_the_process_group(runs):
    _, reference, records, _, _ = runs
    _assert_same_maps(records[0]["gpu_collect"], reference.predictions)
    assert records[1]["gpu_collect"] is None


def test_each_rank_paints_its_own_images(runs):
    _, _, _, dist_dir, single_dir = runs
    names = sorted(os.listdir(single_dir / "show"))
    assert names == [f"val_{i:05d}.jpg" for i in range(5)]
    assert sorted(os.listdir(dist_dir / "show")) == names
    for name in names:
        assert (dist_dir / "show" / name).read_bytes() == (single_dir / "show" / name).read_bytes()


def test_format_only_files_listed_on_rank_0(runs):
    _, reference, records, dist_dir, single_dir = runs
    assert [osp.basename(f) for f in records[0]["format_files"]] == \
        [osp.basename(f) for f in reference.format_files]
    assert records[1]["format_files"] == []
    for name in os.listdir(single_dir / "fmt"):
        assert (dist_dir / "fmt" / name).read_bytes() == (single_dir / "fmt" / name).read_bytes()


def test_tables_and_progress_only_on_rank_0(runs):
    _, _, records, _, _ = runs
    assert records[0]["stdout"].count("per class results:") == 1
    assert records[0]["stdout"].count("Summary:") == 1
    assert "[test] 5/5 images" in records[0]["stderr"]  # rank 0 speaks for both ranks
    assert records[1]["stdout"] == "" and records[1]["stderr"] == ""


def test_multi_gpu_test_returns_dataset_order_on_rank_0(runs):
    _, reference, records, _, _ = runs
    _assert_same_maps([np.asarray(p) for p in records[0]["multi_gpu"]],
                      [p.astype(np.int64) for p in reference.predictions])
    assert len(records[0]["pre_eval"]) == 5
    for got, expected in zip(records[0]["pre_eval"], reference.pre_eval):
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert records[1]["multi_gpu"] is None and records[1]["pre_eval"] is None


def test_padding_sampler_gathers_each_image_once_but_cannot_feed_metrics(runs):
    _, reference, records, _, _ = runs
    _assert_same_maps([np.asarray(p) for p in records[0]["padded_multi_gpu"]],
                      [p.astype(np.int64) for p in reference.predictions])
    message = records[0]["padded_error"]
    assert "pads the 5 samples to 6" in message and "seglab.datasets.DistributedSampler" in message


def test_unsharded_loader_is_not_counted_twice(runs):
    _, reference, records, _, _ = runs
    for record in records:
        assert record["unsharded"] == pytest.approx(reference.metrics, nan_ok=True)


def test_without_process_group_multi_gpu_test_is_single_gpu_test(runs):
    files, reference, _, _, _ = runs
    _, loader = _loader(files["config"])
    assert isinstance(loader.sampler, torch.utils.data.SequentialSampler)
    assert not isinstance(loader.sampler, DistributedSampler)
    results = multi_gpu_test(tiny_model(), loader)
    _assert_same_maps([np.asarray(p) for p in results],
                      [p.astype(np.int64) for p in reference.predictions])
