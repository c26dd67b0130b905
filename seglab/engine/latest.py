"""``latest.pth`` in the work dir, and finding the checkpoint to resume from."""
from __future__ import annotations

import os
import os.path as osp
import re
import shutil
from typing import Optional

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


def find_latest_checkpoint(work_dir: str) -> Optional[str]:
    """``latest.pth`` if present, else the ``iter_N.pth`` with the largest N, else None."""
    latest = osp.join(work_dir, LATEST)
    if osp.exists(latest):
        return latest
    best, best_iter = None, -1
    for name in os.listdir(work_dir) if osp.isdir(work_dir) else []:
        match = re.fullmatch(r"iter_(\d+)\.pth", name)
        if match and int(match.group(1)) > best_iter:
            best, best_iter = osp.join(work_dir, name), int(match.group(1))
    return best
