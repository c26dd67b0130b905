"""OCRHead and its parts: MMSeg's keys against the fixture, SpatialGatherModule and the shared
SelfAttentionBlock against the formulas by hand, the whole OCR computation, the cascade
forward_train/forward_test signatures, and errors."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seglab.errors import ConfigError
from seglab.models import build_head
from seglab.models.decode_heads import (BaseCascadeDecodeHead, ObjectAttentionBlock, OCRHead,
                                        SpatialGatherModule)
from seglab.models.layers import ConvModule, SelfAttentionBlock
from shared_data import SHARED

BN = dict(type="BN", requires_grad=True)
# The hrnet_ocr fixture's OCRHead (decode_head.1).
ZOO_OCR = dict(type="OCRHead", in_channels=[4, 8, 16, 32], in_index=(0, 1, 2, 3),
               input_transform="resize_concat", channels=16, ocr_channels=8, dropout_ratio=-1,
               num_classes=5, norm_cfg=BN, align_corners=False)
ZOO_STATE = f"{SHARED}/data/mmseg-zoo/hrnet_ocr.state_dict.pth"


def _feats(n=2):
    return [torch.randn(n, c, 16 // 2 ** i, 16 // 2 ** i) for i, c in enumerate((4, 8, 16, 32))]


def _randomise_norms(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2), m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5), m.bias.data.uniform_(-0.1, 0.1)


def test_state_dict_keys_are_mmsegs():
    head = build_head(ZOO_OCR)
    state = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    try:
        mmseg = torch.load(ZOO_STATE, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        mmseg = None
    if mmseg is not None:
        prefix = "decode_head.1."
        assert state == {k[len(prefix):]: tuple(v.shape) for k, v in mmseg.items()
                         if k.startswith(prefix)}
    assert state["bottleneck.conv.weight"] == (16, 60, 3, 3)
    block = "object_context_block."
    assert state[block + "query_project.0.conv.weight"] == (8, 16, 1, 1)
    assert state[block + "key_project.1.conv.weight"] == (8, 8, 1, 1)
    assert state[block + "value_project.conv.weight"] == (8, 16, 1, 1)
    assert state[block + "out_project.conv.weight"] == (16, 8, 1, 1)
    assert state[block + "bottleneck.conv.weight"] == (16, 32, 1, 1)
    assert state["conv_seg.weight"] == (5, 16, 1, 1)
    assert isinstance(head, BaseCascadeDecodeHead) and head.dropout is None


def test_spatial_gather_by_hand():
    feats, probs = torch.randn(2, 6, 5, 7), torch.randn(2, 3, 5, 7)
    out = SpatialGatherModule(scale=0.5)(feats, probs)
    weights = torch.softmax(0.5 * probs.reshape(2, 3, 35), dim=-1)
    expected = torch.einsum("nkp,ncp->nck", weights, feats.reshape(2, 6, 35))[..., None]
    assert out.shape == (2, 6, 3, 1)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


def _attention(q, k, v, scale):
    """softmax(q^T k * scale) v over flattened positions; q, k: (N, C, Lq / Lk), v: (N, C', Lk)."""
    sim = torch.softmax(torch.einsum("ncq,nck->nqk", q, k) * scale, dim=-1)
    return torch.einsum("nqk,nck->ncq", sim, v)


def test_self_attention_block_by_hand():
    torch.manual_seed(0)
    block = SelfAttentionBlock(key_in_channels=6, query_in_channels=4, channels=8,
                               out_channels=5, share_key_query=False, query_downsample=None,
                               key_downsample=nn.MaxPool2d(2), key_query_num_convs=2,
                               value_out_num_convs=1, key_query_norm=True, value_out_norm=True,
                               matmul_norm=True, with_out=True, conv_cfg=None, norm_cfg=BN,
                               act_cfg=dict(type="ReLU")).eval()
    _randomise_norms(block)
    query, key = torch.randn(2, 4, 3, 5), torch.randn(2, 6, 4, 6)
    with torch.no_grad():
        out = block(query, key)
        q = block.query_project(query).flatten(2)
        k = F.max_pool2d(block.key_project(key), 2).flatten(2)
        v = F.max_pool2d(block.value_project(key), 2).flatten(2)
        context = _attention(q, k, v, 8 ** -0.5).reshape(2, 8, 3, 5)
        expected = block.out_project(context)
    assert out.shape == (2, 5, 3, 5)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)
    assert isinstance(block.key_project, nn.Sequential) and len(block.key_project) == 2
    assert isinstance(block.value_project, ConvModule)


def test_self_attention_block_options():
    plain = SelfAttentionBlock(4, 4, 8, 6, share_key_query=True, query_downsample=None,
                               key_downsample=None, key_query_num_convs=1,
                               value_out_num_convs=1, key_query_norm=False,
                               value_out_norm=False, matmul_norm=False, with_out=True,
                               conv_cfg=None, norm_cfg=None, act_cfg=None)
    assert plain.query_project is plain.key_project and isinstance(plain.key_project, nn.Conv2d)
    # a plain out projection starts at zero (MMSeg's init): the block outputs zeros at first
    assert torch.all(plain.out_project.weight == 0) and torch.all(plain.out_project.bias == 0)
    assert torch.all(plain(torch.randn(1, 4, 3, 3), torch.randn(1, 4, 2, 2)) == 0)
    no_out = SelfAttentionBlock(4, 4, 8, 6, False, None, None, 1, 1, False, False, False, False,
                                None, None, None)
    assert no_out.out_project is None and no_out.value_project.out_channels == 6
    x, y = torch.randn(1, 4, 3, 3), torch.randn(1, 4, 2, 2)
    with torch.no_grad():
        expected = _attention(no_out.query_project(x).flatten(2), no_out.key_project(y).flatten(2),
                              no_out.value_project(y).flatten(2), 1.0).reshape(1, 6, 3, 3)
        torch.testing.assert_close(no_out(x, y), expected, rtol=0, atol=1e-6)
    with pytest.raises(ConfigError, match="share_key_query=True needs key_in_channels"):
        SelfAttentionBlock(4, 6, 8, 6, True, None, None, 1, 1, False, False, False, False,
                           None, None, None)


def test_ocr_head_computation_by_hand():
    torch.manual_seed(0)
    head = build_head(ZOO_OCR).eval()
    _randomise_norms(head)
    feats, prev = _feats(), torch.randn(2, 5, 16, 16)
    with torch.no_grad():
        out = head(feats, prev)
        x = torch.cat([feats[0]] + [F.interpolate(f, size=(16, 16), mode="bilinear",
                                                  align_corners=False) for f in feats[1:]], 1)
        pixels = head.bottleneck(x)  # (2, 16, 16, 16)
        weights = torch.softmax(prev.flatten(2), dim=-1)  # scale 1
        regions = torch.einsum("nkp,ncp->nck", weights, pixels.flatten(2))[..., None]
        block = head.object_context_block
        q = block.query_project(pixels).flatten(2)
        k = block.key_project(regions).flatten(2)
        v = block.value_project(regions).flatten(2)
        context = block.out_project(_attention(q, k, v, 8 ** -0.5).reshape(2, 8, 16, 16))
        expected = head.conv_seg(block.bottleneck(torch.cat([context, pixels], dim=1)))
    assert out.shape == (2, 5, 16, 16)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)


def test_cascade_signatures_and_losses():
    head = build_head(ZOO_OCR).train()
    feats, prev = _feats(), torch.randn(2, 5, 16, 16)
    gt = torch.randint(0, 5, (2, 1, 64, 64))
    losses = head.forward_train(feats, prev, [{}] * 2, gt, None)
    assert set(losses) == {"loss_ce", "acc_seg"} and losses["loss_ce"] > 0
    losses["loss_ce"].backward()
    assert head.object_context_block.query_project[0].conv.weight.grad is not None
    with torch.no_grad():
        out = head.eval().forward_test(feats, prev, [{}] * 2, None)
    assert out.shape == (2, 5, 16, 16)
    # the previous logits steer the result: other class regions, other logits
    with torch.no_grad():
        assert not torch.allclose(out, head(feats, torch.randn(2, 5, 16, 16)))


def test_errors():
    head = build_head(ZOO_OCR)
    with pytest.raises(ValueError, match=r"prev_output is \(8, 8\) but the features are "
                                         r"\(16, 16\)"):
        head(_feats(), torch.randn(2, 5, 8, 8))
    with pytest.raises(ConfigError, match="OCRHead scale=2"):
        build_head({**ZOO_OCR, "scale": 2})
    with pytest.raises(ConfigError, match="in_channels and in_index must be lists"):
        build_head({**ZOO_OCR, "in_channels": 60})
    assert isinstance(ObjectAttentionBlock(16, 8, 1, None, BN, dict(type="ReLU")).bottleneck,
                      ConvModule)
    assert OCRHead.__mro__[1] is BaseCascadeDecodeHead
