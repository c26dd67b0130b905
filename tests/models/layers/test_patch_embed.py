import pytest
import torch
import torch.nn.functional as F

from seglab.errors import ConfigError
from seglab.models.layers import AdaptivePadding, PatchEmbed, PatchMerging


def test_adaptive_padding_corner_and_same():
    corner = AdaptivePadding(kernel_size=16, stride=16, padding="corner")
    x = torch.ones(1, 1, 15, 17)
    out = corner(x)
    assert out.shape == (1, 1, 16, 32)
    assert out[..., :15, :17].eq(1).all() and out.sum() == 15 * 17  # all padding bottom/right
    assert corner(torch.ones(1, 1, 16, 32)).shape == (1, 1, 16, 32)  # already covered
    same = AdaptivePadding(kernel_size=3, stride=2, padding="same")
    # H 6: ceil(6/2) = 3 windows span (3-1)*2 + 3 = 7, pad 1, the odd pixel at the bottom;
    # W 7: 4 windows span 9, pad 2, one each side.
    assert same.get_pad_shape((6, 7)) == (1, 2)
    out = same(torch.ones(1, 1, 6, 7))[0, 0]
    assert out.shape == (7, 9) and out[6].eq(0).all() and out[0, 1:8].eq(1).all()
    assert out[:, 0].eq(0).all() and out[:, 8].eq(0).all()
    dilated = AdaptivePadding(kernel_size=3, stride=1, dilation=2, padding="same")
    assert dilated.get_pad_shape((5, 5)) == (4, 4)
    assert dilated(torch.ones(1, 1, 5, 5))[0, 0, 2, 2:7].eq(1).all()  # 2 each side
    with pytest.raises(ConfigError, match="'corner', 'same'"):
        AdaptivePadding(padding="valid")


def test_patch_embed_corner_on_odd_size_matches_conv_of_padded_input():
    torch.manual_seed(0)
    embed = PatchEmbed(in_channels=3, embed_dims=8, kernel_size=4, padding="corner",
                       norm_cfg=dict(type="LN", eps=1e-6), input_size=(15, 17))
    assert embed.init_input_size == (15, 17) and embed.init_out_size == (4, 5)
    assert embed.projection.stride == (4, 4) and embed.projection.padding == (0, 0)
    x = torch.randn(2, 3, 15, 17)
    tokens, out_size = embed(x)
    assert out_size == (4, 5) and tokens.shape == (2, 20, 8)
    conv = F.conv2d(F.pad(x, [0, 3, 0, 1]), embed.projection.weight, embed.projection.bias,
                    stride=4)
    expected = F.layer_norm(conv.flatten(2).transpose(1, 2), (8,), embed.norm.weight,
                            embed.norm.bias, eps=1e-6)
    torch.testing.assert_close(tokens, expected)
    assert list(embed.state_dict()) == [
        "projection.weight", "projection.bias", "norm.weight", "norm.bias"]
    assert embed.adaptive_padding is embed.adap_padding


def test_patch_embed_fixed_padding_overlapping_and_no_norm():
    # SegFormer's first stage: kernel 7, stride 4, padding 3.
    embed = PatchEmbed(3, 16, kernel_size=7, stride=4, padding=3, input_size=30)
    assert embed.adap_padding is None and embed.norm is None
    assert embed.init_out_size == ((30 + 6 - 7) // 4 + 1,) * 2 == (8, 8)
    tokens, out_size = embed(torch.randn(1, 3, 30, 31))
    assert out_size == (8, 8) and tokens.shape == (1, 64, 16)
    assert list(embed.state_dict()) == ["projection.weight", "projection.bias"]
    same = PatchEmbed(3, 4, kernel_size=3, stride=2, padding="same", bias=False,
                      input_size=(9, 10))
    assert same.init_out_size == (5, 5)  # ceil(9 / 2), ceil(10 / 2)
    assert same(torch.randn(1, 3, 9, 10))[1] == (5, 5)
    assert list(same.state_dict()) == ["projection.weight"]


def test_patch_embed_errors():
    embed = PatchEmbed(3, 8, kernel_size=4)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\) input, got shape \(1, 4, 8, 8\)"):
        embed(torch.randn(1, 4, 8, 8))
    with pytest.raises(ConfigError, match="PatchEmbed: padding must be"):
        PatchEmbed(3, 8, padding="valid")


def _hand_merge(x_nchw, k):
    """Unfold order: merged[c * k * k + ki * k + kj] = x[c, k * oi + ki, k * oj + kj]."""
    n, c, h, w = x_nchw.shape
    oh, ow = h // k, w // k
    out = torch.empty(n, oh * ow, c * k * k)
    for oi in range(oh):
        for oj in range(ow):
            for ch in range(c):
                for ki in range(k):
                    for kj in range(k):
                        out[:, oi * ow + oj, ch * k * k + ki * k + kj] = \
                            x_nchw[:, ch, k * oi + ki, k * oj + kj]
    return out


def test_patch_merging_equals_hand_computed_2x2_merge():
    merge = PatchMerging(in_channels=2, out_channels=8, norm_cfg=None)
    with torch.no_grad():
        merge.reduction.weight.copy_(torch.eye(8))
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)
    tokens = x.flatten(2).transpose(1, 2)
    out, out_size = merge(tokens, (4, 4))
    assert out_size == (2, 2) and out.shape == (1, 4, 8)
    torch.testing.assert_close(out, _hand_merge(x, 2), rtol=0, atol=0)
    # top-left output token: channel 0's 2x2 block, then channel 1's
    assert out[0, 0].tolist() == [0, 1, 4, 5, 16, 17, 20, 21]


def test_patch_merging_odd_size_pads_corner_and_norm_keys():
    torch.manual_seed(0)
    merge = PatchMerging(in_channels=3, out_channels=6)
    assert list(merge.state_dict()) == ["norm.weight", "norm.bias", "reduction.weight"]
    assert merge.norm.normalized_shape == (12,) and merge.reduction.weight.shape == (6, 12)
    x = torch.randn(2, 3, 5, 5)
    out, out_size = merge(x.flatten(2).transpose(1, 2), (5, 5))
    assert out_size == (3, 3) and out.shape == (2, 9, 6)
    merged = _hand_merge(F.pad(x, [0, 1, 0, 1]), 2)
    torch.testing.assert_close(out, merge.reduction(merge.norm(merged)))


def test_patch_merging_errors():
    merge = PatchMerging(4, 8)
    with pytest.raises(ValueError, match=r"\(N, H \* W, 4\) tokens with \(H, W\) = \(3, 3\)"):
        merge(torch.randn(1, 8, 4), (3, 3))
    with pytest.raises(ValueError, match="input_size must be"):
        merge(torch.randn(1, 9, 4), 3)
