"""tools/confusion_matrix.py on the predictions tools/test.py --out wrote for the smoke run."""
import json
import os
import pickle

import numpy as np
import pytest
from PIL import Image

from after_training_helpers import SMOKE, error_line, load_tool, workflow  # noqa: F401 (fixture)
from seglab.config import Config
from seglab.datasets import build_dataset
from train_helpers import data_options, read_labels, run_tool

pytest.importorskip("matplotlib", reason="tools/confusion_matrix.py draws with matplotlib "
                    "(pip install seglab[plot])")


def _test_dataset(data_root):
    cfg = Config.fromfile(SMOKE)
    cfg.data.test.data_root = data_root
    return build_dataset(cfg.data.test, dict(test_mode=True))


def _results(workflow):
    with open(workflow["out"], "rb") as f:
        return pickle.load(f)


def test_png_from_the_test_tool_pickle(workflow, tmp_path):
    result = run_tool("confusion_matrix.py", SMOKE, workflow["out"], "--show-dir",
                      tmp_path / "cm", "--color-theme", "viridis", "--title", "smoke",
                      "--options", *data_options(workflow["data_root"]), cwd=tmp_path)
    assert "Wrote the confusion matrix of 2 images" in result.stdout
    assert sorted(os.listdir(tmp_path / "cm")) == ["confusion_matrix.png"]
    with Image.open(tmp_path / "cm" / "confusion_matrix.png") as img:
        # MMSeg's figure: 2 inches per class wide, 1.6 high, at 180 dpi (6 classes).
        assert img.format == "PNG" and img.size == (2 * 6 * 180, int(1.6 * 6 * 180))


def test_counts_equal_a_direct_count_and_the_test_tool_metrics(workflow):
    tool = load_tool("confusion_matrix.py")
    dataset = _test_dataset(workflow["data_root"])
    results = _results(workflow)
    confusion = tool.calculate_confusion_matrix(dataset, results)
    labels = read_labels(workflow["data_root"], "val")
    assert any((label == 255).any() for label in labels)  # ignored pixels exist and are left out
    expected = np.zeros((6, 6), dtype=np.int64)
    for label, pred in zip(labels, results):
        for gt_id, pred_id in zip(label.ravel(), pred.ravel()):
            if gt_id != 255:
                expected[gt_id, pred_id] += 1
    np.testing.assert_array_equal(confusion, expected)
    # Per-class IoU from the matrix equals what tools/test.py --eval wrote.
    (eval_json,) = workflow["work_dir"].glob("eval_*.json")
    metric = json.loads(eval_json.read_text())["metric"]
    inter = np.diag(confusion)
    with np.errstate(invalid="ignore"):
        iou = inter / (confusion.sum(0) + confusion.sum(1) - inter)
    for name, value in zip(dataset.CLASSES, iou):
        reported = metric[f"IoU.{name}"]
        if np.isnan(value):
            assert np.isnan(reported)
        else:
            assert value == pytest.approx(reported, abs=1e-4)
    assert inter.sum() / confusion.sum() == pytest.approx(metric["aAcc"], abs=1e-4)


def test_a_pickle_with_code_is_refused_unrun(workflow, tmp_path, capsys):
    from seglab.apis.cli import run_tool as run_main

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps([Evil()]))
    argv = [str(SMOKE), str(evil), str(tmp_path / "cm")]
    assert run_main(load_tool("confusion_matrix.py").main, argv) == 2
    err = error_line(capsys)
    assert "is not a pickle of label maps" in err and "posix.system" in err
    assert not marker.exists() and not (tmp_path / "cm").exists()


@pytest.mark.parametrize("case, message", [
    ("nothing", "Nothing to do: give SAVE_DIR"),
    ("two_dirs", "give one of them"),
    ("count", "1 predictions for 2 test images"),
    ("class_id", "class ids outside [0, 6): [9]"),
    ("theme", "--color-theme 'no_such_map' is not a matplotlib colormap"),
    ("show", "no display (neither DISPLAY nor WAYLAND_DISPLAY is set). Use SAVE_DIR"),
])
def test_user_errors_are_one_line(case, message, workflow, tmp_path, capsys, monkeypatch):
    from seglab.apis.cli import run_tool as run_main

    results = _results(workflow)
    out = tmp_path / "cm"
    argv = [str(SMOKE), str(tmp_path / "results.pkl"), str(out), "--options",
            *data_options(workflow["data_root"])]
    if case == "nothing":
        del argv[2]
    elif case == "two_dirs":
        argv += ["--show-dir", str(tmp_path / "other")]
    elif case == "count":
        results = results[:1]
    elif case == "show":
        argv += ["--show"]
        monkeypatch.delenv("DISPLAY", raising=False)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    elif case == "class_id":
        results[1] = results[1].copy()
        results[1][0, 0] = 9
    else:
        argv += ["--color-theme", "no_such_map"]
    with open(tmp_path / "results.pkl", "wb") as f:
        pickle.dump(results, f)
    assert run_main(load_tool("confusion_matrix.py").main, argv) == 2
    assert message in error_line(capsys)
    assert not (out / "confusion_matrix.png").exists()
