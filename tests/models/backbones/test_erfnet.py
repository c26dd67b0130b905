import pytest
import torch
from torch import nn

from seglab.errors import ConfigError, RegistryError
from seglab.models import build_backbone
from seglab.models.backbones import ERFNet, NonBottleneck1d
from seglab.models.backbones.erfnet import DownsamplerBlock
from zoo_parts import assert_matches_fixture

# The erfnet fixture's backbone (shared/data/mmseg-zoo/erfnet.py.txt).
ZOO_ERFNET = dict(enc_downsample_channels=(8, 16, 32), enc_stage_non_bottlenecks=(2, 4),
                  enc_non_bottleneck_dilations=(2, 4, 8, 16), enc_non_bottleneck_channels=(16, 32),
                  dec_upsample_channels=(16, 8), dec_stages_non_bottleneck=(1, 1),
                  dec_non_bottleneck_channels=(16, 8), dropout_ratio=0.1)


def test_mmseg_keys_and_outputs_of_the_fixture():
    model = ERFNet(**ZOO_ERFNET)
    assert_matches_fixture(model, "erfnet")
    # encoder: down, 2 blocks, down, 4 dilated blocks (2, 4, 8, 16), down; decoder: up, block, ...
    kinds = [type(m).__name__ for m in model.encoder]
    assert kinds == ["DownsamplerBlock", "DownsamplerBlock", "NonBottleneck1d", "NonBottleneck1d",
                     "DownsamplerBlock"] + ["NonBottleneck1d"] * 4
    assert [m.convs_layers[5].dilation for m in model.encoder[5:]] == [(2, 1), (4, 1), (8, 1),
                                                                       (16, 1)]
    assert [type(m).__name__ for m in model.decoder] == ["UpsamplerBlock", "NonBottleneck1d"] * 2


def test_block_norms_are_mmseg_s_fixed_bn_eps():
    model = ERFNet(**ZOO_ERFNET, norm_cfg=dict(type="GN", num_groups=2))
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.eps == 1e-3 for m in norms)  # MMSeg never passes norm_cfg on


@pytest.mark.parametrize("hw", [(64, 64), (32, 48)])
def test_output_matches_declaration(hw):
    model = ERFNet(**ZOO_ERFNET)
    (out,) = model(torch.randn(1, 3, *hw))
    (spec,) = model.output_shapes()
    assert spec.stride == 2 and out.shape == (1, 8, hw[0] // 2, hw[1] // 2)


def test_downsampler_concatenates_conv_and_pool_on_odd_sizes():
    block = DownsamplerBlock(3, 8).eval()
    x = torch.randn(1, 3, 7, 9)
    out = block(x)
    assert out.shape == (1, 8, 4, 5)  # the conv rounds up; the 3x4 pool is resized to 4x5
    expected = block.act(block.bn(torch.cat([block.conv(x), nn.functional.interpolate(
        nn.functional.max_pool2d(x, 2), size=(4, 5), mode="bilinear")], 1)))
    torch.testing.assert_close(out, expected)


def test_non_bottleneck_is_factorised_residual():
    block = NonBottleneck1d(4, drop_rate=0.5, dilation=3).eval()
    layers = block.convs_layers
    assert [layers[i].kernel_size for i in (0, 2, 5, 7)] == [(3, 1), (1, 3), (3, 1), (1, 3)]
    assert (layers[5].padding, layers[7].padding) == ((3, 0), (0, 3))
    assert isinstance(layers[9], nn.Dropout) and layers[9].p == 0.5
    x = torch.randn(2, 4, 6, 6)
    y = x
    for layer in layers:
        y = layer(y)
    torch.testing.assert_close(block(x), torch.relu(y + x))


def test_errors_name_the_keys():
    with pytest.raises(ConfigError, match="dec_upsample_channels"):
        ERFNet(**{**ZOO_ERFNET, "dec_upsample_channels": (16,)})
    with pytest.raises(ConfigError, match="multiple of the 4 enc_non_bottleneck_dilations"):
        ERFNet(**{**ZOO_ERFNET, "enc_stage_non_bottlenecks": (2, 3)})
    with pytest.raises(ConfigError, match="out_channels > in_channels"):
        DownsamplerBlock(8, 8)
    with pytest.raises(RegistryError, match="dropout_ratio"):
        build_backbone(dict(type="ERFNet", dropout_rate=0.1))
