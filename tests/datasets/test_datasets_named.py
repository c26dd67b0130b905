"""PascalVOCDataset, CityscapesDataset and ADE20KDataset: classes, files, label maps, results."""
from __future__ import annotations

import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from seglab.datasets import (ADE20KDataset, CityscapesDataset, PascalVOCDataset,
                             SyntheticVOCDataset, build_dataset)
from seglab.errors import DatasetError

LOAD = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations")]

# MMSegmentation 0.x PascalVOCDataset.PALETTE, as published.
MMSEG_VOC_PALETTE = [
    [0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128],
    [0, 128, 128], [128, 128, 128], [64, 0, 0], [192, 0, 0], [64, 128, 0], [192, 128, 0],
    [64, 0, 128], [192, 0, 128], [64, 128, 128], [192, 128, 128], [0, 64, 0], [128, 64, 0],
    [0, 192, 0], [128, 192, 0], [0, 64, 128]]
# MMSegmentation 0.x CityscapesDataset.PALETTE, as published.
MMSEG_CITYSCAPES_PALETTE = [
    [128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153],
    [153, 153, 153], [250, 170, 30], [220, 220, 0], [107, 142, 35], [152, 251, 152],
    [70, 130, 180], [220, 20, 60], [255, 0, 0], [0, 0, 142], [0, 0, 70], [0, 60, 100],
    [0, 80, 100], [0, 0, 230], [119, 11, 32]]


def test_class_tables_match_mmseg():
    assert len(PascalVOCDataset.CLASSES) == 21 and PascalVOCDataset.CLASSES[15] == "person"
    assert PascalVOCDataset.PALETTE == MMSEG_VOC_PALETTE
    assert len(CityscapesDataset.CLASSES) == 19 and CityscapesDataset.CLASSES[-1] == "bicycle"
    assert CityscapesDataset.PALETTE == MMSEG_CITYSCAPES_PALETTE
    assert len(ADE20KDataset.CLASSES) == 150 == len(ADE20KDataset.PALETTE)
    assert ADE20KDataset.CLASSES[7] == "bed " and ADE20KDataset.PALETTE[-1] == [92, 0, 255]


def test_voc_lists_split_and_reads_palette_labels(synthetic_voc_root):
    ds = PascalVOCDataset(data_root=synthetic_voc_root, img_dir="JPEGImages",
                          ann_dir="SegmentationClass", split="ImageSets/Segmentation/val.txt",
                          pipeline=LOAD)
    assert [i["filename"] for i in ds.img_infos] == [f"val_{i:05d}.jpg" for i in range(4)]
    for i in range(4):
        raw = np.array(Image.open(osp.join(synthetic_voc_root, "SegmentationClass",
                                           f"val_{i:05d}.png")))
        np.testing.assert_array_equal(ds.get_gt_seg_map_by_idx(i), raw)
        np.testing.assert_array_equal(ds[i]["gt_semantic_seg"], raw)
    with pytest.raises(DatasetError, match="needs split"):
        PascalVOCDataset(data_root=synthetic_voc_root, img_dir="JPEGImages", split=None,
                         pipeline=LOAD)


def test_voc_classes_subset(synthetic_voc_root):
    ds = SyntheticVOCDataset(data_root=synthetic_voc_root, img_dir="JPEGImages",
                             ann_dir="SegmentationClass",
                             split="ImageSets/Segmentation/train.txt", pipeline=LOAD,
                             classes=("background", "ring", "disc"))
    assert ds.label_map == {0: 0, 1: 2, 2: 255, 3: 255, 4: 255, 5: 1}
    assert ds.PALETTE == [SyntheticVOCDataset.PALETTE[i] for i in (0, 5, 1)]
    for i in range(len(ds)):
        gt = ds.get_gt_seg_map_by_idx(i)
        assert set(np.unique(gt)) <= {0, 1, 2, 255}


def test_cityscapes_pseudo_frame(mmseg_testdata):
    root = osp.join(mmseg_testdata, "pseudo_cityscapes_dataset")
    ds = build_dataset(dict(type="CityscapesDataset", data_root=root, img_dir="leftImg8bit",
                            ann_dir="gtFine", pipeline=LOAD))
    frame = "frankfurt_000000_000294"
    assert ds.img_infos == [dict(filename=f"{frame}_leftImg8bit.png",
                                 ann=dict(seg_map=f"{frame}_gtFine_labelTrainIds.png"))]
    train_ids = np.array(Image.open(osp.join(root, "gtFine",
                                             "frankfurt_000000_000294_gtFine_labelTrainIds.png")))
    np.testing.assert_array_equal(ds.get_gt_seg_map_by_idx(0), train_ids)
    sample = ds[0]
    assert sample["img"].shape == (128, 256, 3)
    assert set(np.unique(sample["gt_semantic_seg"])) <= set(range(19)) | {255}


def test_cityscapes_format_results_writes_label_ids(mmseg_testdata, tmp_path):
    root = osp.join(mmseg_testdata, "pseudo_cityscapes_dataset")
    ds = CityscapesDataset(data_root=root, img_dir="leftImg8bit", ann_dir="gtFine", pipeline=LOAD)
    train_ids = ds.get_gt_seg_map_by_idx(0)
    label_ids = np.array(Image.open(osp.join(root, "gtFine",
                                             "frankfurt_000000_000294_gtFine_labelIds.png")))
    (out,) = ds.format_results([train_ids.astype(np.int64)], str(tmp_path))
    assert osp.basename(out) == "frankfurt_000000_000294_leftImg8bit.png"
    written = np.array(Image.open(out))
    valid = train_ids != 255
    # The two pseudo files were resized separately, so a few boundary pixels disagree.
    assert np.mean(written[valid] == label_ids[valid]) > 0.99
    assert set(np.unique(written[valid]).tolist()) == {7, 8, 11, 13, 17, 20, 21, 23, 24, 26}
    assert (written[~valid] == 0).all()  # not evaluated -> 'unlabeled'
    (same,) = ds.format_results([train_ids], str(tmp_path / "raw"), to_label_id=False)
    np.testing.assert_array_equal(np.array(Image.open(same)), train_ids)
    with pytest.raises(DatasetError, match="metric='cityscapes'"):
        ds.evaluate([], metric="cityscapes")


@pytest.fixture
def tiny_ade(tmp_path) -> str:
    root = tmp_path / "ade"
    (root / "images" / "validation").mkdir(parents=True)
    (root / "annotations" / "validation").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("ADE_val_00000001", "ADE_val_00000002"):
        Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(
            root / "images" / "validation" / f"{name}.jpg")
        label = rng.integers(0, 151, (20, 30)).astype(np.uint8)
        Image.fromarray(label).save(root / "annotations" / "validation" / f"{name}.png")
    return str(root)


def test_ade_reduces_zero_label(tiny_ade, tmp_path):
    ds = ADE20KDataset(data_root=tiny_ade, img_dir="images/validation",
                       ann_dir="annotations/validation",
                       pipeline=[dict(type="LoadImageFromFile"),
                                 dict(type="LoadAnnotations", reduce_zero_label=True)])
    assert ds.reduce_zero_label and len(ds) == 2
    raw = np.array(Image.open(osp.join(tiny_ade, "annotations/validation/ADE_val_00000002.png")))
    expected = np.where(raw == 0, 255, raw.astype(np.int64) - 1)
    np.testing.assert_array_equal(ds.get_gt_seg_map_by_idx(1), expected)
    np.testing.assert_array_equal(ds[1]["gt_semantic_seg"], expected)
    pred = np.where(expected == 255, 0, expected)
    (out,) = ds.format_results([pred], str(tmp_path / "res"), indices=[1])
    np.testing.assert_array_equal(np.array(Image.open(out)), pred + 1)
    assert ds.evaluate(ds.pre_eval([pred], [1]), logger="silent")["aAcc"] == 1.0


def test_ade_label_above_150_is_out_of_range(tiny_ade):
    path = osp.join(tiny_ade, "annotations/validation/ADE_val_00000001.png")
    label = np.array(Image.open(path))
    label[0, 0] = 200
    Image.fromarray(label).save(path)
    ds = ADE20KDataset(data_root=tiny_ade, img_dir="images/validation",
                       ann_dir="annotations/validation",
                       pipeline=[dict(type="LoadImageFromFile"),
                                 dict(type="LoadAnnotations", reduce_zero_label=True)])
    with pytest.raises(DatasetError, match=r"\[199\] outside the valid range"):
        ds[0]
    os.remove(path)
