"""ONNX export and deploy_test of a MMSegmentation 1.x config: both tools read it through the
same converter as tools/test.py, so the exported model's metrics equal tools/test.py's."""
import json

import pytest

from after_training_helpers import load_tool
from test_train_1x import CONFIG, full_run, load_test_tool, options  # noqa: F401
from train_helpers import data_root  # noqa: F401

pytest.importorskip("onnxruntime", reason="pip install seglab[onnx]")


def _metric(work_dir):
    (path,) = work_dir.glob("eval_*.json")
    return json.loads(path.read_text())["metric"]


def test_a_1x_config_exports_and_deploy_test_equals_test_py(full_run, data_root, tmp_path):
    ckpt = str(full_run / "latest.pth")
    onnx_file = tmp_path / "fcn_1x.onnx"
    assert load_tool("pytorch2onnx.py").main([
        str(CONFIG), "--checkpoint", ckpt, "--output-file", str(onnx_file), "--shape", "32", "32",
        "--dynamic-export", "--verify"]) == 0
    eval_args = ["--eval", "mIoU", "mDice", "--cfg-options", *options(data_root, "test")]
    onnx_dir, torch_dir = tmp_path / "onnx", tmp_path / "torch"
    assert load_tool("deploy_test.py").main([str(CONFIG), str(onnx_file), "onnxruntime",
                                             "--work-dir", str(onnx_dir), *eval_args]) == 0
    assert load_test_tool().main([str(CONFIG), ckpt, "--device", "cpu",
                                  "--work-dir", str(torch_dir), *eval_args]) == 0
    ours, theirs = _metric(onnx_dir), _metric(torch_dir)
    assert ours["mIoU"] == pytest.approx(theirs["mIoU"], abs=1e-6)
    assert ours["mDice"] == pytest.approx(theirs["mDice"], abs=1e-6)
