"""A mean over fewer classes than there are is never silent: the notes next to the tables."""
import logging

import numpy as np
import pytest

from seglab.apis.evaluator import DatasetEvaluator
from seglab.datasets.metrics_report import summarize_metrics
from seglab.evaluation import IoUMetric, intersect_and_union, pre_eval_to_metrics
from seglab.evaluation.report import absent_class_notes

FG_NOTE = ("class 'fg' has no pixels in the labels: its IoU is NaN and mIoU averages over 1 of 2 "
           "classes (mAcc too)")


def binary_0_255(n=3):
    """Labels stored as 0/255 (255 = ignore) and a model that predicts background everywhere."""
    label = np.zeros((n, 8, 8), np.int64)
    label[:, 2:6, 2:6] = 255
    return np.zeros_like(label), label


def test_a_class_without_ground_truth_is_named_and_the_numbers_stay_mmsegs():
    pred, label = binary_0_255()
    metric = IoUMetric(2, class_names=["bg", "fg"])
    metric.process(pred, label)
    report = metric.report()
    assert report.notes == [FG_NOTE]
    # The values are MMSeg's nanmean: 1.0 over the one class left, fg NaN.
    assert report.summary["mIoU"] == 100.0 and report.summary["aAcc"] == 100.0
    assert np.isnan(report.eval_results["IoU.fg"])
    assert report.to_text().endswith(FG_NOTE)


def test_no_note_when_every_class_is_labelled_and_predicted():
    metric = IoUMetric(2, metrics=["mIoU", "mDice", "mFscore"], class_names=["bg", "fg"])
    metric.process(np.array([[0, 1], [1, 1]]), np.array([[0, 1], [0, 1]]))
    assert metric.report().notes == []


def test_several_absent_classes_are_listed_with_their_count():
    metric = IoUMetric(5, class_names=["a", "b", "c", "d", "e"])
    metric.process(np.array([[0, 0, 1, 1]]), np.array([[0, 0, 1, 1]]))
    assert metric.report().notes == [
        "classes 'c', 'd', 'e' (3 of 5) have no pixels in the labels: their IoU is NaN and mIoU "
        "averages over 2 of 5 classes (mAcc too)"]


def test_predicted_but_unlabelled_and_labelled_but_unpredicted_classes():
    metric = IoUMetric(3, metrics=["mIoU", "mFscore"], class_names=["a", "b", "c"])
    metric.process(np.array([[0, 0, 2, 2]]), np.array([[0, 1, 0, 0]]))
    report = metric.report()
    assert report.summary["mIoU"] == 8.33  # (1/4 + 0 + 0) / 3: 'c' counts as 0, not skipped
    assert report.notes == [
        "class 'c' has no pixels in the labels: its IoU is 0.00 and mAcc averages over 2 of 3 "
        "classes (mRecall too; mFscore over 1 of 3)",
        "class 'b' has labels but was never predicted: its Fscore and Precision are NaN and "
        "mFscore averages over 1 of 3 classes (mPrecision over 2 of 3)"]


def test_nan_to_num_keeps_every_class_in_the_means():
    pred, label = binary_0_255()
    metric = IoUMetric(2, class_names=["bg", "fg"], nan_to_num=0)
    metric.process(pred, label)
    assert metric.report().notes == [
        "class 'fg' has no pixels in the labels: its IoU is 0.00, and the means average over "
        "all 2 classes"]


def test_without_label_areas_the_absent_class_is_found_by_its_nan_accuracy():
    pred, label = binary_0_255()
    ret = pre_eval_to_metrics([intersect_and_union(p, l, 2, 255) for p, l in zip(pred, label)])
    assert absent_class_notes(ret, ["bg", "fg"]) == [FG_NOTE]


def test_custom_dataset_evaluate_prints_the_note(capsys):
    # CustomDataset.evaluate's path: tables, then the note (stdout when logger is None).
    pred, label = binary_0_255()
    ret = pre_eval_to_metrics([intersect_and_union(p, l, 2, 255) for p, l in zip(pred, label)])
    results = summarize_metrics(ret, ("bg", "fg"))
    out = capsys.readouterr().out
    assert out.index("Summary:") < out.index(FG_NOTE)
    assert results["mIoU"] == 1.0


class _GroundTruth:
    CLASSES = ("bg", "fg")
    ignore_index = 255

    def __init__(self, labels):
        self.labels = labels

    def __len__(self):
        return len(self.labels)

    def get_gt_seg_map_by_idx(self, index):
        return self.labels[index]


def test_the_test_loop_and_eval_hook_log_the_note_as_a_warning(caplog):
    # tools/test.py and the EvalHook both summarise through DatasetEvaluator.
    pred, label = binary_0_255()
    evaluator = DatasetEvaluator(_GroundTruth(list(label.astype(np.uint8))), "mIoU")
    for i, p in enumerate(pred):
        evaluator.process(i, p)
    logger = logging.getLogger("seglab.test_absent_notes")
    with caplog.at_level(logging.INFO, logger=logger.name):
        results = evaluator.summarize(logger)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [FG_NOTE]
    assert results["mIoU"] == 1.0 and np.isnan(results["IoU.fg"])
    assert results["mAcc"] == pytest.approx(1.0)
