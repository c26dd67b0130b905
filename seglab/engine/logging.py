"""The ``seglab`` logger: console on every rank's errors, console and text log file on rank 0."""
from __future__ import annotations

import logging
import os
import sys
from typing import Optional

from ..utils import get_dist_info

LOGGER_NAME = "seglab"
_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"


class _ConsoleHandler(logging.StreamHandler):
    """Writes to the *current* ``sys.stderr`` (which tools and test runners may replace)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; always follow sys.stderr
        pass


def get_root_logger(log_file: Optional[str] = None, log_level: int = logging.INFO) -> logging.Logger:
    """The ``seglab`` logger, set up once; later calls may add a log file.

    Modules that log with ``logging.getLogger(__name__)`` under ``seglab.*`` reach the same handlers.

    Args:
        log_file: text log to append to (``<work_dir>/<timestamp>.log``); only rank 0 writes it.
        log_level: level on rank 0; other ranks only report errors, so that a multi-process run does
            not print every line N times.

    Returns:
        The logger.
    """
    if isinstance(log_level, str):
        log_level = logging.getLevelName(log_level.upper())
    logger = logging.getLogger(LOGGER_NAME)
    # Own handlers, not the root logger's: a user's logging.basicConfig must not double every line.
    logger.propagate = False
    rank, _ = get_dist_info()
    formatter = logging.Formatter(_FORMAT)
    if not any(isinstance(h, _ConsoleHandler) for h in logger.handlers):
        console = _ConsoleHandler()
        console.setFormatter(formatter)
        logger.addHandler(console)
    if log_file is not None and rank == 0:
        path = os.path.abspath(log_file)
        if not any(getattr(h, "baseFilename", None) == path for h in logger.handlers):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            file_handler = logging.FileHandler(path, mode="a", encoding="utf-8")
            file_handler.setFormatter(formatter)
            logger.addHandler(file_handler)
    level = log_level if rank == 0 else logging.ERROR
    logger.setLevel(level)
    for handler in logger.handlers:
        handler.setLevel(level)
    return logger


def close_file_handlers(logger: logging.Logger) -> None:
    """Flush and detach the file handlers (end of a run; lets tests reuse the logger)."""
    for handler in list(logger.handlers):
        if isinstance(handler, logging.FileHandler):
            handler.close()
            logger.removeHandler(handler)
