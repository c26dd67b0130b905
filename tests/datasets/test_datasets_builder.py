"""build_dataset (lists, repeats, VOC-aug style lists) and build_dataloader (seeding, resume)."""
from __future__ import annotations

import os
import os.path as osp
import shutil
from itertools import islice

import pytest
import torch

from seglab.datasets import (ConcatDataset, InfiniteSampler, RepeatDataset, SeededDataset,
                             SyntheticVOCDataset, build_dataloader, build_dataloader_from_cfg,
                             build_dataset)
from seglab.errors import ConfigError

NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
TRAIN = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="Resize", img_scale=(64, 48), ratio_range=(0.5, 2.0)),
    dict(type="RandomCrop", crop_size=(32, 32), cat_max_ratio=0.75),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion"),
    dict(type="Normalize", **NORM),
    dict(type="Pad", size=(32, 32), pad_val=0, seg_pad_val=255),
    dict(type="DefaultFormatBundle"),
    dict(type="Collect", keys=["img", "gt_semantic_seg"]),
]
TEST = [
    dict(type="LoadImageFromFile"),
    dict(type="MultiScaleFlipAug", img_scale=(64, 48), flip=False, transforms=[
        dict(type="Resize", keep_ratio=True), dict(type="RandomFlip"),
        dict(type="Normalize", **NORM), dict(type="ImageToTensor", keys=["img"]),
        dict(type="Collect", keys=["img"])]),
]


def cfg(root, subset="train", pipeline=TRAIN, **kwargs):
    c = dict(type="SyntheticVOCDataset", data_root=root, img_dir="JPEGImages",
             ann_dir="SegmentationClass", split=f"ImageSets/Segmentation/{subset}.txt",
             pipeline=pipeline)
    c.update(kwargs)
    return c


def batches(loader, n):
    out = []
    for batch in islice(iter(loader), n):
        out.append((batch["img"].clone(), batch["gt_semantic_seg"].clone(),
                    [m["ori_filename"] for m in batch["img_metas"]]))
    return out


def assert_same(a, b):
    assert len(a) == len(b)
    for (ia, la, na), (ib, lb, nb) in zip(a, b):
        assert na == nb
        assert torch.equal(ia, ib) and torch.equal(la, lb)


def test_zero_and_two_workers_give_identical_batches(synthetic_voc_root):
    ds = build_dataset(cfg(synthetic_voc_root))
    l0 = build_dataloader(ds, samples_per_gpu=3, workers_per_gpu=0, seed=7)
    l2 = build_dataloader(ds, samples_per_gpu=3, workers_per_gpu=2, seed=7)
    assert isinstance(l0.sampler, InfiniteSampler) and isinstance(l0.dataset, SeededDataset)
    b0, b2 = batches(l0, 5), batches(l2, 5)  # 15 samples: crosses an epoch boundary (8)
    assert_same(b0, b2)
    assert b0[0][0].dtype == torch.uint8 and b0[0][1].dtype == torch.int64
    other = batches(build_dataloader(ds, 3, 0, seed=8), 5)
    assert any(not torch.equal(x[0], y[0]) for x, y in zip(b0, other))


def test_loader_skip_resumes_the_exact_batches(synthetic_voc_root):
    ds = build_dataset(cfg(synthetic_voc_root))
    full = batches(build_dataloader(ds, 2, 0, seed=11), 6)
    resumed = build_dataloader(ds, 2, 2, seed=11)
    resumed.sampler.skip(2 * 4)  # 4 iterations of 2 samples already done
    assert_same(batches(resumed, 2), full[4:])


def test_data_loading_leaves_the_main_process_rng_alone(synthetic_voc_root):
    ds = build_dataset(cfg(synthetic_voc_root))
    loader = build_dataloader(ds, 2, 0, seed=1)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    batches(loader, 2)
    assert torch.equal(torch.rand(3), expected)


def test_test_loader_keeps_dataset_order(synthetic_voc_root):
    ds = build_dataset(cfg(synthetic_voc_root, "val", TEST), dict(test_mode=True))
    loader = build_dataloader(ds, 1, 0, shuffle=False, seed=0)
    names = [b["img_metas"][0][0]["ori_filename"] for b in loader]
    assert names == [f"val_{i:05d}.jpg" for i in range(4)]
    assert loader.dataset is ds and not loader.pin_memory


def test_build_dataloader_from_data_section(synthetic_voc_root):
    data = dict(samples_per_gpu=2, workers_per_gpu=0, train=cfg(synthetic_voc_root),
                val=cfg(synthetic_voc_root, "val", TEST),
                val_dataloader=dict(workers_per_gpu=0))
    train = build_dataloader_from_cfg(data, "train", seed=0)
    assert train.batch_size == 2 and isinstance(train.sampler, InfiniteSampler)
    val = build_dataloader_from_cfg(data, "val", seed=0)
    assert val.batch_size == 1 and val.dataset.test_mode and len(val) == 4
    with pytest.raises(ConfigError, match="no 'test' dataset"):
        build_dataloader_from_cfg(data, "test")


def test_seed_none_draws_a_seed(synthetic_voc_root):
    ds = build_dataset(cfg(synthetic_voc_root))
    loader = build_dataloader(ds, 2, 0, seed=None)
    assert isinstance(loader.sampler.seed, int)


def test_list_of_configs_and_repeat(synthetic_voc_root):
    both = build_dataset([cfg(synthetic_voc_root), cfg(synthetic_voc_root, "val")])
    assert isinstance(both, ConcatDataset) and len(both) == 12
    assert both.get_dataset_idx_and_sample_idx(9) == (1, 1)
    assert both.img_infos[9]["filename"] == "val_00001.jpg"
    rep = build_dataset(dict(type="RepeatDataset", times=3, dataset=cfg(synthetic_voc_root)))
    assert isinstance(rep, RepeatDataset) and len(rep) == 24
    assert rep.CLASSES == SyntheticVOCDataset.CLASSES
    with pytest.raises(ConfigError, match="exactly the keys"):
        build_dataset(dict(type="RepeatDataset", times=2, dataset=cfg(synthetic_voc_root), x=1))


def test_voc_aug_style_lists_build_one_part_per_split(synthetic_voc_root, tmp_path):
    root = str(tmp_path / "voc")
    shutil.copytree(synthetic_voc_root, root)
    shutil.copytree(osp.join(root, "SegmentationClass"), osp.join(root, "SegmentationClassAug"))
    split_dir = osp.join(root, "ImageSets", "Segmentation")
    with open(osp.join(split_dir, "aug.txt"), "w") as f:
        f.write("val_00000\nval_00001\n")
    ds = build_dataset(cfg(root, ann_dir=["SegmentationClass", "SegmentationClassAug"],
                           split=["ImageSets/Segmentation/train.txt",
                                  "ImageSets/Segmentation/aug.txt"]))
    assert isinstance(ds, ConcatDataset) and [len(d) for d in ds.datasets] == [8, 2]
    assert ds.datasets[1].ann_dir == osp.join(root, "SegmentationClassAug")
    assert ds.sample_paths(9)[1] == osp.join(root, "SegmentationClassAug", "val_00001.png")
    assert ds[9]["gt_semantic_seg"].shape[-2:] == (32, 32)
    with pytest.raises(ConfigError, match="do not match"):
        build_dataset(cfg(root, ann_dir=["SegmentationClass", "SegmentationClassAug"],
                          split=["ImageSets/Segmentation/train.txt"] * 3))
    os.remove(osp.join(split_dir, "aug.txt"))


def test_not_a_dict_is_a_config_error():
    with pytest.raises(ConfigError, match="must be a dict"):
        build_dataset("CustomDataset")
