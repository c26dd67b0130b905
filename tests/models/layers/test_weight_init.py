import pytest
import torch
from torch import nn

from seglab.errors import ConfigError
from seglab.models.layers import initialize


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Conv2d(4, 3, 1)


def test_layer_and_override_semantics():
    net = _Net()
    head_before = net.head.weight.clone()
    initialize(net, [dict(type="Constant", val=0.5, bias=0.25, layer="Conv2d"),
                     dict(type="Constant", val=2.0, layer="_BatchNorm")])
    assert torch.all(net.conv.weight == 0.5) and torch.all(net.conv.bias == 0.25)
    assert torch.all(net.head.weight == 0.5) and not torch.equal(net.head.weight, head_before)
    assert torch.all(net.bn.weight == 2.0) and torch.all(net.bn.bias == 0)

    initialize(net, dict(type="Normal", std=0.01, override=dict(name="head")))
    assert torch.all(net.conv.weight == 0.5)  # no `layer`: only the override is initialised
    assert net.head.weight.std().item() < 0.05 and torch.all(net.head.bias == 0)


def test_kaiming_fan_out_statistics():
    conv = nn.Conv2d(64, 256, 3)
    initialize(conv, dict(type="Kaiming", layer="Conv2d"))
    expected_std = (2.0 / (256 * 9)) ** 0.5
    assert conv.weight.std().item() == pytest.approx(expected_std, rel=0.05)


def test_errors():
    with pytest.raises(ConfigError, match="'Orthogonal'"):
        initialize(_Net(), dict(type="Orthogonal"))
    with pytest.raises(ConfigError, match="unknown key"):
        initialize(_Net(), dict(type="Normal", sigma=1.0, layer="Conv2d"))
    with pytest.raises(ConfigError, match="no such submodule"):
        initialize(_Net(), dict(type="Normal", override=dict(name="missing")))


def test_pyramid_transformer_init_statistics():
    from seglab.models.layers.weight_init import pyramid_transformer_init

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(256, 512), nn.LayerNorm(8), nn.GroupNorm(1, 8),
                        nn.Conv2d(32, 128, 3, groups=4))
    for m in (net[1], net[2]):
        nn.init.normal_(m.weight)
    pyramid_transformer_init(net)
    linear, ln, gn, conv = net
    assert linear.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert linear.weight.abs().max().item() <= 2.0 and torch.all(linear.bias == 0)
    assert torch.all(ln.weight == 1) and torch.all(ln.bias == 0)
    assert not torch.all(gn.weight == 1)  # only the norm types asked for
    fan_out = 3 * 3 * 128 // 4
    assert conv.weight.std().item() == pytest.approx((2.0 / fan_out) ** 0.5, rel=0.05)
    assert torch.all(conv.bias == 0)
    pyramid_transformer_init(net, (nn.LayerNorm, nn.GroupNorm))
    assert torch.all(gn.weight == 1) and torch.all(gn.bias == 0)
