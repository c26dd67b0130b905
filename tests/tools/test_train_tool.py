"""tools/train.py in-process (``main(argv)``): the work dir, both logs, flags and user errors.

The subprocess run of the tool (as a user types it) is in test_end_to_end.py; here the tool's
``main`` runs in this process so that each case costs a fraction of a second, not a torch import.
"""
import json
import os
import os.path as osp
import re

import pytest
import torch

from seglab.config import Config
from seglab.engine import get_rng_state, set_rng_state
from train_helpers import (SMOKE, data_options, data_root, load_train_tool,  # noqa: F401
                           restore_torch_globals, run_once)

TRAIN_TOOL = load_train_tool("seglab_tools_train_c")

CLASSES = ["background", "disc", "square", "triangle", "stripes", "ring"]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, data_root):
    """One default run (validation on, log every 2 iterations), shared by the work-dir checks."""
    def make(work_dir):
        rng = get_rng_state()
        code = TRAIN_TOOL.main([str(SMOKE), "--work-dir", str(work_dir), "--seed", "3",
                                "--options", *data_options(data_root), "log_config.interval=2"])
        set_rng_state(rng)
        assert code == 0

    return run_once(tmp_path_factory, "train_tool_full_run", make)


def test_work_dir_holds_config_logs_and_checkpoints(full_run, data_root):
    names = sorted(os.listdir(full_run))
    (log,) = [n for n in names if n.endswith(".log")]
    stamp = log[:-len(".log")]
    assert re.fullmatch(r"\d{8}_\d{6}", stamp)
    assert names == sorted([SMOKE.name, log, f"{stamp}.log.json", "iter_2.pth", "iter_4.pth",
                            "latest.pth", "best_mIoU_iter_4.pth"])
    assert osp.realpath(full_run / "latest.pth") == osp.realpath(full_run / "iter_4.pth")
    # The dumped config is the resolved one: overrides and command-line settings included.
    dumped = Config.fromfile(full_run / SMOKE.name)
    assert dumped.data.train.data_root == data_root and dumped.log_config.interval == 2
    assert dumped.work_dir == str(full_run) and dumped.seed == 3


def test_checkpoints_carry_meta_for_test_and_inference(full_run):
    ckpt = torch.load(full_run / "iter_4.pth", map_location="cpu", weights_only=True)
    assert {"meta", "state_dict", "optimizer"} <= set(ckpt)
    meta = ckpt["meta"]
    assert meta["CLASSES"] == CLASSES and len(meta["PALETTE"]) == 6 and meta["PALETTE"][0] == [0, 0, 0]
    assert meta["iter"] == 4 and meta["seed"] == 3 and meta["exp_name"] == SMOKE.name
    assert "ResNetV1c" in meta["config"] and "seglab_version" in meta
    assert "backbone.stem.0.weight" in ckpt["state_dict"]
    assert torch.load(full_run / "iter_2.pth", weights_only=True)["meta"]["iter"] == 2


def test_text_log_has_env_config_iterations_and_eval_table(full_run):
    (log,) = full_run.glob("*.log")
    text = log.read_text()
    assert "Environment info:" in text and "PyTorch: " in text and "Config:" in text
    assert "Set random seed to 3, deterministic: False" in text
    lines = [line for line in text.splitlines() if "Iter [" in line]
    assert [re.search(r"Iter \[(\d+)/4\]", line).group(1) for line in lines] == ["2", "4"]
    for line in lines:
        for key in ("lr: ", "eta: ", "time: ", "data_time: ", "memory: ", "decode.loss_ce: ",
                    "decode.acc_seg: ", "aux.loss_ce: ", "loss: "):
            assert key in line, (key, line)
    assert "per class results:" in text and "| background |" in text
    assert re.search(r"Iter\(val\) \[4\]\taAcc: [\d.]+, mIoU: [\d.]+", text)
    assert "Now best checkpoint is saved as best_mIoU_iter_4.pth." in text


def test_json_log_follows_mmseg_schema(full_run):
    (path,) = full_run.glob("*.log.json")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    meta = records[0]
    assert meta["seed"] == 3 and meta["exp_name"] == SMOKE.name and meta["CLASSES"] == CLASSES
    assert "PyTorch" in meta["env_info"] and "config" in meta
    train = [r for r in records[1:] if r["mode"] == "train"]
    assert [r["iter"] for r in train] == [2, 4]
    for record in train:
        assert list(record)[:6] == ["mode", "epoch", "iter", "lr", "memory", "data_time"]
        assert {"decode.loss_ce", "decode.acc_seg", "aux.loss_ce", "aux.acc_seg", "loss",
                "time"} <= set(record)
        assert record["loss"] == pytest.approx(record["decode.loss_ce"] + record["aux.loss_ce"],
                                               abs=2e-5)
    assert train[0]["lr"] > train[1]["lr"]  # poly schedule
    (val,) = [r for r in records[1:] if r["mode"] == "val"]
    assert val["iter"] == 4 and {"aAcc", "mIoU", "mAcc", "IoU.disc", "Acc.ring"} <= set(val)
    best = torch.load(full_run / "best_mIoU_iter_4.pth", weights_only=True)
    assert best["meta"]["hook_msgs"]["best_score"] == pytest.approx(val["mIoU"], abs=1e-5)


def test_default_work_dir_compat_flags_and_amp_on_cpu(data_root, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("seglab.utils.precision._warned", set())  # precision warnings: once each
    with pytest.warns(UserWarning) as record:
        code = TRAIN_TOOL.main([str(SMOKE), "--no-validate", "--gpu-ids", "0", "--diff_seed",
                                "--amp", "--device", "cpu", "--options", *data_options(data_root),
                                "runner.max_iters=1", "checkpoint_config.interval=-1"])
    assert code == 0, capsys.readouterr().err
    messages = " | ".join(str(w.message) for w in record)
    assert "--gpu-ids is deprecated" in messages
    # --amp on a CPU: bfloat16 where the CPU has it natively, else float32 with a warning.
    from seglab.utils.precision import cpu_bf16_support

    assert ("only used on CUDA" in messages) != cpu_bf16_support().native
    work_dir = tmp_path / "work_dirs" / SMOKE.stem
    ckpt = torch.load(work_dir / "latest.pth", weights_only=True)  # save_last at the final iteration
    assert ckpt["meta"]["iter"] == 1
    assert Config.fromfile(work_dir / SMOKE.name).amp == "auto"


def error_of(capsys, argv):
    code = TRAIN_TOOL.main(argv)
    captured = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in captured.err
    errors = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, captured.err
    return errors[0]


def test_user_errors_are_one_line_without_traceback(data_root, tmp_path, capsys):
    wd = ["--work-dir", str(tmp_path / "w")]
    assert error_of(capsys, [str(tmp_path / "missing.py")]).startswith(
        f"error: config file not found: {tmp_path / 'missing.py'}")
    line = error_of(capsys, [str(SMOKE), *wd, "--options", "model.backbon.with_cp=True"])
    assert "model.backbon.with_cp" in line and "model.backbone" in line
    line = error_of(capsys, [str(SMOKE), *wd, "--options", f"data.train.data_root={tmp_path / 'nope'}"])
    assert str(tmp_path / "nope") in line
    line = error_of(capsys, [str(SMOKE), *wd, "--resume-from", str(tmp_path / "gone.pth"),
                             "--options", *data_options(data_root)])
    assert str(tmp_path / "gone.pth") in line
    line = error_of(capsys, [str(SMOKE), *wd, "--options", *data_options(data_root),
                             "optimizer.type=SGDD"])
    assert "SGDD" in line and "SGD" in line


def test_launcher_outside_torchrun_is_a_clear_error(tmp_path, capsys, monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "SLURM_PROCID",
                 "SLURM_NTASKS"):
        monkeypatch.delenv(name, raising=False)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        pytest.skip("another test left a process group initialised in this process")
    line = error_of(capsys, [str(SMOKE), "--work-dir", str(tmp_path), "--launcher", "pytorch"])
    assert "torchrun" in line and "--launcher none" in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_device_without_cuda_is_a_clear_error(data_root, tmp_path, capsys):
    line = error_of(capsys, [str(SMOKE), "--work-dir", str(tmp_path), "--device", "cuda",
                             "--options", *data_options(data_root)])
    assert "CUDA is not available" in line and "--device cpu" in line


def test_missing_tensorboard_is_a_clear_error(data_root, tmp_path, capsys):
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("tensorboard is installed")
    config = tmp_path / "tb.py"
    config.write_text(f"_base_ = {str(SMOKE)!r}\nlog_config = dict(hooks=[dict(type='TextLoggerHook'), "
                      f"dict(type='TensorboardLoggerHook')])\n")
    line = error_of(capsys, [str(config), "--work-dir", str(tmp_path / "w"), "--no-validate",
                             "--options", *data_options(data_root)])
    assert "tensorboard" in line and "pip install" in line


def test_one_line_strips_a_dataloader_worker_traceback():
    from seglab.errors import DatasetError

    err = DatasetError("Caught DatasetError in DataLoader worker process 0.\nOriginal Traceback "
                       "(most recent call last):\n  File \"x.py\", line 1, in f\nseglab.errors."
                       "DatasetError: Label file 'a.png' is missing.\n")
    assert TRAIN_TOOL.one_line(err) == "Label file 'a.png' is missing."
    assert TRAIN_TOOL.one_line(DatasetError("plain message")) == "plain message"
