"""CustomDataset on MMSeg's pseudo_dataset: listing, classes/label_map, ground truth, evaluation."""
from __future__ import annotations

import os.path as osp

import numpy as np
import pytest
from PIL import Image

from seglab.datasets import CustomDataset
from seglab.errors import DatasetError

LOAD = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations")]


def pseudo(root: str, **kwargs) -> CustomDataset:
    args = dict(pipeline=LOAD, img_dir=osp.join(root, "pseudo_dataset/imgs"),
                ann_dir=osp.join(root, "pseudo_dataset/gts"), img_suffix="_img.jpg",
                seg_map_suffix="_gt.png")
    args.update(kwargs)
    return CustomDataset(**args)


class FourClasses(CustomDataset):
    CLASSES = ("a", "b", "c", "d")
    PALETTE = [[10, 0, 0], [20, 0, 0], [30, 0, 0], [40, 0, 0]]


def raw_label(root: str, name: str) -> np.ndarray:
    return np.array(Image.open(osp.join(root, "pseudo_dataset/gts", f"{name}_gt.png")))


def test_scan_lists_every_pair_sorted(mmseg_testdata):
    ds = pseudo(mmseg_testdata)
    assert len(ds) == 5
    assert [i["filename"] for i in ds.img_infos] == [f"0000{i}_img.jpg" for i in range(5)]
    assert [i["ann"]["seg_map"] for i in ds.img_infos] == [f"0000{i}_gt.png" for i in range(5)]


def test_split_and_data_root(mmseg_testdata):
    ds = pseudo(mmseg_testdata, data_root=osp.join(mmseg_testdata, "pseudo_dataset"),
                img_dir="imgs", ann_dir="gts", split="splits/train.txt")
    assert ds.img_dir == osp.join(mmseg_testdata, "pseudo_dataset", "imgs")
    assert [i["filename"] for i in ds.img_infos] == [f"0000{i}_img.jpg" for i in range(4)]
    both = pseudo(mmseg_testdata, data_root=osp.join(mmseg_testdata, "pseudo_dataset"),
                  img_dir="imgs", ann_dir="gts", split=["splits/train.txt", "splits/val.txt"])
    assert len(both) == 5


def test_gt_seg_map_is_the_raw_palette_index_map(mmseg_testdata):
    ds = pseudo(mmseg_testdata)
    for idx in range(5):
        gt = ds.get_gt_seg_map_by_idx(idx)
        np.testing.assert_array_equal(gt, raw_label(mmseg_testdata, f"0000{idx}"))
    assert len(list(ds.get_gt_seg_maps())) == 5


def test_train_item_loads_image_and_label(mmseg_testdata):
    item = pseudo(mmseg_testdata)[1]
    assert item["img"].shape == (128, 256, 3) and item["img"].dtype == np.uint8
    np.testing.assert_array_equal(item["gt_semantic_seg"], raw_label(mmseg_testdata, "00001"))
    assert item["img_prefix"].endswith("imgs") and item["seg_fields"] == ["gt_semantic_seg"]


def test_custom_classes_subset_remaps_labels(mmseg_testdata):
    ds = FourClasses(pipeline=LOAD, img_dir=osp.join(mmseg_testdata, "pseudo_dataset/imgs"),
                     ann_dir=osp.join(mmseg_testdata, "pseudo_dataset/gts"),
                     img_suffix="_img.jpg", seg_map_suffix="_gt.png", classes=("d", "b"))
    assert ds.CLASSES == ("d", "b")
    assert ds.label_map == {0: 255, 1: 1, 2: 255, 3: 0}
    assert ds.PALETTE == [[40, 0, 0], [20, 0, 0]]
    raw = raw_label(mmseg_testdata, "00002")
    expected = np.full_like(raw, 255)
    expected[raw == 3] = 0
    expected[raw == 1] = 1
    np.testing.assert_array_equal(ds.get_gt_seg_map_by_idx(2), expected)
    np.testing.assert_array_equal(ds[2]["gt_semantic_seg"], expected)


def test_classes_from_file_and_unknown_class(mmseg_testdata, tmp_path):
    names = tmp_path / "classes.txt"
    names.write_text("b\nc\n")
    ds = FourClasses(pipeline=LOAD, img_dir=osp.join(mmseg_testdata, "pseudo_dataset/imgs"),
                     img_suffix="_img.jpg", classes=str(names))
    assert ds.CLASSES == ("b", "c") and ds.label_map == {0: 255, 1: 0, 2: 1, 3: 255}
    with pytest.raises(DatasetError, match=r"\['zebra'\] are not classes of FourClasses"):
        FourClasses(pipeline=LOAD, img_dir=osp.join(mmseg_testdata, "pseudo_dataset/imgs"),
                    img_suffix="_img.jpg", classes=("a", "zebra"))


def test_classes_without_base_classes_get_a_fixed_palette(mmseg_testdata):
    a = pseudo(mmseg_testdata, classes=("x", "y", "z", "w"))
    b = pseudo(mmseg_testdata, classes=("x", "y", "z", "w"))
    assert a.label_map is None and a.CLASSES == ("x", "y", "z", "w")
    assert np.asarray(a.PALETTE).shape == (4, 3)
    np.testing.assert_array_equal(a.PALETTE, b.PALETTE)
    state = np.random.get_state()[1].copy()
    pseudo(mmseg_testdata, classes=("x", "y"))
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # global RNG untouched


def test_reduce_zero_label_ground_truth(mmseg_testdata):
    ds = pseudo(mmseg_testdata, reduce_zero_label=True, classes=("p", "q", "r"))
    raw = raw_label(mmseg_testdata, "00000").astype(np.int64)
    expected = np.where(raw == 0, 255, raw - 1)
    np.testing.assert_array_equal(ds.get_gt_seg_map_by_idx(0), expected)


def test_test_mode_needs_classes(mmseg_testdata):
    with pytest.raises(DatasetError, match="needs class names"):
        pseudo(mmseg_testdata, test_mode=True)
    ds = pseudo(mmseg_testdata, test_mode=True, classes=("a", "b", "c", "d"),
                pipeline=[dict(type="LoadImageFromFile")])
    item = ds[0]
    assert "gt_semantic_seg" not in item and item["img"].shape == (128, 256, 3)


def test_pre_eval_and_evaluate(mmseg_testdata, capsys):
    ds = pseudo(mmseg_testdata, classes=("a", "b", "c", "d"))
    gts = [raw_label(mmseg_testdata, f"0000{i}") for i in range(5)]
    preds = [np.zeros_like(g) for g in gts]  # everything predicted as class 0
    pre = ds.pre_eval(preds, list(range(5)))
    assert len(pre) == 5
    result = ds.evaluate(pre, metric=["mIoU", "mDice"])
    out = capsys.readouterr().out
    assert "per class results:" in out and "Summary:" in out and "mIoU" in out

    labels = np.concatenate([g.ravel() for g in gts])
    valid = labels != 255
    iou0 = np.sum(valid & (labels == 0)) / np.sum(valid)
    assert result["IoU.a"] == pytest.approx(np.round(iou0 * 100, 2) / 100)
    assert result["IoU.b"] == 0.0
    assert result["aAcc"] == pytest.approx(np.round(iou0 * 100, 2) / 100)
    # The same numbers from the arrays themselves (eval_metrics path).
    from_arrays = ds.evaluate(preds, metric=["mIoU", "mDice"], logger="silent")
    assert from_arrays.keys() == result.keys()
    for key, value in result.items():  # float64 vs float32 areas: same 2-decimal percentages
        assert from_arrays[key] == pytest.approx(value, abs=1e-6), key
    with pytest.raises(KeyError, match="not supported"):
        ds.evaluate(pre, metric="mAP")
    with pytest.raises(TypeError, match="unexpected arguments"):
        ds.evaluate(pre, metirc="mIoU")


def test_perfect_predictions_score_one(mmseg_testdata):
    ds = pseudo(mmseg_testdata, classes=("a", "b", "c", "d"))
    preds = [ds.get_gt_seg_map_by_idx(i).astype(np.int64) for i in range(5)]
    preds = [np.where(p == 255, 0, p) for p in preds]
    result = ds.evaluate(ds.pre_eval(preds, list(range(5))), logger="silent")
    assert result["mIoU"] == 1.0 and result["aAcc"] == 1.0


def test_evaluate_without_classes_explains(mmseg_testdata):
    ds = pseudo(mmseg_testdata)
    with pytest.raises(DatasetError, match="no class names"):
        ds.pre_eval([np.zeros((128, 256), np.int64)], [0])


def test_format_results_writes_palette_pngs(mmseg_testdata, tmp_path):
    ds = FourClasses(pipeline=LOAD, img_dir=osp.join(mmseg_testdata, "pseudo_dataset/imgs"),
                     img_suffix="_img.jpg")
    preds = [np.full((4, 5), i % 4, np.int64) for i in range(2)]
    files = ds.format_results(preds, str(tmp_path / "out"), indices=[3, 4])
    assert [osp.basename(f) for f in files] == ["00003_img.png", "00004_img.png"]
    with Image.open(files[1]) as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.array(im), preds[1])
        assert im.getpalette()[:6] == [10, 0, 0, 20, 0, 0]


def test_missing_directories_and_split(mmseg_testdata, tmp_path):
    with pytest.raises(DatasetError, match=r"img_dir '.*nowhere/imgs' of CustomDataset does not"):
        pseudo(mmseg_testdata, data_root=str(tmp_path / "nowhere"), img_dir="imgs")
    with pytest.raises(DatasetError, match=r"ann_dir '.*no_gts' .* does not exist"):
        pseudo(mmseg_testdata, ann_dir=str(tmp_path / "no_gts"))
    with pytest.raises(DatasetError, match=r"Split file '.*missing\.txt' does not exist"):
        pseudo(mmseg_testdata, split=str(tmp_path / "missing.txt"))


def test_unknown_key_and_remote_backend_are_refused(mmseg_testdata):
    from seglab.datasets import build_dataset
    from seglab.errors import ConfigError, RegistryError

    cfg = dict(type="CustomDataset", pipeline=LOAD, img_dir=osp.join(
        mmseg_testdata, "pseudo_dataset/imgs"), img_sufix="_img.jpg")
    with pytest.raises(RegistryError, match="did you mean 'img_suffix'"):
        build_dataset(cfg)
    with pytest.raises(ConfigError, match="local disk"):
        pseudo(mmseg_testdata, file_client_args=dict(backend="petrel"))


def test_list_of_folders_points_to_build_dataset(mmseg_testdata):
    with pytest.raises(DatasetError, match="handled by build_dataset"):
        pseudo(mmseg_testdata, ann_dir=["a", "b"])
