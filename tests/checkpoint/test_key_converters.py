"""Key converters for the original weights: MMSegmentation 0.x's renaming rules, key by key.

seglab has no MiT, Swin, ViT, BEiT or Twins backbone yet, so these tests check the rules of
MMSegmentation's ``tools/model_converters/*2mmseg.py`` (exact output keys, shapes and values) and,
where the rule changes values, that the result computes the same thing (Swin's patch merging,
ViT's fused qkv as ``nn.MultiheadAttention``), not loading into a seglab backbone.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from original_weights import beit, mit, swin, twins, vit

from seglab.checkpoint.converters import (convert_beit, convert_mit, convert_swin, convert_twins,
                                          convert_vit)
from seglab.errors import CheckpointError


def _stage_keys(prefix: str, names: str) -> list:
    return [f"{prefix}{name}" for name in names.split()]


def test_mit_stages_become_layers_with_q_and_kv_in_one_in_proj():
    src = mit()
    out = convert_mit(src)
    block = _stage_keys("layers.0.1.0.", (
        "norm1.weight norm1.bias attn.attn.in_proj_weight attn.attn.in_proj_bias "
        "attn.attn.out_proj.weight attn.attn.out_proj.bias attn.sr.weight attn.sr.bias "
        "attn.norm.weight attn.norm.bias norm2.weight norm2.bias ffn.layers.0.weight "
        "ffn.layers.0.bias ffn.layers.1.weight ffn.layers.1.bias ffn.layers.4.weight "
        "ffn.layers.4.bias"))
    stage0 = (_stage_keys("layers.0.0.", "projection.weight projection.bias norm.weight "
                                         "norm.bias") + block + ["layers.0.2.weight",
                                                                 "layers.0.2.bias"])
    assert list(out)[:len(stage0)] == stage0
    stage1 = [k for k in out if k.startswith("layers.1.")]
    assert stage1 == [k.replace("layers.0.", "layers.1.", 1) for k in stage0
                      if ".attn.sr." not in k and ".attn.norm." not in k]
    assert len(out) == len(src) - 2 * 2 - 2  # kv merged into q (2 stages x 2), head dropped
    assert torch.equal(out["layers.0.1.0.attn.attn.in_proj_weight"],
                       torch.cat([src["block1.0.attn.q.weight"], src["block1.0.attn.kv.weight"]]))
    assert torch.equal(out["layers.1.1.0.attn.attn.in_proj_bias"],
                       torch.cat([src["block2.0.attn.q.bias"], src["block2.0.attn.kv.bias"]]))
    assert out["layers.1.1.0.attn.attn.in_proj_weight"].shape == (3 * 8, 8)
    # MixFFN's linears become 1x1 convs; the depth-wise conv and all biases keep their shapes.
    fc1, fc2 = out["layers.0.1.0.ffn.layers.0.weight"], out["layers.0.1.0.ffn.layers.4.weight"]
    assert fc1.shape == (16, 4, 1, 1) and fc2.shape == (4, 16, 1, 1)
    assert torch.equal(fc1.flatten(1), src["block1.0.mlp.fc1.weight"])
    assert torch.equal(out["layers.0.1.0.ffn.layers.1.weight"],
                       src["block1.0.mlp.dwconv.dwconv.weight"])
    assert torch.equal(out["layers.0.1.0.ffn.layers.4.bias"], src["block1.0.mlp.fc2.bias"])
    assert torch.equal(out["layers.1.2.weight"], src["norm2.weight"])
    assert torch.equal(out["layers.1.0.projection.weight"], src["patch_embed2.proj.weight"])


def test_swin_keys_move_under_stages_w_msa_and_ffn():
    src = swin()
    out = convert_swin(src)
    assert not [k for k in out if k.startswith(("head", "layers"))]
    expected = ["patch_embed.projection.weight", "patch_embed.projection.bias",
                "patch_embed.norm.weight", "patch_embed.norm.bias"] + _stage_keys(
        "stages.0.blocks.0.", (
            "norm1.weight norm1.bias attn.w_msa.relative_position_bias_table "
            "attn.w_msa.qkv.weight attn.w_msa.qkv.bias attn.w_msa.proj.weight "
            "attn.w_msa.proj.bias norm2.weight norm2.bias ffn.layers.0.0.weight "
            "ffn.layers.0.0.bias ffn.layers.1.weight ffn.layers.1.bias"))
    assert list(out)[:len(expected)] == expected
    assert list(out)[-7:] == ["stages.0.downsample.reduction.weight",
                              "stages.0.downsample.norm.weight", "stages.0.downsample.norm.bias",
                              "norm.weight", "norm.bias",
                              "stages.0.blocks.0.attn.w_msa.relative_position_index",
                              "stages.1.blocks.0.attn_mask"]
    assert len(out) == len(src) - 2
    for old, new in (("layers.1.blocks.0.attn.qkv.weight", "stages.1.blocks.0.attn.w_msa.qkv."
                                                           "weight"),
                     ("layers.1.blocks.0.mlp.fc2.bias", "stages.1.blocks.0.ffn.layers.1.bias"),
                     ("layers.1.blocks.0.attn_mask", "stages.1.blocks.0.attn_mask")):
        assert torch.equal(out[new], src[old])


def test_swin_patch_merging_is_reordered_from_strided_slices_to_unfold_order():
    src = swin(dim=4)
    out = convert_swin(src)
    weight = src["layers.0.downsample.reduction.weight"]
    norm_w = src["layers.0.downsample.norm.weight"]
    new_w = out["stages.0.downsample.reduction.weight"]
    new_norm_w = out["stages.0.downsample.norm.weight"]
    assert new_w.shape == weight.shape == (8, 16) and new_norm_w.shape == (16,)
    c = 4
    for channel in range(c):  # unfold column channel*4 + j holds the original's slice [0,2,1,3][j]
        for j, part in enumerate((0, 2, 1, 3)):
            assert torch.equal(new_w[:, channel * 4 + j], weight[:, part * c + channel])
            assert torch.equal(new_norm_w[channel * 4 + j], norm_w[part * c + channel])
    # The same merging computed both ways: the original's concat of strided slices vs nn.Unfold.
    x = torch.randn(1, c, 6, 6)
    slices = [x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]]
    orig = torch.cat(slices, 1).flatten(2).transpose(1, 2)  # (1, 9, 4C)
    unfold = F.unfold(x, kernel_size=2, stride=2).transpose(1, 2)
    bias = src["layers.0.downsample.norm.bias"]
    ref = F.layer_norm(orig, (4 * c,), norm_w, bias) @ weight.T
    new_bias = out["stages.0.downsample.norm.bias"]
    got = F.layer_norm(unfold, (4 * c,), new_norm_w, new_bias) @ new_w.T
    torch.testing.assert_close(got, ref)


def test_vit_blocks_become_layers_and_the_fused_qkv_is_the_in_proj():
    src = vit(deit=True)
    out = convert_vit(src)
    block = _stage_keys("layers.0.", (
        "ln1.weight ln1.bias attn.attn.in_proj_weight attn.attn.in_proj_bias "
        "attn.attn.out_proj.weight attn.attn.out_proj.bias ln2.weight ln2.bias "
        "ffn.layers.0.0.weight ffn.layers.0.0.bias ffn.layers.1.weight ffn.layers.1.bias"))
    assert list(out) == (["cls_token", "pos_embed", "patch_embed.projection.weight",
                          "patch_embed.projection.bias", "dist_token"] + block
                         + [k.replace("layers.0.", "layers.1.", 1) for k in block]
                         + ["ln1.weight", "ln1.bias"])  # head and DeiT's head_dist dropped
    assert torch.equal(out["layers.1.attn.attn.in_proj_weight"], src["blocks.1.attn.qkv.weight"])
    assert torch.equal(out["ln1.bias"], src["norm.bias"])
    # timm's attention with the fused qkv == nn.MultiheadAttention with it as in_proj.
    dim, heads = 6, 2
    mha = torch.nn.MultiheadAttention(dim, heads, batch_first=True)
    mha.load_state_dict({k[len("layers.0.attn.attn."):]: v for k, v in out.items()
                         if k.startswith("layers.0.attn.attn.")})
    x = torch.randn(2, 5, dim)
    qkv = F.linear(x, src["blocks.0.attn.qkv.weight"], src["blocks.0.attn.qkv.bias"])
    q, k, v = qkv.reshape(2, 5, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
    attn = ((q @ k.transpose(-2, -1)) * (dim // heads) ** -0.5).softmax(-1)
    ref = F.linear((attn @ v).transpose(1, 2).reshape(2, 5, dim), src["blocks.0.attn.proj.weight"],
                   src["blocks.0.attn.proj.bias"])
    with torch.inference_mode():
        torch.testing.assert_close(mha(x, x, x, need_weights=False)[0], ref)


def test_beit_keys_get_the_backbone_prefix_and_keep_their_attention_names():
    src = beit()
    out = convert_beit(src)
    assert list(out) == ["backbone." + k for k in (
        "cls_token patch_embed.projection.weight patch_embed.projection.bias layers.0.gamma_1 "
        "layers.0.gamma_2 layers.0.ln1.weight layers.0.ln1.bias layers.0.attn.q_bias "
        "layers.0.attn.v_bias layers.0.attn.qkv.weight "
        "layers.0.attn.relative_position_bias_table layers.0.attn.proj.weight "
        "layers.0.attn.proj.bias layers.0.ln2.weight layers.0.ln2.bias "
        "layers.0.ffn.layers.0.0.weight layers.0.ffn.layers.0.0.bias layers.0.ffn.layers.1.weight "
        "layers.0.ffn.layers.1.bias").split()]  # fc_norm and head dropped
    assert torch.equal(out["backbone.layers.0.gamma_2"], src["blocks.0.gamma_2"])
    assert torch.equal(out["backbone.layers.0.ffn.layers.1.weight"], src["blocks.0.mlp.fc2.weight"])


def test_twins_pcpvt_merges_q_kv_and_renames_every_proj():
    src = twins("pcpvt")
    out = convert_twins(src, "pcpvt")
    stage0 = (_stage_keys("patch_embeds.0.", "projection.weight projection.bias norm.weight "
                                             "norm.bias")
              + ["position_encodings.0.proj.weight", "position_encodings.0.proj.bias"]
              + _stage_keys("layers.0.0.", (
                  "norm1.weight norm1.bias attn.attn.in_proj_weight attn.attn.in_proj_bias "
                  "attn.sr.weight attn.sr.bias attn.norm.weight attn.norm.bias "
                  "attn.attn.out_proj.weight attn.attn.out_proj.bias norm2.weight norm2.bias "
                  "ffn.layers.0.0.weight ffn.layers.0.0.bias ffn.layers.1.weight "
                  "ffn.layers.1.bias")))
    assert list(out) == stage0 + [k.replace(".0.", ".1.", 1) for k in stage0] + ["norm.weight",
                                                                                  "norm.bias"]
    assert torch.equal(out["layers.1.0.attn.attn.in_proj_weight"],
                       torch.cat([src["blocks.1.0.attn.q.weight"],
                                  src["blocks.1.0.attn.kv.weight"]]))
    assert torch.equal(out["position_encodings.1.proj.weight"], src["pos_block.1.proj.0.weight"])


def test_twins_svt_renames_proj_only_in_the_odd_global_attention_blocks():
    src = twins("svt")
    out = convert_twins(src, "svt")
    for stage in (0, 1):
        local, glob = f"layers.{stage}.0.attn.", f"layers.{stage}.1.attn."
        assert [k[len(local):] for k in out if k.startswith(local)] == [
            "qkv.weight", "qkv.bias", "proj.weight", "proj.bias"]
        assert [k[len(glob):] for k in out if k.startswith(glob)] == [
            "attn.in_proj_weight", "attn.in_proj_bias", "sr.weight", "sr.bias", "norm.weight",
            "norm.bias", "attn.out_proj.weight", "attn.out_proj.bias"]
    assert torch.equal(out["layers.1.0.attn.proj.weight"], src["blocks.1.0.attn.proj.weight"])
    assert torch.equal(out["layers.1.1.attn.attn.out_proj.bias"], src["blocks.1.1.attn.proj.bias"])
    assert not [k for k in out if "attn.kv." in k or k.startswith(("head", "blocks"))]


@pytest.mark.parametrize("convert, weights", [
    (convert_mit, swin), (convert_swin, mit), (convert_vit, mit), (convert_beit, twins),
    (lambda sd: convert_twins(sd, "pcpvt"), vit)])
def test_another_familys_weights_are_refused_naming_the_keys(convert, weights):
    src = weights()
    with pytest.raises(CheckpointError, match="do not have the layout of the original") as info:
        convert(src)
    assert repr(next(iter(src))) in str(info.value)  # the keys found are named


def test_converted_weights_are_refused_as_already_converted():
    with pytest.raises(CheckpointError, match="look converted already") as info:
        convert_mit(convert_mit(mit()))
    assert "'layers.0.0.projection.weight'" in str(info.value)
    with pytest.raises(CheckpointError, match="look converted already"):
        convert_vit(convert_beit(beit()))


def test_broken_originals_are_refused_naming_the_key():
    src = mit()
    del src["block2.0.attn.kv.weight"]
    with pytest.raises(CheckpointError, match="'block2.0.attn.q.weight' has no partner "
                                              "'block2.0.attn.kv.weight'"):
        convert_mit(src)
    src = swin()
    src["layers.0.downsample.norm.weight"] = torch.zeros(15)
    with pytest.raises(CheckpointError,
                       match=r"'layers.0.downsample.norm.weight' has shape \[15\]"):
        convert_swin(src)


def test_twins_variant_must_match_the_weights():
    with pytest.raises(CheckpointError, match="Twins-SVT weights, not PCPVT; convert them with "
                                              "model 'svt'"):
        convert_twins(twins("svt"), "pcpvt")
    with pytest.raises(CheckpointError, match="Twins-PCPVT weights, not SVT"):
        convert_twins(twins("pcpvt"), "svt")
    with pytest.raises(CheckpointError, match="must be 'pcpvt' or 'svt', got 'alt'"):
        convert_twins(twins("svt"), "alt")
