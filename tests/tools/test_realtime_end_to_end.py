"""A real-time model end to end on the CPU: tools/train.py learns, tools/test.py --eval mIoU.

configs/demo/bisenetv2_fcn-narrow_64x64_synthetic_voc.py (BiSeNetV2 at half its width) trains
from scratch on 64 px synthetic VOC images in a subprocess, as a user types it; tools/test.py
--eval mIoU then runs on the checkpoint in ``whole`` mode. The reference is the background-only
prediction, whose mIoU is computed from the validation labels (its background IoU over the
classes present). One thread and a fixed seed: the numbers repeat exactly run after run.
"""
import pickle

import numpy as np
import pytest

from train_helpers import (ROOT, background_only_miou, read_labels, run_once, tool_metric,
                           train_then_test, val_record)

pytestmark = pytest.mark.slow

CONFIG = ROOT / "configs/demo/bisenetv2_fcn-narrow_64x64_synthetic_voc.py"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Train and test once per session, whichever xdist worker gets here first."""
    tmp = run_once(tmp_path_factory, "realtime_end_to_end",
                   lambda path: train_then_test(path, CONFIG))
    return tmp, read_labels(tmp / "voc")


def test_training_learns_well_above_the_background_only_baseline(run):
    tmp, labels = run
    val = val_record(tmp / "work_dir")
    baseline = background_only_miou(labels)
    assert 0.1 < baseline < 0.2  # 6 classes, about 87% background
    assert val["mIoU"] > 1.3 * baseline, (val["mIoU"], baseline)
    # not the background alone: objects are found
    assert sum(val[f"IoU.{c}"] > 0.1 for c in ("disc", "square", "triangle", "stripes",
                                                "ring")) >= 2


def test_test_tool_reproduces_the_training_evaluation(run):
    tmp, labels = run
    val, metric = val_record(tmp / "work_dir"), tool_metric(tmp / "test")
    for key in ("aAcc", "mIoU", "mAcc"):
        assert metric[key] == pytest.approx(val[key], abs=1e-4), key
    with open(tmp / "test.pkl", "rb") as f:
        preds = pickle.load(f)
    assert [p.shape for p in preds] == [label.shape for label in labels]
    predicted = np.unique(np.concatenate([p.ravel() for p in preds]))
    assert set(predicted.tolist()) <= set(range(6)) and len(predicted) >= 3
