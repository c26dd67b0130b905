"""MMSegmentation 0.x's configs/twins/*.py and configs/sem_fpn/*.py load, resolve to MMSeg's
values and build on the meta device (no memory, no download), which runs the segmentor's
build-time check of the heads against the backbone's / FPN's declared outputs."""
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[1]
TWINS = sorted(p.name for p in (ROOT / "configs/twins").glob("*.py"))
SEM_FPN = sorted(p.name for p in (ROOT / "configs/sem_fpn").glob("*.py"))
PRETRAIN = "https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/twins/"
# name part -> (type, checkpoint stem, embed_dims, depths, num_heads)
VARIANTS = {
    "pcpvt-s": ("PCPVT", "pcpvt_small", [64, 128, 320, 512], [3, 4, 6, 3], [1, 2, 5, 8]),
    "pcpvt-b": ("PCPVT", "pcpvt_base", [64, 128, 320, 512], [3, 4, 18, 3], [1, 2, 5, 8]),
    "pcpvt-l": ("PCPVT", "pcpvt_large", [64, 128, 320, 512], [3, 8, 27, 3], [1, 2, 5, 8]),
    "svt-s": ("SVT", "alt_gvt_small", [64, 128, 256, 512], [2, 2, 10, 4], [2, 4, 8, 16]),
    "svt-b": ("SVT", "alt_gvt_base", [96, 192, 384, 768], [2, 2, 18, 2], [3, 6, 12, 24]),
    "svt-l": ("SVT", "alt_gvt_large", [128, 256, 512, 1024], [2, 2, 18, 2], [4, 8, 16, 32]),
}


def test_all_configs_present():
    assert len(TWINS) == 12 and len(SEM_FPN) == 4


@pytest.mark.parametrize("name", TWINS)
def test_twins_config_resolves_and_builds(name):
    cfg = Config.fromfile(ROOT / "configs/twins" / name)
    variant = name.split("_")[1]
    kind, stem, dims, depths, heads = VARIANTS[variant]
    b = cfg.model.backbone
    assert (b.type, list(b.embed_dims), list(b.depths), list(b.num_heads)) == (
        kind, dims, depths, heads)
    assert b.init_cfg.type == "Pretrained" and b.init_cfg.checkpoint.startswith(PRETRAIN + stem)
    assert b.mlp_ratios == ([8, 8, 4, 4] if kind == "PCPVT" else [4, 4, 4, 4])
    assert b.norm_after_stage == (kind == "SVT")
    if kind == "SVT":
        assert b.windiow_sizes == [7, 7, 7, 7]
    # MMSeg raises stochastic depth for SVT-L, and for PCPVT-B/L with UPerHead only
    deeper = variant == "svt-l" or ("uperhead" in name and variant in ("pcpvt-b", "pcpvt-l"))
    assert b.drop_path_rate == (0.3 if deeper else 0.2)
    head = cfg.model.decode_head
    assert head.num_classes == 150
    if "fpnhead" in name:
        assert cfg.model.neck.type == "FPN" and list(cfg.model.neck.in_channels) == dims
        assert head.type == "FPNHead" and head.feature_strides == [4, 8, 16, 32]
        assert cfg.optimizer == dict(type="AdamW", lr=0.0001, weight_decay=0.0001)
        assert cfg.runner.max_iters == 80000
    else:
        assert head.type == "UPerHead" and list(head.in_channels) == dims
        assert cfg.model.auxiliary_head.in_channels == dims[2]
        assert cfg.optimizer.lr == 6e-5 and cfg.optimizer.paramwise_cfg.custom_keys == {
            "pos_block": dict(decay_mult=0.0), "norm": dict(decay_mult=0.0)}
        assert cfg.lr_config.warmup_iters == 1500 and cfg.runner.max_iters == 160000
        assert cfg.data.samples_per_gpu == (4 if variant == "pcpvt-s" else 2)
    text = cfg.pretty_text
    assert "_delete_" not in text and "_base_ =" not in text and "'_base_'" not in text
    with torch.device("meta"):
        model = build_segmentor(cfg.model)
    assert model.backbone.out_channels == tuple(dims)
    assert model.backbone.out_strides == (4, 8, 16, 32)


@pytest.mark.parametrize("name", SEM_FPN)
def test_sem_fpn_config_resolves_and_builds(name):
    cfg = Config.fromfile(ROOT / "configs/sem_fpn" / name)
    depth = 101 if "r101" in name else 50
    assert cfg.model.pretrained == f"open-mmlab://resnet{depth}_v1c"
    b = cfg.model.backbone
    assert (b.type, b.depth, b.strides, b.dilations) == ("ResNetV1c", depth, (1, 2, 2, 2),
                                                         (1, 1, 1, 1))
    assert cfg.model.neck == dict(type="FPN", in_channels=[256, 512, 1024, 2048],
                                  out_channels=256, num_outs=4)
    head = cfg.model.decode_head
    assert head.type == "FPNHead" and head.channels == 128 and head.dropout_ratio == 0.1
    assert head.num_classes == (19 if "cityscapes" in name else 150)
    assert cfg.runner.max_iters == (80000 if "80k" in name else 160000)
    with torch.device("meta"):
        model = build_segmentor(cfg.model)
    assert model.neck.output_shapes(model.backbone.output_shapes()) is not None
