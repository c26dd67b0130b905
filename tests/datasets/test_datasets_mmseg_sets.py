"""The MMSegmentation 0.x datasets beyond VOC / ADE20K / Cityscapes: their CLASSES, PALETTE and
fixed keys (values written out from MMSeg v0.30.0's mmseg/datasets/*.py), their shipped
``_base_/datasets`` configs on MMSeg's own sample data (LoveDA, Potsdam, Vaihingen, iSAID, the
pseudo Cityscapes frame) or on a planted tree, and LoveDA's format_results."""
from __future__ import annotations

import os
import os.path as osp
import shutil
from itertools import islice

import numpy as np
import pytest
from PIL import Image

from seglab.config import Config
from seglab.datasets import (ADE20KDataset, CityscapesDataset, COCOStuffDataset,
                             DarkZurichDataset, FaceOccludedDataset, ISPRSDataset, LoveDADataset,
                             NightDrivingDataset, PascalContextDataset, PascalContextDataset59,
                             PotsdamDataset, build_dataloader_from_cfg, build_dataset,
                             iSAIDDataset)
from seglab.errors import DatasetError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASE = osp.join(ROOT, "configs/_base_/datasets")


def _load(config: str, options: dict) -> Config:
    cfg = Config.fromfile(config if osp.isabs(config) else osp.join(BASE, config))
    cfg.merge_from_dict({"data.workers_per_gpu": 0, "data.samples_per_gpu": 2, **options})
    return cfg


def _small_train(prefix: str = "data.train") -> dict:
    # A 32 px crop of a <= 64 px scale keeps the CPU work small.
    return {f"{prefix}.pipeline.2.img_scale": (64, 64),
            f"{prefix}.pipeline.3.crop_size": (32, 32),
            f"{prefix}.pipeline.7.size": (32, 32)}


def _reduced(raw: np.ndarray) -> np.ndarray:
    return np.where(raw == 0, 255, raw.astype(np.int64) - 1).astype(np.uint8)


def test_classes_and_palettes_are_mmsegs():
    assert LoveDADataset.CLASSES == ("background", "building", "road", "water", "barren",
                                     "forest", "agricultural")
    assert LoveDADataset.PALETTE == [[255, 255, 255], [255, 0, 0], [255, 255, 0], [0, 0, 255],
                                     [159, 129, 183], [0, 255, 0], [255, 195, 128]]
    for cls in (PotsdamDataset, ISPRSDataset):
        assert cls.CLASSES == ("impervious_surface", "building", "low_vegetation", "tree", "car",
                               "clutter")
        assert cls.PALETTE == [[255, 255, 255], [0, 0, 255], [0, 255, 255], [0, 255, 0],
                               [255, 255, 0], [255, 0, 0]]
    assert len(iSAIDDataset.CLASSES) == len(iSAIDDataset.PALETTE) == 16
    assert iSAIDDataset.CLASSES[::5] == ("background", "basketball_court", "Helicopter", "Harbor")
    assert iSAIDDataset.PALETTE[9] == [0, 0, 127] and iSAIDDataset.PALETTE[-1] == [0, 100, 155]
    assert len(PascalContextDataset.CLASSES) == len(PascalContextDataset.PALETTE) == 60
    assert PascalContextDataset.CLASSES[::20] == ("background", "cow", "pottedplant")
    assert PascalContextDataset.PALETTE[-1] == [31, 0, 255]
    assert PascalContextDataset59.CLASSES == PascalContextDataset.CLASSES[1:]
    assert PascalContextDataset59.PALETTE[0] == [180, 120, 120]
    assert len(PascalContextDataset59.PALETTE) == 59
    # MMSeg shares the first 60 ADE20K colours with Pascal Context
    assert PascalContextDataset.PALETTE == ADE20KDataset.PALETTE[:60]
    assert len(COCOStuffDataset.CLASSES) == len(COCOStuffDataset.PALETTE) == 171
    assert COCOStuffDataset.CLASSES[::40] == ("person", "wine glass", "banner", "metal",
                                              "wall-concrete")
    assert COCOStuffDataset.PALETTE[:2] == [[0, 192, 64], [0, 192, 64]]
    assert COCOStuffDataset.PALETTE[-1] == [64, 64, 0]
    assert FaceOccludedDataset.CLASSES == ("background", "face")
    assert FaceOccludedDataset.PALETTE == [[0, 0, 0], [128, 0, 0]]
    for cls in (DarkZurichDataset, NightDrivingDataset):
        assert cls.CLASSES == CityscapesDataset.CLASSES and cls.PALETTE == CityscapesDataset.PALETTE
        assert issubclass(cls, CityscapesDataset)


@pytest.mark.parametrize("config, folder, cls, names", [
    ("loveda.py", "pseudo_loveda_dataset", LoveDADataset, ["0.png", "1.png", "2.png"]),
    ("potsdam.py", "pseudo_potsdam_dataset", PotsdamDataset, ["2_10_0_0_512_512.png"]),
    ("vaihingen.py", "pseudo_vaihingen_dataset", ISPRSDataset, ["area1_0_0_512_512.png"]),
])
def test_reduce_zero_label_sets_on_mmseg_sample_data(config, folder, cls, names, mmseg_testdata):
    root = osp.join(mmseg_testdata, folder)
    options = {f"data.{s}.{k}": v for s in ("train", "val") for k, v in
               (("data_root", root), ("img_dir", "img_dir"), ("ann_dir", "ann_dir"))}
    cfg = _load(config, {**options, **_small_train()})
    val = build_dataloader_from_cfg(cfg.data, "val", seed=0).dataset
    assert type(val) is cls and val.test_mode and val.reduce_zero_label
    assert [i["filename"] for i in val.img_infos] == names
    assert [i["ann"]["seg_map"] for i in val.img_infos] == names
    raw = np.array(Image.open(osp.join(root, "ann_dir", names[0])))
    np.testing.assert_array_equal(val.get_gt_seg_map_by_idx(0), _reduced(raw))
    batch = next(islice(iter(build_dataloader_from_cfg(cfg.data, "train", seed=0)), 1))
    assert tuple(batch["img"].shape) == (2, 3, 32, 32)
    values = set(np.unique(batch["gt_semantic_seg"].numpy()).tolist())
    assert values <= set(range(len(cls.CLASSES))) | {255}


def test_loveda_format_results_writes_class_indices_without_palette(mmseg_testdata, tmp_path):
    root = osp.join(mmseg_testdata, "pseudo_loveda_dataset")
    ds = LoveDADataset(pipeline=[], data_root=root, img_dir="img_dir", ann_dir="ann_dir")
    rng = np.random.default_rng(0)
    preds = [rng.integers(0, 7, (6, 5)) for _ in range(2)]
    files = ds.format_results(preds, str(tmp_path / "out"), indices=[2, 0])
    assert files == [str(tmp_path / "out" / "2.png"), str(tmp_path / "out" / "0.png")]
    for path, pred in zip(files, preds):
        image = Image.open(path)
        assert image.mode == "L"  # the server reads grey levels 0..6, not a palette image
        np.testing.assert_array_equal(np.array(image), pred)
    with pytest.raises(DatasetError, match="list of label maps"):
        ds.format_results(np.zeros((2, 2)), str(tmp_path / "bad"))


def test_loveda_format_only_test_run_writes_the_server_files(mmseg_testdata, tmp_path):
    """tools/test.py --format-only's path: the shipped LoveDA test set, a tiny 7-class model."""
    import sys

    sys.path.insert(0, osp.join(ROOT, "tests", "apis"))
    from apis_helpers import tiny_model

    from seglab.apis.test import run_test

    root = osp.join(mmseg_testdata, "pseudo_loveda_dataset")
    cfg = _load("loveda.py", {"data.test.data_root": root, "data.test.img_dir": "img_dir",
                              "data.test.ann_dir": "ann_dir",
                              "data.test.pipeline.1.img_scale": (48, 48)})
    loader = build_dataloader_from_cfg(cfg.data, "test", seed=0)
    prefix = tmp_path / "submit"
    out = run_test(tiny_model(num_classes=7), loader, keep_predictions=True, format_only=True,
                   format_args=dict(imgfile_prefix=str(prefix)), logger="silent")
    assert sorted(os.listdir(prefix)) == ["0.png", "1.png", "2.png"]
    for name, pred in zip(("0.png", "1.png", "2.png"), out.predictions):
        image = Image.open(prefix / name)
        assert image.mode == "L" and image.size == (1024, 1024)
        np.testing.assert_array_equal(np.array(image), pred)
    assert len(np.unique(np.concatenate([p.ravel() for p in out.predictions]))) > 1


def test_isaid_lists_instance_color_labels(mmseg_testdata):
    root = osp.join(mmseg_testdata, "pseudo_isaid_dataset")
    options = {f"data.train.{k}": v for k, v in
               (("data_root", root), ("img_dir", "img_dir"), ("ann_dir", "ann_dir"))}
    scanned = build_dataset(_load("isaid.py", options).data.train)
    assert type(scanned) is iSAIDDataset and scanned.ignore_index == 255
    assert [(i["filename"], i["ann"]["seg_map"]) for i in scanned.img_infos] == [
        (f"P0000_0_896_{box}.png", f"P0000_0_896_{box}_instance_color_RGB.png")
        for box in ("1024_1920", "1536_2432")]
    split = iSAIDDataset(pipeline=[], data_root=root, img_dir="img_dir", ann_dir="ann_dir",
                         split="splits/train.txt")
    assert [i["ann"]["seg_map"] for i in split.img_infos] == [
        "P0000_0_896_1536_2432_instance_color_RGB.png"]
    assert all(osp.isfile(osp.join(root, "ann_dir", i["ann"]["seg_map"]))
               for i in split.img_infos)
    # MMSeg's iSAID sample files are empty (listing only): loading one says so
    with pytest.raises(DatasetError, match=r"P0000_0_896_1024_1920.png is empty \(0 bytes\)"):
        build_dataset(_load("isaid.py", options).data.train)[0]


@pytest.mark.parametrize("config, cls, img_suffix, seg_suffix", [
    ("pspnet/pspnet_r50-d8_512x1024_80k_dark.py", DarkZurichDataset, "_rgb_anon.png",
     "_gt_labelTrainIds.png"),
    ("pspnet/pspnet_r50-d8_512x1024_40k_night_driving.py", NightDrivingDataset,
     "_leftImg8bit.png", "_gtCoarse_labelTrainIds.png"),
])
def test_night_scene_test_sets_read_their_suffixes(config, cls, img_suffix, seg_suffix,
                                                   mmseg_testdata, tmp_path):
    src = osp.join(mmseg_testdata, "pseudo_cityscapes_dataset")
    frame = "frankfurt_000000_000294"
    for sub in ("img", "ann"):
        os.makedirs(tmp_path / sub)
    shutil.copy(osp.join(src, "leftImg8bit", f"{frame}_leftImg8bit.png"),
                tmp_path / "img" / f"{frame}{img_suffix}")
    shutil.copy(osp.join(src, "gtFine", f"{frame}_gtFine_labelTrainIds.png"),
                tmp_path / "ann" / f"{frame}{seg_suffix}")
    Image.new("RGB", (8, 8)).save(tmp_path / "img" / "other_leftImg8bit_x.jpg")  # not listed
    cfg = _load(osp.join(ROOT, "configs", config), {
        "data.test.data_root": str(tmp_path), "data.test.img_dir": "img",
        "data.test.ann_dir": "ann", "data.test.pipeline.1.img_scale": (64, 32)})
    loader = build_dataloader_from_cfg(cfg.data, "test", seed=0)
    ds = loader.dataset
    assert type(ds) is cls and [i["filename"] for i in ds.img_infos] == [f"{frame}{img_suffix}"]
    np.testing.assert_array_equal(
        ds.get_gt_seg_map_by_idx(0),
        np.array(Image.open(osp.join(src, "gtFine", f"{frame}_gtFine_labelTrainIds.png"))))
    batch = next(iter(loader))
    assert tuple(batch["img"][0].shape[-2:]) == (32, 64)


def _plant(root, img_dir: str, ann_dir: str, names, img_suffix: str, seg_suffix: str,
           labels, split=None) -> None:
    rng = np.random.default_rng(0)
    os.makedirs(osp.join(root, img_dir), exist_ok=True)
    os.makedirs(osp.join(root, ann_dir), exist_ok=True)
    for name in names:
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(
            osp.join(root, img_dir, name + img_suffix))
        Image.fromarray(rng.choice(labels, (24, 32)).astype(np.uint8)).save(
            osp.join(root, ann_dir, name + seg_suffix))
    if split is not None:
        os.makedirs(osp.dirname(osp.join(root, split)), exist_ok=True)
        with open(osp.join(root, split), "w", encoding="utf-8") as f:
            f.write("\n".join(names[:1]) + "\n")


@pytest.mark.parametrize("config, cls, reduce", [
    ("pascal_context.py", PascalContextDataset, False),
    ("pascal_context_59.py", PascalContextDataset59, True),
])
def test_pascal_context_configs(config, cls, reduce, tmp_path):
    root = str(tmp_path)
    _plant(root, "JPEGImages", "SegmentationClassContext", ["a", "b"], ".jpg", ".png",
           [0, 1, 59], split="ImageSets/SegmentationContext/val.txt")
    val = build_dataset(_load(config, {"data.val.data_root": root}).data.val,
                        dict(test_mode=True))
    assert type(val) is cls and val.reduce_zero_label is reduce
    assert [i["filename"] for i in val.img_infos] == ["a.jpg"]  # from the split file only
    raw = np.array(Image.open(osp.join(root, "SegmentationClassContext", "a.png")))
    np.testing.assert_array_equal(val.get_gt_seg_map_by_idx(0), _reduced(raw) if reduce else raw)


def test_coco_stuff_10k_config_reduces_zero_label(tmp_path):
    root = str(tmp_path)
    _plant(root, "images/test2014", "annotations/test2014", ["c1"], ".jpg", "_labelTrainIds.png",
           [0, 1, 171])
    val = build_dataset(_load("coco-stuff10k.py", {"data.val.data_root": root}).data.val,
                        dict(test_mode=True))
    assert type(val) is COCOStuffDataset and val.reduce_zero_label
    assert val.img_infos[0]["ann"]["seg_map"] == "c1_labelTrainIds.png"
    raw = np.array(Image.open(osp.join(root, "annotations/test2014", "c1_labelTrainIds.png")))
    np.testing.assert_array_equal(val.get_gt_seg_map_by_idx(0), _reduced(raw))


def test_occlude_face_trains_on_three_folders(tmp_path):
    root = str(tmp_path)
    for sub in ("NatOcc_hand_sot", "NatOcc_object", "RandOcc"):
        _plant(root, f"{sub}/img", f"{sub}/mask", [f"{sub}_1", f"{sub}_2"], ".jpg", ".png",
               [0, 1])
    with open(osp.join(root, "train.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(f"{s}_{i}" for s in ("NatOcc_hand_sot", "NatOcc_object", "RandOcc")
                          for i in (1, 2)))
    cfg = _load("occlude_face.py", {f"data.train.{i}.data_root": root for i in range(3)})
    train = build_dataset(cfg.data.train)
    assert len(train) == 3 * 6 and len(train.datasets) == 3  # each lists the shared split file
    assert all(type(d) is FaceOccludedDataset for d in train.datasets)
    sample = train.datasets[0][0]  # the full train pipeline, RandomRotate included
    assert tuple(sample["img"].shape) == (3, 384, 512)
    assert set(np.unique(sample["gt_semantic_seg"].numpy())) <= {0, 1, 255}
