import pytest
import torch
from torch import nn

from seglab.errors import ConfigError, RegistryError
from seglab.models import ResNet, ResNetV1c, ResNetV1d, build_backbone
from seglab.models.backbones import BasicBlock, Bottleneck

# torchvision's ResNet parameter counts without the 1000-class fc layer (the same architecture as
# MMSeg's ResNet with style='pytorch'): published totals minus fc (512*1000+1000 or 2048*1000+1000).
TORCHVISION_NO_FC = {18: 11_689_512 - 513_000, 34: 21_797_672 - 513_000,
                     50: 25_557_032 - 2_049_000, 101: 44_549_160 - 2_049_000,
                     152: 60_192_808 - 2_049_000}


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_parameter_counts_match_torchvision(depth):
    with torch.device("meta"):
        model = ResNet(depth=depth)
    assert _count(model) == TORCHVISION_NO_FC[depth]


def test_deep_stem_parameter_difference():
    """V1c replaces conv7x7(3->64)+BN with 3x3 convs 3->32->32->64 (+3 BNs)."""
    with torch.device("meta"):
        v1b, v1c = ResNet(depth=50), ResNetV1c(depth=50)
    stem_v1b = 7 * 7 * 3 * 64 + 2 * 64
    stem_v1c = 9 * (3 * 32 + 32 * 32 + 32 * 64) + 2 * (32 + 32 + 64)
    assert _count(v1c) - _count(v1b) == stem_v1c - stem_v1b


def test_state_dict_names():
    keys = list(ResNetV1c(depth=18, stem_channels=16, base_channels=8).state_dict())
    assert keys[:3] == ["stem.0.weight", "stem.1.weight", "stem.1.bias"]
    assert "stem.3.weight" in keys and "stem.7.running_var" in keys
    assert "layer1.0.conv1.weight" in keys and "layer2.0.downsample.0.weight" in keys
    assert "layer2.0.downsample.1.running_mean" in keys
    v1b = list(ResNet(depth=18, base_channels=8).state_dict())
    assert v1b[:2] == ["conv1.weight", "bn1.weight"]
    v1d = ResNetV1d(depth=50, stem_channels=16, base_channels=8)
    assert isinstance(v1d.layer2[0].downsample[0], nn.AvgPool2d)
    assert v1d.layer2[0].downsample[1].stride == (1, 1)
    assert "layer2.0.downsample.2.running_mean" in v1d.state_dict()
    # layer1 of ResNetV1d needs channel change only (stride 1): AvgPool with kernel 1.
    assert tuple(v1d.state_dict()["layer3.0.downsample.1.weight"].shape) == (128, 64, 1, 1)


@pytest.mark.parametrize("setting,expected_hw", [
    ("d8", [16, 8, 8, 8]), ("d16", [16, 8, 4, 4]), ("d32", [16, 8, 4, 2])])
@pytest.mark.parametrize("depth,channels", [(18, [8, 16, 32, 64]), (50, [32, 64, 128, 256])])
def test_output_strides_and_shapes(setting, expected_hw, depth, channels):
    strides, dilations = {"d8": ((1, 2, 1, 1), (1, 1, 2, 4)), "d16": ((1, 2, 2, 1), (1, 1, 1, 2)),
                          "d32": ((1, 2, 2, 2), (1, 1, 1, 1))}[setting]
    model = ResNetV1c(depth=depth, stem_channels=16, base_channels=8, strides=strides,
                      dilations=dilations, contract_dilation=True)
    outs = model(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, c, s, s) for c, s in zip(channels, expected_hw)]


def _dilations(layer, block_cls):
    conv = "conv1" if block_cls is BasicBlock else "conv2"
    return [getattr(b, conv).dilation[0] for b in layer]


def test_contract_dilation_and_padding():
    m = ResNetV1c(depth=18, base_channels=8, stem_channels=16, strides=(1, 2, 1, 1),
                  dilations=(1, 1, 2, 4), contract_dilation=True)
    assert _dilations(m.layer3, BasicBlock) == [1, 2] and _dilations(m.layer4, BasicBlock) == [2, 4]
    assert m.layer4[1].conv1.padding == (4, 4)
    assert m.layer4[1].conv2.dilation == (1, 1) and m.layer4[1].conv2.padding == (1, 1)
    m = ResNetV1c(depth=50, base_channels=8, stem_channels=16, strides=(1, 2, 1, 1),
                  dilations=(1, 1, 2, 4), contract_dilation=False)
    assert _dilations(m.layer4, Bottleneck) == [4, 4, 4]


def test_multi_grid_applies_to_last_stage_only():
    m = ResNetV1c(depth=50, base_channels=8, stem_channels=16, strides=(1, 2, 1, 1),
                  dilations=(1, 1, 2, 4), multi_grid=(1, 2, 4), contract_dilation=True)
    assert _dilations(m.layer4, Bottleneck) == [1, 2, 4]
    assert _dilations(m.layer3, Bottleneck) == [1] + [2] * 5
    with pytest.raises(ConfigError, match="multi_grid"):
        ResNetV1c(depth=50, base_channels=8, stem_channels=16, multi_grid=(1, 2))


def test_caffe_style_strides_first_conv():
    m = ResNet(depth=50, base_channels=8, style="caffe")
    assert m.layer2[0].conv1.stride == (2, 2) and m.layer2[0].conv2.stride == (1, 1)
    p = ResNet(depth=50, base_channels=8, style="pytorch")
    assert p.layer2[0].conv1.stride == (1, 1) and p.layer2[0].conv2.stride == (2, 2)


def test_frozen_stages():
    m = ResNetV1c(depth=18, stem_channels=16, base_channels=8, frozen_stages=1)
    m.train()
    frozen = list(m.stem.parameters()) + list(m.layer1.parameters())
    assert all(not p.requires_grad for p in frozen)
    assert all(p.requires_grad for p in m.layer2.parameters())
    assert not m.stem.training and not m.layer1.training and m.layer2.training
    before = m.layer1[0].bn1.running_mean.clone()
    m(torch.randn(2, 3, 32, 32))
    torch.testing.assert_close(m.layer1[0].bn1.running_mean, before, rtol=0, atol=0)
    assert not torch.equal(m.layer2[0].bn1.running_mean, torch.zeros_like(before[:16]))


def test_norm_eval_keeps_statistics():
    m = ResNetV1c(depth=18, stem_channels=16, base_channels=8, norm_eval=True).train()
    assert all(not b.training for b in m.modules() if isinstance(b, nn.BatchNorm2d))
    assert m.layer1[0].conv1.weight.requires_grad  # norm_eval does not freeze weights
    before = {k: v.clone() for k, v in m.state_dict().items() if "running" in k}
    m(torch.randn(2, 3, 32, 32)).__len__()
    after = m.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())


def test_with_cp_same_gradients_and_recomputes():
    torch.manual_seed(0)
    ref = ResNetV1c(depth=18, stem_channels=16, base_channels=8, strides=(1, 2, 1, 1),
                    dilations=(1, 1, 2, 4), contract_dilation=True)
    cp = ResNetV1c(depth=18, stem_channels=16, base_channels=8, strides=(1, 2, 1, 1),
                   dilations=(1, 1, 2, 4), contract_dilation=True, with_cp=True)
    cp.load_state_dict(ref.state_dict())
    calls = []
    cp.layer3[0].conv1.register_forward_hook(lambda *_: calls.append(1))
    x = torch.randn(2, 3, 32, 32)
    grads = []
    for model in (ref, cp):
        model.train()
        inp = x.clone().requires_grad_(True)
        sum(o.square().mean() for o in model(inp)).backward()
        grads.append((inp.grad, {n: p.grad for n, p in model.named_parameters()}))
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=1e-5, atol=1e-6)
    for name, g in grads[0][1].items():
        torch.testing.assert_close(grads[1][1][name], g, rtol=1e-5, atol=1e-6, msg=name)
    assert len(calls) == 2  # forward once, recomputed once in backward
    calls.clear()
    with torch.no_grad():
        cp(x)
    assert len(calls) == 1  # no checkpointing without gradients


def test_default_init_zeroes_last_norm_of_blocks():
    m = ResNetV1c(depth=50, stem_channels=16, base_channels=8)
    m.init_weights()
    assert torch.all(m.layer1[0].bn3.weight == 0) and torch.all(m.layer1[0].bn1.weight == 1)
    assert torch.all(m.stem[1].weight == 1)
    m = ResNetV1c(depth=18, stem_channels=16, base_channels=8, zero_init_residual=False)
    m.init_weights()
    assert torch.all(m.layer1[0].bn2.weight == 1)


def test_errors_name_the_key():
    with pytest.raises(ConfigError, match="depth=20.*18, 34, 50, 101, 152"):
        ResNet(depth=20)
    with pytest.raises(ConfigError, match="out_indices"):
        ResNet(depth=18, out_indices=(0, 4))
    with pytest.raises(ConfigError, match="strides"):
        ResNet(depth=18, strides=(1, 2, 2))
    with pytest.raises(ConfigError, match="dcn"):
        ResNet(depth=50, dcn=dict(type="DCN"))
    with pytest.raises(ConfigError, match="pretrained or init_cfg"):
        ResNet(depth=18, pretrained="a.pth", init_cfg=dict(type="Pretrained", checkpoint="b.pth"))
    with pytest.raises(RegistryError, match="deep_stem"):  # fixed by the V1c variant
        build_backbone(dict(type="ResNetV1c", depth=18, deep_stem=False))
    with pytest.raises(RegistryError, match="base_chanels.*did you mean 'base_channels'"):
        build_backbone(dict(type="ResNetV1c", depth=18, base_chanels=8))


def test_pretrained_loads_local_file(tmp_path):
    pytest.importorskip("seglab.engine.checkpoint")
    source = ResNetV1c(depth=18, stem_channels=16, base_channels=8)
    path = tmp_path / "r18.pth"
    torch.save(source.state_dict(), path)
    for kwargs in (dict(pretrained=str(path)),
                   dict(init_cfg=dict(type="Pretrained", checkpoint=str(path)))):
        model = ResNetV1c(depth=18, stem_channels=16, base_channels=8, **kwargs)
        model.init_weights()
        for key, value in source.state_dict().items():
            assert torch.equal(model.state_dict()[key], value), key
    # A whole-segmentor checkpoint: take the backbone.* keys with prefix.
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in source.state_dict().items()}},
               tmp_path / "seg.pth")
    model = ResNetV1c(depth=18, stem_channels=16, base_channels=8, init_cfg=dict(
        type="Pretrained", checkpoint=str(tmp_path / "seg.pth"), prefix="backbone."))
    model.init_weights()
    assert torch.equal(model.stem[0].weight, source.stem[0].weight)


def test_unavailable_pretrained_explains_what_to_do():
    pytest.importorskip("seglab.engine.checkpoint")
    from seglab.errors import CheckpointError

    model = ResNetV1c(depth=18, stem_channels=16, base_channels=8,
                      pretrained="open-mmlab://resnet18_v1c_not_cached_anywhere")
    with pytest.raises(CheckpointError, match="pretrained=None"):
        model.init_weights()
