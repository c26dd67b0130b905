"""tools/dist_train.sh: real torchrun launches (2 CPU processes, gloo) of the tiny FCN with SyncBN.

Three launches are shared by the tests: a 4-iteration run with evaluation, a run resumed from its
iteration 2, and a long run whose rank 0 is killed after its second checkpoint (then resumed).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import List

import pytest
import torch

from dist_launch_helpers import PYTHON, REPO, TIMEOUT_S, child_env

CONFIG = """
_base_ = {base!r}
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(backbone=dict(norm_cfg=norm_cfg), decode_head=dict(norm_cfg=norm_cfg),
             auxiliary_head=dict(norm_cfg=norm_cfg))
data_root = {data_root!r}
data = dict(train=dict(data_root=data_root), val=dict(data_root=data_root),
            test=dict(data_root=data_root))
find_unused_parameters = True
"""


def dist_train(config: str, *args: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    env = child_env({"PORT": "0", "PYTHON": PYTHON})  # PORT=0: torchrun binds a free port
    return subprocess.run([str(REPO / "tools" / "dist_train.sh"), config, "2", *args], env=env,
                          cwd=str(REPO), capture_output=True, text=True, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> str:
    from seglab.datasets import make_synthetic_voc

    root = tmp_path_factory.mktemp("dist_train")
    data_root = make_synthetic_voc(str(root / "voc"), num_train=8, num_val=3, size=32, seed=1)
    path = root / "fcn_tiny_syncbn.py"
    path.write_text(CONFIG.format(base=str(REPO / "configs/demo/fcn_tiny_synthetic_voc_smoke.py"),
                                  data_root=data_root))
    return str(path)


@pytest.fixture(scope="module")
def trained(config):
    """4 iterations, checkpoints at 2 and 4, evaluation (save_best mIoU) at 4."""
    work_dir = Path(config).parent / "trained"
    proc = dist_train(config, "--work-dir", str(work_dir), "--seed", "0")
    _ok(proc)
    return proc, work_dir


@pytest.fixture(scope="module")
def resumed(config, trained):
    work_dir = Path(config).parent / "resumed"
    proc = dist_train(config, "--work-dir", str(work_dir), "--resume-from",
                      str(trained[1] / "iter_2.pth"))
    _ok(proc)
    return proc, work_dir


def _json_log(work_dir: Path) -> List[dict]:
    (name,) = [n for n in os.listdir(work_dir) if n.endswith(".log.json")]
    with open(work_dir / name) as f:
        return [json.loads(line) for line in f.read().splitlines()[1:]]  # line 1: the run's meta


def _state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_rank_0_alone_writes_logs_and_checkpoints(trained):
    proc, work_dir = trained
    names = sorted(os.listdir(work_dir))
    logs = [n for n in names if re.fullmatch(r"\d{8}_\d{6}\.log", n)]
    assert len(logs) == 1 and f"{logs[0]}.json" in names
    assert {"fcn_tiny_syncbn.py", "iter_2.pth", "iter_4.pth", "latest.pth",
            "best_mIoU_iter_4.pth"} <= set(names)
    assert not [n for n in names if n.endswith(".tmp")]
    text = (work_dir / logs[0]).read_text()
    assert "Distributed training: True" in text
    for i in range(1, 5):  # one line per iteration: rank 1 does not log
        assert text.count(f"Iter [{i}/4]") == 1
        assert (proc.stdout + proc.stderr).count(f"Iter [{i}/4]") == 1
    assert "CPUSyncBatchNorm" in text  # SyncBN synchronised over the 2 CPU processes


def test_checkpoint_has_plain_segmentor_keys(trained):
    ckpt = _state(trained[1] / "iter_4.pth")
    assert ckpt["meta"]["iter"] == 4 and ckpt["meta"]["seed"] == 0
    keys = set(ckpt["state_dict"])
    assert not any(k.startswith("module.") for k in keys)
    assert {"backbone.stem.1.running_mean", "decode_head.conv_seg.weight",
            "auxiliary_head.convs.0.bn.running_var"} <= keys


def test_logged_values_and_evaluation(trained):
    records = _json_log(trained[1])
    train = [r for r in records if r["mode"] == "train"]
    val = [r for r in records if r["mode"] == "val"]
    assert [r["iter"] for r in train] == [1, 2, 3, 4]
    assert all(r["loss"] == pytest.approx(r["decode.loss_ce"] + r["aux.loss_ce"], rel=1e-5)
               for r in train)
    assert len(val) == 1 and val[0]["iter"] == 4  # gathered once over the ranks


def test_evaluation_during_training_equals_one_process_test(trained):
    """With SyncBN both ranks hold the same model; the val shards must add up to the whole set."""
    from seglab.apis.cli import build_test_loader, build_test_model, prepare_test_config
    from seglab.apis.test import run_test
    from seglab.config import Config
    from seglab.models.layers.norm import reset_syncbn_warning

    work_dir = trained[1]
    (val,) = [r for r in _json_log(work_dir) if r["mode"] == "val"]
    cfg = Config.fromfile(str(work_dir / "fcn_tiny_syncbn.py"))
    prepare_test_config(cfg)
    cfg.data.test = cfg.data.val
    dataset, loader = build_test_loader(cfg)
    reset_syncbn_warning()  # the warning is once per process; another test may have used it up
    with pytest.warns(UserWarning, match="SyncBN"):
        model = build_test_model(cfg, str(work_dir / "iter_4.pth"), torch.device("cpu"), dataset)
    metrics = run_test(model, loader, metric="mIoU", logger="silent").metrics
    for key in ("aAcc", "mIoU", "mAcc", "IoU.background"):
        assert val[key] == pytest.approx(metrics[key], abs=1e-4), key


def test_resume_continues_the_run_exactly(trained, resumed):
    proc, work_dir = resumed
    assert "resumed from" in (proc.stdout + proc.stderr).lower()
    original, again = _state(trained[1] / "iter_4.pth"), _state(work_dir / "iter_4.pth")
    assert again["meta"]["iter"] == 4
    for key, value in original["state_dict"].items():
        torch.testing.assert_close(again["state_dict"][key], value, rtol=1e-5, atol=1e-6,
                                   msg=key)
    losses = {r["iter"]: r["loss"] for r in _json_log(trained[1]) if r["mode"] == "train"}
    for record in (r for r in _json_log(work_dir) if r["mode"] == "train"):
        assert record["iter"] in (3, 4)
        assert record["loss"] == pytest.approx(losses[record["iter"]], rel=1e-5)


def _worker_pids(launcher_pid: int) -> dict:
    """{rank: pid} of torchrun's worker processes."""
    children = Path(f"/proc/{launcher_pid}/task/{launcher_pid}/children").read_text().split()
    ranks = {}
    for pid in map(int, children):
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        for item in env:
            if item.startswith(b"RANK="):
                ranks[int(item[5:])] = pid
    return ranks


def test_killed_rank_leaves_the_last_checkpoint_intact_and_resumable(config):
    from seglab.engine import find_latest_checkpoint

    work_dir = Path(config).parent / "killed"
    args = [str(REPO / "tools" / "dist_train.sh"), config, "2", "--work-dir", str(work_dir),
            "--no-validate", "--options", "runner.max_iters=1000", "log_config.interval=50"]
    env = child_env({"PORT": "0", "PYTHON": PYTHON})  # PORT=0: torchrun binds a free port
    proc = subprocess.Popen(args, env=env, cwd=str(REPO), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while not (work_dir / "iter_4.pth").exists():
            assert proc.poll() is None, proc.stderr.read()[-6000:]
            assert time.monotonic() < deadline, "no checkpoint at iteration 4 in time"
            time.sleep(0.02)
        os.kill(_worker_pids(proc.pid)[0], signal.SIGKILL)  # rank 0 writes the checkpoints
        proc.wait(timeout=90)  # torchrun stops rank 1 and exits
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0
    checkpoints = sorted(work_dir.glob("iter_*.pth"), key=lambda p: int(p.stem[5:]))
    for path in checkpoints:  # every file under a final name is complete
        assert _state(path)["meta"]["iter"] == int(path.stem[5:])
    last = int(checkpoints[-1].stem[5:])
    assert Path(find_latest_checkpoint(str(work_dir))).resolve() == checkpoints[-1].resolve()

    resumed = dist_train(config, "--work-dir", str(work_dir), "--auto-resume", "--no-validate",
                         "--options", f"runner.max_iters={last + 2}")
    _ok(resumed)
    final = _state(work_dir / f"iter_{last + 2}.pth")
    assert final["meta"]["iter"] == last + 2
    assert os.path.realpath(work_dir / "latest.pth") == str(work_dir / f"iter_{last + 2}.pth")
