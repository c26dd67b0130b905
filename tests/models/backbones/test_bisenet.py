"""BiSeNetV1 / BiSeNetV2: MMSeg's keys, the wiring of every block against a hand computation,
declared outputs on odd sizes, out_indices, init and errors."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seglab.errors import CheckpointError, ConfigError
from seglab.models import build_backbone
from seglab.models.backbones.bisenetv1 import (AttentionRefinementModule, ContextPath,
                                               FeatureFusionModule, SpatialPath)
from seglab.models.backbones.bisenetv2 import BGALayer, CEBlock, GELayer, StemBlock
from shared_data import SHARED

ZOO = f"{SHARED}/data/mmseg-zoo"
BN = dict(type="BN", requires_grad=True)
TINY_RESNET = dict(type="ResNet", depth=18, stem_channels=8, base_channels=4, norm_cfg=BN)
V1 = dict(type="BiSeNetV1", backbone_cfg=TINY_RESNET, context_channels=(8, 16, 32),
          spatial_channels=(4, 4, 4, 8), out_channels=16)
V2 = dict(type="BiSeNetV2", detail_channels=(8, 8, 16), semantic_channels=(4, 8, 8, 16),
          semantic_expansion_ratio=2, bga_channels=16)


def randomize_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics and affine parameters, so eval-mode checks mean something."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data = torch.rand(m.num_features, generator=gen) + 0.5
            m.bias.data = torch.randn(m.num_features, generator=gen) * 0.1
            m.running_mean = torch.randn(m.num_features, generator=gen) * 0.1
            m.running_var = torch.rand(m.num_features, generator=gen) + 0.5
    return model.eval()


def _zoo_backbone_keys(name: str):
    path = f"{ZOO}/{name}.state_dict.pth"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        pytest.skip("MMSeg zoo fixtures not available")
    return {k[len("backbone."):]: tuple(v.shape) for k, v in state.items()
            if k.startswith("backbone.")}


def test_v1_keys_and_shapes_equal_mmseg():
    cfg = dict(V1, backbone_cfg=dict(TINY_RESNET, stem_channels=16, base_channels=8),
               context_channels=(16, 32, 64), spatial_channels=(8, 8, 8, 16), out_channels=32)
    ours = {k: tuple(v.shape) for k, v in build_backbone(cfg).state_dict().items()}
    assert ours == _zoo_backbone_keys("bisenetv1")


def test_v2_keys_and_shapes_equal_mmseg():
    cfg = dict(V2, detail_channels=(16, 16, 32), semantic_channels=(4, 8, 16, 32),
               semantic_expansion_ratio=6, bga_channels=32)
    ours = {k: tuple(v.shape) for k, v in build_backbone(cfg).state_dict().items()}
    assert ours == _zoo_backbone_keys("bisenetv2")


def test_attention_refinement_and_fusion_by_hand():
    torch.manual_seed(0)
    arm = randomize_norms(AttentionRefinementModule(6, 4))
    x = torch.randn(2, 6, 5, 7)
    y = arm.conv_layer(x)
    attention = torch.sigmoid(arm.atten_conv_layer[1](y.mean(dim=(2, 3), keepdim=True)))
    torch.testing.assert_close(arm(x), y * attention)
    assert arm.atten_conv_layer[1].conv.bias is None and not hasattr(arm.atten_conv_layer[1],
                                                                     "activate")

    ffm = randomize_norms(FeatureFusionModule(10, 8))
    sp, cp = torch.randn(2, 4, 5, 7), torch.randn(2, 6, 5, 7)
    fused = ffm.conv1(torch.cat([sp, cp], dim=1))
    gate = torch.sigmoid(ffm.conv_atten[0](fused.mean(dim=(2, 3), keepdim=True)))
    torch.testing.assert_close(ffm(sp, cp), fused + fused * gate)


def test_context_path_sums_top_down_with_nearest_upsampling():
    torch.manual_seed(0)
    path = randomize_norms(ContextPath(TINY_RESNET, (8, 16, 32)))
    x = torch.randn(1, 3, 70, 90)
    _, x8, x16, x32 = path.backbone(x)
    up32 = path.conv_head32(F.interpolate(path.arm32(x32) + path.gap_conv(x32),
                                          size=x16.shape[2:], mode="nearest"))
    up16 = path.conv_head16(F.interpolate(path.arm16(x16) + up32, size=x8.shape[2:],
                                          mode="nearest"))
    out16, out32 = path(x)
    torch.testing.assert_close(out16, up16)
    torch.testing.assert_close(out32, up32)


@pytest.mark.parametrize("size", [(64, 64), (70, 50)])
def test_v1_outputs_are_declared_on_odd_sizes(size):
    model = randomize_norms(build_backbone(V1))
    outs = model(torch.randn(1, 3, *size))
    assert [tuple(o.shape[1:]) for o in outs] == [
        (s.channels, -(-size[0] // s.stride), -(-size[1] // s.stride))
        for s in model.output_shapes()]
    assert model.output_shapes() == ((16, 8), (8, 8), (8, 16))
    spatial = model.spatial_path
    assert isinstance(spatial, SpatialPath) and spatial.layer1.conv.kernel_size == (7, 7)
    assert [getattr(spatial, f"layer{i}").conv.stride for i in range(1, 5)] == [(2, 2)] * 3 + [
        (1, 1)]


def test_v1_fuses_spatial_and_context_paths():
    model = randomize_norms(build_backbone(V1))
    x = torch.randn(2, 3, 64, 64)
    ctx8, ctx16 = model.context_path(x)
    fused, out8, out16 = model(x)
    torch.testing.assert_close(fused, model.ffm(model.spatial_path(x), ctx8))
    torch.testing.assert_close((out8, out16), (ctx8, ctx16))


def test_out_indices_pick_and_order_outputs():
    model = randomize_norms(build_backbone(dict(V1, out_indices=(2, 0))))
    full = randomize_norms(build_backbone(V1))
    full.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 64, 64)
    picked, every = model(x), full(x)
    assert len(picked) == 2 and model.output_shapes() == ((8, 16), (16, 8))
    torch.testing.assert_close(picked, (every[2], every[0]))
    v2 = build_backbone(dict(V2, out_indices=(0, 4)))
    assert v2.output_shapes() == ((16, 8), (16, 32))
    assert [o.shape[1] for o in v2.eval()(x)] == [16, 16]


def test_v1_modules_keep_mmseg_defaults_while_the_resnet_takes_backbone_cfg():
    # MMSeg stores BiSeNetV1's norm_cfg without passing it on: the paths use plain BN.
    gn = dict(type="GN", num_groups=2, requires_grad=True)
    model = build_backbone(dict(V1, norm_cfg=dict(type="SyncBN"),
                                backbone_cfg=dict(TINY_RESNET, norm_cfg=gn)))
    assert type(model.spatial_path.layer1.bn) is nn.BatchNorm2d
    assert type(model.context_path.arm16.conv_layer.bn) is nn.BatchNorm2d
    assert isinstance(model.context_path.backbone.layer1[0].norm1, nn.GroupNorm)


def test_v1_errors_name_the_keys():
    with pytest.raises(ConfigError, match=r"spatial_channels\[3\] \+ context_channels\[0\]"):
        build_backbone(dict(V1, spatial_channels=(4, 4, 4, 4)))
    with pytest.raises(ConfigError, match=r"context_channels=\(8, 32, 64\).*\(16, 32\)"):
        build_backbone(dict(V1, context_channels=(8, 32, 64), spatial_channels=(4, 4, 4, 24)))
    with pytest.raises(ConfigError, match="4 maps.*out_indices=\\(0, 1, 2, 3\\)"):
        build_backbone(dict(V1, backbone_cfg=dict(TINY_RESNET, out_indices=(1, 2, 3))))
    with pytest.raises(ConfigError, match="stride 16.*strides=\\(1, 2, 2, 2\\)"):
        build_backbone(dict(V1, backbone_cfg=dict(TINY_RESNET, strides=(2, 2, 2, 2))))
    with pytest.raises(ConfigError, match="out_indices=\\(0, 3\\)"):
        build_backbone(dict(V1, out_indices=(0, 3)))
    with pytest.raises(ConfigError, match="needs backbone_cfg"):
        build_backbone(dict(V1, backbone_cfg=None))
    with pytest.raises(Exception, match="backbone_cfg.*ResNett"):
        build_backbone(dict(V1, backbone_cfg=dict(TINY_RESNET, type="ResNett")))


def test_v1_context_backbone_loads_its_pretrained_weights(tmp_path):
    source = build_backbone(TINY_RESNET)
    torch.save(source.state_dict(), tmp_path / "r18.pth")
    model = build_backbone(dict(V1, backbone_cfg=dict(
        TINY_RESNET, init_cfg=dict(type="Pretrained", checkpoint=str(tmp_path / "r18.pth")))))
    model.init_weights()
    for key, value in source.state_dict().items():
        assert torch.equal(model.context_path.backbone.state_dict()[key], value), key
    offline = build_backbone(dict(V1, backbone_cfg=dict(TINY_RESNET, init_cfg=dict(
        type="Pretrained", checkpoint="open-mmlab://resnet18_v1c_not_cached_anywhere"))))
    with pytest.raises(CheckpointError, match="pretrained=None"):
        offline.init_weights()


def test_gelayer_by_hand():
    torch.manual_seed(0)
    same = randomize_norms(GELayer(4, 4, exp_ratio=3, stride=1))
    x = torch.randn(2, 4, 9, 7)
    body = same.conv2(same.dwconv(same.conv1(x)))
    torch.testing.assert_close(same(x), F.relu(body + x))
    assert same.shortcut is None and same.dwconv[0].conv.groups == 4
    down = randomize_norms(GELayer(4, 8, exp_ratio=3, stride=2))
    body = down.conv2[0](down.dwconv[1](down.dwconv[0](down.conv1(x))))
    out = down(x)
    torch.testing.assert_close(out, F.relu(body + down.shortcut(x)))
    assert out.shape == (2, 8, 5, 4) and not hasattr(down.dwconv[0], "activate")
    with pytest.raises(ConfigError, match="in_channels \\(4\\) must equal out_channels \\(8\\)"):
        GELayer(4, 8, stride=1)


def test_stem_and_ce_block_by_hand():
    torch.manual_seed(0)
    stem = randomize_norms(StemBlock(3, 8))
    x = torch.randn(2, 3, 33, 17)
    y = stem.conv_first(x)
    expected = stem.fuse_last(torch.cat([stem.convs(y), F.max_pool2d(y, 3, 2, 1)], dim=1))
    torch.testing.assert_close(stem(x), expected)
    assert expected.shape == (2, 8, 9, 5)
    ce = randomize_norms(CEBlock(6, 6))
    x = torch.randn(2, 6, 5, 3)
    pooled = ce.gap[1](x.mean(dim=(2, 3), keepdim=True))
    torch.testing.assert_close(ce(x), ce.conv_last(x + ce.conv_gap(pooled)))


def test_bga_layer_gates_detail_and_semantic_by_hand():
    torch.manual_seed(0)
    bga = randomize_norms(BGALayer(8, align_corners=False))
    x_d, x_s = torch.randn(2, 8, 9, 13), torch.randn(2, 8, 3, 4)
    detail, down = bga.detail_dwconv(x_d), bga.detail_down(x_d)
    semantic = F.interpolate(bga.semantic_conv(x_s), size=(9, 13), mode="bilinear",
                             align_corners=False)
    fuse_2 = F.interpolate(down * torch.sigmoid(bga.semantic_dwconv(x_s)), size=(9, 13),
                           mode="bilinear", align_corners=False)
    torch.testing.assert_close(bga(x_d, x_s), bga.conv(detail * torch.sigmoid(semantic) + fuse_2))
    # the depthwise-separable gates: BN after the depthwise conv, a bare pointwise conv
    pw = bga.detail_dwconv[0].pointwise_conv
    assert pw.conv.bias is not None and pw.norm is None and not hasattr(pw, "activate")


@pytest.mark.parametrize("size", [(64, 64), (70, 50)])
def test_v2_outputs_are_declared_on_odd_sizes(size):
    model = randomize_norms(build_backbone(V2))
    x = torch.randn(1, 3, *size)
    outs = model(x)
    assert model.output_shapes() == ((16, 8), (4, 4), (8, 8), (8, 16), (16, 32))
    assert [tuple(o.shape[1:]) for o in outs] == [
        (s.channels, -(-size[0] // s.stride), -(-size[1] // s.stride))
        for s in model.output_shapes()]
    semantic = model.semantic(x)  # the CEBlock's output feeds BGA and is not returned
    assert len(semantic) == 5 and torch.equal(outs[4], semantic[3])
    torch.testing.assert_close(outs[0], model.bga(model.detail(x), semantic[4]))


def test_v2_default_init_is_kaiming_convs_and_unit_norms():
    model = build_backbone(V2)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.fill_(3.0)
    model.init_weights()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.all(m.weight == 1) and torch.all(m.bias == 0) for m in norms)
    assert model.init_cfg[0] == dict(type="Kaiming", layer="Conv2d")


def test_v2_errors_name_the_keys():
    with pytest.raises(ConfigError, match=r"detail_channels\[-1\] \(8\).*bga_channels \(16\)"):
        build_backbone(dict(V2, detail_channels=(8, 8, 8)))
    with pytest.raises(ConfigError, match="3 detail_channels"):
        build_backbone(dict(V2, detail_channels=(8, 16)))
    with pytest.raises(ConfigError, match="out_indices=\\(5,\\)"):
        build_backbone(dict(V2, out_indices=(5,)))
