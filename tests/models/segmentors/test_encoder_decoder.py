"""EncoderDecoder: training outputs, loss parsing, and the MMSeg 0.x entry points."""
import numpy as np
import pytest
import torch

from seglab.errors import ConfigError
from seglab.models import build_segmentor


def _batch(n=2, h=32, w=32, num_classes=5):
    img = torch.randn(n, 3, h, w)
    gt = torch.randint(0, num_classes, (n, 1, h, w))
    metas = [dict(img_shape=(h, w, 3), ori_shape=(h, w, 3), pad_shape=(h, w, 3), flip=False)
             for _ in range(n)]
    return img, metas, gt


def test_forward_train_names_and_loss_names(cfgs):
    model = build_segmentor(cfgs.segmentor()).train()
    img, metas, gt = _batch()
    losses = model(img, metas, gt_semantic_seg=gt)  # return_loss=True by default
    assert list(losses) == ["decode.loss_ce", "decode.acc_seg", "aux.loss_ce", "aux.acc_seg"]
    assert model.loss_names() == ["decode.loss_ce", "aux.loss_ce"]


def test_several_auxiliary_heads(cfgs):
    aux = [cfgs.fcn_head(32, 2, 8, 1, False, 0.4), cfgs.fcn_head(16, 1, 8, 1, False, 0.2)]
    model = build_segmentor(cfgs.segmentor(auxiliary_head=aux)).train()
    assert isinstance(model.auxiliary_head, torch.nn.ModuleList)
    assert "auxiliary_head.1.conv_seg.weight" in model.state_dict()
    losses = model.forward_train(*_batch())
    assert [k for k in losses if "loss" in k] == ["decode.loss_ce", "aux_0.loss_ce", "aux_1.loss_ce"]


def test_parse_losses_sums_declared_terms_only(cfgs):
    head = cfgs.fcn_head(loss_decode=[dict(type="CrossEntropyLoss", loss_weight=1.0),
                                      dict(type="CrossEntropyLoss", loss_weight=0.5,
                                           loss_name="ce_extra")])
    model = build_segmentor(cfgs.segmentor(decode_head=head)).train()
    losses = model.forward_train(*_batch())
    assert model.loss_names() == ["decode.loss_ce", "decode.ce_extra", "aux.loss_ce"]
    losses["decode.loss_unrelated"] = torch.tensor(100.0)  # logged, not a declared loss term
    losses["aux.loss_ce"] = [losses["aux.loss_ce"], losses["aux.loss_ce"]]  # lists are summed
    loss, log_vars = model.parse_losses(losses)
    expected = losses["decode.loss_ce"] + losses["decode.ce_extra"] + 2 * losses["aux.loss_ce"][0]
    torch.testing.assert_close(loss, expected)
    assert loss.requires_grad
    assert list(log_vars) == ["decode.loss_ce", "decode.ce_extra", "decode.acc_seg",
                              "aux.loss_ce", "aux.acc_seg", "decode.loss_unrelated", "loss"]
    assert all(isinstance(v, float) for v in log_vars.values())
    assert log_vars["decode.loss_unrelated"] == 100.0 and log_vars["loss"] == pytest.approx(loss.item())
    assert model._parse_losses(losses)[1] == log_vars


def test_train_step_and_val_step(cfgs):
    model = build_segmentor(cfgs.segmentor()).train()
    img, metas, gt = _batch(n=3)
    out = model.train_step(dict(img=img, img_metas=metas, gt_semantic_seg=gt), None)
    assert set(out) == {"loss", "log_vars", "num_samples"} and out["num_samples"] == 3
    out["loss"].backward()
    assert model.decode_head.conv_seg.weight.grad is not None
    assert model.backbone.stem[0].weight.grad is not None
    val = model.val_step(dict(img=img, img_metas=metas, gt_semantic_seg=gt))
    assert "loss_val" in val["log_vars"] and "decode.acc_seg_val" in val["log_vars"]


def test_encode_decode_is_input_size_logits(cfgs):
    model = build_segmentor(cfgs.segmentor()).eval()
    img = torch.randn(2, 3, 40, 56)
    with torch.no_grad():
        logits = model.encode_decode(img, None)
        head = model.decode_head(model.extract_feat(img))
    assert head.shape == (2, 5, 5, 7) and logits.shape == (2, 5, 40, 56)
    torch.testing.assert_close(logits, torch.nn.functional.interpolate(
        head, (40, 56), mode="bilinear", align_corners=False))
    torch.testing.assert_close(model.forward_dummy(img), logits)


def test_simple_test_and_forward_test(cfgs):
    model = build_segmentor(cfgs.segmentor()).eval()
    img, metas, _ = _batch()
    for meta in metas:
        meta["ori_shape"] = (48, 40, 3)
    with torch.no_grad():
        preds = model.simple_test(img, metas, rescale=True)
        probs = model.inference(img, metas, rescale=True)
        via_forward = model(img=[img], img_metas=[metas], return_loss=False)
    assert len(preds) == 2 and preds[0].shape == (48, 40) and preds[0].dtype == np.int64
    assert probs.shape == (2, 5, 48, 40)
    torch.testing.assert_close(probs.sum(1), torch.ones(2, 48, 40))
    np.testing.assert_array_equal(preds[1], probs[1].argmax(0).numpy())
    np.testing.assert_array_equal(via_forward[0], preds[0])
    with torch.no_grad():
        no_rescale = model.simple_test(img, metas, rescale=False)
    assert no_rescale[0].shape == (32, 32)


def test_forward_test_input_errors(cfgs):
    model = build_segmentor(cfgs.segmentor()).eval()
    img, metas, _ = _batch()
    with pytest.raises(ValueError, match="2 augmentations of images but 1"):
        model.forward_test([img, img], [metas])
    with pytest.raises(ValueError, match="2 images but 1 metas"):
        model.forward_test([img], [metas[:1]])
    with pytest.raises(TypeError, match="lists"):
        model.forward_test((img,), (metas,))


def test_test_cfg_errors(cfgs):
    with pytest.raises(ConfigError, match="model.test_cfg.mode = 'sliding'"):
        build_segmentor(cfgs.segmentor(test_cfg=dict(mode="sliding")))
    with pytest.raises(ConfigError, match="crop_size"):
        build_segmentor(cfgs.segmentor(test_cfg=dict(mode="slide", stride=(8, 8))))


def test_binary_sigmoid_head(cfgs):
    head = cfgs.fcn_head(num_classes=2, out_channels=1, threshold=0.5,
                         loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=True))
    model = build_segmentor(cfgs.segmentor(decode_head=head, auxiliary_head=None)).eval()
    img, metas, _ = _batch()
    with torch.no_grad():
        probs = model.inference(img, metas, rescale=True)
        logits = model.encode_decode(img, metas)
        preds = model.simple_test(img, metas)
    assert probs.shape == (2, 1, 32, 32)
    torch.testing.assert_close(probs, torch.sigmoid(logits))
    np.testing.assert_array_equal(preds[0], (probs[0, 0] > 0.5).long().numpy())


def test_pretrained_goes_to_backbone_and_init_weights(cfgs, tmp_path):
    pytest.importorskip("seglab.engine.checkpoint")
    source = build_segmentor(cfgs.segmentor())
    path = tmp_path / "backbone.pth"
    torch.save(source.backbone.state_dict(), path)
    cfg = cfgs.segmentor()
    cfg["pretrained"] = str(path)
    model = build_segmentor(cfg)
    assert model.backbone.pretrained == str(path)
    model.init_weights()
    assert torch.equal(model.backbone.layer4[1].conv2.weight, source.backbone.layer4[1].conv2.weight)
    assert torch.all(model.decode_head.conv_seg.bias == 0)
    with pytest.raises(ConfigError, match="both set"):
        cfg["backbone"]["pretrained"] = str(path)
        build_segmentor(cfg)


def test_build_segmentor_with_separate_test_cfg(cfgs):
    cfg = cfgs.segmentor()
    cfg.pop("test_cfg")
    with pytest.warns(DeprecationWarning):
        model = build_segmentor(cfg, test_cfg=dict(mode="slide", crop_size=(16, 16), stride=(8, 8)))
    assert model.test_cfg["mode"] == "slide"
    with pytest.raises(ConfigError, match="both"), pytest.warns(DeprecationWarning):
        build_segmentor(cfgs.segmentor(), test_cfg=dict(mode="whole"))


def test_show_result_uses_model_palette(cfgs, tmp_path):
    pytest.importorskip("seglab.visualization")
    model = build_segmentor(cfgs.segmentor())
    model.PALETTE = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 9, 9], [1, 2, 3]]
    img = np.zeros((4, 5, 3), np.uint8)
    seg = np.full((4, 5), 1, np.int64)
    out = model.show_result(img, [seg], opacity=1.0, out_file=str(tmp_path / "vis.png"))
    assert (tmp_path / "vis.png").exists()
    np.testing.assert_array_equal(out[0, 0], [0, 255, 0])  # BGR of palette[1]


class _DoubleNeck(torch.nn.Module):
    """A stand-in neck: doubles every level with a 1x1 conv (no neck is registered yet)."""

    def __init__(self, in_channels):
        super().__init__()
        self.convs = torch.nn.ModuleList(torch.nn.Conv2d(c, 2 * c, 1) for c in in_channels)

    def forward(self, feats):
        return tuple(conv(f) for conv, f in zip(self.convs, feats))


def test_neck_sits_between_backbone_and_heads(cfgs):
    cfg = cfgs.segmentor(decode_head=cfgs.fcn_head(in_channels=128),
                         auxiliary_head=cfgs.fcn_head(64, 2, 8, 1, False, 0.4))
    cfg["neck"] = dict(type=_DoubleNeck, in_channels=[8, 16, 32, 64])
    model = build_segmentor(cfg)
    assert model.with_neck and list(model.state_dict())[-1].startswith("auxiliary_head.")
    keys = [k.split(".")[0] for k in model.state_dict()]
    assert list(dict.fromkeys(keys)) == ["backbone", "neck", "decode_head", "auxiliary_head"]
    feats = model.extract_feat(torch.randn(2, 3, 32, 32))
    assert [f.shape[1] for f in feats] == [16, 32, 64, 128]
    losses = model.forward_train(*_batch())
    model.parse_losses(losses)[0].backward()
    assert model.neck.convs[3].weight.grad is not None


@pytest.mark.parametrize("kind", ["random", "ties", "nan", "channels_last"])
def test_label_maps_are_the_argmax_of_the_probabilities(cfgs, kind):
    model = build_segmentor(cfgs.segmentor()).eval()
    gen = torch.Generator().manual_seed(0)
    probs = torch.rand(1, 5, 37, 29, generator=gen)
    if kind == "ties":  # many equal maxima: the first one wins, as argmax
        probs = torch.randint(0, 2, (1, 5, 37, 29), generator=gen).float()
    elif kind == "nan":  # NaN is the maximum, as argmax
        probs[0, 3, ::4] = float("nan")
        probs[0, 1, ::3] = float("nan")
    elif kind == "channels_last":
        probs = probs.contiguous(memory_format=torch.channels_last)
    labels = model._to_labels(probs)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, probs.argmax(dim=1)[0].numpy())
