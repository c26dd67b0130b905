"""resolve_resume: the checkpoint a run resumes from; auto-resume skips unreadable ones."""
import logging
import os
import os.path as osp

import pytest
import torch

from seglab.engine import checkpoint as ckpt_io
from seglab.engine import save_checkpoint
from seglab.engine.latest import checkpoint_candidates, find_latest_checkpoint
from seglab.engine.resume import resolve_resume
from seglab.errors import CheckpointError

UNREADABLE = "is not a readable PyTorch checkpoint"


def write_checkpoint(path, iteration, seed=7):
    save_checkpoint(torch.nn.Conv2d(1, 1, 1), str(path), meta=dict(iter=iteration, seed=seed))
    return str(path)


def truncate(path):
    """What an interrupted copy or a full disk leaves: the first half of a real checkpoint."""
    data = open(path, "rb").read()
    os.remove(path)  # do not write through a latest.pth symlink into its target
    with open(path, "wb") as f:
        f.write(data[:len(data) // 2])
    return str(path)


@pytest.fixture
def count_loads(monkeypatch):
    """Counts the reads of each file (by real path) through the checkpoint loader."""
    counts = {}
    real_load = ckpt_io.load_checkpoint_file

    def counting(filename, map_location="cpu"):
        key = osp.realpath(filename)
        counts[key] = counts.get(key, 0) + 1
        return real_load(filename, map_location)

    monkeypatch.setattr("seglab.engine.resume.load_checkpoint_file", counting)
    return counts


def test_candidates_are_latest_then_iterations_newest_first(tmp_path):
    for n in (2, 10, 9):
        write_checkpoint(tmp_path / f"iter_{n}.pth", n)
    write_checkpoint(tmp_path / "best_mIoU_iter_9.pth", 9)
    os.symlink("iter_10.pth", tmp_path / "latest.pth")
    names = [osp.basename(p) for p in checkpoint_candidates(str(tmp_path))]
    assert names == ["latest.pth", "iter_10.pth", "iter_9.pth", "iter_2.pth"]
    assert checkpoint_candidates(str(tmp_path / "missing")) == [] == checkpoint_candidates(None)
    # A dangling latest.pth is a candidate (so the skip is reported) but not "the latest".
    os.remove(tmp_path / "iter_10.pth")
    assert osp.basename(checkpoint_candidates(str(tmp_path))[0]) == "latest.pth"
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / "iter_9.pth")


def test_a_checkpoint_written_after_latest_was_updated_comes_first(tmp_path):
    """A run killed between writing iter_N.pth and pointing latest.pth at it resumes from iter_N."""
    for n in (2, 4):
        write_checkpoint(tmp_path / f"iter_{n}.pth", n)
    os.symlink("iter_2.pth", tmp_path / "latest.pth")
    names = [osp.basename(p) for p in checkpoint_candidates(str(tmp_path))]
    assert names == ["iter_4.pth", "latest.pth", "iter_2.pth"]
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / "iter_4.pth")
    # latest.pth as a copy (no symlinks): the file's age decides.
    os.remove(tmp_path / "latest.pth")
    write_checkpoint(tmp_path / "latest.pth", 2)
    os.utime(tmp_path / "iter_4.pth", ns=(os.stat(tmp_path / "latest.pth").st_mtime_ns + 10**9,) * 2)
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / "iter_4.pth")
    write_checkpoint(tmp_path / "latest.pth", 4)
    os.utime(tmp_path / "latest.pth", ns=(os.stat(tmp_path / "iter_4.pth").st_mtime_ns + 10**9,) * 2)
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / "latest.pth")


def test_corrupt_latest_copy_is_skipped_with_the_reason(tmp_path, test_logger, count_loads):
    good = write_checkpoint(tmp_path / "iter_5.pth", 5)
    latest = truncate(write_checkpoint(tmp_path / "latest.pth", 6))  # a copy, not a symlink
    source = resolve_resume(None, True, str(tmp_path), logger=test_logger)
    assert source.path == good and source.checkpoint["meta"]["iter"] == 5 and source.seed == 7
    assert [path for path, _ in source.skipped] == [latest]
    assert UNREADABLE in source.skipped[0][1]
    warnings = test_logger.captured.text(level=logging.WARNING)
    assert f"auto-resume: skipped {latest}: " in warnings and UNREADABLE in warnings
    assert f"auto-resume: resuming from {good} (skipped: {latest})" in test_logger.captured.text()
    assert count_loads == {osp.realpath(latest): 1, osp.realpath(good): 1}
    assert source.take()["meta"]["iter"] == 5 and source.checkpoint is None


def test_latest_symlink_to_a_corrupt_file_is_tried_once(tmp_path, test_logger, count_loads):
    good = write_checkpoint(tmp_path / "iter_5.pth", 5)
    bad = truncate(write_checkpoint(tmp_path / "iter_6.pth", 6))
    os.symlink("iter_6.pth", tmp_path / "latest.pth")
    source = resolve_resume(None, True, str(tmp_path), logger=test_logger)
    assert source.path == good
    bad, good = osp.realpath(bad), osp.realpath(good)
    assert count_loads == {bad: 1, good: 1}  # iter_6.pth is latest.pth's target: not read twice
    assert f"{tmp_path / 'latest.pth'} (-> {bad})" in test_logger.captured.text(logging.WARNING)


def test_a_checkpoint_without_iteration_is_skipped(tmp_path, test_logger):
    good = write_checkpoint(tmp_path / "iter_3.pth", 3)
    torch.save(torch.nn.Conv2d(1, 1, 1).state_dict(), tmp_path / "iter_4.pth")  # weights only
    source = resolve_resume(None, True, str(tmp_path), logger=test_logger)
    assert source.path == good and "has no meta['iter']" in source.skipped[0][1]


def test_no_readable_checkpoint_starts_from_scratch_naming_the_skipped(tmp_path, test_logger):
    first = truncate(write_checkpoint(tmp_path / "iter_2.pth", 2))
    latest = truncate(write_checkpoint(tmp_path / "latest.pth", 4))
    source = resolve_resume(None, True, str(tmp_path), logger=test_logger)
    assert source.path is None and source.checkpoint is None and source.seed is None
    assert [p for p, _ in source.skipped] == [latest, first]
    assert (f"auto-resume: no readable checkpoint in {tmp_path} (skipped: {latest}, {first}); "
            f"training starts from scratch.") in test_logger.captured.text(logging.WARNING)


def test_empty_work_dir_and_no_resume(tmp_path, test_logger):
    source = resolve_resume(None, True, str(tmp_path), logger=test_logger)
    assert source.path is None and source.skipped == []
    assert f"auto-resume: no checkpoint in {tmp_path}; training starts from scratch." in (
        test_logger.captured.text())
    write_checkpoint(tmp_path / "iter_1.pth", 1)
    assert resolve_resume(None, False, str(tmp_path), logger=test_logger).path is None


def test_explicit_resume_from_must_load(tmp_path, test_logger):
    write_checkpoint(tmp_path / "iter_5.pth", 5)
    bad = truncate(write_checkpoint(tmp_path / "bad.pth", 6))
    # The user named the file: no fallback to the readable one beside it, even with auto-resume.
    with pytest.raises(CheckpointError, match=UNREADABLE):
        resolve_resume(bad, True, str(tmp_path), logger=test_logger)
    torch.save(torch.nn.Conv2d(1, 1, 1).state_dict(), tmp_path / "weights.pth")
    with pytest.raises(CheckpointError, match=r"no meta\['iter'\].*--load-from"):
        resolve_resume(str(tmp_path / "weights.pth"), False, str(tmp_path), logger=test_logger)
    source = resolve_resume(str(tmp_path / "iter_5.pth"), False, None, logger=test_logger)
    assert source.path == str(tmp_path / "iter_5.pth") and source.checkpoint["meta"]["iter"] == 5
