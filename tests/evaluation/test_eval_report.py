"""Tables, summaries and the json-log dict as MMSeg 0.x ``CustomDataset.evaluate`` makes them."""
import logging
from collections import OrderedDict

import numpy as np
import pytest

from seglab.evaluation import IoUMetric, format_eval_results, summarize


def _rows(table_text):
    """PrettyTable text -> list of cell lists (header first)."""
    lines = [line for line in table_text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


@pytest.fixture
def ret_metrics():
    return OrderedDict(
        aAcc=np.array(0.68496352, dtype=np.float32),
        IoU=np.array([0.5259259, 0.25, np.nan], dtype=np.float32),
        Acc=np.array([0.6855172, 0.5, np.nan], dtype=np.float32),
        Dice=np.array([0.6893204, 0.4, np.nan], dtype=np.float32),
    )


def test_summary_is_nanmean_percent_rounded(ret_metrics):
    summary = summarize(ret_metrics)
    assert list(summary) == ["aAcc", "mIoU", "mAcc", "mDice"]
    assert summary["aAcc"] == 68.5
    assert summary["mIoU"] == round((0.5259259 + 0.25) / 2 * 100, 2) == 38.8
    assert summary["mAcc"] == 59.28
    assert summary["mDice"] == 54.47


def test_tables_have_mmseg_columns_and_values(ret_metrics):
    report = format_eval_results(ret_metrics, ["road", "car", "sky"])
    rows = _rows(report.class_table)
    assert rows[0] == ["Class", "IoU", "Acc", "Dice"]
    assert rows[1] == ["road", "52.59", "68.55", "68.93"]
    assert rows[2] == ["car", "25.0", "50.0", "40.0"]
    assert rows[3] == ["sky", "nan", "nan", "nan"]
    summary_rows = _rows(report.summary_table)
    assert summary_rows[0] == ["aAcc", "mIoU", "mAcc", "mDice"]
    assert summary_rows[1] == ["68.5", "38.8", "59.28", "54.47"]
    text = report.to_text()
    assert text.startswith("per class results:") and "Summary:" in text


def test_eval_results_are_fractions_like_0x(ret_metrics):
    report = format_eval_results(ret_metrics, ["road", "car", "sky"])
    res = report.eval_results
    assert res["aAcc"] == 68.5 / 100.0
    assert res["mIoU"] == 38.8 / 100.0
    assert res["IoU.road"] == pytest.approx(0.5259, abs=1e-7)
    assert res["Acc.car"] == 0.5
    assert np.isnan(res["Dice.sky"])
    expected_keys = {"aAcc", "mIoU", "mAcc", "mDice"} | {
        f"{m}.{c}" for m in ("IoU", "Acc", "Dice") for c in ("road", "car", "sky")}
    assert set(res) == expected_keys
    assert all(isinstance(v, float) for v in res.values())


def test_class_names_default_to_indices_and_must_match(ret_metrics):
    report = format_eval_results(ret_metrics)
    assert [r[0] for r in _rows(report.class_table)[1:]] == ["0", "1", "2"]
    assert "IoU.2" in report.eval_results
    with pytest.raises(ValueError, match="2 class names given for 3 classes"):
        format_eval_results(ret_metrics, ["a", "b"])


def test_iou_metric_report_uses_its_class_names(caplog):
    metric = IoUMetric(2, metrics=["mIoU", "mFscore"], class_names=["bg", "fg"])
    metric.process(np.array([[0, 1], [1, 1]]), np.array([[0, 1], [0, 1]]))
    report = metric.report()
    assert _rows(report.class_table)[0] == ["Class", "IoU", "Acc", "Fscore", "Precision",
                                            "Recall"]
    assert report.summary["mIoU"] == metric.compute()["mIoU"] == 58.33  # (1/2 + 2/3) / 2
    assert report.eval_results["IoU.fg"] == pytest.approx(0.6667, abs=1e-7)
    logger = logging.getLogger("seglab.test_report")
    with caplog.at_level(logging.INFO, logger="seglab.test_report"):
        report.log(logger)
    assert "per class results:" in caplog.text and "mPrecision" in caplog.text
