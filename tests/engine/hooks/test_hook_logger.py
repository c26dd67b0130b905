"""TextLoggerHook: mmcv-style text lines and json log; TensorboardLoggerHook's missing-package error."""
import json
import re
import sys

import pytest
import torch

from seglab.engine import IterBasedRunner, build_optimizer, get_root_logger, set_random_seed
from seglab.engine.hooks.tensorboard import TensorboardLoggerHook
from seglab.engine.logging import close_file_handlers
from seglab.engine.lr_schedule import Poly


class Recorder:
    """Hook that keeps each iteration's log_vars (priority before the loggers)."""

    priority = 0

    def __init__(self):
        self.log_vars = []

    def before_run(self, runner): pass
    def before_train_iter(self, runner): pass
    def after_run(self, runner): pass

    def after_train_iter(self, runner):
        self.log_vars.append((dict(runner.outputs["log_vars"]), runner.outputs["num_samples"]))


def test_text_and_json_logs(tmp_path, toys):
    set_random_seed(0)
    logger = get_root_logger(log_file=str(tmp_path / "run.log"))
    try:
        model = toys["TinySegmentor"]()
        optimizer = build_optimizer(model, dict(type="SGD", lr=0.01, momentum=0.9))
        runner = IterBasedRunner(model, optimizer, work_dir=str(tmp_path), logger=logger, max_iters=4,
                                 meta=dict(env_info="sys.platform: linux", seed=0, exp_name="toy.py"),
                                 batch_processor=toys["to_device"])
        runner.timestamp = "20240101_000000"
        runner.register_training_hooks(dict(policy="poly", power=0.9, min_lr=1e-4, by_epoch=False),
                                       dict(), None, dict(interval=2, hooks=[dict(type="TextLoggerHook",
                                                                                  by_epoch=False)]))
        recorder = Recorder()
        runner.register_hook(recorder)
        runner.run([toys["make_loader"]()], [("train", 1)])
    finally:
        close_file_handlers(logger)

    lines = [json.loads(l) for l in (tmp_path / "20240101_000000.log.json").read_text().splitlines()]
    assert lines[0] == dict(env_info="sys.platform: linux", seed=0, exp_name="toy.py")
    assert [l["iter"] for l in lines[1:]] == [2, 4]
    first = lines[1]
    assert list(first)[:6] == ["mode", "epoch", "iter", "lr", "memory", "data_time"]
    assert list(first)[-1] == "time"
    assert first["mode"] == "train" and first["epoch"] == 1 and isinstance(first["memory"], int)
    # lr of the logged iteration (index 1), rounded to 5 decimals as mmcv does
    assert first["lr"] == round(Poly(power=0.9, min_lr=1e-4).lr_at(0.01, 1, 4), 5)
    # values are sample-weighted means over the window
    window = recorder.log_vars[:2]
    mean = sum(v["decode.loss_ce"] * n for v, n in window) / sum(n for _, n in window)
    assert first["decode.loss_ce"] == round(mean, 5)
    assert set(first) >= {"decode.acc_seg", "loss"}

    text = (tmp_path / "run.log").read_text()
    pattern = (r"Iter \[2/4\]\tlr: \d\.\d{3}e-\d\d, eta: \d+:\d\d:\d\d, time: \d+\.\d{3}, "
               r"data_time: \d+\.\d{3}, memory: \d+, decode\.loss_ce: \d+\.\d{4}, "
               r"decode\.acc_seg: \d+\.\d{4}, loss: \d+\.\d{4}")
    assert re.search(pattern, text), text
    assert "Iter [4/4]" in text and "peak resident memory" in text


def test_val_logs_use_mode_val(tmp_path, toys, test_logger):
    model = toys["TinySegmentor"]()
    runner = IterBasedRunner(model, torch.optim.SGD(model.parameters(), lr=0.1), work_dir=str(tmp_path),
                             logger=test_logger, max_iters=1, meta=dict(seed=1),
                             batch_processor=toys["to_device"])
    runner.register_training_hooks(None, None, None, dict(interval=1, hooks=[dict(type="TextLoggerHook")]))
    runner.run([toys["make_loader"]()])
    runner.log_val({"aAcc": 0.5, "mIoU": 0.25})
    lines = (tmp_path / f"{runner.timestamp}.log.json").read_text().splitlines()
    val = json.loads(lines[-1])
    assert val == dict(mode="val", epoch=1, iter=2, lr=0.1, aAcc=0.5, mIoU=0.25)
    assert "Iter(val) [2]\taAcc: 0.5000, mIoU: 0.2500" in test_logger.captured.text()


def test_tensorboard_hook_explains_missing_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ImportError, match="pip install tensorboard.*log_config.hooks"):
        TensorboardLoggerHook(interval=10)
