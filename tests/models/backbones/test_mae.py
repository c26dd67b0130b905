import pytest
import torch

from seglab.errors import ConfigError
from seglab.models.backbones import MAE, ShapeSpec


def tiny(**kwargs) -> MAE:
    cfg = dict(img_size=32, patch_size=8, embed_dims=16, num_layers=2, num_heads=2,
               out_indices=(0, 1), norm_cfg=dict(type="LN", eps=1e-6))
    cfg.update(kwargs)
    torch.manual_seed(0)
    model = MAE(**cfg)
    model.init_weights()
    with torch.no_grad():
        model.pos_embed.normal_(0, 0.5)
        model.cls_token.normal_(0, 0.5)
    return model.eval()


def test_shapes_and_declared_outputs():
    model = tiny()
    outs = model(torch.randn(2, 3, 32, 32))
    assert [o.shape for o in outs] == [(2, 16, 4, 4)] * 2
    assert model.output_shapes() == (ShapeSpec(16, 8),) * 2


def test_state_dict_keys_match_mmseg():
    keys = set(tiny(num_layers=1, out_indices=0).state_dict())
    assert {"pos_embed", "cls_token", "layers.0.attn.qkv.bias", "layers.0.gamma_1",
            "layers.0.attn.relative_position_bias_table"} <= keys
    assert not any(k.endswith(("q_bias", "v_bias")) for k in keys)
    assert tiny().pos_embed.shape == (1, 17, 16)


def test_default_init_leaves_relative_tables_and_pos_embed_at_zero():
    model = MAE(img_size=16, patch_size=8, embed_dims=8, num_layers=1, num_heads=2)
    model.init_weights()
    assert not model.pos_embed.any()
    assert not model.layers[0].attn.relative_position_bias_table.any()


def test_pos_embed_is_added_after_the_cls_token():
    model = tiny()
    x = torch.randn(1, 3, 32, 32)
    tokens, hw = model._tokens(x)
    tokens = tokens + model.pos_embed
    for layer in model.layers:
        tokens = layer(tokens)
    expected = tokens[:, 1:].reshape(1, hw[0], hw[1], -1).permute(0, 3, 1, 2)
    torch.testing.assert_close(model(x)[1], expected)


def test_output_cls_token_pairs():
    model = tiny(output_cls_token=True)
    out = model(torch.randn(2, 3, 32, 32))[0]
    assert out[0].shape == (2, 16, 4, 4) and out[1].shape == (2, 16)
    assert model.output_shapes() == (None, None)
    with pytest.raises(ConfigError, match="with_cls_token"):
        MAE(with_cls_token=False, output_cls_token=True)
    with pytest.raises(TypeError):
        MAE(qv_bias=True)  # fixed by MAE


def test_another_input_size_is_refused():
    with pytest.raises(ValueError, match="pos_embed holds 16"):
        tiny()(torch.randn(1, 3, 40, 40))
