"""tools/dist_test.sh: real torchrun launches (2 CPU processes, gloo) vs one-process tools/test.py.

One shared launch does --eval, --out, --show-dir, --work-dir and --tmpdir; its outputs must
equal those of tools/test.py on one process. A second launch, on a copy of the data with one
corrupt image that rank 1 reads, must end with that rank's message, shown once.
"""
from __future__ import annotations

import importlib.util
import json
import os
import pickle
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from dist_launch_helpers import PYTHON, REPO, TIMEOUT_S, child_env

sys.path.insert(0, str(REPO / "tests" / "apis"))

from apis_helpers import make_fixture_files  # noqa: E402

ARGS = ["--eval", "mIoU", "mDice", "--batch-size", "2"]


def _load_tool():
    spec = importlib.util.spec_from_file_location("seglab_tools_test_dist",
                                                  REPO / "tools" / "test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dist_test(config, checkpoint, *args, timeout=TIMEOUT_S) -> subprocess.CompletedProcess:
    env = child_env({"PORT": "0", "PYTHON": PYTHON})  # PORT=0: torchrun binds a free port
    return subprocess.run([str(REPO / "tools" / "dist_test.sh"), config, checkpoint, "2", *args],
                          env=env, cwd=str(REPO), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_fixture_files(str(tmp_path_factory.mktemp("dist_test_tool")))


@pytest.fixture(scope="module")
def runs(files, tmp_path_factory):
    """(the dist_test.sh process, its output folder, the one-process output folder)."""
    from seglab.apis.cli import run_tool

    root = tmp_path_factory.mktemp("dist_test_runs")
    dist_dir, single_dir = root / "dist", root / "single"
    proc = dist_test(files["config"], files["checkpoint"], *ARGS, "--out",
                     str(dist_dir / "res.pkl"), "--show-dir", str(dist_dir / "show"),
                     "--work-dir", str(dist_dir / "work"), "--tmpdir", str(dist_dir / "collect"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    code = run_tool(_load_tool().main, [files["config"], files["checkpoint"], *ARGS, "--out",
                                        str(single_dir / "res.pkl"), "--show-dir",
                                        str(single_dir / "show"), "--work-dir",
                                        str(single_dir / "work")])
    assert code == 0
    return proc, dist_dir, single_dir


def _metrics(work_dir):
    (name,) = os.listdir(work_dir)
    with open(work_dir / name) as f:
        return json.load(f)["metric"]


def test_metrics_equal_one_process(runs):
    proc, dist_dir, single_dir = runs
    single = _metrics(single_dir / "work")
    assert _metrics(dist_dir / "work") == pytest.approx(single, nan_ok=True)
    assert {"aAcc", "mIoU", "mDice", "IoU.background"} <= set(single)
    # Rank 0 prints the tables once, and speaks for both ranks.
    assert proc.stdout.count("per class results:") == 1 and proc.stdout.count("Summary:") == 1
    assert "Testing 5 images on 2 processes (cpu) with batch size 2 per process" in proc.stderr
    assert proc.stderr.count("[test] 5/5 images") == 1


def test_out_is_identical_to_one_process(runs):
    _, dist_dir, single_dir = runs
    with open(dist_dir / "res.pkl", "rb") as f:
        dist_preds = pickle.load(f)
    with open(single_dir / "res.pkl", "rb") as f:
        single_preds = pickle.load(f)
    assert len(dist_preds) == len(single_preds) == 5
    for a, b in zip(dist_preds, single_preds):
        assert a.dtype == b.dtype == np.uint8
        np.testing.assert_array_equal(a, b)
    assert os.listdir(dist_dir / "collect") == []  # gathering files cleaned up


def test_show_dir_has_every_image_once(runs):
    _, dist_dir, single_dir = runs
    names = sorted(os.listdir(single_dir / "show"))
    assert names == [f"val_{i:05d}.jpg" for i in range(5)]
    assert sorted(os.listdir(dist_dir / "show")) == names
    for name in names:
        assert (dist_dir / "show" / name).read_bytes() == (single_dir / "show" / name).read_bytes()


def test_a_raising_rank_ends_the_job_with_its_message_once(files, tmp_path):
    bad_root = tmp_path / "voc"
    shutil.copytree(files["data_root"], bad_root)
    image = bad_root / "JPEGImages" / "val_00003.jpg"  # index 3: rank 1's shard
    image.write_bytes(image.read_bytes()[:100])
    start = time.monotonic()
    proc = dist_test(files["config"], files["checkpoint"], *ARGS, "--options",
                     f"data.test.data_root={bad_root}", timeout=90)
    elapsed = time.monotonic() - start
    assert proc.returncode != 0
    assert proc.stderr.count(f"error: [rank 1] cannot decode image file {image}") == 1, \
        proc.stderr[-6000:]
    assert proc.stderr.count("cannot decode image file") == 1
    # Rank 0's collective fails when rank 1 exits: a note, not a second traceback.
    assert "Connection closed by peer" not in proc.stderr
    assert "[rank0]: Traceback" not in proc.stderr
    assert elapsed < 90


@pytest.mark.parametrize("rank", [0, 1])
def test_argument_errors_are_shown_once_per_job(files, capsys, monkeypatch, rank):
    # As under torchrun, before the process group exists: only rank 0 prints the message.
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", str(rank))  # the tool sets it; restored afterwards
    from seglab.apis.cli import run_tool

    code = run_tool(_load_tool().main, [files["config"], files["checkpoint"], "--show",
                                        "--launcher", "pytorch"])
    assert code == 2
    err = capsys.readouterr().err
    if rank == 0:
        assert err.startswith("error: --show opens a window in every process") and \
            "--show-dir" in err
    else:
        assert err == ""


def test_launcher_without_torchrun_says_how_to_start(files, capsys, monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOCAL_RANK", "0")  # the tool sets it; restored afterwards
    from seglab.apis.cli import run_tool

    code = run_tool(_load_tool().main, [files["config"], files["checkpoint"], "--eval", "mIoU",
                                        "--launcher", "pytorch"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --launcher pytorch needs the environment variables RANK")
    assert "tools/dist_test.sh" in err
