import pytest
import torch
from torch import nn

from seglab.errors import ConfigError
from seglab.models.backbones import ShapeSpec
from seglab.models.necks import JPU, CascadeFeatureFusion, ICNeck
from zoo_parts import assert_matches_fixture

BN = dict(type="BN", requires_grad=True)


def test_icneck_mmseg_keys_and_outputs_of_the_fixture():
    neck = ICNeck(in_channels=(8, 16, 16), out_channels=16, norm_cfg=BN)
    assert_matches_fixture(neck, "icnet", "neck")


def test_jpu_mmseg_keys_and_outputs_of_the_fixture():
    neck = JPU(in_channels=(8, 16, 32), mid_channels=16, norm_cfg=BN)
    assert_matches_fixture(neck, "jpu_fcn", "neck")


def test_cascade_feature_fusion_by_hand():
    cff = CascadeFeatureFusion(8, 4, 6, norm_cfg=BN).eval()
    low, high = torch.randn(2, 8, 3, 3), torch.randn(2, 4, 5, 5)
    x_low = cff.conv_low(nn.functional.interpolate(low, size=(5, 5), mode="bilinear"))
    fused, aux = cff(low, high)
    torch.testing.assert_close(aux, x_low)
    torch.testing.assert_close(fused, torch.relu(x_low + cff.conv_high(high)))
    assert cff.conv_low.conv.dilation == (2, 2) and cff.conv_low.conv.padding == (2, 2)


def test_icneck_cascade_order_sizes_and_declaration():
    neck = ICNeck(in_channels=(4, 8, 8), out_channels=6, norm_cfg=BN).eval()
    sub1, sub2, sub4 = torch.randn(1, 4, 9, 7), torch.randn(1, 8, 5, 4), torch.randn(1, 8, 2, 2)
    x_24, x_12, x_cff_12 = neck([sub1, sub2, sub4])
    fused_24, low_24 = neck.cff_24(sub4, sub2)
    torch.testing.assert_close(x_24, low_24)
    torch.testing.assert_close(x_cff_12, neck.cff_12(fused_24, sub1)[0])
    assert x_12.shape == x_cff_12.shape == (1, 6, 9, 7) and x_24.shape == (1, 6, 5, 4)
    specs = (ShapeSpec(4, 8), ShapeSpec(8, 16), ShapeSpec(8, 32))
    assert neck.output_shapes(specs) == ((6, 16), (6, 8), (6, 8))
    with pytest.raises(ConfigError, match="3 entries"):
        ICNeck(in_channels=(4, 8))
    with pytest.raises(ValueError, match="3 maps"):
        neck([sub1, sub2])


def test_jpu_fuses_at_the_start_level():
    neck = JPU(in_channels=(4, 8, 16, 32), mid_channels=4, start_level=1, end_level=3,
               dilations=(1, 3), norm_cfg=BN).eval()
    assert len(neck.conv_layers) == 2 and neck.dilation_layers[1][0].depthwise_conv.conv.dilation \
        == (3, 3)
    assert not hasattr(neck.dilation_layers[0][0].depthwise_conv, "activate")  # dw: norm only
    feats = [torch.randn(1, c, s, s) for c, s in ((4, 16), (8, 8), (16, 4), (32, 2))]
    outs = neck(feats)
    assert len(outs) == 2 and outs[0] is feats[1] and outs[1].shape == (1, 8, 8, 8)
    a = neck.conv_layers[0](feats[1])
    b = nn.functional.interpolate(neck.conv_layers[1](feats[2]), size=(8, 8), mode="bilinear")
    cat = torch.cat([a, b], dim=1)
    torch.testing.assert_close(outs[1], torch.cat([m(cat) for m in neck.dilation_layers], 1))
    specs = tuple(ShapeSpec(c, s) for c, s in ((4, 4), (8, 8), (16, 16), (32, 32)))
    assert neck.output_shapes(specs) == ((8, 8), (8, 8))


def test_jpu_errors():
    with pytest.raises(ConfigError, match="start_level"):
        JPU(in_channels=(4, 8), start_level=2)
    with pytest.raises(ValueError, match="3 inputs"):
        JPU(in_channels=(4, 8, 16), mid_channels=4)([torch.randn(1, 4, 4, 4)])
