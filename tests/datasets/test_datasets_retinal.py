"""DRIVE / STARE / CHASE_DB1 / HRF: MMSeg's classes and file suffixes; their shipped configs
(the UNet configs' datasets) load a planted tree through the train and test pipelines."""
from __future__ import annotations

import os
import os.path as osp
from itertools import islice

import numpy as np
import pytest
from PIL import Image

from seglab.config import Config
from seglab.datasets import (ChaseDB1Dataset, DRIVEDataset, HRFDataset, STAREDataset,
                             build_dataloader_from_cfg)
from seglab.errors import RegistryError
from seglab.registry import DATASETS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# config file, class, label suffix (MMSegmentation 0.x mmseg/datasets/{drive,stare,...}.py)
CASES = [("drive.py", DRIVEDataset, "_manual1.png"), ("stare.py", STAREDataset, ".ah.png"),
         ("chase_db1.py", ChaseDB1Dataset, "_1stHO.png"), ("hrf.py", HRFDataset, ".png")]


def _plant(root: str, suffix: str, names=("01", "02")) -> None:
    rng = np.random.default_rng(0)
    for split in ("training", "validation"):
        os.makedirs(osp.join(root, "images", split))
        os.makedirs(osp.join(root, "annotations", split))
        for name in names:
            Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(
                osp.join(root, "images", split, f"{name}.png"))
            Image.fromarray(rng.integers(0, 2, (40, 48), dtype=np.uint8)).save(
                osp.join(root, "annotations", split, f"{name}{suffix}"))


def test_classes_palette_and_suffixes_are_mmsegs():
    for _, cls, suffix in CASES:
        assert cls.CLASSES == ("background", "vessel")
        assert cls.PALETTE == [[120, 120, 120], [6, 230, 230]]
        assert cls.SEG_MAP_SUFFIX == suffix and DATASETS.get(cls.__name__) is cls


@pytest.mark.parametrize("config, cls, suffix", CASES)
def test_config_runs_train_and_test_pipelines(config, cls, suffix, tmp_path):
    root = str(tmp_path / "data")
    _plant(root, suffix)
    cfg = Config.fromfile(osp.join(ROOT, "configs/_base_/datasets", config))
    options = {f"data.{s}.data_root": root for s in ("val", "test")}
    options.update({"data.train.dataset.data_root": root, "data.workers_per_gpu": 0,
                    "data.samples_per_gpu": 2,
                    # keep the CPU work small: a 32x32 crop of a 48x40 scale
                    "data.train.dataset.pipeline.2.img_scale": (48, 40),
                    "data.train.dataset.pipeline.3.crop_size": (32, 32),
                    "data.train.dataset.pipeline.7.size": (32, 32)})
    cfg.merge_from_dict(options)
    train = build_dataloader_from_cfg(cfg.data, "train", seed=0)
    wrappers, inner = [], train.dataset
    while not isinstance(inner, cls):  # the loader's wrappers, then the config's RepeatDataset
        wrappers.append(inner)
        inner = inner.dataset
    assert type(inner) is cls and wrappers[-1].times == 40000
    assert [(i["filename"], i["ann"]["seg_map"]) for i in inner.img_infos] == [
        ("01.png", f"01{suffix}"), ("02.png", f"02{suffix}")]
    batch = next(islice(iter(train), 1))
    assert tuple(batch["img"].shape) == (2, 3, 32, 32)
    assert set(np.unique(batch["gt_semantic_seg"].numpy())) <= {0, 1, 255}
    val = build_dataloader_from_cfg(cfg.data, "val", seed=0)
    assert val.dataset.test_mode and len(val.dataset) == 2
    np.testing.assert_array_equal(
        val.dataset.get_gt_seg_map_by_idx(0),
        np.array(Image.open(osp.join(root, "annotations/validation", f"01{suffix}"))))


def test_fixed_keys_are_refused(tmp_path):
    _plant(str(tmp_path), "_manual1.png", names=("01",))
    with pytest.raises(RegistryError, match="reduce_zero_label"):
        DATASETS.build(dict(type="DRIVEDataset", data_root=str(tmp_path),
                            img_dir="images/training", ann_dir="annotations/training",
                            pipeline=[], reduce_zero_label=True))
