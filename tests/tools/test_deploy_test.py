"""tools/deploy_test.py on the session's trained smoke run: the exported model's metrics and
predictions equal tools/test.py's, in whole and slide mode; the backend and argument errors."""
import json
import pickle
import sys

import numpy as np
import pytest

from after_training_helpers import SMOKE, error_line, load_tool, workflow  # noqa: F401
from seglab.apis.cli import run_tool as run_main

pytest.importorskip("onnxruntime", reason="pip install seglab[onnx]")

# The val images are 23x32 and 32x31: 16x16 windows fit a static graph; 24x24 windows of the
# 23-wide image are 24x23, which needs a dynamic one.
SLIDE = {"static": ["model.test_cfg.mode=slide", "model.test_cfg.crop_size=(16,16)",
                    "model.test_cfg.stride=(12,12)"],
         "dynamic": ["model.test_cfg.mode=slide", "model.test_cfg.crop_size=(24,24)",
                     "model.test_cfg.stride=(16,16)"]}
METRICS = ["mIoU", "mDice", "mFscore"]


def _options(workflow):
    return [f"data.test.data_root={workflow['data_root']}"]


def _export(workflow, path, *args):
    argv = [str(SMOKE), "--checkpoint", str(workflow["work_dir"] / "latest.pth"),
            "--output-file", str(path), *args]
    assert load_tool("pytorch2onnx.py").main(argv) == 0
    return path


def _metrics(work_dir):
    """The ``metric`` dict of the one eval_*.json in ``work_dir``, as canonical json text (NaN
    IoUs of absent classes compare equal as text)."""
    (path,) = work_dir.glob("eval_*.json")
    return json.dumps(json.loads(path.read_text())["metric"], sort_keys=True)


def _predictions(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def test_whole_mode_metrics_and_predictions_equal_test_py(workflow, tmp_path):
    onnx_file = _export(workflow, tmp_path / "fcn.onnx", "--dynamic-export")
    out = tmp_path / "onnx_results.pkl"
    argv = [str(SMOKE), str(onnx_file), "onnxruntime", "--eval", *METRICS, "--out", str(out),
            "--work-dir", str(tmp_path), "--show-dir", str(tmp_path / "show"),
            "--cfg-options", *_options(workflow)]
    assert load_tool("deploy_test.py").main(argv) == 0
    # tools/test.py ran on the same checkpoint and data in the workflow fixture. The logits
    # differ by ~1e-7 (float rounding), far from any argmax tie here: the metrics are equal to
    # every digit and the label maps pixel for pixel.
    assert _metrics(tmp_path) == _metrics(workflow["work_dir"])
    ours, theirs = _predictions(out), _predictions(workflow["out"])
    assert len(ours) == len(theirs) == 2
    assert all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(ours, theirs))
    assert sorted(p.name for p in (tmp_path / "show").iterdir()) == \
        sorted(p.name for p in workflow["show_dir"].iterdir())


@pytest.mark.parametrize("shape", ["static", "dynamic"])
def test_slide_mode_metrics_equal_test_py(shape, workflow, tmp_path):
    dynamic = ["--dynamic-export"] if shape == "dynamic" else []
    onnx_file = _export(workflow, tmp_path / "fcn_slide.onnx", *dynamic, "--cfg-options",
                        *SLIDE[shape])
    options = ["--cfg-options", *SLIDE[shape], *_options(workflow)]
    (tmp_path / "onnx").mkdir()
    (tmp_path / "torch").mkdir()
    argv = [str(SMOKE), str(onnx_file), "--backend", "onnxruntime", "--eval", *METRICS,
            "--work-dir", str(tmp_path / "onnx"), "--out", str(tmp_path / "onnx.pkl"), *options]
    assert load_tool("deploy_test.py").main(argv) == 0
    argv = [str(SMOKE), str(workflow["work_dir"] / "latest.pth"), "--eval", *METRICS,
            "--work-dir", str(tmp_path / "torch"), "--out", str(tmp_path / "torch.pkl"),
            "--device", "cpu", *options]
    assert load_tool("test.py").main(argv) == 0
    assert _metrics(tmp_path / "onnx") == _metrics(tmp_path / "torch")
    ours, theirs = _predictions(tmp_path / "onnx.pkl"), _predictions(tmp_path / "torch.pkl")
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs)) and len(ours) == 2


def _errors(argv, capsys):
    assert run_main(load_tool("deploy_test.py").main, argv) == 2
    return error_line(capsys)


def test_a_static_graph_refuses_other_image_sizes(workflow, tmp_path, capsys):
    onnx_file = _export(workflow, tmp_path / "static16.onnx", "--shape", "16", "16")
    err = _errors([str(SMOKE), str(onnx_file), "onnxruntime", "--eval", "mIoU", "--cfg-options",
                   *_options(workflow)], capsys)
    assert "was exported for 16x16 inputs (a static shape)" in err
    assert "--dynamic-export" in err
    onnx_file = _export(workflow, tmp_path / "slide24.onnx", "--cfg-options", *SLIDE["dynamic"])
    err = _errors([str(SMOKE), str(onnx_file), "onnxruntime", "--eval", "mIoU", "--cfg-options",
                   *SLIDE["dynamic"], *_options(workflow)], capsys)
    assert "exported for 24x24 windows" in err and "window is 24x23" in err
    assert "--dynamic-export" in err
    # A static window graph and a config with another crop_size: refused before any image.
    err = _errors([str(SMOKE), str(onnx_file), "onnxruntime", "--eval", "mIoU", "--cfg-options",
                   *SLIDE["static"], *_options(workflow)], capsys)
    assert "exported for 24x24 windows" in err and "crop_size is (16, 16)" in err


@pytest.mark.parametrize("args, message", [
    (["tensorrt", "--eval", "mIoU"], "tensorrt backend is not supported in seglab"),
    (["--eval", "mIoU"], "Name the backend"),
    (["onnxruntime"], "Please specify at least one operation"),
    (["onnxruntime", "--eval", "mIoU", "--format-only"], "cannot be both specified"),
    (["onnxruntime", "--out", "results.json"], ".pkl"),
    (["onnxruntime", "--out", "results"], ".pkl"),
])
def test_argument_errors_are_one_line(args, message, tmp_path, capsys):
    assert message in _errors([str(SMOKE), str(tmp_path / "missing.onnx"), *args], capsys)


def test_missing_model_file_and_missing_onnxruntime(workflow, tmp_path, capsys, monkeypatch):
    argv = [str(SMOKE), str(tmp_path / "missing.onnx"), "onnxruntime", "--eval", "mIoU",
            "--cfg-options", *_options(workflow)]
    err = _errors(argv, capsys)
    assert "ONNX file" in err and "missing.onnx' does not exist" in err
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    assert "needs the onnxruntime package: pip install seglab[onnx]" in _errors(argv, capsys)


def test_a_label_map_graph_is_refused(workflow, tmp_path, capsys):
    """MMSeg 0.x's pytorch2onnx writes argmax label maps (1, N, H, W) int64: not logits."""
    import torch

    class LabelMaps(torch.nn.Module):
        def forward(self, img):
            return img.argmax(1).unsqueeze(0)

    onnx_file = str(tmp_path / "labels.onnx")
    torch.onnx.export(LabelMaps(), (torch.zeros(1, 3, 8, 8),), onnx_file, input_names=["input"],
                      output_names=["output"], dynamo=False)
    err = _errors([str(SMOKE), onnx_file, "onnxruntime", "--eval", "mIoU", "--cfg-options",
                   *_options(workflow)], capsys)
    assert "outputs tensor(int64) [1, 1, 8, 8], not float logits (N, 6, H, W)" in err
    assert "seglab's tools/pytorch2onnx.py" in err
