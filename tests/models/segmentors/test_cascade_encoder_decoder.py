"""CascadeEncoderDecoder: each stage reads the previous stage's logits (prev_output), losses are
prefixed decode_<i>., the last head predicts; build checks name decode_head[i]; bad configs fail
clearly. Tiny ResNetV1c-18-D8 (conftest) with an FCNHead -> OCRHead (-> OCRHead) cascade."""
import pytest
import torch

from seglab.errors import ConfigError
from seglab.models import build_segmentor
from seglab.models.layers import resize
from seglab.models.segmentors import CascadeEncoderDecoder, EncoderDecoder

BN = dict(type="BN", requires_grad=True)


def _ocr(in_channels=64, in_index=3, loss_weight=1.0, **overrides):
    cfg = dict(type="OCRHead", in_channels=in_channels, in_index=in_index, channels=16,
               ocr_channels=8, dropout_ratio=0.1, num_classes=5, norm_cfg=BN,
               align_corners=False,
               loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False,
                                loss_weight=loss_weight))
    cfg.update(overrides)
    return cfg


def _cascade(cfgs, stages=2, **overrides):
    heads = [cfgs.fcn_head(32, 2, 8, 1, False, 0.4)] + [_ocr() for _ in range(stages - 1)]
    cfg = dict(type="CascadeEncoderDecoder", num_stages=stages, backbone=cfgs.backbone(),
               decode_head=heads, auxiliary_head=cfgs.fcn_head(16, 1, 8, 1, False, 0.2),
               train_cfg=dict(), test_cfg=dict(mode="whole"))
    cfg.update(overrides)
    return cfg


def _batch(n=2, h=32, w=32):
    metas = [dict(img_shape=(h, w, 3), ori_shape=(h, w, 3), pad_shape=(h, w, 3), flip=False)
             for _ in range(n)]
    return torch.randn(n, 3, h, w), metas, torch.randint(0, 5, (n, 1, h, w))


def test_builds_a_list_of_heads_with_mmseg_keys(cfgs):
    model = build_segmentor(_cascade(cfgs))
    assert isinstance(model, CascadeEncoderDecoder) and isinstance(model, EncoderDecoder)
    assert len(model.decode_head) == model.num_stages == 2
    keys = model.state_dict()
    assert "decode_head.0.conv_seg.weight" in keys
    assert "decode_head.1.bottleneck.conv.weight" in keys
    assert "auxiliary_head.conv_seg.weight" in keys


def test_encode_decode_chains_the_stages(cfgs):
    model = build_segmentor(_cascade(cfgs, stages=3)).eval()
    img, metas, _ = _batch()
    seen = []
    model.decode_head[2].register_forward_pre_hook(lambda m, args: seen.append(args[1]))
    with torch.no_grad():
        out = model.encode_decode(img, metas)
        feats = model.extract_feat(img)
        first = model.decode_head[0](feats)
        second = model.decode_head[1](feats, first)
        expected = resize(model.decode_head[2](feats, second), size=(32, 32), mode="bilinear",
                          align_corners=False)
    assert out.shape == (2, 5, 32, 32)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    torch.testing.assert_close(seen[0], second, rtol=0, atol=0)  # stage 2 got stage 1's logits


def test_training_losses_are_prefixed_per_stage(cfgs):
    model = build_segmentor(_cascade(cfgs, stages=3)).train()
    img, metas, gt = _batch()
    losses = model.forward_train(img, metas, gt)
    assert list(losses) == ["decode_0.loss_ce", "decode_0.acc_seg", "decode_1.loss_ce",
                            "decode_1.acc_seg", "decode_2.loss_ce", "decode_2.acc_seg",
                            "aux.loss_ce", "aux.acc_seg"]
    assert model.loss_names() == ["decode_0.loss_ce", "decode_1.loss_ce", "decode_2.loss_ce",
                                  "aux.loss_ce"]
    loss, log_vars = model.parse_losses(losses)
    total = sum(losses[k] for k in model.loss_names())
    assert loss.item() == pytest.approx(total.item()) and "decode_1.acc_seg" in log_vars
    loss.backward()
    assert model.decode_head[2].conv_seg.weight.grad is not None
    # prev_output carries gradients back into the earlier heads
    assert model.decode_head[0].conv_seg.weight.grad.abs().sum() > 0


def test_stage_losses_use_the_previous_stage_output(cfgs):
    """decode_1's loss equals OCRHead.losses on OCRHead(feats, FCNHead(feats)), without dropout."""
    model = build_segmentor(_cascade(cfgs)).train()
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout2d):
            m.eval()
    img, metas, gt = _batch()
    torch.manual_seed(1)
    losses = model.forward_train(img, metas, gt)
    torch.manual_seed(1)
    feats = model.extract_feat(img)
    model.decode_head[0](feats)  # forward_train's first pass (batch norm running stats move)
    prev = model.decode_head[0](feats)
    expected = model.decode_head[1].losses(model.decode_head[1](feats, prev), gt)
    assert losses["decode_1.loss_ce"].item() == pytest.approx(expected["loss_ce"].item(), rel=1e-5)


def test_the_last_head_predicts(cfgs):
    cfg = _cascade(cfgs)
    cfg["decode_head"][0]["align_corners"] = True
    cfg["decode_head"][0]["num_classes"] = 7
    cfg["decode_head"][1]["num_classes"] = 5
    model = build_segmentor(cfg).eval()
    assert (model.num_classes, model.out_channels, model.align_corners) == (5, 5, False)
    img, metas, _ = _batch(h=40, w=36)
    # different class counts between stages are allowed: the OCR regions are the first head's
    preds = model.simple_test(img, metas)
    assert [p.shape for p in preds] == [(40, 36)] * 2 and all(p.max() < 5 for p in preds)


def test_slide_inference(cfgs):
    model = build_segmentor(_cascade(cfgs, test_cfg=dict(
        mode="slide", crop_size=(24, 24), stride=(16, 16)))).eval()
    img, metas, _ = _batch(h=40, w=40)
    with torch.no_grad():
        probs = model.inference(img, metas, rescale=True)
    assert probs.shape == (2, 5, 40, 40)
    torch.testing.assert_close(probs.sum(1), torch.ones(2, 40, 40))


def test_build_check_names_the_stage(cfgs):
    cfg = _cascade(cfgs)
    cfg["decode_head"][1]["in_channels"] = 48
    with pytest.raises(ConfigError, match=r"model\.decode_head\[1\]\.in_channels = 48 .* Set "
                                          r"model\.decode_head\[1\]\.in_channels = 64"):
        build_segmentor(cfg)


@pytest.mark.parametrize("change,match", [
    (dict(num_stages=3), r"a list of num_stages=3 head configs, got a list of 2"),
    (dict(num_stages=0), r"model.num_stages = 0 must be an int >= 1"),
])
def test_bad_stage_configs(cfgs, change, match):
    with pytest.raises(ConfigError, match=match):
        build_segmentor(_cascade(cfgs, **change))


def test_a_single_head_dict_is_refused(cfgs):
    cfg = _cascade(cfgs)
    cfg["decode_head"] = cfg["decode_head"][0]
    with pytest.raises(ConfigError, match="needs model.decode_head as a list of num_stages=2 "
                                          "head configs, got a single head config"):
        build_segmentor(cfg)
