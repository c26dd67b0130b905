"""DDRHead: MMSeg 1.x's keys, the (final, spatial) logits in training and the final ones at test
time, the two loss terms against their definitions, loss_decode checks, a DDRNet segmentor
step."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seglab.errors import ConfigError
from seglab.models import build_head, build_loss, build_segmentor
from seglab.models.losses import accuracy

BN = dict(type="BN", requires_grad=True)
LOSSES = [dict(type="OhemCrossEntropy", thres=0.9, min_kept=100),
          dict(type="CrossEntropyLoss", loss_weight=0.4)]
HEAD = dict(type="DDRHead", in_channels=16, channels=8, num_classes=3, norm_cfg=BN,
            dropout_ratio=0.0, loss_decode=LOSSES)


def _feats():
    torch.manual_seed(0)
    return [torch.randn(2, 8, 4, 4), torch.randn(2, 16, 4, 4)]


def test_mmseg_keys_and_layers():
    head = build_head(HEAD)
    keys = set(head.state_dict())
    for key in ("head.0.bn.weight", "head.0.conv.weight", "head.1.running_var",
                "aux_head.0.bn.weight", "aux_head.0.conv.weight", "aux_head.1.bias",
                "conv_seg.weight", "aux_cls_seg.weight"):
        assert key in keys, key
    assert head.aux_head[0].conv.in_channels == 8  # in_channels // 2
    assert head.head[0].order == ("norm", "act", "conv") and not head.head[0].with_bias


def test_outputs_and_losses():
    head = build_head(HEAD).train()
    feats = _feats()
    final, spatial = head(feats)
    assert final.shape == spatial.shape == (2, 3, 4, 4)
    torch.testing.assert_close(head.forward_test(feats, [], None), final)
    torch.testing.assert_close(spatial, head.aux_cls_seg(head.aux_head(feats[0])))
    torch.manual_seed(1)
    label = torch.randint(0, 3, (2, 1, 16, 16))
    label[:, :, :3] = 255
    losses = head.forward_train(feats, [{}] * 2, label, None)
    assert list(losses) == ["loss_context", "loss_spatial", "acc_seg"] == head.loss_names + [
        "acc_seg"]
    up = lambda t: F.interpolate(t, size=(16, 16), mode="bilinear")  # noqa: E731
    ohem, ce = (build_loss(c) for c in LOSSES)
    torch.testing.assert_close(losses["loss_context"], ohem(up(final), label[:, 0]))
    torch.testing.assert_close(losses["loss_spatial"], ce(up(spatial), label[:, 0]))
    torch.testing.assert_close(losses["acc_seg"],
                               accuracy(up(final), label[:, 0], ignore_index=255))
    with torch.no_grad():
        torch.testing.assert_close(head.eval()(feats), head.forward_test(feats, [], None))


def test_loss_decode_must_be_a_pair():
    with pytest.raises(ConfigError, match=r"DDRHead needs loss_decode as a list of 2 loss dicts "
                                          r"\(final map, spatial branch\), got one loss dict"):
        build_head(dict(HEAD, loss_decode=dict(type="CrossEntropyLoss")))
    with pytest.raises(ConfigError, match="DDRHead uses no pixel sampler; remove sampler"):
        build_head(dict(HEAD, sampler=dict(type="OHEMPixelSampler", thresh=0.7)))
    default = build_head({k: v for k, v in HEAD.items() if k != "loss_decode"})
    assert [m.loss_weight for m in default.loss_decode] == [1.0, 0.4]


def test_in_channels_are_checked_against_ddrnet():
    backbone = dict(type="DDRNet", channels=2, ppm_channels=4, norm_cfg=BN)
    with pytest.raises(ConfigError, match=r"decode_head.in_channels = 16 does not match .* "
                                          r"Set model.decode_head.in_channels = 8"):
        build_segmentor(dict(type="EncoderDecoder", backbone=backbone, decode_head=HEAD))
    model = build_segmentor(dict(type="EncoderDecoder", backbone=backbone,
                                 decode_head=dict(HEAD, in_channels=8))).train()
    img, label = torch.randn(2, 3, 32, 32), torch.randint(0, 3, (2, 1, 32, 32))
    loss, log_vars = model.parse_losses(model.forward_train(img, [{}] * 2, label))
    assert loss.item() == pytest.approx(log_vars["decode.loss_context"]
                                        + log_vars["decode.loss_spatial"], rel=1e-6)
