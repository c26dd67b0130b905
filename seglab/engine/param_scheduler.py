"""MMSegmentation 1.x ``param_scheduler`` lists, with mmengine's exact chaining, as an lr policy.

A 1.x config schedules the learning rate with a list of mmengine schedulers, e.g. warm-up then
poly decay::

    param_scheduler = [
        dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
        dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=1500, end=160000)]

:func:`seglab.config.convert_1x_config` turns it into ``lr_config = dict(policy=
'ParamSchedulerChain', schedulers=[...])``, run by the usual ``LrUpdaterHook``.

mmengine semantics, followed step by step: every scheduler is stepped once when it is built
(global step 0) and once after every training iteration, in list order; at global step ``g`` a
scheduler with ``begin <= g < end`` updates the lr *in its chainable form* from the current value
(which the schedulers before it in the list may have changed at the same step), with its own
``last_step = g - begin``. The lr of iteration ``t`` (0-based) is the value after global step
``t``. Because the chainable forms are recursive (and PolyLR's ``eta_min`` makes them affine,
not multiplicative), :meth:`ParamSchedulerChain.lr_at` replays the steps from 0, remembering the
last value per base lr, so consecutive iterations cost O(1) and a resumed run at iteration k
replays k steps once, giving exactly the uninterrupted run's values.

Note: mmengine's PolyLR decays over ``end - begin - 1`` steps (it reaches ``eta_min`` at the last
iteration), where 0.x's ``policy='poly'`` decays over ``max_iters``; the two differ slightly.
"""
from __future__ import annotations

import inspect
import math
import numbers
from collections import Counter
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..errors import ConfigError
from ..registry import LR_SCHEDULERS
from .lr_schedule import LrSchedule

INF = int(1e9)  # mmengine's default ``end``


class _Scheduler:
    """One mmengine lr scheduler: its range and its chainable update."""

    def __init__(self, begin: int = 0, end: int = INF):
        for name, value in (("begin", begin), ("end", end)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool):
                raise ConfigError(f"{name} must be an int (an iteration), got "
                                  f"{value!r}.")
        if end <= begin:
            raise ConfigError(f"end must be larger than begin, got "
                              f"begin={begin}, end={end}.")
        self.begin, self.end = int(begin), int(end)

    def update(self, lr: float, base_lr: float, last_step: int) -> float:
        """The lr after this scheduler's step number ``last_step`` (0 at ``begin``)."""
        raise NotImplementedError


class _LinearLR(_Scheduler):
    def __init__(self, start_factor: float = 1.0 / 3, end_factor: float = 1.0, begin: int = 0,
                 end: int = INF):
        for name, value in (("start_factor", start_factor), ("end_factor", end_factor)):
            if not 0 <= value <= 1:
                raise ConfigError(f"LinearLR.{name} = {value!r}: must be in [0, 1].")
        super().__init__(begin, end)
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = self.end - self.begin - 1

    def update(self, lr: float, base_lr: float, last_step: int) -> float:
        if last_step == 0:
            return lr * self.start_factor
        delta = self.end_factor - self.start_factor
        return lr * (1. + delta / (self.total_iters * self.start_factor + (last_step - 1) * delta))


class _ConstantLR(_Scheduler):
    def __init__(self, factor: float = 1.0 / 3, begin: int = 0, end: int = INF):
        if not 0 <= factor <= 1:
            raise ConfigError(f"ConstantLR.factor = {factor!r}: must be in [0, 1].")
        super().__init__(begin, end)
        self.factor = factor
        self.total_iters = self.end - self.begin - 1

    def update(self, lr: float, base_lr: float, last_step: int) -> float:
        if last_step == 0:
            return lr * self.factor
        if last_step == self.total_iters:
            return lr * (1.0 / self.factor)
        return lr


class _PolyLR(_Scheduler):
    def __init__(self, eta_min: float = 0, power: float = 1.0, begin: int = 0, end: int = INF):
        super().__init__(begin, end)
        self.eta_min, self.power = eta_min, power
        self.total_iters = self.end - self.begin - 1

    def update(self, lr: float, base_lr: float, last_step: int) -> float:
        if last_step == 0:
            return lr
        return ((lr - self.eta_min) * (1 - 1 / (self.total_iters - last_step + 1)) ** self.power
                + self.eta_min)


class _MultiStepLR(_Scheduler):
    def __init__(self, milestones: Sequence[int], gamma: float = 0.1, begin: int = 0,
                 end: int = INF):
        super().__init__(begin, end)
        self.milestones = Counter(int(m) for m in milestones)
        self.gamma = gamma

    def update(self, lr: float, base_lr: float, last_step: int) -> float:
        if last_step not in self.milestones:
            return lr
        return lr * self.gamma ** self.milestones[last_step]


class _StepLR(_Scheduler):
    def __init__(self, step_size: int, gamma: float = 0.1, begin: int = 0, end: int = INF):
        super().__init__(begin, end)
        self.step_size, self.gamma = int(step_size), gamma

    def update(self, lr: float, base_lr: float, last_step: int) -> float:
        if last_step == 0 or last_step % self.step_size != 0:
            return lr
        return lr * self.gamma


class _ExponentialLR(_Scheduler):
    def __init__(self, gamma: float, begin: int = 0, end: int = INF):
        super().__init__(begin, end)
        self.gamma = gamma

    def update(self, lr: float, base_lr: float, last_step: int) -> float:
        return lr if last_step == 0 else lr * self.gamma


class _CosineAnnealingLR(_Scheduler):
    def __init__(self, T_max: Optional[int] = None, eta_min: Optional[float] = None,  # noqa: N803
                 begin: int = 0, end: int = INF, eta_min_ratio: Optional[float] = None):
        if eta_min is None and eta_min_ratio is None:
            eta_min = 0.
        if (eta_min is None) == (eta_min_ratio is None):
            raise ConfigError("CosineAnnealingLR: set eta_min or eta_min_ratio, not both.")
        super().__init__(begin, end)
        self.T_max = T_max or (self.end - self.begin)
        self.eta_min, self.eta_min_ratio = eta_min, eta_min_ratio

    def update(self, lr: float, base_lr: float, last_step: int) -> float:
        eta_min = self.eta_min if self.eta_min_ratio is None else base_lr * self.eta_min_ratio
        if last_step == 0:
            return lr
        if (last_step - 1 - self.T_max) % (2 * self.T_max) == 0:
            return lr + (base_lr - eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
        return ((1 + math.cos(math.pi * last_step / self.T_max))
                / (1 + math.cos(math.pi * (last_step - 1) / self.T_max))
                * (lr - eta_min) + eta_min)


SCHEDULERS = {"LinearLR": _LinearLR, "ConstantLR": _ConstantLR, "PolyLR": _PolyLR,
              "MultiStepLR": _MultiStepLR, "StepLR": _StepLR, "ExponentialLR": _ExponentialLR,
              "CosineAnnealingLR": _CosineAnnealingLR}


def build_scheduler(cfg: Mapping[str, Any], where: str = "param_scheduler") -> _Scheduler:
    """One scheduler from its 1.x dict (``type`` plus its arguments; no ``by_epoch``)."""
    cfg = dict(cfg)
    kind = cfg.pop("type", None)
    if kind not in SCHEDULERS:
        raise ConfigError(f"{where}.type = {kind!r} is a MMSegmentation 1.x feature seglab does "
                          f"not run yet; seglab runs {', '.join(SCHEDULERS)}.")
    accepted = [p for p in inspect.signature(SCHEDULERS[kind].__init__).parameters if p != "self"]
    unknown = sorted(set(cfg) - set(accepted))
    if unknown:
        raise ConfigError(f"{where} ({kind}) got {unknown}; {kind} takes {accepted} (and "
                          f"by_epoch=False).")
    try:
        return SCHEDULERS[kind](**cfg)
    except ConfigError as err:
        raise ConfigError(f"{where} ({kind}): {err}") from None
    except (TypeError, ValueError) as err:  # e.g. milestones=5, step_size=None
        raise ConfigError(f"{where} ({kind}) = {cfg!r:.120}: {err}") from None


@LR_SCHEDULERS.register_module()
class ParamSchedulerChain(LrSchedule):
    """A 1.x ``param_scheduler`` list as one lr policy (see the module docstring).

    Args:
        schedulers: the 1.x scheduler dicts in list order, without ``by_epoch`` (iteration
            based), e.g. ``[dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=20000)]``.
    """

    def __init__(self, schedulers: Sequence[Mapping[str, Any]]):
        super().__init__()
        if isinstance(schedulers, Mapping):
            schedulers = [schedulers]
        self.schedulers: List[_Scheduler] = [
            build_scheduler(s, f"param_scheduler[{i}]") for i, s in enumerate(schedulers)]
        self._last: Dict[float, Tuple[int, float]] = {}

    def _replay(self, lr: float, base_lr: float, step: int) -> float:
        for scheduler in self.schedulers:
            if scheduler.begin <= step < scheduler.end:
                lr = scheduler.update(lr, base_lr, step - scheduler.begin)
        return lr

    def lr_at(self, base_lr: float, cur_iter: int, max_iters: int) -> float:
        step, lr = self._last.get(base_lr, (-1, base_lr))
        if step > cur_iter:
            step, lr = -1, base_lr
        while step < cur_iter:
            step += 1
            lr = self._replay(lr, base_lr, step)
        self._last[base_lr] = (step, lr)
        return lr
