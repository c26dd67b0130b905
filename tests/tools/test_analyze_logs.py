"""tools/analyze_logs.py on the json log of the session's smoke training run."""
import json
import shutil
import sys

import pytest
from PIL import Image

from after_training_helpers import error_line, load_tool, workflow  # noqa: F401 (fixture)
from train_helpers import run_tool

pytest.importorskip("matplotlib", reason="tools/analyze_logs.py draws with matplotlib "
                    "(pip install seglab[plot])")


@pytest.fixture
def json_log(workflow):
    (log,) = workflow["work_dir"].glob("*.log.json")
    return log


def _records(log):
    return [r for r in map(json.loads, log.read_text().splitlines()) if "iter" in r]


def test_two_runs_on_one_png(json_log, tmp_path):
    second = tmp_path / "run2.log.json"
    shutil.copy(json_log, second)
    out = tmp_path / "figs" / "curves.png"
    result = run_tool("analyze_logs.py", json_log, second, "--keys", "mIoU", "loss",
                      "--legend", "a_mIoU", "a_loss", "b_mIoU", "b_loss", "--title", "smoke",
                      "--out", out, cwd=tmp_path)
    assert result.stdout.count("plot curve of") == 4
    assert f"save curve to: {out}" in result.stdout
    with Image.open(out) as img:
        assert img.format == "PNG" and min(img.size) > 100
    assert sorted(p.name for p in out.parent.iterdir()) == ["curves.png"]  # no temporary file


def test_curves_hold_the_logged_values(json_log, tmp_path, monkeypatch):
    from seglab.visualization import figures

    drawn = {}

    def keep(fig, path):
        ax = fig.axes[0]
        drawn.update(path=path, title=ax.get_title(), xlabel=ax.get_xlabel(),
                     lines={line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
                            for line in ax.get_lines()})

    monkeypatch.setattr(figures, "save_figure", keep)
    tool = load_tool("analyze_logs.py")
    out = str(tmp_path / "c.png")
    assert tool.main([str(json_log), "--keys", "loss", "mIoU", "lr", "--out", out]) == 0
    records = _records(json_log)
    train = [r for r in records if r["mode"] == "train"]
    val = [r for r in records if r["mode"] == "val"]
    assert len(train) == 4 and len(val) == 1  # 4 iterations, logged every one, one evaluation
    name = str(json_log)
    assert drawn["lines"] == {
        f"{name}_loss": ([r["iter"] for r in train], [r["loss"] for r in train]),
        f"{name}_mIoU": ([val[0]["iter"]], [val[0]["mIoU"]]),
        f"{name}_lr": ([r["iter"] for r in train], [r["lr"] for r in train])}  # lr: train records
    assert drawn["path"] == out and drawn["xlabel"] == "iter" and drawn["title"] == ""


@pytest.mark.parametrize("case, message", [
    ("key", "Key 'mIoUU' is not in"),
    ("legend", "--legend has 1 names; give one per log and key"),
    ("text_log", "give the json log of a run"),
    ("missing", "does not exist"),
    ("no_matplotlib", "needs matplotlib: pip install matplotlib"),
    ("no_display", "no display (neither DISPLAY nor WAYLAND_DISPLAY is set). Use --out"),
])
def test_user_errors_are_one_line(case, message, json_log, tmp_path, capsys, monkeypatch):
    from seglab.apis.cli import run_tool as run_main

    log = str(json_log)
    argv = [log, "--keys", "mIoU", "loss", "--out", str(tmp_path / "c.png")]
    if case == "key":
        argv[2] = "mIoUU"
    elif case == "legend":
        argv += ["--legend", "only_one"]
    elif case == "text_log":
        argv[0] = log[:-len(".json")]
    elif case == "missing":
        argv[0] = str(tmp_path / "nope.log.json")
    elif case == "no_display":
        argv = argv[:4]  # no --out: a window
        monkeypatch.delenv("DISPLAY", raising=False)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    else:
        monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    assert run_main(load_tool("analyze_logs.py").main, argv) == 2
    assert message in error_line(capsys)
    assert not (tmp_path / "c.png").exists()
