"""make_divisible, SELayer, InvertedResidual(V3), Conv2dAdaptivePadding by hand computation."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seglab.errors import ConfigError
from seglab.models.layers import (Conv2dAdaptivePadding, InvertedResidual, InvertedResidualV3,
                                  SELayer, build_conv_layer, make_divisible)


def _randomize(module: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.normal_(m.bias, 0, 0.1)
    return module.eval()


def _bn(x, bn):
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


@pytest.mark.parametrize("value,divisor,expected", [
    (32 * 0.25, 8, 8), (24 * 0.25, 8, 8), (96 * 0.25, 8, 24), (320 * 0.25, 8, 80),
    (16 // 4, 8, 8), (240 // 4, 8, 64), (11, 8, 16), (100, 8, 104), (3, 1, 3)])
def test_make_divisible(value, divisor, expected):
    # (11, 8): the nearest multiple 8 loses more than 10% of 11, so it goes up to 16.
    assert make_divisible(value, divisor) == expected


def test_make_divisible_min_value():
    assert make_divisible(3, 8, min_value=16) == 16


def test_se_layer_is_the_hard_sigmoid_gate_by_hand():
    se = SELayer(16, ratio=4).eval()
    assert se.conv1.conv.out_channels == 8  # make_divisible(16 // 4, 8)
    assert se.conv1.conv.bias is not None and se.conv1.norm is None
    x = torch.randn(2, 16, 5, 7)
    pooled = x.mean(dim=(2, 3), keepdim=True)
    hidden = F.relu(F.conv2d(pooled, se.conv1.conv.weight, se.conv1.conv.bias))
    gate = ((F.conv2d(hidden, se.conv2.conv.weight, se.conv2.conv.bias) + 3) / 6).clamp(0, 1)
    torch.testing.assert_close(se(x), x * gate)


def test_se_layer_single_act_cfg_and_errors():
    se = SELayer(8, ratio=2, act_cfg=dict(type="Sigmoid"))
    assert isinstance(se.conv1.activate, nn.Sigmoid) and isinstance(se.conv2.activate, nn.Sigmoid)
    with pytest.raises(ConfigError, match="act_cfg"):
        SELayer(8, act_cfg=(dict(type="ReLU"),))


@pytest.mark.parametrize("size", [7, 8, 9])
@pytest.mark.parametrize("kernel,stride,dilation", [(3, 2, 1), (5, 2, 1), (5, 1, 2), (3, 2, 2)])
def test_conv2d_adaptive_padding_is_tf_same(size, kernel, stride, dilation):
    conv = build_conv_layer(dict(type="Conv2dAdaptivePadding"), 3, 4, kernel, stride=stride,
                            padding=kernel // 2, dilation=dilation)
    assert isinstance(conv, Conv2dAdaptivePadding) and conv.padding == (0, 0)
    x = torch.randn(1, 3, size, size + 1)
    out = conv(x)
    assert out.shape[-2:] == (-(-size // stride), -(-(size + 1) // stride))
    pads = [max((-(-n // stride) - 1) * stride + (kernel - 1) * dilation + 1 - n, 0)
            for n in (size, size + 1)]
    padded = F.pad(x, [pads[1] // 2, pads[1] - pads[1] // 2, pads[0] // 2, pads[0] - pads[0] // 2])
    torch.testing.assert_close(out, F.conv2d(padded, conv.weight, conv.bias, stride, 0, dilation))


def test_inverted_residual_by_hand():
    block = _randomize(InvertedResidual(8, 8, stride=1, expand_ratio=3, dilation=2))
    assert [type(m.conv).__name__ for m in block.conv] == ["Conv2d"] * 3
    assert block.with_res_shortcut and block.use_res_connect
    x = torch.randn(2, 8, 9, 9)
    c0, c1, c2 = block.conv
    h = F.relu6(_bn(F.conv2d(x, c0.conv.weight), c0.bn))
    h = F.relu6(_bn(F.conv2d(h, c1.conv.weight, padding=2, dilation=2, groups=24), c1.bn))
    h = _bn(F.conv2d(h, c2.conv.weight), c2.bn)
    torch.testing.assert_close(block(x), x + h)


def test_inverted_residual_shapes_and_keys():
    block = InvertedResidual(8, 16, stride=2, expand_ratio=1)
    assert list(block.state_dict())[:2] == ["conv.0.conv.weight", "conv.0.bn.weight"]
    assert len(block.conv) == 2 and not block.with_res_shortcut  # no expand conv at ratio 1
    assert block(torch.randn(1, 8, 9, 9)).shape == (1, 16, 5, 5)
    with pytest.raises(ConfigError, match="stride must be 1 or 2"):
        InvertedResidual(8, 8, stride=3, expand_ratio=6)


def test_inverted_residual_v3_by_hand():
    block = _randomize(InvertedResidualV3(
        8, 8, 16, kernel_size=5, stride=1, se_cfg=dict(channels=16, ratio=4),
        act_cfg=dict(type="HSwish")))
    assert sorted(n for n, _ in block.named_children()) == [
        "depthwise_conv", "expand_conv", "linear_conv", "se"]
    x = torch.randn(2, 8, 7, 7)
    h = F.hardswish(_bn(F.conv2d(x, block.expand_conv.conv.weight), block.expand_conv.bn))
    h = F.hardswish(_bn(F.conv2d(h, block.depthwise_conv.conv.weight, padding=2, groups=16),
                        block.depthwise_conv.bn))
    h = block.se(h)
    h = _bn(F.conv2d(h, block.linear_conv.conv.weight), block.linear_conv.bn)
    torch.testing.assert_close(block(x), x + h)


def test_inverted_residual_v3_strided_uses_adaptive_padding_and_checks():
    block = InvertedResidualV3(16, 24, 16, kernel_size=3, stride=2, with_expand_conv=False)
    assert isinstance(block.depthwise_conv.conv, Conv2dAdaptivePadding)
    assert not hasattr(block, "expand_conv") and not block.with_res_shortcut
    assert block(torch.randn(1, 16, 9, 10)).shape == (1, 24, 5, 5)
    with pytest.raises(ConfigError, match="mid_channels == in_channels"):
        InvertedResidualV3(16, 24, 32, with_expand_conv=False)
    with pytest.raises(ConfigError, match="se_cfg"):
        InvertedResidualV3(16, 16, 16, se_cfg=4)


def test_inverted_residual_with_cp_same_gradients():
    torch.manual_seed(0)
    ref = InvertedResidualV3(8, 8, 16, se_cfg=dict(channels=16, ratio=4))
    cp = InvertedResidualV3(8, 8, 16, se_cfg=dict(channels=16, ratio=4), with_cp=True)
    cp.load_state_dict(ref.state_dict())
    x = torch.randn(2, 8, 6, 6)
    grads = []
    for block in (ref, cp):
        inp = x.clone().requires_grad_(True)
        block(inp).square().sum().backward()
        grads.append(inp.grad)
    torch.testing.assert_close(grads[0], grads[1])
