import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seglab.errors import ConfigError
from seglab.models.layers import DropPath, MultiheadAttention

# mmcv.cnn.bricks.transformer.MultiheadAttention(8, 2).state_dict() keys
MMCV_MHA_KEYS = ["attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight",
                 "attn.out_proj.bias"]


def _manual(mha, q_in, k_in, v_in, key_padding_mask=None):
    """Scaled dot-product attention with the module's own weights; inputs (N, L, C)."""
    c, heads = mha.embed_dims, mha.num_heads
    w, b = mha.attn.in_proj_weight, mha.attn.in_proj_bias
    q = F.linear(q_in, w[:c], b[:c])
    k = F.linear(k_in, w[c:2 * c], b[c:2 * c])
    v = F.linear(v_in, w[2 * c:], b[2 * c:])

    def split(t):  # (N, L, C) -> (N, heads, L, C / heads)
        return t.reshape(t.shape[0], t.shape[1], heads, c // heads).transpose(1, 2)

    logits = split(q) @ split(k).transpose(-1, -2) / (c // heads) ** 0.5
    if key_padding_mask is not None:
        logits = logits.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
    out = (logits.softmax(-1) @ split(v)).transpose(1, 2).reshape(q.shape)
    return F.linear(out, mha.attn.out_proj.weight, mha.attn.out_proj.bias)


def _randomise(module):
    torch.manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.3)
    return module.eval()


def test_state_dict_keys_equal_mmcv_also_nested():
    mha = MultiheadAttention(8, 2)
    assert list(mha.state_dict()) == MMCV_MHA_KEYS
    assert mha.state_dict()["attn.in_proj_weight"].shape == (24, 8)
    layer = nn.Module()
    layer.attn = mha
    assert list(layer.state_dict()) == ["attn." + k for k in MMCV_MHA_KEYS]
    assert list(MultiheadAttention(8, 2, bias=False).state_dict()) == [
        "attn.in_proj_weight", "attn.out_proj.weight"]


def test_self_attention_batch_first_equals_manual_softmax():
    mha = _randomise(MultiheadAttention(8, 2, batch_first=True))
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(mha(x), x + _manual(mha, x, x, x), rtol=1e-5, atol=1e-5)


def test_sequence_first_cross_attention_positions_and_identity():
    mha = _randomise(MultiheadAttention(8, 2, batch_first=False))
    q, k, v = torch.randn(4, 2, 8), torch.randn(6, 2, 8), torch.randn(6, 2, 8)
    q_pos, k_pos, identity = torch.randn(4, 2, 8), torch.randn(6, 2, 8), torch.randn(4, 2, 8)
    out = mha(q, k, v, identity=identity, query_pos=q_pos, key_pos=k_pos)
    assert out.shape == (4, 2, 8)

    def nlc(t):
        return t.transpose(0, 1)

    # positions go into query and key, not value; identity replaces the residual
    expected = nlc(identity) + _manual(mha, nlc(q + q_pos), nlc(k + k_pos), nlc(v))
    torch.testing.assert_close(nlc(out), expected, rtol=1e-5, atol=1e-5)
    # value defaults to key (before key_pos), the residual to query (before query_pos)
    out = mha(q, k, key_pos=k_pos, query_pos=q_pos)
    expected = nlc(q) + _manual(mha, nlc(q + q_pos), nlc(k + k_pos), nlc(k))
    torch.testing.assert_close(nlc(out), expected, rtol=1e-5, atol=1e-5)


def test_query_pos_is_reused_for_keys_of_the_same_shape_else_warns():
    mha = _randomise(MultiheadAttention(8, 2, batch_first=True))
    x, pos = torch.randn(1, 5, 8), torch.randn(1, 5, 8)
    expected = x + _manual(mha, x + pos, x + pos, x)
    torch.testing.assert_close(mha(x, query_pos=pos), expected, rtol=1e-5, atol=1e-5)
    key = torch.randn(1, 3, 8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = mha(x, key, query_pos=pos)
    assert any("position encoding of key is missing" in str(w.message) for w in caught)
    torch.testing.assert_close(out, x + _manual(mha, x + pos, key, key), rtol=1e-5, atol=1e-5)


def test_key_padding_mask_hides_keys():
    mha = _randomise(MultiheadAttention(8, 2, batch_first=True))
    q, k = torch.randn(2, 3, 8), torch.randn(2, 4, 8)
    mask = torch.tensor([[False, False, True, True], [False, False, False, True]])
    out = mha(q, k, key_padding_mask=mask)
    torch.testing.assert_close(out, q + _manual(mha, q, k, k, mask), rtol=1e-5, atol=1e-5)
    k2 = k.clone()
    k2[0, 2:] = 100.0  # masked keys: changing them changes nothing
    torch.testing.assert_close(mha(q, k2, key_padding_mask=mask)[0], out[0])


def test_dropout_layers_and_config_errors():
    mha = MultiheadAttention(8, 2, attn_drop=0.1, proj_drop=0.2,
                             dropout_layer=dict(type="DropPath", drop_prob=0.3))
    assert mha.attn.dropout == 0.1 and mha.proj_drop.p == 0.2
    assert isinstance(mha.dropout_layer, DropPath) and mha.dropout_layer.drop_prob == 0.3
    assert isinstance(MultiheadAttention(8, 2, dropout_layer=None).dropout_layer, nn.Identity)
    with pytest.raises(ConfigError, match=r"embed_dims \(10\) must be divisible by num_heads"):
        MultiheadAttention(10, 4)
