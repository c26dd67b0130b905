import pytest
import torch
import torch.nn.functional as F

from original_weights import vit as original_vit
from seglab.checkpoint.converters import convert_vit
from seglab.errors import ConfigError, RegistryError
from seglab.models import build_backbone
from seglab.models.backbones import ShapeSpec, VisionTransformer
from seglab.models.layers import DropPath, resize_pos_embed

LN = dict(type="LN", eps=1e-6)


def tiny(**kwargs) -> VisionTransformer:
    cfg = dict(img_size=32, patch_size=8, embed_dims=16, num_layers=3, num_heads=2,
               out_indices=(0, 1, 2), norm_cfg=LN)
    cfg.update(kwargs)
    torch.manual_seed(0)
    model = VisionTransformer(**cfg)
    model.init_weights()
    with torch.no_grad():  # MMSeg inits pos_embed with std 0.02: make it matter in the tests
        model.pos_embed.normal_(0, 0.5)
        model.cls_token.normal_(0, 0.5)
    return model.eval()


def manual_forward(model: VisionTransformer, x: torch.Tensor, pos_embed: torch.Tensor):
    """The 0.x forward written out: patches, cls token, positions, blocks, final norm."""
    tokens, (h, w) = model.patch_embed(x)
    tokens = torch.cat((model.cls_token.expand(len(x), -1, -1), tokens), dim=1) + pos_embed
    outs = []
    for i, layer in enumerate(model.layers):
        tokens = layer(tokens)
        if i == len(model.layers) - 1 and model.final_norm:
            tokens = model.ln1(tokens)
        if i in model.out_indices:
            outs.append(tokens[:, 1:].transpose(1, 2).reshape(len(x), -1, h, w))
    return outs


@pytest.mark.parametrize("size,grid", [((64, 64), (8, 8)), ((70, 50), (9, 7)), ((33, 8), (5, 1))])
def test_shapes_for_any_input_size(size, grid):
    model = tiny()
    outs = model(torch.randn(2, 3, *size))
    assert [tuple(o.shape) for o in outs] == [(2, 16, *grid)] * 3
    assert model.output_shapes() == (ShapeSpec(16, 8),) * 3


def test_corner_padding_of_a_size_that_is_no_patch_multiple():
    model = tiny()
    x = torch.randn(1, 3, 30, 27)
    padded = F.pad(x, [0, 5, 0, 2])  # 'corner': zeros at the bottom / right up to 32 x 32
    for a, b in zip(model(x), model(padded)):
        torch.testing.assert_close(a, b)


def test_pos_embed_is_resized_to_another_grid():
    model = tiny(interpolate_mode="bicubic", final_norm=True)
    x = torch.randn(2, 3, 48, 64)  # a 6 x 8 grid; pos_embed is for 4 x 4
    expected = resize_pos_embed(model.pos_embed, (6, 8), (4, 4), mode="bicubic")
    grid = model.pos_embed[:, 1:].reshape(1, 4, 4, 16).permute(0, 3, 1, 2)
    by_hand = F.interpolate(grid, size=(6, 8), mode="bicubic", align_corners=False)
    torch.testing.assert_close(expected[:, 1:], by_hand.flatten(2).transpose(1, 2))
    torch.testing.assert_close(expected[:, :1], model.pos_embed[:, :1])
    with torch.no_grad():
        for ours, ref in zip(model(x), manual_forward(model, x, expected)):
            torch.testing.assert_close(ours, ref)
        # the training grid uses pos_embed as it is
        x = torch.randn(2, 3, 32, 32)
        for ours, ref in zip(model(x), manual_forward(model, x, model.pos_embed)):
            torch.testing.assert_close(ours, ref)


def test_bilinear_interpolate_mode_differs_from_bicubic():
    x = torch.randn(1, 3, 64, 64)
    bicubic = tiny(interpolate_mode="bicubic")(x)[-1]
    bilinear = tiny(interpolate_mode="bilinear")(x)[-1]
    assert not torch.allclose(bicubic, bilinear)


def test_state_dict_keys_match_mmseg():
    keys = list(tiny(num_layers=2, out_indices=-1, final_norm=True).state_dict())
    layer = ["ln1.weight", "ln1.bias", "attn.attn.in_proj_weight", "attn.attn.in_proj_bias",
             "attn.attn.out_proj.weight", "attn.attn.out_proj.bias", "ln2.weight", "ln2.bias",
             "ffn.layers.0.0.weight", "ffn.layers.0.0.bias", "ffn.layers.1.weight",
             "ffn.layers.1.bias"]
    assert keys == (["cls_token", "pos_embed", "patch_embed.projection.weight",
                     "patch_embed.projection.bias"]
                    + [f"layers.{n}.{k}" for n in range(2) for k in layer]
                    + ["ln1.weight", "ln1.bias"])
    sd = tiny().state_dict()
    assert sd["pos_embed"].shape == (1, 17, 16) and sd["cls_token"].shape == (1, 1, 16)
    assert sd["patch_embed.projection.bias"].shape == (16,)  # 0.x: always a patch bias
    assert sd["layers.0.ffn.layers.0.0.weight"].shape == (64, 16)  # mlp_ratio 4
    assert "ln1.weight" not in sd  # final_norm=False
    assert "patch_embed.norm.weight" in tiny(patch_norm=True).state_dict()


def test_out_indices_int_and_order():
    assert len(tiny(out_indices=-1)(torch.randn(1, 3, 32, 32))) == 1
    assert tiny(out_indices=-1).out_indices == (2,)
    assert tiny(out_indices=1).out_indices == (1,)
    assert len(tiny(out_indices=(2, 0)).output_shapes()) == 2
    with pytest.raises(ConfigError, match="not in 0..2"):
        tiny(out_indices=(0, 3))
    with pytest.raises(ConfigError, match="int, list or tuple"):
        tiny(out_indices="last")


def test_output_cls_token_pairs():
    model = tiny(output_cls_token=True)
    outs = model(torch.randn(2, 3, 40, 32))
    assert model.output_shapes() == (None, None, None)
    assert all(isinstance(o, list) and len(o) == 2 for o in outs)
    assert outs[0][0].shape == (2, 16, 5, 4) and outs[0][1].shape == (2, 16)
    with pytest.raises(ConfigError, match="with_cls_token=True"):
        tiny(output_cls_token=True, with_cls_token=False)


def test_without_cls_token_the_blocks_see_only_patches():
    model = tiny(with_cls_token=False)
    x = torch.randn(2, 3, 32, 32)
    tokens, _ = model.patch_embed(x)
    tokens = tokens + model.pos_embed[:, 1:]
    with torch.no_grad():
        for i, layer in enumerate(model.layers):
            tokens = layer(tokens)
            ref = tokens.transpose(1, 2).reshape(2, 16, 4, 4)
            torch.testing.assert_close(model(x)[i], ref)


def test_final_norm_is_ln1_after_the_last_block_only():
    with_norm, without = tiny(final_norm=True), tiny(final_norm=False)
    without.load_state_dict({k: v for k, v in with_norm.state_dict().items()
                             if not k.startswith("ln1.")})
    x = torch.randn(2, 3, 32, 32)
    a, b = with_norm(x), without(x)
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])
    normed = with_norm.ln1(b[2].flatten(2).transpose(1, 2)).transpose(1, 2).reshape(b[2].shape)
    torch.testing.assert_close(a[2], normed)


def test_with_cp_gives_the_same_outputs_and_gradients():
    plain, cp = tiny(drop_rate=0.0).train(), tiny(with_cp=True).train()
    cp.load_state_dict(plain.state_dict())
    assert all(layer.with_cp for layer in cp.layers)
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    grads = []
    for model in (plain, cp):
        x.grad = None
        model.zero_grad()
        out = model(x)
        sum(o.square().mean() for o in out).backward()
        grads.append((out, x.grad.clone(), model.layers[0].ffn.layers[1].weight.grad.clone()))
    for a, b in zip(grads[0][0], grads[1][0]):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(grads[0][1], grads[1][1])
    torch.testing.assert_close(grads[0][2], grads[1][2])


def test_drop_path_is_on_the_ffn_branch_only_and_grows_linearly():
    model = tiny(drop_path_rate=0.2)
    rates = [layer.ffn.dropout_layer.drop_prob if isinstance(layer.ffn.dropout_layer, DropPath)
             else 0.0 for layer in model.layers]
    assert rates == pytest.approx([0.0, 0.1, 0.2])
    assert not any(isinstance(m, DropPath) for layer in model.layers for m in layer.attn.modules())


def test_norm_eval_keeps_layer_norms_in_eval():
    model = tiny(norm_eval=True).train()
    assert model.training and not model.layers[0].ln1.training and not model.layers[0].ln2.training
    assert tiny().train().layers[0].ln1.training


def test_converted_original_weights_load_strictly():
    original = original_vit(dim=6, depth=2)
    model = VisionTransformer(img_size=4, patch_size=2, embed_dims=6, num_layers=2, num_heads=2,
                              final_norm=True)
    converted = convert_vit(original)
    model.load_state_dict(converted, strict=True)
    torch.testing.assert_close(model.layers[1].attn.attn.in_proj_weight,
                               original["blocks.1.attn.qkv.weight"])
    torch.testing.assert_close(model.ln1.weight, original["norm.weight"])
    assert model(torch.randn(1, 3, 4, 4))[0].shape == (1, 6, 2, 2)


def test_pretrained_pos_embed_is_resized_to_img_size(tmp_path):
    source = tiny(img_size=16)  # 2 x 2 grid
    path = tmp_path / "vit.pth"
    torch.save({"state_dict": source.state_dict()}, path)
    model = VisionTransformer(img_size=32, patch_size=8, embed_dims=16, num_layers=3, num_heads=2,
                              out_indices=(0, 1, 2), norm_cfg=LN, pretrained=str(path))
    assert model.init_cfg == dict(type="Pretrained", checkpoint=str(path))
    model.init_weights()
    expected = resize_pos_embed(source.pos_embed, (4, 4), (2, 2), mode="bicubic")
    torch.testing.assert_close(model.pos_embed, expected)
    torch.testing.assert_close(model.layers[2].ffn.layers[1].weight,
                               source.layers[2].ffn.layers[1].weight)


def test_default_init_follows_mmseg():
    torch.manual_seed(0)
    model = VisionTransformer(img_size=32, patch_size=8, embed_dims=16, num_layers=2, num_heads=2)
    model.init_weights()
    assert model.pos_embed.std().item() == pytest.approx(0.02, rel=0.2)
    assert model.layers[0].attn.attn.out_proj.bias.abs().max() == 0
    ffn_bias = model.layers[0].ffn.layers[0][0].bias
    assert 0 < ffn_bias.abs().max() < 1e-4
    assert model.patch_embed.projection.bias.abs().max() == 0
    assert torch.equal(model.layers[0].ln1.weight, torch.ones(16))


def test_registry_builds_and_rejects_typos():
    model = build_backbone(dict(type="VisionTransformer", img_size=(32, 32), patch_size=8,
                                embed_dims=16, num_layers=1, num_heads=2))
    assert model.img_size == (32, 32) and model.output_shapes() == (ShapeSpec(16, 8),)
    with pytest.raises(RegistryError, match="num_layer"):
        build_backbone(dict(type="VisionTransformer", num_layer=2))
