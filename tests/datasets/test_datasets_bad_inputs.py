"""Every bad-input case of a training sample gives its clear DatasetError, also from a worker."""
from __future__ import annotations

import os
import os.path as osp
import shutil
import warnings

import numpy as np
import pytest
from PIL import Image

from seglab.datasets import SyntheticVOCDataset, build_dataloader
from seglab.errors import DatasetError

PIPELINE = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="RandomCrop", crop_size=(32, 32)),
    dict(type="RandomFlip", prob=0.5),
    dict(type="DefaultFormatBundle"),
    dict(type="Collect", keys=["img", "gt_semantic_seg"]),
]


@pytest.fixture
def voc(synthetic_voc_root, tmp_path) -> str:
    root = str(tmp_path / "voc")
    shutil.copytree(synthetic_voc_root, root)
    return root


def dataset(root: str, **kwargs) -> SyntheticVOCDataset:
    args = dict(data_root=root, img_dir="JPEGImages", ann_dir="SegmentationClass",
                split="ImageSets/Segmentation/train.txt", pipeline=PIPELINE)
    args.update(kwargs)
    return SyntheticVOCDataset(**args)


def label_path(root: str, i: int) -> str:
    return osp.join(root, "SegmentationClass", f"train_{i:05d}.png")


def image_path(root: str, i: int) -> str:
    return osp.join(root, "JPEGImages", f"train_{i:05d}.jpg")


def write_label(path: str, label: np.ndarray) -> None:
    Image.fromarray(label.astype(np.uint8)).save(path)


def test_clean_samples_pass(voc):
    ds = dataset(voc)
    for i in range(len(ds)):
        sample = ds[i]
        assert tuple(sample["img"].shape) == (3, 32, 32)


def test_missing_image(voc):
    os.remove(image_path(voc, 2))
    with pytest.raises(DatasetError, match=r"Image file '.*train_00002\.jpg' does not exist"):
        dataset(voc)[2]


def test_missing_label(voc):
    os.remove(label_path(voc, 3))
    with pytest.raises(DatasetError, match=r"Label file '.*train_00003\.png' does not exist"):
        dataset(voc)[3]


def test_corrupt_image(voc):
    with open(image_path(voc, 1), "wb") as f:
        f.write(b"this is not a jpeg")
    with pytest.raises(DatasetError, match=r"train_00001\.jpg") as info:
        dataset(voc)[1]
    assert "corrupt" in str(info.value)


def test_size_mismatch_names_both_files_and_sizes(voc):
    h, w = np.array(Image.open(label_path(voc, 0))).shape
    write_label(label_path(voc, 0), np.zeros((h + 3, w), np.uint8))
    with pytest.raises(DatasetError) as info:
        dataset(voc)[0]
    msg = str(info.value)
    assert "train_00000.jpg" in msg and "train_00000.png" in msg
    assert f"is {w}x{h} (WxH)" in msg and f"is {w}x{h + 3}" in msg


def test_out_of_range_label_names_file_values_and_tool(voc):
    label = np.array(Image.open(label_path(voc, 4)))
    label[:2, :2] = 7
    label[-1, -1] = 40
    write_label(label_path(voc, 4), label)
    with pytest.raises(DatasetError) as info:
        dataset(voc)[4]
    msg = str(info.value)
    assert "train_00004.png" in msg and "[7, 40]" in msg and "[0, 6)" in msg
    assert "python tools/check_dataset.py CONFIG" in msg


def test_binary_0_255_mask_is_explained_when_255_is_not_ignored(voc):
    h, w = np.array(Image.open(label_path(voc, 5))).shape
    mask = np.zeros((h, w), np.uint8)
    mask[: h // 2] = 255
    write_label(label_path(voc, 5), mask)
    ds = dataset(voc, ignore_index=254)
    with pytest.raises(DatasetError, match=r"binary mask stored as 0/255") as info:
        ds[5]
    assert "color_to_index.py" in str(info.value)


def test_binary_0_255_masks_warn_when_255_is_ignored(voc):
    for i in range(8):
        h, w = np.array(Image.open(label_path(voc, i))).shape
        mask = np.zeros((h, w), np.uint8)
        mask[h // 3:, w // 3:] = 255
        write_label(label_path(voc, i), mask)
    ds = dataset(voc)
    with pytest.warns(UserWarning, match="contain only the values 0 and 255"):
        for i in range(8):
            ds[i]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds[0]  # only once per process


def test_worker_error_reaches_the_main_process_with_the_file_named(voc):
    label = np.array(Image.open(label_path(voc, 6)))
    label[0, 0] = 99
    write_label(label_path(voc, 6), label)
    loader = build_dataloader(dataset(voc), samples_per_gpu=2, workers_per_gpu=2, seed=0,
                              shuffle=False, persistent_workers=False)
    with pytest.raises(DatasetError) as info:
        for _ in loader:
            pass
    msg = str(info.value)
    assert "DataLoader worker process" in msg
    assert "train_00006.png" in msg and "[99]" in msg and "check_dataset.py" in msg


def test_later_transform_errors_name_the_sample(voc):
    def explode(results):
        raise RuntimeError("boom")

    ds = dataset(voc, pipeline=[dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"),
                                explode])
    with pytest.raises(RuntimeError, match="boom") as info:
        ds[3]
    notes = "\n".join(getattr(info.value, "__notes__", []))
    if hasattr(info.value, "add_note"):
        assert "sample 3" in notes and "train_00003.jpg" in notes
