"""Twins PCPVT / SVT: MMSeg's state_dict keys, output shapes on sizes that are not patch
multiples, LSA against plain attention (incl. MMSeg's padding mask), the PEG, and the original
weights through convert_twins."""
import math

import pytest
import torch
import torch.nn.functional as F

from seglab.checkpoint.converters import convert_twins
from seglab.errors import ConfigError
from seglab.models import build_backbone
from seglab.models.backbones import (PCPVT, SVT, ConditionalPositionEncoding,
                                     GlobalSubsampledAttention, GSAEncoderLayer,
                                     LocallygroupedSelfAttention, LSAEncoderLayer)
from original_weights import twins as original_twins
from shared_data import SHARED

ZOO = f"{SHARED}/data/mmseg-zoo"
# The mmseg-zoo fixtures' backbones (twins_pcpvt.py.txt / twins_svt.py.txt).
ZOO_PCPVT = dict(embed_dims=[8, 16, 16, 32], num_heads=[1, 2, 2, 4], mlp_ratios=[8, 8, 4, 4],
                 qkv_bias=True, depths=[2, 2, 2, 2], sr_ratios=[8, 4, 2, 1],
                 norm_after_stage=False, drop_path_rate=0.2)
ZOO_SVT = dict(embed_dims=[8, 16, 32, 64], num_heads=[1, 2, 4, 8], mlp_ratios=[4, 4, 4, 4],
               qkv_bias=True, depths=[2, 2, 2, 2], sr_ratios=[8, 4, 2, 1], norm_after_stage=True,
               drop_path_rate=0.2, windiow_sizes=[7, 7, 7, 7])
TINY = dict(embed_dims=[4, 8, 8, 16], num_heads=[1, 2, 2, 4], mlp_ratios=[2, 2, 2, 2],
            depths=[2, 2, 1, 1], qkv_bias=True)


def _mmseg_shapes(name: str):
    try:
        state = torch.load(f"{ZOO}/{name}.state_dict.pth", map_location="cpu", weights_only=True)
    except FileNotFoundError:
        pytest.skip("MMSeg zoo fixtures not available")
    return {k[len("backbone."):]: tuple(v.shape) for k, v in state.items()
            if k.startswith("backbone.")}


@pytest.mark.parametrize("cls, cfg, name", [(PCPVT, ZOO_PCPVT, "twins_pcpvt"),
                                            (SVT, ZOO_SVT, "twins_svt")])
def test_state_dict_keys_like_mmseg(cls, cfg, name):
    shapes = {k: tuple(v.shape) for k, v in cls(**cfg).state_dict().items()}
    assert shapes == _mmseg_shapes(name)


def test_key_layout():
    pcpvt = {k: tuple(v.shape) for k, v in PCPVT(**ZOO_PCPVT).state_dict().items()}
    assert pcpvt["patch_embeds.0.projection.weight"] == (8, 3, 4, 4)
    assert pcpvt["patch_embeds.1.norm.weight"] == (16,)
    assert pcpvt["layers.0.0.attn.attn.in_proj_weight"] == (24, 8)
    assert pcpvt["layers.0.0.attn.sr.weight"] == (8, 8, 8, 8)
    assert "layers.3.0.attn.sr.weight" not in pcpvt  # sr_ratio 1
    assert pcpvt["layers.0.0.ffn.layers.0.0.weight"] == (64, 8)  # mlp_ratio 8
    assert pcpvt["position_encodings.2.proj.weight"] == (16, 1, 3, 3)  # depthwise PEG
    assert not any(k.startswith(("norm_list", "norm.")) for k in pcpvt)
    svt = SVT(**ZOO_SVT)
    assert isinstance(svt.layers[1][0], LSAEncoderLayer)
    assert isinstance(svt.layers[1][1], GSAEncoderLayer)
    assert isinstance(svt.layers[1][1].attn, GlobalSubsampledAttention)
    assert svt.layers[2][0].attn.window_size == 7
    assert "norm_list.3.weight" in svt.state_dict()


@pytest.mark.parametrize("cls", [PCPVT, SVT])
@pytest.mark.parametrize("hw", [(64, 64), (63, 65), (97, 45), (70, 33)])
def test_output_shapes_for_sizes_that_are_not_patch_multiples(cls, hw):
    extra = dict(windiow_sizes=[7, 7, 7, 7]) if cls is SVT else {}
    model = cls(**TINY, sr_ratios=[8, 4, 2, 1], **extra).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *hw))
    shapes = model.output_shapes()
    assert [tuple(s) for s in shapes] == [(4, 4), (8, 8), (8, 16), (16, 32)]
    assert [tuple(o.shape) for o in outs] == [
        (1, s.channels, math.ceil(hw[0] / s.stride), math.ceil(hw[1] / s.stride)) for s in shapes]


def test_out_indices_and_checks():
    model = PCPVT(**TINY, out_indices=(3, 1)).eval()
    outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [8, 16]
    assert model.out_strides == (8, 32)
    with pytest.raises(ConfigError, match="out_indices"):
        PCPVT(**TINY, out_indices=(0, 4))
    with pytest.raises(ConfigError, match="sr_ratios"):
        PCPVT(**TINY, sr_ratios=[8, 4, 2])
    with pytest.raises(ConfigError, match="windiow_sizes"):
        SVT(**TINY, sr_ratios=[8, 4, 2, 1], windiow_sizes=[7, 7])
    with pytest.raises(Exception, match="windiow_sizes"):  # the registry names MMSeg's key
        build_backbone(dict(type="SVT", window_sizes=[7, 7, 7]))
    assert PCPVT(pretrained="x.pth").init_cfg == dict(type="Pretrained", checkpoint="x.pth")


def _plain_attention(attn: LocallygroupedSelfAttention, x: torch.Tensor) -> torch.Tensor:
    """Softmax attention of every token of x (N, L, C) to every token, with attn's weights."""
    n, length, c = x.shape
    heads = attn.num_heads
    q, k, v = attn.qkv(x).reshape(n, length, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    out = F.softmax(q @ k.transpose(-2, -1) * attn.scale, dim=-1) @ v
    return attn.proj(out.transpose(1, 2).reshape(n, length, c))


def test_lsa_one_window_with_both_pads_masks_the_padding():
    torch.manual_seed(0)
    attn = LocallygroupedSelfAttention(8, num_heads=2, qkv_bias=True, window_size=7).eval()
    x = torch.randn(2, 5 * 6, 8)  # a 5x6 grid in one 7x7 window: pads on both sides
    torch.testing.assert_close(attn(x, (5, 6)), _plain_attention(attn, x), atol=1e-5, rtol=0)


def test_lsa_pad_on_one_side_only_is_not_masked_as_in_mmseg():
    torch.manual_seed(0)
    attn = LocallygroupedSelfAttention(8, num_heads=2, qkv_bias=True, window_size=7).eval()
    x = torch.randn(2, 7 * 5, 8)  # 7x5: pad_b == 0, so MMSeg's mask covers the whole window
    padded = F.pad(x.view(2, 7, 5, 8), (0, 0, 0, 2)).reshape(2, 49, 8)
    expected = _plain_attention(attn, padded).view(2, 7, 7, 8)[:, :, :5].reshape(2, 35, 8)
    torch.testing.assert_close(attn(x, (7, 5)), expected, atol=1e-5, rtol=0)


def test_lsa_windows_are_independent():
    torch.manual_seed(0)
    attn = LocallygroupedSelfAttention(4, num_heads=1, window_size=2).eval()
    x = torch.randn(1, 16, 4)
    out = attn(x, (4, 4)).view(1, 4, 4, 4)
    window = x.view(1, 4, 4, 4)[:, 2:, :2].reshape(1, 4, 4)  # bottom-left 2x2 window
    torch.testing.assert_close(out[:, 2:, :2].reshape(1, 4, 4), _plain_attention(attn, window),
                               atol=1e-6, rtol=0)


def test_peg_is_a_depthwise_conv_plus_identity():
    peg = ConditionalPositionEncoding(4, 4)
    x = torch.randn(2, 12, 4)
    grid = x.transpose(1, 2).reshape(2, 4, 3, 4)
    expected = (peg.proj(grid) + grid).flatten(2).transpose(1, 2)
    torch.testing.assert_close(peg(x, (3, 4)), expected)
    assert peg.proj.groups == 4


@pytest.mark.parametrize("variant, cls", [("pcpvt", PCPVT), ("svt", SVT)])
def test_converted_original_weights_load(variant, cls):
    converted = convert_twins(original_twins(variant, dims=(4, 8)), variant)
    depth = 2 if variant == "svt" else 1
    extra = dict(windiow_sizes=[7, 7]) if variant == "svt" else {}
    model = cls(embed_dims=[4, 8], patch_sizes=[2, 2], strides=[2, 2], num_heads=[1, 2],
                mlp_ratios=[4, 4], depths=[depth, depth], sr_ratios=[2, 2], qkv_bias=True,
                out_indices=(0, 1), norm_after_stage=False, **extra)
    result = model.load_state_dict(converted, strict=False)
    assert result.missing_keys == []
    # The original's final norm: MMSeg builds it but never registers it.
    assert sorted(result.unexpected_keys) == ["norm.bias", "norm.weight"]
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, converted[key])
    outs = model.eval()(torch.randn(1, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 4, 16, 16), (1, 8, 8, 8)]


def test_default_init_and_drop_path_rates():
    model = SVT(**TINY, sr_ratios=[8, 4, 2, 1], windiow_sizes=[7, 7, 7, 7], drop_path_rate=0.3)
    model.init_weights()
    linear = model.layers[0][0].attn.qkv
    with torch.no_grad():
        assert float(linear.bias.abs().max()) == 0.0 and float(linear.weight.std()) < 0.05
    rates = [blk.drop_path.drop_prob if hasattr(blk.drop_path, "drop_prob") else 0.0
             for stage in model.layers for blk in stage]
    assert rates == pytest.approx(torch.linspace(0, 0.3, 6).tolist())
