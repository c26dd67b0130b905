"""configs/unet and configs/point_rend (MMSegmentation v0.30.0's files) resolve to MMSeg's values,
and narrowed copies train a step and predict (slide inference, CE + Dice loss lists, PointRend's
subdivision).

The expected values are written out by hand from MMSegmentation 0.x's config files
(configs/unet/*.py, configs/point_rend/*.py,
configs/_base_/models/{fcn,pspnet,deeplabv3}_unet_s5-d16.py, pointrend_r50.py and
configs/_base_/datasets/{drive,stare,chase_db1,hrf}.py).
"""
import warnings
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[2]
SYNC_BN = {"type": "SyncBN", "requires_grad": True}
CE = {"type": "CrossEntropyLoss", "use_sigmoid": False, "loss_weight": 1.0}
# dataset: (file suffix of the plain and of the Dice configs, crop = test window, slide stride,
# dataset type, data_root, img_scale)
DATASETS = {
    "drive": ("64x64_40k_drive", "64x64_40k_drive", 64, 42, "DRIVEDataset", "data/DRIVE",
              (584, 565)),
    "stare": ("128x128_40k_stare", "128x128_40k_stare", 128, 85, "STAREDataset", "data/STARE",
              (605, 700)),
    "chase_db1": ("128x128_40k_chase_db1", "128x128_40k_chase-db1", 128, 85, "ChaseDB1Dataset",
                  "data/CHASE_DB1", (960, 999)),
    "hrf": ("256x256_40k_hrf", "256x256_40k_hrf", 256, 170, "HRFDataset", "data/HRF",
            (2336, 3504)),
}
HEADS = ("fcn", "pspnet", "deeplabv3")


def _load(rel: str) -> Config:
    return Config.fromfile(ROOT / "configs" / rel)


def _unet_name(head: str, dataset: str, dice: bool) -> str:
    plain, with_dice = DATASETS[dataset][:2]
    return (f"{head}_unet_s5-d16_ce-1.0-dice-3.0_{with_dice}.py" if dice
            else f"{head}_unet_s5-d16_{plain}.py")


def test_the_v0_30_0_files_are_all_there():
    unet = sorted(p.name for p in (ROOT / "configs/unet").glob("*.py"))
    expected = [_unet_name(h, d, dice) for h in HEADS for d in DATASETS for dice in (False, True)]
    assert unet == sorted(expected + ["fcn_unet_s5-d16_4x4_512x1024_160k_cityscapes.py"])
    assert len(unet) == 25
    point_rend = sorted(p.name for p in (ROOT / "configs/point_rend").glob("*.py"))
    assert point_rend == ["pointrend_r101_512x1024_80k_cityscapes.py",
                          "pointrend_r101_512x512_160k_ade20k.py",
                          "pointrend_r50_512x1024_80k_cityscapes.py",
                          "pointrend_r50_512x512_160k_ade20k.py"]
    for base in ("models/fcn_unet_s5-d16.py", "models/pspnet_unet_s5-d16.py",
                 "models/deeplabv3_unet_s5-d16.py", "models/pointrend_r50.py",
                 "datasets/drive.py", "datasets/stare.py", "datasets/chase_db1.py",
                 "datasets/hrf.py"):
        assert (ROOT / "configs/_base_" / base).is_file(), base


def _unet_backbone() -> dict:
    return {"type": "UNet", "in_channels": 3, "base_channels": 64, "num_stages": 5,
            "strides": (1, 1, 1, 1, 1), "enc_num_convs": (2, 2, 2, 2, 2),
            "dec_num_convs": (2, 2, 2, 2), "downsamples": (True, True, True, True),
            "enc_dilations": (1, 1, 1, 1, 1), "dec_dilations": (1, 1, 1, 1), "with_cp": False,
            "conv_cfg": None, "norm_cfg": SYNC_BN, "act_cfg": {"type": "ReLU"},
            "upsample_cfg": {"type": "InterpConv"}, "norm_eval": False}


def _fcn(in_channels, in_index, weight, num_classes=2) -> dict:
    return {"type": "FCNHead", "in_channels": in_channels, "in_index": in_index, "channels": 64,
            "num_convs": 1, "concat_input": False, "dropout_ratio": 0.1,
            "num_classes": num_classes, "norm_cfg": SYNC_BN, "align_corners": False,
            "loss_decode": {**CE, "loss_weight": weight}}


def test_fcn_unet_drive_resolves_to_mmseg_values():
    cfg = _load("unet/fcn_unet_s5-d16_64x64_40k_drive.py")
    assert cfg.model.to_dict() == {
        "type": "EncoderDecoder", "pretrained": None, "backbone": _unet_backbone(),
        "decode_head": _fcn(64, 4, 1.0), "auxiliary_head": _fcn(128, 3, 0.4),
        "train_cfg": {}, "test_cfg": {"mode": "slide", "crop_size": (64, 64),
                                      "stride": (42, 42)}}
    assert cfg.evaluation.to_dict() == {"interval": 4000, "metric": "mDice", "pre_eval": True}
    assert cfg.runner.to_dict() == {"type": "IterBasedRunner", "max_iters": 40000}
    assert cfg.optimizer.to_dict() == {"type": "SGD", "lr": 0.01, "momentum": 0.9,
                                       "weight_decay": 0.0005}
    assert cfg.crop_size == (64, 64) and cfg.img_scale == (584, 565)
    train = cfg.data.train
    assert (cfg.data.samples_per_gpu, cfg.data.workers_per_gpu) == (4, 4)
    assert train.type == "RepeatDataset" and train.times == 40000
    assert train.dataset.to_dict()["type"] == "DRIVEDataset"
    assert (train.dataset.img_dir, train.dataset.ann_dir) == ("images/training",
                                                              "annotations/training")
    assert (cfg.data.test.img_dir, cfg.data.test.ann_dir) == ("images/validation",
                                                              "annotations/validation")
    assert cfg.train_pipeline[3] == {"type": "RandomCrop", "crop_size": (64, 64),
                                     "cat_max_ratio": 0.75}


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("dataset", list(DATASETS))
def test_unet_family_values(head, dataset):
    *_, crop, stride, dataset_type, data_root, img_scale = DATASETS[dataset]
    plain = _load(f"unet/{_unet_name(head, dataset, False)}")
    dice = _load(f"unet/{_unet_name(head, dataset, True)}")
    for cfg in (plain, dice):
        assert cfg.model.backbone.to_dict() == _unet_backbone()
        assert cfg.model.test_cfg.to_dict() == {"mode": "slide", "crop_size": (crop, crop),
                                                "stride": (stride, stride)}
        assert cfg.model.auxiliary_head.to_dict() == _fcn(128, 3, 0.4)
        assert cfg.dataset_type == dataset_type and cfg.data_root == data_root
        assert cfg.img_scale == img_scale and cfg.crop_size == (crop, crop)
        assert cfg.evaluation.metric == "mDice" and cfg.runner.max_iters == 40000
    decode = plain.model.decode_head.to_dict()
    assert decode["in_index"] == 4 and decode["num_classes"] == 2 and decode["loss_decode"] == CE
    if head == "pspnet":
        assert (decode["type"], decode["channels"], decode["pool_scales"]) == (
            "PSPHead", 16, (1, 2, 3, 6))
    elif head == "deeplabv3":
        assert (decode["type"], decode["channels"], decode["dilations"]) == (
            "ASPPHead", 16, (1, 12, 24, 36))
    else:
        assert decode == _fcn(64, 4, 1.0)
    # The Dice variants replace only the decode head's loss by a CE + Dice list.
    assert dice.model.decode_head.loss_decode == [
        {"type": "CrossEntropyLoss", "loss_name": "loss_ce", "loss_weight": 1.0},
        {"type": "DiceLoss", "loss_name": "loss_dice", "loss_weight": 3.0}]
    assert {k: v for k, v in dice.model.decode_head.items() if k != "loss_decode"} == {
        k: v for k, v in decode.items() if k != "loss_decode"}


def test_unet_cityscapes():
    cfg = _load("unet/fcn_unet_s5-d16_4x4_512x1024_160k_cityscapes.py")
    assert cfg.model.decode_head.num_classes == 19 and cfg.model.auxiliary_head.num_classes == 19
    # test_cfg=dict(mode='whole') merges into the base's slide dict (mmcv semantics): the
    # window keys stay but whole mode ignores them.
    assert cfg.model.test_cfg.to_dict() == {"mode": "whole", "crop_size": (256, 256),
                                            "stride": (170, 170)}
    assert cfg.model.train_cfg == {}
    assert (cfg.data.samples_per_gpu, cfg.data.workers_per_gpu) == (4, 4)
    assert cfg.runner.max_iters == 160000 and cfg.crop_size == (512, 1024)
    assert cfg.evaluation.metric == "mIoU"


def _pointrend_heads(num_classes: int) -> list:
    return [{"type": "FPNHead", "in_channels": [256, 256, 256, 256], "in_index": [0, 1, 2, 3],
             "feature_strides": [4, 8, 16, 32], "channels": 128, "dropout_ratio": -1,
             "num_classes": num_classes, "norm_cfg": SYNC_BN, "align_corners": False,
             "loss_decode": CE},
            {"type": "PointHead", "in_channels": [256], "in_index": [0], "channels": 256,
             "num_fcs": 3, "coarse_pred_each_layer": True, "dropout_ratio": -1,
             "num_classes": num_classes, "align_corners": False, "loss_decode": CE}]


def test_pointrend_r50_cityscapes_resolves_to_mmseg_values():
    cfg = _load("point_rend/pointrend_r50_512x1024_80k_cityscapes.py")
    assert cfg.model.to_dict() == {
        "type": "CascadeEncoderDecoder", "num_stages": 2,
        "pretrained": "open-mmlab://resnet50_v1c",
        "backbone": {"type": "ResNetV1c", "depth": 50, "num_stages": 4,
                     "out_indices": (0, 1, 2, 3), "dilations": (1, 1, 1, 1),
                     "strides": (1, 2, 2, 2), "norm_cfg": SYNC_BN, "norm_eval": False,
                     "style": "pytorch", "contract_dilation": True},
        "neck": {"type": "FPN", "in_channels": [256, 512, 1024, 2048], "out_channels": 256,
                 "num_outs": 4},
        "decode_head": _pointrend_heads(19),
        "train_cfg": {"num_points": 2048, "oversample_ratio": 3,
                      "importance_sample_ratio": 0.75},
        "test_cfg": {"mode": "whole", "subdivision_steps": 2, "subdivision_num_points": 8196,
                     "scale_factor": 2}}
    # the method file adds a linear warm-up to the base poly schedule
    assert cfg.lr_config.to_dict() == {"policy": "poly", "power": 0.9, "min_lr": 0.0001,
                                       "by_epoch": False, "warmup": "linear",
                                       "warmup_iters": 200}
    assert cfg.runner.max_iters == 80000 and cfg.crop_size == (512, 1024)
    assert cfg.data.samples_per_gpu == 2


@pytest.mark.parametrize("dataset, num_classes, iters, crop", [
    ("512x1024_80k_cityscapes", 19, 80000, (512, 1024)),
    ("512x512_160k_ade20k", 150, 160000, (512, 512))])
def test_pointrend_family_values(dataset, num_classes, iters, crop):
    r50 = _load(f"point_rend/pointrend_r50_{dataset}.py")
    r101 = _load(f"point_rend/pointrend_r101_{dataset}.py")
    for cfg, depth in ((r50, 50), (r101, 101)):
        assert cfg.model.backbone.depth == depth
        assert cfg.model.pretrained == f"open-mmlab://resnet{depth}_v1c"
        assert [h.to_dict() for h in cfg.model.decode_head] == _pointrend_heads(num_classes)
        assert cfg.lr_config.warmup == "linear" and cfg.lr_config.warmup_iters == 200
        assert cfg.runner.max_iters == iters and cfg.crop_size == crop
        assert cfg.model.test_cfg.subdivision_num_points == 8196


def _narrow_unet(cfg: Config) -> dict:
    """The model with base_channels 4 (heads follow), BN for one process, no pretrained."""
    model = cfg.model.to_dict()
    model["backbone"].update(base_channels=4, norm_cfg=dict(type="BN", requires_grad=True))
    for head in (model["decode_head"], model["auxiliary_head"]):
        head.update(in_channels=head["in_channels"] // 16, channels=8,
                    norm_cfg=dict(type="BN", requires_grad=True))
    return model


@pytest.mark.parametrize("name", ["fcn_unet_s5-d16_ce-1.0-dice-3.0_64x64_40k_drive.py",
                                  "deeplabv3_unet_s5-d16_64x64_40k_drive.py"])
def test_narrowed_unet_trains_and_slides(name):
    """CE + Dice list (0.x DiceLoss) and ASPP on UNet; slide inference with DRIVE's 64/42
    windows over a 64x96 image (two windows in width)."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_segmentor(_narrow_unet(_load(f"unet/{name}")))
    img = torch.randn(2, 3, 64, 64)
    label = torch.randint(0, 2, (2, 1, 64, 64))
    metas = [dict(img_shape=(64, 64), ori_shape=(64, 64))] * 2
    losses = model.train().forward_train(img, metas, label)
    names = model.loss_names()
    expected = ["decode.loss_ce", "aux.loss_ce"]
    if "dice" in name:
        expected.insert(1, "decode.loss_dice")
    assert names == expected
    total, _ = model.parse_losses(losses)
    assert total.item() == pytest.approx(sum(losses[n].item() for n in names), rel=1e-6)
    total.backward()
    with torch.no_grad():
        pred = model.eval().simple_test(torch.randn(1, 3, 64, 96),
                                        [dict(img_shape=(64, 96), ori_shape=(64, 96))])
    assert pred[0].shape == (64, 96) and set(pred[0].flatten().tolist()) <= {0, 1}


def test_narrowed_pointrend_trains_and_refines():
    """pointrend_r50 with a tiny ResNet / FPN: both stages' losses count; inference refines
    the 1/4 FPNHead logits twice (x2 each) to the input size."""
    model = _load("point_rend/pointrend_r50_512x1024_80k_cityscapes.py").model.to_dict()
    bn = dict(type="BN", requires_grad=True)
    model.update(pretrained=None)
    model["backbone"].update(depth=18, stem_channels=8, base_channels=4, norm_cfg=bn)
    model["neck"].update(in_channels=[4, 8, 16, 32], out_channels=8)
    model["decode_head"][0].update(in_channels=[8] * 4, channels=8, norm_cfg=bn)
    model["decode_head"][1].update(in_channels=[8], channels=8)
    model["train_cfg"].update(num_points=256)
    torch.manual_seed(0)
    seg = build_segmentor(model)
    img, label = torch.randn(2, 3, 64, 64), torch.randint(0, 19, (2, 1, 64, 64))
    metas = [dict(img_shape=(64, 64), ori_shape=(64, 64))] * 2
    losses = seg.train().forward_train(img, metas, label)
    assert list(losses) == ["decode_0.loss_ce", "decode_0.acc_seg", "decode_1.pointloss_ce",
                            "decode_1.acc_point"]
    total, _ = seg.parse_losses(losses)
    total.backward()
    assert seg.decode_head[1].fc_seg.weight.grad is not None
    with torch.no_grad():
        seg.eval()
        coarse = seg.decode_head[0].forward_test(seg.extract_feat(img), metas, seg.test_cfg)
        refined = seg.encode_decode(img, metas)
    assert coarse.shape == (2, 19, 16, 16) and refined.shape == (2, 19, 64, 64)
