"""File writes that never leave a half-written file behind."""
from __future__ import annotations

import contextlib
import os
import secrets
from typing import IO, Iterator, Tuple, Union

PathLike = Union[str, os.PathLike]

# Flags of the temporary file: the create must be exclusive (a name another process just took is
# never reused), must not follow a symlink planted under that name, and the fd must not leak
# into child processes; O_BINARY matters on Windows only.
_TMP_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
              | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))


def _create_temp_beside(directory: str, name: str) -> Tuple[int, str]:
    """Create an empty, uniquely named temporary file in ``directory``; return (fd, path).

    ``tempfile.mkstemp`` creates its files with mode 0600, and that mode would survive the
    rename, so checkpoints and config dumps ended up private whatever the user's umask. Here the
    file is created with mode 0666 and the kernel applies the umask (or the folder's default
    ACL) exactly as for any new file. Reading the umask to chmod afterwards would need
    ``os.umask(0)`` followed by a restore, which changes a process-global setting and races with
    files other threads create meanwhile; letting ``open(2)`` apply it has no such window.
    """
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, _TMP_FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a unique temporary file beside '{name}' in "
                          f"'{directory}' (100 names taken)")


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success fsync and rename it over ``path``.

    If the block raises (disk full, interrupted write), the temporary file is removed and any
    existing ``path`` is left untouched. The written file gets the mode any new file gets
    (0666 less the umask, e.g. 0644 under umask 022), also when it replaces an existing one.

    Args:
        path: the destination; its folder is created.
        mode: ``'w'`` (text, the platform's default encoding) or ``'wb'``.

    Yields:
        The open temporary file.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open supports modes 'w' and 'wb', got {mode!r}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # Same folder as ``path``: os.replace is only atomic within one file system.
    fd, tmp = _create_temp_beside(directory, os.path.basename(path))
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def atomic_write_text(path: PathLike, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


def atomic_torch_save(obj, path: PathLike) -> None:
    """``torch.save`` through :func:`atomic_open`."""
    import torch

    with atomic_open(path, "wb") as f:
        torch.save(obj, f)
