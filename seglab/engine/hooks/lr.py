"""``LrUpdaterHook``: sets every parameter group's lr before each iteration from the schedule."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Mapping

from ...errors import ConfigError
from ...registry import HOOKS, LR_SCHEDULERS, build_from_cfg
from ..lr_schedule import LrSchedule
from .hook import Hook

if TYPE_CHECKING:  # pragma: no cover
    from ..runner import IterBasedRunner


@HOOKS.register_module()
class LrUpdaterHook(Hook):
    """Apply ``schedule`` to the runner's optimizer.

    The base lr of a group is its ``initial_lr`` (set from ``lr`` on the first run and saved with
    the optimizer state), so a resumed run uses the same base lrs as the original one.

    Args:
        schedule: the lr policy.
    """

    priority = "VERY_HIGH"

    def __init__(self, schedule: LrSchedule):
        self.schedule = schedule
        self.base_lr: List[float] = []

    def before_run(self, runner: "IterBasedRunner") -> None:
        for group in runner.optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lr = [group["initial_lr"] for group in runner.optimizer.param_groups]
        if self.schedule.warmup_by_epoch:
            self.schedule.set_epoch_length(runner.iters_per_epoch())

    def before_train_iter(self, runner: "IterBasedRunner") -> None:
        for group, base_lr in zip(runner.optimizer.param_groups, self.base_lr):
            group["lr"] = self.schedule.lr_at(base_lr, runner.iter, runner.max_iters)


def build_lr_hook(lr_config: Mapping[str, Any]) -> LrUpdaterHook:
    """The hook for MMSeg's ``lr_config = dict(policy='poly', power=0.9, ...)``.

    A lower-case policy name is title-cased as mmcv does (``'poly'`` -> ``Poly``); other names
    (``'CosineAnnealing'``) are used as they are.
    """
    if not isinstance(lr_config, Mapping) or "policy" not in lr_config:
        raise ConfigError(f"lr_config must be a dict with a 'policy' key (e.g. dict(policy='poly', "
                          f"power=0.9, min_lr=1e-4, by_epoch=False)), got {lr_config!r}")
    cfg = dict(lr_config)
    policy = cfg.pop("policy")
    name = policy.title() if isinstance(policy, str) and policy == policy.lower() else policy
    if name not in LR_SCHEDULERS:
        available = ", ".join(repr(n.lower()) if n.title() == n else repr(n) for n in sorted(LR_SCHEDULERS))
        raise ConfigError(f"lr_config.policy = {policy!r} is not supported; available: {available}.")
    cfg["type"] = name
    return LrUpdaterHook(build_from_cfg(cfg, LR_SCHEDULERS, key="lr_config"))
