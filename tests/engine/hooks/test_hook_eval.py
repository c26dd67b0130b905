"""EvalHook: interval, val logs, best checkpoint, and no interference with the training stream."""
import json
import os

import numpy as np
import pytest
import torch

from seglab.engine import EvalHook, IterBasedRunner
from seglab.errors import ConfigError


class FakeEvaluation:
    """Returns the next scores; draws random numbers to check the hook restores the generators."""

    def __init__(self, scores):
        self.scores, self.calls, self.modes = list(scores), 0, []

    def __call__(self, model):
        self.modes.append(model.training)
        model.eval()
        torch.rand(3), np.random.rand()
        score = self.scores[self.calls]
        self.calls += 1
        return {"aAcc": 0.9, "mIoU": score, "IoU": np.array([score, 1.0]), "note": "text"}


def _runner(toys, work_dir, logger, max_iters=8, eval_kwargs=None, evaluate_fn=None):
    torch.manual_seed(0)
    model = toys["TinySegmentor"]()
    runner = IterBasedRunner(model, torch.optim.SGD(model.parameters(), lr=0.1), work_dir=str(work_dir),
                             logger=logger, max_iters=max_iters, meta=dict(seed=0),
                             batch_processor=toys["to_device"])
    runner.register_training_hooks(None, dict(), None,
                                   dict(interval=2, hooks=[dict(type="TextLoggerHook", by_epoch=False)]))
    if evaluate_fn is not None:
        runner.register_hook(EvalHook(evaluate_fn, **(eval_kwargs or {})))
    return runner


def test_best_checkpoint_is_kept_and_replaced(tmp_path, toys, test_logger):
    evaluation = FakeEvaluation([0.2, 0.5, 0.4, 0.6])
    runner = _runner(toys, tmp_path, test_logger, evaluate_fn=evaluation,
                     eval_kwargs=dict(interval=2, metric="mIoU", pre_eval=True, save_best="mIoU"))
    runner.run([toys["make_loader"]()])
    assert evaluation.calls == 4 and evaluation.modes == [True] * 4
    assert runner.model.training, "train mode restored after evaluation"
    pth = sorted(f for f in os.listdir(tmp_path) if f.endswith(".pth"))
    assert pth == ["best_mIoU_iter_8.pth"]
    best = torch.load(tmp_path / "best_mIoU_iter_8.pth", weights_only=True)
    assert best["meta"]["hook_msgs"]["best_score"] == pytest.approx(0.6)
    assert best["meta"]["hook_msgs"]["best_ckpt"] == str(tmp_path / "best_mIoU_iter_8.pth")
    vals = [json.loads(l) for l in (tmp_path / f"{runner.timestamp}.log.json").read_text().splitlines()
            if '"val"' in l]
    assert [(v["iter"], v["mIoU"]) for v in vals] == [(2, 0.2), (4, 0.5), (6, 0.4), (8, 0.6)]
    assert "IoU" not in vals[0] and "note" not in vals[0]  # only scalar metrics are logged
    text = test_logger.captured.text()
    assert "Best mIoU is 0.5000 at 4 iter." in text and "best_mIoU_iter_8.pth" in text
    # the train log of an iteration comes before its val log
    assert text.index("Iter [2/8]") < text.index("Iter(val) [2]")


def test_evaluation_does_not_change_training(tmp_path, toys, test_logger):
    plain = _runner(toys, tmp_path / "a", test_logger)
    plain.run([toys["make_loader"]()])
    evaluated = _runner(toys, tmp_path / "b", test_logger, evaluate_fn=FakeEvaluation([0.1] * 8),
                        eval_kwargs=dict(interval=1))
    evaluated.run([toys["make_loader"]()])
    for (k, a), b in zip(plain.model.state_dict().items(), evaluated.model.state_dict().values()):
        assert torch.equal(a, b), k


def test_start_auto_key_and_rule_inference(tmp_path, toys, test_logger):
    evaluation = FakeEvaluation([0.3, 0.2])
    runner = _runner(toys, tmp_path, test_logger, max_iters=6, evaluate_fn=evaluation,
                     eval_kwargs=dict(interval=2, start=3, save_best="auto"))
    runner.run([toys["make_loader"]()])
    assert evaluation.calls == 2  # at iterations 3 and 5
    assert os.path.exists(tmp_path / "best_aAcc_iter_3.pth")  # 'auto' = first metric, greater
    assert EvalHook(lambda m: {}, save_best="val_loss").rule == "less"
    with pytest.raises(ConfigError, match="rule"):
        EvalHook(lambda m: {}, save_best="weird")
    with pytest.raises(ConfigError, match="interval"):
        EvalHook(lambda m: {}, interval=0)
