import errno
import os

import pytest
import torch

from seglab.utils import atomic_open, atomic_torch_save, atomic_write_text, get_dist_info


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    atomic_write_text(path, "first")
    atomic_write_text(path, "second")
    assert path.read_text() == "second"
    assert sorted(os.listdir(path.parent)) == ["a.txt"]  # no temp file left


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "ckpt.pth"
    atomic_torch_save({"w": torch.ones(2)}, path)
    with pytest.raises(OSError):
        with atomic_open(path, "wb") as f:
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(2))
    assert sorted(os.listdir(tmp_path)) == ["ckpt.pth"]


def test_atomic_open_rejects_append_mode(tmp_path):
    with pytest.raises(ValueError, match="supports modes"):
        with atomic_open(tmp_path / "x", "a"):
            pass


def test_dist_info_without_process_group():
    assert get_dist_info() == (0, 1)


@pytest.fixture
def umask():
    """Set the process umask for one test; the previous one is restored after it."""
    previous = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(previous)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600)])
def test_atomic_writes_get_the_mode_of_any_new_file(tmp_path, umask, mask, expected):
    umask(mask)
    plain = tmp_path / "plain.txt"
    plain.write_text("reference")  # what the umask gives a file created the ordinary way
    assert plain.stat().st_mode & 0o777 == expected
    atomic_write_text(tmp_path / "cfg.py", "a = 1\n")
    atomic_torch_save({"w": torch.ones(1)}, tmp_path / "ckpt.pth")
    for name in ("cfg.py", "ckpt.pth"):
        assert (tmp_path / name).stat().st_mode & 0o777 == expected, name
    # Replacing a file gives the new file's mode, as writing a new file would.
    old = tmp_path / "old.pth"
    old.write_bytes(b"old")
    old.chmod(0o640)
    atomic_torch_save({"w": torch.ones(1)}, old)
    assert old.stat().st_mode & 0o777 == expected
    assert sorted(os.listdir(tmp_path)) == ["cfg.py", "ckpt.pth", "old.pth", "plain.txt"]
