import pytest
import torch
import torch.nn.functional as F

from seglab.errors import ConfigError, RegistryError
from seglab.models import build_head
from seglab.models.decode_heads import SETRMLAHead, SETRUPHead

BN = dict(type="BN", requires_grad=True)


def _layer_norm_over_channels(head, x):
    n, c, h, w = x.shape
    return head.norm(x.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(n, c, h, w)


def test_up_head_pup_shapes_and_keys():
    head = SETRUPHead(in_channels=32, channels=16, num_classes=5, num_convs=4, up_scale=2,
                      kernel_size=3, norm_cfg=BN, in_index=3, dropout_ratio=0).eval()
    feats = [torch.randn(2, 32, 4, 4) for _ in range(4)]
    assert head(feats).shape == (2, 5, 64, 64)  # 4 stages of x2
    keys = set(head.state_dict())
    assert {"norm.weight", "norm.bias", "up_convs.0.0.conv.weight", "up_convs.3.0.bn.running_var",
            "conv_seg.weight"} <= keys
    assert "up_convs.0.0.conv.bias" not in keys  # bias 'auto': a norm follows
    assert head.up_convs[0][0].conv.kernel_size == (3, 3) and head.norm.eps == 1e-6


def test_up_head_matches_the_computation_by_hand():
    torch.manual_seed(0)
    head = SETRUPHead(in_channels=8, channels=4, num_classes=3, num_convs=1, up_scale=4,
                      kernel_size=1, dropout_ratio=0, in_index=0).eval()
    x = torch.randn(2, 8, 3, 5)
    y = head.up_convs[0][0](_layer_norm_over_channels(head, x))
    y = F.interpolate(y, size=(12, 20), mode="bilinear", align_corners=False)
    torch.testing.assert_close(head([x]), head.conv_seg(y))


def test_up_head_default_init_and_errors():
    head = SETRUPHead(in_channels=8, channels=4, num_classes=3)
    with torch.no_grad():
        head.norm.weight.fill_(3.0)
    head.init_weights()
    assert torch.equal(head.norm.weight, torch.ones(8))
    assert 0 < head.conv_seg.weight.std() < 0.05
    with pytest.raises(ConfigError, match="kernel_size must be 1 or 3"):
        SETRUPHead(in_channels=8, channels=4, num_classes=3, kernel_size=5)
    with pytest.raises(ConfigError, match="must be an int"):
        SETRUPHead(in_channels=[8, 8], channels=4, num_classes=3, in_index=[0, 1],
                   input_transform="multiple_select")
    with pytest.raises(RegistryError, match="num_conv"):
        build_head(dict(type="SETRUPHead", in_channels=8, channels=4, num_classes=3, num_conv=2))


def test_mla_head_concatenates_upsampled_branches():
    torch.manual_seed(0)
    head = SETRMLAHead(in_channels=(16, 16, 16, 16), channels=32, mla_channels=8,
                       in_index=(0, 1, 2, 3), num_classes=5, norm_cfg=BN,
                       dropout_ratio=0).eval()
    feats = [torch.randn(2, 16, 4, 4) for _ in range(4)]
    out = head(feats)
    assert out.shape == (2, 5, 16, 16) and head.input_transform == "multiple_select"
    branches = [F.interpolate(up[1](up[0](x)), size=(16, 16), mode="bilinear",
                              align_corners=False) for up, x in zip(head.up_convs, feats)]
    torch.testing.assert_close(out, head.conv_seg(torch.cat(branches, dim=1)))
    assert "up_convs.3.1.bn.running_mean" in head.state_dict()


def test_mla_head_channels_must_be_the_concatenation():
    with pytest.raises(ConfigError, match=r"4 \* 8 = 32"):
        SETRMLAHead(in_channels=(16, 16, 16, 16), channels=16, mla_channels=8,
                    in_index=(0, 1, 2, 3), num_classes=5)
    with pytest.raises(RegistryError):
        build_head(dict(type="SETRMLAHead", in_channels=[16], in_index=[0], channels=8,
                        mla_channels=8, num_classes=3, input_transform="resize_concat"))
