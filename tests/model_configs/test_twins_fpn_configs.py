"""configs/twins and configs/sem_fpn (MMSegmentation v0.30.0's files) resolve to MMSeg's values.

The expected values are written out by hand from MMSegmentation v0.30.0's config files
(configs/{twins,sem_fpn}/*.py and configs/_base_/models/{twins_pcpvt-s_fpn,
twins_pcpvt-s_upernet,fpn_r50}.py). Every config is built on the meta device by
tests/model_configs/test_configs_build.py; here the Twins- and FPN-specific shapes.
"""
import warnings
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[2]
URL = "https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/twins/"
SYNC_BN = {"type": "SyncBN", "requires_grad": True}
# variant -> (type, checkpoint, embed_dims, depths, num_heads)
VARIANTS = {
    "pcpvt-s": ("PCPVT", "pcpvt_small_20220308-e638c41c.pth", [64, 128, 320, 512],
                [3, 4, 6, 3], [1, 2, 5, 8]),
    "pcpvt-b": ("PCPVT", "pcpvt_base_20220308-0621964c.pth", [64, 128, 320, 512],
                [3, 4, 18, 3], [1, 2, 5, 8]),
    "pcpvt-l": ("PCPVT", "pcpvt_large_20220308-37579dc6.pth", [64, 128, 320, 512],
                [3, 8, 27, 3], [1, 2, 5, 8]),
    "svt-s": ("SVT", "alt_gvt_small_20220308-7e1c3695.pth", [64, 128, 256, 512],
              [2, 2, 10, 4], [2, 4, 8, 16]),
    "svt-b": ("SVT", "alt_gvt_base_20220308-1b7eb711.pth", [96, 192, 384, 768],
              [2, 2, 18, 2], [3, 6, 12, 24]),
    "svt-l": ("SVT", "alt_gvt_large_20220308-fb5936f3.pth", [128, 256, 512, 1024],
              [2, 2, 18, 2], [4, 8, 16, 32]),
}
# config -> (variant, drop_path_rate, samples_per_gpu)
TWINS = {
    "twins_pcpvt-s_fpn_fpnhead_8x4_512x512_80k_ade20k.py": ("pcpvt-s", 0.2, 4),
    "twins_pcpvt-b_fpn_fpnhead_8x4_512x512_80k_ade20k.py": ("pcpvt-b", 0.2, 4),
    "twins_pcpvt-l_fpn_fpnhead_8x4_512x512_80k_ade20k.py": ("pcpvt-l", 0.2, 4),
    "twins_svt-s_fpn_fpnhead_8x4_512x512_80k_ade20k.py": ("svt-s", 0.2, 4),
    "twins_svt-b_fpn_fpnhead_8x4_512x512_80k_ade20k.py": ("svt-b", 0.2, 4),
    "twins_svt-l_fpn_fpnhead_8x4_512x512_80k_ade20k.py": ("svt-l", 0.3, 4),
    "twins_pcpvt-s_uperhead_8x4_512x512_160k_ade20k.py": ("pcpvt-s", 0.2, 4),
    "twins_pcpvt-b_uperhead_8x2_512x512_160k_ade20k.py": ("pcpvt-b", 0.3, 2),
    "twins_pcpvt-l_uperhead_8x2_512x512_160k_ade20k.py": ("pcpvt-l", 0.3, 2),
    "twins_svt-s_uperhead_8x2_512x512_160k_ade20k.py": ("svt-s", 0.2, 2),
    "twins_svt-b_uperhead_8x2_512x512_160k_ade20k.py": ("svt-b", 0.2, 2),
    "twins_svt-l_uperhead_8x2_512x512_160k_ade20k.py": ("svt-l", 0.3, 2),
}
SEM_FPN = ["fpn_r50_512x1024_80k_cityscapes.py", "fpn_r101_512x1024_80k_cityscapes.py",
           "fpn_r50_512x512_160k_ade20k.py", "fpn_r101_512x512_160k_ade20k.py"]


def test_the_v0_30_0_files_are_all_there():
    assert sorted(p.name for p in (ROOT / "configs/twins").glob("*.py")) == sorted(TWINS)
    assert sorted(p.name for p in (ROOT / "configs/sem_fpn").glob("*.py")) == sorted(SEM_FPN)


def test_pcpvt_fpn_base_model_resolves_to_mmseg_values():
    cfg = Config.fromfile(ROOT / "configs/_base_/models/twins_pcpvt-s_fpn.py")
    assert cfg.model.backbone.to_dict() == {
        "type": "PCPVT", "init_cfg": {"type": "Pretrained",
                                      "checkpoint": URL + "pcpvt_small_20220308-e638c41c.pth"},
        "in_channels": 3, "embed_dims": [64, 128, 320, 512], "num_heads": [1, 2, 5, 8],
        "patch_sizes": [4, 2, 2, 2], "strides": [4, 2, 2, 2], "mlp_ratios": [8, 8, 4, 4],
        "out_indices": (0, 1, 2, 3), "qkv_bias": True, "norm_cfg": {"type": "LN"},
        "depths": [3, 4, 6, 3], "sr_ratios": [8, 4, 2, 1], "norm_after_stage": False,
        "drop_rate": 0.0, "attn_drop_rate": 0.0, "drop_path_rate": 0.2}
    assert cfg.model.neck.to_dict() == {"type": "FPN", "in_channels": [64, 128, 320, 512],
                                        "out_channels": 256, "num_outs": 4}
    assert cfg.model.decode_head.to_dict() == {
        "type": "FPNHead", "in_channels": [256, 256, 256, 256], "in_index": [0, 1, 2, 3],
        "feature_strides": [4, 8, 16, 32], "channels": 128, "dropout_ratio": 0.1,
        "num_classes": 150, "norm_cfg": SYNC_BN, "align_corners": False,
        "loss_decode": {"type": "CrossEntropyLoss", "use_sigmoid": False, "loss_weight": 1.0}}


@pytest.mark.parametrize("name", sorted(TWINS))
def test_each_twins_config_resolves_to_mmseg_values(name):
    variant, drop_path, samples = TWINS[name]
    kind, ckpt, dims, depths, heads = VARIANTS[variant]
    cfg = Config.fromfile(ROOT / "configs/twins" / name)
    b = cfg.model.backbone
    assert (b.type, b.embed_dims, b.depths, b.num_heads) == (kind, dims, depths, heads)
    assert b.init_cfg.to_dict() == {"type": "Pretrained", "checkpoint": URL + ckpt}
    assert b.drop_path_rate == drop_path and b.norm_after_stage == (kind == "SVT")
    assert b.mlp_ratios == ([8, 8, 4, 4] if kind == "PCPVT" else [4, 4, 4, 4])
    if kind == "SVT":
        assert b.windiow_sizes == [7, 7, 7, 7]  # sic: MMSeg's key
    assert cfg.data.samples_per_gpu == samples
    head = cfg.model.decode_head
    assert head.num_classes == 150
    if "_fpn_" in name:
        assert cfg.model.neck.to_dict() == {"type": "FPN", "in_channels": dims,
                                            "out_channels": 256, "num_outs": 4}
        assert head.type == "FPNHead" and "auxiliary_head" not in cfg.model
        assert cfg.optimizer.to_dict() == {"type": "AdamW", "lr": 0.0001,
                                           "weight_decay": 0.0001}
        assert cfg.lr_config.to_dict() == {"policy": "poly", "power": 0.9, "min_lr": 1e-4,
                                           "by_epoch": False}
        assert cfg.runner.max_iters == 80000
    else:
        assert head.type == "UPerHead" and head.in_channels == dims and head.channels == 512
        assert cfg.model.auxiliary_head.in_channels == dims[2]
        assert cfg.optimizer.to_dict() == {
            "type": "AdamW", "lr": 0.00006, "betas": (0.9, 0.999), "weight_decay": 0.01,
            "paramwise_cfg": {"custom_keys": {"pos_block": {"decay_mult": 0.0},
                                              "norm": {"decay_mult": 0.0}}}}
        assert cfg.lr_config.to_dict() == {
            "policy": "poly", "warmup": "linear", "warmup_iters": 1500, "warmup_ratio": 1e-6,
            "power": 1.0, "min_lr": 0.0, "by_epoch": False}
        assert cfg.runner.max_iters == 160000


@pytest.mark.parametrize("name", ["twins_pcpvt-s_fpn_fpnhead_8x4_512x512_80k_ade20k.py",
                                  "twins_svt-l_uperhead_8x2_512x512_160k_ade20k.py"])
def test_built_twins_has_mmseg_shapes(name):
    kind, _, dims, depths, heads = VARIANTS[TWINS[name][0]]
    cfg = Config.fromfile(ROOT / "configs/twins" / name)
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        model = build_segmentor(cfg.model)
    assert model.backbone.out_channels == tuple(dims)
    assert model.backbone.out_strides == (4, 8, 16, 32)
    state = model.state_dict()
    assert tuple(state["backbone.position_encodings.0.proj.weight"].shape) == (
        dims[0], 1, 3, 3)  # PEG: depth-wise 3x3
    assert f"backbone.layers.2.{depths[2] - 1}.ffn.layers.1.weight" in state
    assert ("backbone.norm_list.3.weight" in state) == (kind == "SVT")  # norm_after_stage


@pytest.mark.parametrize("name", SEM_FPN)
def test_each_sem_fpn_config_resolves_to_mmseg_values(name):
    cfg = Config.fromfile(ROOT / "configs/sem_fpn" / name)
    depth = 101 if "r101" in name else 50
    city = "cityscapes" in name
    assert cfg.model.pretrained == f"open-mmlab://resnet{depth}_v1c"
    b = cfg.model.backbone
    assert (b.type, b.depth, b.strides, b.dilations, b.norm_cfg) == (
        "ResNetV1c", depth, (1, 2, 2, 2), (1, 1, 1, 1), SYNC_BN)
    assert cfg.model.neck.to_dict() == {"type": "FPN", "in_channels": [256, 512, 1024, 2048],
                                        "out_channels": 256, "num_outs": 4}
    head = cfg.model.decode_head
    assert (head.type, head.in_channels, head.feature_strides, head.channels) == (
        "FPNHead", [256] * 4, [4, 8, 16, 32], 128)
    assert head.num_classes == (19 if city else 150) and "auxiliary_head" not in cfg.model
    # the default SGD of the schedules: no paramwise_cfg
    assert cfg.optimizer.to_dict() == {"type": "SGD", "lr": 0.01, "momentum": 0.9,
                                       "weight_decay": 0.0005}
    assert cfg.runner.max_iters == (80000 if city else 160000)
    assert cfg.crop_size == ((512, 1024) if city else (512, 512))
    assert cfg.model.test_cfg.to_dict() == {"mode": "whole"}
