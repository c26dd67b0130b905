"""``ProgressBarHook``: a tqdm bar over the training iterations, with the time left, on a terminal.

The bar is for a person watching an interactive terminal. Redrawn with carriage returns it would
be noise in a log file or a CI console, so :func:`add_progress_bar` (what the train entry calls)
registers it only when the stream is a terminal, and only on rank 0; the text and json logs are
written as without it. While the bar is shown, the logger's console lines are printed above it
(through ``tqdm.write``) instead of through it.
"""
from __future__ import annotations

import logging
import sys
from typing import IO, TYPE_CHECKING, List, Optional, Tuple

from ...registry import HOOKS
from ...utils import get_dist_info
from .hook import Hook

if TYPE_CHECKING:  # pragma: no cover
    from ..runner import IterBasedRunner

# tqdm's default layout with the time left named, as the text log's "eta:" is.
_BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}, eta {remaining}, {rate_fmt}{postfix}]"


def is_interactive(stream: Optional[IO]) -> bool:
    """Whether ``stream`` is an interactive terminal (False for files, pipes, closed streams)."""
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


class _AboveBar(logging.Filter):
    """On a console handler: writes its records with ``tqdm.write`` so they do not cut the bar."""

    def __init__(self, handler: logging.StreamHandler):
        super().__init__()
        self.handler = handler

    def filter(self, record: logging.LogRecord) -> bool:
        from tqdm import tqdm

        try:
            # tqdm.write clears the bars on that stream, prints the line, then redraws them.
            tqdm.write(self.handler.format(record), file=self.handler.stream)
        except Exception:  # never lose a log line for the bar's sake: let the handler print it
            return True
        return False  # written: the handler must not print it a second time


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """A tqdm bar over ``max_iters`` iterations: done, elapsed, eta, rate and the last loss.

    Use :func:`add_progress_bar` to get one only where it belongs (a terminal, rank 0). A resumed
    run starts the bar at the resumed iteration, and the eta counts this run's speed only.

    Args:
        stream: where the bar is drawn (default: ``sys.stderr`` at the start of the run).
    """

    priority = "LOWEST"  # after the checkpoint, logger and eval hooks: the iteration is done

    def __init__(self, stream: Optional[IO] = None):
        self.stream = stream
        self._bar = None
        self._filters: List[Tuple[logging.Handler, _AboveBar]] = []

    def before_run(self, runner: "IterBasedRunner") -> None:
        if get_dist_info()[0] != 0:
            return
        from tqdm import tqdm

        stream = self.stream if self.stream is not None else sys.stderr
        self._bar = tqdm(total=runner.max_iters, initial=runner.iter, desc="train", unit="it",
                         file=stream, dynamic_ncols=True, bar_format=_BAR_FORMAT)
        for handler in runner.logger.handlers:
            if _is_console(handler):
                above = _AboveBar(handler)
                handler.addFilter(above)
                self._filters.append((handler, above))

    def after_train_iter(self, runner: "IterBasedRunner") -> None:
        if self._bar is None:
            return
        loss = (runner.outputs or {}).get("log_vars", {}).get("loss")
        if isinstance(loss, float):
            self._bar.set_postfix_str(f"loss: {loss:.4f}", refresh=False)
        self._bar.update(1)

    def after_run(self, runner: "IterBasedRunner") -> None:
        self.close()

    def close(self) -> None:
        """Close the bar and give the console handlers back (safe to call twice)."""
        for handler, above in self._filters:
            handler.removeFilter(above)
        self._filters = []
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _is_console(handler: logging.Handler) -> bool:
    # FileHandler is a StreamHandler too; the log file keeps its plain lines.
    return (isinstance(handler, logging.StreamHandler)
            and not isinstance(handler, logging.FileHandler)
            and getattr(handler, "stream", None) in (sys.stderr, sys.stdout))


def add_progress_bar(runner: "IterBasedRunner",
                     stream: Optional[IO] = None) -> Optional[ProgressBarHook]:
    """Register a :class:`ProgressBarHook` on rank 0 when ``stream`` is an interactive terminal.

    Args:
        runner: the runner about to train.
        stream: where the bar would go (default: ``sys.stderr``, where the console log goes).

    Returns:
        The hook (close it if training stops with an error), or None when no bar is shown.
    """
    stream = stream if stream is not None else sys.stderr
    if get_dist_info()[0] != 0 or not is_interactive(stream):
        return None
    hook = ProgressBarHook(stream)
    runner.register_hook(hook)
    return hook
