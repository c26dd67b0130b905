"""ProgressBarHook: a tqdm bar with the time left on a terminal only; plain log lines elsewhere."""
import io
import logging

import torch

from seglab.engine import IterBasedRunner
from seglab.engine.hooks import ProgressBarHook, add_progress_bar


class FakeTerminal(io.StringIO):
    """A stream that says it is an interactive terminal."""

    def isatty(self) -> bool:
        return True


def _runner(toys, logger, tmp_path, max_iters=4):
    model = toys["TinySegmentor"]()
    runner = IterBasedRunner(model, torch.optim.SGD(model.parameters(), lr=0.01),
                             work_dir=str(tmp_path), logger=logger, max_iters=max_iters,
                             batch_processor=toys["to_device"])
    runner.register_training_hooks(None, None, None,
                                   dict(interval=2, hooks=[dict(type="TextLoggerHook")]))
    return runner


def test_bar_with_eta_on_a_terminal_and_log_lines_above_it(tmp_path, toys, test_logger,
                                                          monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stderr", terminal)  # a console handler is one on sys.stderr/stdout
    console = logging.StreamHandler(terminal)
    test_logger.addHandler(console)
    runner = _runner(toys, test_logger, tmp_path)
    hook = add_progress_bar(runner, terminal)
    assert isinstance(hook, ProgressBarHook) and hook in runner.hooks
    runner.run([toys["make_loader"]()])
    screen = terminal.getvalue()
    assert "train: 100%" in screen and "4/4 [" in screen and ", eta " in screen
    assert "loss: " in screen
    # Log lines reach the terminal whole, each on its own line, not glued to a bar frame.
    lines = screen.replace("\r", "\n").splitlines()
    assert any(line.startswith("Iter [2/4]") for line in lines), screen
    assert not console.filters, "the console handler is given back after the run"
    assert "Iter [4/4]" in test_logger.captured.text()  # other handlers: plain lines as before


def test_no_bar_when_the_stream_is_not_a_terminal(tmp_path, toys, test_logger):
    stream = io.StringIO()
    runner = _runner(toys, test_logger, tmp_path)
    assert add_progress_bar(runner, stream) is None
    assert not any(isinstance(h, ProgressBarHook) for h in runner.hooks)
    runner.run([toys["make_loader"]()])
    assert stream.getvalue() == ""
    assert "Iter [4/4]" in test_logger.captured.text()


def test_close_after_an_error_gives_the_console_back(tmp_path, toys, test_logger, monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stderr", terminal)
    console = logging.StreamHandler(terminal)
    test_logger.addHandler(console)
    runner = _runner(toys, test_logger, tmp_path)
    hook = add_progress_bar(runner)  # default stream: sys.stderr
    hook.before_run(runner)
    assert console.filters
    hook.close()
    hook.close()
    assert not console.filters and hook._bar is None
