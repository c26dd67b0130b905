"""The ResNet families' variant configs (fcn, pspnet, deeplabv3, deeplabv3plus, upernet) resolve
to MMSegmentation v0.30.0's values: other datasets (Pascal Context 60/59, COCO-Stuff, LoveDA,
Potsdam, Vaihingen, iSAID, Dark Zurich, Nighttime Driving, occluded faces), 769x769 Cityscapes,
ResNetV1b (``r50b``), output stride 16 with multi-grid, FCN-D6, D32, the RSB AdamW recipe, fp16.

The expected values are written out by hand from v0.30.0's config files. That the files are all
there, byte for byte, is test_configs_complete.py; that every one builds is test_configs_build.py;
here the values and the few built shapes the variants are about.
"""
import warnings
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.engine.optim_step import parse_optimizer_config
from seglab.models import build_segmentor

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SYNC = {"type": "SyncBN", "requires_grad": True}


def _cfg(path):
    return Config.fromfile(CONFIGS / path)


def _meta(cfg):
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        return build_segmentor(cfg.model)


@pytest.mark.parametrize("family, count", [("fcn", 45), ("pspnet", 66), ("deeplabv3", 45),
                                           ("deeplabv3plus", 47), ("upernet", 22)])
def test_every_v0_30_0_file_of_the_family_is_there(family, count):
    assert len(list((CONFIGS / family).glob("*.py"))) == count


@pytest.mark.parametrize("classes, dataset, schedule", [
    (60, "PascalContextDataset", 40000), (60, "PascalContextDataset", 80000),
    (59, "PascalContextDataset59", 40000), (59, "PascalContextDataset59", 80000)])
@pytest.mark.parametrize("method", ["fcn", "pspnet", "deeplabv3", "deeplabv3plus"])
def test_pascal_context(method, classes, dataset, schedule):
    suffix = "_59" if classes == 59 else ""
    cfg = _cfg(f"{method}/{method}_r50-d8_480x480_{schedule // 1000}k_pascal_context{suffix}.py")
    assert (cfg.model.decode_head.num_classes, cfg.model.auxiliary_head.num_classes) == (
        classes, classes)
    assert cfg.model.test_cfg.to_dict() == {"mode": "slide", "crop_size": (480, 480),
                                            "stride": (320, 320)}
    assert cfg.optimizer.to_dict() == {"type": "SGD", "lr": 0.004, "momentum": 0.9,
                                       "weight_decay": 0.0001}
    assert cfg.runner.max_iters == schedule and cfg.crop_size == (480, 480)
    assert (cfg.img_scale, cfg.data.samples_per_gpu) == ((520, 520), 4)
    train = cfg.data.train
    assert (train.type, train.data_root, train.ann_dir, train.split) == (
        dataset, "data/VOCdevkit/VOC2010/", "SegmentationClassContext",
        "ImageSets/SegmentationContext/train.txt")
    # the 59-class set drops 'background' (label 0) like ADE20K
    assert cfg.train_pipeline[1].to_dict() == (
        {"type": "LoadAnnotations", "reduce_zero_label": True} if classes == 59
        else {"type": "LoadAnnotations"})


@pytest.mark.parametrize("name, root, iters", [
    ("512x512_4x4_20k_coco-stuff10k", "data/coco_stuff10k", 20000),
    ("512x512_4x4_40k_coco-stuff10k", "data/coco_stuff10k", 40000),
    ("512x512_4x4_80k_coco-stuff164k", "data/coco_stuff164k", 80000),
    ("512x512_4x4_160k_coco-stuff164k", "data/coco_stuff164k", 160000),
    ("512x512_4x4_320k_coco-stuff164k", "data/coco_stuff164k", 320000)])
@pytest.mark.parametrize("method", ["pspnet", "deeplabv3"])
def test_coco_stuff(method, name, root, iters):
    cfg = _cfg(f"{method}/{method}_r50-d8_{name}.py")
    assert cfg.model.decode_head.num_classes == cfg.model.auxiliary_head.num_classes == 171
    assert (cfg.data.train.type, cfg.data.train.data_root) == ("COCOStuffDataset", root)
    assert cfg.data.samples_per_gpu == 4 and cfg.runner.max_iters == iters
    ten_k = root.endswith("10k")
    assert cfg.data.test.img_dir == ("images/test2014" if ten_k else "images/val2017")
    assert cfg.data.train.get("reduce_zero_label") is (True if ten_k else None)


@pytest.mark.parametrize("name, dataset, classes, crop", [
    ("pspnet/pspnet_r50-d8_512x512_80k_loveda.py", "LoveDADataset", 7, (512, 512)),
    ("pspnet/pspnet_r50-d8_4x4_512x512_80k_potsdam.py", "PotsdamDataset", 6, (512, 512)),
    ("pspnet/pspnet_r50-d8_4x4_512x512_80k_vaihingen.py", "ISPRSDataset", 6, (512, 512)),
    ("pspnet/pspnet_r50-d8_4x4_896x896_80k_isaid.py", "iSAIDDataset", 16, (896, 896)),
    ("deeplabv3plus/deeplabv3plus_r50-d8_512x512_80k_potsdam.py", "PotsdamDataset", 6,
     (512, 512)),
    ("deeplabv3plus/deeplabv3plus_r18-d8_4x4_512x512_80k_vaihingen.py", "ISPRSDataset", 6,
     (512, 512)),
    ("deeplabv3plus/deeplabv3plus_r101-d8_512x512_80k_loveda.py", "LoveDADataset", 7,
     (512, 512))])
def test_remote_sensing(name, dataset, classes, crop):
    cfg = _cfg(name)
    assert cfg.model.decode_head.num_classes == cfg.model.auxiliary_head.num_classes == classes
    assert cfg.data.train.type == dataset and cfg.crop_size == crop
    assert cfg.runner.max_iters == 80000 and cfg.data.samples_per_gpu == 4
    assert cfg.model.test_cfg.to_dict() == {"mode": "whole"}


def test_deeplabv3plus_r18_remote_sensing_narrows_the_heads():
    cfg = _cfg("deeplabv3plus/deeplabv3plus_r18-d8_4x4_512x512_80k_vaihingen.py")
    head = cfg.model.decode_head
    assert (head.in_channels, head.channels, head.c1_in_channels, head.c1_channels) == (
        512, 128, 64, 12)
    assert cfg.model.pretrained == "open-mmlab://resnet18_v1c"
    assert (cfg.model.auxiliary_head.in_channels, cfg.model.auxiliary_head.channels) == (256, 64)


@pytest.mark.parametrize("name", [
    "fcn/fcn_r50-d8_769x769_40k_cityscapes.py", "pspnet/pspnet_r101-d8_769x769_80k_cityscapes.py",
    "deeplabv3/deeplabv3_r18-d8_769x769_80k_cityscapes.py",
    "deeplabv3plus/deeplabv3plus_r50b-d8_769x769_80k_cityscapes.py",
    "upernet/upernet_r101_769x769_40k_cityscapes.py",
    "fcn/fcn_d6_r50-d16_769x769_80k_cityscapes.py"])
def test_cityscapes_769(name):
    cfg = _cfg(name)
    assert cfg.crop_size == (769, 769) and cfg.test_pipeline[1].img_scale == (2049, 1025)
    assert cfg.model.decode_head.align_corners is True
    assert cfg.model.auxiliary_head.align_corners is True
    assert cfg.model.test_cfg.to_dict() == {"mode": "slide", "crop_size": (769, 769),
                                            "stride": (513, 513)}


@pytest.mark.parametrize("name, depth", [
    ("fcn/fcn_r50b-d8_512x1024_80k_cityscapes.py", 50),
    ("pspnet/pspnet_r18b-d8_769x769_80k_cityscapes.py", 18),
    ("deeplabv3/deeplabv3_r101b-d8_512x1024_80k_cityscapes.py", 101)])
def test_r_b_variants_are_torchvision_resnets(name, depth):
    cfg = _cfg(name)
    assert cfg.model.pretrained == f"torchvision://resnet{depth}"
    assert (cfg.model.backbone.type, cfg.model.backbone.depth) == ("ResNet", depth)
    keys = set(_meta(cfg).state_dict())
    assert "backbone.conv1.weight" in keys and not any(k.startswith("backbone.stem") for k in keys)


@pytest.mark.parametrize("method", ["deeplabv3", "deeplabv3plus"])
def test_d16_multi_grid(method):
    cfg = _cfg(f"{method}/{method}_r101-d16-mg124_512x1024_80k_cityscapes.py")
    backbone = cfg.model.backbone
    assert (backbone.depth, backbone.dilations, backbone.strides, backbone.multi_grid) == (
        101, (1, 1, 1, 2), (1, 2, 2, 1), (1, 2, 4))
    assert cfg.model.decode_head.dilations == (1, 6, 12, 18)
    assert cfg.model.decode_head.sampler.to_dict() == {"type": "OHEMPixelSampler",
                                                       "min_kept": 100000}
    model = _meta(cfg)
    # MMSeg's ResLayer takes the multi-grid values as the dilations (not times the stage's 2)
    assert [block.conv2.dilation for block in model.backbone.layer4] == [(1, 1), (2, 2), (4, 4)]
    assert [block.conv2.dilation for block in model.backbone.layer3][:2] == [(1, 1), (1, 1)]
    assert model.backbone.layer3[0].conv2.stride == (2, 2)


def test_fcn_d6_dilates_the_head_convs():
    cfg = _cfg("fcn/fcn_d6_r101b-d16_512x1024_80k_cityscapes.py")
    assert cfg.model.backbone.to_dict()["type"] == "ResNet"
    assert (cfg.model.backbone.dilations, cfg.model.backbone.strides) == (
        (1, 1, 1, 2), (1, 2, 2, 1))
    assert cfg.model.decode_head.dilation == cfg.model.auxiliary_head.dilation == 6
    model = _meta(cfg)
    assert [m.conv.dilation for m in model.decode_head.convs] == [(6, 6), (6, 6)]
    assert model.decode_head.conv_cat.conv.dilation == (1, 1)


@pytest.mark.parametrize("stride", ["d8", "d32"])
def test_rsb_pretrained_adamw(stride):
    cfg = _cfg(f"pspnet/pspnet_r50-{stride}_rsb-pretrain_512x1024_adamw_80k_cityscapes.py")
    assert cfg.model.pretrained is None and cfg.model.backbone.type == "ResNet"
    assert cfg.model.backbone.init_cfg.to_dict() == {
        "type": "Pretrained", "prefix": "backbone.",
        "checkpoint": "https://download.openmmlab.com/mmclassification/v0/resnet/"
                      "resnet50_8xb256-rsb-a1-600e_in1k_20211228-20e21305.pth"}
    assert cfg.model.backbone.strides == ((1, 2, 1, 1) if stride == "d8" else (1, 2, 2, 2))
    assert cfg.optimizer.to_dict() == {"type": "AdamW", "lr": 0.0005, "weight_decay": 0.05}
    assert cfg.optimizer_config.to_dict() == {"grad_clip": {"max_norm": 1, "norm_type": 2}}
    assert cfg.lr_config.to_dict() == {"policy": "step", "warmup": "linear",
                                       "warmup_iters": 1000, "warmup_ratio": 0.001,
                                       "step": [60000, 72000], "by_epoch": False}


@pytest.mark.parametrize("method", ["fcn", "pspnet", "deeplabv3", "deeplabv3plus"])
def test_fp16_configs_train_in_float16_with_a_static_scale(method):
    cfg = _cfg(f"{method}/{method}_r101-d8_fp16_512x1024_80k_cityscapes.py")
    assert cfg.optimizer_config.to_dict() == {"type": "Fp16OptimizerHook", "loss_scale": 512.0}
    assert cfg.fp16.to_dict() == {} and cfg.model.backbone.depth == 101
    step = parse_optimizer_config(cfg.optimizer_config, cfg.fp16)
    assert (step["amp"], step["loss_scale"]) == ("fp16", 512.0)


@pytest.mark.parametrize("name, dataset, root, img_dir", [
    ("pspnet_r50-d8_512x1024_40k_dark.py", "DarkZurichDataset", "data/dark_zurich/",
     "rgb_anon/val/night/GOPR0356"),
    ("pspnet_r101b-d8_512x1024_80k_night_driving.py", "NightDrivingDataset",
     "data/NighttimeDrivingTest/", "leftImg8bit/test/night")])
def test_night_configs_test_a_cityscapes_model_on_night_images(name, dataset, root, img_dir):
    cfg = _cfg(f"pspnet/{name}")
    assert (cfg.data.test.type, cfg.data.test.data_root, cfg.data.test.img_dir) == (
        dataset, root, img_dir)
    assert cfg.data.test.pipeline[1].img_scale == (1920, 1080)
    assert cfg.data.train.type == cfg.data.val.type == "CityscapesDataset"
    assert cfg.model.decode_head.num_classes == 19


def test_occluded_face_deeplabv3plus():
    cfg = _cfg("deeplabv3plus/deeplabv3plus_r101_512x512_C-CM+C-WO-NatOcc-SOT.py")
    head = cfg.model.decode_head
    assert (head.num_classes, cfg.model.auxiliary_head.num_classes) == (2, 2)
    assert head.sampler.to_dict() == {"type": "OHEMPixelSampler", "thresh": 0.7,
                                      "min_kept": 10000}
    assert cfg.model.backbone.norm_cfg.to_dict() == SYNC and cfg.model.backbone.depth == 101
    assert [d.img_dir for d in cfg.data.train] == ["NatOcc_hand_sot/img", "NatOcc_object/img",
                                                   "RandOcc/img"]
    assert {d.type for d in cfg.data.train} == {cfg.data.val.type} == {"FaceOccludedDataset"}
    assert cfg.runner.max_iters == 30000 and cfg.auto_resume is False
    assert cfg.evaluation.to_dict() == {"interval": 400, "metric": ["mIoU", "mDice", "mFscore"],
                                        "pre_eval": True}


@pytest.mark.parametrize("name, iters", [("upernet_r18_512x512_20k_voc12aug.py", 20000),
                                         ("upernet_r18_512x512_160k_ade20k.py", 160000)])
def test_upernet_r18(name, iters):
    cfg = _cfg(f"upernet/{name}")
    assert cfg.model.pretrained == "open-mmlab://resnet18_v1c" and cfg.model.backbone.depth == 18
    assert cfg.model.decode_head.in_channels == [64, 128, 256, 512]
    assert cfg.model.auxiliary_head.in_channels == 256 and cfg.runner.max_iters == iters
    _meta(cfg)  # the head's in_channels meet the R-18 outputs
