"""Whether a result window can be shown, and a clear error when it cannot.

``--show`` fails in two common ways that OpenCV reports badly (a crash deep inside ``imshow``):
the installed OpenCV is ``opencv-python-headless`` (built without GUI), or the process has no
display (a server, container or SSH session without X forwarding).
"""
from __future__ import annotations

import functools
import os
import sys
from typing import List

import numpy as np

from seglab.errors import SeglabError


class DisplayUnavailableError(SeglabError, RuntimeError):
    """``show=True`` was asked for but no window can be opened here."""


@functools.lru_cache(maxsize=1)
def opencv_has_gui() -> bool:
    """False when OpenCV was built without a GUI backend (``GUI: NONE``, the headless wheels)."""
    import cv2

    for line in cv2.getBuildInformation().splitlines():
        key, _, value = line.strip().partition(":")
        if key == "GUI":
            return value.strip().upper() not in ("NONE", "NO", "")
    return True  # unknown build layout: let imshow try


def display_problems() -> List[str]:
    """Reasons why no window can be shown here (empty when showing should work)."""
    problems = []
    if not opencv_has_gui():
        problems.append("the installed OpenCV has no GUI support (GUI: NONE; "
                        "opencv-python-headless cannot open windows)")
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        problems.append("there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set: a "
                        "server, container or SSH session without X forwarding)")
    return problems


def require_display() -> None:
    """Raise :class:`DisplayUnavailableError` unless a result window can be shown.

    Call it before a long test run that uses ``--show``, so the run fails at once.
    """
    problems = display_problems()
    if problems:
        raise DisplayUnavailableError(
            "Cannot show results on screen (--show): " + "; and ".join(problems) + ". Use "
            "--show-dir DIR to write the painted results as image files instead.")


def seconds_to_ms(wait_time: float) -> int:
    """``--wait-time`` (seconds, as MMSeg 1.x) -> :func:`imshow`'s milliseconds; a positive time
    stays positive (0 would wait for a key)."""
    if wait_time < 0:
        raise ValueError(f"--wait-time {wait_time}: must be >= 0 seconds (0: until a key).")
    return int(np.ceil(wait_time * 1000))


def imshow(img: np.ndarray, win_name: str = "", wait_time: int = 0) -> None:
    """Show a BGR image in a window (``mmcv.imshow``); ``wait_time`` in ms, 0 = until a key."""
    require_display()
    import cv2

    cv2.imshow(win_name, img)
    if wait_time == 0:  # 0.x: block until a key, but survive the window being closed
        while True:
            if cv2.waitKey(1) != -1 or cv2.getWindowProperty(win_name,
                                                             cv2.WND_PROP_VISIBLE) < 1:
                break
    else:
        cv2.waitKey(wait_time)
