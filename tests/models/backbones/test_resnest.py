"""ResNeXt / ResNeSt: published parameter counts, MMSeg's keys, split attention by hand, errors."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seglab.errors import CheckpointError, ConfigError, RegistryError
from seglab.models import build_backbone
from seglab.models.backbones import ResNeSt, ResNeXt, SplitAttentionConv2d
from seglab.models.backbones.resnest import RSoftmax

# Published totals minus the 1000-class fc (2048*1000 + 1000): torchvision resnext50_32x4d and
# resnext101_32x8d (style 'pytorch', same as MMSeg's ResNeXt); timm resnest50d / resnest101e
# (deep stem of 32 / 64 channels = stem_channels 64 / 128, avg-down, radix 2, avd).
PUBLISHED = {"resnext50_32x4d": 25_028_904, "resnext101_32x8d": 88_791_336,
             "resnest50d": 27_483_240, "resnest101e": 48_275_016}
FC = 2048 * 1000 + 1000


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_match_published_models():
    with torch.device("meta"):
        assert _count(ResNeXt(depth=50, groups=32, base_width=4)) == \
            PUBLISHED["resnext50_32x4d"] - FC
        assert _count(ResNeXt(depth=101, groups=32, base_width=8)) == \
            PUBLISHED["resnext101_32x8d"] - FC
        assert _count(ResNeSt(depth=50, stem_channels=64)) == PUBLISHED["resnest50d"] - FC
        assert _count(ResNeSt(depth=101, stem_channels=128)) == PUBLISHED["resnest101e"] - FC


def test_resnext_grouped_widths_and_keys():
    model = ResNeXt(depth=50, groups=32, base_width=4, base_channels=64)
    block = model.layer1[0]
    assert block.conv2.groups == 32 and block.conv1.out_channels == 128  # floor(64 * 4/64) * 32
    assert block.bn2.num_features == 128 and block.conv3.out_channels == 256
    assert "layer4.2.bn3.running_var" in model.state_dict() and "conv1.weight" in model.state_dict()
    plain = ResNeXt(depth=50, base_channels=8)  # groups=1: a plain ResNet-50
    assert plain.layer2[0].conv2.groups == 1 and plain.layer2[0].conv1.out_channels == 16


def test_resnest_keys_equal_mmseg_layout():
    model = ResNeSt(depth=50, stem_channels=8, base_channels=4, strides=(1, 2, 1, 1),
                    dilations=(1, 1, 2, 4), contract_dilation=True)
    keys = set(model.state_dict())
    for key in ("stem.0.weight", "stem.7.bias", "layer1.0.conv2.conv.weight",
                "layer1.0.conv2.bn0.running_mean", "layer1.0.conv2.fc1.bias",
                "layer1.0.conv2.bn1.weight", "layer1.0.conv2.fc2.weight",
                "layer1.0.downsample.1.weight", "layer2.0.downsample.2.running_var"):
        assert key in keys, key
    assert not any(".bn2." in k for k in keys)  # the split-attention conv has its own norms
    assert isinstance(model.layer2[0].avd_layer, nn.AvgPool2d)
    assert model.layer2[0].conv2.conv.stride == (1, 1)  # the stride moved to avd_layer
    assert not hasattr(model.layer1[0], "avd_layer") and not hasattr(model.layer3[0], "avd_layer")
    assert tuple(model.layer1[0].conv2.fc1.weight.shape) == (32, 4, 1, 1)  # max(4*2//4, 32)
    assert model.layer4[1].conv2.conv.dilation == (4, 4)


@pytest.mark.parametrize("radix,groups", [(2, 1), (2, 2), (4, 2), (1, 1)])
def test_split_attention_by_hand(radix, groups):
    torch.manual_seed(0)
    conv = SplitAttentionConv2d(8, 8, 3, padding=1, groups=groups, radix=radix,
                                reduction_factor=4).eval()
    for bn in (conv.norm0, conv.norm1):
        bn.running_mean.uniform_(-0.3, 0.3)
        bn.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 8, 5, 5)
    bn = lambda t, m: F.batch_norm(t, m.running_mean, m.running_var, m.weight, m.bias,  # noqa
                                   False, 0.0, m.eps)
    feats = F.relu(bn(F.conv2d(x, conv.conv.weight, padding=1, groups=groups * radix), conv.norm0))
    splits = feats.view(2, radix, 8, 5, 5)  # radix-major channel blocks
    gap = splits.sum(1).mean(dim=(2, 3), keepdim=True)
    att = F.relu(bn(F.conv2d(gap, conv.fc1.weight, conv.fc1.bias, groups=groups), conv.norm1))
    att = F.conv2d(att, conv.fc2.weight, conv.fc2.bias, groups=groups)  # (2, 8 * radix, 1, 1)
    if radix == 1:
        expected = torch.sigmoid(att) * feats
    else:
        # fc2 channels are ordered (group, radix, c); softmax across radix per group and c
        per_group = att.view(2, groups, radix, 8 // groups)
        weights = per_group.softmax(dim=2).permute(0, 2, 1, 3).reshape(2, radix, 8, 1, 1)
        expected = (weights * splits).sum(1)
    torch.testing.assert_close(conv(x), expected)


def test_rsoftmax_weights_sum_to_one_over_the_radix():
    x = torch.randn(3, 2 * 4 * 5, 1, 1)
    out = RSoftmax(radix=4, groups=2)(x).view(3, 4, 2 * 5)
    torch.testing.assert_close(out.sum(1), torch.ones(3, 10))


@pytest.mark.parametrize("size", [64, 65])
def test_d8_outputs_are_declared(size):
    model = ResNeSt(depth=50, stem_channels=8, base_channels=4, strides=(1, 2, 1, 1),
                    dilations=(1, 1, 2, 4), contract_dilation=True).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, size, size))
    assert model.out_channels == (16, 32, 64, 128) and model.out_strides == (4, 8, 8, 8)
    assert [tuple(o.shape[1:]) for o in outs] == [
        (c, -(-size // s), -(-size // s)) for c, s in model.output_shapes()]


def test_resnest_with_cp_same_gradients():
    torch.manual_seed(0)
    args = dict(depth=50, stem_channels=8, base_channels=4, out_indices=(1,), num_stages=2,
                strides=(1, 2), dilations=(1, 1))
    ref, cp = ResNeSt(**args), ResNeSt(with_cp=True, **args)
    cp.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 32, 32)
    grads = []
    for model in (ref, cp):
        inp = x.clone().requires_grad_(True)
        model(inp)[0].square().mean().backward()
        grads.append(inp.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)


def test_default_init_zeroes_last_norm_of_blocks():
    model = ResNeSt(depth=50, stem_channels=8, base_channels=4)
    model.init_weights()
    assert torch.all(model.layer1[0].bn3.weight == 0)
    assert torch.all(model.layer1[0].conv2.bn0.weight == 1)


def test_errors_name_the_key():
    with pytest.raises(ConfigError, match="ResNeSt depth=18"):
        ResNeSt(depth=18)
    with pytest.raises(ConfigError, match="ResNeXt depth=34"):
        ResNeXt(depth=34)
    with pytest.raises(ConfigError, match="radix"):
        ResNeSt(depth=50, stem_channels=8, base_channels=4, radix=0)
    with pytest.raises(RegistryError, match="radx.*did you mean 'radix'"):
        build_backbone(dict(type="ResNeSt", depth=50, radx=2))
    with pytest.raises(RegistryError, match="avg_down"):  # fixed by ResNetV1d
        build_backbone(dict(type="ResNeSt", depth=50, avg_down=False))
    with pytest.raises(RegistryError, match="groups"):
        build_backbone(dict(type="ResNeXt", depth=50, group=32))


def test_pretrained_name_fails_offline_saying_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("SEGLAB_HOME", raising=False)
    model = ResNeSt(depth=50, stem_channels=8, base_channels=4,
                    pretrained="open-mmlab://resnest101")
    with pytest.raises(CheckpointError) as info:
        model.init_weights()
    message = str(info.value)
    assert "resnest101_d2-f3b931b2.pth" in message and "model.pretrained=None" in message
