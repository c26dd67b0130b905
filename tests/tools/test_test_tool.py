"""tools/test.py: one full run as a subprocess, the rest in-process through its main()."""
from __future__ import annotations

import importlib.util
import json
import os
import os.path as osp
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, "tests", "apis"))

from apis_helpers import config_text, make_fixture_files, tiny_model  # noqa: E402


def _load_tool():
    spec = importlib.util.spec_from_file_location("seglab_tools_test", osp.join(REPO, "tools",
                                                                                "test.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_fixture_files(str(tmp_path_factory.mktemp("test_tool")))


@pytest.fixture(scope="module")
def tool():
    return _load_tool()


def _reference(config, **kwargs):
    """Predictions and metrics computed in-process through the apis."""
    from seglab.apis.cli import build_test_loader, prepare_test_config
    from seglab.apis.test import run_test
    from seglab.config import Config

    cfg = Config.fromfile(config)
    for key, value in kwargs.items():
        cfg.merge_from_dict({key: value})
    prepare_test_config(cfg)
    _, loader = build_test_loader(cfg, batch_size=1)
    return run_test(tiny_model(), loader, metric=["mIoU", "mDice"], keep_predictions=True,
                    logger="silent")


def test_full_run_as_a_script(files, tmp_path):
    show, out, work = tmp_path / "show", tmp_path / "res.pkl", tmp_path / "work"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DISPLAY")}
    proc = subprocess.run(
        [sys.executable, "tools/test.py", files["config"], files["checkpoint"], "--eval", "mIoU",
         "mDice", "--show-dir", str(show), "--opacity", "0.4", "--out", str(out),
         "--work-dir", str(work), "--batch-size", "3", "--options", "data.workers_per_gpu=0"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "per class results:" in proc.stdout and "Summary:" in proc.stdout
    assert "mDice" in proc.stdout and "| background |" in proc.stdout
    assert "images/s" in proc.stderr  # plain progress lines: stderr is not a terminal
    reference = _reference(files["config"])
    with open(out, "rb") as f:
        saved = pickle.load(f)
    assert len(saved) == 5 and all(p.dtype == np.uint8 for p in saved)
    for pred, ref in zip(saved, reference.predictions):
        np.testing.assert_array_equal(pred, ref)
    (json_file,) = os.listdir(work)
    assert json_file.startswith("eval_") and json_file.endswith(".json")
    with open(work / json_file) as f:
        record = json.load(f)
    assert record["config"] == files["config"]
    assert record["metric"] == pytest.approx(reference.metrics, nan_ok=True)
    assert sorted(os.listdir(show)) == [f"val_{i:05d}.jpg" for i in range(5)]


def test_unknown_metric_as_a_script(files):
    proc = subprocess.run([sys.executable, "tools/test.py", files["config"], files["checkpoint"],
                           "--eval", "mAP"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: Metric(s) ['mAP'] are not supported; allowed metrics "
                                  "are ['mIoU', 'mDice', 'mFscore']")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("extra, message", [
    ([], 'at least one operation'),
    (["--out", "res.json"], "must be a pkl file"),
    (["--eval", "mIoU", "--format-only"], "cannot be both specified"),
    (["--format-only"], "--eval-options imgfile_prefix=DIR"),
    (["--show"], "Cannot show results on screen.*--show-dir"),
    # --launcher pytorch outside torchrun: the launcher's variables are missing
    (["--eval", "mIoU", "--launcher", "pytorch"], r"RANK.*dist_test\.sh|dist_test\.sh.*RANK"),
    (["--eval", "mIoU", "--eval-options", "nan_to_nun=0"], r"nan_to_nun.*accepted"),
])
def test_user_mistakes(tool, files, capsys, monkeypatch, extra, message):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    from seglab.apis.cli import run_tool

    assert run_tool(tool.main, [files["config"], files["checkpoint"], *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err


def test_checkpoint_with_other_num_classes(tool, files, tmp_path, capsys):
    from seglab.apis.cli import run_tool
    from seglab.engine import save_checkpoint

    other = str(tmp_path / "four.pth")
    save_checkpoint(tiny_model(num_classes=4), other)
    assert run_tool(tool.main, [files["config"], other, "--eval", "mIoU"]) == 2
    err = capsys.readouterr().err
    assert "decode_head.conv_seg.weight: checkpoint [4, 16, 1, 1] vs model [6, 16, 1, 1]" in err
    assert "num_classes" in err



def test_other_num_classes_hint_says_what_test_py_can_do(tool, files, tmp_path, capsys):
    """tools/test.py loads strictly and has no strict=False: the hint must not offer it."""
    from seglab.apis.cli import run_tool
    from seglab.engine import save_checkpoint

    config = tmp_path / "nineteen.py"
    config.write_text(config_text(files["data_root"], num_classes=19))
    other = str(tmp_path / "twentyone.pth")
    save_checkpoint(tiny_model(num_classes=21), other)
    assert run_tool(tool.main, [str(config), other, "--eval", "mIoU"]) == 2
    err = capsys.readouterr().err
    assert "decode_head.conv_seg.weight: checkpoint [21, 16, 1, 1] vs model [19, 16, 1, 1]" in err
    assert "strict=False" not in err
    assert "trained for 21 classes and the config builds 19" in err
    assert "tools/test.py needs the config the checkpoint was trained with" in err
    assert f"tools/train.py CONFIG --load-from {other}" in err


def test_aug_test_and_format_only(tool, files, tmp_path):
    from seglab.apis.cli import build_test_loader, prepare_test_config
    from seglab.config import Config

    split = tmp_path / "two.txt"
    split.write_text("val_00003\n")  # one image: 12 augmentations are enough work
    options = ["--options", f"data.test.split={split}"]
    prefix = tmp_path / "fmt"
    assert tool.main([files["config"], files["checkpoint"], "--aug-test", "--format-only",
                      "--eval-options", f"imgfile_prefix={prefix}", *options]) == 0
    cfg = Config.fromfile(files["config"])
    cfg.merge_from_dict({"data.test.split": str(split)})
    prepare_test_config(cfg, aug_test=True)
    assert cfg.data.test.pipeline[1].img_ratios == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    dataset, loader = build_test_loader(cfg)
    from seglab.apis.test import run_test

    preds = run_test(tiny_model(), loader, keep_predictions=True, logger="silent").predictions
    written = sorted(os.listdir(prefix))
    assert written == ["val_00003.png"]
    for name, pred in zip(written, preds):
        np.testing.assert_array_equal(np.array(Image.open(prefix / name)), pred)
    # Multi-scale + flip really changes the result compared with the single scale.
    single_cfg = Config.fromfile(files["config"])
    single_cfg.merge_from_dict({"data.test.split": str(split)})
    prepare_test_config(single_cfg)
    single = run_test(tiny_model(), build_test_loader(single_cfg)[1], keep_predictions=True,
                      logger="silent").predictions
    assert (preds[0] != single[0]).any()


def test_syncbn_config_tests_in_one_process(tool, files, tmp_path):
    """MMSeg's SyncBN configs load the same checkpoint and give the BN results."""
    out = tmp_path / "syncbn.pkl"
    sync = ["model.backbone.norm_cfg.type=SyncBN", "model.decode_head.norm_cfg.type=SyncBN"]
    assert tool.main([files["config"], files["checkpoint"], "--out", str(out),
                      "--device", "cpu", "--options", *sync]) == 0
    with open(out, "rb") as f:
        saved = pickle.load(f)
    for pred, ref in zip(saved, _reference(files["config"]).predictions):
        np.testing.assert_array_equal(pred, ref)


def test_workers_and_batches_give_the_plain_predictions_and_metrics(tool, files, tmp_path):
    """Images and label maps decoded in 2 loader workers, 3 images per forward: the --out maps
    and the json metrics of a run without workers, one image per forward, exactly."""
    runs = {}
    for name, batch, workers in (("plain", 1, 0), ("fast", 3, 2)):
        out, work = tmp_path / f"{name}.pkl", tmp_path / name
        assert tool.main([files["config"], files["checkpoint"], "--eval", "mIoU", "mFscore",
                          "--out", str(out), "--work-dir", str(work), "--device", "cpu",
                          "--batch-size", str(batch),
                          "--options", f"data.workers_per_gpu={workers}"]) == 0
        with open(out, "rb") as f:
            preds = pickle.load(f)
        (json_file,) = work.glob("eval_*.json")
        runs[name] = preds, json.loads(json_file.read_text())["metric"]
    (plain, plain_metrics), (fast, fast_metrics) = runs["plain"], runs["fast"]
    assert len(plain) == len(fast) == 5
    for a, b in zip(plain, fast):
        np.testing.assert_array_equal(a, b)
    assert sorted(plain_metrics) == sorted(fast_metrics)
    for key, value in plain_metrics.items():  # exact; NaN for a class absent everywhere
        assert value == fast_metrics[key] or np.isnan([value, fast_metrics[key]]).all(), key
    assert 0 < plain_metrics["mIoU"] < 1
