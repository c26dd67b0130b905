"""MSCAN (SegNeXt's backbone): MMSeg 1.x's state_dict keys, output shapes, the multi-scale
convolutional attention, stochastic depth, default init, pretrained weights, errors."""
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seglab.errors import CheckpointError, ConfigError
from seglab.models import build_backbone
from seglab.models.backbones import MSCAAttention, MSCABlock, MSCAN
from seglab.models.layers import DropPath, LayerNorm2d

BN = dict(type="BN", requires_grad=True)
# The fixtures_1x/segnext backbone (MMSeg 1.2.2's state_dict in tests/models/fixtures_1x).
FIXTURE_MSCAN = dict(embed_dims=[8, 12, 16, 16], mlp_ratios=[8, 8, 4, 4], depths=[2, 1, 1, 1],
                     drop_path_rate=0.1, norm_cfg=BN)
FIXTURE_STATE = Path(__file__).parents[1] / "fixtures_1x" / "segnext.state_dict.pth"


def _tiny(**kwargs) -> MSCAN:
    return MSCAN(**{**dict(embed_dims=[4, 8, 8, 16], depths=[1, 1, 1, 1], norm_cfg=BN), **kwargs})


def test_state_dict_keys_like_mmseg():
    state = MSCAN(**FIXTURE_MSCAN).state_dict()
    mmseg = torch.load(FIXTURE_STATE, map_location="cpu", weights_only=True)
    expected = [(k[len("backbone."):], tuple(v.shape)) for k, v in mmseg.items()
                if k.startswith("backbone.")]
    assert [(k, tuple(v.shape)) for k, v in state.items()] == expected  # same order too
    shapes = dict(expected)
    assert shapes["patch_embed1.proj.0.weight"] == (4, 3, 3, 3)  # stem: half, then full width
    assert shapes["patch_embed1.proj.1.running_var"] == (4,)
    assert shapes["patch_embed1.proj.3.weight"] == (8, 4, 3, 3)
    assert shapes["patch_embed2.proj.weight"] == (12, 8, 3, 3)
    assert shapes["patch_embed2.norm.running_mean"] == (12,)
    gating = "block1.1.attn.spatial_gating_unit"
    assert shapes[f"{gating}.conv0.weight"] == (8, 1, 5, 5)  # depthwise
    assert shapes[f"{gating}.conv0_1.weight"] == (8, 1, 1, 7)
    assert shapes[f"{gating}.conv0_2.weight"] == (8, 1, 7, 1)
    assert shapes[f"{gating}.conv2_1.weight"] == (8, 1, 1, 21)
    assert shapes[f"{gating}.conv3.weight"] == (8, 8, 1, 1)
    assert shapes["block1.0.mlp.fc1.weight"] == (64, 8, 1, 1)  # mlp_ratio 8
    assert shapes["block3.0.mlp.dwconv.weight"] == (64, 1, 3, 3)  # mlp_ratio 4
    assert shapes["block1.0.layer_scale_1"] == (8,)
    assert shapes["norm4.weight"] == (16,)
    assert "block2.1.norm1.weight" not in shapes


def test_modules_are_mmseg_s():
    model = MSCAN(**FIXTURE_MSCAN)
    assert isinstance(model.norm1, LayerNorm2d) and model.norm1.eps == 1e-5
    block = model.block1[0]
    assert isinstance(block, MSCABlock) and isinstance(block.norm1, nn.BatchNorm2d)
    assert isinstance(block.attn.activation, nn.GELU) and isinstance(block.mlp.act, nn.GELU)
    assert torch.all(block.layer_scale_1 == 1e-2) and torch.all(block.layer_scale_2 == 1e-2)
    gating = block.attn.spatial_gating_unit
    assert gating.conv1_1.padding == (0, 5) and gating.conv1_2.padding == (5, 0)
    assert model.patch_embed2.proj.stride == (2, 2) and model.patch_embed2.proj.padding == (1, 1)


@pytest.mark.parametrize("hw", [(64, 64), (63, 65), (97, 45), (33, 29)])
def test_output_shapes_for_odd_sizes(hw):
    model = _tiny().eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *hw))
    shapes = model.output_shapes()
    assert [tuple(s) for s in shapes] == [(4, 4), (8, 8), (8, 16), (16, 32)]
    assert [tuple(o.shape) for o in outs] == [
        (1, s.channels, math.ceil(hw[0] / s.stride), math.ceil(hw[1] / s.stride)) for s in shapes]


def test_stage_norm_is_a_layer_norm_over_channels():
    model = _tiny().eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        before = model.block1[0](model.patch_embed1(x))
        out = model(x)[0]
    expected = F.layer_norm(before.permute(0, 2, 3, 1), (4,), model.norm1.weight,
                            model.norm1.bias).permute(0, 3, 1, 2)
    torch.testing.assert_close(out, expected)


def test_attention_sums_the_strip_branches_and_gates_the_input():
    """With identity strip convs and an identity conv3, the attention is 4 * conv0(x) * x."""
    torch.manual_seed(0)
    attn = MSCAAttention(3)
    with torch.no_grad():
        for name in ("conv0_1", "conv0_2", "conv1_1", "conv1_2", "conv2_1", "conv2_2"):
            conv = getattr(attn, name)
            conv.weight.zero_()
            kh, kw = conv.kernel_size
            conv.weight[:, :, kh // 2, kw // 2] = 1
            conv.bias.zero_()
        attn.conv3.weight.copy_(torch.eye(3)[:, :, None, None])
        attn.conv3.bias.zero_()
        x = torch.randn(2, 3, 9, 11)
        torch.testing.assert_close(attn(x), 4 * attn.conv0(x) * x)
        # conv3 giving 1 everywhere leaves the input: the gating is a product.
        attn.conv3.weight.zero_()
        attn.conv3.bias.fill_(1)
        torch.testing.assert_close(attn(x), x)


def test_block_is_layer_scaled_residuals():
    block = MSCABlock(4, mlp_ratio=2, norm_cfg=BN).eval()
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        block.layer_scale_1.zero_()
        block.layer_scale_2.zero_()
        torch.testing.assert_close(block(x), x)
        block.layer_scale_2.fill_(0.5)
        torch.testing.assert_close(block(x), x + 0.5 * block.mlp(block.norm2(x)))


def test_drop_path_rises_linearly_and_is_off_in_eval():
    model = _tiny(depths=[2, 1, 1, 1], drop_path_rate=0.4)
    blocks = [b for i in range(1, 5) for b in getattr(model, f"block{i}")]
    assert isinstance(blocks[0].drop_path, nn.Identity)  # rate 0: no DropPath at all
    assert [b.drop_path.drop_prob for b in blocks[1:]] == [pytest.approx(r)
                                                           for r in (0.1, 0.2, 0.3, 0.4)]
    assert all(isinstance(b.drop_path, DropPath) for b in blocks[1:])
    x = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        model.eval()
        first, second = model(x)[-1], model(x)[-1]
        torch.testing.assert_close(first, second)
        model.train()
        torch.manual_seed(1)
        assert not torch.allclose(model(x)[-1], model.eval()(x)[-1])


def test_num_stages_and_per_stage_lengths():
    model = _tiny(num_stages=2).eval()
    assert model.output_shapes() == ((4, 4), (8, 8))
    assert [o.shape[1:] for o in model(torch.randn(1, 3, 32, 32))] == [(4, 8, 8), (8, 4, 4)]
    assert not hasattr(model, "block3")
    with pytest.raises(ConfigError, match="depths"):
        _tiny(depths=[1, 1, 1])
    with pytest.raises(ConfigError, match="attention_kernel_paddings"):
        _tiny(attention_kernel_paddings=[2, [0, 3]])


def test_in_channels_sets_the_stem():
    # MMSeg's stem always takes 3 channels (in_channels is ignored there); seglab honours it.
    model = _tiny(in_channels=4).eval()
    assert model.patch_embed1.proj[0].weight.shape == (2, 4, 3, 3)
    assert model(torch.randn(1, 4, 32, 32))[0].shape == (1, 4, 8, 8)


def test_unknown_key_and_bad_pretrained():
    with pytest.raises(Exception, match="embed_dims"):
        build_backbone(dict(type="MSCAN", embed_dim=[4, 8, 8, 16]))
    with pytest.raises(ConfigError):
        MSCAN(pretrained=123)
    with pytest.raises(ConfigError):
        MSCAN(pretrained="x.pth", init_cfg=dict(type="Pretrained", checkpoint="y.pth"))


def test_default_init_is_mmseg_s():
    torch.manual_seed(0)
    model = MSCAN(embed_dims=[16, 32, 32, 64], depths=[1, 1, 1, 1], norm_cfg=BN)
    with torch.no_grad():
        model.norm2.weight.fill_(3)
    model.init_weights()
    assert torch.all(model.norm2.weight == 1) and torch.all(model.norm2.bias == 0)
    fc1 = model.block4[0].mlp.fc1  # fan_out = 1 * 1 * 256
    assert torch.all(fc1.bias == 0)
    assert fc1.weight.std().item() == pytest.approx(math.sqrt(2.0 / 256), rel=0.1)
    conv0 = model.block4[0].attn.spatial_gating_unit.conv0  # depthwise: 5 * 5 * 64 / 64
    assert conv0.weight.std().item() == pytest.approx(math.sqrt(2.0 / 25), rel=0.1)


def test_pretrained_weights_load(tmp_path):
    source = _tiny()
    torch.save({"state_dict": source.state_dict()}, tmp_path / "mscan.pth")
    model = _tiny(init_cfg=dict(type="Pretrained", checkpoint=str(tmp_path / "mscan.pth")))
    model.init_weights()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in source.state_dict().items())


def test_unavailable_pretrained_says_how_to_do_without():
    # The SegNeXt configs' init_cfg checkpoint.
    url = ("https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segnext/"
           "mscan_t_20230227-119e8c9f.pth")
    model = _tiny(init_cfg=dict(type="Pretrained", checkpoint=url))
    with pytest.raises(CheckpointError, match=r"(?s)mscan_t_20230227-119e8c9f\.pth.*"
                                              r"model\.backbone\.init_cfg=None"):
        model.init_weights()
