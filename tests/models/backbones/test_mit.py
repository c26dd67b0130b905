"""MixVisionTransformer (SegFormer's MiT): MMSeg's state_dict keys, output shapes, out_indices,
with_cp, stochastic depth, default init, and the original weights through convert_mit."""
import math

import pytest
import torch
from torch import nn

from seglab.checkpoint.converters import convert_mit
from seglab.errors import ConfigError
from seglab.models import build_backbone
from seglab.models.backbones import (EfficientMultiheadAttention, MixFFN, MixVisionTransformer,
                                     TransformerEncoderLayer)
from seglab.models.layers import DropPath
from original_weights import mit as original_mit
from shared_data import SHARED

# The mmseg-zoo fixture's backbone: MiT-B0 layout with embed_dims 8 (8/16/16/32 channels).
ZOO_MIT = dict(embed_dims=8, num_layers=[2, 2, 1, 1], num_heads=[1, 2, 2, 4], drop_path_rate=0.1)
ZOO_STATE = f"{SHARED}/data/mmseg-zoo/segformer_mit.state_dict.pth"


def _tiny(**kwargs) -> MixVisionTransformer:
    return MixVisionTransformer(**{**dict(embed_dims=4, num_layers=[1, 1, 1, 1],
                                          num_heads=[1, 2, 2, 4]), **kwargs})


def test_state_dict_keys_like_mmseg():
    model = MixVisionTransformer(**ZOO_MIT)
    state = model.state_dict()
    try:
        mmseg = torch.load(ZOO_STATE, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        mmseg = None
    if mmseg is not None:  # MMSeg 1.2.2's own keys and shapes for the same config
        expected = {k[len("backbone."):]: tuple(v.shape) for k, v in mmseg.items()
                    if k.startswith("backbone.")}
        assert {k: tuple(v.shape) for k, v in state.items()} == expected
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    assert shapes["layers.0.0.projection.weight"] == (8, 3, 7, 7)
    assert shapes["layers.1.0.projection.weight"] == (16, 8, 3, 3)
    assert shapes["layers.0.0.norm.weight"] == (8,)
    assert shapes["layers.0.1.0.attn.attn.in_proj_weight"] == (24, 8)
    assert shapes["layers.0.1.0.attn.attn.out_proj.weight"] == (8, 8)
    assert shapes["layers.0.1.0.attn.sr.weight"] == (8, 8, 8, 8)  # sr_ratio 8
    assert shapes["layers.0.1.0.attn.norm.weight"] == (8,)
    assert "layers.3.1.0.attn.sr.weight" not in state  # sr_ratio 1: no reduction
    assert shapes["layers.0.1.1.ffn.layers.0.weight"] == (32, 8, 1, 1)
    assert shapes["layers.0.1.1.ffn.layers.1.weight"] == (32, 1, 3, 3)  # depthwise pe_conv
    assert shapes["layers.0.1.1.ffn.layers.4.weight"] == (8, 32, 1, 1)
    assert shapes["layers.3.2.weight"] == (32,)
    assert {k.split(".")[4] for k in state if k.startswith("layers.2.1.0.")} == {
        "norm1", "attn", "norm2", "ffn"}


def test_layers_are_mmseg_modules():
    model = _tiny()
    block = model.layers[0][1][0]
    assert isinstance(block, TransformerEncoderLayer)
    assert isinstance(block.attn, EfficientMultiheadAttention) and block.attn.batch_first
    assert isinstance(block.ffn, MixFFN) and isinstance(block.ffn.layers[2], nn.GELU)
    assert block.norm1.eps == block.attn.norm.eps == model.layers[0][2].eps == 1e-6
    assert model.layers[0][0].projection.padding == (3, 3)
    assert model.layers[1][0].projection.stride == (2, 2)


@pytest.mark.parametrize("hw", [(64, 64), (63, 65), (97, 45), (32, 29)])
def test_output_shapes_for_odd_sizes(hw):
    model = _tiny().eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *hw))
    shapes = model.output_shapes()
    assert [tuple(s) for s in shapes] == [(4, 4), (8, 8), (8, 16), (16, 32)]
    assert [tuple(o.shape) for o in outs] == [
        (1, s.channels, math.ceil(hw[0] / s.stride), math.ceil(hw[1] / s.stride)) for s in shapes]


def test_too_small_input_names_the_grid():
    with pytest.raises(ValueError, match="smaller than sr_ratio=8"):
        _tiny()(torch.randn(1, 3, 24, 64))


def test_out_indices():
    model = _tiny(out_indices=(3, 1)).eval()
    outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [8, 16]  # stage order, whatever the order given
    assert model.out_channels == (8, 16) and model.out_strides == (8, 32)
    single = _tiny(out_indices=2)
    assert single.output_shapes() == ((8, 16),)
    assert len(single(torch.randn(1, 3, 64, 64))) == 1
    with pytest.raises(ConfigError, match="out_indices"):
        _tiny(out_indices=(0, 4))


def test_per_stage_lengths_are_checked():
    with pytest.raises(ConfigError, match="sr_ratios"):
        _tiny(sr_ratios=[8, 4, 2])
    with pytest.raises(ConfigError, match="num_stages=3"):
        _tiny(num_stages=3)
    model = _tiny(num_stages=2, num_layers=[1, 1], num_heads=[1, 2], patch_sizes=[7, 3],
                  strides=[4, 2], sr_ratios=[8, 4], out_indices=(0, 1))
    assert [o.shape[1:] for o in model(torch.randn(1, 3, 64, 64))] == [(4, 16, 16), (8, 8, 8)]


def test_unknown_key_and_bad_pretrained():
    with pytest.raises(Exception, match="embed_dim"):
        build_backbone(dict(type="MixVisionTransformer", embed_dim=32))
    with pytest.raises(ConfigError):
        MixVisionTransformer(pretrained=123)
    with pytest.raises(ConfigError):
        MixVisionTransformer(pretrained="x.pth", init_cfg=dict(type="Pretrained", checkpoint="y"))
    assert MixVisionTransformer(pretrained="x.pth").init_cfg == dict(type="Pretrained",
                                                                     checkpoint="x.pth")


def test_with_cp_gives_the_same_outputs_and_gradients():
    torch.manual_seed(0)
    plain = _tiny()
    cp = _tiny(with_cp=True)
    cp.load_state_dict(plain.state_dict())
    assert all(b.with_cp for stage in cp.layers for b in stage[1])
    x = torch.randn(2, 3, 64, 64)
    grads = []
    for model in (plain, cp):
        model.train()
        xi = x.clone().requires_grad_(True)
        sum(o.square().mean() for o in model(xi)).backward()
        grads.append((xi.grad, [p.grad for p in model.parameters()]))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    for a, b in zip(grads[0][1], grads[1][1]):
        torch.testing.assert_close(a, b)


def test_drop_path_rises_linearly_and_is_off_in_eval():
    model = _tiny(num_layers=[2, 1, 1, 1], drop_path_rate=0.4, drop_rate=0.0)
    rates = [[b.attn.dropout_layer.drop_prob, b.ffn.dropout_layer.drop_prob]
             for stage in model.layers for b in stage[1]]
    assert rates == [[pytest.approx(r)] * 2 for r in (0.0, 0.1, 0.2, 0.3, 0.4)]
    assert isinstance(model.layers[3][1][0].ffn.dropout_layer, DropPath)
    x = torch.randn(4, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        first, second = model(x)[-1], model(x)[-1]
    torch.testing.assert_close(first, second)
    model.train()
    torch.manual_seed(1)
    with torch.no_grad():
        dropped = model(x)[-1]
    assert not torch.allclose(dropped, first)


def test_default_init_is_mmseg_s():
    torch.manual_seed(0)
    model = MixVisionTransformer(embed_dims=16, num_layers=[1, 1, 1, 1])
    model.init_weights()
    block = model.layers[0][1][0]
    assert torch.all(block.norm1.weight == 1) and torch.all(block.norm1.bias == 0)
    out_proj = block.attn.attn.out_proj
    # MMCV's trunc_normal_init(std=0.02) truncates at +-2 (absolute), so this is N(0, 0.02^2).
    assert out_proj.weight.std().item() == pytest.approx(0.02, rel=0.2)
    assert torch.all(out_proj.bias == 0)
    conv = block.ffn.layers[1]  # depthwise: fan_out = 3 * 3 * 64 / 64
    assert torch.all(conv.bias == 0)
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2.0 / 9), rel=0.2)


def test_converted_original_weights_load_strictly():
    original = original_mit(dims=(4, 8))
    converted = convert_mit(original)
    # The tiny original: two stages of 4 and 8 channels, 3x3 patch convs, sr 2 on stage 1 only.
    model = MixVisionTransformer(embed_dims=4, num_stages=2, num_layers=[1, 1], num_heads=[1, 2],
                                 patch_sizes=[3, 3], strides=[4, 2], sr_ratios=[2, 1],
                                 out_indices=(0, 1))
    model.load_state_dict(converted, strict=True)
    attn = model.layers[0][1][0].attn
    torch.testing.assert_close(attn.attn.in_proj_weight[:4], original["block1.0.attn.q.weight"])
    torch.testing.assert_close(attn.attn.in_proj_weight[4:], original["block1.0.attn.kv.weight"])
    torch.testing.assert_close(attn.sr.weight, original["block1.0.attn.sr.weight"])
    ffn = model.layers[1][1][0].ffn
    torch.testing.assert_close(ffn.layers[0].weight[..., 0, 0], original["block2.0.mlp.fc1.weight"])
    torch.testing.assert_close(ffn.layers[1].weight, original["block2.0.mlp.dwconv.dwconv.weight"])
    torch.testing.assert_close(ffn.layers[4].weight[..., 0, 0], original["block2.0.mlp.fc2.weight"])
    torch.testing.assert_close(model.layers[1][2].weight, original["norm2.weight"])
    outs = model.eval()(torch.randn(1, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 4, 8, 8), (1, 8, 4, 4)]


def test_efficient_attention_is_the_original_computation():
    """One head, sr 2: softmax(q k^T / sqrt(C)) v over the reduced grid, then the projection."""
    torch.manual_seed(0)
    attn = EfficientMultiheadAttention(8, 1, qkv_bias=True, sr_ratio=2,
                                       norm_cfg=dict(type="LN", eps=1e-6)).eval()
    x = torch.randn(2, 16, 8)
    with torch.no_grad():
        out = attn(x, (4, 4), identity=torch.zeros_like(x))
        w, b = attn.attn.in_proj_weight, attn.attn.in_proj_bias
        grid = x.transpose(1, 2).reshape(2, 8, 4, 4)
        kv = attn.norm(attn.sr(grid).flatten(2).transpose(1, 2))
        q = x @ w[:8].T + b[:8]
        k, v = kv @ w[8:16].T + b[8:16], kv @ w[16:].T + b[16:]
        weights = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(8), dim=-1)
        expected = attn.attn.out_proj(weights @ v)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
