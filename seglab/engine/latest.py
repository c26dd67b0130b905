"""``latest.pth`` in the work dir, and finding the checkpoint to resume from."""
from __future__ import annotations

import os
import os.path as osp
import re
import shutil
from typing import List, Optional, Tuple

from ..utils import atomic_open

LATEST = "latest.pth"


def update_latest(out_dir: str, filename: str) -> str:
    """Point ``<out_dir>/latest.pth`` at ``filename`` (a name inside ``out_dir``), atomically.

    A relative symlink is swapped in with ``os.replace``; where symlinks are not available, the
    file is copied through a temporary file instead. Either way a reader never sees a partial file.

    Returns:
        The path of ``latest.pth``.
    """
    dst = osp.join(out_dir, LATEST)
    tmp = osp.join(out_dir, f".{LATEST}.{os.getpid()}.tmp")
    try:
        if osp.lexists(tmp):
            os.remove(tmp)
        os.symlink(filename, tmp)
        os.replace(tmp, dst)
    except OSError:
        if osp.lexists(tmp):
            os.remove(tmp)
        with open(osp.join(out_dir, filename), "rb") as src, atomic_open(dst, "wb") as out:
            shutil.copyfileobj(src, out)
    return dst


def checkpoint_candidates(work_dir: Optional[str]) -> List[str]:
    """The checkpoints an auto-resume may continue from, newest first.

    Every ``iter_N.pth`` by N descending, with ``latest.pth`` (a symlink or a copy; listed even
    when its target is gone, so the caller can say why it was skipped) placed before the first one
    it is not older than. ``latest.pth`` is updated just after ``iter_N.pth`` is written, so a run
    killed between the two leaves an ``iter_N.pth`` newer than ``latest.pth``: that one comes
    first. Newer means a larger N than the symlink's target, or for a copy a later mtime.
    ``best_*.pth`` files are not listed: they keep the best state, not the newest (MMSeg's
    auto-resume skips them too).
    """
    if not work_dir or not osp.isdir(work_dir):
        return []
    numbered = []
    for name in os.listdir(work_dir):
        match = re.fullmatch(r"iter_(\d+)\.pth", name)
        if match:
            numbered.append((int(match.group(1)), osp.join(work_dir, name)))
    ordered = [path for _, path in sorted(numbered, reverse=True)]
    latest = osp.join(work_dir, LATEST)
    if not osp.lexists(latest):
        return ordered
    newer = _newer_than_latest(latest, sorted(numbered, reverse=True))
    return ordered[:newer] + [latest] + ordered[newer:]


def _newer_than_latest(latest: str, numbered: List[Tuple[int, str]]) -> int:
    """How many of ``numbered`` (N descending) were written after ``latest.pth`` was updated."""
    if osp.islink(latest):
        match = re.fullmatch(r"iter_(\d+)\.pth", osp.basename(os.readlink(latest)))
        if not match:  # a hand-made link to some other file: trust it
            return 0
        target = int(match.group(1))
        return sum(1 for n, _ in numbered if n > target)
    stamp = os.stat(latest).st_mtime_ns
    count = 0
    for _, path in numbered:
        if os.stat(path).st_mtime_ns <= stamp:
            break
        count += 1
    return count


def find_latest_checkpoint(work_dir: str) -> Optional[str]:
    """The newest readable candidate of :func:`checkpoint_candidates` (existing file), else None."""
    for path in checkpoint_candidates(work_dir):
        if osp.exists(path):  # a dangling latest.pth symlink falls through to iter_N.pth
            return path
    return None
