"""configs/poolformer (MMSegmentation v0.30.0's files) resolve to MMSeg's values and build.

The expected values are written out by hand from MMSegmentation 0.x's config files
(configs/poolformer/*.py and configs/_base_/models/fpn_poolformer_s12.py).
"""
import warnings
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[2]
POOLFORMER = sorted((ROOT / "configs/poolformer").glob("*.py"))
URL = "https://download.openmmlab.com/mmclassification/v0/poolformer/"
CKPT = {"s12": "poolformer-s12_3rdparty_32xb128_in1k_20220414-f8d83051.pth",
        "s24": "poolformer-s24_3rdparty_32xb128_in1k_20220414-d7055904.pth",
        "s36": "poolformer-s36_3rdparty_32xb128_in1k_20220414-d78ff3e8.pth",
        "m36": "poolformer-m36_3rdparty_32xb128_in1k_20220414-c55e0949.pth",
        "m48": "poolformer-m48_3rdparty_32xb128_in1k_20220414-9378f3eb.pth"}
NECK_IN = {"s": [64, 128, 320, 512], "m": [96, 192, 384, 768]}
SYNC_BN = {"type": "SyncBN", "requires_grad": True}
IMG_NORM = {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "to_rgb": True}


def _load(arch: str) -> Config:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # custom_imports='mmcls.models' is not imported
        return Config.fromfile(
            ROOT / f"configs/poolformer/fpn_poolformer_{arch}_8x4_512x512_40k_ade20k.py")


def _backbone(arch: str) -> dict:
    return {"type": "mmcls.PoolFormer", "arch": arch,
            "init_cfg": {"type": "Pretrained", "checkpoint": URL + CKPT[arch],
                         "prefix": "backbone."},
            "in_patch_size": 7, "in_stride": 4, "in_pad": 2, "down_patch_size": 3,
            "down_stride": 2, "down_pad": 1, "drop_rate": 0.0, "drop_path_rate": 0.0,
            "out_indices": (0, 2, 4, 6), "frozen_stages": 0}


def test_the_v0_30_0_files_are_all_there():
    assert [p.name for p in POOLFORMER] == sorted(
        f"fpn_poolformer_{arch}_8x4_512x512_40k_ade20k.py" for arch in CKPT)
    assert (ROOT / "configs/_base_/models/fpn_poolformer_s12.py").is_file()


def test_s12_resolves_to_mmseg_values():
    cfg = _load("s12")
    assert cfg.model.to_dict() == {
        "type": "EncoderDecoder",
        "backbone": _backbone("s12"),
        "neck": {"type": "FPN", "in_channels": NECK_IN["s"], "out_channels": 256,
                 "num_outs": 4},
        "decode_head": {"type": "FPNHead", "in_channels": [256, 256, 256, 256],
                        "in_index": [0, 1, 2, 3], "feature_strides": [4, 8, 16, 32],
                        "channels": 128, "dropout_ratio": 0.1, "num_classes": 150,
                        "norm_cfg": SYNC_BN, "align_corners": False,
                        "loss_decode": {"type": "CrossEntropyLoss", "use_sigmoid": False,
                                        "loss_weight": 1.0}},
        "train_cfg": {}, "test_cfg": {"mode": "whole"}}
    assert cfg.custom_imports.to_dict() == {"imports": "mmcls.models",
                                            "allow_failed_imports": False}
    # _delete_=True: AdamW replaces the base schedule's SGD (no momentum key left over).
    assert cfg.optimizer.to_dict() == {"type": "AdamW", "lr": 0.0002, "weight_decay": 0.0001}
    assert cfg.optimizer_config.to_dict() == {}
    assert cfg.lr_config.to_dict() == {"policy": "poly", "power": 0.9, "min_lr": 0.0,
                                       "by_epoch": False}
    assert cfg.runner.to_dict() == {"type": "IterBasedRunner", "max_iters": 40000}
    assert cfg.checkpoint_config.interval == 4000
    assert cfg.evaluation.to_dict() == {"interval": 4000, "metric": "mIoU", "pre_eval": True}


def test_s12_data_is_mmsegs():
    cfg = _load("s12")
    assert cfg.crop_size == (512, 512) and cfg.img_norm_cfg.to_dict() == IMG_NORM
    assert (cfg.data.samples_per_gpu, cfg.data.workers_per_gpu) == (4, 4)
    train = cfg.data.train
    assert (train.type, train.times) == ("RepeatDataset", 50)
    assert train.dataset.type == "ADE20KDataset"
    assert train.dataset.data_root == "data/ade/ADEChallengeData2016"
    assert (train.dataset.img_dir, train.dataset.ann_dir) == ("images/training",
                                                              "annotations/training")
    assert train.dataset.pipeline == cfg.train_pipeline
    assert cfg.train_pipeline[1] == {"type": "LoadAnnotations", "reduce_zero_label": True}
    assert cfg.train_pipeline[2] == {"type": "Resize", "img_scale": (2048, 512),
                                     "ratio_range": (0.5, 2.0)}
    assert cfg.train_pipeline[3] == {"type": "RandomCrop", "crop_size": (512, 512),
                                     "cat_max_ratio": 0.75}
    aug = cfg.test_pipeline[1]
    assert (aug.type, aug.img_scale, aug.flip) == ("MultiScaleFlipAug", (2048, 512), False)
    assert [t.type for t in aug.transforms] == ["Resize", "ResizeToMultiple", "RandomFlip",
                                                "Normalize", "ImageToTensor", "Collect"]
    assert aug.transforms[1].size_divisor == 32
    for split in ("val", "test"):
        assert cfg.data[split].img_dir == "images/validation"
        assert cfg.data[split].ann_dir == "annotations/validation"
        assert cfg.data[split].pipeline == cfg.test_pipeline


@pytest.mark.parametrize("arch", ["s24", "s36", "m36", "m48"])
def test_variants_override_what_mmseg_does(arch):
    cfg, s12 = _load(arch), _load("s12")
    assert cfg.model.backbone.to_dict() == _backbone(arch)
    assert cfg.model.neck.in_channels == NECK_IN[arch[0]]
    assert cfg.checkpoint_file == URL + CKPT[arch]
    for key in ("decode_head", "test_cfg"):
        assert cfg.model[key] == s12.model[key]
    for key in ("optimizer", "lr_config", "runner", "data"):
        assert cfg[key] == s12[key]


@pytest.mark.parametrize("path", POOLFORMER, ids=[p.stem for p in POOLFORMER])
def test_every_poolformer_config_builds_with_mmcls_shapes(path):
    cfg = Config.fromfile(path)
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        model = build_segmentor(cfg.model)
    arch = cfg.model.backbone.arch
    dims = NECK_IN[arch[0]]
    assert model.backbone.out_channels == tuple(dims)
    assert model.backbone.out_strides == (4, 8, 16, 32)
    state = model.state_dict()
    assert tuple(state["backbone.patch_embed.proj.weight"].shape) == (dims[0], 3, 7, 7)
    assert tuple(state["backbone.network.5.proj.weight"].shape) == (dims[3], dims[2], 3, 3)
    last = model.backbone.arch["layers"][2] - 1
    assert tuple(state[f"backbone.network.4.{last}.mlp.fc1.weight"].shape) == (
        4 * dims[2], dims[2], 1, 1)
    assert tuple(state["backbone.norm6.weight"].shape) == (dims[3],)
    assert f"backbone.network.4.{last + 1}.norm1.weight" not in state
    assert tuple(state["neck.lateral_convs.3.conv.weight"].shape) == (256, dims[3], 1, 1)
    assert tuple(state["decode_head.conv_seg.weight"].shape) == (150, 128, 1, 1)
    assert not model.backbone.patch_embed.proj.weight.requires_grad  # frozen_stages=0
