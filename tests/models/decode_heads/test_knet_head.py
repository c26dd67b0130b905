"""K-Net: KernelUpdator's gates and KernelUpdateHead's kernel update recomputed by hand (grouped
updators, k x k kernels, half-resolution masks), IterativeDecodeHead's stages (conv_seg weights
as the first kernels, one output per stage in training, the last at test), the per-stage losses
``<name>.s<i>``, MMSeg's init walk, and the build-time errors."""
import copy
import warnings

import pytest
import torch
import torch.nn.functional as F

from seglab.errors import ConfigError, RegistryError
from seglab.models import build_head, build_segmentor
from seglab.models.decode_heads import IterativeDecodeHead, KernelUpdateHead, KernelUpdator

BN = dict(type="BN", requires_grad=True)


def _ln(x, norm):
    return F.layer_norm(x, x.shape[-1:], norm.weight, norm.bias, norm.eps)


def _lin(x, fc):
    return F.linear(x, fc.weight, fc.bias)


def _updator_by_hand(m: KernelUpdator, update, kernels):
    """Eq. 4-5 for one group: update (C,), kernels (k*k, C) -> (k*k, out)."""
    c = m.feat_channels
    params, inputs = _lin(update, m.dynamic_layer), _lin(kernels, m.input_layer)
    gate = inputs[:, :c] * params[:c]
    if m.gate_norm_act:
        gate = torch.relu(_ln(gate, m.gate_norm))
    input_gate = torch.sigmoid(_ln(_lin(gate, m.input_gate), m.input_norm_in))
    update_gate = torch.sigmoid(_ln(_lin(gate, m.update_gate), m.norm_in))
    param_out, input_out = _ln(params[c:], m.norm_out), _ln(inputs[:, c:], m.input_norm_out)
    if m.activate_out:
        param_out, input_out = torch.relu(param_out), torch.relu(input_out)
    out = update_gate * param_out + input_gate * input_out
    return torch.relu(_ln(_lin(out, m.fc_layer), m.fc_norm))


def _randomize(module):
    torch.manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.5)
    return module


@pytest.mark.parametrize("gate_norm_act, activate_out", [(False, False), (True, True)])
def test_kernel_updator_by_hand(gate_norm_act, activate_out):
    m = _randomize(KernelUpdator(in_channels=4, feat_channels=4, out_channels=4,
                                 gate_norm_act=gate_norm_act, activate_out=activate_out)).double()
    update, kernels = torch.randn(2, 3, 4).double(), torch.randn(2, 3, 9, 4).double()
    out = m(update, kernels)
    assert out.shape == (6, 9, 4)
    expected = torch.stack([_updator_by_hand(m, update[b, p], kernels[b, p])
                            for b in range(2) for p in range(3)])
    torch.testing.assert_close(out, expected)


def _stage(**overrides):
    cfg = dict(num_classes=3, num_heads=2, num_mask_fcs=2, feedforward_channels=16,
               in_channels=8, out_channels=8,
               feat_transform_cfg=dict(conv_cfg=dict(type="Conv2d"), act_cfg=None),
               kernel_updator_cfg=dict(type="KernelUpdator", in_channels=4, feat_channels=4,
                                       out_channels=4))
    cfg.update(overrides)
    return KernelUpdateHead(**cfg)


def _update_by_hand(m: KernelUpdateHead, x, kernels, masks):
    """One stage for one image, in plain loops: x (C, H, W), kernels (P, C, k, k), masks
    (P, h, w) -> new masks (P, H, W), new kernels (P, C, k, k)."""
    k, c = m.conv_kernel_size, m.in_channels
    x = F.conv2d(x[None], m.feat_transform.conv.weight, m.feat_transform.conv.bias)[0]
    if masks.shape[-2:] != x.shape[-2:]:
        masks = F.interpolate(masks[None], x.shape[-2:], mode="bilinear", align_corners=False)[0]
    weights = masks.softmax(dim=0)
    feats = torch.stack([(weights[p] * x).sum(dim=(1, 2)) for p in range(len(masks))])  # (P, C)
    kk = kernels.reshape(len(kernels), c, k * k).transpose(1, 2)  # (P, k*k, C)
    groups = c // m.kernel_update_conv.in_channels
    g = c // groups
    # KernelUpdator reads each flattened (k*k, C) kernel in `groups` consecutive blocks
    obj = torch.stack([torch.cat([
        _updator_by_hand(m.kernel_update_conv, feats[p, i * g:(i + 1) * g],
                         kk[p].reshape(groups, -1, g)[i]) for i in range(groups)]).reshape(-1)
        for p in range(len(kernels))])
    attn = m.attention.attn
    q, kq, v = F.linear(obj, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    heads = attn.num_heads
    split = lambda t: t.reshape(len(t), heads, -1).transpose(0, 1)  # noqa: E731
    att = torch.softmax(split(q) @ split(kq).transpose(1, 2) / (q.shape[-1] // heads) ** 0.5, -1)
    mixed = (att @ split(v)).transpose(0, 1).reshape(len(obj), -1)
    obj = _ln(obj + F.linear(mixed, attn.out_proj.weight, attn.out_proj.bias), m.attention_norm)
    obj = obj.reshape(len(obj), k * k, c)
    hidden = torch.relu(_lin(obj, m.ffn.layers[0][0]))
    obj = _ln(obj + _lin(hidden, m.ffn.layers[1]), m.ffn_norm)
    feat = obj
    for i in range(0, len(m.mask_fcs), 3):
        feat = torch.relu(_ln(F.linear(feat, m.mask_fcs[i].weight), m.mask_fcs[i + 1]))
    weight = _lin(feat, m.fc_mask).transpose(1, 2).reshape(len(obj), c, k, k)
    x_pad = F.pad(x, [k // 2] * 4)
    h, w = x.shape[-2:]
    new = torch.zeros(len(obj), h, w, dtype=x.dtype)
    for p in range(len(obj)):
        for i in range(k):
            for j in range(k):
                new[p] += torch.einsum("c,chw->hw", weight[p, :, i, j],
                                       x_pad[:, i:i + h, j:j + w])
    return new, obj.transpose(1, 2).reshape(len(obj), c, k, k)


@pytest.mark.parametrize("k", [1, 3])
def test_kernel_update_head_by_hand(k):
    m = _randomize(_stage(conv_kernel_size=k)).double().eval()
    x = torch.randn(2, 8, 6, 5).double()
    kernels = torch.randn(2, 3, 8, k, k).double()
    masks = torch.randn(2, 3, 3, 4).double()  # another size: resized to the features first
    new_masks, new_kernels = m(x, kernels, masks)
    assert new_masks.shape == (2, 3, 6, 5) and new_kernels.shape == (2, 3, 8, k, k)
    for b in range(2):
        ref_masks, ref_kernels = _update_by_hand(m, x[b], kernels[b], masks[b])
        torch.testing.assert_close(new_masks[b], ref_masks)
        torch.testing.assert_close(new_kernels[b], ref_kernels)


def test_half_resolution_masks_and_mask_shape():
    m = _randomize(_stage(mask_transform_stride=2)).eval()
    x, kernels, masks = torch.randn(1, 8, 8, 8), torch.randn(1, 3, 8, 1, 1), torch.randn(1, 3, 8, 8)
    out, new_kernels = m(x, kernels, masks)
    assert out.shape == (1, 3, 8, 8)
    # the conv weights come from the new kernels; they act on the features halved by bilinear
    # resizing, and the masks are upsampled x2
    feat = new_kernels.reshape(1, 3, 1, 8)
    for layer in m.mask_fcs:
        feat = layer(feat)
    weight = m.fc_mask(feat)[:, :, 0]  # (1, P, C)
    half = F.interpolate(m.feat_transform(x), scale_factor=0.5, mode="bilinear",
                         align_corners=False)
    expected = F.interpolate(torch.einsum("npc,nchw->nphw", weight, half), scale_factor=2,
                             mode="bilinear", align_corners=False)
    torch.testing.assert_close(out, expected)
    shaped, _ = m(x, kernels, masks, mask_shape=(16, 16))
    torch.testing.assert_close(shaped, F.interpolate(expected, (16, 16), mode="bilinear",
                                                     align_corners=False))


GEN = dict(type="UPerHead", in_channels=[4, 8], in_index=[0, 1], pool_scales=(1, 2), channels=8,
           num_classes=3, norm_cfg=BN, dropout_ratio=0.0)


def _knet(num_stages=2, **stage):
    cfg = dict(type="KernelUpdateHead", num_classes=3, num_heads=2, num_mask_fcs=1,
               feedforward_channels=16, in_channels=8, out_channels=8,
               feat_transform_cfg=dict(conv_cfg=dict(type="Conv2d"), act_cfg=None),
               kernel_updator_cfg=dict(type="KernelUpdator", in_channels=8, feat_channels=8,
                                       out_channels=8))
    cfg.update(stage)
    return dict(type="IterativeDecodeHead", num_stages=num_stages, kernel_generate_head=GEN,
                kernel_update_head=[copy.deepcopy(cfg) for _ in range(num_stages)])


def _feats():
    torch.manual_seed(1)
    return [torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)]


def test_stages_start_from_conv_seg_and_test_returns_the_last():
    head = build_head(_knet(num_stages=3)).train()
    feats = _feats()
    stages = head(feats)
    assert isinstance(stages, list) and len(stages) == 4
    assert all(s.shape == (2, 3, 8, 8) for s in stages)
    gen = head.kernel_generate_head
    torch.testing.assert_close(stages[0], gen(feats))  # stage 0: the generating head's logits
    kernels = gen.conv_seg.weight[None].expand(2, -1, -1, -1, -1)
    logits = stages[0]
    for i, stage in enumerate(head.kernel_update_head):
        logits, kernels = stage(gen._forward_feature(feats), kernels, logits)
        torch.testing.assert_close(stages[i + 1], logits)
    head.eval()
    last = head(feats)
    assert isinstance(last, torch.Tensor)
    torch.testing.assert_close(last, head.forward_test(feats, [{}] * 2, None))
    torch.testing.assert_close(last, head.stage_logits(feats)[-1])


def test_conv_seg_gets_gradients_through_the_kernels():
    head = build_head(_knet(num_stages=1)).train()
    feats = _feats()
    head(feats)[-1].sum().backward()  # only the updated stage: conv_seg acts through its kernels
    assert head.kernel_generate_head.conv_seg.weight.grad.abs().sum() > 0
    assert head.kernel_generate_head.conv_seg.bias.grad.abs().sum() > 0  # via the first masks


def test_losses_per_stage():
    head = build_head(_knet(num_stages=2)).train()
    feats, label = _feats(), torch.randint(0, 3, (2, 1, 32, 32))
    label[:, :, :4] = 255
    losses = head.forward_train(feats, [{}] * 2, label, None)
    assert list(losses) == ["loss_ce.s0", "acc_seg.s0", "loss_ce.s1", "acc_seg.s1",
                            "loss_ce.s2", "acc_seg.s2"]
    assert head.loss_names == ["loss_ce.s0", "loss_ce.s1", "loss_ce.s2"]
    stages = head(feats)
    for i, logits in enumerate(stages):
        ref = head.kernel_generate_head.losses(logits, label)
        torch.testing.assert_close(losses[f"loss_ce.s{i}"], ref["loss_ce"])
        torch.testing.assert_close(losses[f"acc_seg.s{i}"], ref["acc_seg"])
    assert len({round(losses[f"loss_ce.s{i}"].item(), 6) for i in range(3)}) == 3


def test_segmentor_prefixes_and_inherits_the_generator_settings():
    backbone = dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=4,
                    out_indices=(0, 1), norm_cfg=BN)
    model = build_segmentor(dict(type="EncoderDecoder", backbone=backbone,
                                 decode_head=_knet(num_stages=2), test_cfg=dict(mode="whole")))
    assert model.loss_names() == ["decode.loss_ce.s0", "decode.loss_ce.s1", "decode.loss_ce.s2"]
    assert (model.num_classes, model.out_channels, model.align_corners) == (3, 3, False)
    bad = _knet()
    bad["kernel_generate_head"] = {**GEN, "in_channels": [4, 16]}
    with pytest.raises(ConfigError, match=r"decode_head\.kernel_generate_head\.in_channels = "
                                          r"\[4, 16\].*Set model\.decode_head\."
                                          r"kernel_generate_head\.in_channels = \[4, 8\]"):
        build_segmentor(dict(type="EncoderDecoder", backbone=backbone, decode_head=bad))


def test_init_weights_follows_mmseg():
    head = build_head(_knet())
    before = {k: v.clone() for k, v in head.kernel_update_head.state_dict().items()}
    head.init_weights()
    # mmcv's walk does not enter the torch ModuleList: the update heads keep their build init
    for k, v in head.kernel_update_head.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert head.kernel_generate_head.conv_seg.weight.std() < 0.03  # N(0, 0.01)
    stage = head.kernel_update_head[0]
    stage.kernel_init = True
    torch.manual_seed(0)
    stage.init_weights()
    torch.manual_seed(0)
    expected = {n: torch.nn.init.xavier_uniform_(torch.empty_like(p))
                for n, p in stage.named_parameters() if p.dim() > 1}
    expected["fc_mask.weight"] = torch.nn.init.normal_(torch.empty(8, 8), std=0.01)
    assert "attention.attn.in_proj_weight" in expected and "mask_fcs.0.weight" in expected
    for name, p in stage.named_parameters():
        torch.testing.assert_close(p.data, expected.get(name, before[f"0.{name}"]), msg=name)


@pytest.mark.parametrize("change, match", [
    (dict(num_stages=3), r"num_stages = 3 but kernel_update_head has 2 dicts"),
    (dict(kernel_update_head=dict(type="KernelUpdateHead")),
     r"kernel_update_head must be a list of num_stages dicts"),
    (dict(kernel_generate_head={**GEN, "out_channels": 1, "num_classes": 2}),
     r"kernel_generate_head\.out_channels = 1: K-Net needs one kernel per class"),
])
def test_iterative_head_errors(change, match):
    with warnings.catch_warnings(), pytest.raises(ConfigError, match=match):
        warnings.simplefilter("ignore")  # binary-segmentation hints of out_channels=1
        build_head({**_knet(), **change})


@pytest.mark.parametrize("stage, match", [
    (dict(in_channels=16, out_channels=16, num_heads=2,
          kernel_updator_cfg=dict(type="KernelUpdator", in_channels=16, feat_channels=16)),
     r"kernel_update_head\[0\]\.in_channels = 16 must be 8"),
    (dict(num_classes=4), r"kernel_update_head\[0\]\.num_classes = 4 must be 3"),
    (dict(conv_kernel_size=3), r"kernel_update_head\[0\]\.conv_kernel_size = 3 must be 1"),
    (dict(out_channels=4),
     r"kernel_update_head\[0\]\.out_channels = 4 must equal in_channels \(8\)"),
    (dict(conv_kernel_size=2), r"conv_kernel_size = 2 must be odd"),
    (dict(mask_transform_stride=4), r"mask_transform_stride = 4 must be 1 or 2"),
    (dict(kernel_updator_cfg=dict(type="KernelUpdator", in_channels=8, feat_channels=4)),
     r"kernel_updator_cfg\.feat_channels = 4 must equal in_channels \(8\)"),
    (dict(kernel_updator_cfg=dict(type="KernelUpdator", in_channels=3, feat_channels=3)),
     r"kernel_updator_cfg has in_channels=3, out_channels=3; in_channels must divide"),
    (dict(kernel_updator_cfg=dict(type="KernelUpdator", in_channels=4, feat_channels=4,
                                  out_channels=8)),
     r"kernel_updator_cfg has in_channels=4, out_channels=8"),
])
def test_stage_errors_name_the_key(stage, match):
    with pytest.raises(ConfigError, match=match):
        build_head(_knet(**stage))


def test_wrong_types_and_keys_list_what_is_accepted():
    with pytest.raises(RegistryError, match=r"kernel_update_head\[0\]\.type = 'KernelUpdateHaed'"
                                            r".*Did you mean 'KernelUpdateHead'"):
        build_head(_knet(type="KernelUpdateHaed"))
    with pytest.raises(RegistryError, match=r"kernel_updator_cfg\.type = 'DynamicConv' is not a "
                                            r"registered transformer layer.*KernelUpdator"):
        build_head(_knet(kernel_updator_cfg=dict(type="DynamicConv", in_channels=8)))
    with pytest.raises(RegistryError, match=r"ConvModule at .*feat_transform_cfg.* 'nrom_cfg'"):
        build_head(_knet(feat_transform_cfg=dict(nrom_cfg=None)))
    with pytest.raises(ConfigError, match=r"kernel_generate_head = PointHead: K-Net needs a "
                                          r"decode head with _forward_feature"):
        build_head({**_knet(), "kernel_generate_head": dict(
            type="PointHead", in_channels=[4], in_index=[0], channels=8, num_classes=3)})
