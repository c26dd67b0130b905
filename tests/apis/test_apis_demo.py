"""demo/image_demo.py, run in-process through its main()."""
from __future__ import annotations

import importlib.util
import os.path as osp

import cv2
import numpy as np
import pytest

from seglab.apis import inference_segmentor, init_segmentor, show_result
from seglab.apis.cli import run_tool

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope="module")
def demo():
    spec = importlib.util.spec_from_file_location("seglab_image_demo",
                                                  osp.join(REPO, "demo", "image_demo.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_writes_the_overlay(demo, fixture_files, tmp_path):
    img = osp.join(fixture_files["data_root"], "JPEGImages", "val_00002.jpg")
    out = str(tmp_path / "overlay.png")
    assert demo.main([img, fixture_files["config"], fixture_files["checkpoint"], "--out-file",
                      out, "--device", "cpu", "--palette", "voc", "--opacity", "0.6"]) == 0
    model = init_segmentor(fixture_files["config"], fixture_files["checkpoint"], "cpu")
    from seglab.visualization import get_palette

    expected = show_result(model, img, inference_segmentor(model, img), get_palette("voc"),
                           opacity=0.6)
    np.testing.assert_array_equal(cv2.imread(out), expected)


def test_demo_errors(demo, fixture_files, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    img = osp.join(fixture_files["data_root"], "JPEGImages", "val_00002.jpg")
    args = [fixture_files["config"], fixture_files["checkpoint"], "--device", "cpu"]
    assert run_tool(demo.main, [img, *args]) == 2
    assert "--out-file" in capsys.readouterr().err
    assert run_tool(demo.main, ["missing.jpg", *args, "--out-file", "x.png"]) == 2
    assert "'missing.jpg' does not exist" in capsys.readouterr().err
    assert run_tool(demo.main, [img, *args, "--palette", "kitti"]) == 2
    assert "--palette 'kitti'" in capsys.readouterr().err
