"""Learning-rate policies with mmcv 1.x ``LrUpdaterHook`` semantics, iteration based.

``lr_config = dict(policy='poly', power=0.9, min_lr=1e-4, by_epoch=False, warmup='linear',
warmup_iters=1500, warmup_ratio=1e-6)``. The learning rate of iteration ``i`` (0-based, the number
of finished iterations) is a pure function of the group's base lr, ``i`` and ``max_iters``, so a
run resumed at iteration ``k`` continues with exactly the same rates.

Warm-up (for ``i < warmup_iters``) rescales the regular lr of that iteration:
``'constant'``: ``lr * warmup_ratio``; ``'linear'``: ``lr * (1 - (1 - i / warmup_iters) * (1 -
warmup_ratio))``; ``'exp'``: ``lr * warmup_ratio ** (1 - i / warmup_iters)``.
"""
from __future__ import annotations

from math import cos, pi
from typing import List, Optional, Union

from ..errors import ConfigError
from ..registry import LR_SCHEDULERS


class LrSchedule:
    """Base policy: warm-up handling around :meth:`get_lr`.

    Args:
        by_epoch: must be False (seglab's runner counts iterations).
        warmup: None, ``'constant'``, ``'linear'`` or ``'exp'``.
        warmup_iters: warm-up length in iterations (in epochs when ``warmup_by_epoch``).
        warmup_ratio: lr factor at the first warm-up iteration, in (0, 1].
        warmup_by_epoch: ``warmup_iters`` counts epochs of the training data loader.
    """

    def __init__(self, by_epoch: bool = False, warmup: Optional[str] = None, warmup_iters: int = 0,
                 warmup_ratio: float = 0.1, warmup_by_epoch: bool = False):
        if by_epoch:
            raise ConfigError("lr_config.by_epoch=True: seglab trains by iterations "
                              "(IterBasedRunner); set lr_config.by_epoch=False.")
        if warmup is not None:
            if warmup not in ("constant", "linear", "exp"):
                raise ConfigError(f"lr_config.warmup = {warmup!r} is not supported; use None, "
                                  f"'constant', 'linear' or 'exp'.")
            if not warmup_iters or warmup_iters <= 0:
                raise ConfigError(f"lr_config.warmup_iters must be a positive integer when warmup "
                                  f"is set, got {warmup_iters!r}.")
            if not 0 < warmup_ratio <= 1.0:
                raise ConfigError(f"lr_config.warmup_ratio must be in (0, 1], got {warmup_ratio!r}.")
        self.by_epoch = by_epoch
        self.warmup = warmup
        self.warmup_ratio = warmup_ratio
        self.warmup_by_epoch = warmup_by_epoch
        self.warmup_epochs = warmup_iters if warmup_by_epoch else None
        self.warmup_iters: Optional[int] = None if warmup_by_epoch else warmup_iters

    def set_epoch_length(self, iters_per_epoch: int) -> None:
        """Convert an epoch-counted warm-up into iterations (called by the runner before training)."""
        if self.warmup_epochs is not None:
            self.warmup_iters = self.warmup_epochs * iters_per_epoch

    def get_lr(self, base_lr: float, cur_iter: int, max_iters: int) -> float:
        """The regular (not warmed-up) lr of iteration ``cur_iter``."""
        raise NotImplementedError

    def warmup_lr(self, regular_lr: float, cur_iter: int) -> float:
        if self.warmup == "constant":
            return regular_lr * self.warmup_ratio
        if self.warmup == "linear":
            k = (1 - cur_iter / self.warmup_iters) * (1 - self.warmup_ratio)
            return regular_lr * (1 - k)
        k = self.warmup_ratio ** (1 - cur_iter / self.warmup_iters)
        return regular_lr * k

    def lr_at(self, base_lr: float, cur_iter: int, max_iters: int) -> float:
        """The lr of iteration ``cur_iter`` (0-based) for a group whose initial lr is ``base_lr``."""
        lr = self.get_lr(base_lr, cur_iter, max_iters)
        if self.warmup is not None:
            if self.warmup_iters is None:
                raise RuntimeError("warmup_by_epoch needs set_epoch_length() before training")
            if cur_iter < self.warmup_iters:
                lr = self.warmup_lr(lr, cur_iter)
        return lr


@LR_SCHEDULERS.register_module()
class Fixed(LrSchedule):
    """Constant lr (apart from warm-up)."""

    def __init__(self, by_epoch: bool = False, warmup: Optional[str] = None, warmup_iters: int = 0,
                 warmup_ratio: float = 0.1, warmup_by_epoch: bool = False):
        super().__init__(by_epoch, warmup, warmup_iters, warmup_ratio, warmup_by_epoch)

    def get_lr(self, base_lr: float, cur_iter: int, max_iters: int) -> float:
        return base_lr


@LR_SCHEDULERS.register_module()
class Step(LrSchedule):
    """``base_lr * gamma ** k`` with ``k`` the number of steps passed; clipped below at ``min_lr``.

    Args:
        step: an interval (int) or the iterations at which to decay (list of int).
        gamma: decay factor.
        min_lr: lower bound (None: none).
    """

    def __init__(self, step: Union[int, List[int]], gamma: float = 0.1, min_lr: Optional[float] = None,
                 by_epoch: bool = False, warmup: Optional[str] = None, warmup_iters: int = 0,
                 warmup_ratio: float = 0.1, warmup_by_epoch: bool = False):
        steps = list(step) if isinstance(step, (list, tuple)) else [step]
        if not steps or not all(isinstance(s, int) and s > 0 for s in steps):
            raise ConfigError(f"lr_config.step must be a positive int or a list of them, got {step!r}")
        self.step = list(step) if isinstance(step, (list, tuple)) else step
        self.gamma = gamma
        self.min_lr = min_lr
        super().__init__(by_epoch, warmup, warmup_iters, warmup_ratio, warmup_by_epoch)

    def get_lr(self, base_lr: float, cur_iter: int, max_iters: int) -> float:
        if isinstance(self.step, int):
            exp = cur_iter // self.step
        else:
            exp = next((i for i, s in enumerate(self.step) if cur_iter < s), len(self.step))
        lr = base_lr * self.gamma ** exp
        return lr if self.min_lr is None else max(lr, self.min_lr)


@LR_SCHEDULERS.register_module()
class Exp(LrSchedule):
    """``base_lr * gamma ** iter``."""

    def __init__(self, gamma: float, by_epoch: bool = False, warmup: Optional[str] = None,
                 warmup_iters: int = 0, warmup_ratio: float = 0.1, warmup_by_epoch: bool = False):
        self.gamma = gamma
        super().__init__(by_epoch, warmup, warmup_iters, warmup_ratio, warmup_by_epoch)

    def get_lr(self, base_lr: float, cur_iter: int, max_iters: int) -> float:
        return base_lr * self.gamma ** cur_iter


@LR_SCHEDULERS.register_module()
class Poly(LrSchedule):
    """``(base_lr - min_lr) * (1 - iter / max_iters) ** power + min_lr`` (MMSeg's default)."""

    def __init__(self, power: float = 1.0, min_lr: float = 0.0, by_epoch: bool = False,
                 warmup: Optional[str] = None, warmup_iters: int = 0, warmup_ratio: float = 0.1,
                 warmup_by_epoch: bool = False):
        self.power = power
        self.min_lr = min_lr
        super().__init__(by_epoch, warmup, warmup_iters, warmup_ratio, warmup_by_epoch)

    def get_lr(self, base_lr: float, cur_iter: int, max_iters: int) -> float:
        coeff = (1 - cur_iter / max_iters) ** self.power
        return (base_lr - self.min_lr) * coeff + self.min_lr


@LR_SCHEDULERS.register_module()
class Inv(LrSchedule):
    """``base_lr * (1 + gamma * iter) ** -power``."""

    def __init__(self, gamma: float, power: float = 1.0, by_epoch: bool = False,
                 warmup: Optional[str] = None, warmup_iters: int = 0, warmup_ratio: float = 0.1,
                 warmup_by_epoch: bool = False):
        self.gamma = gamma
        self.power = power
        super().__init__(by_epoch, warmup, warmup_iters, warmup_ratio, warmup_by_epoch)

    def get_lr(self, base_lr: float, cur_iter: int, max_iters: int) -> float:
        return base_lr * (1 + self.gamma * cur_iter) ** (-self.power)


@LR_SCHEDULERS.register_module()
class CosineAnnealing(LrSchedule):
    """Cosine from ``base_lr`` to ``min_lr`` (or ``base_lr * min_lr_ratio``) over ``max_iters``."""

    def __init__(self, min_lr: Optional[float] = None, min_lr_ratio: Optional[float] = None,
                 by_epoch: bool = False, warmup: Optional[str] = None, warmup_iters: int = 0,
                 warmup_ratio: float = 0.1, warmup_by_epoch: bool = False):
        if (min_lr is None) == (min_lr_ratio is None):
            raise ConfigError("lr_config for policy 'CosineAnnealing' needs exactly one of min_lr "
                              f"and min_lr_ratio, got min_lr={min_lr!r}, min_lr_ratio={min_lr_ratio!r}.")
        self.min_lr = min_lr
        self.min_lr_ratio = min_lr_ratio
        super().__init__(by_epoch, warmup, warmup_iters, warmup_ratio, warmup_by_epoch)

    def get_lr(self, base_lr: float, cur_iter: int, max_iters: int) -> float:
        target = base_lr * self.min_lr_ratio if self.min_lr_ratio is not None else self.min_lr
        return target + 0.5 * (base_lr - target) * (cos(pi * cur_iter / max_iters) + 1)
