"""FPNHead: MMSeg's scale_heads keys, the per-level conv/upsample stacks, odd input sizes."""
import pytest
import torch
import torch.nn.functional as F

from seglab.errors import ConfigError
from seglab.models.decode_heads import FPNHead
from seglab.models.layers import Upsample
from shared_data import SHARED

BN = dict(type="BN", requires_grad=True)
ZOO = f"{SHARED}/data/mmseg-zoo"


def _head(**kwargs) -> FPNHead:
    return FPNHead(**{**dict(in_channels=[16, 16, 16, 16], in_index=[0, 1, 2, 3],
                             feature_strides=[4, 8, 16, 32], channels=8, num_classes=5,
                             norm_cfg=BN), **kwargs})


def test_state_dict_like_mmseg():
    shapes = {k: tuple(v.shape) for k, v in _head().state_dict().items()}
    try:
        mmseg = torch.load(f"{ZOO}/twins_pcpvt.state_dict.pth", map_location="cpu",
                           weights_only=True)
    except FileNotFoundError:
        mmseg = None
    if mmseg is not None:  # MMSeg's own FPNHead keys for the same arguments
        assert shapes == {k[len("decode_head."):]: tuple(v.shape) for k, v in mmseg.items()
                          if k.startswith("decode_head.")}
    assert shapes["scale_heads.3.4.conv.weight"] == (8, 8, 3, 3)
    assert shapes["scale_heads.0.0.conv.weight"] == (8, 16, 3, 3)
    assert "scale_heads.0.1.conv.weight" not in shapes


def test_scale_heads_layout():
    head = _head()
    assert [len(h) for h in head.scale_heads] == [1, 2, 4, 6]
    assert isinstance(head.scale_heads[2][1], Upsample) and head.input_transform == (
        "multiple_select")


def test_forward_sums_levels_at_the_finest_one():
    head = _head().eval()
    feats = [torch.randn(2, 16, s, s) for s in (16, 8, 4, 2)]
    out = head._forward_feature(feats)
    ref = head.scale_heads[0](feats[0])
    for i in range(1, 4):
        ref = ref + F.interpolate(head.scale_heads[i](feats[i]), size=(16, 16), mode="bilinear")
    torch.testing.assert_close(out, ref)
    assert head(feats).shape == (2, 5, 16, 16)


@pytest.mark.parametrize("sizes", [(17, 9, 5, 3), (16, 8, 4, 2), (13, 7, 4, 2)])
def test_odd_sizes_and_backward(sizes):
    head = _head().train()
    feats = [torch.randn(2, 16, s, s + 1) for s in sizes]
    logits = head(feats)
    assert logits.shape == (2, 5, sizes[0], sizes[0] + 1)
    logits.sum().backward()
    assert all(p.grad is not None for p in head.parameters())


def test_checks():
    with pytest.raises(ConfigError, match="feature_strides"):
        _head(feature_strides=[4, 8, 16])
    with pytest.raises(ConfigError, match="smallest"):
        _head(feature_strides=[8, 4, 16, 32])
