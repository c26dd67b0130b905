"""Each decode head: MMSeg module names, output shapes and forward/backward on tiny inputs."""
import pytest
import torch

from seglab.models import (ASPPHead, DepthwiseSeparableASPPHead, FCNHead, PSPHead, UPerHead,
                           build_head)
from seglab.models.layers import DepthwiseSeparableConvModule

BN = dict(type="BN", requires_grad=True)


def _feats(n=2, d8=True):
    sizes = [16, 8, 8, 8] if d8 else [16, 8, 4, 2]
    return [torch.randn(n, c, s, s) for c, s in zip([8, 16, 32, 64], sizes)]


def _check_train(head, feats, out_hw):
    head.train()
    logits = head(feats)
    assert logits.shape == (feats[0].shape[0], head.out_channels, *out_hw)
    label = torch.randint(0, head.num_classes, (feats[0].shape[0], 1, 32, 32))
    losses = head.forward_train(feats, [{}] * 2, label, None)
    losses["loss_ce"].backward()
    assert all(p.grad is not None for p in head.parameters() if p.requires_grad)


def test_fcn_head_structure():
    head = FCNHead(in_channels=64, in_index=3, channels=16, num_convs=2, num_classes=5,
                   norm_cfg=BN, dilation=2)
    assert [c.conv.dilation for c in head.convs] == [(2, 2), (2, 2)]
    assert head.convs[0].conv.padding == (2, 2) and head.conv_cat.conv.in_channels == 80
    _check_train(head, _feats(), (8, 8))
    no_conv = FCNHead(in_channels=16, channels=16, num_convs=0, concat_input=False, num_classes=5,
                      in_index=1)
    assert isinstance(no_conv.convs, torch.nn.Identity)
    assert list(no_conv.state_dict()) == ["conv_seg.weight", "conv_seg.bias"]


def test_psp_head_structure():
    head = PSPHead(in_channels=64, in_index=3, channels=16, num_classes=5, norm_cfg=BN,
                   pool_scales=(1, 2, 3, 6))
    assert [m[0].output_size for m in head.psp_modules] == [1, 2, 3, 6]
    assert tuple(head.state_dict()["psp_modules.2.1.conv.weight"].shape) == (16, 64, 1, 1)
    assert tuple(head.state_dict()["bottleneck.conv.weight"].shape) == (16, 64 + 4 * 16, 3, 3)
    _check_train(head, _feats(), (8, 8))


def test_aspp_head_structure():
    head = ASPPHead(in_channels=64, in_index=3, channels=16, num_classes=5, norm_cfg=BN,
                    dilations=(1, 12, 24, 36))
    assert head.aspp_modules[0].conv.kernel_size == (1, 1)
    assert [m.conv.dilation[0] for m in head.aspp_modules] == [1, 12, 24, 36]
    assert [m.conv.padding[0] for m in head.aspp_modules] == [0, 12, 24, 36]
    assert "image_pool.1.conv.weight" in head.state_dict()
    assert head.bottleneck.conv.in_channels == 5 * 16
    _check_train(head, _feats(), (8, 8))


def test_depthwise_separable_aspp_head_structure():
    head = DepthwiseSeparableASPPHead(in_channels=64, in_index=3, channels=16, c1_in_channels=8,
                                      c1_channels=6, num_classes=5, norm_cfg=BN,
                                      dilations=(1, 12, 24, 36))
    assert not isinstance(head.aspp_modules[0], DepthwiseSeparableConvModule)
    assert all(isinstance(m, DepthwiseSeparableConvModule) for m in list(head.aspp_modules)[1:])
    keys = list(head.state_dict())
    for key in ("aspp_modules.1.depthwise_conv.conv.weight", "c1_bottleneck.conv.weight",
                "sep_bottleneck.0.pointwise_conv.bn.weight", "sep_bottleneck.1.depthwise_conv.conv.weight"):
        assert key in keys
    order = [k.split(".")[0] for k in keys]
    assert list(dict.fromkeys(order)) == ["conv_seg", "image_pool", "aspp_modules", "bottleneck",
                                          "c1_bottleneck", "sep_bottleneck"]
    _check_train(head, _feats(), (16, 16))  # at the resolution of inputs[0]


def test_uper_head_structure():
    head = UPerHead(in_channels=[8, 16, 32, 64], in_index=[0, 1, 2, 3], channels=16,
                    num_classes=5, norm_cfg=BN)
    assert head.input_transform == "multiple_select"
    assert len(head.lateral_convs) == len(head.fpn_convs) == 3
    assert head.lateral_convs[0].activate.inplace is False
    assert head.fpn_bottleneck.conv.in_channels == 4 * 16
    _check_train(head, _feats(d8=False), (16, 16))


@pytest.mark.parametrize("head_type", ["FCNHead", "PSPHead", "ASPPHead", "UPerHead",
                                       "DepthwiseSeparableASPPHead"])
def test_typo_in_head_config_lists_accepted_keys(head_type):
    from seglab.errors import RegistryError

    with pytest.raises(RegistryError, match="num_clases.*did you mean 'num_classes'.*Accepted keys"):
        build_head(dict(type=head_type, in_channels=8, channels=8, num_clases=3))
