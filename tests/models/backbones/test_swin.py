from pathlib import Path

import pytest
import torch

from original_weights import swin as original_swin
from seglab.checkpoint.converters import convert_swin
from seglab.errors import ConfigError
from seglab.models import build_backbone
from seglab.models.backbones import SwinTransformer
from seglab.models.backbones.swin_attention import ShiftWindowMSA, shift_window_mask
from seglab.models.layers.pos_embed import swin_relative_position_index
from shared_data import SHARED

TINY = dict(embed_dims=8, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), window_size=3)


def _tiny(**kwargs) -> SwinTransformer:
    return SwinTransformer(**{**TINY, **kwargs})


@pytest.mark.parametrize("size", [(64, 64), (70, 50), (33, 47)])
def test_output_shapes_match_declaration(size):
    """Maps that are no window multiple are padded inside the attention, cropped after it."""
    model = _tiny().eval()
    with torch.inference_mode():
        outs = model(torch.randn(1, 3, *size))
    shapes = model.output_shapes()
    assert [s.channels for s in shapes] == [8, 16, 32, 64]
    assert [s.stride for s in shapes] == [4, 8, 16, 32]
    assert [tuple(o.shape) for o in outs] == [
        (1, s.channels, -(-size[0] // s.stride), -(-size[1] // s.stride)) for s in shapes]


def test_strides_and_patch_size_set_the_declared_strides():
    model = SwinTransformer(embed_dims=4, patch_size=2, strides=(2, 2, 2), depths=(1, 1, 1),
                            num_heads=(1, 1, 1), window_size=2, out_indices=(0, 1, 2))
    assert model.out_strides == (2, 4, 8) and model.out_channels == (4, 8, 16)
    with pytest.raises(ConfigError, match="patch_size"):
        SwinTransformer(patch_size=4, strides=(2, 2, 2, 2))


def test_state_dict_keys_equal_mmseg_fixture():
    path = Path(SHARED) / "data/mmseg-zoo/swin_upernet.state_dict.pth"
    if not path.is_file():
        pytest.skip("MMSeg zoo fixtures not available")
    theirs = {k[len("backbone."):]: tuple(v.shape) for k, v in
              torch.load(path, map_location="cpu", weights_only=True).items()
              if k.startswith("backbone.")}
    model = SwinTransformer(embed_dims=8, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4],
                            drop_path_rate=0.3)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == theirs


def test_state_dict_names():
    keys = set(_tiny().state_dict())
    assert {"patch_embed.projection.weight", "patch_embed.norm.weight",
            "stages.0.blocks.1.attn.w_msa.relative_position_bias_table",
            "stages.0.blocks.1.attn.w_msa.relative_position_index",
            "stages.0.blocks.0.attn.w_msa.qkv.weight", "stages.0.blocks.0.attn.w_msa.proj.bias",
            "stages.0.blocks.0.ffn.layers.0.0.weight", "stages.0.blocks.0.ffn.layers.1.weight",
            "stages.2.downsample.reduction.weight", "stages.2.downsample.norm.bias",
            "norm0.weight", "norm3.bias"} <= keys
    assert not any(k.startswith("stages.3.downsample") for k in keys)


def test_relative_position_index_buffer():
    model = _tiny()
    index = model.stages[0].blocks[0].attn.w_msa.relative_position_index
    assert torch.equal(index, swin_relative_position_index(3))


def _hand_mask(h: int, w: int, ws: int, shift: int) -> torch.Tensor:
    """After the roll, rows >= h - shift (and cols >= w - shift) came round from the other
    side; two tokens of one window may attend to each other iff they agree on both."""
    rows = torch.arange(h)[:, None].expand(h, w) >= h - shift
    cols = torch.arange(w)[None, :].expand(h, w) >= w - shift
    masks = []
    for i in range(0, h, ws):
        for j in range(0, w, ws):
            r = rows[i:i + ws, j:j + ws].reshape(-1)
            c = cols[i:i + ws, j:j + ws].reshape(-1)
            apart = (r[:, None] != r[None, :]) | (c[:, None] != c[None, :])
            masks.append(apart.float() * -100.0)
    return torch.stack(masks)


@pytest.mark.parametrize("h,w,ws,shift", [(4, 4, 2, 1), (6, 9, 3, 1), (8, 4, 4, 2)])
def test_shift_window_mask_equals_hand_built(h, w, ws, shift):
    assert torch.equal(shift_window_mask(h, w, ws, shift), _hand_mask(h, w, ws, shift))


def test_shift_window_mask_tiny_map_by_hand():
    mask = shift_window_mask(4, 4, 2, 1)
    assert mask.shape == (4, 4, 4)
    assert torch.equal(mask[0], torch.zeros(4, 4))  # top-left window: one region
    # Top-right window: tokens (0, 2), (0, 3), (1, 2), (1, 3); column 3 wrapped round.
    top_right = torch.tensor([[0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0.]]) * -100
    assert torch.equal(mask[1], top_right)
    # Bottom-right window: four regions, each token alone.
    assert torch.equal(mask[3], (1 - torch.eye(4)) * -100)


def test_shifted_windows_on_single_window_map_mix_nothing_across_regions():
    """With the map exactly one window, a shifted window sees four regions of the rolled map;
    each original pixel then only attends within its region, so changing a pixel of another
    region leaves it unchanged."""
    torch.manual_seed(0)
    attn = ShiftWindowMSA(embed_dims=4, num_heads=1, window_size=4, shift_size=2).eval()
    x = torch.randn(1, 16, 4)
    y = x.clone()
    y[0, 0] += 5.0  # pixel (0, 0): region of rows/cols 0..1 after the roll
    with torch.inference_mode():
        a, b = attn(x, (4, 4)), attn(y, (4, 4))
    assert torch.allclose(a[0, 15], b[0, 15])  # pixel (3, 3): another region
    assert not torch.allclose(a[0, 1], b[0, 1])  # pixel (0, 1): same region


def test_out_indices():
    model = _tiny(out_indices=(1, 3)).eval()
    assert not hasattr(model, "norm0") and hasattr(model, "norm1") and hasattr(model, "norm3")
    with torch.inference_mode():
        outs = model(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 16, 8, 8), (1, 64, 2, 2)]
    assert model.out_channels == (16, 64) and model.out_strides == (8, 32)
    with pytest.raises(ConfigError, match="out_indices"):
        _tiny(out_indices=(4,))


def test_frozen_stages():
    model = _tiny(frozen_stages=1, use_abs_pos_embed=True, pretrain_img_size=64)
    model.train()
    frozen = [model.patch_embed, model.stages[0], model.norm0]
    for module in frozen:
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
    assert not model.absolute_pos_embed.requires_grad
    assert model.stages[1].training and model.norm1.training
    assert all(p.requires_grad for p in model.stages[1].parameters())


def test_with_cp_same_outputs_and_grads():
    torch.manual_seed(0)
    plain = _tiny(drop_path_rate=0.0)
    ckpt = _tiny(drop_path_rate=0.0, with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    assert all(b.with_cp for s in ckpt.stages for b in s.blocks)
    x = torch.randn(1, 3, 40, 40)
    results = []
    for model in (plain, ckpt):
        outs = model(x)
        sum(o.sum() for o in outs).backward()
        grad = model.stages[0].blocks[1].attn.w_msa.qkv.weight.grad
        results.append(([o.detach() for o in outs], grad))
    (outs_a, grad_a), (outs_b, grad_b) = results
    for a, b in zip(outs_a, outs_b):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(grad_a, grad_b)


def test_abs_pos_embed_shape_and_other_sizes():
    model = _tiny(use_abs_pos_embed=True, pretrain_img_size=32).eval()
    assert tuple(model.absolute_pos_embed.shape) == (1, 64, 8)
    with torch.inference_mode():
        outs = model(torch.randn(1, 3, 48, 48))
    assert tuple(outs[0].shape) == (1, 8, 12, 12)


def test_registry_build_rejects_typo():
    with pytest.raises(Exception, match="window_sizes"):
        build_backbone(dict(type="SwinTransformer", window_sizes=7))


def test_converted_original_weights_load_into_same_tiny_model():
    """convert_swin's output fills every parameter of the blocks, patch embedding and merging of
    the same-size SwinTransformer. What MMSeg's model does not have (the classifier's final
    ``norm``, the original's ``attn_mask`` buffer) is left over, as in MMSeg (which loads it
    with strict=False); the per-output ``norm{i}`` and the index buffers the original does not
    store keep the model's own values. With those two sets accounted for the load is strict."""
    original = original_swin(dim=4, heads=2, window=2)
    converted = convert_swin(original)
    model = SwinTransformer(embed_dims=4, depths=(1, 1), num_heads=(2, 2), strides=(4, 2),
                            window_size=2, out_indices=(0, 1))
    own = model.state_dict()
    extra = set(converted) - set(own)
    assert extra == {"norm.weight", "norm.bias", "stages.1.blocks.0.attn_mask"}
    assert set(own) - set(converted) == {
        "stages.1.blocks.0.attn.w_msa.relative_position_index",
        "norm0.weight", "norm0.bias", "norm1.weight", "norm1.bias"}
    weights = {k: v for k, v in converted.items() if k not in extra}
    # The tiny original's index is a placeholder; real checkpoints store the computed one.
    for key, value in own.items():
        if key.endswith("relative_position_index") or key.startswith("norm"):
            weights[key] = value
    model.load_state_dict(weights, strict=True)
    assert torch.equal(model.stages[0].blocks[0].attn.w_msa.qkv.weight,
                       original["layers.0.blocks.0.attn.qkv.weight"])
    assert torch.equal(model.stages[1].blocks[0].ffn.layers[1].bias,
                       original["layers.1.blocks.0.mlp.fc2.bias"])
    assert torch.equal(model.patch_embed.projection.weight, original["patch_embed.proj.weight"])
    with torch.inference_mode():
        outs = model.eval()(torch.randn(1, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 4, 8, 8), (1, 8, 4, 4)]


def test_pretrained_checkpoint_adapted_and_loaded(tmp_path):
    """A whole-segmentor checkpoint (``backbone.`` prefix) trained with window 3 loads into a
    window-2 model: the bias tables are resized, every other weight is copied."""
    torch.manual_seed(0)
    source = SwinTransformer(embed_dims=4, depths=(2,), num_heads=(2,), strides=(4,),
                             window_size=3, out_indices=(0,))
    for p in source.parameters():
        p.data.normal_()
    path = tmp_path / "swin.pth"
    state = {f"backbone.{k}": v for k, v in source.state_dict().items()
             if not k.endswith("relative_position_index")}
    torch.save({"state_dict": state}, path)
    model = SwinTransformer(embed_dims=4, depths=(2,), num_heads=(2,), strides=(4,),
                            window_size=2, out_indices=(0,), pretrained=str(path))
    model.init_weights()
    table = model.stages[0].blocks[0].attn.w_msa.relative_position_bias_table
    assert tuple(table.shape) == (9, 2)
    assert torch.equal(model.stages[0].blocks[1].ffn.layers[0][0].weight,
                       source.stages[0].blocks[1].ffn.layers[0][0].weight)
    assert torch.equal(model.norm0.bias, source.norm0.bias)


def test_default_init():
    model = _tiny()
    model.init_weights()
    assert torch.equal(model.norm0.weight, torch.ones(8))
    assert torch.equal(model.stages[0].blocks[0].attn.w_msa.qkv.bias, torch.zeros(24))
    # MMCV's trunc_normal_init truncates at +-2 (absolute), so this is N(0, 0.02^2) in effect.
    assert 0.01 < model.stages[0].blocks[0].attn.w_msa.qkv.weight.std() < 0.03
