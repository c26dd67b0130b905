"""Sweeping checks: every registered model class runs on tiny inputs; every config builds with
MMSegmentation's state_dict layout."""
from __future__ import annotations

import copy
import warnings
from pathlib import Path

import pytest
import torch

import seglab.models as models
from seglab.models import build_backbone, build_head, build_segmentor
from seglab.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (REPO / "configs").rglob("*.py") if "_base_" not in p.parts)
BN = dict(type="BN", requires_grad=True)
_FEATS = dict(channels=[8, 16, 32, 64], d8=[16, 8, 8, 8], d32=[16, 8, 4, 2])

# One tiny config per registered backbone/head; a new registration without an entry fails below.
TINY_BACKBONES = {
    "ResNet": dict(depth=18, base_channels=8),
    "ResNetV1c": dict(depth=18, stem_channels=16, base_channels=8),
    "ResNetV1d": dict(depth=50, stem_channels=16, base_channels=8, strides=(1, 2, 1, 1),
                      dilations=(1, 1, 2, 4), contract_dilation=True),
}
_HEAD_COMMON = dict(channels=8, num_classes=3, norm_cfg=BN)
TINY_HEADS = {
    "FCNHead": dict(in_channels=64, in_index=3),
    "PSPHead": dict(in_channels=64, in_index=3, pool_scales=(1, 2, 3, 6)),
    "ASPPHead": dict(in_channels=64, in_index=3, dilations=(1, 2, 3)),
    "DepthwiseSeparableASPPHead": dict(in_channels=64, in_index=3, dilations=(1, 2, 3),
                                       c1_in_channels=8, c1_channels=4),
    "UPerHead": dict(in_channels=[8, 16, 32, 64], in_index=[0, 1, 2, 3]),
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


def _registered(package) -> list:
    prefix = package.__name__ + "."
    return sorted(name for name in MODELS
                  if getattr(MODELS.get(name), "__module__", "").startswith(prefix))


def test_every_registered_backbone_and_head_has_a_tiny_config():
    assert _registered(models.backbones) == sorted(TINY_BACKBONES)
    assert _registered(models.decode_heads) == sorted(TINY_HEADS)
    assert _registered(models.necks) == []


@pytest.mark.parametrize("name", sorted(TINY_BACKBONES))
def test_backbone_forward_backward(name):
    model = build_backbone(dict(type=name, **TINY_BACKBONES[name])).train()
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    outs = model(x)
    assert isinstance(outs, tuple) and len(outs) == 4
    sum(o.mean() for o in outs).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", sorted(TINY_HEADS))
def test_head_forward_backward(name):
    head = build_head(dict(type=name, **_HEAD_COMMON, **TINY_HEADS[name])).train()
    sizes = _FEATS["d32"] if name == "UPerHead" else _FEATS["d8"]
    feats = [torch.randn(2, c, s, s, requires_grad=True) for c, s in zip(_FEATS["channels"], sizes)]
    losses = head.forward_train(feats, [{}] * 2, torch.randint(0, 3, (2, 1, 32, 32)), None)
    assert set(losses) == {"loss_ce", "acc_seg"}
    losses["loss_ce"].backward()
    assert all(p.grad is not None for p in head.parameters())
    head.eval()
    with torch.no_grad():
        out = head.forward_test(feats, [{}] * 2, None)
    expected_hw = (16, 16) if name in ("UPerHead", "DepthwiseSeparableASPPHead") else (8, 8)
    assert out.shape == (2, 3, *expected_hw)


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


@pytest.mark.skipif(not CONFIGS, reason="no model configs in configs/")
@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_config_builds(path):
    config = pytest.importorskip("seglab.config")
    cfg = config.Config.fromfile(str(path))
    model = _build_meta(cfg.model)
    state = model.state_dict()
    decode = cfg.model.decode_head
    assert tuple(state["decode_head.conv_seg.weight"].shape) == (decode.num_classes,
                                                                 decode.channels, 1, 1)
    assert "backbone.stem.0.weight" in state and "backbone.layer4.0.conv1.weight" in state
    if path.stem == "fcn_r50-d8_512x512_20k_voc12aug":
        _check_fcn_r50_d8_voc_layout(model)
    for key, shape in R50_HEAD_SHAPES.get(path.stem.split("_")[0], {}).items():
        if "_r50" in path.stem:
            assert tuple(state[key].shape) == shape, key
    if cfg.model.get("auxiliary_head"):
        assert "auxiliary_head.conv_seg.weight" in state
