"""Averages of the logged values over the current logging window."""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Mapping


class LogBuffer:
    """Accumulates ``name -> value`` with sample counts; :meth:`average` gives the window means.

    Values are weighted by their count (``num_samples`` for losses, 1 for timings), as mmcv's
    ``LogBuffer`` does, and the window restarts after each log.
    """

    def __init__(self) -> None:
        self._sums: Dict[str, float] = OrderedDict()
        self._counts: Dict[str, float] = OrderedDict()
        self.output: Dict[str, float] = OrderedDict()
        self.ready = False

    def update(self, values: Mapping[str, float], count: int = 1) -> None:
        for name, value in values.items():
            self._sums[name] = self._sums.get(name, 0.0) + float(value) * count
            self._counts[name] = self._counts.get(name, 0.0) + count

    def average(self) -> Dict[str, float]:
        """Set :attr:`output` to the means since the last :meth:`clear` and mark it ready."""
        self.output = OrderedDict((k, self._sums[k] / self._counts[k]) for k in self._sums)
        self.ready = True
        return self.output

    def clear(self) -> None:
        self._sums.clear()
        self._counts.clear()
        self.output = OrderedDict()
        self.ready = False

    def __len__(self) -> int:
        return len(self._sums)
