"""configs/beit and configs/mae (MMSegmentation v0.30.0's files) resolve to MMSeg's values.

The expected values are written out by hand from MMSegmentation v0.30.0's config files
(configs/{beit,mae}/*.py and configs/_base_/models/upernet_{beit,mae}.py). Every config is built
on the meta device, with its optimizer, by tests/model_configs/test_configs_build.py; here the
layer-wise lr decay those optimizers get: block i at ``lr * layer_decay_rate ** (L + 1 - i)``.
"""
import warnings
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.engine import build_optimizer, parse_optimizer_config
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[2]
BEIT_B = "beit/upernet_beit-base_8x2_640x640_160k_ade20k.py"
BEIT_L = "beit/upernet_beit-large_fp16_8x1_640x640_160k_ade20k.py"
MAE_B = "mae/upernet_mae-base_fp16_8x2_512x512_160k_ade20k.py"
# config -> (single-scale config it extends, or None)
FILES = {
    BEIT_B: None, "beit/upernet_beit-base_640x640_160k_ade20k_ms.py": BEIT_B,
    BEIT_L: None, "beit/upernet_beit-large_fp16_640x640_160k_ade20k_ms.py": BEIT_L,
    MAE_B: None, "mae/upernet_mae-base_fp16_512x512_160k_ade20k_ms.py": MAE_B,
}
# single-scale config -> (pretrained, embed_dims, num_layers, heads, init_values, drop_path,
#                         out_indices, head channels, crop, AdamW lr, layer_decay_rate,
#                         warmup_iters, max_iters)
EXPECTED = {
    BEIT_B: ("pretrain/beit_base_patch16_224_pt22k_ft22k.pth", 768, 12, 12, 0.1, 0.1,
             (3, 5, 7, 11), 768, 640, 3e-5, 0.9, 1500, 160000),
    BEIT_L: ("pretrain/beit_large_patch16_224_pt22k_ft22k.pth", 1024, 24, 16, 1e-6, 0.2,
             [7, 11, 15, 23], 1024, 640, 2e-5, 0.95, 3000, 320000),
    MAE_B: ("./pretrain/mae_pretrain_vit_base_mmcls.pth", 768, 12, 12, 1.0, 0.1,
            [3, 5, 7, 11], 768, 512, 1e-4, 0.65, 1500, 160000),
}


def _load(path) -> Config:
    return Config.fromfile(ROOT / "configs" / path)


def test_the_v0_30_0_files_are_all_there():
    found = sorted(p.relative_to(ROOT / "configs").as_posix()
                   for folder in ("beit", "mae") for p in (ROOT / "configs" / folder).glob("*.py"))
    assert found == sorted(FILES)


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_each_config_resolves_to_mmseg_values(path):
    (pretrained, dims, layers, heads, init_values, drop_path, out_indices, channels, crop, lr,
     rate, warmup, iters) = EXPECTED[path]
    cfg = _load(path)
    model = cfg.model
    assert model.pretrained == pretrained
    b = model.backbone
    assert (b.type, b.embed_dims, b.num_layers, b.num_heads, b.mlp_ratio) == (
        "MAE" if path == MAE_B else "BEiT", dims, layers, heads, 4)
    assert (b.init_values, b.drop_path_rate, b.out_indices) == (init_values, drop_path,
                                                                out_indices)
    assert b.img_size == ((512, 512) if path == MAE_B else (640, 640))
    assert ("qv_bias" in b) == (path != MAE_B)  # MAE has qkv biases; BEiT q and v only
    assert model.neck.to_dict() == {"type": "Feature2Pyramid", "embed_dim": dims,
                                    "rescales": [4, 2, 1, 0.5]}
    head = model.decode_head
    assert (head.type, head.in_channels, head.channels) == ("UPerHead", [dims] * 4, channels)
    assert model.auxiliary_head.in_channels == dims
    assert head.num_classes == model.auxiliary_head.num_classes == 150
    stride = {640: 426, 512: 341}[crop]
    assert model.test_cfg.to_dict() == {"mode": "slide", "crop_size": (crop, crop),
                                        "stride": (stride, stride)}
    assert cfg.crop_size == (crop, crop)
    assert cfg.optimizer.to_dict() == {
        "type": "AdamW", "lr": lr, "betas": (0.9, 0.999), "weight_decay": 0.05,
        "constructor": "LayerDecayOptimizerConstructor",
        "paramwise_cfg": {"num_layers": layers, "layer_decay_rate": rate}}
    assert cfg.lr_config.to_dict() == {
        "policy": "poly", "warmup": "linear", "warmup_iters": warmup, "warmup_ratio": 1e-6,
        "power": 1.0, "min_lr": 0.0, "by_epoch": False}
    assert cfg.runner.max_iters == iters
    assert cfg.data.samples_per_gpu == (1 if path == BEIT_L else 2)
    if path == BEIT_L:
        assert cfg.fp16 == {} and cfg.optimizer_config.to_dict() == {
            "type": "GradientCumulativeFp16OptimizerHook", "cumulative_iters": 2}
        # the runner's step: float16 with mmcv's default loss scale, two batches per step
        step = parse_optimizer_config(cfg.optimizer_config, fp16=cfg.fp16)
        assert (step["amp"], step["loss_scale"], step["cumulative_iters"]) == ("fp16", 512.0, 2)
    elif path == MAE_B:
        assert cfg.fp16 == {"loss_scale": "dynamic"}
    else:
        assert "fp16" not in cfg


@pytest.mark.parametrize("path", sorted(p for p, base in FILES.items() if base))
def test_ms_variants_only_change_the_test_pipeline(path):
    cfg, base = _load(path), _load(FILES[path])
    crop = EXPECTED[FILES[path]][8]
    aug = cfg.data.test.pipeline[1]
    assert aug.to_dict() == {
        "type": "MultiScaleFlipAug", "img_scale": (4 * crop, crop),
        "img_ratios": [0.5, 0.75, 1.0, 1.25, 1.5, 1.75], "flip": True,
        "transforms": [
            {"type": "Resize", "keep_ratio": True, "min_size": crop}, {"type": "RandomFlip"},
            {"type": "Normalize", "mean": [123.675, 116.28, 103.53],
             "std": [58.395, 57.12, 57.375], "to_rgb": True},
            {"type": "ImageToTensor", "keys": ["img"]}, {"type": "Collect", "keys": ["img"]}]}
    assert cfg.data.val.pipeline == cfg.data.test.pipeline
    assert cfg.model == base.model and cfg.optimizer == base.optimizer
    assert cfg.data.train == base.data.train
    assert cfg.data.samples_per_gpu == base.data.samples_per_gpu


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_layer_decay_gives_mmseg_learning_rates(path):
    cfg = _load(path)
    layers, lr, rate = EXPECTED[path][2], EXPECTED[path][9], EXPECTED[path][10]
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")  # layer_decay_rate: MMSeg's deprecated spelling
        model = build_segmentor(cfg.model)
        optimizer = build_optimizer(model, cfg.optimizer)
    assert model.backbone.out_channels == (EXPECTED[path][1],) * 4
    groups = {g["group_name"]: g for g in optimizer.param_groups}
    # ids: 0 for the embeddings, i + 1 for block i, L + 1 for everything else (heads, neck)
    assert groups[f"layer_{layers + 1}_decay"]["lr"] == pytest.approx(lr)
    assert groups["layer_1_decay"]["lr"] == pytest.approx(lr * rate ** layers)
    assert groups["layer_0_no_decay"]["lr"] == pytest.approx(lr * rate ** (layers + 1))
    assert groups["layer_0_no_decay"]["weight_decay"] == 0.0
    assert groups["layer_1_decay"]["weight_decay"] == 0.05
