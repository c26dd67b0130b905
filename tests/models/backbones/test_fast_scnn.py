import pytest
import torch
from torch import nn

from seglab.errors import ConfigError
from seglab.models.backbones import FastSCNN, FeatureFusionModule
from seglab.models.layers import InvertedResidual
from zoo_parts import assert_matches_fixture

BN = dict(type="BN", requires_grad=True, momentum=0.01)
# The fastscnn fixture's backbone (shared/data/mmseg-zoo/fastscnn.py.txt).
ZOO_FASTSCNN = dict(downsample_dw_channels=(8, 12), global_in_channels=16,
                    global_block_channels=(16, 24, 32), global_out_channels=32,
                    higher_in_channels=16, lower_in_channels=32, fusion_out_channels=32,
                    norm_cfg=BN)


def test_mmseg_keys_and_outputs_of_the_fixture():
    assert_matches_fixture(FastSCNN(**ZOO_FASTSCNN), "fastscnn")


def test_modules_are_mmseg_s():
    model = FastSCNN(**ZOO_FASTSCNN)
    ltd, gfe = model.learning_to_downsample, model.global_feature_extractor
    assert not hasattr(ltd.dsconv1.depthwise_conv, "activate")  # dw_act_cfg=None: none
    blocks = [b for name in ("bottleneck1", "bottleneck2", "bottleneck3")
              for b in getattr(gfe, name)]
    assert len(blocks) == 9 and all(isinstance(b, InvertedResidual) for b in blocks)
    assert isinstance(blocks[0].conv[0].activate, nn.ReLU)  # act_cfg, not MobileNet's ReLU6
    assert [b.stride for b in blocks[::3]] == [2, 2, 1]
    assert gfe.out.conv.kernel_size == (3, 3) and gfe.out.conv.in_channels == 64
    assert model.feature_fusion.dwconv.conv.groups == 32
    assert not hasattr(model.feature_fusion.conv_lower_res, "activate")  # linear before sum


def test_feature_fusion_by_hand():
    ffm = FeatureFusionModule(8, 16, 16, norm_cfg=BN).eval()
    high, low = torch.randn(2, 8, 8, 8), torch.randn(2, 16, 2, 2)
    up = nn.functional.interpolate(low, size=(8, 8), mode="bilinear")
    expected = torch.relu(ffm.conv_higher_res(high) + ffm.conv_lower_res(ffm.dwconv(up)))
    torch.testing.assert_close(ffm(high, low), expected)


@pytest.mark.parametrize("out_indices", [(0, 1, 2), (2,), (1, 0)])
def test_out_indices_and_declaration(out_indices):
    model = FastSCNN(**ZOO_FASTSCNN, out_indices=out_indices).eval()
    outs = model(torch.randn(1, 3, 64, 96))
    full = [(16, 8, 12), (32, 2, 3), (32, 8, 12)]
    assert [tuple(o.shape[1:]) for o in outs] == [full[i] for i in out_indices]
    assert model.output_shapes() == tuple(((16, 8), (32, 32), (32, 8))[i] for i in out_indices)


def test_errors_name_the_keys():
    with pytest.raises(ConfigError, match="higher_in_channels"):
        FastSCNN(**{**ZOO_FASTSCNN, "higher_in_channels": 8})
    with pytest.raises(ConfigError, match="lower_in_channels"):
        FastSCNN(**{**ZOO_FASTSCNN, "lower_in_channels": 16})
    with pytest.raises(ConfigError, match="out_indices"):
        FastSCNN(**ZOO_FASTSCNN, out_indices=(3,))
    with pytest.raises(ConfigError, match="divisible by fusion_out_channels"):
        FastSCNN(**{**ZOO_FASTSCNN, "fusion_out_channels": 24})
