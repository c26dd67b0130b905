"""Exact parity with MMSegmentation 1.2.2 / 0.30.0 on /work/shared/data/mmseg-parity (see its README)."""
import json
import os

import numpy as np
import pytest
import torch

from seglab.evaluation import (IoUMetric, eval_metrics, intersect_and_union, pre_eval_to_metrics,
                               total_intersect_and_union)
from shared_data import SHARED

PARITY = f"{SHARED}/data/mmseg-parity"
CASES = ("plain", "reduce_zero_label", "label_map")
ALL_METRICS = ["mIoU", "mDice", "mFscore"]
AREA_NAMES = ("intersect", "union", "pred_label", "label")

pytestmark = pytest.mark.skipif(not os.path.isdir(PARITY), reason="parity fixtures not available")


@pytest.fixture(scope="module")
def inputs():
    return torch.load(os.path.join(PARITY, "metric_inputs.pt"), weights_only=True)


@pytest.fixture(scope="module")
def reference():
    with open(os.path.join(PARITY, "metrics.json")) as f:
        return json.load(f)


def _transform(reference, case):
    lt = reference["cases"][case]["label_transform"]
    label_map = {int(k): int(v) for k, v in (lt["label_map"] or {}).items()}
    return label_map, bool(lt["reduce_zero_label"])


def _expected(values, dtype):
    """JSON list with null for NaN -> array of `dtype`."""
    return np.array([np.nan if v is None else v for v in np.atleast_1d(values)], dtype=dtype)


def _assert_same(actual, expected):
    # Bitwise equality, NaN where MMSeg has NaN.
    np.testing.assert_array_equal(np.atleast_1d(actual), expected)


@pytest.mark.parametrize("case", CASES)
def test_per_image_areas_exact(inputs, reference, case):
    label_map, rzl = _transform(reference, case)
    expected = reference["cases"][case]["v1_per_image_areas"]
    assert len(expected) == len(inputs["preds"]) == 3
    for pred, label, exp in zip(inputs["preds"], inputs["labels"], expected):
        label_before = label.clone()
        areas = intersect_and_union(pred, label, inputs["num_classes"], inputs["ignore_index"],
                                    label_map=label_map, reduce_zero_label=rzl)
        assert torch.equal(label, label_before), "the caller's label must not be modified"
        for name, area in zip(AREA_NAMES, areas):
            assert area.dtype == torch.int64 and area.shape == (6,)
            assert area.tolist() == [int(v) for v in exp[name]], name


@pytest.mark.parametrize("case", CASES)
def test_total_areas_exact(inputs, reference, case):
    label_map, rzl = _transform(reference, case)
    expected = reference["cases"][case]["v1_total_areas"]
    metric = IoUMetric(6, label_map=label_map, reduce_zero_label=rzl)
    for pred, label in zip(inputs["preds"], inputs["labels"]):
        metric.process(pred, label)
    # The 0.x functional path on numpy arrays gives the same counts.
    totals = total_intersect_and_union([p.numpy() for p in inputs["preds"]],
                                       [l.numpy() for l in inputs["labels"]], 6, 255,
                                       label_map=label_map, reduce_zero_label=rzl)
    for name, streamed, total in zip(AREA_NAMES, metric.total_areas, totals):
        assert streamed.tolist() == [int(v) for v in expected[name]], name
        assert total.tolist() == [int(v) for v in expected[name]], name
    assert metric.num_images == 3


@pytest.mark.parametrize("case", CASES)
def test_iou_metric_matches_mmseg_1x(inputs, reference, case):
    label_map, rzl = _transform(reference, case)
    ref = reference["cases"][case]
    metric = IoUMetric(6, ignore_index=255, metrics=ALL_METRICS, label_map=label_map,
                       reduce_zero_label=rzl)
    for pred, label in zip(inputs["preds"], inputs["labels"]):
        metric.process(pred, label)

    per_class = metric.per_class_metrics()
    for key, values in ref["v1_per_class"].items():
        assert per_class[key].dtype == np.float32, key
        _assert_same(per_class[key], _expected(values, np.float32))

    # Summaries: np.round(np.nanmean(per_class) * 100, 2) exactly, same keys in the same order.
    result = metric.compute()
    summary = {k: v for k, v in result.items() if not isinstance(v, np.ndarray)}
    assert list(summary) == list(ref["v1_IoUMetric_evaluate"])
    for key, value in ref["v1_IoUMetric_evaluate"].items():
        assert summary[key] == value, (key, summary[key], value)


@pytest.mark.parametrize("case", CASES)
def test_pre_eval_path_matches_0_30(inputs, reference, case):
    label_map, rzl = _transform(reference, case)
    pre_eval = [intersect_and_union(p.numpy(), l.numpy(), 6, 255, label_map, rzl)
                for p, l in zip(inputs["preds"], inputs["labels"])]
    ret = pre_eval_to_metrics(pre_eval, ALL_METRICS)
    ref = reference["cases"][case]["v0_30_pre_eval_to_metrics_per_class"]
    assert list(ret) == ["aAcc", "IoU", "Acc", "Dice", "Fscore", "Precision", "Recall"]
    for key, values in ref.items():
        assert ret[key].dtype == np.float32
        _assert_same(ret[key], _expected(values, np.float32))


@pytest.mark.parametrize("case", CASES)
def test_eval_metrics_float64_path_matches_0_30(inputs, reference, case):
    label_map, rzl = _transform(reference, case)
    ret = eval_metrics([p.numpy() for p in inputs["preds"]], [l.numpy() for l in inputs["labels"]],
                       6, 255, metrics=ALL_METRICS, label_map=label_map, reduce_zero_label=rzl)
    ref = reference["cases"][case]["v0_30_eval_metrics_per_class"]
    for key, values in ref.items():
        assert ret[key].dtype == np.float64
        _assert_same(ret[key], _expected(values, np.float64))
    # ... and it is a different (more precise) number than the float32 path, as in MMSeg.
    f32 = reference["cases"][case]["v0_30_pre_eval_to_metrics_per_class"]["aAcc"]
    assert float(ret["aAcc"]) != f32
