"""configs/mobilenet_v2, mobilenet_v3, resnest (MMSegmentation v0.30.0's files) hold MMSeg's values.

The expected values are written out by hand from MMSegmentation v0.30.0's config files
(configs/{mobilenet_v2,mobilenet_v3,resnest}, _base_/models/lraspp_m-v3-d8.py and the R-101
FCN/PSP/DeepLabV3/V3+ configs they inherit). Building every config is
tests/model_configs/test_configs_build.py's job; a few builds here check what the values imply.
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
SYNC_EPS = {"type": "SyncBN", "eps": 0.001, "requires_grad": True}
CE = {"type": "CrossEntropyLoss", "use_sigmoid": False, "loss_weight": 1.0}
DATASETS = {"cityscapes": ("512x1024_80k_cityscapes", 19, 80000, 2),
            "ade20k": ("512x512_160k_ade20k", 150, 160000, 4)}
METHODS = ("fcn", "pspnet", "deeplabv3", "deeplabv3plus")


def _cfg(path: str) -> Config:
    return Config.fromfile(ROOT / "configs" / path)


def _meta(cfg: Config):
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        return build_segmentor(cfg.model)


def _names(folder: str):
    return sorted(p.name for p in (ROOT / "configs" / folder).glob("*.py"))


def test_the_v0_30_0_files_are_all_there():
    assert _names("mobilenet_v2") == sorted(
        f"{m}_m-v2-d8_{d}.py" for m in METHODS for d, *_ in DATASETS.values())
    assert _names("mobilenet_v3") == sorted(
        f"lraspp_m-v3{s}-d8{p}_512x1024_320k_cityscapes.py" for s in ("", "s")
        for p in ("", "_scratch"))
    assert _names("resnest") == sorted(
        f"{m}_s101-d8_{d}.py" for m in METHODS for d, *_ in DATASETS.values())


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_mobilenet_v2_replaces_the_backbone_and_head_inputs(method, dataset):
    suffix, num_classes, iters, per_gpu = DATASETS[dataset]
    cfg = _cfg(f"mobilenet_v2/{method}_m-v2-d8_{suffix}.py")
    model = cfg.model
    assert model.pretrained == "mmcls://mobilenet_v2"
    assert model.backbone.to_dict() == {  # _delete_=True: nothing of ResNetV1c is left
        "type": "MobileNetV2", "widen_factor": 1.0, "strides": (1, 2, 2, 1, 1, 1, 1),
        "dilations": (1, 1, 1, 2, 2, 4, 4), "out_indices": (1, 2, 4, 6), "norm_cfg": SYNC}
    head = model.decode_head
    assert (head.type, head.in_channels, head.in_index, head.channels, head.num_classes) == (
        {"fcn": "FCNHead", "pspnet": "PSPHead", "deeplabv3": "ASPPHead",
         "deeplabv3plus": "DepthwiseSeparableASPPHead"}[method], 320, 3, 512, num_classes)
    if method == "deeplabv3plus":
        assert (head.c1_in_channels, head.c1_channels, head.dilations) == (24, 48, (1, 12, 24, 36))
    aux = model.auxiliary_head
    assert (aux.type, aux.in_channels, aux.in_index, aux.channels) == ("FCNHead", 96, 2, 256)
    assert aux.loss_decode.loss_weight == 0.4
    assert (cfg.runner.max_iters, cfg.data.samples_per_gpu) == (iters, per_gpu)
    assert cfg.optimizer.lr == 0.01 and cfg.evaluation.interval == iters // 10


def test_mobilenet_v2_d8_builds_into_stride_8_heads():
    model = _meta(_cfg("mobilenet_v2/deeplabv3plus_m-v2-d8_512x1024_80k_cityscapes.py"))
    assert model.backbone.out_channels == (24, 32, 96, 320)
    assert model.backbone.out_strides == (4, 8, 8, 8)


LRASPP_LARGE = {
    "type": "EncoderDecoder",
    "backbone": {"type": "MobileNetV3", "arch": "large", "out_indices": (1, 3, 16),
                 "norm_cfg": SYNC_EPS},
    "decode_head": {"type": "LRASPPHead", "in_channels": (16, 24, 960), "in_index": (0, 1, 2),
                    "channels": 128, "input_transform": "multiple_select", "dropout_ratio": 0.1,
                    "num_classes": 19, "norm_cfg": SYNC_EPS, "act_cfg": {"type": "ReLU"},
                    "align_corners": False, "loss_decode": CE},
    "train_cfg": {}, "test_cfg": {"mode": "whole"}}


@pytest.mark.parametrize("scratch", [False, True])
def test_lraspp_large_resolves_to_mmseg_values(scratch):
    cfg = _cfg(f"mobilenet_v3/lraspp_m-v3-d8{'_scratch' if scratch else ''}"
               "_512x1024_320k_cityscapes.py")
    pretrained = {} if scratch else {"pretrained": "open-mmlab://contrib/mobilenet_v3_large"}
    assert cfg.model.to_dict() == {**LRASPP_LARGE, **pretrained}
    assert (cfg.data.samples_per_gpu, cfg.data.workers_per_gpu) == (4, 4)
    assert cfg.runner.to_dict() == {"type": "IterBasedRunner", "max_iters": 320000}
    # the rest of the schedule stays schedule_160k's
    assert cfg.optimizer.to_dict() == {"type": "SGD", "lr": 0.01, "momentum": 0.9,
                                       "weight_decay": 0.0005}
    assert cfg.lr_config.to_dict() == {"policy": "poly", "power": 0.9, "min_lr": 1e-4,
                                       "by_epoch": False}
    assert cfg.checkpoint_config.interval == 16000 and cfg.evaluation.interval == 16000
    assert cfg.crop_size == (512, 1024)


@pytest.mark.parametrize("scratch", [False, True])
def test_lraspp_small_resolves_to_mmseg_values(scratch):
    cfg = _cfg(f"mobilenet_v3/lraspp_m-v3s-d8{'_scratch' if scratch else ''}"
               "_512x1024_320k_cityscapes.py")
    model = cfg.model.to_dict()
    small = "open-mmlab://contrib/mobilenet_v3_small"
    assert model.get("pretrained") == (None if scratch else small)
    assert model["backbone"] == {"type": "MobileNetV3", "arch": "small", "out_indices": (0, 1, 12),
                                 "norm_cfg": SYNC_EPS}
    assert model["decode_head"] == {**LRASPP_LARGE["decode_head"], "in_channels": (16, 16, 576)}
    assert cfg.cudnn_benchmark is False and cfg.runner.max_iters == 320000


@pytest.mark.parametrize("arch,path", [
    ("large", "lraspp_m-v3-d8_512x1024_320k_cityscapes.py"),
    ("small", "lraspp_m-v3s-d8_512x1024_320k_cityscapes.py")])
def test_lraspp_builds_with_the_declared_levels(arch, path):
    model = _meta(_cfg(f"mobilenet_v3/{path}"))
    assert model.backbone.arch == arch and model.backbone.out_strides == (2, 4, 8)
    assert model.backbone.out_channels == tuple(model.decode_head.in_channels)
    # 512x1024 crops: the 1/8 map is 64x128, MMSeg's fixed 49x49 pooling fits
    assert model.decode_head.image_pool[0].kernel_size == 49


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_resnest_keeps_the_r101_d8_layout(method, dataset):
    suffix, num_classes, iters, _ = DATASETS[dataset]
    cfg = _cfg(f"resnest/{method}_s101-d8_{suffix}.py")
    assert cfg.model.pretrained == "open-mmlab://resnest101"
    assert cfg.model.backbone.to_dict() == {  # merged into the ResNetV1c-101 dict
        "type": "ResNeSt", "depth": 101, "num_stages": 4, "out_indices": (0, 1, 2, 3),
        "dilations": (1, 1, 2, 4), "strides": (1, 2, 1, 1), "norm_cfg": SYNC, "norm_eval": False,
        "style": "pytorch", "contract_dilation": True, "stem_channels": 128, "radix": 2,
        "reduction_factor": 4, "avg_down_stride": True}
    head = cfg.model.decode_head
    assert (head.in_channels, head.channels, head.num_classes) == (2048, 512, num_classes)
    assert cfg.model.auxiliary_head.in_channels == 1024 and cfg.runner.max_iters == iters


def test_resnest_101_builds_with_its_deep_stem():
    model = _meta(_cfg("resnest/fcn_s101-d8_512x1024_80k_cityscapes.py"))
    assert tuple(model.backbone.stem[6].weight.shape) == (128, 64, 3, 3)
    assert model.backbone.out_channels == (256, 512, 1024, 2048)


@pytest.mark.parametrize("path,file", [
    ("mobilenet_v2/fcn_m-v2-d8_512x1024_80k_cityscapes.py",
     "mobilenet_v2_batch256_imagenet_20200708-3b2dc3af.pth"),
    ("mobilenet_v3/lraspp_m-v3-d8_512x1024_320k_cityscapes.py", "mobilenet_v3_large-bc2c3fd3.pth"),
    ("resnest/fcn_s101-d8_512x512_160k_ade20k.py", "resnest101_d2-f3b931b2.pth")])
def test_pretrained_names_resolve_to_the_published_files(path, file, tmp_path, monkeypatch):
    from seglab.checkpoint import resolve_checkpoint_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("SEGLAB_HOME", raising=False)
    with pytest.raises(CheckpointError, match="model.pretrained=None") as info:
        resolve_checkpoint_path(_cfg(path).model.pretrained)
    assert f"/{file}" in str(info.value)
