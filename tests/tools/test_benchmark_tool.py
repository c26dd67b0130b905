"""tools/benchmark.py as a script: its json report."""
from __future__ import annotations

import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, "tests", "apis"))

from apis_helpers import make_fixture_files  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_fixture_files(str(tmp_path_factory.mktemp("benchmark_tool")))


def test_benchmark_script_writes_its_report(files, tmp_path):
    work = tmp_path / "work"
    proc = subprocess.run(
        [sys.executable, "tools/benchmark.py", files["config"], files["checkpoint"],
         "--num-images", "3", "--num-warmup", "1", "--repeat-times", "2", "--log-interval", "3",
         "--device", "cpu",
         "--work-dir", str(work)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("Done image [3  / 3], fps: ") == 2
    assert "Overall fps:" in proc.stdout and "Average fps of 2 evaluations:" in proc.stdout
    (name,) = os.listdir(work)
    assert name.startswith("fps_") and name.endswith(".json")
    with open(work / name) as f:
        report = json.load(f)
    assert report["config"] == files["config"] and report["unit"] == "img / s"
    fps = [report["overall_fps_1"], report["overall_fps_2"]]
    assert all(v > 0 for v in fps)
    assert report["average_fps"] == pytest.approx(sum(fps) / 2, abs=0.01)
    assert report["num_images"] == 3 and report["num_warmup"] == 1 and report["batch_size"] == 1
    assert report["device"] == "cpu" and report["torch_version"] == torch.__version__
    assert report["peak_memory_kind"] == "cpu_peak_rss" and report["peak_memory_mb"] > 10
    assert report["gflops"] > 0 and report["flops_input_shape"][:2] == [1, 3]


def test_missing_checkpoint_and_bad_arguments(files, tmp_path):
    spec_path = osp.join(REPO, "tools", "benchmark.py")
    spec = importlib.util.spec_from_file_location("seglab_tools_benchmark", spec_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from seglab.apis.cli import run_tool
    from seglab.errors import CheckpointError

    missing = str(tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="missing.pth"):
        module.main([files["config"], missing, "--work-dir", str(tmp_path / "w")])
    assert run_tool(module.main, [files["config"], files["checkpoint"],
                                  "--repeat-times", "0"]) == 2
