import pytest
import torch

from original_weights import beit as original_beit
from seglab.checkpoint.converters import convert_beit
from seglab.errors import ConfigError
from seglab.models import build_backbone
from seglab.models.backbones import BEiT, BEiTAttention, ShapeSpec
from seglab.models.backbones.beit_rel_pos import resize_rel_pos_bias_table
from seglab.models.layers import DropPath

LN = dict(type="LN", eps=1e-6)


def tiny(**kwargs) -> BEiT:
    cfg = dict(img_size=32, patch_size=8, embed_dims=16, num_layers=3, num_heads=2,
               out_indices=(0, 1, 2), norm_cfg=LN)
    cfg.update(kwargs)
    torch.manual_seed(0)
    model = BEiT(**cfg)
    model.init_weights()
    with torch.no_grad():  # MMSeg inits these to 0 / 0.1: make them matter in the tests
        for name, p in model.named_parameters():
            if name.endswith(("relative_position_bias_table", "q_bias", "v_bias", "gamma_1",
                              "gamma_2", "cls_token")):
                p.normal_(0, 0.5)
    return model.eval()


def test_shapes_and_declared_outputs():
    model = tiny()
    outs = model(torch.randn(2, 3, 32, 32))
    assert [o.shape for o in outs] == [(2, 16, 4, 4)] * 3
    assert model.output_shapes() == (ShapeSpec(16, 8),) * 3


def test_another_input_size_is_refused_naming_the_grid():
    with pytest.raises(ValueError, match="1 \\+ 4 x 4 = 17"):
        tiny()(torch.randn(1, 3, 64, 64))


def test_state_dict_keys_match_mmseg():
    keys = set(tiny(num_layers=1, out_indices=0, final_norm=True).state_dict())
    layer = {"gamma_1", "gamma_2", "ln1.weight", "ln1.bias", "attn.q_bias", "attn.v_bias",
             "attn.relative_position_bias_table", "attn.relative_position_index",
             "attn.qkv.weight", "attn.proj.weight", "attn.proj.bias", "ln2.weight", "ln2.bias",
             "ffn.layers.0.0.weight", "ffn.layers.0.0.bias", "ffn.layers.1.weight",
             "ffn.layers.1.bias"}
    assert keys == {"cls_token", "patch_embed.projection.weight", "patch_embed.projection.bias",
                    "ln1.weight", "ln1.bias"} | {f"layers.0.{k}" for k in layer}
    assert "layers.0.attn.qkv.bias" not in keys
    assert not any(k.endswith("q_bias") for k in tiny(qv_bias=False).state_dict())


def test_relative_position_bias_against_a_hand_computation():
    # 2 x 2 grid: tokens cls, (0,0), (0,1), (1,0), (1,1); table rows (dy+1)*3 + (dx+1), then
    # 9 = cls->patch, 10 = patch->cls, 11 = cls->cls.
    attn = BEiTAttention(embed_dims=4, num_heads=1, window_size=(2, 2))
    coords = [(0, 0), (0, 1), (1, 0), (1, 1)]
    expected = torch.zeros(5, 5, dtype=torch.long)
    for a, (ya, xa) in enumerate(coords):
        for b, (yb, xb) in enumerate(coords):
            expected[a + 1, b + 1] = (ya - yb + 1) * 3 + (xa - xb + 1)
    expected[0, 1:], expected[1:, 0], expected[0, 0] = 9, 10, 11
    assert torch.equal(attn.relative_position_index, expected)
    assert attn.relative_position_bias_table.shape == (12, 1)


def test_attention_against_the_plain_formula():
    torch.manual_seed(1)
    attn = BEiTAttention(embed_dims=4, num_heads=2, window_size=(2, 2)).eval()
    with torch.no_grad():
        for p in (attn.q_bias, attn.v_bias, attn.relative_position_bias_table):
            p.normal_()
    x = torch.randn(3, 5, 4)
    w = attn.qkv.weight
    q = x @ w[:4].T + attn.q_bias
    k = x @ w[4:8].T
    v = x @ w[8:].T + attn.v_bias
    heads = lambda t: t.reshape(3, 5, 2, 2).transpose(1, 2)  # noqa: E731
    table, index = attn.relative_position_bias_table, attn.relative_position_index
    bias = torch.stack([table[index, h] for h in range(2)])
    logits = heads(q) @ heads(k).transpose(-1, -2) / 2 ** 0.5 + bias
    out = (logits.softmax(-1) @ heads(v)).transpose(1, 2).reshape(3, 5, 4)
    torch.testing.assert_close(attn(x), attn.proj(out))


def test_layer_scale_and_drop_path_on_both_branches():
    model = BEiT(img_size=16, patch_size=8, embed_dims=8, num_layers=3, num_heads=2,
                 init_values=0.3, drop_path_rate=0.2)
    rates = [layer.drop_path.drop_prob for layer in model.layers]
    torch.testing.assert_close(torch.tensor(rates), torch.linspace(0, 0.2, 3))
    assert all(isinstance(layer.drop_path, DropPath) for layer in model.layers)
    assert torch.equal(model.layers[0].gamma_1, torch.full((8,), 0.3))


def test_out_indices_int_and_errors():
    assert tiny(out_indices=-1).out_indices == (2,)
    with pytest.raises(ConfigError, match="not in 0..2"):
        tiny(out_indices=(0, 3))


def test_final_norm_is_ln1_after_the_last_block_only():
    model = tiny(final_norm=True, out_indices=(1, 2))
    plain = tiny(final_norm=False, out_indices=(1, 2))
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if k not in
                           ("ln1.weight", "ln1.bias")})
    x = torch.randn(1, 3, 32, 32)
    a, b = model(x), plain(x)
    torch.testing.assert_close(a[0], b[0])
    assert not torch.allclose(a[1], b[1])


def test_norm_eval_keeps_layer_norms_in_eval():
    model = tiny(norm_eval=True).train()
    assert not model.layers[0].ln1.training and model.layers[0].attn.training


def test_registry_rejects_a_misspelt_key():
    with pytest.raises(Exception, match="init_value"):
        build_backbone(dict(type="BEiT", img_size=32, patch_size=8, embed_dims=16,
                            num_heads=2, init_value=0.1))


def test_converted_original_weights_load():
    original = original_beit(dim=4, heads=2)
    model = BEiT(img_size=4, patch_size=2, embed_dims=4, num_layers=1, num_heads=2)
    converted = {k[len("backbone."):]: v for k, v in convert_beit(original).items()}
    result = model.load_state_dict(converted, strict=False)
    # The originals carry no index buffers (MMSeg rebuilds them); nothing else may differ.
    assert result.unexpected_keys == []
    assert result.missing_keys == ["layers.0.attn.relative_position_index"]
    torch.testing.assert_close(model.layers[0].attn.q_bias, original["blocks.0.attn.q_bias"])
    torch.testing.assert_close(model.layers[0].ln2.weight, original["blocks.0.norm2.weight"])
    assert model(torch.randn(1, 3, 4, 4))[0].shape == (1, 4, 2, 2)


def test_pretrained_drops_the_index_and_resizes_tables_of_other_grids(tmp_path):
    src = tiny()
    path = tmp_path / "beit.pth"
    torch.save({"state_dict": src.state_dict()}, path)
    model = tiny(init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    model.init_weights()
    torch.testing.assert_close(model.layers[1].attn.relative_position_bias_table,
                               src.layers[1].attn.relative_position_bias_table)
    # a 4 x 4 grid checkpoint into 6 x 6 and 2 x 2 grids: MMSeg's resampling, index rebuilt
    for img_size, grid in ((48, 6), (16, 2)):
        other = BEiT(img_size=img_size, patch_size=8, embed_dims=16, num_layers=3, num_heads=2,
                     pretrained=str(path))
        other.init_weights()
        table = other.layers[1].attn.relative_position_bias_table
        assert table.shape == ((2 * grid - 1) ** 2 + 3, 2)
        torch.testing.assert_close(table, resize_rel_pos_bias_table(
            src.layers[1].attn.relative_position_bias_table, grid), rtol=0, atol=0)
        assert other(torch.randn(1, 3, img_size, img_size))[0].shape == (1, 16, grid, grid)
    wide = BEiT(img_size=(16, 32), patch_size=8, embed_dims=16, num_layers=3, num_heads=2,
                pretrained=str(path))
    with pytest.raises(ConfigError, match=r"relative_position_bias_table.*square img_size"):
        wide.init_weights()
