"""benchmarks/fast_paths.py on a tiny config: interleaved variants, ratios, same labels."""
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "apis"))

from apis_helpers import config_text  # noqa: E402


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("seglab_benchmarks_fast_paths",
                                                  ROOT / "benchmarks/fast_paths.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table_of_a_tiny_case(bench, tmp_path, monkeypatch, capsys):
    config = tmp_path / "tiny.py"
    config.write_text(config_text(str(tmp_path)))
    monkeypatch.setattr(bench, "CASES", {"tiny": (str(config), (48, 64))})
    rows = bench.measure("tiny", repeat=2, warmup=0)
    assert list(rows) == ["plain", "folded", "folded+channels_last"]
    assert all(r["equal_pixels"] == 1.0 and r["max_prob_diff"] <= 1e-5 for r in rows.values())
    assert rows["plain"]["max_prob_diff"] == 0.0
    assert bench.build("tiny", "folded").fused_conv_bn > 0
    assert bench.main(["--case", "tiny", "--repeat", "1", "--warmup", "0", "--no-rss"]) == 0
    out = capsys.readouterr().out
    assert "| plain |" in out and "| 1.00x |" in out and "CPU:" in out
    assert "tool defaults: fuse_conv_bn, channels_last" in out  # the tiny ResNet FCN


def test_case_and_config_add_up(bench, tmp_path, monkeypatch, capsys):
    """--case NAME --config PATH measures both (the config used to replace the case)."""
    config = tmp_path / "tiny.py"
    config.write_text(config_text(str(tmp_path)))
    other = tmp_path / "other_tiny.py"
    other.write_text(config_text(str(tmp_path)))
    monkeypatch.setattr(bench, "CASES", {"tiny": (str(config), (48, 64))})
    assert bench.main(["--case", "tiny", "--config", str(other), "--repeat", "1", "--warmup", "0",
                       "--no-rss"]) == 0
    out = capsys.readouterr().out
    assert "\ntiny: " in out and "\nother_tiny: " in out
