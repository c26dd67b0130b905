"""configs/convnext (MMSegmentation v0.30.0's files) resolve to MMSeg's values and build.

The expected values are written out by hand from MMSegmentation 0.x's config files
(configs/convnext/*.py and configs/_base_/models/upernet_convnext.py).
"""
import warnings
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.engine import build_optimizer
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[2]
CONVNEXT = sorted((ROOT / "configs/convnext").glob("*.py"))
URL = "https://download.openmmlab.com/mmclassification/v0/convnext/downstream/"
SYNC_BN = {"type": "SyncBN", "requires_grad": True}
# config -> (arch, channels, drop_path_rate, checkpoint, crop, slide stride, lr, num_layers)
EXPECTED = {
    "upernet_convnext_tiny_fp16_512x512_160k_ade20k.py": (
        "tiny", [96, 192, 384, 768], 0.4,
        "convnext-tiny_3rdparty_32xb128-noema_in1k_20220301-795e9634.pth", 512, 341, 0.0001, 6),
    "upernet_convnext_small_fp16_512x512_160k_ade20k.py": (
        "small", [96, 192, 384, 768], 0.3,
        "convnext-small_3rdparty_32xb128-noema_in1k_20220301-303e75e3.pth", 512, 341, 0.0001, 12),
    "upernet_convnext_base_fp16_512x512_160k_ade20k.py": (
        "base", [128, 256, 512, 1024], 0.4,
        "convnext-base_3rdparty_32xb128-noema_in1k_20220301-2a0ee547.pth", 512, 341, 0.0001, 12),
    "upernet_convnext_base_fp16_640x640_160k_ade20k.py": (
        "base", [128, 256, 512, 1024], 0.4,
        "convnext-base_3rdparty_in21k_20220301-262fd037.pth", 640, 426, 0.0001, 12),
    "upernet_convnext_large_fp16_640x640_160k_ade20k.py": (
        "large", [192, 384, 768, 1536], 0.4,
        "convnext-large_3rdparty_in21k_20220301-e6e0ea0a.pth", 640, 426, 0.0001, 12),
    "upernet_convnext_xlarge_fp16_640x640_160k_ade20k.py": (
        "xlarge", [256, 512, 1024, 2048], 0.4,
        "convnext-xlarge_3rdparty_in21k_20220301-08aa5ddc.pth", 640, 426, 0.00008, 12),
}
LR_CONFIG = {"policy": "poly", "warmup": "linear", "warmup_iters": 1500, "warmup_ratio": 1e-6,
             "power": 1.0, "min_lr": 0.0, "by_epoch": False}


def _load(path) -> Config:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # custom_imports='mmcls.models' is not imported
        return Config.fromfile(path)


def test_the_v0_30_0_files_are_all_there():
    assert [p.name for p in CONVNEXT] == sorted(EXPECTED)


def test_base_model_resolves_to_mmseg_values():
    cfg = _load(ROOT / "configs/_base_/models/upernet_convnext.py")
    assert cfg.custom_imports.to_dict() == {"imports": "mmcls.models",
                                            "allow_failed_imports": False}
    ckpt = URL + "convnext-base_3rdparty_32xb128-noema_in1k_20220301-2a0ee547.pth"
    assert cfg.checkpoint_file == ckpt
    ce = {"type": "CrossEntropyLoss", "use_sigmoid": False}
    assert cfg.model.to_dict() == {
        "type": "EncoderDecoder", "pretrained": None,
        "backbone": {"type": "mmcls.ConvNeXt", "arch": "base", "out_indices": [0, 1, 2, 3],
                     "drop_path_rate": 0.4, "layer_scale_init_value": 1.0,
                     "gap_before_final_norm": False,
                     "init_cfg": {"type": "Pretrained", "checkpoint": ckpt,
                                  "prefix": "backbone."}},
        "decode_head": {"type": "UPerHead", "in_channels": [128, 256, 512, 1024],
                        "in_index": [0, 1, 2, 3], "pool_scales": (1, 2, 3, 6), "channels": 512,
                        "dropout_ratio": 0.1, "num_classes": 19, "norm_cfg": SYNC_BN,
                        "align_corners": False, "loss_decode": {**ce, "loss_weight": 1.0}},
        "auxiliary_head": {"type": "FCNHead", "in_channels": 384, "in_index": 2, "channels": 256,
                           "num_convs": 1, "concat_input": False, "dropout_ratio": 0.1,
                           "num_classes": 19, "norm_cfg": SYNC_BN, "align_corners": False,
                           "loss_decode": {**ce, "loss_weight": 0.4}},
        "train_cfg": {}, "test_cfg": {"mode": "whole"}}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_resolves_to_mmseg_values(name):
    arch, channels, dpr, ckpt, crop, stride, lr, num_layers = EXPECTED[name]
    cfg = _load(ROOT / "configs/convnext" / name)
    assert cfg.model.backbone.to_dict() == {
        "type": "mmcls.ConvNeXt", "arch": arch, "out_indices": [0, 1, 2, 3],
        "drop_path_rate": dpr, "layer_scale_init_value": 1.0, "gap_before_final_norm": False,
        "init_cfg": {"type": "Pretrained", "checkpoint": URL + ckpt, "prefix": "backbone."}}
    assert cfg.model.pretrained is None
    assert cfg.model.decode_head.in_channels == channels
    assert cfg.model.decode_head.channels == 512 and cfg.model.decode_head.num_classes == 150
    assert cfg.model.auxiliary_head.in_channels == channels[2]
    assert cfg.model.auxiliary_head.num_classes == 150
    assert cfg.model.test_cfg.to_dict() == {"mode": "slide", "crop_size": (crop, crop),
                                            "stride": (stride, stride)}
    assert cfg.crop_size == (crop, crop)
    assert cfg.train_pipeline[2]["img_scale"] == (2048 if crop == 512 else 2560, crop)
    assert cfg.train_pipeline[3]["crop_size"] == (crop, crop)
    assert cfg.data.train.pipeline == cfg.train_pipeline and cfg.data.samples_per_gpu == 2
    assert cfg.optimizer.to_dict() == {
        "constructor": "LearningRateDecayOptimizerConstructor", "type": "AdamW", "lr": lr,
        "betas": (0.9, 0.999), "weight_decay": 0.05,
        "paramwise_cfg": {"decay_rate": 0.9, "decay_type": "stage_wise",
                          "num_layers": num_layers}}
    assert cfg.lr_config.to_dict() == LR_CONFIG
    assert cfg.optimizer_config.to_dict() == {"type": "Fp16OptimizerHook",
                                              "loss_scale": "dynamic"}
    assert cfg.fp16 == {} and cfg.runner.max_iters == 160000
    assert cfg.evaluation.interval == 16000 and cfg.checkpoint_config.interval == 16000


@pytest.mark.parametrize("name", ["upernet_convnext_tiny_fp16_512x512_160k_ade20k.py",
                                  "upernet_convnext_xlarge_fp16_640x640_160k_ade20k.py"])
def test_model_and_stage_wise_optimizer_build_as_mmseg(name):
    arch, channels, _, _, _, _, lr, num_layers = EXPECTED[name]
    cfg = _load(ROOT / "configs/convnext" / name)
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        model = build_segmentor(cfg.model)
        optimizer = build_optimizer(model, cfg.optimizer)
    assert model.backbone.out_channels == tuple(channels)
    assert model.backbone.out_strides == (4, 8, 16, 32)
    depths = model.backbone.depths
    assert depths == ([3, 3, 9, 3] if arch == "tiny" else [3, 3, 27, 3])
    state = model.state_dict()
    assert f"backbone.stages.2.{depths[2] - 1}.gamma" in state and "backbone.norm3.bias" in state
    groups = {g["group_name"]: g for g in optimizer.param_groups}
    # stage_wise: downsample layers 0, stages.i -> i + 1, the rest num_layers + 1.
    assert sorted(groups) == sorted(f"layer_{i}_{k}" for i in (0, 1, 2, 3, 4, num_layers + 1)
                                    for k in ("decay", "no_decay"))
    for key, group in groups.items():
        layer_id = int(key.split("_")[1])
        assert group["lr"] == pytest.approx(lr * 0.9 ** (num_layers + 1 - layer_id))
        assert group["weight_decay"] == (0.0 if key.endswith("no_decay") else 0.05)
    assert "decode_head.conv_seg.weight" in groups[f"layer_{num_layers + 1}_decay"]["param_names"]
    assert "backbone.stages.3.2.gamma" in groups["layer_4_no_decay"]["param_names"]
