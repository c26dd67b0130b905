"""FCN VOC12aug / Cityscapes configs resolve to MMSeg's dicts (every config loads and builds:
model_configs/test_configs_build.py).

The expected dicts below are written out by hand from MMSegmentation 0.x's files (what mmcv's
Config.fromfile gives for them), not produced by seglab.
"""
from pathlib import Path

import pytest

from seglab.config import Config

ROOT = Path(__file__).resolve().parents[1]

NORM = {"type": "SyncBN", "requires_grad": True}
IMG_NORM = {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "to_rgb": True}


def fcn_model(num_classes):
    return {
        "type": "EncoderDecoder",
        "pretrained": "open-mmlab://resnet50_v1c",
        "backbone": {
            "type": "ResNetV1c", "depth": 50, "num_stages": 4, "out_indices": (0, 1, 2, 3),
            "dilations": (1, 1, 2, 4), "strides": (1, 2, 1, 1), "norm_cfg": NORM,
            "norm_eval": False, "style": "pytorch", "contract_dilation": True},
        "decode_head": {
            "type": "FCNHead", "in_channels": 2048, "in_index": 3, "channels": 512,
            "num_convs": 2, "concat_input": True, "dropout_ratio": 0.1,
            "num_classes": num_classes, "norm_cfg": NORM, "align_corners": False,
            "loss_decode": {"type": "CrossEntropyLoss", "use_sigmoid": False,
                            "loss_weight": 1.0}},
        "auxiliary_head": {
            "type": "FCNHead", "in_channels": 1024, "in_index": 2, "channels": 256,
            "num_convs": 1, "concat_input": False, "dropout_ratio": 0.1,
            "num_classes": num_classes, "norm_cfg": NORM, "align_corners": False,
            "loss_decode": {"type": "CrossEntropyLoss", "use_sigmoid": False,
                            "loss_weight": 0.4}},
        "train_cfg": {},
        "test_cfg": {"mode": "whole"},
    }


def pipelines(img_scale, crop_size):
    train = [
        {"type": "LoadImageFromFile"},
        {"type": "LoadAnnotations"},
        {"type": "Resize", "img_scale": img_scale, "ratio_range": (0.5, 2.0)},
        {"type": "RandomCrop", "crop_size": crop_size, "cat_max_ratio": 0.75},
        {"type": "RandomFlip", "prob": 0.5},
        {"type": "PhotoMetricDistortion"},
        {"type": "Normalize", **IMG_NORM},
        {"type": "Pad", "size": crop_size, "pad_val": 0, "seg_pad_val": 255},
        {"type": "DefaultFormatBundle"},
        {"type": "Collect", "keys": ["img", "gt_semantic_seg"]},
    ]
    test = [
        {"type": "LoadImageFromFile"},
        {"type": "MultiScaleFlipAug", "img_scale": img_scale, "flip": False, "transforms": [
            {"type": "Resize", "keep_ratio": True},
            {"type": "RandomFlip"},
            {"type": "Normalize", **IMG_NORM},
            {"type": "ImageToTensor", "keys": ["img"]},
            {"type": "Collect", "keys": ["img"]},
        ]},
    ]
    return train, test


RUNTIME = {
    "log_config": {"interval": 50, "hooks": [{"type": "TextLoggerHook", "by_epoch": False}]},
    "dist_params": {"backend": "nccl"},
    "log_level": "INFO",
    "load_from": None,
    "resume_from": None,
    "workflow": [("train", 1)],
    "cudnn_benchmark": True,
}


def schedule(iters):
    return {
        "optimizer": {"type": "SGD", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0005},
        "optimizer_config": {},
        "lr_config": {"policy": "poly", "power": 0.9, "min_lr": 1e-4, "by_epoch": False},
        "runner": {"type": "IterBasedRunner", "max_iters": iters},
        "checkpoint_config": {"by_epoch": False, "interval": iters // 10},
        "evaluation": {"interval": iters // 10, "metric": "mIoU", "pre_eval": True},
    }


def assert_same(got, expected, path="cfg"):
    """Equal values *and* types (a tuple must stay a tuple), with the failing path named."""
    assert type(got) is type(expected) or (isinstance(got, dict) and isinstance(expected, dict)), (
        f"{path}: {type(got).__name__} != {type(expected).__name__}")
    if isinstance(expected, dict):
        assert list(got) == list(expected), f"{path}: keys {list(got)} != {list(expected)}"
        for key in expected:
            assert_same(got[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert len(got) == len(expected), f"{path}: length {len(got)} != {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_same(g, e, f"{path}[{i}]")
    else:
        assert got == expected, f"{path}: {got!r} != {expected!r}"


def test_fcn_voc12aug_resolves_to_mmseg_values():
    cfg = Config.fromfile(ROOT / "configs/fcn/fcn_r50-d8_512x512_20k_voc12aug.py")
    train, test = pipelines((2048, 512), (512, 512))
    voc = dict(type="PascalVOCDataset", data_root="data/VOCdevkit/VOC2012", img_dir="JPEGImages")
    expected = {
        "norm_cfg": NORM,
        "model": fcn_model(21),
        "dataset_type": "PascalVOCDataset",
        "data_root": "data/VOCdevkit/VOC2012",
        "img_norm_cfg": IMG_NORM,
        "crop_size": (512, 512),
        "train_pipeline": train,
        "test_pipeline": test,
        "data": {
            "samples_per_gpu": 4,
            "workers_per_gpu": 4,
            "train": {**voc, "ann_dir": ["SegmentationClass", "SegmentationClassAug"],
                      "split": ["ImageSets/Segmentation/train.txt",
                                "ImageSets/Segmentation/aug.txt"],
                      "pipeline": train},
            "val": {**voc, "ann_dir": "SegmentationClass",
                    "split": "ImageSets/Segmentation/val.txt", "pipeline": test},
            "test": {**voc, "ann_dir": "SegmentationClass",
                     "split": "ImageSets/Segmentation/val.txt", "pipeline": test},
        },
        **RUNTIME,
        **schedule(20000),
    }
    assert_same(cfg.to_dict(), expected)


@pytest.mark.parametrize("name, iters", [("fcn_r50-d8_512x1024_40k_cityscapes.py", 40000),
                                         ("fcn_r50-d8_512x1024_80k_cityscapes.py", 80000)])
def test_fcn_cityscapes_resolves_to_mmseg_values(name, iters):
    cfg = Config.fromfile(ROOT / "configs/fcn" / name)
    train, test = pipelines((2048, 1024), (512, 1024))
    city = dict(type="CityscapesDataset", data_root="data/cityscapes/")
    expected = {
        "norm_cfg": NORM,
        "model": fcn_model(19),
        "dataset_type": "CityscapesDataset",
        "data_root": "data/cityscapes/",
        "img_norm_cfg": IMG_NORM,
        "crop_size": (512, 1024),
        "train_pipeline": train,
        "test_pipeline": test,
        "data": {
            "samples_per_gpu": 2,
            "workers_per_gpu": 2,
            "train": {**city, "img_dir": "leftImg8bit/train", "ann_dir": "gtFine/train",
                      "pipeline": train},
            "val": {**city, "img_dir": "leftImg8bit/val", "ann_dir": "gtFine/val",
                    "pipeline": test},
            "test": {**city, "img_dir": "leftImg8bit/val", "ann_dir": "gtFine/val",
                     "pipeline": test},
        },
        **RUNTIME,
        **schedule(iters),
    }
    assert_same(cfg.to_dict(), expected)


def test_resnet_variants_override_only_what_mmseg_does():
    r101 = Config.fromfile(ROOT / "configs/fcn/fcn_r101-d8_512x1024_40k_cityscapes.py")
    assert r101.model.pretrained == "open-mmlab://resnet101_v1c"
    assert r101.model.backbone.depth == 101 and r101.model.decode_head.in_channels == 2048
    r18 = Config.fromfile(ROOT / "configs/fcn/fcn_r18-d8_512x1024_80k_cityscapes.py")
    assert r18.model.pretrained == "open-mmlab://resnet18_v1c" and r18.model.backbone.depth == 18
    assert (r18.model.decode_head.in_channels, r18.model.decode_head.channels) == (512, 128)
    assert (r18.model.auxiliary_head.in_channels, r18.model.auxiliary_head.channels) == (256, 64)
    assert r18.runner.max_iters == 80000
    dlp = Config.fromfile(
        ROOT / "configs/deeplabv3plus/deeplabv3plus_r18-d8_512x1024_80k_cityscapes.py")
    assert (dlp.model.decode_head.c1_in_channels, dlp.model.decode_head.c1_channels) == (64, 12)
    uper = Config.fromfile(ROOT / "configs/upernet/upernet_r18_512x1024_40k_cityscapes.py")
    assert uper.model.decode_head.in_channels == [64, 128, 256, 512]
    assert uper.model.backbone.strides == (1, 2, 2, 2)


def test_ade20k_reduces_zero_label_and_uses_150_classes():
    cfg = Config.fromfile(ROOT / "configs/pspnet/pspnet_r50-d8_512x512_80k_ade20k.py")
    assert cfg.data.train.pipeline[1].to_dict() == {"type": "LoadAnnotations",
                                                    "reduce_zero_label": True}
    assert cfg.data.val.img_dir == "images/validation"
    assert cfg.model.auxiliary_head.num_classes == 150 and cfg.runner.max_iters == 80000
    assert (cfg.data.samples_per_gpu, cfg.data.workers_per_gpu) == (4, 4)
