"""Overlay paths under --show-dir, --out pickles, and the 0.x single_gpu_test wrapper."""
from __future__ import annotations

import os
import os.path as osp
import pickle

import cv2
import numpy as np
import pytest

from apis_helpers import NUM_CLASSES, OracleSegmentor
from seglab.apis import single_gpu_test
from seglab.apis.cli import build_test_loader
from seglab.apis.outputs import dump_pickle, safe_output_path, storage_dtype
from seglab.apis.test import OverlayWriter, run_test
from seglab.errors import ConfigError
from seglab.visualization import DisplayUnavailableError


@pytest.mark.parametrize("name, expected", [
    ("a.jpg", "a.jpg"),
    ("leftImg8bit/val/frankfurt/x.png", "leftImg8bit/val/frankfurt/x.png"),
    ("../../etc/evil.jpg", "etc/evil.jpg"),
    ("a/../../b/./c.jpg", "a/b/c.jpg"),
    ("/abs/path/img.jpg", "abs/path/img.jpg"),
    ("C:\\data\\img.jpg", "data/img.jpg"),
    ("..", "000007.png"),
    (None, "000007.png"),
    ("noext", "noext.png"),
    ("scan.dcm", "scan.dcm.png"),
])
def test_safe_output_path_stays_inside(tmp_path, name, expected):
    out = safe_output_path(str(tmp_path / "show"), name, "000007")
    assert out == osp.join(str(tmp_path / "show"), *expected.split("/"))


def test_storage_dtype():
    assert storage_dtype(6) == np.uint8 and storage_dtype(256) == np.uint8
    assert storage_dtype(257) == np.uint16
    assert storage_dtype(None, [np.array([[3, 300]])]) == np.uint16


def test_dump_pickle_is_atomic_and_checks_the_extension(tmp_path):
    path = str(tmp_path / "r.pkl")
    dump_pickle([np.zeros((2, 2), np.uint8)], path)
    with pytest.raises(ConfigError, match=r"must be a pkl file"):
        dump_pickle([], str(tmp_path / "r.json"))

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        dump_pickle([Unpicklable()], path)
    with open(path, "rb") as f:  # the earlier file is intact, no temp file is left
        assert np.array_equal(pickle.load(f)[0], np.zeros((2, 2), np.uint8))
    assert os.listdir(tmp_path) == ["r.pkl"]


def test_show_dir_overlays_and_out_pickle(cfg, tmp_path):
    dataset, loader = build_test_loader(cfg, batch_size=2)
    model = OracleSegmentor(dataset, NUM_CLASSES, step=3)
    out = str(tmp_path / "res.pkl")
    show = tmp_path / "show"
    outputs = run_test(model, loader, show_dir=str(show), opacity=0.3, out_file=out,
                       logger="silent")
    names = sorted(os.listdir(show))
    assert names == sorted(info["filename"] for info in dataset.img_infos)
    with open(out, "rb") as f:
        saved = pickle.load(f)
    assert len(saved) == len(dataset) and all(p.dtype == np.uint8 for p in saved)
    for pred, ref in zip(saved, model.returned):
        np.testing.assert_array_equal(pred, ref)
    # The overlay is the 0.3 blend of the image and the palette colours, as 0.x paints it.
    img = cv2.imread(dataset.sample_paths(0)[0])
    palette = np.asarray(dataset.PALETTE, np.uint8)
    expected = (img * 0.7 + palette[saved[0]][..., ::-1] * 0.3).astype(np.uint8)
    painted = cv2.imread(str(show / names[0]))  # JPEG, like the input's name
    ok, encoded = cv2.imencode(".jpg", expected)
    np.testing.assert_array_equal(painted, cv2.imdecode(encoded, cv2.IMREAD_COLOR))
    assert outputs.num_images == len(dataset)


def test_overlay_writer_keeps_nested_names_and_never_escapes(cfg, tmp_path):
    dataset, _ = build_test_loader(cfg)
    img_path = dataset.sample_paths(0)[0]
    h, w = cv2.imread(img_path).shape[:2]
    writer = OverlayWriter(str(tmp_path / "out"), show=False, palette=dataset.PALETTE)
    pred = np.zeros((h, w), np.int64)
    nested = writer(0, pred, dict(filename=img_path, ori_filename="city/a/b.jpg"))
    escaped = writer(1, pred, dict(filename=img_path, ori_filename="../../escape.jpg"))
    absolute = writer(2, pred, dict(filename=img_path, ori_filename=str(tmp_path / "abs.png")))
    root = str(tmp_path / "out")
    assert nested == osp.join(root, "city", "a", "b.jpg") and osp.isfile(nested)
    assert escaped == osp.join(root, "escape.jpg") and osp.isfile(escaped)
    assert absolute.startswith(root + os.sep) and osp.isfile(absolute)
    assert not osp.exists(tmp_path / "abs.png") and not osp.exists(tmp_path.parent / "escape.jpg")


def test_show_without_display_fails_before_running(cfg, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    dataset, loader = build_test_loader(cfg)
    model = OracleSegmentor(dataset, NUM_CLASSES)
    with pytest.raises(DisplayUnavailableError, match=r"--show-dir"):
        single_gpu_test(model, loader, show=True)
    assert model.returned == []


def test_single_gpu_test_modes(cfg, tmp_path, monkeypatch):
    dataset, loader = build_test_loader(cfg, batch_size=3)
    model = OracleSegmentor(dataset, NUM_CLASSES, step=2)
    preds = single_gpu_test(model, loader)
    assert len(preds) == len(dataset)
    for pred, ref in zip(preds, model.returned):
        np.testing.assert_array_equal(pred, ref)
    pre = single_gpu_test(model, loader, pre_eval=True)
    assert len(pre) == len(dataset) and all(len(areas) == 4 for areas in pre)
    assert dataset.evaluate(pre, metric="mIoU", logger="silent") == pytest.approx(
        dataset.evaluate(preds, metric="mIoU", logger="silent"), nan_ok=True)
    files = single_gpu_test(model, loader, format_only=True,
                            format_args=dict(imgfile_prefix=str(tmp_path / "fmt")))
    assert [osp.basename(f) for f in files] == [f"val_{i:05d}.png" for i in range(5)]
    monkeypatch.chdir(tmp_path)
    with pytest.warns(DeprecationWarning, match="efficient_test"):
        npys = single_gpu_test(model, loader, efficient_test=True)
    assert all(f.endswith(".npy") and osp.isfile(f) for f in npys)
    np.testing.assert_array_equal(np.load(npys[2]), preds[2])
    with pytest.raises(ValueError, match="mutually exclusive"):
        single_gpu_test(model, loader, pre_eval=True, format_only=True)
