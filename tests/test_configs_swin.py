"""MMSegmentation 0.x's configs/swin/*.py load, resolve to MMSeg's values and build.

tests/test_configs_tree.py loads every config; here each Swin config is also checked for what
its name says (size, window, pre-training resolution) and built on the meta device (no memory,
no download: building never reads the pretrained checkpoint), which runs the segmentor's
build-time check of the heads' in_channels against the backbone's declared outputs.
"""
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[1]
SWIN = sorted(p.name for p in (ROOT / "configs/swin").glob("*.py"))
PRETRAIN = "https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/swin/"
# name part -> (embed_dims, depths, num_heads)
SIZES = {"tiny": (96, [2, 2, 6, 2], [3, 6, 12, 24]), "small": (96, [2, 2, 18, 2], [3, 6, 12, 24]),
         "base": (128, [2, 2, 18, 2], [4, 8, 16, 32]),
         "large": (192, [2, 2, 18, 2], [6, 12, 24, 48])}


def test_all_eight_configs_present():
    assert len(SWIN) == 8


@pytest.mark.parametrize("name", SWIN)
def test_swin_config_resolves_and_builds(name):
    cfg = Config.fromfile(ROOT / "configs/swin" / name)
    for key in ("model", "data", "optimizer", "lr_config", "runner", "log_config"):
        assert key in cfg, f"{name} has no '{key}'"
    backbone = cfg.model.backbone
    size = name.split("_")[2]
    dims, depths, heads = SIZES[size]
    assert (backbone.embed_dims, list(backbone.depths), list(backbone.num_heads)) == (
        dims, depths, heads)
    window = 12 if "window12" in name else 7
    assert backbone.window_size == window
    assert backbone.pretrain_img_size == (384 if window == 12 else 224)
    ckpt = backbone.init_cfg.checkpoint
    assert ckpt.startswith(PRETRAIN) and f"swin_{size}_patch4_window{window}_" in ckpt
    assert ("_22k_" in ckpt) == ("22K" in name)
    assert cfg.model.decode_head.in_channels == [dims * 2 ** i for i in range(4)]
    assert cfg.model.auxiliary_head.in_channels == dims * 4
    assert cfg.model.decode_head.num_classes == cfg.model.auxiliary_head.num_classes == 150
    assert cfg.optimizer.type == "AdamW" and cfg.optimizer.lr == 6e-5
    assert cfg.optimizer.paramwise_cfg.custom_keys["relative_position_bias_table"] == dict(
        decay_mult=0.0)
    assert cfg.data.samples_per_gpu == 2
    text = cfg.pretty_text
    # (not a bare "_base_": the checkpoint names contain "swin_base_patch4")
    assert "_delete_" not in text and "_base_ =" not in text and "'_base_'" not in text
    with torch.device("meta"):
        model = build_segmentor(cfg.model)
    assert model.backbone.out_channels == tuple(dims * 2 ** i for i in range(4))
    assert model.backbone.out_strides == (4, 8, 16, 32)


def test_base_model_file_matches_mmseg():
    cfg = Config.fromfile(ROOT / "configs/_base_/models/upernet_swin.py")
    b = cfg.model.backbone
    assert b.type == "SwinTransformer" and b.strides == (4, 2, 2, 2) and b.mlp_ratio == 4
    assert b.norm_cfg == dict(type="LN", requires_grad=True) and b.drop_path_rate == 0.3
    assert cfg.model.decode_head.norm_cfg == dict(type="BN", requires_grad=True)
    assert cfg.model.decode_head.channels == 512 and cfg.model.auxiliary_head.channels == 256
