"""Progress of a test run: a tqdm bar on a terminal, plain periodic log lines otherwise.

A bar redrawn with carriage returns is unreadable in a log file or a CI console, so when
``sys.stderr`` is not a terminal the reporter writes one line every ``interval`` images
(and one at the end) with the time left and the throughput::

    [test] 150/500 images, eta: 0:01:23, 1.80 images/s
"""
from __future__ import annotations

import datetime
import logging
import sys
import time
from typing import Optional, Union

from ..utils import is_main_process

LoggerLike = Union[logging.Logger, str, None]


def _emit(msg: str, logger: LoggerLike) -> None:
    if logger == "silent":
        return
    if isinstance(logger, str):
        logger = logging.getLogger(logger)
    if isinstance(logger, logging.Logger):
        logger.info(msg)
    else:
        print(msg, file=sys.stderr, flush=True)


class Progress:
    """Counts processed images and reports the rate.

    Args:
        total: number of images expected (0 or None when unknown).
        logger: where the periodic lines go (a Logger, a logger name, 'silent', or None for
            stderr); the tqdm bar always draws on stderr.
        interval: images between two log lines when not on a terminal; default: about 10 lines
            per run, at least every 50 images.
        use_tqdm: force the bar on or off; default: on when stderr is a terminal.
        desc: label of the bar / prefix of the lines.
        enabled: report at all (default: only on the main process).
    """

    def __init__(self, total: Optional[int], logger: LoggerLike = None,
                 interval: Optional[int] = None, use_tqdm: Optional[bool] = None,
                 desc: str = "test", enabled: Optional[bool] = None):
        self.total = int(total or 0)
        self.logger = logger
        self.desc = desc
        self.count = 0
        self.enabled = is_main_process() if enabled is None else bool(enabled)
        if interval is None:
            interval = max(1, min(50, self.total // 10)) if self.total else 50
        self.interval = max(1, int(interval))
        self._next_line = self.interval
        self._start = time.perf_counter()
        self._bar = None
        if use_tqdm is None:
            use_tqdm = _stderr_is_tty()
        if self.enabled and use_tqdm and logger != "silent":
            from tqdm import tqdm

            self._bar = tqdm(total=self.total or None, desc=desc, unit="img", dynamic_ncols=True,
                             file=sys.stderr)

    @property
    def rate(self) -> float:
        """Images per second since the start."""
        elapsed = time.perf_counter() - self._start
        return self.count / elapsed if elapsed > 0 else 0.0

    def update(self, num: int = 1) -> None:
        """Record ``num`` more processed images."""
        self.count += num
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(num)
            return
        if self.count >= self._next_line:
            self._line()
            while self._next_line <= self.count:
                self._next_line += self.interval

    @property
    def eta(self) -> Optional[datetime.timedelta]:
        """Time left at the mean time per image so far (None while the total or rate is unknown)."""
        rate = self.rate
        if not self.total or rate <= 0:
            return None
        return datetime.timedelta(seconds=round(max(self.total - self.count, 0) / rate))

    def _line(self) -> None:
        total = f"/{self.total}" if self.total else ""
        eta = self.eta
        eta_text = f", eta: {eta}" if eta is not None else ""
        _emit(f"[{self.desc}] {self.count}{total} images{eta_text}, {self.rate:.2f} images/s",
              self.logger)

    def close(self) -> None:
        """End the bar, or write the final line if the last one did not already say it."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.count and self.count != self._next_line - self.interval:
            self._line()
        self.enabled = False

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False
