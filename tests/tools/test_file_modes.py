"""Files the tools write get the mode the user's umask gives any new file (issue 9).

Atomic writes go through a temporary file that is renamed; its mode survives the rename, so a
temporary file created private (0600, as ``tempfile.mkstemp`` does) made checkpoints, the config
dump and ``results.pkl`` private whatever the umask, while the logs followed it.
"""
import importlib.util
import os

import pytest

from train_helpers import (ROOT, SMOKE, data_options, data_root, load_train_tool,  # noqa: F401
                           restore_torch_globals)

TRAIN_TOOL = load_train_tool("seglab_tools_train_modes")


def _load_test_tool():
    spec = importlib.util.spec_from_file_location("seglab_tools_test_modes",
                                                  ROOT / "tools/test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TEST_TOOL = _load_test_tool()


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600)])
def test_work_dir_and_results_follow_the_umask(data_root, tmp_path, mask, expected):
    work, evals, out = tmp_path / "work", tmp_path / "eval", tmp_path / "results.pkl"
    previous = os.umask(mask)  # process-wide: set for this test only, restored below
    try:
        assert TRAIN_TOOL.main([str(SMOKE), "--work-dir", str(work), "--seed", "0",
                                "--no-validate", "--options", *data_options(data_root),
                                "runner.max_iters=2"]) == 0
        assert TEST_TOOL.main([str(work / SMOKE.name), str(work / "latest.pth"), "--eval",
                               "mIoU", "--out", str(out), "--work-dir", str(evals)]) == 0
    finally:
        os.umask(previous)
    names = sorted(os.listdir(work))
    assert {SMOKE.name, "iter_2.pth"} <= set(names)
    assert any(n.endswith(".log") for n in names) and any(n.endswith(".log.json") for n in names)
    written = [work / n for n in names if not (work / n).is_symlink()]  # latest.pth: a link
    written += [out, *evals.iterdir()]  # results.pkl and eval_<timestamp>.json
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in written}
    assert modes == {p.name: oct(expected) for p in written}
