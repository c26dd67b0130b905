import pytest
import torch
from torch import nn

from seglab.errors import CheckpointError, ConfigError, RegistryError
from seglab.models import build_backbone
from seglab.models.backbones import ICNet
from seglab.models.decode_heads import PPM
from zoo_parts import assert_matches_fixture

BN = dict(type="BN", requires_grad=True)
R18_D8 = dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=4, dilations=(1, 1, 2, 4),
              strides=(1, 2, 1, 1), contract_dilation=True, norm_cfg=BN)
# The icnet fixture's backbone (shared/data/mmseg-zoo/icnet.py.txt).
ZOO_ICNET = dict(backbone_cfg=R18_D8, layer_channels=(8, 32), light_branch_middle_channels=8,
                 psp_out_channels=16, out_channels=(8, 16, 16), norm_cfg=BN)


def test_mmseg_keys_and_outputs_of_the_fixture():
    assert_matches_fixture(ICNet(**ZOO_ICNET), "icnet")


def test_branches_by_hand():
    """sub2 = ResNet stem / ceil-mode pool / layer1-2 on the half image; sub4 = layer3-4 on the
    half sub2 map, then PPM branches *before* the map (MMSeg's order) into psp_bottleneck."""
    model = ICNet(**ZOO_ICNET).eval()
    res = model.backbone
    assert res.maxpool.ceil_mode and isinstance(model.psp_modules, PPM)
    x = torch.randn(1, 3, 64, 64)
    half = nn.functional.interpolate(x, scale_factor=0.5, mode="bilinear")
    c2 = res.layer2(res.layer1(res.maxpool(res.stem(half))))
    c4 = res.layer4(res.layer3(nn.functional.interpolate(c2, scale_factor=0.5, mode="bilinear")))
    psp = model.psp_bottleneck(torch.cat([*model.psp_modules(c4), c4], dim=1))
    sub1, sub2, sub4 = model(x)
    torch.testing.assert_close(sub1, model.conv_sub1(x))
    torch.testing.assert_close(sub2, model.conv_sub2(c2))
    torch.testing.assert_close(sub4, model.conv_sub4(psp))
    assert sub2.shape[-2:] == (5, 5)  # 32 -> stem 16 -> ceil-mode pool 9 -> layer2 5


@pytest.mark.parametrize("hw, sides", [((64, 64), [(8, 8), (5, 5), (2, 2)]),
                                       ((70, 50), [(9, 7), (5, 4), (2, 2)])])
def test_output_sizes_and_declaration(hw, sides):
    model = ICNet(**ZOO_ICNET).eval()  # batch 1: BN statistics of the 1x1 pool need eval
    outs = model(torch.randn(1, 3, *hw))
    assert [tuple(o.shape[-2:]) for o in outs] == sides
    assert model.output_shapes() == ((8, 8), (16, 16), (16, 32))


def test_v1b_resnet_works_and_other_backbones_are_refused():
    model = ICNet(**{**ZOO_ICNET, "backbone_cfg": dict(type="ResNet", depth=18, base_channels=4,
                                                         norm_cfg=BN)}).eval()
    assert [o.shape[1] for o in model(torch.randn(1, 3, 32, 32))] == [8, 16, 16]
    with pytest.raises(ConfigError, match="layer_channels=\\(16, 32\\).*\\(8, 32\\)"):
        ICNet(**{**ZOO_ICNET, "layer_channels": (16, 32)})
    with pytest.raises(ConfigError, match="4-stage ResNet"):
        ICNet(**{**ZOO_ICNET, "backbone_cfg": dict(type="CGNet")})
    with pytest.raises(ConfigError, match="needs backbone_cfg"):
        ICNet(backbone_cfg=None)
    with pytest.raises(RegistryError, match="backbone_cfg"):
        build_backbone(dict(type="ICNet", backbone_cgf=R18_D8))


def test_init_applies_icnet_s_then_the_resnet_s_own_init():
    model = ICNet(**ZOO_ICNET)
    model.init_weights()
    assert torch.all(model.psp_bottleneck.bn.weight == 1)
    assert torch.all(model.backbone.layer1[0].bn2.weight == 0)  # ResNet zero_init_residual


def test_unavailable_imagenet_weights_explain_what_to_do():
    pytest.importorskip("seglab.engine.checkpoint")
    cfg = dict(R18_D8, init_cfg=dict(type="Pretrained",
                                     checkpoint="open-mmlab://resnet18_v1c_not_cached_anywhere"))
    model = ICNet(**{**ZOO_ICNET, "backbone_cfg": cfg})
    with pytest.raises(CheckpointError, match="pretrained=None"):
        model.init_weights()
