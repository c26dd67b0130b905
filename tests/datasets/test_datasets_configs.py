"""The shipped dataset configs run their train and test pipelines end to end."""
from __future__ import annotations

import os.path as osp
import shutil
from itertools import islice

import pytest
import torch

from seglab.config import Config
from seglab.datasets import build_dataloader_from_cfg, prepare_batch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATASETS = osp.join(ROOT, "configs", "_base_", "datasets")


def load(name: str, data_root: str, crop=None) -> Config:
    cfg = Config.fromfile(osp.join(DATASETS, name))
    options = {f"data.{s}.data_root": data_root for s in ("train", "val", "test")}
    options["data.workers_per_gpu"] = 0
    options["data.samples_per_gpu"] = 2
    if crop is not None:  # keep the CPU work small: shrink the scale and the crop
        options["data.train.pipeline.2.img_scale"] = (128, 64)
        options["data.train.pipeline.3.crop_size"] = crop
        options["data.train.pipeline.7.size"] = crop
        options["data.val.pipeline.1.img_scale"] = (128, 64)
    cfg.merge_from_dict(options)
    return cfg


def run_train_and_val(cfg: Config, crop):
    train = build_dataloader_from_cfg(cfg.data, "train", seed=0)
    for batch in islice(iter(train), 2):
        assert tuple(batch["img"].shape) == (2, 3) + tuple(crop)
        assert tuple(batch["gt_semantic_seg"].shape) == (2, 1) + tuple(crop)
        ready = prepare_batch(batch, "cpu")
        assert ready["img"].dtype == torch.float32 and ready["img"].abs().max() < 5
    val = build_dataloader_from_cfg(cfg.data, "val", seed=0)
    batch = next(iter(val))
    assert isinstance(batch["img"], list) and batch["img"][0].shape[:2] == (1, 3)
    meta = batch["img_metas"][0][0]
    assert meta["ori_shape"][:2] == tuple(val.dataset.get_gt_seg_map_by_idx(0).shape)
    return train, val


def test_synthetic_voc_config(synthetic_voc_root):
    cfg = load("synthetic_voc.py", synthetic_voc_root)
    assert cfg.data.train.type == "SyntheticVOCDataset"
    assert cfg.data_root == "data/synthetic_voc"  # the default the docs point to
    train, val = run_train_and_val(cfg, (256, 256))
    assert len(val.dataset) == 4


def test_pascal_voc12_and_aug_configs_on_voc_layout(synthetic_voc_root, tmp_path):
    root = str(tmp_path / "voc")
    shutil.copytree(synthetic_voc_root, root)
    run_train_and_val(load("pascal_voc12.py", root, crop=(48, 48)), (48, 48))
    shutil.copytree(osp.join(root, "SegmentationClass"), osp.join(root, "SegmentationClassAug"))
    with open(osp.join(root, "ImageSets", "Segmentation", "aug.txt"), "w") as f:
        f.write("val_00000\nval_00001\nval_00002\n")
    train, _ = run_train_and_val(load("pascal_voc12_aug.py", root, crop=(48, 48)), (48, 48))
    assert len(train.dataset) == 8 + 3


def test_cityscapes_config_on_pseudo_frame(mmseg_testdata):
    root = osp.join(mmseg_testdata, "pseudo_cityscapes_dataset")
    cfg = load("cityscapes.py", root, crop=(32, 64))
    cfg.merge_from_dict({f"data.{s}.{k}": v for s in ("train", "val")
                         for k, v in (("img_dir", "leftImg8bit"), ("ann_dir", "gtFine"))})
    run_train_and_val(cfg, (32, 64))


def test_every_dataset_config_builds_its_pipelines():
    from seglab.datasets.transforms import Compose

    for name in ("ade20k.py", "cityscapes.py", "pascal_voc12.py", "pascal_voc12_aug.py",
                 "synthetic_voc.py"):
        cfg = Config.fromfile(osp.join(DATASETS, name))
        for split in ("train", "val", "test"):
            Compose(cfg.data[split].pipeline)
        assert cfg.data.samples_per_gpu >= 1


@pytest.mark.parametrize("split", ["val", "test"])
def test_eval_datasets_are_built_in_test_mode(synthetic_voc_root, split):
    cfg = load("synthetic_voc.py", synthetic_voc_root)
    loader = build_dataloader_from_cfg(cfg.data, split, seed=0)
    assert loader.dataset.test_mode
    sample = loader.dataset[0]
    assert "gt_semantic_seg" not in sample
