"""Every config under configs/ loads, is a complete 0.x config and builds its model.

One parametrized check per file, keyed on the configs tree (not on a list): a config file added for
a new family is checked here without a test of its own. Each file is loaded once and its model
built once, on the meta device (no memory, no download), which still runs the segmentor's
build-time checks (heads' ``in_channels`` / ``in_index`` against the backbone or neck outputs) and
every module's constructor; the optimizer is built too, so the paramwise rules a config names
(layer decay, custom keys) meet the model's real parameter names. ``_base_`` files are loaded on
their own. Per-family tests (``test_<family>_configs.py``) check the values MMSegmentation's files
hold.
"""
from __future__ import annotations

import copy
import warnings
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.engine import build_optimizer
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[2]
# configs/1.x/ holds MMSeg 1.x configs (tests/model_configs/test_configs_1x_tree.py), not 0.x ones
ALL_CONFIGS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "configs").rglob("*.py")
                     if not p.is_relative_to(ROOT / "configs/1.x"))
BASE_FILES = [p for p in ALL_CONFIGS if "/_base_/" in p]
CONFIGS = [p for p in ALL_CONFIGS if "/_base_/" not in p]
# seglab's own configs (the demo and the CPU end-to-end tests) beside MMSegmentation's families.
OWN_DIRS = ("demo",)
TOP_LEVEL = ("model", "data", "optimizer", "lr_config", "runner", "log_config", "evaluation",
             "checkpoint_config")

# The class count of the dataset a config is named for, by its dataset word.
DATASET_CLASSES = {
    "cityscapes": 19, "voc12aug": 21, "ade20k": 150, "coco-stuff164k": 171, "context": 60,
    "59": 59, "loveda": 7, "potsdam": 6, "vaihingen": 6, "isaid": 16,
    # retinal vessels (UNet); "db1" ends "..._chase_db1.py"
    "drive": 2, "stare": 2, "hrf": 2, "db1": 2, "chase-db1": 2,
    # COCO-Stuff 10k; Dark Zurich / Nighttime Driving test Cityscapes models; the occluded face
    # set (face / background) of deeplabv3plus_r101_512x512_C-CM+C-WO-NatOcc-SOT.py
    "coco-stuff10k": 171, "dark": 19, "driving": 19, "C-CM+C-WO-NatOcc-SOT": 2,
}


# Parameter shapes of MMSeg's R50 decode heads (channels 512, inputs 2048 / c1 256 / UPer 256-2048).
R50_HEAD_SHAPES = {
    "pspnet": {"decode_head.psp_modules.3.1.conv.weight": (512, 2048, 1, 1),
               "decode_head.bottleneck.conv.weight": (512, 2048 + 4 * 512, 3, 3)},
    "deeplabv3": {"decode_head.image_pool.1.conv.weight": (512, 2048, 1, 1),
                  "decode_head.aspp_modules.0.conv.weight": (512, 2048, 1, 1),
                  "decode_head.aspp_modules.3.conv.weight": (512, 2048, 3, 3),
                  "decode_head.bottleneck.conv.weight": (512, 5 * 512, 3, 3)},
    "deeplabv3plus": {"decode_head.aspp_modules.1.depthwise_conv.conv.weight": (2048, 1, 3, 3),
                      "decode_head.aspp_modules.1.pointwise_conv.conv.weight": (512, 2048, 1, 1),
                      "decode_head.c1_bottleneck.conv.weight": (48, 256, 1, 1),
                      "decode_head.sep_bottleneck.0.depthwise_conv.conv.weight": (560, 1, 3, 3),
                      "decode_head.sep_bottleneck.1.pointwise_conv.bn.running_var": (512,)},
    "upernet": {"decode_head.lateral_convs.0.conv.weight": (512, 256, 1, 1),
                "decode_head.fpn_convs.2.conv.weight": (512, 512, 3, 3),
                "decode_head.psp_modules.0.1.conv.weight": (512, 2048, 1, 1),
                "decode_head.fpn_bottleneck.conv.weight": (512, 4 * 512, 3, 3)},
}


def _fcn_r50_d8_voc() -> dict:
    """MMSeg 0.x configs/_base_/models/fcn_r50-d8.py with num_classes=21 (BN for one process)."""
    norm = dict(type="SyncBN", requires_grad=True)
    head = lambda in_ch, idx, ch, n, cat, w: dict(  # noqa: E731
        type="FCNHead", in_channels=in_ch, in_index=idx, channels=ch, num_convs=n,
        concat_input=cat, dropout_ratio=0.1, num_classes=21, norm_cfg=norm, align_corners=False,
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=w))
    return dict(type="EncoderDecoder", pretrained="open-mmlab://resnet50_v1c",
                backbone=dict(type="ResNetV1c", depth=50, num_stages=4, out_indices=(0, 1, 2, 3),
                              dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1), norm_cfg=norm,
                              norm_eval=False, style="pytorch", contract_dilation=True),
                decode_head=head(2048, 3, 512, 2, True, 1.0),
                auxiliary_head=head(1024, 2, 256, 1, False, 0.4),
                train_cfg=dict(), test_cfg=dict(mode="whole"))


def _build_meta(cfg):
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        return build_segmentor(copy.deepcopy(cfg))


def _check_fcn_r50_d8_voc_layout(model):
    state = model.state_dict()
    keys = list(state)
    assert len(keys) == 358
    assert sum(p.numel() for p in model.parameters()) == 49_499_274
    assert keys[:3] == ["backbone.stem.0.weight", "backbone.stem.1.weight", "backbone.stem.1.bias"]
    assert tuple(state["backbone.stem.0.weight"].shape) == (32, 3, 3, 3)
    assert tuple(state["backbone.layer1.0.conv1.weight"].shape) == (64, 64, 1, 1)
    assert tuple(state["decode_head.conv_cat.conv.weight"].shape) == (512, 2048 + 512, 3, 3)
    assert tuple(state["decode_head.conv_seg.weight"].shape) == (21, 512, 1, 1)
    assert keys[-6:] == ["auxiliary_head.convs.0.conv.weight"] + [
        f"auxiliary_head.convs.0.bn.{k}"
        for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]


def test_fcn_r50_d8_voc_state_dict_layout():
    _check_fcn_r50_d8_voc_layout(_build_meta(_fcn_r50_d8_voc()))


# Heads without the base's 1x1 classifier: MMSeg's Segmenter head classifies by the product of
# class embeddings and patch tokens and deletes conv_seg.
NO_CONV_SEG = ("SegmenterMaskTransformerHead",)
# PointRend's PointHead classifies points: a Conv1d fc_seg (num_classes, C, 1), no conv_seg.
NO_CONV_SEG += ("PointHead",)


def _heads(model_cfg) -> list:
    """[(state_dict prefix, head config)] of the decode head and every auxiliary head."""
    decode = model_cfg.decode_head
    if isinstance(decode, (list, tuple)):  # CascadeEncoderDecoder: decode_head.<stage>
        heads = [(f"decode_head.{i}", head) for i, head in enumerate(decode)]
    elif decode.type == "IterativeDecodeHead":  # K-Net: the classifier is the kernel generator's
        heads = [("decode_head.kernel_generate_head", decode.kernel_generate_head)]
    else:
        heads = [("decode_head", decode)]
    aux = model_cfg.get("auxiliary_head")
    if isinstance(aux, (list, tuple)):
        heads += [(f"auxiliary_head.{i}", head) for i, head in enumerate(aux)]
    elif aux:
        heads.append(("auxiliary_head", aux))
    return heads


def test_the_tree_has_configs_to_check():
    assert len(CONFIGS) >= 644 and len(BASE_FILES) > 50
    assert {Path(p).parts[1] for p in CONFIGS} - set(OWN_DIRS)


@pytest.mark.parametrize("path", BASE_FILES)
def test_base_file_loads(path):
    assert len(Config.fromfile(ROOT / path)) > 0


def _dataset_classes(path: str) -> int:
    """The class count of the dataset a config file is named for (its last dataset word:
    "..._ade20k_pretrain_224x224_1K.py" (Swin), "..._ade20k_ms.py" (BEiT),
    "..._pascal_context_59.py")."""
    words = [word for word in Path(path).stem.split("_") if word in DATASET_CLASSES]
    assert words, f"{path}: no dataset word of {sorted(DATASET_CLASSES)} in the name"
    return DATASET_CLASSES[words[-1]]


@pytest.mark.parametrize("path", CONFIGS)
def test_config_is_complete_and_builds(path):
    cfg = Config.fromfile(ROOT / path)
    # a config is complete: a model to build, data to train on, a schedule to run
    legacy = "total_iters" in cfg  # MMSeg's CGNet configs give the schedule that way
    missing = [key for key in TOP_LEVEL if key not in cfg and not (key == "runner" and legacy)]
    assert not missing, f"{path} has no {missing}"
    text = cfg.pretty_text
    # as keys: "_base_" also occurs inside names such as vit_base_patch16_224.pth
    assert "_delete_" not in text and "_base_=" not in text and "_base_ =" not in text
    assert "'_base_'" not in text
    assert cfg.model.type in ("EncoderDecoder", "CascadeEncoderDecoder")
    if Path(path).parts[1] not in OWN_DIRS:
        head = cfg.model.decode_head  # a cascade's last head predicts
        head = head[-1] if isinstance(head, (list, tuple)) else head
        head = head.get("kernel_generate_head", head)  # K-Net: its classes are the generator's
        assert head.num_classes == _dataset_classes(path)
    model = _build_meta(cfg.model)
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")  # deprecation notes of 0.x names the configs use
        optimizer = build_optimizer(model, cfg.optimizer)
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    grouped = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert trainable <= grouped, f"{path}: trainable parameters left out of the optimizer"
    stem = Path(path).stem
    state = model.state_dict()
    for prefix, head in _heads(cfg.model):
        key = f"{prefix}.conv_seg.weight"
        if head.type in NO_CONV_SEG:
            assert key not in state, key
            if head.type == "PointHead":
                assert state[f"{prefix}.fc_seg.weight"].shape[:1] == (head.num_classes,)
        else:
            assert tuple(state[key].shape) == (head.num_classes, head.channels, 1, 1), key
    if cfg.model.backbone.type in ("ResNetV1c", "ResNetV1d"):  # the deep-stem ResNets
        assert "backbone.stem.0.weight" in state and "backbone.layer4.0.conv1.weight" in state
    if stem == "fcn_r50-d8_512x512_20k_voc12aug":
        _check_fcn_r50_d8_voc_layout(model)
    for key, shape in R50_HEAD_SHAPES.get(stem.split("_")[0], {}).items():
        if "_r50" in stem:
            assert tuple(state[key].shape) == shape, key
