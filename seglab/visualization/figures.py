"""matplotlib for the plotting tools (tools/analyze_logs.py, tools/confusion_matrix.py).

matplotlib is an optional extra (``pip install seglab[plot]``): it is imported only here, when a
tool draws, and its absence is one error line naming the install command.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Optional

from ..errors import ConfigError


def require_figure_window(instead: str) -> None:
    """Fail at once, before any work, when a matplotlib window cannot open (no display).

    Args:
        instead: the option that writes a file instead, named in the message (``'--out FILE'``).
    """
    import sys

    from .display import DisplayUnavailableError

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        raise DisplayUnavailableError(
            "Cannot show the figure on screen: there is no display (neither DISPLAY nor "
            f"WAYLAND_DISPLAY is set). Use {instead} to write it to a file instead.")


def import_pyplot(tool: str, backend: Optional[str] = None, show: bool = False):
    """``matplotlib.pyplot`` with ``backend``, or the file-only Agg backend when nothing is shown.

    Args:
        tool: the command-line tool, named in the message when matplotlib is missing.
        backend: a matplotlib backend the user chose (e.g. ``--backend TkAgg``).
        show: a window will be opened (keep matplotlib's default backend).
    """
    try:
        import matplotlib
    except ImportError:
        raise ConfigError(f"{tool} needs matplotlib: pip install matplotlib (or pip install "
                          "seglab[plot]).") from None
    if backend is not None:
        try:
            matplotlib.use(backend)
        except (ValueError, ImportError) as exc:
            raise ConfigError(f"--backend {backend!r}: {exc}") from None
    elif not show:
        matplotlib.use("Agg")  # writing a file needs no display
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str, **kwargs) -> None:
    """``fig.savefig`` through a temporary file: an interrupted save leaves no partial image.

    The format follows the extension (``.png`` when there is none).
    """
    from ..utils import atomic_open

    fmt = osp.splitext(path)[1][1:].lower() or "png"
    if osp.dirname(path):
        os.makedirs(osp.dirname(path), exist_ok=True)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format=fmt, **kwargs)
