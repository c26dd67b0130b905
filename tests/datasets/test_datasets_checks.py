"""Label-value checks and the whole-dataset checker (check_dataset) on planted errors."""
from __future__ import annotations

import os
import os.path as osp
import shutil

import numpy as np
import pytest
from PIL import Image

from seglab.datasets import SyntheticVOCDataset, build_dataset
from seglab.datasets.dataset_check import check_dataset, format_report
from seglab.datasets.label_check import (bad_values, check_label_values, looks_binary_0_255,
                                         read_label_file, value_counts)
from seglab.errors import DatasetError

LOAD = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations")]


def test_value_counts_and_bad_values():
    label = np.array([[0, 0, 3], [255, 7, 7]], np.uint8)
    assert value_counts(label) == {0: 2, 3: 1, 7: 2, 255: 1}
    assert value_counts(label.astype(np.uint16) * 100) == {0: 2, 300: 1, 700: 2, 25500: 1}
    assert bad_values({0: 1, 3: 1, 7: 1, 255: 1}, num_classes=4, ignore_index=255) == [7]
    assert bad_values({0: 1, 255: 1}, num_classes=2, ignore_index=0) == [255]


def test_check_label_values_message():
    label = np.zeros((4, 4), np.uint8)
    assert check_label_values(label, "x.png", 3, 255) == {0: 16}
    label[0, 0] = 9
    with pytest.raises(DatasetError, match=r"'x\.png' has values \[9\] .* \[0, 3\) \(3 classes "
                                           r"of MyData\) or equal ignore_index=255"):
        check_label_values(label, "x.png", 3, 255, "MyData")
    assert check_label_values(label, "x.png", None, 255) == {0: 15, 9: 1}  # no classes: no bound


def test_binary_detection():
    mask = np.zeros((10, 10), np.uint8)
    mask[:5] = 255
    assert looks_binary_0_255(value_counts(mask))
    mask[:5] = 1
    assert not looks_binary_0_255(value_counts(mask))
    thin = np.zeros((10, 10), np.uint8)
    thin[0] = 255  # a thin boundary band, as in VOC: not a binary mask
    assert not looks_binary_0_255(value_counts(thin))


def test_read_label_refuses_colour_masks(tmp_path):
    rgb = np.zeros((5, 5, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(tmp_path / "c.png")
    with pytest.raises(DatasetError, match="colour \\(RGB\\) image"):
        read_label_file(str(tmp_path / "c.png"))
    grey = np.repeat(np.arange(25, dtype=np.uint8).reshape(5, 5)[..., None], 3, axis=2)
    Image.fromarray(grey).save(tmp_path / "g.png")
    np.testing.assert_array_equal(read_label_file(str(tmp_path / "g.png")), grey[..., 0])


@pytest.fixture
def planted(synthetic_voc_root, tmp_path) -> str:
    """A copy of the synthetic dataset with one problem per training sample 0..5."""
    root = str(tmp_path / "voc")
    shutil.copytree(synthetic_voc_root, root)
    img = lambda i: osp.join(root, "JPEGImages", f"train_{i:05d}.jpg")  # noqa: E731
    lab = lambda i: osp.join(root, "SegmentationClass", f"train_{i:05d}.png")  # noqa: E731
    os.remove(img(0))
    os.remove(lab(1))
    with open(img(2), "wb") as f:
        f.write(b"garbage")
    with open(img(3), "rb") as f:
        data = f.read()
    with open(img(3), "wb") as f:
        f.write(data[: len(data) // 2])  # truncated JPEG
    h, w = np.array(Image.open(lab(4))).shape
    Image.fromarray(np.zeros((h, w + 5), np.uint8)).save(lab(4))
    bad = np.array(Image.open(lab(5)))
    bad[0, :3] = [6, 6, 30]
    Image.fromarray(bad).save(lab(5))
    return root


def build(root: str) -> SyntheticVOCDataset:
    return build_dataset(dict(type="SyntheticVOCDataset", data_root=root, img_dir="JPEGImages",
                              ann_dir="SegmentationClass",
                              split="ImageSets/Segmentation/train.txt", pipeline=LOAD))


def test_clean_dataset_histogram(synthetic_voc_root):
    ds = build(synthetic_voc_root)
    report = check_dataset(ds, nproc=2)
    assert report.ok and report.num_samples == 8
    total = np.zeros(256, np.int64)
    for i in range(8):
        total += np.bincount(np.array(Image.open(osp.join(
            synthetic_voc_root, "SegmentationClass", f"train_{i:05d}.png"))).ravel(), minlength=256)
    np.testing.assert_array_equal(report.class_pixels, total[:6])
    assert report.ignore_pixels == total[255]
    text = format_report(report)
    assert "background" in text and "All files are fine." in text


def test_every_planted_problem_is_listed(planted):
    report = check_dataset(build(planted), nproc=2)
    assert not report.ok and report.num_samples == 8
    by_file = {osp.basename(path): problem for path, problem in report.problems}
    assert "does not exist" in by_file["train_00000.jpg"]
    assert "does not exist" in by_file["train_00001.png"]
    assert "Cannot decode image" in by_file["train_00002.jpg"]
    assert "Cannot decode image" in by_file["train_00003.jpg"]
    assert "size mismatch" in by_file["train_00004.png"]
    assert "[6, 30]" in by_file["train_00005.png"]
    assert set(by_file) == {"train_00000.jpg", "train_00001.png", "train_00002.jpg",
                            "train_00003.jpg", "train_00004.png", "train_00005.png"}
    assert report.bad_pixels == {6: 2, 30: 1}
    assert "OUT OF RANGE" in report.histogram_table()


def test_binary_masks_are_reported(synthetic_voc_root, tmp_path):
    root = str(tmp_path / "voc")
    shutil.copytree(synthetic_voc_root, root)
    for i in range(8):
        path = osp.join(root, "SegmentationClass", f"train_{i:05d}.png")
        mask = np.array(Image.open(path))
        Image.fromarray(np.where(mask > 0, 255, 0).astype(np.uint8)).save(path)
    report = check_dataset(build(root), nproc=1)
    assert report.binary_0_255 and not report.ok and not report.problems
    assert "ignore_index" in format_report(report) and "--binary" in format_report(report)


def test_label_map_and_reduce_zero_label_are_applied(synthetic_voc_root):
    ds = SyntheticVOCDataset(data_root=synthetic_voc_root, img_dir="JPEGImages",
                             ann_dir="SegmentationClass", split="ImageSets/Segmentation/val.txt",
                             pipeline=[dict(type="LoadImageFromFile"),
                                       dict(type="LoadAnnotations", reduce_zero_label=True)],
                             classes=("background", "disc", "square", "triangle", "stripes"))
    report = check_dataset(ds, nproc=1)
    # 'ring' (5) is mapped to 255, then reduce_zero_label turns 0 into 255 and shifts 1..4 down.
    raw = np.zeros(256, np.int64)
    for i in range(4):
        raw += np.bincount(np.array(Image.open(osp.join(
            synthetic_voc_root, "SegmentationClass", f"val_{i:05d}.png"))).ravel(), minlength=256)
    np.testing.assert_array_equal(report.class_pixels, list(raw[1:5]) + [0])
    assert report.ignore_pixels == raw[0] + raw[5] + raw[255]
