"""The MMSegmentation 1.2.2 PIDNet and DDRNet configs (1.x only, configs/1.x/pidnet, ddrnet):
every file present, and the values that matter after seglab's 1.x conversion, written out by
hand from MMSeg's files (model arguments, pretrained checkpoints, losses, the edge transform,
schedule, batch, crop, seed). That each one builds: test_configs_1x_build.py."""
from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from seglab.config import Config, convert_1x_config

ROOT = Path(__file__).resolve().parents[2]
PRE = "https://download.openmmlab.com/mmsegmentation/v0.5/"
CLASS_WEIGHT_ENDS = (0.8373, 1.0507)  # 19 weights (OCNet's Cityscapes weights)
# file -> (backbone arguments, head (in_channels, channels), pretrained checkpoint)
PIDNET = {
    "pidnet-s_2xb6-120k_1024x1024-cityscapes.py": (
        dict(channels=32, ppm_channels=96, num_stem_blocks=2, num_branch_blocks=3), (128, 128),
        "pretrain/pidnet/pidnet-s_imagenet1k_20230306-715e6273.pth"),
    "pidnet-m_2xb6-120k_1024x1024-cityscapes.py": (
        dict(channels=64, ppm_channels=96, num_stem_blocks=2, num_branch_blocks=3), (256, 128),
        "pretrain/pidnet/pidnet-m_imagenet1k_20230306-39893c52.pth"),
    "pidnet-l_2xb6-120k_1024x1024-cityscapes.py": (
        dict(channels=64, ppm_channels=112, num_stem_blocks=3, num_branch_blocks=4), (256, 256),
        "pretrain/pidnet/pidnet-l_imagenet1k_20230306-67889109.pth"),
}
DDRNET = {
    "ddrnet_23-slim_in1k-pre_2xb6-120k_cityscapes-1024x1024.py": (
        dict(channels=32, ppm_channels=128), (128, 64),
        "ddrnet/pretrain/ddrnet23s-in1kpre_3rdparty-1ccac5b1.pth"),
    "ddrnet_23_in1k-pre_2xb6-120k_cityscapes-1024x1024.py": (
        dict(channels=64, ppm_channels=128), (256, 128),
        "ddrnet/pretrain/ddrnet23-in1kpre_3rdparty-9ca29f62.pth"),
}


def _converted(family: str, name: str) -> Config:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert_1x_config(Config.fromfile(ROOT / "configs/1.x" / family / name))


@pytest.mark.parametrize("family,names", [("pidnet", PIDNET), ("ddrnet", DDRNET)])
def test_every_file_is_present(family, names):
    files = {p.name for p in (ROOT / "configs/1.x" / family).glob("*.py")}
    assert files == set(names)


def _check_common(cfg: Config, backbone_args: dict, head: tuple, checkpoint: str, kind: str):
    model = cfg.model
    assert model.type == "EncoderDecoder" and model.test_cfg == dict(mode="whole")
    backbone = model.backbone
    assert backbone.type == kind and backbone.in_channels == 3 and not backbone.align_corners
    assert {k: backbone[k] for k in backbone_args} == backbone_args
    assert backbone.norm_cfg == dict(type="SyncBN", requires_grad=True)
    assert backbone.init_cfg == dict(type="Pretrained", checkpoint=PRE + checkpoint)
    decode = model.decode_head
    assert (decode.in_channels, decode.channels, decode.num_classes) == head + (19,)
    for loss in decode.loss_decode:
        if "class_weight" in loss:
            weights = loss.class_weight
            assert len(weights) == 19 and (weights[0], weights[-1]) == CLASS_WEIGHT_ENDS
    assert cfg.optimizer == dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=0.0005)
    assert cfg.lr_config.schedulers == [dict(type="PolyLR", eta_min=0, power=0.9, begin=0,
                                             end=120000)]
    assert cfg.runner == dict(type="IterBasedRunner", max_iters=120000)
    assert cfg.checkpoint_config.interval == 12000 and cfg.evaluation.interval == 12000
    assert cfg.data.samples_per_gpu == 6 and cfg.data.train.type == "CityscapesDataset"
    assert cfg.seed == 304
    steps = {t["type"]: t for t in cfg.data.train.pipeline}
    assert steps["RandomCrop"] == dict(type="RandomCrop", crop_size=(1024, 1024),
                                       cat_max_ratio=0.75)
    assert steps["RandomResize"]["scale"] == (2048, 1024)
    return steps


@pytest.mark.parametrize("name", sorted(PIDNET))
def test_pidnet_values(name):
    cfg = _converted("pidnet", name)
    steps = _check_common(cfg, *PIDNET[name], kind="PIDNet")
    assert steps["GenerateEdge"] == dict(type="GenerateEdge", edge_width=4)
    decode = cfg.model.decode_head
    assert decode.type == "PIDHead" and decode.align_corners is True
    assert [(d.type, d.loss_weight) for d in decode.loss_decode] == [
        ("CrossEntropyLoss", 0.4), ("OhemCrossEntropy", 1.0), ("BoundaryLoss", 20.0),
        ("OhemCrossEntropy", 1.0)]
    assert [(d.thres, d.min_kept) for d in decode.loss_decode if "thres" in d] == [
        (0.9, 131072)] * 2


@pytest.mark.parametrize("name", sorted(DDRNET))
def test_ddrnet_values(name):
    cfg = _converted("ddrnet", name)
    steps = _check_common(cfg, *DDRNET[name], kind="DDRNet")
    assert "GenerateEdge" not in steps
    decode = cfg.model.decode_head
    assert decode.type == "DDRHead" and decode.dropout_ratio == 0 and not decode.align_corners
    assert [(d.type, d.thres, d.min_kept, d.loss_weight) for d in decode.loss_decode] == [
        ("OhemCrossEntropy", 0.9, 131072, 1.0), ("OhemCrossEntropy", 0.9, 131072, 0.4)]
    assert cfg.data.workers_per_gpu == 4
