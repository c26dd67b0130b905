"""configs/segformer (MMSegmentation v0.30.0's files) resolve to MMSeg's values.

The expected values are written out by hand from MMSegmentation v0.30.0's config files
(configs/segformer/*.py and configs/_base_/models/segformer_mit-b0.py). Every config is built on
the meta device by tests/model_configs/test_configs_build.py; here the MiT-specific shapes.
"""
import warnings
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[2]
SEGFORMER = sorted((ROOT / "configs/segformer").glob("*.py"))
URL = "https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/"
CKPT = {"b0": "mit_b0_20220624-7e0fe6dd.pth", "b1": "mit_b1_20220624-02e5a6a1.pth",
        "b2": "mit_b2_20220624-66e8bf70.pth", "b3": "mit_b3_20220624-13b1141c.pth",
        "b4": "mit_b4_20220624-d588d980.pth", "b5": "mit_b5_20220624-658746d9.pth"}
LAYERS = {"b0": [2, 2, 2, 2], "b1": [2, 2, 2, 2], "b2": [3, 4, 6, 3], "b3": [3, 4, 18, 3],
          "b4": [3, 8, 27, 3], "b5": [3, 6, 40, 3]}
OPTIMIZER = {"type": "AdamW", "lr": 0.00006, "betas": (0.9, 0.999), "weight_decay": 0.01,
             "paramwise_cfg": {"custom_keys": {"pos_block": {"decay_mult": 0.0},
                                               "norm": {"decay_mult": 0.0},
                                               "head": {"lr_mult": 10.0}}}}
LR_CONFIG = {"policy": "poly", "warmup": "linear", "warmup_iters": 1500, "warmup_ratio": 1e-6,
             "power": 1.0, "min_lr": 0.0, "by_epoch": False}


def test_the_v0_30_0_files_are_all_there():
    assert [p.name for p in SEGFORMER] == sorted(
        [f"segformer_mit-{b}_512x512_160k_ade20k.py" for b in CKPT]
        + [f"segformer_mit-{b}_8x1_1024x1024_160k_cityscapes.py" for b in CKPT]
        + ["segformer_mit-b5_640x640_160k_ade20k.py"])


def test_b0_ade20k_resolves_to_mmseg_values():
    cfg = Config.fromfile(ROOT / "configs/segformer/segformer_mit-b0_512x512_160k_ade20k.py")
    model = cfg.to_dict()["model"]
    assert model == {
        "type": "EncoderDecoder", "pretrained": URL + CKPT["b0"],
        "backbone": {"type": "MixVisionTransformer", "in_channels": 3, "embed_dims": 32,
                     "num_stages": 4, "num_layers": [2, 2, 2, 2], "num_heads": [1, 2, 5, 8],
                     "patch_sizes": [7, 3, 3, 3], "sr_ratios": [8, 4, 2, 1],
                     "out_indices": (0, 1, 2, 3), "mlp_ratio": 4, "qkv_bias": True,
                     "drop_rate": 0.0, "attn_drop_rate": 0.0, "drop_path_rate": 0.1},
        "decode_head": {"type": "SegformerHead", "in_channels": [32, 64, 160, 256],
                        "in_index": [0, 1, 2, 3], "channels": 256, "dropout_ratio": 0.1,
                        "num_classes": 150, "norm_cfg": {"type": "SyncBN", "requires_grad": True},
                        "align_corners": False,
                        "loss_decode": {"type": "CrossEntropyLoss", "use_sigmoid": False,
                                        "loss_weight": 1.0}},
        "train_cfg": {}, "test_cfg": {"mode": "whole"}}
    assert cfg.optimizer.to_dict() == OPTIMIZER
    assert cfg.lr_config.to_dict() == LR_CONFIG
    assert (cfg.data.samples_per_gpu, cfg.data.workers_per_gpu) == (2, 2)
    assert cfg.runner.max_iters == 160000 and cfg.crop_size == (512, 512)


def test_cityscapes_1024_resolves_to_mmseg_values():
    cfg = Config.fromfile(
        ROOT / "configs/segformer/segformer_mit-b0_8x1_1024x1024_160k_cityscapes.py")
    assert cfg.model.pretrained is None
    assert cfg.model.backbone.init_cfg.to_dict() == {"type": "Pretrained",
                                                    "checkpoint": URL + CKPT["b0"]}
    assert cfg.model.test_cfg.to_dict() == {"mode": "slide", "crop_size": (1024, 1024),
                                            "stride": (768, 768)}
    assert cfg.model.decode_head.num_classes == 19 and cfg.crop_size == (1024, 1024)
    assert cfg.train_pipeline[2] == {"type": "Resize", "img_scale": (2048, 1024),
                                     "ratio_range": (0.5, 2.0)}
    assert cfg.train_pipeline[3].crop_size == (1024, 1024)
    assert cfg.data.train.pipeline == cfg.train_pipeline
    assert cfg.data.test.pipeline[1].img_scale == (2048, 1024)
    assert (cfg.data.samples_per_gpu, cfg.data.workers_per_gpu) == (1, 1)
    assert cfg.optimizer.to_dict() == OPTIMIZER and cfg.lr_config.to_dict() == LR_CONFIG


@pytest.mark.parametrize("variant", ["b1", "b2", "b3", "b4", "b5"])
def test_variants_override_what_mmseg_does(variant):
    ade = Config.fromfile(
        ROOT / f"configs/segformer/segformer_mit-{variant}_512x512_160k_ade20k.py")
    city = Config.fromfile(
        ROOT / f"configs/segformer/segformer_mit-{variant}_8x1_1024x1024_160k_cityscapes.py")
    assert ade.model.pretrained == URL + CKPT[variant]
    assert city.model.backbone.init_cfg.checkpoint == URL + CKPT[variant]
    for cfg in (ade, city):
        assert cfg.model.backbone.embed_dims == 64
        assert cfg.model.backbone.num_heads == [1, 2, 5, 8]
        assert cfg.model.backbone.num_layers == LAYERS[variant]
        assert cfg.model.decode_head.in_channels == [64, 128, 320, 512]


def test_b5_640_pipeline():
    cfg = Config.fromfile(ROOT / "configs/segformer/segformer_mit-b5_640x640_160k_ade20k.py")
    assert cfg.crop_size == (640, 640) and cfg.data.train.pipeline[3].crop_size == (640, 640)
    assert cfg.data.train.pipeline[1] == {"type": "LoadAnnotations", "reduce_zero_label": True}
    assert cfg.data.val.pipeline[1].img_scale == (2048, 640)
    assert cfg.model.backbone.num_layers == LAYERS["b5"]


@pytest.mark.parametrize("path", SEGFORMER, ids=[p.stem for p in SEGFORMER])
def test_every_segformer_config_builds_with_mmseg_shapes(path):
    cfg = Config.fromfile(path)
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        model = build_segmentor(cfg.model)
    backbone, head = cfg.model.backbone, cfg.model.decode_head
    assert model.backbone.out_channels == tuple(head.in_channels)
    assert model.backbone.out_strides == (4, 8, 16, 32)
    state = model.state_dict()
    dims = backbone.embed_dims
    assert tuple(state["backbone.layers.0.0.projection.weight"].shape) == (dims, 3, 7, 7)
    assert tuple(state["backbone.layers.0.1.0.attn.sr.weight"].shape) == (dims, dims, 8, 8)
    last = backbone.num_layers[3] - 1
    assert f"backbone.layers.3.1.{last}.ffn.layers.4.weight" in state
    assert tuple(state["decode_head.fusion_conv.conv.weight"].shape) == (256, 4 * 256, 1, 1)
    assert tuple(state["decode_head.conv_seg.weight"].shape) == (head.num_classes, 256, 1, 1)
