"""The test loop with loader workers (images and label maps decoded in worker processes) and
batches gives exactly the predictions and metrics of the plain loop (no workers, batch 1)."""
from __future__ import annotations

import copy
import math
import os
import os.path as osp

import numpy as np
import pytest

from apis_helpers import tiny_model
from seglab.apis.cli import build_test_loader
from seglab.apis.predict_loop import GroundTruthBatches
from seglab.apis.test import run_test
from seglab.errors import DatasetError


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def _run(cfg, model, batch_size, workers):
    _, loader = build_test_loader(copy.deepcopy(cfg), batch_size=batch_size, workers=workers)
    assert loader.num_workers == workers and loader.batch_size == batch_size
    return run_test(model, loader, metric=["mIoU", "mFscore"], keep_predictions=True,
                    logger="silent")


def _same_metrics(a, b):
    assert sorted(a) == sorted(b)
    for key in a:  # exact, NaN (a class absent everywhere) included
        assert (math.isnan(a[key]) and math.isnan(b[key])) or a[key] == b[key], key


@pytest.mark.parametrize("batch_size,workers", [(1, 2), (3, 2), (2, 1)])
def test_workers_and_batches_equal_the_plain_loop(cfg, model, batch_size, workers):
    plain = _run(cfg, model, 1, 0)
    fast = _run(cfg, model, batch_size, workers)
    assert fast.num_images == plain.num_images == 5
    assert len({p.shape for p in plain.predictions}) > 2  # images of different sizes
    for a, b in zip(plain.predictions, fast.predictions):
        np.testing.assert_array_equal(a, b)
    assert len(np.unique(np.concatenate([p.ravel() for p in plain.predictions]))) > 2
    _same_metrics(plain.metrics, fast.metrics)
    assert 0 < plain.metrics["mIoU"] < 1


def test_ground_truth_batches_follow_the_loader(cfg):
    dataset, loader = build_test_loader(copy.deepcopy(cfg), batch_size=2, workers=2)
    truth = GroundTruthBatches(loader)
    try:
        for indices in ([0, 1], [2, 3], [4]):
            labels = truth.next(indices)
            assert len(labels) == len(indices)
            for index, label in zip(indices, labels):
                np.testing.assert_array_equal(label, dataset.get_gt_seg_map_by_idx(index))
    finally:
        truth.close()
    truth = GroundTruthBatches(loader)
    try:
        with pytest.raises(RuntimeError, match=r"gave the samples \[0, 1\] for the batch \[1, 2\]"):
            truth.next([1, 2])
    finally:
        truth.close()


def test_a_missing_label_file_keeps_its_message_with_workers(cfg, model, tmp_path):
    dataset, loader = build_test_loader(copy.deepcopy(cfg), batch_size=2, workers=2)
    label = dataset.sample_paths(3)[1]
    moved = str(tmp_path / osp.basename(label))
    os.rename(label, moved)
    try:
        with pytest.raises(DatasetError) as err:
            run_test(model, loader, metric="mIoU", logger="silent")
    finally:
        os.rename(moved, label)
    assert osp.basename(label) in str(err.value)
    assert "DataLoader worker" not in str(err.value)  # the plain message, not a wrapped one
