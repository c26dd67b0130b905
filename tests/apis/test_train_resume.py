"""tools/train.py run in-process: exact resume, --auto-resume (also past corrupt files),
--load-from, and the NaN stop.

Each run trains the tiny smoke config (ResNetV1c-18 with 4-32 channels, 24 px crops) for 2-4
iterations on a 4-image synthetic dataset, so the whole module takes a few seconds.
"""
import json
import os
import os.path as osp
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from seglab.engine import get_rng_state, set_rng_state
from seglab.engine.hooks import Hook
from seglab.registry import HOOKS
from train_helpers import (SMOKE, data_options, data_root, load_train_tool,  # noqa: F401
                           restore_torch_globals, run_once)

TRAIN_TOOL = load_train_tool()

def train(work_dir, root, *flags, options=(), config=SMOKE):
    argv = [str(config), "--work-dir", str(work_dir), "--no-validate", *flags,
            "--options", *data_options(root), *options]
    return TRAIN_TOOL.main(argv)


def read_json_log(work_dir):
    (path,) = Path(work_dir).glob("*.log.json")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return lines[0], [r for r in lines[1:] if r.get("mode") == "train"]


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_same_training_state(a, b):
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    state_a, state_b = a["optimizer"]["state"], b["optimizer"]["state"]
    assert state_a.keys() == state_b.keys() and len(state_a) > 0
    for index in state_a:
        assert torch.equal(state_a[index]["momentum_buffer"], state_b[index]["momentum_buffer"])
    groups = [[g["lr"] for g in ckpt["optimizer"]["param_groups"]] for ckpt in (a, b)]
    assert groups[0] == groups[1]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, data_root):
    """4 uninterrupted iterations, checkpoints after 2 and 4 (run once for all xdist workers)."""
    def make(work_dir):
        rng = get_rng_state()
        det = torch.are_deterministic_algorithms_enabled()
        assert train(work_dir, data_root, "--seed", "0", "--deterministic") == 0
        torch.use_deterministic_algorithms(det)
        set_rng_state(rng)

    return run_once(tmp_path_factory, "train_resume_full_run", make)


def scramble_global_rngs():
    """A resumed process starts with unrelated generator states."""
    random.seed(12345)
    np.random.seed(12345)
    torch.manual_seed(12345)


def test_resume_from_continues_exactly(full_run, data_root, tmp_path, capsys):
    scramble_global_rngs()
    # No --seed: the resumed run takes the seed of the run it continues (needed for the data order).
    assert train(tmp_path, data_root, "--deterministic", "--resume-from",
                 str(full_run / "iter_2.pth")) == 0
    assert "Using the seed 0 of the resumed run" in capsys.readouterr().err
    assert_same_training_state(load(full_run / "iter_4.pth"), load(tmp_path / "iter_4.pth"))
    _, records = read_json_log(tmp_path)
    assert [r["iter"] for r in records] == [3, 4]
    _, full_records = read_json_log(full_run)
    for resumed, original in zip(records, full_records[2:]):
        for key in ("lr", "decode.loss_ce", "aux.loss_ce", "decode.acc_seg", "loss"):
            assert resumed[key] == original[key], key
    assert not (tmp_path / "iter_2.pth").exists()
    assert osp.realpath(tmp_path / "latest.pth") == osp.realpath(tmp_path / "iter_4.pth")


def test_resume_with_another_seed_diverges(full_run, data_root, tmp_path):
    """Guards the test above: the seed (data order and augmentation) really matters."""
    assert train(tmp_path, data_root, "--deterministic", "--seed", "7", "--resume-from",
                 str(full_run / "iter_2.pth")) == 0
    full, resumed = load(full_run / "iter_4.pth"), load(tmp_path / "iter_4.pth")
    key = "decode_head.conv_seg.weight"
    assert not torch.equal(full["state_dict"][key], resumed["state_dict"][key])


def test_auto_resume_picks_the_newest_checkpoint_in_the_work_dir(full_run, data_root, tmp_path):
    shutil.copy(full_run / "iter_2.pth", tmp_path / "iter_2.pth")  # an interrupted run, no latest.pth
    scramble_global_rngs()
    assert train(tmp_path, data_root, "--deterministic", "--auto-resume") == 0
    assert_same_training_state(load(full_run / "iter_4.pth"), load(tmp_path / "iter_4.pth"))
    assert [r["iter"] for r in read_json_log(tmp_path)[1]] == [3, 4]


def test_load_from_loads_weights_and_starts_at_iteration_zero(full_run, data_root, tmp_path):
    # lr 0 keeps every parameter where --load-from put it, so the result shows what was loaded.
    assert train(tmp_path, data_root, "--seed", "5", "--load-from", str(full_run / "iter_2.pth"),
                 options=["runner.max_iters=2", "optimizer.lr=0.0", "lr_config.min_lr=0.0"]) == 0
    loaded, result = load(full_run / "iter_2.pth"), load(tmp_path / "iter_2.pth")
    params = [k for k in loaded["state_dict"] if not k.endswith(("running_mean", "running_var",
                                                                  "num_batches_tracked"))]
    assert any(k.endswith("conv_seg.weight") for k in params)
    for key in params:
        assert torch.equal(result["state_dict"][key], loaded["state_dict"][key]), key
    # Iterations and the lr schedule start again; the optimizer state is not taken over.
    assert result["meta"]["iter"] == 2
    assert [r["iter"] for r in read_json_log(tmp_path)[1]] == [1, 2]
    assert [g["lr"] for g in result["optimizer"]["param_groups"]] == [0.0]


@HOOKS.register_module()
class PoisonWeightsHook(Hook):
    """Test hook: fills the classifier weights with NaN before iteration ``at_iter`` (1-based)."""

    def __init__(self, at_iter: int):
        self.at_iter = at_iter

    def before_train_iter(self, runner) -> None:
        if runner.iter + 1 == self.at_iter:
            with torch.no_grad():
                runner.model.decode_head.conv_seg.weight.fill_(float("nan"))


def test_non_finite_loss_stops_naming_iteration_and_last_good_checkpoint(data_root, tmp_path, capsys):
    config = tmp_path / "nan.py"
    config.write_text(f"_base_ = {str(SMOKE)!r}\n"
                      f"custom_hooks = [dict(type='PoisonWeightsHook', at_iter=3)]\n")
    work_dir = tmp_path / "work"
    assert train(work_dir, data_root, "--seed", "0", config=config) == 2
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "The loss is not finite at iteration 3" in line
    assert f"Last good checkpoint: {work_dir / 'iter_2.pth'}" in line
    assert "Traceback" not in err
    assert sorted(p.name for p in work_dir.glob("*.pth")) == ["iter_2.pth", "latest.pth"]
    assert load(work_dir / "latest.pth")["meta"]["iter"] == 2
    assert [r["iter"] for r in read_json_log(work_dir)[1]] == [1, 2]


def truncated_copy(src, dst):
    """A checkpoint cut in half, as an interrupted copy or a full disk leaves it."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[:len(data) // 2])
    return str(dst)


def test_auto_resume_skips_a_corrupt_latest_and_says_why(full_run, data_root, tmp_path, capsys):
    shutil.copy(full_run / "iter_2.pth", tmp_path / "iter_2.pth")
    latest = truncated_copy(full_run / "iter_4.pth", tmp_path / "latest.pth")
    scramble_global_rngs()
    assert train(tmp_path, data_root, "--deterministic", "--auto-resume") == 0
    err = capsys.readouterr().err
    (skip,) = [line for line in err.splitlines() if "auto-resume: skipped" in line]
    assert latest in skip and "is not a readable PyTorch checkpoint" in skip
    assert f"auto-resume: resuming from {tmp_path / 'iter_2.pth'} (skipped: {latest})" in err
    assert_same_training_state(load(full_run / "iter_4.pth"), load(tmp_path / "iter_4.pth"))
    assert [r["iter"] for r in read_json_log(tmp_path)[1]] == [3, 4]


def test_auto_resume_without_a_readable_checkpoint_starts_from_scratch(full_run, data_root,
                                                                        tmp_path, capsys):
    first = truncated_copy(full_run / "iter_2.pth", tmp_path / "iter_2.pth")
    latest = truncated_copy(full_run / "iter_2.pth", tmp_path / "latest.pth")
    assert train(tmp_path, data_root, "--seed", "0", "--auto-resume",
                 options=["runner.max_iters=2"]) == 0
    err = capsys.readouterr().err
    assert (f"auto-resume: no readable checkpoint in {tmp_path} (skipped: {latest}, {first}); "
            f"training starts from scratch.") in err
    assert [r["iter"] for r in read_json_log(tmp_path)[1]] == [1, 2]
    assert load(tmp_path / "iter_2.pth")["meta"]["iter"] == 2


def test_explicit_corrupt_resume_from_stops_with_a_clear_error(full_run, data_root, tmp_path,
                                                                capsys):
    # Only --auto-resume falls back: a file the user named must load.
    shutil.copy(full_run / "iter_2.pth", tmp_path / "iter_2.pth")
    bad = truncated_copy(full_run / "iter_4.pth", tmp_path / "bad.pth")
    assert train(tmp_path / "work", data_root, "--resume-from", bad, "--auto-resume") == 2
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert bad in line and "is not a readable PyTorch checkpoint" in line
    assert "Traceback" not in err


@pytest.mark.parametrize("how", ["--resume-from", "--auto-resume"])
def test_the_resume_checkpoint_is_read_once(full_run, data_root, tmp_path, monkeypatch, how):
    """tools/train.py takes the seed and the runner its state from one torch.load of the file."""
    resumed = tmp_path / "iter_2.pth"
    shutil.copy(full_run / "iter_2.pth", resumed)
    counts = {}
    real_load = torch.load

    def counting_load(f, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)):
            key = osp.realpath(f)
            counts[key] = counts.get(key, 0) + 1
        return real_load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counting_load)
    flags = ["--resume-from", str(resumed)] if how == "--resume-from" else ["--auto-resume"]
    assert train(tmp_path, data_root, *flags) == 0
    assert counts.get(osp.realpath(resumed)) == 1
    assert [r["iter"] for r in read_json_log(tmp_path)[1]] == [3, 4]
