"""``EvalHook``: evaluate during training, log the metrics, keep the best checkpoint.

MMSeg's ``evaluation = dict(interval=2000, metric='mIoU', pre_eval=True, save_best='mIoU')``. The
hook calls an injected ``evaluate_fn(model) -> dict`` (the caller builds it from the validation
data loader and ``metric``), so the engine does not depend on datasets or metrics.
"""
from __future__ import annotations

import math
import numbers
import os
import os.path as osp
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import torch

from ...errors import ConfigError
from ...registry import HOOKS
from ...utils import get_dist_info
from ..dist import broadcast_object
from ..seed import get_rng_state, set_rng_state
from .hook import Hook

if TYPE_CHECKING:  # pragma: no cover
    from ..runner import IterBasedRunner

GREATER_KEYS = ("acc", "top", "AR@", "auc", "precision", "mAP", "mDice", "mIoU", "mAcc", "aAcc",
                "mFscore")
LESS_KEYS = ("loss",)


def _scalar(value: Any) -> Optional[float]:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value)
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return float(value)
    try:  # numpy scalars
        import numpy as np

        if isinstance(value, np.generic) and np.ndim(value) == 0:
            return float(value)
    except ImportError:  # pragma: no cover
        pass
    return None


@HOOKS.register_module()
class EvalHook(Hook):
    """Run ``evaluate_fn`` every ``interval`` iterations.

    Evaluation does not disturb training: the global random generators are restored afterwards
    (so evaluating does not change the training run, and a resumed run matches an uninterrupted
    one) and the model is put back in train mode.

    Args:
        evaluate_fn: ``evaluate_fn(model) -> dict`` of metrics (numbers are logged; other values,
            e.g. per-class arrays, are ignored by the logs). Called on every rank.
        interval: evaluate after every ``interval`` iterations.
        by_epoch: must be False.
        start: first iteration (1-based) at which to evaluate; then every ``interval`` after it.
        eval_last: also evaluate after the last iteration (``runner.max_iters``) when it is not
            one of those (and not before ``start``), as MMSegmentation 1.x's
            ``IterBasedTrainLoop`` does; off by default, as in 0.x.
        save_best: metric whose best value keeps ``best_<metric>_iter_<N>.pth`` (the previous best
            file is removed); ``'auto'``: the first metric returned. None: no best checkpoint.
        rule: ``'greater'`` or ``'less'``; None: inferred from the metric name.
        greater_keys: names (substrings) of metrics where greater is better.
        less_keys: names (substrings) of metrics where less is better.
        out_dir: where to save the best checkpoint; default the work dir.
        metric: MMSeg's metric names (``'mIoU'``, ``['mIoU', 'mDice']``); stored for whoever builds
            ``evaluate_fn`` from this config, not used by the hook.
        pre_eval: MMSeg option, stored likewise (seglab's metrics always stream).
        efficient_test: MMSeg option, stored likewise.
    """

    priority = "LOW"

    def __init__(self, evaluate_fn: Callable[[torch.nn.Module], Mapping[str, Any]], interval: int = 1,
                 by_epoch: bool = False, start: Optional[int] = None, save_best: Optional[str] = None,
                 rule: Optional[str] = None, greater_keys: Optional[Sequence[str]] = None,
                 less_keys: Optional[Sequence[str]] = None, out_dir: Optional[str] = None,
                 metric: Union[str, List[str]] = "mIoU", pre_eval: bool = False,
                 efficient_test: bool = False, eval_last: bool = False):
        if by_epoch:
            raise ConfigError("evaluation.by_epoch=True: seglab trains by iterations; remove it.")
        if not isinstance(interval, int) or interval <= 0:
            raise ConfigError(f"evaluation.interval must be a positive int, got {interval!r}")
        if rule not in (None, "greater", "less"):
            raise ConfigError(f"evaluation.rule must be 'greater', 'less' or None, got {rule!r}")
        if save_best is not None and not isinstance(save_best, str):
            raise ConfigError(f"evaluation.save_best must be a metric name, 'auto' or None, got "
                              f"{save_best!r}")
        if not isinstance(eval_last, bool):
            raise ConfigError(f"evaluation.eval_last must be True or False, got {eval_last!r}")
        self.evaluate_fn = evaluate_fn
        self.interval = interval
        self.start = start
        self.eval_last = eval_last
        self.save_best = save_best
        self.greater_keys = tuple(greater_keys) if greater_keys is not None else GREATER_KEYS
        self.less_keys = tuple(less_keys) if less_keys is not None else LESS_KEYS
        self.out_dir = out_dir
        self.metric, self.pre_eval, self.efficient_test = metric, pre_eval, efficient_test
        self.rule = rule
        self.key_indicator = save_best
        if save_best not in (None, "auto"):
            self.rule = self._infer_rule(save_best, rule)

    def _infer_rule(self, key: str, rule: Optional[str]) -> str:
        if rule is not None:
            return rule
        low = key.lower()
        greater = [k.lower() for k in self.greater_keys]
        less = [k.lower() for k in self.less_keys]
        if low in greater:
            return "greater"
        if low in less:
            return "less"
        if any(k in low for k in greater):
            return "greater"
        if any(k in low for k in less):
            return "less"
        raise ConfigError(f"evaluation.save_best = {key!r}: cannot tell whether greater or less is "
                          f"better; set evaluation.rule='greater' or 'less'.")

    def _should_evaluate(self, runner: "IterBasedRunner") -> bool:
        current = runner.iter + 1
        if self.start is None:
            due = current % self.interval == 0
        else:
            due = current >= self.start and (current - self.start) % self.interval == 0
        last = self.eval_last and current == runner.max_iters and current >= (self.start or 1)
        return due or last

    def before_run(self, runner: "IterBasedRunner") -> None:
        if self.out_dir is None:
            self.out_dir = runner.work_dir

    def after_train_iter(self, runner: "IterBasedRunner") -> None:
        if self._should_evaluate(runner):
            self.evaluate(runner)

    def evaluate(self, runner: "IterBasedRunner") -> Dict[str, float]:
        """Evaluate now, log the numbers (mode ``val``) and update the best checkpoint."""
        rng = get_rng_state()
        try:
            results = self.evaluate_fn(runner.model)
        finally:
            set_rng_state(rng)
            runner.model.train()
        metrics: Dict[str, float] = OrderedDict()
        for name, value in (results or {}).items():
            number = _scalar(value)
            if number is not None:
                metrics[str(name)] = number
        # Rank 0's numbers decide for everyone: evaluate_fn may return results on rank 0 only,
        # and saving the best checkpoint is a collective call.
        metrics = broadcast_object(metrics)
        runner.log_val(metrics)
        if self.save_best is not None and metrics:
            self._save_best(runner, metrics)
        return metrics

    def _save_best(self, runner: "IterBasedRunner", metrics: Mapping[str, float]) -> None:
        if self.key_indicator == "auto":
            self.key_indicator = next(iter(metrics))
            self.rule = self._infer_rule(self.key_indicator, self.rule)
        if self.key_indicator not in metrics:
            raise ConfigError(f"evaluation.save_best = {self.key_indicator!r} is not among the "
                              f"evaluation results {list(metrics)}.")
        score = metrics[self.key_indicator]
        hook_msgs = runner.meta.setdefault("hook_msgs", {})
        best = hook_msgs.get("best_score", -math.inf if self.rule == "greater" else math.inf)
        better = score > best if self.rule == "greater" else score < best
        if not better:  # also False for NaN scores
            return
        old = hook_msgs.get("best_ckpt")
        name = f"best_{self.key_indicator}_iter_{runner.iter + 1}.pth"
        # Recorded before saving so that the best checkpoint's own meta names itself.
        hook_msgs["best_score"] = score
        hook_msgs["best_ckpt"] = osp.join(self.out_dir, name)
        path = runner.save_checkpoint(self.out_dir, filename_tmpl=name, create_symlink=False)
        if get_dist_info()[0] == 0 and old and osp.abspath(old) != osp.abspath(path) and osp.isfile(old):
            os.remove(old)
        runner.logger.info(f"Now best checkpoint is saved as {name}.")
        runner.logger.info(f"Best {self.key_indicator} is {score:0.4f} at {runner.iter + 1} iter.")
