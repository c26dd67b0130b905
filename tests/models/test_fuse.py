"""Float32 fast paths: BN folding (seglab.models.fuse) and channels_last give the plain outputs.

The sweep runs every registered backbone, neck, head and segmentor of tests/models/tiny_configs.py
with random BN statistics and affine parameters (fresh BN layers are the identity, which would
hide a wrong fold) and compares the folded model and its channels_last copy (parameters and
inputs NHWC) with the plain one to 1e-5 relative to the largest output
(``1e-5 * max(1, |out|.max())``): a folded conv and NHWC kernels round in another order, and
oneDNN picks other kernels per CPU (on an AVX2-only EPYC the folded tiny K-Net head and
CascadeEncoderDecoder differ by 1.2e-5 / 1.7e-5 on outputs above 1; on an AVX-512 one, below
1e-5). The original's state_dict stays untouched.
"""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from seglab.models import build_backbone, build_head, build_neck, build_segmentor
from seglab.models.decode_heads import BaseCascadeDecodeHead
from seglab.models.fuse import foldable_pairs, fuse_conv_bn
from seglab.models.layers import ConvModule
from seglab.models.layers.sync_bn import CPUSyncBatchNorm
from test_registry_sweep import BY_KIND, _head_inputs, _image, _tensors, _tiny
from tiny_configs import (HEAD_CALLS, HEAD_COMMON, IMAGE_SIZE, NECK_INPUT, NECK_INPUTS,
                          NUM_CLASSES)

ATOL = 1e-5


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BN layer non-trivial running statistics and affine parameters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                if m.weight is not None:
                    m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                    m.bias.copy_(torch.randn(n, generator=gen) * 0.2)
    return model


def _state(model: nn.Module) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _assert_same_state(model: nn.Module, before: dict) -> None:
    after = model.state_dict()
    assert list(after) == list(before)
    assert all(torch.equal(after[k], before[k]) for k in before)


def _bn_count(model: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _nhwc(value):
    if isinstance(value, torch.Tensor):
        return value.contiguous(memory_format=torch.channels_last) if value.dim() == 4 else value
    if isinstance(value, (list, tuple)):
        return type(value)(_nhwc(v) for v in value)
    return value


def _channels_last(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model).to(memory_format=torch.channels_last)


PATHS = ["fuse", "channels_last"]


def _check(model: nn.Module, run, path: str = "fuse", *inputs) -> nn.Module:
    """Apply ``path`` to ``model`` (eval mode); ``run(model, *inputs)`` within the bound,
    ``model`` unchanged."""
    model = randomize_bn(model).eval()
    before = _state(model)
    with torch.no_grad():
        plain = _tensors(run(model, *inputs))
        if path == "fuse":
            fast = fuse_conv_bn(model)
            out = _tensors(run(fast, *inputs))
        else:
            fast = _channels_last(model)
            out = _tensors(run(fast, *_nhwc(inputs)))
    assert len(plain) == len(out)
    for a, b in zip(plain, out):
        assert a.shape == b.shape
        bound = ATOL * max(1.0, a.abs().max().item())
        assert (a - b).abs().max().item() <= bound, (path, bound)
    _assert_same_state(model, before)
    if path == "fuse":
        assert _bn_count(model) - _bn_count(fast) == fast.fused_conv_bn
    return fast


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", BY_KIND["backbone"])
def test_backbone_fast_path_equals_plain(name, path):
    torch.manual_seed(0)
    _check(build_backbone(_tiny(name)), lambda m, x: m(x), path, _image(False))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", BY_KIND["neck"])
def test_neck_fast_path_equals_plain(name, path):
    torch.manual_seed(0)
    backbone = build_backbone(dict(NECK_INPUTS.get(name, NECK_INPUT))).eval()
    with torch.no_grad():
        feats = backbone(_image(False))
    _check(build_neck(_tiny(name)), lambda m, f: m(f), path, feats)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", BY_KIND["head"])
def test_head_fast_path_equals_plain(name, path):
    torch.manual_seed(0)
    calls = HEAD_CALLS.get(name, {})
    common = HEAD_COMMON if calls.get("common", True) else {}
    head = build_head({**common, **_tiny(name)})
    with torch.no_grad():
        feats = _head_inputs(name, head)[0]
    prev = []
    if isinstance(head, BaseCascadeDecodeHead):  # also reads the previous stage's logits
        side = IMAGE_SIZE // calls.get("prev_stride", _head_inputs(name, head)[3])
        prev = [torch.randn(2, NUM_CLASSES, side, side)]
    _check(head, lambda m, f, p: m.forward_test(f, *p, [{}] * 2, calls.get("test_cfg")), path,
           feats, prev)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", BY_KIND["segmentor"])
def test_segmentor_fast_path_equals_plain(name, path):
    torch.manual_seed(0)
    _check(build_segmentor(_tiny(name)), lambda m, x: m.encode_decode(x, None), path,
           _image(False))


def test_resnet_segmentor_folds_every_bn():
    model, x = build_segmentor(_tiny("EncoderDecoder")), torch.randn(1, 3, 32, 32)
    fused = _check(model, lambda m, x: m.encode_decode(x, None), "fuse", x)
    assert _bn_count(fused) == 0 and fused.fused_conv_bn == _bn_count(model) > 20
    # The folded convs carry the BN: a bias where the BN was.
    assert fused.backbone.layer1[0].conv1.bias is not None
    assert isinstance(fused.backbone.layer1[0].bn1, nn.Identity)
    assert isinstance(fused.decode_head.convs[0].bn, nn.Identity)


def test_training_mode_is_refused():
    model = build_segmentor(_tiny("EncoderDecoder")).train()
    with pytest.raises(ValueError, match=r"eval mode.*model.eval\(\)"):
        fuse_conv_bn(model)
    model.eval()
    model.backbone.layer1.train()  # one stage left training
    with pytest.raises(ValueError, match="backbone.layer1"):
        fuse_conv_bn(model)


def test_inplace_folds_the_model_itself():
    model = randomize_bn(build_segmentor(_tiny("EncoderDecoder"))).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        plain = model.encode_decode(x, None)
        assert fuse_conv_bn(model, inplace=True) is model
        assert (model.encode_decode(x, None) - plain).abs().max() <= ATOL
    assert _bn_count(model) == 0


def _conv_module(order, norm="BN"):
    return ConvModule(4, 4, 3, padding=1, norm_cfg=dict(type=norm), order=order)


@pytest.mark.parametrize("order, folded", [(("conv", "norm", "act"), 1),
                                           (("norm", "conv", "act"), 0),
                                           (("conv", "act", "norm"), 0),
                                           (("act", "conv", "norm"), 1)])
def test_conv_module_orders(order, folded):
    x = torch.randn(2, 4, 8, 8)
    fused = _check(_conv_module(order), lambda m, x: m(x), "fuse", x)
    assert fused.fused_conv_bn == folded


def test_sequential_folds_only_adjacent_conv_bn():
    seq = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 1), nn.ReLU(),
                        nn.BatchNorm2d(4), nn.BatchNorm2d(4))
    x = torch.randn(2, 3, 8, 8)
    fused = _check(seq, lambda m, x: m(x), "fuse", x)
    assert fused.fused_conv_bn == 1 and isinstance(fused[1], nn.Identity)
    assert isinstance(fused[4], nn.BatchNorm2d)


def test_sync_bn_folds_and_batch_statistics_bn_does_not():
    seq = nn.Sequential(nn.Conv2d(3, 4, 3), CPUSyncBatchNorm(4),
                        nn.Conv2d(4, 4, 3), nn.SyncBatchNorm(4),
                        nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4, track_running_stats=False))
    x = torch.randn(2, 3, 12, 12)
    fused = _check(seq, lambda m, x: m(x), "fuse", x)
    assert fused.fused_conv_bn == 2 and isinstance(fused[5], nn.BatchNorm2d)


def test_unknown_forward_shared_and_spectral_convs_are_skipped():
    class Reuses(ConvModule):  # reads the conv output twice: folding would change it
        def forward(self, x, activate=True, norm=True):
            y = self.conv(x)
            return self.bn(y) + y

    shared = nn.Conv2d(4, 4, 1)
    model = nn.ModuleDict(dict(
        reuses=Reuses(4, 4, 1, norm_cfg=dict(type="BN")),
        spectral=nn.Sequential(nn.utils.spectral_norm(nn.Conv2d(4, 4, 1)), nn.BatchNorm2d(4)),
        shared=nn.Sequential(shared, nn.BatchNorm2d(4)), also=shared))
    assert list(foldable_pairs(model.eval())) == []
    assert fuse_conv_bn(model).fused_conv_bn == 0
