import pytest
import torch
from torch import nn

from seglab.errors import ConfigError
from seglab.models.layers import ConvModule, DepthwiseSeparableConvModule


def test_conv_bn_relu_names_bias_and_numerics():
    m = ConvModule(3, 8, 3, padding=1, norm_cfg=dict(type="BN"))
    assert m.conv.bias is None  # bias='auto' drops it before a norm
    assert m.norm_name == "bn" and m.norm is m.bn
    assert list(m.state_dict()) == ["conv.weight", "bn.weight", "bn.bias", "bn.running_mean",
                                    "bn.running_var", "bn.num_batches_tracked"]
    m.eval()
    x = torch.randn(2, 3, 9, 9)
    expected = torch.relu(m.bn(torch.nn.functional.conv2d(x, m.conv.weight, padding=1)))
    torch.testing.assert_close(m(x), expected)
    assert m.bn.eps == 1e-5 and m.bn.momentum == 0.1


def test_without_norm_has_bias_and_activation_can_be_skipped():
    m = ConvModule(4, 4, 1, act_cfg=None)
    assert m.conv.bias is not None and not m.with_norm and not m.with_activation
    x = torch.randn(1, 4, 3, 3)
    torch.testing.assert_close(m(x), m.conv(x))
    m2 = ConvModule(4, 4, 1)
    assert (m2(-x.abs() - 10, activate=False) < 0).any()


def test_groupnorm_name_and_order_norm_first():
    m = ConvModule(8, 4, 1, norm_cfg=dict(type="GN", num_groups=2))
    assert m.norm_name == "gn" and isinstance(m.gn, nn.GroupNorm) and m.gn.num_channels == 4
    pre = ConvModule(8, 4, 1, norm_cfg=dict(type="BN"), order=("norm", "conv", "act"))
    assert pre.bn.num_features == 8  # norm before conv normalises the input channels
    assert pre(torch.randn(2, 8, 3, 3)).shape == (2, 4, 3, 3)


def test_leaky_relu_and_inplace_flags():
    m = ConvModule(2, 2, 1, act_cfg=dict(type="LeakyReLU", negative_slope=0.2))
    assert isinstance(m.activate, nn.LeakyReLU) and m.activate.inplace
    assert m.activate.negative_slope == 0.2
    m = ConvModule(2, 2, 1, inplace=False)
    assert not m.activate.inplace
    m = ConvModule(2, 2, 1, act_cfg=dict(type="Sigmoid"))  # no inplace argument added
    assert isinstance(m.activate, nn.Sigmoid)


def test_explicit_reflect_padding():
    m = ConvModule(1, 1, 3, padding=1, padding_mode="reflect", act_cfg=None, bias=False)
    assert m.conv.padding == (0, 0) and isinstance(m.padding_layer, nn.ReflectionPad2d)
    with torch.no_grad():
        m.conv.weight.fill_(1.0)
    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    expected = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect"),
                                          torch.ones(1, 1, 3, 3))
    torch.testing.assert_close(m(x), expected)


def test_bad_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="order"):
        ConvModule(1, 1, 1, order=("conv", "act"))
    with pytest.raises(ConfigError, match="padding_mode"):
        ConvModule(1, 1, 3, padding_mode="mirror")
    with pytest.raises(ConfigError, match="conv_cfg type 'DCNv2'"):
        ConvModule(1, 1, 3, conv_cfg=dict(type="DCNv2"))


def test_depthwise_separable_names_and_groups():
    m = DepthwiseSeparableConvModule(8, 6, 3, padding=2, dilation=2, norm_cfg=dict(type="BN"))
    assert m.depthwise_conv.conv.groups == 8 and m.depthwise_conv.conv.dilation == (2, 2)
    assert m.pointwise_conv.conv.kernel_size == (1, 1)
    keys = list(m.state_dict())
    assert keys[0] == "depthwise_conv.conv.weight" and "pointwise_conv.bn.running_var" in keys
    assert m(torch.randn(2, 8, 7, 7)).shape == (2, 6, 7, 7)
    no_dw_act = DepthwiseSeparableConvModule(4, 4, 3, padding=1, dw_act_cfg=None)
    assert not no_dw_act.depthwise_conv.with_activation and no_dw_act.pointwise_conv.with_activation
