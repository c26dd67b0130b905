"""--precision end to end: tools/test.py and tools/benchmark.py in bf16 against fp32.

The detector is patched to a CPU with native bf16, so bf16 autocast runs on any CPU (where it
would be emulated it is only slower; the numbers are the same). Bound: on the 5 synthetic
images of the tiny FCN (random weights, so many near ties) bf16 changes the class of under 2%
of the pixels (tests/utils/test_precision.py), which moves each class IoU by well under 0.05;
the test allows 0.03 on mIoU and 0.02 on aAcc.
"""
from __future__ import annotations

import importlib.util
import json
import os
import os.path as osp
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, "tests", "apis"))

from apis_helpers import make_fixture_files  # noqa: E402
from seglab.utils import precision  # noqa: E402


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f"seglab_tools_{name}_precision",
                                                  osp.join(REPO, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_fixture_files(str(tmp_path_factory.mktemp("precision_tools")))


@pytest.fixture
def native_cpu(monkeypatch):
    monkeypatch.setattr(precision, "_warned", set())
    monkeypatch.setattr(precision, "cpu_bf16_support", lambda: precision.CpuBf16Support(
        native=True, flags=("avx512_bf16",), capability="AVX512", cpu="Test CPU"))


def _metrics(tool, files, work, *extra):
    assert tool.main([files["config"], files["checkpoint"], "--eval", "mIoU", "--device", "cpu",
                      "--work-dir", str(work), "--options", "data.workers_per_gpu=0",
                      *extra]) == 0
    (name,) = os.listdir(work)
    with open(work / name) as f:
        return json.load(f)["metric"]


def test_test_tool_bf16_miou_close_to_fp32(files, tmp_path, native_cpu, capfd):
    tool = _load_tool("test")
    fp32 = _metrics(tool, files, tmp_path / "fp32")
    assert "with batch size 1 in fp32" in "".join(capfd.readouterr())
    bf16 = _metrics(tool, files, tmp_path / "bf16", "--precision", "bf16")
    assert "with batch size 1 in bf16" in "".join(capfd.readouterr())
    assert bf16["mIoU"] == pytest.approx(fp32["mIoU"], abs=0.03)
    assert bf16["aAcc"] == pytest.approx(fp32["aAcc"], abs=0.02)
    assert isinstance(bf16["mIoU"], float) and 0 < bf16["mIoU"] < 1
    # the config key does the same as the flag
    keyed = _metrics(tool, files, tmp_path / "key", "--options",
                     "model.test_cfg.precision=bf16")
    assert keyed == pytest.approx(bf16, nan_ok=True)


def test_test_tool_refuses_an_unknown_precision(files, capsys):
    from seglab.apis.cli import run_tool

    tool = _load_tool("test")
    code = run_tool(tool.main, [files["config"], files["checkpoint"], "--eval", "mIoU",
                                "--options", "model.test_cfg.precision=fp8"])
    assert code == 2
    assert "model.test_cfg.precision = 'fp8'" in capsys.readouterr().err


def test_benchmark_tool_reports_the_precision(files, tmp_path, native_cpu, capsys):
    tool = _load_tool("benchmark")
    assert tool.main([files["config"], files["checkpoint"], "--num-images", "2",
                      "--num-warmup", "1", "--device", "cpu", "--precision", "bf16",
                      "--work-dir", str(tmp_path)]) == 0
    (name,) = os.listdir(tmp_path)
    with open(tmp_path / name) as f:
        assert json.load(f)["precision"] == "bf16"
    assert "Precision: bf16" in capsys.readouterr().out


def test_train_flags_set_amp_and_the_evaluation_precision(files):
    from seglab.config import Config

    tool = _load_tool("train")
    args = tool.parse_args([files["config"], "--amp", "--eval-precision", "bf16"])
    cfg = Config.fromfile(files["config"])
    tool.apply_args(cfg, args)
    assert cfg.amp == "auto"  # decided on the device: fp16 on CUDA, bf16 on a native-bf16 CPU
    assert cfg.model.test_cfg.precision == "bf16" and cfg.model.test_cfg.mode == "whole"
