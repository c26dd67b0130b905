"""The synthetic VOC generator: layout, determinism, label content, atomic writes."""
from __future__ import annotations

import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

import seglab.datasets.synthetic as synthetic
from seglab.datasets import SYNTHETIC_CLASSES, make_synthetic_voc
from seglab.errors import DatasetError


def files(root: str) -> dict:
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = osp.join(dirpath, name)
            with open(path, "rb") as f:
                out[osp.relpath(path, root)] = f.read()
    return out


def test_voc_layout(synthetic_voc_root):
    root = synthetic_voc_root
    splits = osp.join(root, "ImageSets", "Segmentation")
    train = open(osp.join(splits, "train.txt")).read().split()
    val = open(osp.join(splits, "val.txt")).read().split()
    assert train == [f"train_{i:05d}" for i in range(8)] and len(val) == 4
    assert open(osp.join(splits, "trainval.txt")).read().split() == train + val
    for name in train + val:
        with Image.open(osp.join(root, "JPEGImages", name + ".jpg")) as img:
            assert img.format == "JPEG" and img.mode == "RGB" and max(img.size) == 64
            size = img.size
        with Image.open(osp.join(root, "SegmentationClass", name + ".png")) as lab:
            assert lab.mode == "P" and lab.size == size
            assert lab.getpalette()[3:6] == [128, 0, 0]  # VOC colours


def test_same_seed_same_bytes_other_seed_other_images(tmp_path):
    a = make_synthetic_voc(str(tmp_path / "a"), num_train=3, num_val=1, size=48, seed=5)
    b = make_synthetic_voc(str(tmp_path / "b"), num_train=3, num_val=1, size=48, seed=5)
    c = make_synthetic_voc(str(tmp_path / "c"), num_train=3, num_val=1, size=48, seed=6)
    fa, fb, fc = files(a), files(b), files(c)
    assert fa == fb
    assert fa["JPEGImages/train_00000.jpg"] != fc["JPEGImages/train_00000.jpg"]
    # An image depends on (seed, split, index) only, not on how many were made.
    d = make_synthetic_voc(str(tmp_path / "d"), num_train=1, num_val=0, size=48, seed=5)
    assert files(d)["JPEGImages/train_00000.jpg"] == fa["JPEGImages/train_00000.jpg"]


def test_labels_have_classes_occlusion_and_a_boundary_band():
    counts = np.zeros(256, np.int64)
    for i in range(30):
        img, label = synthetic.render_sample(np.random.default_rng([0, 0, i]), size=128)
        assert img.shape[:2] == label.shape and img.dtype == np.uint8
        assert set(np.unique(label)) <= set(range(6)) | {255}
        counts += np.bincount(label.ravel(), minlength=256)
        band = label == 255
        if band.any():  # the band separates regions of different classes, a few px wide
            assert band.mean() < 0.2
    assert (counts[:6] > 0).all()
    assert 0.01 < counts[255] / counts.sum() < 0.15


def test_colour_alone_does_not_separate_the_classes():
    """Every pair of object classes has instances with nearly the same mean colour."""
    means = {c: [] for c in range(1, 6)}
    for i in range(60):
        img, label = synthetic.render_sample(np.random.default_rng([9, 0, i]), size=96)
        for c in range(1, 6):
            mask = label == c
            if mask.sum() > 30:
                means[c].append(img[mask].mean(axis=0))
    for a in range(1, 6):
        for b in range(a + 1, 6):
            d = np.linalg.norm(np.asarray(means[a])[:, None] - np.asarray(means[b])[None], axis=2)
            assert d.min() < 40, (SYNTHETIC_CLASSES[a], SYNTHETIC_CLASSES[b])


def test_fewer_classes():
    for i in range(10):
        _, label = synthetic.render_sample(np.random.default_rng([1, 0, i]), 64, num_classes=3)
        assert set(np.unique(label)) <= {0, 1, 2, 255}
    with pytest.raises(ValueError, match="num_classes"):
        make_synthetic_voc("unused", num_classes=7)


def test_existing_folder_is_reused_or_protected(tmp_path):
    out = str(tmp_path / "voc")
    make_synthetic_voc(out, num_train=2, num_val=1, size=32)
    stamp = os.stat(osp.join(out, "JPEGImages", "train_00000.jpg")).st_mtime_ns
    assert make_synthetic_voc(out, num_train=2, num_val=1, size=32) == out  # same args: kept
    assert os.stat(osp.join(out, "JPEGImages", "train_00000.jpg")).st_mtime_ns == stamp
    with pytest.raises(DatasetError, match="already exists"):
        make_synthetic_voc(out, num_train=3, num_val=1, size=32)
    make_synthetic_voc(out, num_train=3, num_val=1, size=32, overwrite=True)
    assert len(os.listdir(osp.join(out, "JPEGImages"))) == 4
    assert os.listdir(str(tmp_path)) == ["voc"]  # no temporary folders left


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def failing(rng, size, num_classes):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(rng, size, num_classes)

    real = synthetic.render_sample
    monkeypatch.setattr(synthetic, "render_sample", failing)
    with pytest.raises(KeyboardInterrupt):
        make_synthetic_voc(str(tmp_path / "voc"), num_train=5, num_val=1, size=32)
    assert os.listdir(str(tmp_path)) == []
