"""LRASPPHead and DepthwiseSeparableFCNHead: MMSeg's keys, the computation by hand, errors."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seglab.errors import ConfigError, RegistryError
from seglab.models import build_head
from seglab.models.decode_heads import DepthwiseSeparableFCNHead, LRASPPHead
from seglab.models.layers import DepthwiseSeparableConvModule

BN = dict(type="BN", requires_grad=True)


def _lraspp(**kwargs):
    args = dict(in_channels=(4, 6, 10), in_index=(0, 1, 2), channels=8, num_classes=3,
                input_transform="multiple_select", branch_channels=(3, 5), norm_cfg=BN,
                image_pool_kernel=4, image_pool_stride=(2, 3))
    return LRASPPHead(**{**args, **kwargs})


def _randomized(head: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for m in head.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 1.5)
            nn.init.normal_(m.bias, 0, 0.1)
    return head.eval()


def _bn_relu(x, module):
    bn = module.bn
    return F.relu(F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0,
                               bn.eps))


def test_keys_equal_mmseg():
    head = LRASPPHead(in_channels=(16, 16, 576), in_index=(0, 1, 2), channels=16, num_classes=5,
                      input_transform="multiple_select", norm_cfg=BN)
    keys = {k for k in head.state_dict() if not k.endswith(("running_mean", "running_var",
                                                             "num_batches_tracked"))}
    assert keys == {
        "conv_seg.weight", "conv_seg.bias", "convs.conv0.weight", "convs.conv1.weight",
        "conv_ups.conv_up0.conv.weight", "conv_ups.conv_up0.bn.weight",
        "conv_ups.conv_up0.bn.bias", "conv_ups.conv_up1.conv.weight",
        "conv_ups.conv_up1.bn.weight", "conv_ups.conv_up1.bn.bias", "conv_up_input.weight",
        "conv_up_input.bias", "aspp_conv.conv.weight", "aspp_conv.bn.weight", "aspp_conv.bn.bias",
        "image_pool.1.conv.weight"}
    assert tuple(head.convs.conv1.weight.shape) == (64, 16, 1, 1)  # branch_channels (32, 64)
    pool = head.image_pool[0]
    assert (pool.kernel_size, pool.stride) == (49, (16, 20))  # MMSeg's fixed pooling


def test_forward_by_hand():
    head = _randomized(_lraspp())
    feats = [torch.randn(2, 4, 16, 15), torch.randn(2, 6, 8, 8), torch.randn(2, 10, 7, 9)]
    x = feats[2]
    gate = torch.sigmoid(F.conv2d(F.avg_pool2d(x, 4, (2, 3)), head.image_pool[1].conv.weight))
    assert gate.shape[-2:] == (2, 2)  # a real 2x2 map: the align_corners=True resize matters
    gate = F.interpolate(gate, size=(7, 9), mode="bilinear", align_corners=True)
    y = _bn_relu(F.conv2d(x, head.aspp_conv.conv.weight), head.aspp_conv) * gate
    y = F.conv2d(y, head.conv_up_input.weight, head.conv_up_input.bias)
    for i in (1, 0):
        y = F.interpolate(y, size=feats[i].shape[2:], mode="bilinear", align_corners=False)
        y = torch.cat([y, F.conv2d(feats[i], head.convs[i].weight)], dim=1)
        y = _bn_relu(F.conv2d(y, head.conv_ups[i].conv.weight), head.conv_ups[i])
    expected = F.conv2d(y, head.conv_seg.weight, head.conv_seg.bias)
    with torch.no_grad():
        torch.testing.assert_close(head(feats), expected)


def test_errors():
    with pytest.raises(ConfigError, match="input_transform='multiple_select'"):
        LRASPPHead(in_channels=(4, 6, 10), in_index=(0, 1, 2), channels=8, num_classes=3,
                   input_transform="resize_concat")
    with pytest.raises(ConfigError, match="branch_channels must be 2 ints"):
        _lraspp(branch_channels=(3,))
    head = LRASPPHead(in_channels=(4, 6, 10), in_index=(0, 1, 2), channels=8, num_classes=3,
                      input_transform="multiple_select", branch_channels=(3, 5))
    feats = [torch.randn(1, 4, 16, 16), torch.randn(1, 6, 8, 8), torch.randn(1, 10, 8, 8)]
    with pytest.raises(ValueError, match=r"49x49 window.*8x8.*392 px.*image_pool_kernel"):
        head(feats)
    with pytest.raises(RegistryError, match="branch_channels"):
        build_head(dict(type="LRASPPHead", in_channels=(4, 6, 10), in_index=(0, 1, 2),
                        channels=8, num_classes=3, input_transform="multiple_select",
                        branch_channel=(3, 5)))


def test_depthwise_separable_fcn_head_layout_and_forward():
    head = _randomized(DepthwiseSeparableFCNHead(in_channels=16, channels=8, num_classes=3,
                                                 num_convs=2, concat_input=True, norm_cfg=BN))
    assert all(isinstance(m, DepthwiseSeparableConvModule) for m in head.convs)
    assert isinstance(head.conv_cat, DepthwiseSeparableConvModule)
    keys = set(head.state_dict())
    assert {"convs.0.depthwise_conv.conv.weight", "convs.0.pointwise_conv.bn.weight",
            "convs.1.depthwise_conv.bn.running_var", "conv_cat.pointwise_conv.conv.weight"} <= keys
    # MMSeg: no activation after the depthwise conv by default, ReLU after the pointwise one.
    assert not head.convs[0].depthwise_conv.with_activation
    assert isinstance(head.convs[0].pointwise_conv.activate, nn.ReLU)
    x = torch.randn(2, 16, 6, 7)

    def sep(t, m):
        dw, pw = m.depthwise_conv, m.pointwise_conv
        t = F.conv2d(t, dw.conv.weight, padding=1, groups=t.shape[1])
        t = F.batch_norm(t, dw.bn.running_mean, dw.bn.running_var, dw.bn.weight, dw.bn.bias,
                         False, 0.0, dw.bn.eps)
        return _bn_relu(F.conv2d(t, pw.conv.weight), pw)

    feats = sep(sep(x, head.convs[0]), head.convs[1])
    fused = sep(torch.cat([x, feats], 1), head.conv_cat)
    with torch.no_grad():
        torch.testing.assert_close(head([x]), F.conv2d(fused, head.conv_seg.weight,
                                                       head.conv_seg.bias))


def test_depthwise_separable_fcn_head_dw_act_cfg():
    head = DepthwiseSeparableFCNHead(in_channels=16, channels=8, num_classes=3, num_convs=1,
                                     concat_input=False, dw_act_cfg=dict(type="ReLU"))
    assert isinstance(head.convs[0].depthwise_conv.activate, nn.ReLU)
    assert not hasattr(head, "conv_cat")
