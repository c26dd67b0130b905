import pytest
import torch
import torch.nn.functional as F

from seglab.errors import ConfigError
from seglab.models import build_neck
from seglab.models.backbones import ShapeSpec
from seglab.models.necks import MultiLevelNeck


def test_outputs_rescale_each_input():
    torch.manual_seed(0)
    neck = MultiLevelNeck(in_channels=[8, 8, 8, 8], out_channels=4, scales=[4, 2, 1, 0.5]).eval()
    inputs = [torch.randn(2, 8, 4, 4) for _ in range(4)]
    outs = neck(inputs)
    assert [tuple(o.shape) for o in outs] == [(2, 4, 16, 16), (2, 4, 8, 8), (2, 4, 4, 4),
                                              (2, 4, 2, 2)]
    for i, scale in enumerate([4, 2, 1, 0.5]):
        lateral = neck.lateral_convs[i](inputs[i])
        ref = neck.convs[i](F.interpolate(lateral, scale_factor=scale, mode="bilinear",
                                          align_corners=False))
        torch.testing.assert_close(outs[i], ref)


def test_odd_sizes_follow_scale_factor_flooring():
    neck = MultiLevelNeck(in_channels=[8], out_channels=4, scales=[0.5, 1.5]).eval()
    outs = neck([torch.randn(1, 8, 5, 7)])
    assert [tuple(o.shape[2:]) for o in outs] == [(2, 3), (7, 10)]


def test_one_input_feeds_every_scale():
    neck = MultiLevelNeck(in_channels=[8], out_channels=4, scales=[2, 1]).eval()
    x = torch.randn(1, 8, 4, 4)
    outs = neck([x])
    lateral = neck.lateral_convs[0](x)
    torch.testing.assert_close(outs[1], neck.convs[1](lateral))
    assert neck.output_shapes((ShapeSpec(8, 16),)) == (ShapeSpec(4, 8), ShapeSpec(4, 16))


def test_state_dict_keys_and_norm_act():
    neck = MultiLevelNeck(in_channels=[8, 16], out_channels=4, scales=[1, 2])
    assert sorted(neck.state_dict()) == sorted(
        [f"lateral_convs.{i}.conv.{p}" for i in range(2) for p in ("weight", "bias")]
        + [f"convs.{i}.conv.{p}" for i in range(2) for p in ("weight", "bias")])
    assert neck.convs[0].conv.kernel_size == (3, 3) and neck.lateral_convs[1].conv.in_channels == 16
    normed = MultiLevelNeck(in_channels=[8, 16], out_channels=4, scales=[1, 2],
                            norm_cfg=dict(type="BN"), act_cfg=dict(type="ReLU"))
    assert "convs.1.bn.running_mean" in normed.state_dict()
    assert "convs.1.conv.bias" not in normed.state_dict()


def test_output_shapes():
    neck = MultiLevelNeck(in_channels=[32] * 4, out_channels=16, scales=[4, 2, 1, 0.5])
    assert neck.output_shapes((ShapeSpec(32, 16),) * 4) == (
        ShapeSpec(16, 4), ShapeSpec(16, 8), ShapeSpec(16, 16), ShapeSpec(16, 32))
    assert neck.output_shapes(None) is None
    assert neck.output_shapes((None,) * 4) is None  # e.g. ViT (map, cls_token) pairs
    assert MultiLevelNeck([8], 4, scales=[3]).output_shapes((ShapeSpec(8, 16),)) is None


def test_init_weights_is_xavier_uniform():
    torch.manual_seed(0)
    neck = MultiLevelNeck(in_channels=[64], out_channels=64, scales=[1])
    neck.init_weights()
    bound = (6 / (64 * 9 + 64 * 9)) ** 0.5
    weight = neck.convs[0].conv.weight
    assert weight.abs().max() <= bound and weight.abs().max() > 0.9 * bound
    assert neck.convs[0].conv.bias.abs().max() == 0


def test_errors():
    with pytest.raises(ConfigError, match="must be a list"):
        MultiLevelNeck(in_channels=8, out_channels=4)
    with pytest.raises(ConfigError, match="one per scale"):
        MultiLevelNeck(in_channels=[8, 8], out_channels=4, scales=[1, 2, 4])
    neck = build_neck(dict(type="MultiLevelNeck", in_channels=[8, 8], out_channels=4,
                           scales=[1, 2]))
    with pytest.raises(ValueError, match="expects 2 inputs"):
        neck([torch.randn(1, 8, 2, 2)])
