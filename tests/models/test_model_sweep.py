"""Sweeping checks: every config builds with MMSegmentation's state_dict layout.

The per-type sweep (every registered model runs on a tiny input) is test_registry_sweep.py."""
from __future__ import annotations

import copy
import warnings
from pathlib import Path

import pytest
import torch

from seglab.models import build_segmentor

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (REPO / "configs").rglob("*.py") if "_base_" not in p.parts)

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


@pytest.mark.skipif(not CONFIGS, reason="no model configs in configs/")
@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_config_builds(path):
    config = pytest.importorskip("seglab.config")
    cfg = config.Config.fromfile(str(path))
    model = _build_meta(cfg.model)
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
    if path.stem == "fcn_r50-d8_512x512_20k_voc12aug":
        _check_fcn_r50_d8_voc_layout(model)
    for key, shape in R50_HEAD_SHAPES.get(path.stem.split("_")[0], {}).items():
        if "_r50" in path.stem:
            assert tuple(state[key].shape) == shape, key
