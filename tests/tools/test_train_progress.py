"""tools/train.py draws a tqdm bar with the time left on a terminal, and only there."""
import io
import os

from train_helpers import (SMOKE, data_options, data_root, load_train_tool,  # noqa: F401
                           restore_torch_globals)

TRAIN_TOOL = load_train_tool("seglab_tools_train_progress")


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _train(work_dir, root):
    return TRAIN_TOOL.main([str(SMOKE), "--work-dir", str(work_dir), "--seed", "0",
                            "--no-validate", "--options", *data_options(root),
                            "runner.max_iters=2"])


def _text_log(work_dir):
    (name,) = [n for n in os.listdir(work_dir) if n.endswith(".log")]
    return (work_dir / name).read_text()


def test_bar_on_a_terminal_plain_lines_in_the_log_file(data_root, tmp_path, monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert _train(tmp_path / "work", data_root) == 0
    screen = terminal.getvalue()
    assert "train: 100%" in screen and "2/2 [" in screen and ", eta " in screen
    assert "Iter [2/2]" in screen  # the console lines still show, above the bar
    log = _text_log(tmp_path / "work")
    assert "Iter [2/2]" in log and "%|" not in log and "\r" not in log


def test_no_bar_without_a_terminal(data_root, tmp_path, capsys):
    assert _train(tmp_path / "work", data_root) == 0
    err = capsys.readouterr().err
    assert "Iter [2/2]" in err  # the plain console lines, as before
    assert "%|" not in err and "\r" not in err and ", eta " not in err
