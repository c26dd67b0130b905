import pytest
import torch
from torch import nn

from seglab.models.layers import nchw2nlc2nchw, nchw_to_nlc, nlc2nchw2nlc, nlc_to_nchw


def test_round_trip_and_row_major_token_order():
    x = torch.randn(2, 3, 4, 5)
    tokens = nchw_to_nlc(x)
    assert tokens.shape == (2, 20, 3) and tokens.is_contiguous()
    # token l is pixel (l // W, l % W)
    torch.testing.assert_close(tokens[:, 7], x[:, :, 1, 2], rtol=0, atol=0)
    torch.testing.assert_close(nlc_to_nchw(tokens, (4, 5)), x, rtol=0, atol=0)
    assert torch.equal(nchw_to_nlc(nlc_to_nchw(tokens, [4, 5])), tokens)


def test_module_wrappers():
    x = torch.randn(2, 6, 3, 4)
    norm = nn.LayerNorm(6)
    expected = norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    torch.testing.assert_close(nchw2nlc2nchw(norm, x), expected)
    conv = nn.Conv2d(6, 8, 3, stride=2, padding=1)
    tokens = nchw_to_nlc(x)
    torch.testing.assert_close(nlc2nchw2nlc(conv, tokens, (3, 4)), nchw_to_nlc(conv(x)))


def test_bad_shapes_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"sequence length 20 .* H \* W = 4 \* 4 = 16"):
        nlc_to_nchw(torch.randn(1, 20, 3), (4, 4))
    with pytest.raises(ValueError, match=r"\(N, L, C\) token tensor, got shape \(20, 3\)"):
        nlc_to_nchw(torch.randn(20, 3), (4, 5))
    with pytest.raises(ValueError, match=r"hw_shape must be \(H, W\)"):
        nlc_to_nchw(torch.randn(1, 20, 3), (20,))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) feature map, got shape \(1, 20, 3\)"):
        nchw_to_nlc(torch.randn(1, 20, 3))
