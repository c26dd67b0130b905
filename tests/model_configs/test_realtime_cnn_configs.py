"""configs/icnet, cgnet, erfnet, fastscnn and fastfcn (MMSegmentation v0.30.0's files) resolve to
MMSeg's values and build with MMSeg's parameter shapes.

The expected values are written out by hand from MMSegmentation 0.x's config files
(configs/<family>/*.py, configs/_base_/models/icnet_r50-d8.py, cgnet.py, erfnet_fcn.py,
fast_scnn.py, fastfcn_r50-d32_jpu_psp.py and _base_/datasets/cityscapes_832x832.py).
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
CE_AUX = {"type": "CrossEntropyLoss", "use_sigmoid": False, "loss_weight": 0.4}
IMG_NORM = {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "to_rgb": True}

ICNET = [f"icnet_r{d}-d8{pre}_832x832_{s}_cityscapes.py" for d in (18, 50, 101)
         for pre in ("", "_in1k-pre") for s in ("80k", "160k")]
FASTFCN = ([f"fastfcn_r50-d32_jpu_{h}_{v}.py" for h in ("aspp", "enc", "psp")
            for v in ("4x4_512x1024_80k_cityscapes", "512x1024_80k_cityscapes",
                      "512x512_160k_ade20k", "512x512_80k_ade20k")])
FILES = {"icnet": ICNET,
         "cgnet": ["cgnet_512x1024_60k_cityscapes.py", "cgnet_680x680_60k_cityscapes.py"],
         "erfnet": ["erfnet_fcn_4x4_512x1024_160k_cityscapes.py"],
         "fastscnn": ["fast_scnn_lr0.12_8x4_160k_cityscapes.py"],
         "fastfcn": FASTFCN}
ALL = [f"{family}/{name}" for family, names in FILES.items() for name in names]


def _load(path: str) -> Config:
    return Config.fromfile(ROOT / "configs" / path)


def _build(cfg: Config):
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        return build_segmentor(cfg.model)


def _fcn(in_channels, channels, in_index, loss, **extra):
    return {"type": "FCNHead", "in_channels": in_channels, "channels": channels,
            "num_convs": 1, **extra, "num_classes": 19, "in_index": in_index,
            "norm_cfg": SYNC_BN, "concat_input": False, "align_corners": False,
            "loss_decode": loss}


def test_the_v0_30_0_files_are_all_there():
    for family, names in FILES.items():
        present = sorted(p.name for p in (ROOT / "configs" / family).glob("*.py"))
        assert present == sorted(names), family
    for base in ("models/icnet_r50-d8.py", "models/cgnet.py", "models/erfnet_fcn.py",
                 "models/fast_scnn.py", "models/fastfcn_r50-d32_jpu_psp.py",
                 "datasets/cityscapes_832x832.py"):
        assert (ROOT / "configs/_base_" / base).is_file(), base


def _icnet_r50_backbone():
    return {"type": "ICNet",
            "backbone_cfg": {"type": "ResNetV1c", "in_channels": 3, "depth": 50,
                             "num_stages": 4, "out_indices": (0, 1, 2, 3),
                             "dilations": (1, 1, 2, 4), "strides": (1, 2, 1, 1),
                             "norm_cfg": SYNC_BN, "norm_eval": False, "style": "pytorch",
                             "contract_dilation": True},
            "in_channels": 3, "layer_channels": (512, 2048), "light_branch_middle_channels": 32,
            "psp_out_channels": 512, "out_channels": (64, 256, 256), "norm_cfg": SYNC_BN,
            "align_corners": False}


def test_icnet_r50_resolves_to_mmseg_values():
    cfg = _load("icnet/icnet_r50-d8_832x832_80k_cityscapes.py")
    assert cfg.model.to_dict() == {
        "type": "EncoderDecoder", "backbone": _icnet_r50_backbone(),
        "neck": {"type": "ICNeck", "in_channels": (64, 256, 256), "out_channels": 128,
                 "norm_cfg": SYNC_BN, "align_corners": False},
        "decode_head": _fcn(128, 128, 2, CE, dropout_ratio=0),
        "auxiliary_head": [_fcn(128, 128, 0, CE_AUX), _fcn(128, 128, 1, CE_AUX)],
        "train_cfg": {}, "test_cfg": {"mode": "whole"}}
    assert cfg.crop_size == (832, 832) and cfg.img_norm_cfg.to_dict() == IMG_NORM
    assert cfg.train_pipeline[3] == {"type": "RandomCrop", "crop_size": (832, 832),
                                     "cat_max_ratio": 0.75}
    assert cfg.train_pipeline[7] == {"type": "Pad", "size": (832, 832), "pad_val": 0,
                                     "seg_pad_val": 255}
    assert cfg.data.train.pipeline == cfg.train_pipeline
    assert cfg.data.test.pipeline == cfg.test_pipeline
    assert (cfg.data.samples_per_gpu, cfg.data.workers_per_gpu) == (2, 2)
    assert cfg.optimizer.to_dict() == {"type": "SGD", "lr": 0.01, "momentum": 0.9,
                                       "weight_decay": 0.0005}
    assert cfg.runner.to_dict() == {"type": "IterBasedRunner", "max_iters": 80000}
    assert cfg.evaluation.to_dict() == {"interval": 8000, "metric": "mIoU", "pre_eval": True}


@pytest.mark.parametrize("depth", [18, 50, 101])
@pytest.mark.parametrize("pre", ["", "_in1k-pre"])
@pytest.mark.parametrize("schedule", ["80k", "160k"])
def test_icnet_variants_override_what_mmseg_does(depth, pre, schedule):
    cfg = _load(f"icnet/icnet_r{depth}-d8{pre}_832x832_{schedule}_cityscapes.py")
    expected = _icnet_r50_backbone()
    expected["backbone_cfg"]["depth"] = depth
    if depth == 18:
        expected["layer_channels"] = (128, 512)
    if pre:
        expected["backbone_cfg"]["init_cfg"] = {
            "type": "Pretrained", "checkpoint": f"open-mmlab://resnet{depth}_v1c"}
    assert cfg.model.backbone.to_dict() == expected
    assert "pretrained" not in cfg.model
    assert cfg.runner.max_iters == {"80k": 80000, "160k": 160000}[schedule]
    assert cfg.checkpoint_config.interval == {"80k": 8000, "160k": 16000}[schedule]
    model = _build(cfg)
    state = model.state_dict()
    c2, c4 = expected["layer_channels"]
    assert tuple(state["backbone.conv_sub2.conv.weight"].shape) == (256, c2, 1, 1)
    assert tuple(state["backbone.psp_bottleneck.conv.weight"].shape) == (512, c4 + 4 * 512, 3, 3)
    blocks = {18: 2, 50: 6, 101: 23}[depth]
    assert f"backbone.backbone.layer3.{blocks - 1}.conv1.weight" in state
    assert f"backbone.backbone.layer3.{blocks}.conv1.weight" not in state
    assert tuple(state["neck.cff_24.conv_low.conv.weight"].shape) == (128, 256, 3, 3)
    assert tuple(state["decode_head.conv_seg.weight"].shape) == (19, 128, 1, 1)
    assert model.backbone.backbone.maxpool.ceil_mode


def _cgnet_model():
    norm = {"type": "SyncBN", "eps": 1e-03, "requires_grad": True}
    return {
        "type": "EncoderDecoder",
        "backbone": {"type": "CGNet", "norm_cfg": norm, "in_channels": 3,
                     "num_channels": (32, 64, 128), "num_blocks": (3, 21), "dilations": (2, 4),
                     "reductions": (8, 16)},
        "decode_head": {
            "type": "FCNHead", "in_channels": 256, "in_index": 2, "channels": 256,
            "num_convs": 0, "concat_input": False, "dropout_ratio": 0, "num_classes": 19,
            "norm_cfg": norm,
            "loss_decode": {"type": "CrossEntropyLoss", "use_sigmoid": False, "loss_weight": 1.0,
                            "class_weight": [2.5959933, 6.7415504, 3.5354059, 9.8663225,
                                             9.690899, 9.369352, 10.289121, 9.953208,
                                             4.3097677, 9.490387, 7.674431, 9.396905,
                                             10.347791, 6.3927646, 10.226669, 10.241062,
                                             10.280587, 10.396974, 10.055647]}},
        "train_cfg": {"sampler": None}, "test_cfg": {"mode": "whole"}}


@pytest.mark.parametrize("crop", [(512, 1024), (680, 680)])
def test_cgnet_resolves_to_mmseg_values(crop):
    cfg = _load(f"cgnet/cgnet_{crop[0]}x{crop[1]}_60k_cityscapes.py")
    assert cfg.model.to_dict() == _cgnet_model()
    assert cfg.optimizer.to_dict() == {"type": "Adam", "lr": 0.001, "eps": 1e-08,
                                       "weight_decay": 0.0005}
    assert cfg.lr_config.to_dict() == {"policy": "poly", "power": 0.9, "min_lr": 1e-4,
                                       "by_epoch": False}
    assert cfg.total_iters == 60000 and "runner" not in cfg  # MMSeg's legacy key, kept
    assert cfg.checkpoint_config.to_dict() == {"by_epoch": False, "interval": 4000}
    assert cfg.evaluation.to_dict() == {"interval": 4000, "metric": "mIoU"}
    assert cfg.img_norm_cfg.to_dict() == {"mean": [72.39239876, 82.90891754, 73.15835921],
                                          "std": [1, 1, 1], "to_rgb": True}
    assert cfg.crop_size == crop
    assert cfg.train_pipeline[3]["crop_size"] == crop
    assert cfg.train_pipeline[4] == {"type": "RandomFlip", "flip_ratio": 0.5}
    # only the 512x1024 file has PhotoMetricDistortion and cat_max_ratio
    assert ("PhotoMetricDistortion" in [t["type"] for t in cfg.train_pipeline]) == (
        crop == (512, 1024))
    assert (cfg.data.samples_per_gpu, cfg.data.workers_per_gpu) == (8, 4)
    assert cfg.data.train.type == "CityscapesDataset"
    assert (cfg.data.val.img_dir, cfg.data.val.ann_dir) == ("leftImg8bit/val", "gtFine/val")
    assert cfg.data.train.pipeline == cfg.train_pipeline
    state = _build(cfg).state_dict()
    assert "backbone.level2.20.f_glo.fc.2.weight" in state
    assert tuple(state["backbone.level2.0.conv1x1.conv.weight"].shape) == (128, 131, 3, 3)
    assert tuple(state["backbone.level1.1.conv1x1.activate.weight"].shape) == (32,)
    assert tuple(state["decode_head.conv_seg.weight"].shape) == (19, 256, 1, 1)


def test_erfnet_resolves_to_mmseg_values():
    cfg = _load("erfnet/erfnet_fcn_4x4_512x1024_160k_cityscapes.py")
    assert cfg.model.to_dict() == {
        "type": "EncoderDecoder", "pretrained": None,
        "backbone": {"type": "ERFNet", "in_channels": 3, "enc_downsample_channels": (16, 64, 128),
                     "enc_stage_non_bottlenecks": (5, 8),
                     "enc_non_bottleneck_dilations": (2, 4, 8, 16),
                     "enc_non_bottleneck_channels": (64, 128),
                     "dec_upsample_channels": (64, 16), "dec_stages_non_bottleneck": (2, 2),
                     "dec_non_bottleneck_channels": (64, 16), "dropout_ratio": 0.1,
                     "init_cfg": None},
        "decode_head": {"type": "FCNHead", "in_channels": 16, "channels": 128, "num_convs": 1,
                        "concat_input": False, "dropout_ratio": 0.1, "num_classes": 19,
                        "norm_cfg": SYNC_BN, "align_corners": False, "loss_decode": CE},
        "train_cfg": {}, "test_cfg": {"mode": "whole"}}
    assert (cfg.data.samples_per_gpu, cfg.data.workers_per_gpu) == (4, 4)
    assert cfg.crop_size == (512, 1024)
    assert cfg.runner.max_iters == 160000 and cfg.optimizer.lr == 0.01
    model = _build(cfg)
    assert len(model.backbone.encoder) == 3 + 5 + 8 and len(model.backbone.decoder) == 6
    state = model.state_dict()
    assert tuple(state["backbone.encoder.0.conv.weight"].shape) == (13, 3, 3, 3)
    assert tuple(state["backbone.decoder.3.conv.weight"].shape) == (64, 16, 3, 3)  # transposed


def test_fastscnn_resolves_to_mmseg_values():
    cfg = _load("fastscnn/fast_scnn_lr0.12_8x4_160k_cityscapes.py")
    norm = {"type": "SyncBN", "requires_grad": True, "momentum": 0.01}
    sigmoid = {"type": "CrossEntropyLoss", "use_sigmoid": True}

    def aux(in_channels, in_index):
        return {"type": "FCNHead", "in_channels": in_channels, "channels": 32, "num_convs": 1,
                "num_classes": 19, "in_index": in_index, "norm_cfg": norm,
                "concat_input": False, "align_corners": False,
                "loss_decode": {**sigmoid, "loss_weight": 0.4}}

    assert cfg.model.to_dict() == {
        "type": "EncoderDecoder",
        "backbone": {"type": "FastSCNN", "downsample_dw_channels": (32, 48),
                     "global_in_channels": 64, "global_block_channels": (64, 96, 128),
                     "global_block_strides": (2, 2, 1), "global_out_channels": 128,
                     "higher_in_channels": 64, "lower_in_channels": 128,
                     "fusion_out_channels": 128, "out_indices": (0, 1, 2), "norm_cfg": norm,
                     "align_corners": False},
        "decode_head": {"type": "DepthwiseSeparableFCNHead", "in_channels": 128,
                        "channels": 128, "concat_input": False, "num_classes": 19,
                        "in_index": -1, "norm_cfg": norm, "align_corners": False,
                        "loss_decode": {**sigmoid, "loss_weight": 1}},
        "auxiliary_head": [aux(128, -2), aux(64, -3)],
        "train_cfg": {}, "test_cfg": {"mode": "whole"}}
    assert (cfg.data.samples_per_gpu, cfg.data.workers_per_gpu) == (4, 4)
    assert cfg.optimizer.to_dict() == {"type": "SGD", "lr": 0.12, "momentum": 0.9,
                                       "weight_decay": 4e-5}
    assert cfg.runner.max_iters == 160000
    state = _build(cfg).state_dict()
    assert tuple(state["backbone.global_feature_extractor.bottleneck1.0.conv.0.conv.weight"]
                 .shape) == (384, 64, 1, 1)
    assert tuple(state["backbone.global_feature_extractor.out.conv.weight"].shape) == (
        128, 256, 3, 3)
    assert tuple(state["backbone.feature_fusion.dwconv.conv.weight"].shape) == (128, 1, 3, 3)
    assert tuple(state["decode_head.convs.0.depthwise_conv.conv.weight"].shape) == (
        128, 1, 3, 3)


def _jpu_psp_model(num_classes):
    return {
        "type": "EncoderDecoder", "pretrained": "open-mmlab://resnet50_v1c",
        "backbone": {"type": "ResNetV1c", "depth": 50, "num_stages": 4, "dilations": (1, 1, 2, 4),
                     "strides": (1, 2, 2, 2), "out_indices": (1, 2, 3), "norm_cfg": SYNC_BN,
                     "norm_eval": False, "style": "pytorch", "contract_dilation": True},
        "neck": {"type": "JPU", "in_channels": (512, 1024, 2048), "mid_channels": 512,
                 "start_level": 0, "end_level": -1, "dilations": (1, 2, 4, 8),
                 "align_corners": False, "norm_cfg": SYNC_BN},
        "decode_head": {"type": "PSPHead", "in_channels": 2048, "in_index": 2, "channels": 512,
                        "pool_scales": (1, 2, 3, 6), "dropout_ratio": 0.1,
                        "num_classes": num_classes, "norm_cfg": SYNC_BN, "align_corners": False,
                        "loss_decode": CE},
        "auxiliary_head": {"type": "FCNHead", "in_channels": 1024, "in_index": 1,
                           "channels": 256, "num_convs": 1, "concat_input": False,
                           "dropout_ratio": 0.1, "num_classes": num_classes,
                           "norm_cfg": SYNC_BN, "align_corners": False, "loss_decode": CE_AUX},
        "train_cfg": {}, "test_cfg": {"mode": "whole"}}


@pytest.mark.parametrize("name", FASTFCN)
def test_fastfcn_resolves_to_mmseg_values(name):
    cfg = _load(f"fastfcn/{name}")
    ade = "ade20k" in name
    expected = _jpu_psp_model(150 if ade else 19)
    if "_aspp_" in name:  # _delete_=True: the ASPPHead dict replaces the PSPHead one wholly
        expected["decode_head"] = {
            "type": "ASPPHead", "in_channels": 2048, "in_index": 2, "channels": 512,
            "dilations": (1, 12, 24, 36), "dropout_ratio": 0.1,
            "num_classes": 150 if ade else 19, "norm_cfg": SYNC_BN, "align_corners": False,
            "loss_decode": CE}
    if "_enc_" in name:  # EncHead reads all three JPU outputs
        expected["decode_head"] = {
            "type": "EncHead", "in_channels": [512, 1024, 2048], "in_index": (0, 1, 2),
            "channels": 512, "num_codes": 32, "use_se_loss": True, "add_lateral": False,
            "dropout_ratio": 0.1, "num_classes": 150 if ade else 19, "norm_cfg": SYNC_BN,
            "align_corners": False, "loss_decode": CE,
            "loss_se_decode": {"type": "CrossEntropyLoss", "use_sigmoid": True,
                               "loss_weight": 0.2}}
    assert cfg.model.to_dict() == expected
    assert cfg.crop_size == ((512, 512) if ade else (512, 1024))
    assert cfg.data.samples_per_gpu == (4 if ade or "4x4" in name else 2)
    assert cfg.runner.max_iters == (160000 if "160k" in name else 80000)
    model = _build(cfg)
    assert model.backbone.init_cfg == {"type": "Pretrained",
                                       "checkpoint": "open-mmlab://resnet50_v1c"}
    state = model.state_dict()
    assert tuple(state["neck.conv_layers.2.0.conv.weight"].shape) == (512, 2048, 3, 3)
    assert tuple(state["neck.dilation_layers.3.0.depthwise_conv.conv.weight"].shape) == (
        1536, 1, 3, 3)
    assert model.neck.dilation_layers[3][0].depthwise_conv.conv.dilation == (8, 8)
    assert tuple(state["auxiliary_head.convs.0.conv.weight"].shape) == (256, 1024, 3, 3)
