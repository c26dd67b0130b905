"""configs/bisenetv1, bisenetv2, stdc (MMSegmentation v0.30.0's files) hold MMSeg's values.

The expected values are written out by hand from MMSegmentation v0.30.0's config files
(configs/{bisenetv1,bisenetv2,stdc} and _base_/models/{bisenetv1_r18-d32,bisenetv2,stdc}.py).
Building every config is tests/model_configs/test_configs_build.py's job; here a few builds check
the shapes the values imply.
"""
import warnings
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.errors import CheckpointError
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[2]
SYNC = {"type": "SyncBN", "requires_grad": True}
BN = {"type": "BN", "requires_grad": True}
CE = {"type": "CrossEntropyLoss", "use_sigmoid": False, "loss_weight": 1.0}
OHEM = {"type": "OHEMPixelSampler", "thresh": 0.7, "min_kept": 10000}
STDC_URL = "https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/stdc/"


def _cfg(path: str) -> Config:
    return Config.fromfile(ROOT / "configs" / path)


def _meta(cfg: Config):
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        return build_segmentor(cfg.model)


def _fcn(in_channels, channels, num_convs, in_index, num_classes, norm=SYNC, **extra):
    return {"type": "FCNHead", "in_channels": in_channels, "channels": channels,
            "num_convs": num_convs, "num_classes": num_classes, "in_index": in_index,
            "norm_cfg": norm, "concat_input": False, "align_corners": False, **extra,
            "loss_decode": CE}


def test_the_v0_30_0_files_are_all_there():
    names = lambda d: sorted(p.name for p in (ROOT / "configs" / d).glob("*.py"))  # noqa: E731
    pre = "in1k-pre_"
    assert names("bisenetv1") == sorted(
        [f"bisenetv1_r18-d32_{p}4x4_1024x1024_160k_cityscapes.py" for p in ("", pre)]
        + ["bisenetv1_r18-d32_in1k-pre_4x8_1024x1024_160k_cityscapes.py"]
        + [f"bisenetv1_r50-d32_{p}4x4_1024x1024_160k_cityscapes.py" for p in ("", pre)]
        + [f"bisenetv1_r{d}-d32_{p}lr5e-3_4x4_512x512_160k_coco-stuff164k.py"
           for d in (18, 50, 101) for p in ("", pre)])
    assert names("bisenetv2") == sorted(
        f"bisenetv2_fcn_{v}_1024x1024_160k_cityscapes.py"
        for v in ("4x4", "4x8", "fp16_4x4", "ohem_4x4"))
    assert names("stdc") == sorted(f"stdc{i}_{p}512x1024_80k_cityscapes.py"
                                   for i in (1, 2) for p in ("", pre))


def test_bisenetv1_r18_cityscapes_resolves_to_mmseg_values():
    cfg = _cfg("bisenetv1/bisenetv1_r18-d32_4x4_1024x1024_160k_cityscapes.py")
    assert cfg.model.to_dict() == {
        "type": "EncoderDecoder",
        "backbone": {
            "type": "BiSeNetV1", "in_channels": 3, "context_channels": (128, 256, 512),
            "spatial_channels": (64, 64, 64, 128), "out_indices": (0, 1, 2), "out_channels": 256,
            "backbone_cfg": {"type": "ResNet", "in_channels": 3, "depth": 18, "num_stages": 4,
                             "out_indices": (0, 1, 2, 3), "dilations": (1, 1, 1, 1),
                             "strides": (1, 2, 2, 2), "norm_cfg": SYNC, "norm_eval": False,
                             "style": "pytorch", "contract_dilation": True},
            "norm_cfg": SYNC, "align_corners": False, "init_cfg": None},
        "decode_head": {"type": "FCNHead", "in_channels": 256, "in_index": 0, "channels": 256,
                        "num_convs": 1, "concat_input": False, "dropout_ratio": 0.1,
                        "num_classes": 19, "norm_cfg": SYNC, "align_corners": False,
                        "loss_decode": CE},
        "auxiliary_head": [_fcn(128, 64, 1, 1, 19), _fcn(128, 64, 1, 2, 19)],
        "train_cfg": {}, "test_cfg": {"mode": "whole"}}
    assert cfg.optimizer.to_dict() == {"type": "SGD", "lr": 0.025, "momentum": 0.9,
                                       "weight_decay": 0.0005}
    assert cfg.lr_config.to_dict() == {"policy": "poly", "power": 0.9, "min_lr": 1e-4,
                                       "by_epoch": False, "warmup": "linear",
                                       "warmup_iters": 1000}
    assert (cfg.data.samples_per_gpu, cfg.data.workers_per_gpu) == (4, 4)
    assert cfg.runner.max_iters == 160000 and cfg.crop_size == (1024, 1024)
    assert cfg.data.train.type == "CityscapesDataset"
    assert cfg.evaluation.to_dict() == {"interval": 16000, "metric": "mIoU", "pre_eval": True}


def test_bisenetv1_pretrained_and_batch_variants():
    pre = _cfg("bisenetv1/bisenetv1_r18-d32_in1k-pre_4x4_1024x1024_160k_cityscapes.py")
    assert pre.model.backbone.backbone_cfg.init_cfg.to_dict() == {
        "type": "Pretrained", "checkpoint": "open-mmlab://resnet18_v1c"}
    assert pre.optimizer.lr == 0.025
    x8 = _cfg("bisenetv1/bisenetv1_r18-d32_in1k-pre_4x8_1024x1024_160k_cityscapes.py")
    assert (x8.data.samples_per_gpu, x8.data.workers_per_gpu) == (8, 4)
    assert x8.model.backbone.backbone_cfg.init_cfg.checkpoint == "open-mmlab://resnet18_v1c"
    r50 = _cfg("bisenetv1/bisenetv1_r50-d32_in1k-pre_4x4_1024x1024_160k_cityscapes.py")
    assert r50.model.backbone.backbone_cfg.init_cfg.checkpoint == "open-mmlab://resnet50_v1c"
    for name, depth in (("r101", 101), ("r50", 50), ("r18", 18)):
        coco = _cfg(f"bisenetv1/bisenetv1_{name}-d32_in1k-pre_lr5e-3_4x4_512x512_160k_"
                    f"coco-stuff164k.py")
        assert coco.model.backbone.backbone_cfg.init_cfg.checkpoint == \
            f"open-mmlab://resnet{depth}_v1c"
        assert coco.model.backbone.backbone_cfg.depth == depth


def test_bisenetv1_r50_cityscapes_and_coco_stuff():
    r50 = _cfg("bisenetv1/bisenetv1_r50-d32_4x4_1024x1024_160k_cityscapes.py")
    backbone = r50.model.backbone
    assert (backbone.context_channels, backbone.spatial_channels, backbone.out_channels) == (
        (512, 1024, 2048), (256, 256, 256, 512), 1024)
    assert backbone.backbone_cfg.type == "ResNet" and backbone.backbone_cfg.depth == 50
    assert (r50.model.decode_head.in_channels, r50.model.decode_head.channels) == (1024, 1024)
    # MMSeg's r50 aux heads omit align_corners / loss_decode (FCNHead defaults)
    assert [h.to_dict() for h in r50.model.auxiliary_head] == [
        {"type": "FCNHead", "in_channels": 512, "channels": 256, "num_convs": 1,
         "num_classes": 19, "in_index": i, "norm_cfg": SYNC, "concat_input": False}
        for i in (1, 2)]
    assert r50.optimizer.lr == 0.05
    state = _meta(r50).state_dict()
    assert tuple(state["backbone.context_path.arm16.conv_layer.conv.weight"].shape) == (
        512, 1024, 3, 3)
    assert tuple(state["backbone.ffm.conv1.conv.weight"].shape) == (1024, 1024, 1, 1)
    assert tuple(state["backbone.context_path.backbone.layer4.2.conv3.weight"].shape) == (
        2048, 512, 1, 1)

    r18 = _cfg("bisenetv1/bisenetv1_r18-d32_lr5e-3_4x4_512x512_160k_coco-stuff164k.py")
    assert r18.model.decode_head.num_classes == 171 and r18.optimizer.lr == 0.005
    assert [h.to_dict() for h in r18.model.auxiliary_head] == [
        _fcn(128, 64, 1, i, 171) for i in (1, 2)]
    assert r18.data.train.to_dict()["type"] == "COCOStuffDataset"
    assert (r18.data.train.img_dir, r18.data.val.ann_dir) == ("images/train2017",
                                                             "annotations/val2017")
    assert r18.crop_size == (512, 512) and r18.runner.max_iters == 160000
    assert r18.lr_config.warmup_iters == 1000
    r101 = _cfg("bisenetv1/bisenetv1_r101-d32_lr5e-3_4x4_512x512_160k_coco-stuff164k.py")
    assert r101.model.backbone.backbone_cfg.depth == 101
    assert [h.to_dict() for h in r101.model.auxiliary_head] == [
        _fcn(512, 256, 1, i, 171) for i in (1, 2)]
    assert (r101.model.decode_head.in_channels, r101.model.decode_head.num_classes) == (1024, 171)


def test_bisenetv1_in1k_pretrained_offline_says_what_to_do():
    cfg = _cfg("bisenetv1/bisenetv1_r18-d32_in1k-pre_4x4_1024x1024_160k_cityscapes.py")
    cfg.model.backbone.backbone_cfg.init_cfg.checkpoint = "open-mmlab://resnet18_v1c_uncached"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_segmentor(cfg.model)
    with pytest.raises(CheckpointError, match="pretrained=None"):
        model.init_weights()


def test_bisenetv2_base_and_variants():
    cfg = _cfg("bisenetv2/bisenetv2_fcn_4x4_1024x1024_160k_cityscapes.py")
    assert cfg.model.pretrained is None
    assert cfg.model.backbone.to_dict() == {
        "type": "BiSeNetV2", "detail_channels": (64, 64, 128),
        "semantic_channels": (16, 32, 64, 128), "semantic_expansion_ratio": 6,
        "bga_channels": 128, "out_indices": (0, 1, 2, 3, 4), "init_cfg": None,
        "align_corners": False}
    head = cfg.model.decode_head.to_dict()
    assert head == {"type": "FCNHead", "in_channels": 128, "in_index": 0, "channels": 1024,
                    "num_convs": 1, "concat_input": False, "dropout_ratio": 0.1,
                    "num_classes": 19, "norm_cfg": SYNC, "align_corners": False,
                    "loss_decode": CE}
    assert [h.to_dict() for h in cfg.model.auxiliary_head] == [
        _fcn(c, ch, 2, i, 19) for i, (c, ch) in
        enumerate([(16, 16), (32, 64), (64, 256), (128, 1024)], start=1)]
    assert cfg.optimizer.lr == 0.05 and cfg.lr_config.warmup_iters == 1000
    assert (cfg.data.samples_per_gpu, cfg.runner.max_iters) == (4, 160000)
    assert _cfg("bisenetv2/bisenetv2_fcn_4x8_1024x1024_160k_cityscapes.py").data.samples_per_gpu \
        == 8
    fp16 = _cfg("bisenetv2/bisenetv2_fcn_fp16_4x4_1024x1024_160k_cityscapes.py")
    assert fp16.optimizer_config.to_dict() == {"type": "Fp16OptimizerHook", "loss_scale": 512.0}
    assert fp16.fp16.to_dict() == {}
    ohem = _cfg("bisenetv2/bisenetv2_fcn_ohem_4x4_1024x1024_160k_cityscapes.py")
    assert ohem.model.decode_head.sampler.to_dict() == OHEM
    assert [h.sampler.to_dict() for h in ohem.model.auxiliary_head] == [OHEM] * 4
    state = _meta(cfg).state_dict()
    assert tuple(state["backbone.semantic.stage4.0.dwconv.0.conv.weight"].shape) == (384, 1, 3, 3)
    assert tuple(state["backbone.bga.conv.conv.weight"].shape) == (128, 128, 3, 3)
    assert tuple(state["auxiliary_head.3.convs.0.conv.weight"].shape) == (1024, 128, 3, 3)


def test_stdc_configs_resolve_to_mmseg_values():
    cfg = _cfg("stdc/stdc1_512x1024_80k_cityscapes.py")
    assert cfg.model.backbone.to_dict() == {
        "type": "STDCContextPathNet",
        "backbone_cfg": {"type": "STDCNet", "stdc_type": "STDCNet1", "in_channels": 3,
                         "channels": (32, 64, 256, 512, 1024), "bottleneck_type": "cat",
                         "num_convs": 4, "norm_cfg": BN, "act_cfg": {"type": "ReLU"},
                         "with_final_conv": False},
        "last_in_channels": (1024, 512), "out_channels": 128,
        "ffm_cfg": {"in_channels": 384, "out_channels": 256, "scale_factor": 4}}
    decode = cfg.model.decode_head
    assert (decode.in_channels, decode.channels, decode.in_index, decode.align_corners) == (
        256, 256, 3, True)
    assert decode.sampler.to_dict() == OHEM and decode.norm_cfg.to_dict() == BN
    aux = cfg.model.auxiliary_head
    assert [(h.type, h.in_channels, h.channels, h.in_index, h.num_classes) for h in aux] == [
        ("FCNHead", 128, 64, 2, 19), ("FCNHead", 128, 64, 1, 19), ("STDCHead", 256, 64, 0, 2)]
    assert aux[2].boundary_threshold == 0.1 and aux[2].align_corners is True
    assert [d.to_dict() for d in aux[2].loss_decode] == [
        {"type": "CrossEntropyLoss", "loss_name": "loss_ce", "use_sigmoid": True,
         "loss_weight": 1.0},
        {"type": "DiceLoss", "loss_name": "loss_dice", "loss_weight": 1.0}]
    assert cfg.lr_config.to_dict() == {"policy": "poly", "power": 0.9, "min_lr": 1e-4,
                                       "by_epoch": False, "warmup": "linear",
                                       "warmup_iters": 1000}
    assert cfg.optimizer.lr == 0.01 and cfg.runner.max_iters == 80000
    assert (cfg.data.samples_per_gpu, cfg.data.workers_per_gpu) == (12, 4)
    assert cfg.crop_size == (512, 1024) and cfg.model.test_cfg.to_dict() == {"mode": "whole"}
    stdc2 = _cfg("stdc/stdc2_512x1024_80k_cityscapes.py")
    assert stdc2.model.backbone.backbone_cfg.stdc_type == "STDCNet2"
    for i, name in ((1, "stdc1_20220308-5368626c.pth"), (2, "stdc2_20220308-7dbd9127.pth")):
        pre = _cfg(f"stdc/stdc{i}_in1k-pre_512x1024_80k_cityscapes.py")
        assert pre.model.backbone.backbone_cfg.init_cfg.to_dict() == {
            "type": "Pretrained", "checkpoint": STDC_URL + name}
        assert pre.model.backbone.backbone_cfg.stdc_type == f"STDCNet{i}"
    state = _meta(stdc2).state_dict()
    assert "backbone.backbone.stages.3.4.layers.3.conv.weight" in state  # STDC2: 5 modules
    assert tuple(state["backbone.ffm.attention.1.conv.weight"].shape) == (64, 256, 1, 1)
    assert tuple(state["auxiliary_head.2.conv_seg.weight"].shape) == (2, 64, 1, 1)
    assert tuple(state["auxiliary_head.2.laplacian_kernel"].shape) == (1, 1, 3, 3)


def test_full_size_stdc1_trains_and_infers():
    cfg = _cfg("stdc/stdc1_in1k-pre_512x1024_80k_cityscapes.py")
    cfg.model.backbone.backbone_cfg.init_cfg.checkpoint = STDC_URL + "stdc1_not_cached.pth"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_segmentor(cfg.model)
        with pytest.raises(CheckpointError, match="pretrained=None"):
            model.init_weights()  # the in1k weights are not here: say how to do without
        torch.manual_seed(0)
        x, label = torch.randn(2, 3, 64, 64), torch.randint(0, 19, (2, 1, 64, 64))
        metas = [dict(img_shape=(64, 64), ori_shape=(64, 64), pad_shape=(64, 64))] * 2
        losses = model.train().forward_train(x, metas, label)
        with torch.no_grad():
            logits = model.eval().encode_decode(x, metas)
    assert sorted(k for k in losses if "loss" in k) == [
        "aux_0.loss_ce", "aux_1.loss_ce", "aux_2.loss_ce", "aux_2.loss_dice", "decode.loss_ce"]
    assert all(torch.isfinite(v) for v in losses.values())
    assert logits.shape == (2, 19, 64, 64)
