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
