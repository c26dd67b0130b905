"""configs/hrnet and configs/ocrnet (MMSegmentation v0.30.0's files) resolve to MMSeg's values.

The expected values are written out by hand from MMSegmentation 0.x's config files
(configs/hrnet/*.py, configs/ocrnet/*.py, _base_/models/fcn_hr18.py, ocrnet_hr18.py,
ocrnet_r50-d8.py and the dataset / schedule bases they name). That every file builds is
tests/model_configs/test_configs_build.py's job.
"""
import re
import warnings
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[2]
HRNET = sorted(p.name for p in (ROOT / "configs/hrnet").glob("*.py"))
OCRNET = sorted(p.name for p in (ROOT / "configs/ocrnet").glob("*.py"))
SYNC_BN = {"type": "SyncBN", "requires_grad": True}
W18 = (18, 36, 72, 144)
W48 = (48, 96, 192, 384)
# dataset name part -> (num_classes, crop size, dataset type)
DATASETS = {
    "cityscapes": (19, (512, 1024), "CityscapesDataset"),
    "ade20k": (150, (512, 512), "ADE20KDataset"),
    "voc12aug": (21, (512, 512), "PascalVOCDataset"),
    "pascal_context": (60, (480, 480), "PascalContextDataset"),
    "pascal_context_59": (59, (480, 480), "PascalContextDataset59"),
    "loveda": (7, (512, 512), "LoveDADataset"),
    "potsdam": (6, (512, 512), "PotsdamDataset"),
    "vaihingen": (6, (512, 512), "ISPRSDataset"),
    "isaid": (16, (896, 896), "iSAIDDataset"),
}
PRETRAINED = {"hr18": "open-mmlab://msra/hrnetv2_w18",
              "hr18s": "open-mmlab://msra/hrnetv2_w18_small",
              "hr48": "open-mmlab://msra/hrnetv2_w48"}


def _load(folder: str, name: str) -> Config:
    return Config.fromfile(ROOT / "configs" / folder / name)


def _extra(width: str) -> dict:
    """HRNet ``extra`` of W18 (the base file), W18-small and W48, as MMSeg's configs set it."""
    small, channels = width == "hr18s", W48 if width == "hr48" else W18
    blocks = 2 if small else 4
    return {
        "stage1": {"num_modules": 1, "num_branches": 1, "block": "BOTTLENECK",
                   "num_blocks": (blocks,), "num_channels": (64,)},
        "stage2": {"num_modules": 1, "num_branches": 2, "block": "BASIC",
                   "num_blocks": (blocks,) * 2, "num_channels": channels[:2]},
        "stage3": {"num_modules": 3 if small else 4, "num_branches": 3, "block": "BASIC",
                   "num_blocks": (blocks,) * 3, "num_channels": channels[:3]},
        "stage4": {"num_modules": 2 if small else 3, "num_branches": 4, "block": "BASIC",
                   "num_blocks": (blocks,) * 4, "num_channels": channels},
    }


def _fcn_head(channels, num_classes: int, loss_weight: float) -> dict:
    """The resize_concat FCNHead over all four branches."""
    return {"type": "FCNHead", "in_channels": list(channels), "in_index": (0, 1, 2, 3),
            "channels": sum(channels), "input_transform": "resize_concat", "kernel_size": 1,
            "num_convs": 1, "concat_input": False, "dropout_ratio": -1,
            "num_classes": num_classes, "norm_cfg": SYNC_BN, "align_corners": False,
            "loss_decode": {"type": "CrossEntropyLoss", "use_sigmoid": False,
                            "loss_weight": loss_weight}}


def _parse(name: str):
    """(width, crop, iters, dataset) from e.g. 'fcn_hr18s_4x4_896x896_80k_isaid.py'."""
    m = re.match(r"(?:fcn|ocrnet)_(hr18s|hr18|hr48)_(?:4x4_)?(\d+)x(\d+)_(\d+)k_(\w+)\.py$", name)
    assert m, name
    width, h, w, iters, dataset = m.groups()
    return width, (int(h), int(w)), int(iters) * 1000, dataset


def test_the_v0_30_0_files_are_all_there():
    per_width = ([f"480x480_{k}_pascal_context{s}" for k in ("40k", "80k") for s in ("", "_59")]
                 + ["4x4_512x512_80k_vaihingen", "4x4_896x896_80k_isaid"]
                 + [f"512x1024_{k}_cityscapes" for k in ("40k", "80k", "160k")]
                 + [f"512x512_{k}_ade20k" for k in ("80k", "160k")]
                 + [f"512x512_{k}_voc12aug" for k in ("20k", "40k")]
                 + ["512x512_80k_loveda", "512x512_80k_potsdam"])
    assert HRNET == sorted(f"fcn_{w}_{rest}.py" for w in ("hr18", "hr18s", "hr48")
                           for rest in per_width)
    ocr_width = ([f"512x1024_{k}_cityscapes" for k in ("40k", "80k", "160k")]
                 + [f"512x512_{k}_ade20k" for k in ("80k", "160k")]
                 + [f"512x512_{k}_voc12aug" for k in ("20k", "40k")])
    r101 = ["ocrnet_r101-d8_512x1024_40k_b8_cityscapes.py",
            "ocrnet_r101-d8_512x1024_40k_b16_cityscapes.py",
            "ocrnet_r101-d8_512x1024_80k_b16_cityscapes.py"]
    assert OCRNET == sorted([f"ocrnet_{w}_{rest}.py" for w in ("hr18", "hr18s", "hr48")
                             for rest in ocr_width] + r101)
    assert len(HRNET) == 45 and len(OCRNET) == 24
    for base in ("models/fcn_hr18.py", "models/ocrnet_hr18.py", "models/ocrnet_r50-d8.py"):
        assert (ROOT / "configs/_base_" / base).is_file(), base


def test_fcn_hr18_cityscapes_is_mmsegs_model():
    cfg = _load("hrnet", "fcn_hr18_512x1024_40k_cityscapes.py")
    assert cfg.model.to_dict() == {
        "type": "EncoderDecoder", "pretrained": PRETRAINED["hr18"],
        "backbone": {"type": "HRNet", "norm_cfg": SYNC_BN, "norm_eval": False,
                     "extra": _extra("hr18")},
        "decode_head": _fcn_head(W18, 19, 1.0),
        "train_cfg": {}, "test_cfg": {"mode": "whole"}}


@pytest.mark.parametrize("name", HRNET)
def test_every_fcn_hrnet_file(name):
    width, crop, iters, dataset = _parse(name)
    num_classes, crop_size, dataset_type = DATASETS[dataset]
    cfg = _load("hrnet", name)
    model = cfg.model
    assert model.type == "EncoderDecoder" and model.backbone.type == "HRNet"
    loveda_init = dataset == "loveda" and width != "hr18"  # see test_loveda_variants
    assert model.pretrained == (None if loveda_init else PRETRAINED[width])
    assert model.backbone.extra.to_dict() == _extra(width)
    channels = W48 if width == "hr48" else W18
    assert model.decode_head.to_dict() == _fcn_head(channels, num_classes, 1.0)
    assert crop == crop_size and cfg.crop_size == crop_size
    assert cfg.dataset_type == dataset_type and cfg.data.train.type == dataset_type
    assert cfg.runner.to_dict() == {"type": "IterBasedRunner", "max_iters": iters}
    assert cfg.checkpoint_config.interval == iters // 10
    assert cfg.evaluation.to_dict() == {"interval": iters // 10, "metric": "mIoU",
                                        "pre_eval": True}
    if dataset.startswith("pascal_context"):
        # Pascal Context: sliding-window test and a smaller learning rate / weight decay
        assert model.test_cfg.to_dict() == {"mode": "slide", "crop_size": (480, 480),
                                            "stride": (320, 320)}
        assert cfg.optimizer.to_dict() == {"type": "SGD", "lr": 0.004, "momentum": 0.9,
                                           "weight_decay": 0.0001}
    else:
        assert model.test_cfg.to_dict() == {"mode": "whole"}
        assert cfg.optimizer.to_dict() == {"type": "SGD", "lr": 0.01, "momentum": 0.9,
                                           "weight_decay": 0.0005}
    assert cfg.data.samples_per_gpu == (2 if dataset == "cityscapes" else 4)


def test_loveda_variants():
    """MMSeg's W18-small/W48 LoveDA files use backbone.init_cfg; seglab's copies add
    model.pretrained=None so the base's pretrained does not clash with it."""
    for width, ckpt in (("hr18s", "hrnetv2_w18_small"), ("hr48", "hrnetv2_w48")):
        cfg = _load("hrnet", f"fcn_{width}_512x512_80k_loveda.py")
        assert cfg.model.pretrained is None
        assert cfg.model.backbone.init_cfg.to_dict() == {
            "type": "Pretrained", "checkpoint": f"open-mmlab://msra/{ckpt}"}
    assert _load("hrnet", "fcn_hr18_512x512_80k_loveda.py").model.backbone.get("init_cfg") is None


def _ocr_head(channels, num_classes: int) -> dict:
    return {"type": "OCRHead", "in_channels": list(channels), "in_index": (0, 1, 2, 3),
            "input_transform": "resize_concat", "channels": 512, "ocr_channels": 256,
            "dropout_ratio": -1, "num_classes": num_classes, "norm_cfg": SYNC_BN,
            "align_corners": False,
            "loss_decode": {"type": "CrossEntropyLoss", "use_sigmoid": False,
                            "loss_weight": 1.0}}


@pytest.mark.parametrize("name", [n for n in OCRNET if "_hr" in n])
def test_every_ocrnet_hrnet_file(name):
    width, crop, iters, dataset = _parse(name)
    num_classes, crop_size, dataset_type = DATASETS[dataset]
    cfg = _load("ocrnet", name)
    model = cfg.model
    assert (model.type, model.num_stages, model.pretrained) == (
        "CascadeEncoderDecoder", 2, PRETRAINED[width])
    assert model.backbone.to_dict() == {"type": "HRNet", "norm_cfg": SYNC_BN,
                                        "norm_eval": False, "extra": _extra(width)}
    channels = W48 if width == "hr48" else W18
    assert len(model.decode_head) == 2
    assert model.decode_head[0].to_dict() == _fcn_head(channels, num_classes, 0.4)
    assert model.decode_head[1].to_dict() == _ocr_head(channels, num_classes)
    assert model.test_cfg.to_dict() == {"mode": "whole"} and model.train_cfg.to_dict() == {}
    assert crop == crop_size and cfg.crop_size == crop_size and cfg.dataset_type == dataset_type
    assert cfg.runner.max_iters == iters and cfg.evaluation.interval == iters // 10
    assert cfg.optimizer.to_dict() == {"type": "SGD", "lr": 0.01, "momentum": 0.9,
                                       "weight_decay": 0.0005}


@pytest.mark.parametrize("name,iters,lr,min_lr", [
    ("ocrnet_r101-d8_512x1024_40k_b8_cityscapes.py", 40000, 0.01, 1e-4),
    ("ocrnet_r101-d8_512x1024_40k_b16_cityscapes.py", 40000, 0.02, 2e-4),
    ("ocrnet_r101-d8_512x1024_80k_b16_cityscapes.py", 80000, 0.02, 2e-4)])
def test_ocrnet_r101(name, iters, lr, min_lr):
    cfg = _load("ocrnet", name)
    model = cfg.model
    assert (model.type, model.num_stages, model.pretrained) == (
        "CascadeEncoderDecoder", 2, "open-mmlab://resnet101_v1c")
    assert model.backbone.to_dict() == {
        "type": "ResNetV1c", "depth": 101, "num_stages": 4, "out_indices": (0, 1, 2, 3),
        "dilations": (1, 1, 2, 4), "strides": (1, 2, 1, 1), "norm_cfg": SYNC_BN,
        "norm_eval": False, "style": "pytorch", "contract_dilation": True}
    loss = lambda w: {"type": "CrossEntropyLoss", "use_sigmoid": False, "loss_weight": w}  # noqa
    assert model.decode_head[0].to_dict() == {
        "type": "FCNHead", "in_channels": 1024, "in_index": 2, "channels": 256, "num_convs": 1,
        "concat_input": False, "dropout_ratio": 0.1, "num_classes": 19, "norm_cfg": SYNC_BN,
        "align_corners": False, "loss_decode": loss(0.4)}
    assert model.decode_head[1].to_dict() == {
        "type": "OCRHead", "in_channels": 2048, "in_index": 3, "channels": 512,
        "ocr_channels": 256, "dropout_ratio": 0.1, "num_classes": 19, "norm_cfg": SYNC_BN,
        "align_corners": False, "loss_decode": loss(1.0)}
    assert cfg.runner.max_iters == iters
    assert (cfg.optimizer.lr, cfg.lr_config.min_lr) == (lr, min_lr)
    assert cfg.data.samples_per_gpu == 2 and cfg.crop_size == (512, 1024)


def test_ocrnet_hr18_builds_mmsegs_layout():
    """The W18 OCRNet on the meta device: MMSeg's cascade keys and shapes."""
    model = _meta_model("ocrnet", "ocrnet_hr18_512x1024_40k_cityscapes.py")
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["backbone.conv1.weight"] == (64, 3, 3, 3)
    assert shapes["backbone.layer1.0.downsample.0.weight"] == (256, 64, 1, 1)
    assert shapes["backbone.transition1.1.0.0.weight"] == (36, 256, 3, 3)
    assert shapes["backbone.stage4.2.fuse_layers.0.3.0.weight"] == (18, 144, 1, 1)
    assert shapes["backbone.stage4.2.fuse_layers.3.0.2.0.weight"] == (144, 18, 3, 3)
    assert shapes["decode_head.0.convs.0.conv.weight"] == (270, 270, 1, 1)
    assert shapes["decode_head.0.conv_seg.weight"] == (19, 270, 1, 1)
    assert shapes["decode_head.1.bottleneck.conv.weight"] == (512, 270, 3, 3)
    ocr = "decode_head.1.object_context_block."
    assert shapes[ocr + "query_project.1.conv.weight"] == (256, 256, 1, 1)
    assert shapes[ocr + "out_project.conv.weight"] == (512, 256, 1, 1)
    assert shapes[ocr + "bottleneck.conv.weight"] == (512, 1024, 1, 1)
    assert shapes["decode_head.1.conv_seg.weight"] == (19, 512, 1, 1)


def _meta_model(folder: str, name: str):
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")  # SyncBN on one process
        return build_segmentor(_load(folder, name).model)


def test_hrnetv2_parameter_counts_match_the_paper():
    """HRNetV2 paper (Sun et al. 2019), Cityscapes table: W48 65.9M, W18-Small-v2 3.9M."""
    for name, millions in (("fcn_hr48_512x1024_40k_cityscapes.py", 65.9),
                           ("fcn_hr18s_512x1024_40k_cityscapes.py", 3.9)):
        model = _meta_model("hrnet", name)
        count = sum(p.numel() for p in model.parameters())
        assert round(count / 1e6, 1) == millions, (name, count)
