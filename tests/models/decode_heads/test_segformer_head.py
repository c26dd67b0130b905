"""SegformerHead: MMSeg module names, the fixed input_transform, the fusion and output shapes."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seglab.errors import ConfigError
from seglab.models import build_head
from seglab.models.decode_heads import SegformerHead

BN = dict(type="BN", requires_grad=True)
CHANNELS = (8, 16, 16, 32)


def _feats(n=2, hw=64):
    return [torch.randn(n, c, hw // 2 ** (i + 2), hw // 2 ** (i + 2))
            for i, c in enumerate(CHANNELS)]


def _head(**kwargs) -> SegformerHead:
    return SegformerHead(**{**dict(in_channels=list(CHANNELS), in_index=[0, 1, 2, 3],
                                   channels=16, num_classes=5, norm_cfg=BN), **kwargs})


def test_state_dict_like_mmseg():
    shapes = {k: tuple(v.shape) for k, v in _head().state_dict().items()}
    for i, c in enumerate(CHANNELS):
        assert shapes[f"convs.{i}.conv.weight"] == (16, c, 1, 1)
        assert shapes[f"convs.{i}.bn.running_var"] == (16,)
    assert "convs.0.conv.bias" not in shapes  # a norm follows: no conv bias
    assert shapes["fusion_conv.conv.weight"] == (16, 4 * 16, 1, 1)
    assert shapes["fusion_conv.bn.weight"] == (16,)
    assert shapes["conv_seg.weight"] == (5, 16, 1, 1)


def test_output_at_the_first_level_and_backward():
    head = _head().train()
    feats = _feats()
    logits = head(feats)
    assert logits.shape == (2, 5, 16, 16)
    label = torch.randint(0, 5, (2, 1, 64, 64))
    losses = head.forward_train(feats, [{}] * 2, label, None)
    assert set(losses) == {"loss_ce", "acc_seg"}
    losses["loss_ce"].backward()
    assert all(p.grad is not None for p in head.parameters())


def test_fusion_conv_keeps_relu_and_act_cfg_is_for_convs():
    head = _head(act_cfg=dict(type="GELU"))
    assert all(isinstance(c.activate, nn.GELU) for c in head.convs)
    assert isinstance(head.fusion_conv.activate, nn.ReLU)


def test_in_index_selects_levels_and_lengths_must_match():
    head = _head(in_channels=[16, 32], in_index=[1, 3]).eval()
    assert head(_feats()).shape == (2, 5, 8, 8)  # resized to the first selected level
    with pytest.raises(ConfigError):
        _head(in_channels=[8, 16, 16], in_index=[0, 1])
    with pytest.raises(IndexError):
        _head()(_feats()[:3])


def test_input_transform_is_fixed():
    assert _head().input_transform == "multiple_select"
    with pytest.raises(Exception, match="input_transform"):
        build_head(dict(type="SegformerHead", in_channels=list(CHANNELS), in_index=[0, 1, 2, 3],
                        channels=16, num_classes=5, input_transform="resize_concat"))


@pytest.mark.filterwarnings("ignore:When align_corners=True")
@pytest.mark.parametrize("mode,align", [("bilinear", False), ("bilinear", True),
                                        ("nearest", None)])
def test_fusion_is_resize_concat_then_fusion_conv(mode, align):
    feats = _feats()
    head = _head(interpolate_mode=mode, align_corners=align).eval()
    with torch.no_grad():
        ups = [F.interpolate(conv(x), size=(16, 16), mode=mode, align_corners=align)
               for conv, x in zip(head.convs, feats)]
        expected = head.conv_seg(head.fusion_conv(torch.cat(ups, dim=1)))
        torch.testing.assert_close(head(feats), expected)
