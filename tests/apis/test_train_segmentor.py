"""seglab.apis.train: train_segmentor with evaluation, seeds, devices, workflow, SyncBN and with_cp.

Tiny smoke config (configs/demo/fcn_tiny_synthetic_voc_smoke.py) on a 4-image, 32 px synthetic
dataset; every run is 1-4 iterations in this process.
"""
import json
import logging
import os.path as osp
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from seglab.apis.train import get_train_device, init_random_seed, train_segmentor
from seglab.config import Config
from seglab.datasets import build_dataset
from seglab.engine import IterBasedRunner, set_random_seed
from seglab.errors import ConfigError
from seglab.models import build_segmentor
from seglab.models.layers.norm import reset_syncbn_warning
from train_helpers import SMOKE, data_root, load_train_tool, restore_torch_globals  # noqa: F401


def smoke_cfg(data_root, work_dir, **options):
    cfg = Config.fromfile(SMOKE)
    cfg.merge_from_dict({f"data.{s}.data_root": data_root for s in ("train", "val", "test")})
    cfg.merge_from_dict(options)
    cfg.work_dir = str(work_dir)
    cfg.seed = 0
    cfg.device = "cpu"
    return cfg


def build(cfg):
    set_random_seed(cfg.seed)
    model = build_segmentor(cfg.model)
    model.init_weights()
    return model, build_dataset(cfg.data.train)


def json_records(work_dir):
    (path,) = Path(work_dir).glob("*.log.json")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_init_random_seed():
    assert init_random_seed(7) == 7
    drawn = {init_random_seed() for _ in range(5)}
    assert all(isinstance(s, int) and 0 <= s < 2**31 for s in drawn)
    assert len(drawn) > 1  # drawn, not a constant


def test_get_train_device():
    assert get_train_device({"device": "cpu"}) == torch.device("cpu")
    default = get_train_device({})
    assert default.type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available.*--device cpu"):
            get_train_device({"device": "cuda"})


def test_train_segmentor_evaluates_and_keeps_the_best_checkpoint(data_root, tmp_path):
    cfg = smoke_cfg(data_root, tmp_path)
    model, dataset = build(cfg)
    runner = train_segmentor(model, [dataset], cfg, validate=True, timestamp="20000101_000000",
                             meta=dict(seed=0, exp_name="smoke.py"))
    assert isinstance(runner, IterBasedRunner) and runner.iter == 4
    records = json_records(tmp_path)
    assert (tmp_path / "20000101_000000.log.json").exists()
    assert records[0] == dict(seed=0, exp_name="smoke.py")
    assert [r["iter"] for r in records if r.get("mode") == "train"] == [1, 2, 3, 4]
    (val,) = [r for r in records if r.get("mode") == "val"]
    assert val["iter"] == 4 and 0.0 <= val["mIoU"] <= 1.0 and 0.0 < val["aAcc"] <= 1.0
    assert "IoU.background" in val and "Acc.ring" in val
    assert osp.isfile(tmp_path / "best_mIoU_iter_4.pth")
    best = torch.load(tmp_path / "best_mIoU_iter_4.pth", weights_only=True)
    assert best["meta"]["hook_msgs"]["best_score"] == pytest.approx(val["mIoU"], abs=1e-5)


def test_evaluation_interval_and_no_validate(data_root, tmp_path):
    cfg = smoke_cfg(data_root, tmp_path / "a", **{"evaluation.interval": 2,
                                                   "evaluation.save_best": None})
    model, dataset = build(cfg)
    train_segmentor(model, dataset, cfg, validate=True)
    assert [r["iter"] for r in json_records(tmp_path / "a") if r.get("mode") == "val"] == [2, 4]
    assert not list((tmp_path / "a").glob("best_*.pth"))

    cfg = smoke_cfg(data_root, tmp_path / "b", **{"runner.max_iters": 2})
    model, dataset = build(cfg)
    train_segmentor(model, dataset, cfg, validate=False)
    assert [r.get("mode") for r in json_records(tmp_path / "b")[1:]] == ["train", "train"]


def test_val_workflow_phase_is_replaced_by_evaluation_with_a_warning(data_root, tmp_path, caplog):
    cfg = smoke_cfg(data_root, tmp_path, workflow=[("train", 1), ("val", 1)],
                    **{"runner.max_iters": 1, "checkpoint_config.interval": -1})
    model, dataset = build(cfg)
    val = build_dataset(cfg.data.val)
    logger = logging.getLogger("seglab")
    logger.addHandler(caplog.handler)
    try:
        runner = train_segmentor(model, [dataset, val], cfg, validate=False)
    finally:
        logger.removeHandler(caplog.handler)
    assert runner.iter == 1
    assert "does not run MMSeg's ('val', N) phase" in caplog.text


def test_bad_workflow_is_a_config_error(data_root, tmp_path):
    cfg = smoke_cfg(data_root, tmp_path, workflow=[("val", 1)])
    model, dataset = build(cfg)
    with pytest.raises(ConfigError, match=r"no \('train', N\) phase"):
        train_segmentor(model, dataset, cfg)


def test_validation_without_val_data_is_a_config_error(data_root, tmp_path):
    cfg = smoke_cfg(data_root, tmp_path)
    cfg.data.pop("val")
    model, dataset = build(cfg)
    with pytest.raises(ConfigError, match="needs data.val.*--no-validate"):
        train_segmentor(model, dataset, cfg, validate=True)


TRAIN_TOOL = load_train_tool("seglab_tools_train_b")


def run_tool(data_root, work_dir, *options):
    return TRAIN_TOOL.main([str(SMOKE), "--work-dir", str(work_dir), "--no-validate", "--seed", "0",
                            "--options", *[f"data.{s}.data_root={data_root}" for s in ("train", "val")],
                            "runner.max_iters=2", *options])


def test_syncbn_config_trains_on_one_device_with_one_warning(data_root, tmp_path):
    syncbn = [f"model.{part}.norm_cfg.type=SyncBN" for part in ("backbone", "decode_head",
                                                                "auxiliary_head")]
    reset_syncbn_warning()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run_tool(data_root, tmp_path / "sync", *syncbn) == 0
    messages = [str(w.message) for w in caught if "SyncBN" in str(w.message)]
    assert len(messages) == 1 and "BatchNorm2d instead" in messages[0]
    assert Config.fromfile(tmp_path / "sync" / SMOKE.name).model.backbone.norm_cfg.type == "SyncBN"
    # The same state_dict keys as a BN model, and trained: the BN statistics moved.
    ckpt = torch.load(tmp_path / "sync" / "latest.pth", weights_only=True)
    assert ckpt["meta"]["iter"] == 2
    assert "backbone.stem.1.running_mean" in ckpt["state_dict"]
    assert int(ckpt["state_dict"]["backbone.stem.1.num_batches_tracked"]) == 2


def test_with_cp_option_trains_to_the_same_weights(data_root, tmp_path):
    assert run_tool(data_root, tmp_path / "cp", "model.backbone.with_cp=True") == 0
    assert run_tool(data_root, tmp_path / "plain") == 0
    assert Config.fromfile(tmp_path / "cp" / SMOKE.name).model.backbone.with_cp is True
    cp = torch.load(tmp_path / "cp" / "latest.pth", weights_only=True)["state_dict"]
    plain = torch.load(tmp_path / "plain" / "latest.pth", weights_only=True)["state_dict"]
    # Checkpointing recomputes the forward pass for the gradients: same parameters. (BN running
    # statistics are updated again by the recomputation, as with mmcv, so they are not compared.)
    params = [k for k in plain if not k.endswith(("running_mean", "running_var",
                                                  "num_batches_tracked"))]
    for key in params:
        np.testing.assert_allclose(cp[key].numpy(), plain[key].numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=key)
