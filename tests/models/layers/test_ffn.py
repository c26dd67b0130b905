import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seglab.errors import ConfigError
from seglab.models.layers import FFN, DropPath

# mmcv.cnn.bricks.transformer.FFN(embed_dims=8, feedforward_channels=16).state_dict() keys
MMCV_FFN_KEYS = ["layers.0.0.weight", "layers.0.0.bias", "layers.1.weight", "layers.1.bias"]


def test_state_dict_layout_equals_mmcv_and_loads_strictly():
    ffn = FFN(embed_dims=8, feedforward_channels=16)
    state = ffn.state_dict()
    assert list(state) == MMCV_FFN_KEYS
    assert state["layers.0.0.weight"].shape == (16, 8) and state["layers.1.weight"].shape == (8, 16)
    mmcv_state = {k: torch.randn_like(v) for k, v in state.items()}
    ffn.load_state_dict(mmcv_state, strict=True)
    three = FFN(8, 16, num_fcs=3)
    assert list(three.state_dict()) == [
        "layers.0.0.weight", "layers.0.0.bias", "layers.1.0.weight", "layers.1.0.bias",
        "layers.2.weight", "layers.2.bias"]
    assert three.layers[1][0].weight.shape == (16, 16)


def test_forward_equals_manual_mlp_plus_identity():
    torch.manual_seed(0)
    ffn = FFN(8, 16, act_cfg=dict(type="GELU")).eval()
    x = torch.randn(2, 5, 8)
    w1, b1 = ffn.layers[0][0].weight, ffn.layers[0][0].bias
    w2, b2 = ffn.layers[1].weight, ffn.layers[1].bias
    branch = F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2)
    torch.testing.assert_close(ffn(x), x + branch)
    identity = torch.randn(2, 5, 8)
    torch.testing.assert_close(ffn(x, identity=identity), identity + branch)
    no_id = FFN(8, 16, act_cfg=dict(type="GELU"), add_identity=False).eval()
    no_id.load_state_dict(ffn.state_dict())
    torch.testing.assert_close(no_id(x), branch)


def test_relu_default_shares_one_activation_and_dropout_layer():
    ffn = FFN(4, 8, ffn_drop=0.1, dropout_layer=dict(type="DropPath", drop_prob=0.2))
    assert isinstance(ffn.activate, nn.ReLU) and ffn.layers[0][1] is ffn.activate
    assert ffn.layers[0][2].p == 0.1 and ffn.layers[2].p == 0.1
    assert isinstance(ffn.dropout_layer, DropPath) and ffn.dropout_layer.drop_prob == 0.2
    assert isinstance(FFN(4, 8).dropout_layer, nn.Identity)


def test_num_fcs_below_two_is_refused():
    with pytest.raises(ConfigError, match="num_fcs must be at least 2, got 1"):
        FFN(4, 8, num_fcs=1)
