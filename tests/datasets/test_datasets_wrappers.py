"""ConcatDataset / RepeatDataset: index mapping, evaluation per part or together."""
from __future__ import annotations

import os.path as osp

import numpy as np
import pytest

from seglab.datasets import ConcatDataset, CustomDataset, RepeatDataset
from seglab.errors import DatasetError

LOAD = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations")]


class FourClasses(CustomDataset):
    CLASSES = ("a", "b", "c", "d")
    PALETTE = [[1, 1, 1], [2, 2, 2], [3, 3, 3], [4, 4, 4]]


def part(root: str, split: str) -> FourClasses:
    return FourClasses(pipeline=LOAD, data_root=osp.join(root, "pseudo_dataset"), img_dir="imgs",
                       ann_dir="gts", img_suffix="_img.jpg", seg_map_suffix="_gt.png",
                       split=f"splits/{split}.txt")


def test_repeat_dataset_cycles():
    rep = RepeatDataset(["a", "b"], 3)
    assert len(rep) == 6 and [rep[i] for i in range(6)] == ["a", "b"] * 3
    with pytest.raises(DatasetError, match="times must be >= 1"):
        RepeatDataset(["a"], 0)


def test_concat_maps_indices_and_delegates(mmseg_testdata):
    train, val = part(mmseg_testdata, "train"), part(mmseg_testdata, "val")
    ds = ConcatDataset([train, val])
    assert len(ds) == 5 and ds.CLASSES == FourClasses.CLASSES
    assert ds.get_dataset_idx_and_sample_idx(4) == (1, 0)
    assert ds.get_dataset_idx_and_sample_idx(-1) == (1, 0)
    assert ds.get_dataset_idx_and_sample_idx(3) == (0, 3)
    np.testing.assert_array_equal(ds.get_gt_seg_map_by_idx(4), val.get_gt_seg_map_by_idx(0))
    assert ds[4]["img_info"]["filename"] == "00004_img.jpg"


def test_concat_evaluation_separate_and_together(mmseg_testdata):
    train, val = part(mmseg_testdata, "train"), part(mmseg_testdata, "val")
    ds = ConcatDataset([train, val])
    preds = [np.zeros((128, 256), np.int64) for _ in range(5)]
    pre = ds.pre_eval(preds, list(range(5)))
    separate = ds.evaluate(pre, logger="silent")
    assert separate["0_mIoU"] == train.evaluate(train.pre_eval(preds[:4], [0, 1, 2, 3]),
                                                logger="silent")["mIoU"]
    assert separate["1_mIoU"] == val.evaluate(val.pre_eval(preds[4], 0), logger="silent")["mIoU"]
    together = ConcatDataset([train, val], separate_eval=False).evaluate(pre, logger="silent")
    whole = part(mmseg_testdata, "train")
    whole.img_infos = train.img_infos + val.img_infos
    assert together == whole.evaluate(whole.pre_eval(preds, list(range(5))), logger="silent")
    with pytest.raises(DatasetError, match="got 4 results for 5 samples"):
        ds.evaluate(pre[:4])


def test_concat_format_results_per_part(mmseg_testdata, tmp_path):
    ds = ConcatDataset([part(mmseg_testdata, "train"), part(mmseg_testdata, "val")])
    files = ds.format_results([np.ones((3, 3), np.int64)] * 2, str(tmp_path), indices=[1, 4])
    assert files == [osp.join(str(tmp_path), "0", "00001_img.png"),
                     osp.join(str(tmp_path), "1", "00004_img.png")]


def test_concat_refuses_different_classes(mmseg_testdata):
    other = FourClasses(pipeline=LOAD, data_root=osp.join(mmseg_testdata, "pseudo_dataset"),
                        img_dir="imgs", img_suffix="_img.jpg", classes=("b", "a"))
    with pytest.raises(DatasetError, match="must share classes"):
        ConcatDataset([part(mmseg_testdata, "train"), other])
