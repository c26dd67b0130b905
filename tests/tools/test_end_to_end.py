"""The user's workflow as typed: tools/train.py -> latest.pth -> tools/test.py, in subprocesses.

Checks every file in the work dir, and that the metrics logged during training and written by
tools/test.py equal a direct computation: predictions from the saved weights with plain
OpenCV/NumPy preprocessing, per-class counts with ``np.bincount``.
"""
import importlib.util
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from filelock import FileLock
from PIL import Image

from seglab.config import Config
from seglab.datasets import make_synthetic_voc
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "configs/demo/fcn_tiny_synthetic_voc_smoke.py"
NUM_CLASSES = 6


def run_tool(script, *args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, str(ROOT / "tools" / script), *map(str, args)], cwd=cwd,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return result


def shared_path(tmp_path_factory, name):
    """A path that every pytest-xdist worker of this session sees (the workers' common basetemp)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    return root / name


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    """Generate data, train, test: once per session, whichever xdist worker gets here first."""
    tmp = shared_path(tmp_path_factory, "train_end_to_end")
    paths = dict(tmp=tmp, data_root=str(tmp / "voc"), work_dir=tmp / "work_dir", show_dir=tmp / "show",
                 out=tmp / "results.pkl", train_log=tmp / "train_console.txt",
                 test_log=tmp / "test_console.txt")
    done = tmp.with_name(tmp.name + ".done")
    with FileLock(str(tmp) + ".lock"):
        if not done.exists():
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            make_synthetic_voc(paths["data_root"], num_train=4, num_val=2, size=32, seed=5)
            options = [f"data.{split}.data_root={paths['data_root']}"
                       for split in ("train", "val", "test")]
            # From another directory, as a user would: the tool finds seglab from its own location.
            train = run_tool("train.py", SMOKE, "--work-dir", paths["work_dir"], "--seed", "0",
                             "--options", *options, cwd=tmp)
            paths["train_log"].write_text(train.stdout + train.stderr)
            test = run_tool("test.py", SMOKE, paths["work_dir"] / "latest.pth", "--eval", "mIoU",
                            "mDice", "mFscore", "--show-dir", paths["show_dir"], "--opacity", "0.5",
                            "--out", paths["out"], "--work-dir", paths["work_dir"], "--device", "cpu",
                            "--options", *options, cwd=tmp)
            paths["test_log"].write_text(test.stdout + test.stderr)
            done.touch()
    return paths


def direct_predictions(checkpoint, data_root, names):
    """Label maps from the checkpoint's weights, preprocessing done by hand (no seglab pipeline)."""
    cfg = Config.fromfile(SMOKE)
    model = build_segmentor(cfg.model)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    model.load_state_dict(state, strict=True)
    model.eval()
    mean = np.array([123.675, 116.28, 103.53], np.float32)
    std = np.array([58.395, 57.12, 57.375], np.float32)
    preds = []
    for name in names:
        bgr = cv2.imread(os.path.join(data_root, "JPEGImages", f"{name}.jpg"), cv2.IMREAD_COLOR)
        assert max(bgr.shape[:2]) == 32  # the test scale (32, 32) keeps the size: no resize
        rgb = (bgr[..., ::-1].astype(np.float32) - mean) / std
        img = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]
        with torch.inference_mode():
            logits = model.encode_decode(img, [dict(img_shape=bgr.shape, ori_shape=bgr.shape,
                                                    pad_shape=bgr.shape, flip=False)])
        preds.append(logits.argmax(1)[0].numpy().astype(np.uint8))
    return preds


def direct_metrics(preds, labels):
    """MMSeg's numbers: nan-mean over classes, percent rounded to 2 decimals, as fractions."""
    inter = np.zeros(NUM_CLASSES)
    area_pred = np.zeros(NUM_CLASSES)
    area_label = np.zeros(NUM_CLASSES)
    for pred, label in zip(preds, labels):
        keep = label != 255
        p, t = pred[keep].astype(np.int64), label[keep].astype(np.int64)
        inter += np.bincount(t[p == t], minlength=NUM_CLASSES)
        area_pred += np.bincount(p, minlength=NUM_CLASSES)
        area_label += np.bincount(t, minlength=NUM_CLASSES)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / (area_pred + area_label - inter)
        acc = inter / area_label
        dice = 2 * inter / (area_pred + area_label)
    summary = dict(aAcc=inter.sum() / area_label.sum(), mIoU=np.nanmean(iou), mAcc=np.nanmean(acc),
                   mDice=np.nanmean(dice))
    return {k: round(float(v) * 100, 2) / 100 for k, v in summary.items()}, iou


def test_work_dir_files(workflow):
    work_dir = workflow["work_dir"]
    names = sorted(os.listdir(work_dir))
    (stamp,) = {re.match(r"(\d{8}_\d{6})\.log$", n).group(1) for n in names if n.endswith(".log")}
    (eval_json,) = [n for n in names if n.startswith("eval_")]
    assert names == sorted([SMOKE.name, f"{stamp}.log", f"{stamp}.log.json", "iter_2.pth",
                            "iter_4.pth", "latest.pth", "best_mIoU_iter_4.pth", eval_json])
    assert os.path.realpath(work_dir / "latest.pth") == os.path.realpath(work_dir / "iter_4.pth")
    assert not [n for n in os.listdir(work_dir) if n.startswith(".")]  # no temporary files left
    assert Config.fromfile(work_dir / SMOKE.name).seed == 0
    # What the user saw on the console is what the text log holds.
    log = (work_dir / f"{stamp}.log").read_text()
    assert "Iter [4/4]" in log and "Iter [4/4]" in workflow["train_log"].read_text()


def test_logged_metrics_equal_a_direct_computation(workflow):
    work_dir, data_root = workflow["work_dir"], workflow["data_root"]
    names = (Path(data_root) / "ImageSets/Segmentation/val.txt").read_text().split()
    labels = [np.array(Image.open(Path(data_root) / "SegmentationClass" / f"{n}.png")) for n in names]
    preds = direct_predictions(work_dir / "latest.pth", data_root, names)
    expected, iou = direct_metrics(preds, labels)

    with open(workflow["out"], "rb") as f:
        results = pickle.load(f)
    assert len(results) == len(names)
    for tool_pred, pred in zip(results, preds):
        np.testing.assert_array_equal(np.asarray(tool_pred), pred)

    (json_log,) = work_dir.glob("*.log.json")
    (val,) = [r for r in map(json.loads, json_log.read_text().splitlines()) if r.get("mode") == "val"]
    for key in ("aAcc", "mIoU", "mAcc"):
        assert val[key] == pytest.approx(expected[key], abs=1e-5), key
    for cls, name in enumerate(("background", "disc", "square", "triangle", "stripes", "ring")):
        if np.isnan(iou[cls]):
            assert np.isnan(val[f"IoU.{name}"])
        else:
            assert val[f"IoU.{name}"] == pytest.approx(round(iou[cls] * 100, 2) / 100, abs=1e-5)

    (eval_json,) = work_dir.glob("eval_*.json")
    metric = json.loads(eval_json.read_text())["metric"]
    for key in ("aAcc", "mIoU", "mAcc", "mDice"):
        assert metric[key] == pytest.approx(expected[key], abs=1e-6), key
    assert "mFscore" in metric
    summary = workflow["test_log"].read_text()
    assert f"{expected['mIoU'] * 100:.2f}".rstrip("0").rstrip(".") in summary


def test_show_dir_holds_one_overlay_per_image(workflow):
    names = (Path(workflow["data_root"]) / "ImageSets/Segmentation/val.txt").read_text().split()
    shown = sorted(os.listdir(workflow["show_dir"]))
    assert shown == sorted(f"{n}.jpg" for n in names)
    for name in names:
        overlay = cv2.imread(str(workflow["show_dir"] / f"{name}.jpg"))
        image = cv2.imread(os.path.join(workflow["data_root"], "JPEGImages", f"{name}.jpg"))
        assert overlay.shape == image.shape


def load_test_tool():
    spec = importlib.util.spec_from_file_location("seglab_tools_test_e2e", ROOT / "tools/test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_aug_test_runs_on_the_trained_checkpoint(workflow, tmp_path):
    """--aug-test (flip and six scales) in-process: one more subprocess would cost a torch import."""
    out = tmp_path / "aug.pkl"
    code = load_test_tool().main([str(SMOKE), str(workflow["work_dir"] / "latest.pth"), "--aug-test",
                                  "--eval", "mIoU", "--out", str(out), "--device", "cpu", "--options",
                                  f"data.test.data_root={workflow['data_root']}"])
    assert code == 0
    with open(out, "rb") as f:
        results = pickle.load(f)
    labels = [np.array(Image.open(Path(workflow["data_root"]) / "SegmentationClass" / f"{n}.png"))
              for n in ("val_00000", "val_00001")]
    assert [r.shape for r in results] == [label.shape for label in labels]
    assert all(int(r.max()) < NUM_CLASSES for r in results)
