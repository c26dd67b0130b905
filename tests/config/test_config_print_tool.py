"""tools/print_config.py, run as a user runs it (subprocess from the repository root)."""
import os
import subprocess
import sys
from pathlib import Path

from seglab.config import Config

ROOT = Path(__file__).resolve().parents[2]
FCN = "configs/fcn/fcn_r50-d8_512x512_20k_voc12aug.py"


def run_tool(*args, cwd=ROOT):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, str(ROOT / "tools/print_config.py"), *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_prints_resolved_config_with_overrides(tmp_path):
    result = run_tool(FCN, "--options", "model.backbone.with_cp=True",
                      "data.train.pipeline.2.img_scale=(1024,256)",
                      "--cfg-options", "optimizer.lr=0.02", "workflow=[(train,2)]")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Config:\nnorm_cfg = dict(type='SyncBN', requires_grad=True)\n")
    printed = tmp_path / "printed.py"
    printed.write_text(result.stdout.split("Config:\n", 1)[1])
    cfg = Config.fromfile(printed)
    assert cfg.model.backbone.with_cp is True
    assert cfg.model.decode_head.num_classes == 21
    assert cfg.data.train.pipeline[2].img_scale == (1024, 256)
    assert cfg.optimizer.lr == 0.02 and cfg.workflow == [("train", 2)]
    expected = Config.fromfile(ROOT / FCN)
    expected.merge_from_dict({"model.backbone.with_cp": True,
                              "data.train.pipeline.2.img_scale": (1024, 256),
                              "optimizer.lr": 0.02, "workflow": [("train", 2)]})
    assert cfg == expected


def test_dump_option_and_runs_from_another_directory(tmp_path):
    out = tmp_path / "resolved.py"
    result = run_tool(str(ROOT / FCN), "--dump", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert Config.fromfile(out) == Config.fromfile(ROOT / FCN)


def test_errors_are_one_clear_line_without_traceback(tmp_path):
    result = run_tool(FCN, "--options", "model.backbon.with_cp=True")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: override 'model.backbon.with_cp': model has no key "
                                    "'backbon'. Did you mean 'model.backbone'?")
    assert "Traceback" not in result.stderr
    result = run_tool("configs/fcn/nope.py")
    assert result.returncode == 2 and "config file not found" in result.stderr
    evil = tmp_path / "evil.py"
    marker = tmp_path / "marker"
    evil.write_text(f"import os\nos.system('touch {marker}')\n")
    result = run_tool(str(evil))
    assert result.returncode == 2 and "an import statement is not allowed" in result.stderr
    assert not marker.exists()
