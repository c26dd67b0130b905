"""MobileNetV2 / MobileNetV3: MMSeg's architecture, keys, dilated layout, freezing and errors."""
import pytest
import torch
from torch import nn

from seglab.errors import CheckpointError, ConfigError, RegistryError
from seglab.models import build_backbone
from seglab.models.backbones import MobileNetV2, MobileNetV3
from seglab.models.layers import Conv2dAdaptivePadding, InvertedResidualV3

# torchvision's published totals minus what MMSeg's segmentation backbones leave out:
# V2: classifier (1280*1000 + 1000) and the final 320->1280 conv + BN; V3: the classifier
# Linear layers (large 960->1280->1000, small 576->1024->1000). Same widths, SE and convs.
TORCHVISION_BACKBONE = {"v2": 3_504_872 - 1_281_000 - 412_160,
                        "large": 5_483_032 - 2_511_080, "small": 2_542_856 - 1_615_848}


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_match_torchvision():
    assert _count(MobileNetV2()) == TORCHVISION_BACKBONE["v2"]
    for arch in ("large", "small"):
        assert _count(MobileNetV3(arch=arch)) == TORCHVISION_BACKBONE[arch]


def test_v2_keys_and_widths():
    model = MobileNetV2(widen_factor=0.25)
    keys = list(model.state_dict())
    assert keys[:3] == ["conv1.conv.weight", "conv1.bn.weight", "conv1.bn.bias"]
    assert "layer1.0.conv.1.bn.running_var" in keys and "layer1.0.conv.2.conv.weight" not in keys
    assert "layer7.0.conv.2.bn.num_batches_tracked" in keys
    assert model.stage_channels == [8, 8, 8, 16, 24, 40, 80]  # make_divisible(c * 0.25, 8)
    assert tuple(model.layer2[0].conv[0].conv.weight.shape) == (48, 8, 1, 1)  # expand x6


@pytest.mark.parametrize("size", [64, 65])
def test_v2_d8_and_default_strides_declared_and_real(size):
    d8 = MobileNetV2(widen_factor=0.25, strides=(1, 2, 2, 1, 1, 1, 1),
                     dilations=(1, 1, 1, 2, 2, 4, 4))
    default = MobileNetV2(widen_factor=0.25, out_indices=(6, 0, 3))
    for model, strides in ((d8, (4, 8, 8, 8)), (default, (2, 16, 32))):
        assert model.out_strides == strides
        outs = model(torch.randn(1, 3, size, size))
        assert [tuple(o.shape[1:]) for o in outs] == [
            (c, -(-size // s), -(-size // s)) for c, s in model.output_shapes()]
    assert default.out_channels == (8, 16, 80)  # stage order, whatever out_indices' order
    # a stage's dilation goes to its first block only (MMSeg)
    assert d8.layer6[0].conv[1].conv.dilation == (4, 4)
    assert d8.layer6[1].conv[1].conv.dilation == (1, 1)
    assert d8.layer6[0].conv[1].conv.padding == (4, 4)


def test_v3_keys_match_mmseg_layout():
    keys = set(MobileNetV3(arch="small").state_dict())
    for key in ("layer0.conv.weight", "layer1.se.conv1.conv.bias", "layer1.linear_conv.bn.weight",
                "layer2.expand_conv.conv.weight", "layer12.bn.running_mean"):
        assert key in keys, key
    assert "layer1.expand_conv.conv.weight" not in keys  # 16 -> 16 needs no expand
    assert "layer13.conv.weight" not in keys
    assert "layer16.bn.weight" in MobileNetV3(arch="large", out_indices=(16,)).state_dict()


def test_v3_output_stride_8_conversion():
    small = MobileNetV3(arch="small")
    assert small.layer4.depthwise_conv.conv.stride == (1, 1)
    assert isinstance(small.layer4.depthwise_conv.conv, Conv2dAdaptivePadding)
    assert small.layer4.depthwise_conv.conv.dilation == (2, 2)
    assert small.layer5.depthwise_conv.conv.padding == (4, 4)  # 5x5 at dilation 2
    assert small.layer8.depthwise_conv.conv.dilation == (2, 2)
    assert small.layer9.depthwise_conv.conv.dilation == (4, 4)
    assert small.layer10.depthwise_conv.conv.padding == (8, 8)
    assert small.layer12.conv.dilation == (4, 4) and small.layer12.conv.padding == (0, 0)
    assert small.layer3.depthwise_conv.conv.dilation == (1, 1)
    large = MobileNetV3(arch="large", out_indices=(1, 3, 16))
    assert large.layer7.depthwise_conv.conv.stride == (1, 1)
    assert large.layer8.depthwise_conv.conv.padding == (2, 2)  # 3x3 at dilation 2
    assert large.layer13.depthwise_conv.conv.dilation == (4, 4)
    assert large.out_channels == (16, 24, 960) and large.out_strides == (2, 4, 8)


@pytest.mark.parametrize("size", [49, 64])
def test_v3_outputs_are_declared(size):
    model = MobileNetV3(arch="small", out_indices=(0, 1, 3, 8, 12), reduction_factor=4).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, size, size))
    assert model.out_strides == (2, 4, 8, 8, 8)
    assert model.out_channels == (16, 16, 24, 48, 576)
    assert [tuple(o.shape[1:]) for o in outs] == [
        (c, -(-size // s), -(-size // s)) for c, s in model.output_shapes()]


def test_v3_reduction_factor_divides_the_last_stage():
    model = MobileNetV3(arch="small", reduction_factor=4)
    assert model.layer8.linear_conv.conv.out_channels == 48  # before the last stage
    assert model.layer9.expand_conv.conv.out_channels == 288 // 4
    assert model.layer11.linear_conv.conv.out_channels == 96 // 4
    assert model.layer12.conv.in_channels == 24 and model.layer12.conv.out_channels == 576
    assert isinstance(model.layer9, InvertedResidualV3) and model.layer9.with_se


def test_frozen_stages_and_norm_eval():
    v2 = MobileNetV2(widen_factor=0.25, frozen_stages=2).train()
    frozen = [v2.conv1, v2.layer1, v2.layer2]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(not m.training for m in frozen) and v2.layer3.training
    assert all(p.requires_grad for p in v2.layer3.parameters())
    v3 = MobileNetV3(arch="small", frozen_stages=1, norm_eval=True).train()
    assert not any(p.requires_grad for p in v3.layer1.parameters())
    assert all(p.requires_grad for p in v3.layer2.parameters())
    assert all(not m.training for m in v3.modules() if isinstance(m, nn.BatchNorm2d))


def test_default_init():
    model = MobileNetV2(widen_factor=0.25)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.zeros_(m.weight)
    model.init_weights()
    assert torch.all(model.layer3[0].conv[0].bn.weight == 1)
    # kaiming normal, fan_out: std sqrt(2 / fan_out) = sqrt(2 / 48) for the 8 -> 48 expand conv
    std = model.layer3[0].conv[0].conv.weight.std().item()
    assert 0.5 * (2 / 48) ** 0.5 < std < 1.5 * (2 / 48) ** 0.5


def test_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"out_indices items must be in range\(0, 7\)"):
        MobileNetV2(out_indices=(1, 7))
    with pytest.raises(ConfigError, match="frozen_stages"):
        MobileNetV2(frozen_stages=7)
    with pytest.raises(ConfigError, match="strides"):
        MobileNetV2(strides=(1, 2, 2))
    with pytest.raises(ConfigError, match="arch='tiny'"):
        MobileNetV3(arch="tiny")
    with pytest.raises(ConfigError, match="reduction_factor"):
        MobileNetV3(reduction_factor=0)
    with pytest.raises(ConfigError, match=r"range\(0, 13\)"):
        MobileNetV3(arch="small", out_indices=(13,))
    with pytest.raises(RegistryError, match="widen_factor"):
        build_backbone(dict(type="MobileNetV2", widen_factr=0.5))


@pytest.mark.parametrize("cls,name,file", [
    (MobileNetV2, "mmcls://mobilenet_v2", "mobilenet_v2_batch256_imagenet_20200708-3b2dc3af.pth"),
    (MobileNetV3, "open-mmlab://contrib/mobilenet_v3_large", "mobilenet_v3_large-bc2c3fd3.pth"),
    (MobileNetV3, "open-mmlab://contrib/mobilenet_v3_small", "mobilenet_v3_small-47085aa1.pth")])
def test_pretrained_names_fail_offline_saying_where_to_put_the_file(cls, name, file, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("SEGLAB_HOME", raising=False)
    model = cls(pretrained=name)
    with pytest.raises(CheckpointError) as info:
        model.init_weights()
    message = str(info.value)
    assert file in message and str(tmp_path / "hub" / "checkpoints") in message
    assert "model.pretrained=None" in message
