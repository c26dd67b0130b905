"""Every loss builds from a config, runs forward and backward on a tiny input, and fits the way a
decode head uses it (resize logits to the label, sum the named losses, report acc_seg)."""
import json
import math
import os

import pytest
import torch
import torch.nn.functional as F

from seglab.models.losses import accuracy
from seglab.registry import MODELS, build_from_cfg
from shared_data import SHARED

PARITY = f"{SHARED}/data/mmseg-parity"

CONFIGS = [
    dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
    dict(type="CrossEntropyLoss", avg_non_ignore=True, class_weight=[1.0, 2.0, 0.5]),
    dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=0.4),
    dict(type="DiceLoss", loss_weight=3.0),
    dict(type="FocalLoss", gamma=2.0, alpha=0.25),
    dict(type="LovaszLoss", reduction="none"),
    dict(type="LovaszLoss", per_image=True, classes="all"),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c["type"] + str(len(c)))
def test_forward_backward_finite(cfg):
    loss = build_from_cfg(cfg, MODELS, key="loss_decode")
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 3, 6, 6, generator=g, requires_grad=True)
    label = torch.randint(0, 3, (2, 6, 6), generator=g)
    label[:, 0] = 255
    out = loss(logits, label, weight=None, ignore_index=255)
    assert out.numel() == 1 and torch.isfinite(out).all()
    out.sum().backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    assert loss.loss_name.startswith("loss_")


def test_every_registered_loss_has_a_default_name():
    names = {"CrossEntropyLoss": "loss_ce", "DiceLoss": "loss_dice", "FocalLoss": "loss_focal",
             "LovaszLoss": "loss_lovasz"}
    for type_name, loss_name in names.items():
        assert build_from_cfg(dict(type=type_name), MODELS).loss_name == loss_name


def test_decode_head_style_loss_dict():
    """Two losses under different names plus acc_seg, as BaseDecodeHead.losses builds them."""
    losses = torch.nn.ModuleList([build_from_cfg(dict(type="CrossEntropyLoss", loss_weight=1.0),
                                                 MODELS),
                                  build_from_cfg(dict(type="DiceLoss", loss_weight=3.0), MODELS)])
    g = torch.Generator().manual_seed(2)
    seg_logit = torch.randn(2, 4, 4, 4, generator=g)
    seg_label = torch.randint(0, 4, (2, 1, 16, 16), generator=g)
    seg_logit = F.interpolate(seg_logit, size=seg_label.shape[2:], mode="bilinear",
                              align_corners=False)
    seg_label = seg_label.squeeze(1)
    out = {}
    for loss in losses:
        out[loss.loss_name] = out.get(loss.loss_name, 0) + loss(seg_logit, seg_label,
                                                                 weight=None, ignore_index=255)
    out["acc_seg"] = accuracy(seg_logit, seg_label, ignore_index=255)
    assert set(out) == {"loss_ce", "loss_dice", "acc_seg"}
    assert 0 <= out["acc_seg"].item() <= 100


@pytest.mark.skipif(not os.path.isfile(os.path.join(PARITY, "inputs.pt")),
                    reason="mmseg-parity fixtures not available")
def test_parity_setup_uniform_logits_give_readme_value():
    """The parity README: with numel counting ignored pixels, uniform logits over 5 classes give
    log(5) * 7992 / 8192 (decode, weight 1.0) and 0.4 x that (aux)."""
    gt = torch.load(os.path.join(PARITY, "inputs.pt"), weights_only=True)["gt"]
    assert int((gt == 255).sum()) == 200
    logits = torch.zeros(2, 5, 8, 8, requires_grad=True)
    up = F.interpolate(logits, size=(64, 64), mode="bilinear", align_corners=False)
    decode = build_from_cfg(dict(type="CrossEntropyLoss", loss_weight=1.0), MODELS)
    aux = build_from_cfg(dict(type="CrossEntropyLoss", loss_weight=0.4), MODELS)
    ref = math.log(5) * 7992 / 8192
    assert decode(up, gt, ignore_index=255).item() == pytest.approx(ref, rel=1e-6)
    assert aux(up, gt, ignore_index=255).item() == pytest.approx(0.4 * ref, rel=1e-6)
    # all classes tie: torch.topk (used by MMSeg too) picks one class c for every pixel, so
    # acc_seg is the share of class-c pixels among the 7992 valid ones
    picks = up.topk(1, dim=1)[1].unique()
    assert picks.numel() == 1
    share = 100.0 * int((gt == picks.item()).sum()) / 7992
    assert accuracy(up, gt, ignore_index=255).item() == pytest.approx(share, rel=1e-6)
    with open(os.path.join(PARITY, "fcn_tiny.losses.json")) as f:
        ref_losses = json.load(f)
    # the tiny untrained nets are close to uniform: same ballpark as the README says
    assert abs(ref_losses["decode.loss_ce"] - ref) < 0.3
