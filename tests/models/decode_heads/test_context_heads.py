"""The context heads (CC, DA, GC, PSA, APC, DM, Enc): MMSeg 0.x module names for options the
zoo fixtures do not use, forward passes recomputed from their parts, losses, and errors."""
import pytest
import torch
import torch.nn.functional as F

from seglab.errors import ConfigError, RegistryError
from seglab.models import build_head
from seglab.models.decode_heads import EncHead

BN = dict(type="BN", requires_grad=True)


def _head(type_, **kwargs):
    cfg = dict(type=type_, in_channels=16, in_index=0, channels=8, num_classes=3, norm_cfg=BN,
               dropout_ratio=0)
    cfg.update(kwargs)
    return build_head(cfg).eval()


def _keys(module, prefix):
    return sorted({k.rsplit(".", 1)[0] for k in module.state_dict() if k.startswith(prefix)})


def test_cc_head_recurrence_shares_one_attention():
    head = _head("CCHead", recurrence=3)
    with torch.no_grad():
        head.cca.gamma.scale.fill_(0.5)
    x = torch.randn(2, 16, 5, 6)
    feat = head.convs[0](x)
    for _ in range(3):
        feat = head.cca(feat)
    expected = head.conv_seg(head.conv_cat(torch.cat([x, head.convs[1](feat)], dim=1)))
    torch.testing.assert_close(head([x]), expected)
    assert len(head.convs) == 2 and _keys(head, "cca") == [
        "cca.gamma", "cca.key_conv", "cca.query_conv", "cca.value_conv"]


def test_cc_head_errors():
    with pytest.raises(RegistryError, match="unexpected key\\(s\\) 'num_convs'"):
        _head("CCHead", num_convs=1)
    with pytest.raises(ConfigError, match="channels must be at least 8"):
        _head("CCHead", channels=4)
    with pytest.raises(ConfigError, match="recurrence=-1"):
        _head("CCHead", recurrence=-1)


def test_gc_head_avg_pooling_and_channel_mul():
    head = _head("GCHead", pooling_type="avg", fusion_types=("channel_mul",), concat_input=False)
    assert _keys(head, "gc_block") == [f"gc_block.channel_mul_conv.{i}" for i in (0, 1, 3)]
    torch.nn.init.normal_(head.gc_block.channel_mul_conv[3].weight)
    x = torch.randn(2, 16, 4, 7)
    feat = head.convs[0](x)
    gate = torch.sigmoid(head.gc_block.channel_mul_conv(feat.mean(dim=(2, 3), keepdim=True)))
    torch.testing.assert_close(head([x]), head.conv_seg(head.convs[1](feat * gate)))
    with pytest.raises(ConfigError, match="pooling_type"):
        _head("GCHead", pooling_type="max")


def test_da_head_outputs_losses_and_test_logits():
    head = _head("DAHead", pam_channels=4)
    with torch.no_grad():
        head.pam.gamma.scale.fill_(0.3)
        head.cam.gamma.scale.fill_(0.6)
    x = torch.randn(2, 16, 3, 5)
    pam_cam, pam, cam = head([x])
    # CAM by hand: softmax over channels of (rowmax(E) - E), E = X X^T.
    feat = head.cam_in_conv(x)
    flat = feat.flatten(2)
    energy = flat @ flat.transpose(1, 2)
    attn = torch.softmax(energy.max(dim=-1, keepdim=True)[0] - energy, dim=-1)
    cam_feat = head.cam_out_conv(0.6 * (attn @ flat).view_as(feat) + feat)
    torch.testing.assert_close(cam, head.cam_conv_seg(cam_feat))
    # PAM by hand: unscaled softmax over key pixels of q^T k, value summed, residual.
    feat = head.pam_in_conv(x)
    q = head.pam.query_project(feat).flatten(2)
    k = head.pam.key_project(feat).flatten(2)
    v = head.pam.value_project(feat).flatten(2)
    sim = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (N, HW query, HW key)
    pam_feat = head.pam_out_conv(0.3 * (v @ sim.transpose(1, 2)).view_as(feat) + feat)
    torch.testing.assert_close(pam, head.pam_conv_seg(pam_feat))
    torch.testing.assert_close(pam_cam, head.conv_seg(pam_feat + cam_feat))
    torch.testing.assert_close(head.forward_test([x], [{}] * 2, None), pam_cam)

    label = torch.randint(0, 3, (2, 1, 6, 10))
    losses = head.train().forward_train([x], [{}] * 2, label, None)
    assert list(losses) == ["pam_cam.loss_ce", "pam_cam.acc_seg", "pam.loss_ce", "pam.acc_seg",
                            "cam.loss_ce", "cam.acc_seg"]
    assert head.loss_names == ["pam_cam.loss_ce", "pam.loss_ce", "cam.loss_ce"]
    assert _keys(head, "pam.") == ["pam.gamma", "pam.key_project", "pam.query_project",
                                   "pam.value_project"]


def test_da_head_total_loss_sums_the_three_outputs():
    from seglab.models import build_segmentor
    backbone = dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=4,
                    strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), norm_cfg=BN)
    model = build_segmentor(dict(type="EncoderDecoder", backbone=backbone, decode_head=dict(
        type="DAHead", in_channels=32, in_index=3, channels=8, pam_channels=4, num_classes=3,
        norm_cfg=BN)))
    losses = model.forward_train(torch.randn(2, 3, 32, 32), [{}] * 2,
                                 torch.randint(0, 3, (2, 1, 32, 32)))
    total, log_vars = model.parse_losses(losses)
    expected = sum(losses[f"decode.{o}.loss_ce"] for o in ("pam_cam", "pam", "cam"))
    assert total.item() == pytest.approx(expected.item())
    assert "decode.pam.acc_seg" in log_vars


def _psa_by_hand(head, x, mask_h, mask_w):
    """The collect branch of a 'collect' PSAHead with the mask spread by explicit loops."""
    feat = head.reduce(x)
    n, c, h, w = feat.shape
    small = F.interpolate(feat, size=((h - 1) // 2 + 1, (w - 1) // 2 + 1), mode="bilinear",
                          align_corners=True)
    sh, sw = small.shape[2:]
    y = head.attention(small)
    attn = torch.zeros(n, sh * sw, sh * sw)  # [n, source, target]
    for i in range(sh):
        for j in range(sw):
            for a in range(mask_h):
                for b in range(mask_w):
                    r, s = i + a - (mask_h - 1) // 2, j + b - (mask_w - 1) // 2
                    if 0 <= r < sh and 0 <= s < sw:
                        attn[:, r * sw + s, i * sw + j] = y[:, a * mask_w + b, i, j]
    attn = torch.softmax(attn, dim=1)
    out = (small.flatten(2) @ attn).view(n, c, sh, sw) / head.normalization_factor
    out = F.interpolate(head.proj(out), size=(h, w), mode="bilinear", align_corners=True)
    return head.conv_seg(head.bottleneck(torch.cat([x, out], dim=1)))


def test_psa_head_collect_on_an_odd_map_larger_than_the_mask():
    head = _head("PSAHead", mask_size=(3, 5), psa_type="collect", normalization_factor=None)
    assert head.normalization_factor == 15 and not hasattr(head, "reduce_p")
    x = torch.randn(2, 16, 9, 7)  # both sides odd: shrunk to 5x4 with align_corners=True
    torch.testing.assert_close(head([x]), _psa_by_hand(head, x, 3, 5))
    # proj is MMSeg's 1x1 conv with padding 1.
    assert head.proj.conv.padding == (1, 1) and head.proj.conv.out_channels == 16


@pytest.mark.parametrize("hw,small,align", [((8, 8), (4, 4), False), ((9, 8), (4, 4), False),
                                            ((7, 9), (4, 5), True)])
def test_psa_head_shrink_rule(hw, small, align):
    head = _head("PSAHead", mask_size=(7, 7), align_corners=True)
    (out,), used = head._shrink([torch.randn(1, 8, *hw)])
    assert out.shape[2:] == small and used is align


def test_psa_head_compact_and_distribute():
    head = _head("PSAHead", mask_size=(4, 4), psa_type="bi-direction", compact=True)
    x = torch.randn(2, 16, 8, 8)
    assert head([x]).shape == (2, 3, 8, 8)
    assert {"reduce_p", "attention_p"} <= {k.split(".")[0] for k in head.state_dict()}
    with pytest.raises(ValueError, match=r"the 5x5 map's pixels; mask_size must have h\*w = 25"):
        head([torch.randn(2, 16, 10, 10)])
    dist = _head("PSAHead", mask_size=(5, 5), psa_type="distribute", shrink_factor=1)
    assert dist([torch.randn(1, 16, 4, 6)]).shape == (1, 3, 4, 6)
    assert dist.psamask.psa_type == "distribute"


@pytest.mark.parametrize("kwargs,match", [(dict(psa_type="both"), "psa_type='both'"),
                                          (dict(mask_size=7), "mask_size=7"),
                                          (dict(shrink_factor=0), "shrink_factor=0")])
def test_psa_head_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        _head("PSAHead", **{"mask_size": (7, 7), **kwargs})


def test_apc_head_acm_by_hand():
    head = _head("APCHead", pool_scales=(2,), fusion=False)
    acm = head.acm_modules[0]
    assert not hasattr(acm, "fusion_conv") and acm.gla.out_channels == 4
    x = torch.randn(2, 16, 4, 6)
    pooled = acm.pooled_redu_conv(F.adaptive_avg_pool2d(x, 2)).flatten(2)  # (N, C, 4 regions)
    feat = acm.input_redu_conv(x)
    glob = acm.global_info(feat.mean(dim=(2, 3), keepdim=True))
    weights = torch.sigmoid(acm.gla(feat + glob)).flatten(2)  # (N, 4 regions, HW)
    out = F.relu(acm.residual_conv((pooled @ weights).view_as(feat)) + feat)
    torch.testing.assert_close(acm(x), out)
    assert _keys(_head("APCHead", pool_scales=(1, 3)), "acm_modules.1") == [
        f"acm_modules.1.{n}" for n in ("fusion_conv.bn", "fusion_conv.conv", "gla",
                                       "global_info.bn", "global_info.conv",
                                       "input_redu_conv.bn", "input_redu_conv.conv",
                                       "pooled_redu_conv.bn", "pooled_redu_conv.conv",
                                       "residual_conv.bn", "residual_conv.conv")]


@pytest.mark.parametrize("size", [2, 3])
def test_dm_head_dynamic_filters_by_hand(size):
    head = _head("DMHead", filter_sizes=(size,), norm_cfg=None)
    dcm = head.dcm_modules[0]
    assert dcm.norm is None and not hasattr(dcm, "fusion_conv")
    x = torch.randn(2, 16, 5, 4)
    filters = dcm.filter_gen_conv(F.adaptive_avg_pool2d(x, size))
    feat = dcm.input_redu_conv(x)
    pad = (size - 1) // 2
    before = pad + (size - 1) % 2  # even sizes pad one more on the top and left
    expected = torch.zeros_like(feat)
    for n in range(2):
        for c in range(8):
            padded = F.pad(feat[n, c][None, None], (before, pad, before, pad))
            expected[n, c] = F.conv2d(padded, filters[n, c][None, None])[0, 0]
    torch.testing.assert_close(dcm(x), F.relu(expected))
    bn = _head("DMHead", filter_sizes=(1, 3), fusion=True)
    assert _keys(bn, "dcm_modules.1") == [
        f"dcm_modules.1.{n}" for n in ("filter_gen_conv", "fusion_conv.bn", "fusion_conv.conv",
                                       "input_redu_conv.bn", "input_redu_conv.conv", "norm")]


def test_enc_head_onehot_labels_match_histc():
    label = torch.tensor([[[0, 0, 255], [3, 3, 3]], [[1, 4, 255], [255, 4, 2]]])[:, None]
    ours = EncHead._convert_to_onehot_labels(label, 5)
    hist = torch.stack([(l.float().histc(bins=5, min=0, max=4) > 0).long() for l in label])
    assert ours.tolist() == hist.tolist() == [[1, 0, 0, 1, 0], [0, 1, 1, 0, 1]]


def _enc(**kwargs):
    return _head("EncHead", **{"in_channels": [8, 16], "in_index": [0, 1], "num_codes": 4,
                               **kwargs})


def test_enc_head_se_loss_and_lateral():
    head = _enc(add_lateral=True).train()
    feats = [torch.randn(2, 8, 4, 4), torch.randn(2, 16, 4, 4)]
    logits, se_logits = head(feats)
    assert logits.shape == (2, 3, 4, 4) and se_logits.shape == (2, 3)
    assert _keys(head, "lateral_convs") == ["lateral_convs.0.bn", "lateral_convs.0.conv"]
    assert head.fusion.conv.in_channels == 16
    label = torch.randint(0, 2, (2, 1, 8, 8))  # class 2 absent
    losses = head.losses((logits, se_logits), label)
    assert list(losses) == ["loss_ce", "acc_seg", "loss_se"]
    target = EncHead._convert_to_onehot_labels(label, 3).float()
    expected = 0.2 * F.binary_cross_entropy_with_logits(se_logits, target)
    assert losses["loss_se"].item() == pytest.approx(expected.item())
    assert head.loss_names == ["loss_ce", "loss_se"]
    torch.testing.assert_close(head.eval().forward_test(feats, [{}] * 2, None), head(feats)[0])


def test_enc_head_without_se_loss():
    head = _enc(use_se_loss=False)
    feats = [torch.randn(2, 8, 4, 4), torch.randn(2, 16, 4, 4)]
    assert isinstance(head(feats), torch.Tensor) and not hasattr(head, "se_layer")
    assert head.loss_names == ["loss_ce"]
    losses = head.losses(head(feats), torch.randint(0, 3, (2, 1, 8, 8)))
    assert list(losses) == ["loss_ce", "acc_seg"]


def test_enc_head_norms_and_errors():
    assert type(_enc().enc_module.encoding[1]) is torch.nn.BatchNorm1d
    with pytest.warns(UserWarning, match="SyncBN"):
        from seglab.models.layers.norm import reset_syncbn_warning
        reset_syncbn_warning()
        sync = _enc(norm_cfg=dict(type="SyncBN", requires_grad=True)).train()
    # One process: the SyncBN of the (N, codes, C) codes becomes the BatchNorm1d it stands for.
    assert type(sync.enc_module.encoding[1]) is torch.nn.BatchNorm1d
    sync([torch.randn(2, 8, 4, 4), torch.randn(2, 16, 4, 4)])
    with pytest.raises(ConfigError, match="EncHead needs a norm_cfg"):
        _enc(norm_cfg=None)
    with pytest.raises(RegistryError, match="unexpected key\\(s\\) 'input_transform'"):
        _enc(input_transform="resize_concat")


@pytest.mark.parametrize("type_,kwargs,match", [
    ("APCHead", dict(pool_scales=()), r"APCHead pool_scales=\(\) must be a non-empty list"),
    ("DMHead", dict(filter_sizes=3), "DMHead filter_sizes=3 must be a non-empty list")])
def test_scale_lists_are_checked(type_, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        _head(type_, **kwargs)
