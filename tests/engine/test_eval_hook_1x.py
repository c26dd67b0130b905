"""When validation runs during training: MMSegmentation 1.x's ``IterBasedTrainLoop`` validates
after every iteration ``i >= val_begin`` with ``i % val_interval == 0`` and after the last one
(mmengine/runner/loops.py); 0.x's EvalHook only at the multiples of ``interval`` (from
``start``). The converter maps the 1.x loop onto ``evaluation = dict(interval, eval_last=True,
start)``; a 0.x config keeps 0.x's times."""
import itertools
from types import SimpleNamespace

import pytest
import torch

from seglab.config import V1xConfigError, load_config
from seglab.config.v1x_schedule import convert_loops
from seglab.engine import EvalHook, runner_from_config
from seglab.errors import ConfigError

from train_helpers import ROOT

CONFIG_1X = ROOT / "configs/1.x/demo/fcn_tiny_4xb2-6it_synthetic-voc-24x24_1x.py"
CONFIG_0X = ROOT / "configs/demo/fcn_tiny_synthetic_voc_smoke.py"


def evaluated_iterations(cfg, toys, work_dir, logger):
    """Train the engine tests' toy segmentor with ``cfg``'s schedule and hooks; the iterations
    after which the EvalHook ran."""
    done, box = [], {}

    def evaluate_fn(model):
        done.append(box["runner"].iter + 1)
        return {"mIoU": 0.1 * len(done)}

    torch.manual_seed(0)
    cfg.work_dir = str(work_dir)
    runner = runner_from_config(cfg, toys["TinySegmentor"](), evaluate_fn=evaluate_fn,
                                logger=logger, batch_processor=toys["to_device"], device="cpu")
    box["runner"] = runner
    runner.run([toys["make_loader"]()])
    assert runner.iter == runner.max_iters
    return done


def test_1x_config_also_validates_after_the_last_iteration(tmp_path, toys, test_logger):
    cfg = load_config(CONFIG_1X, {"train_cfg.max_iters": 5, "train_cfg.val_interval": 2})
    assert cfg.evaluation.eval_last is True
    assert evaluated_iterations(cfg, toys, tmp_path, test_logger) == [2, 4, 5]
    # the best checkpoint follows the extra validation too (scores 0.1, 0.2, 0.3)
    assert (tmp_path / "best_mIoU_iter_5.pth").is_file()


def test_0x_config_keeps_validating_at_the_multiples(tmp_path, toys, test_logger):
    cfg = load_config(CONFIG_0X, {"runner.max_iters": 5, "evaluation.interval": 2})
    assert "eval_last" not in cfg.evaluation
    assert evaluated_iterations(cfg, toys, tmp_path, test_logger) == [2, 4]


def test_1x_val_begin(tmp_path, toys, test_logger):
    cfg = load_config(CONFIG_1X, {"train_cfg.max_iters": 7, "train_cfg.val_interval": 2,
                                  "train_cfg.val_begin": 3})
    assert evaluated_iterations(cfg, toys, tmp_path, test_logger) == [4, 6, 7]


class FakeRunner(SimpleNamespace):
    """What EvalHook.after_train_iter touches of the runner."""

    def __init__(self, max_iters):
        super().__init__(iter=0, max_iters=max_iters, model=torch.nn.Identity(), meta={},
                         logged=[])

    def log_val(self, metrics):
        self.logged.append(self.iter + 1)


def hook_iterations(hook, max_iters):
    runner = FakeRunner(max_iters)
    for runner.iter in range(max_iters):
        hook.after_train_iter(runner)
    return runner.logged


def test_every_1x_loop_validates_as_mmengine_does():
    """mmengine's rule, written out, against the converted hook for many loops (val_begin
    before, on and after the multiples, beyond max_iters, 0 and 1)."""
    for max_iters, interval, begin in itertools.product(range(1, 10), range(1, 5), range(0, 12)):
        loop = dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=interval,
                    val_begin=begin)
        evaluation = convert_loops(dict(train_cfg=loop))["evaluation"]
        want = [i for i in range(1, max_iters + 1)
                if i >= begin and (i % interval == 0 or i == max_iters)]
        got = hook_iterations(EvalHook(lambda model: {"mIoU": 0.5}, **evaluation), max_iters)
        assert got == want, (loop, evaluation)


def test_eval_last_is_off_by_default_and_respects_start():
    assert hook_iterations(EvalHook(lambda model: {}, interval=2), 5) == [2, 4]
    assert hook_iterations(EvalHook(lambda model: {}, interval=2, eval_last=True), 6) == [2, 4, 6]
    assert hook_iterations(EvalHook(lambda model: {}, interval=3, start=2, eval_last=True),
                           7) == [2, 5, 7]
    assert hook_iterations(EvalHook(lambda model: {}, interval=2, start=9, eval_last=True),
                           7) == []
    with pytest.raises(ConfigError, match=r"evaluation.eval_last must be True or False, got 1"):
        EvalHook(lambda model: {}, eval_last=1)


def test_bad_1x_loop_values_are_named():
    with pytest.raises(V1xConfigError, match=r"train_cfg.val_interval must be a positive int, "
                       r"got 0 \(in 1.x config .*fcn_tiny_4xb2"):
        load_config(CONFIG_1X, {"train_cfg.val_interval": 0})
    with pytest.raises(V1xConfigError, match=r"train_cfg.val_begin must be an int, got 1.5"):
        load_config(CONFIG_1X, {"train_cfg.val_begin": 1.5})
