"""The hook base class: a few named points of the training loop, called in priority order."""
from __future__ import annotations

from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:  # pragma: no cover
    from ..runner import IterBasedRunner

# mmcv's priority names; lower values run first.
PRIORITIES = {"HIGHEST": 0, "VERY_HIGH": 10, "HIGH": 30, "ABOVE_NORMAL": 40, "NORMAL": 50,
              "BELOW_NORMAL": 60, "LOW": 70, "VERY_LOW": 90, "LOWEST": 100}


def get_priority(priority: Union[int, str]) -> int:
    """An int priority from a number in [0, 100] or one of :data:`PRIORITIES`' names."""
    if isinstance(priority, int):
        if not 0 <= priority <= 100:
            raise ValueError(f"hook priority must be in [0, 100], got {priority}")
        return priority
    if isinstance(priority, str) and priority.upper() in PRIORITIES:
        return PRIORITIES[priority.upper()]
    raise ValueError(f"hook priority {priority!r} is not an int in [0, 100] or one of "
                     f"{', '.join(PRIORITIES)}")


class Hook:
    """Override any of the methods; each receives the runner.

    Attributes:
        priority: default priority when the hook is registered without one.
    """

    priority: Union[int, str] = "NORMAL"

    def before_run(self, runner: "IterBasedRunner") -> None:
        pass

    def before_train_iter(self, runner: "IterBasedRunner") -> None:
        pass

    def after_train_iter(self, runner: "IterBasedRunner") -> None:
        pass

    def after_run(self, runner: "IterBasedRunner") -> None:
        pass

    @staticmethod
    def every_n_iters(runner: "IterBasedRunner", n: int) -> bool:
        """True after every ``n``-th iteration (``runner.iter`` is still the 0-based index)."""
        return n > 0 and (runner.iter + 1) % n == 0

    @staticmethod
    def is_last_iter(runner: "IterBasedRunner") -> bool:
        return runner.iter + 1 == runner.max_iters
