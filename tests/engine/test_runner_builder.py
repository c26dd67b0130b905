"""runner_from_config / build_runner: an MMSeg 0.x schedule + runtime config gives a working runner."""
import inspect
import os
import warnings

import pytest
import torch

from seglab.engine import (CheckpointHook, EvalHook, IterBasedRunner, LrUpdaterHook, OptimStep,
                           TextLoggerHook, build_runner, runner_from_config)
from seglab.errors import ConfigError, RegistryError


def mmseg_cfg(work_dir, **overrides):
    cfg = dict(
        optimizer=dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=0.0005),
        optimizer_config=dict(),
        lr_config=dict(policy="poly", power=0.9, min_lr=1e-4, by_epoch=False),
        runner=dict(type="IterBasedRunner", max_iters=4),
        checkpoint_config=dict(by_epoch=False, interval=2),
        evaluation=dict(interval=2, metric="mIoU", pre_eval=True),
        log_config=dict(interval=2, hooks=[dict(type="TextLoggerHook", by_epoch=False)]),
        dist_params=dict(backend="nccl"), log_level="INFO", load_from=None, resume_from=None,
        workflow=[("train", 1)], cudnn_benchmark=True, work_dir=str(work_dir))
    cfg.update(overrides)
    return cfg


def test_full_config_builds_hooks_in_mmcv_order_and_trains(tmp_path, toys, test_logger):
    calls = []
    runner = runner_from_config(mmseg_cfg(tmp_path), toys["TinySegmentor"](), logger=test_logger,
                                evaluate_fn=lambda m: calls.append(1) or {"mIoU": 0.5},
                                meta=dict(seed=0), timestamp="ts", batch_processor=toys["to_device"])
    assert [type(h) for h in runner.hooks] == [LrUpdaterHook, CheckpointHook, TextLoggerHook, EvalHook]
    runner.run([toys["make_loader"]()], [("train", 1)])
    assert len(calls) == 2 and os.path.exists(tmp_path / "iter_4.pth")
    assert os.path.exists(tmp_path / "ts.log.json")

    resumed = runner_from_config(mmseg_cfg(tmp_path, resume_from=str(tmp_path / "iter_2.pth")),
                                 toys["TinySegmentor"](), logger=test_logger)
    assert resumed.iter == 2
    auto = runner_from_config(mmseg_cfg(tmp_path, auto_resume=True), toys["TinySegmentor"](),
                              logger=test_logger)
    assert auto.iter == 4 and auto.last_checkpoint.endswith("latest.pth")
    loaded = runner_from_config(mmseg_cfg(tmp_path / "ft", load_from=str(tmp_path / "iter_4.pth")),
                                toys["TinySegmentor"](), logger=test_logger)
    assert loaded.iter == 0 and torch.equal(loaded.model.conv.weight, runner.model.conv.weight)


def test_no_evaluate_fn_means_no_validation(tmp_path, toys, test_logger):
    runner = runner_from_config(mmseg_cfg(tmp_path), toys["TinySegmentor"](), logger=test_logger)
    assert not any(isinstance(h, EvalHook) for h in runner.hooks)


def test_fp16_config_on_cpu_warns_and_trains_in_float32(tmp_path, toys, test_logger):
    with pytest.warns(UserWarning, match="only used on CUDA"):
        runner = runner_from_config(mmseg_cfg(tmp_path, fp16=dict(loss_scale=512.0)),
                                    toys["TinySegmentor"](), logger=test_logger)
    assert runner.optim_step.amp is None


def test_legacy_total_iters_and_config_errors(tmp_path, toys, test_logger):
    cfg = mmseg_cfg(tmp_path, total_iters=3)
    del cfg["runner"]
    assert runner_from_config(cfg, toys["TinySegmentor"](), logger=test_logger).max_iters == 3
    with pytest.raises(RegistryError, match=r"runner.*max_iter"):
        runner_from_config(mmseg_cfg(tmp_path, runner=dict(type="IterBasedRunner", max_iter=3)),
                           toys["TinySegmentor"](), logger=test_logger)
    with pytest.raises(RegistryError, match=r"runner\.type = 'EpochBasedRunner'"):
        runner_from_config(mmseg_cfg(tmp_path, runner=dict(type="EpochBasedRunner", max_epochs=3)),
                           toys["TinySegmentor"](), logger=test_logger)
    with pytest.raises(RegistryError, match=r"log_config\.hooks\[0\]\.type = 'TxtLoggerHook'"):
        runner_from_config(mmseg_cfg(tmp_path, log_config=dict(interval=1, hooks=[dict(type="TxtLoggerHook")])),
                           toys["TinySegmentor"](), logger=test_logger)
    with pytest.raises(RegistryError, match=r"evaluation.*intervall"):
        runner_from_config(mmseg_cfg(tmp_path, evaluation=dict(intervall=2)), toys["TinySegmentor"](),
                           evaluate_fn=lambda m: {}, logger=test_logger)
    with pytest.raises(ConfigError, match="momentum_config"):
        runner_from_config(mmseg_cfg(tmp_path, momentum_config=dict(policy="cyclic")),
                           toys["TinySegmentor"](), logger=test_logger)
    with pytest.raises(ConfigError, match="max_epochs"):
        build_runner(dict(type="IterBasedRunner", max_epochs=2), dict(model=toys["TinySegmentor"]()))


def test_workflow_with_val_is_rejected(tmp_path, toys, test_logger):
    runner = IterBasedRunner(toys["TinySegmentor"](), None, logger=test_logger, max_iters=1)
    with pytest.raises(ConfigError, match="workflow"):
        runner.run([toys["make_loader"]()], [("train", 1), ("val", 1)])


def test_hooks_run_by_priority_then_registration_order(toys, test_logger):
    from seglab.engine import Hook

    runner = IterBasedRunner(toys["TinySegmentor"](), None, logger=test_logger, max_iters=1)
    order = []

    class Named(Hook):
        def __init__(self, name):
            self.name = name

        def before_run(self, runner):
            order.append(self.name)

    runner.register_hook(Named("low"), "LOW")
    runner.register_hook(Named("normal1"))
    runner.register_hook(Named("highest"), 0)
    runner.register_hook(Named("normal2"), "NORMAL")
    runner.call_hook("before_run")
    assert order == ["highest", "normal1", "normal2", "low"]
    with pytest.raises(ValueError, match="priority"):
        runner.register_hook(Named("x"), "SOMETIMES")


@pytest.mark.parametrize("overrides, expected", [
    (dict(fp16=dict(loss_scale=256.0), optimizer_config=dict(grad_clip=dict(max_norm=1.0))),
     dict(amp="fp16", loss_scale=256.0, cumulative_iters=1, grad_clip=dict(max_norm=1.0))),
    (dict(fp16=dict(), optimizer_config=dict(type="GradientCumulativeOptimizerHook",
                                             cumulative_iters=4)),
     dict(amp="fp16", loss_scale=512.0, cumulative_iters=4, grad_clip=None)),
    (dict(optimizer_config=dict(type="GradientCumulativeOptimizerHook", cumulative_iters=2)),
     dict(amp="bf16", loss_scale="dynamic", cumulative_iters=2, grad_clip=None)),
])
def test_the_optimizer_step_is_built_once_from_the_config(tmp_path, toys, test_logger, monkeypatch,
                                                          overrides, expected):
    builds = []
    real_init = OptimStep.__init__
    signature = inspect.signature(real_init)

    def counting_init(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        builds.append({k: v for k, v in bound.arguments.items() if k != "self"})
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(OptimStep, "__init__", counting_init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # float16 on this CPU: the step warns and runs in float32
        runner = runner_from_config(mmseg_cfg(tmp_path, **overrides), toys["TinySegmentor"](),
                                    logger=test_logger, amp="bf16")
    assert len(builds) == 1
    (options,) = builds
    assert {k: options[k] for k in expected} == expected
    assert runner.optim_step.cumulative_iters == expected["cumulative_iters"]
    assert runner.optim_step.grad_clip == expected["grad_clip"]


def test_runner_takes_a_step_or_its_options_not_both(toys):
    step = OptimStep("cpu", cumulative_iters=3)
    runner = IterBasedRunner(toys["TinySegmentor"](), None, max_iters=1, optim_step=step)
    assert runner.optim_step is step
    with pytest.raises(TypeError, match="either optim_step or its options"):
        IterBasedRunner(toys["TinySegmentor"](), None, max_iters=1, optim_step=step,
                        cumulative_iters=2)
