import pytest
import torch

from seglab.errors import ConfigError
from seglab.models.backbones import ShapeSpec
from seglab.models.necks import MLANeck


def _ln(norm, x):
    n, c, h, w = x.shape
    return norm(x.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(n, c, h, w)


def test_top_down_sums_in_mmseg_order():
    torch.manual_seed(0)
    neck = MLANeck(in_channels=[8, 8, 8], out_channels=4, norm_cfg=dict(type="BN"),
                   act_cfg=dict(type="ReLU")).eval()
    inputs = [torch.randn(2, 8, 3, 5) for _ in range(3)]
    outs = neck(inputs)
    assert [tuple(o.shape) for o in outs] == [(2, 4, 3, 5)] * 3
    p = [proj(_ln(norm, x)) for x, proj, norm in zip(inputs, neck.mla.channel_proj, neck.norm)]
    sums = [p[2], p[2] + p[1], p[2] + p[1] + p[0]]  # output 0 from the last input alone
    for out, s, conv in zip(outs, sums, neck.mla.feat_extract):
        torch.testing.assert_close(out, conv(s))


def test_keys_norm_and_declaration():
    neck = MLANeck(in_channels=[8, 16], out_channels=4)
    assert {"norm.0.weight", "norm.1.bias", "mla.channel_proj.1.conv.weight",
            "mla.feat_extract.0.conv.weight", "mla.feat_extract.0.conv.bias"} <= set(
                neck.state_dict())
    assert neck.norm[1].normalized_shape == (16,) and neck.norm[0].eps == 1e-6
    assert neck.mla.channel_proj[1].conv.in_channels == 16
    assert neck.output_shapes((ShapeSpec(8, 16), ShapeSpec(16, 16))) == (ShapeSpec(4, 16),) * 2
    assert neck.output_shapes((ShapeSpec(8, 8), ShapeSpec(16, 16))) is None
    assert neck.output_shapes(None) is None


def test_errors():
    with pytest.raises(ConfigError, match="must be a list"):
        MLANeck(in_channels=8, out_channels=4)
    with pytest.raises(ValueError, match="expects 2 inputs"):
        MLANeck(in_channels=[8, 8], out_channels=4)([torch.randn(1, 8, 2, 2)])
