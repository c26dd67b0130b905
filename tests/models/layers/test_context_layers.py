"""The context-head layers against naive loops and hand-worked values: PSAMask (MMCV's compiled
kernel written out as loops), CrissCrossAttention (per-pixel loops), ContextBlock, Encoding."""
import pytest
import torch
import torch.nn.functional as F

from seglab.errors import ConfigError
from seglab.models.layers import ContextBlock, CrissCrossAttention, Encoding, PSAMask, Scale
from seglab.models.layers.psa_mask import psa_mask_index


def _psamask_loops(x, psa_type, mask_h, mask_w):
    """MMCV's CPU kernel (psamask_{collect,distribute}_forward), loop for loop."""
    n, _, h, w = x.shape
    half_h, half_w = (mask_h - 1) // 2, (mask_w - 1) // 2
    out = torch.zeros(n, h * w, h, w, dtype=x.dtype)
    flat = out.view(n, h * w, h * w)
    for b in range(n):
        for i in range(h):
            for j in range(w):
                for hidx in range(max(0, half_h - i), min(mask_h, h + half_h - i)):
                    for widx in range(max(0, half_w - j), min(mask_w, w + half_w - j)):
                        t = (hidx + i - half_h) * w + (widx + j - half_w)
                        value = x[b, hidx * mask_w + widx, i, j]
                        if psa_type == "collect":
                            flat[b, t, i * w + j] = value
                        else:
                            flat[b, i * w + j, t] = value
    return out


@pytest.mark.parametrize("psa_type", ["collect", "distribute"])
@pytest.mark.parametrize("hw,mask", [((5, 7), (3, 3)),  # map larger than the mask, non-square
                                     ((3, 6), (5, 11)),  # mask larger than the map
                                     ((4, 5), (4, 2)),  # even mask sides: centre (1, 0)
                                     ((6, 3), (11, 5))])  # full coverage, tall map
def test_psamask_equals_the_mmcv_kernel_loops(psa_type, hw, mask):
    torch.manual_seed(0)
    x = torch.randn(2, mask[0] * mask[1], *hw, dtype=torch.float64)
    ours = PSAMask(psa_type, mask)(x)
    assert ours.shape == (2, hw[0] * hw[1], *hw)
    torch.testing.assert_close(ours, _psamask_loops(x, psa_type, *mask), rtol=0, atol=0)


def test_psamask_index_by_hand_and_gradient():
    # 1x3 map, 1x3 mask (centre offset 1): pixel p predicts for t = p - 1, p, p + 1 with mask
    # channels 0, 1, 2; index[t, p] = t - p + 1, or 3 (zero) when |t - p| > 1.
    assert psa_mask_index(1, 3, 1, 3).tolist() == [[1, 0, 3], [2, 1, 0], [3, 2, 1]]
    x = torch.randn(1, 3, 1, 3, requires_grad=True)
    out = PSAMask("collect", (1, 3))(x)
    assert out[0, :, 0, 0].tolist() == [x[0, 1, 0, 0].item(), x[0, 2, 0, 0].item(), 0.0]
    out.sum().backward()
    # Every mask entry that lands inside the map is used once; the others get no gradient.
    assert x.grad[0, :, 0].tolist() == [[0.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 0.0]]


def test_psamask_errors():
    with pytest.raises(ConfigError, match="psa_type='both'"):
        PSAMask("both", (3, 3))
    with pytest.raises(ValueError, match="needs 9 input channels, got 8"):
        PSAMask("collect", (3, 3))(torch.randn(1, 8, 4, 4))


def _criss_cross_loops(module, x):
    """Per pixel: softmax over its column (itself excluded) and its row (itself included)."""
    q, k, v = module.query_conv(x), module.key_conv(x), module.value_conv(x)
    n, c, h, w = x.shape
    out = torch.zeros_like(x)
    for b in range(n):
        for i in range(h):
            for j in range(w):
                others = [(r, j) for r in range(h) if r != i] + [(i, s) for s in range(w)]
                energy = torch.stack([q[b, :, i, j] @ k[b, :, r, s] for r, s in others])
                attn = torch.softmax(energy, dim=0)
                out[b, :, i, j] = sum(a * v[b, :, r, s] for a, (r, s) in zip(attn, others))
    return module.gamma.scale * out + x


@pytest.mark.parametrize("hw", [(3, 5), (6, 2)])
def test_criss_cross_attention_equals_the_naive_loops(hw):
    torch.manual_seed(1)
    cca = CrissCrossAttention(16).double()
    with torch.no_grad():
        cca.gamma.scale.fill_(0.7)
    x = torch.randn(2, 16, *hw, dtype=torch.float64)
    torch.testing.assert_close(cca(x), _criss_cross_loops(cca, x), rtol=1e-10, atol=1e-10)
    assert [k for k in cca.state_dict()] == [
        "query_conv.weight", "query_conv.bias", "key_conv.weight", "key_conv.bias",
        "value_conv.weight", "value_conv.bias", "gamma.scale"]
    assert cca.query_conv.out_channels == 2 and cca.gamma.scale.item() == 0.7


def test_criss_cross_attention_starts_as_identity():
    x = torch.randn(1, 8, 4, 3)
    torch.testing.assert_close(CrissCrossAttention(8)(x), x)


def test_scale():
    scale = Scale(2.5)
    assert scale.scale.dim() == 0 and list(scale.state_dict()) == ["scale"]
    assert scale(torch.ones(2)).tolist() == [2.5, 2.5]


def test_context_block_by_hand():
    torch.manual_seed(2)
    block = ContextBlock(8, ratio=0.5, pooling_type="att",
                         fusion_types=("channel_add", "channel_mul"))
    assert block.planes == 4 and block.channel_add_conv[1].normalized_shape == (4, 1, 1)
    # MMCV init: the last conv of each transform is zero, so add = 0 and mul = sigmoid(0).
    x = torch.randn(2, 8, 3, 5)
    torch.testing.assert_close(block(x), x * 0.5)
    for transform in (block.channel_add_conv, block.channel_mul_conv):
        torch.nn.init.normal_(transform[3].weight)
    weights = torch.softmax(block.conv_mask(x).flatten(2), dim=2)  # (N, 1, HW)
    context = (x.flatten(2) * weights).sum(dim=2)[:, :, None, None]
    expected = x * torch.sigmoid(block.channel_mul_conv(context)) + block.channel_add_conv(context)
    torch.testing.assert_close(block(x), expected)
    avg = ContextBlock(8, ratio=0.25, pooling_type="avg", fusion_types=["channel_mul"])
    assert not hasattr(avg, "conv_mask") and avg.channel_add_conv is None
    torch.testing.assert_close(avg.spatial_pool(x), x.mean(dim=(2, 3), keepdim=True))


@pytest.mark.parametrize("kwargs,match", [
    (dict(pooling_type="max"), "pooling_type='max'"),
    (dict(fusion_types=()), "non-empty"),
    (dict(fusion_types="channel_add"), "list or tuple"),
    (dict(fusion_types=("channel_sum",)), "channel_sum"),
    (dict(ratio=0.01), "bottleneck channels")])
def test_context_block_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ContextBlock(8, **{"ratio": 0.25, **kwargs})


def test_encoding_by_hand():
    torch.manual_seed(3)
    enc = Encoding(channels=3, num_codes=2)
    assert enc.codewords.shape == (2, 3) and enc.scale.shape == (2,)
    assert enc.scale.min() >= -1 and enc.scale.max() <= 0
    x = torch.randn(2, 3, 2, 4)
    out = enc(x)
    assert out.shape == (2, 2, 3)
    for b in range(2):
        for k in range(2):
            expected = torch.zeros(3)
            for i in range(2):
                for j in range(4):
                    xi = x[b, :, i, j]
                    logits = enc.scale * ((xi - enc.codewords) ** 2).sum(dim=1)
                    expected += F.softmax(logits, dim=0)[k] * (xi - enc.codewords[k])
            torch.testing.assert_close(out[b, k], expected)
    with pytest.raises(ValueError, match=r"Encoding expects \(N, 3, H, W\)"):
        enc(torch.randn(2, 4, 2, 2))
