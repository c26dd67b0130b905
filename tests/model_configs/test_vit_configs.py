"""configs/vit (MMSegmentation v0.30.0's files) resolve to MMSeg's values.

The expected values are written out by hand from MMSegmentation v0.30.0's config files
(configs/vit/*.py and configs/_base_/models/upernet_vit-b16_ln_mln.py). Every config is built on
the meta device by tests/model_configs/test_configs_build.py; here the ViT-specific properties.
"""
import warnings
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.models import build_segmentor
from seglab.models.backbones import ShapeSpec

ROOT = Path(__file__).resolve().parents[2]
VIT_B, DEIT_B, DEIT_S = ("pretrain/vit_base_patch16_224.pth",
                         "pretrain/deit_base_patch16_224-b5f2ef4d.pth",
                         "pretrain/deit_small_patch16_224-cd65a155.pth")
# config -> (pretrained, embed_dims, num_heads, MultiLevelNeck, final_norm, drop_path, iters)
EXPECTED = {
    "upernet_vit-b16_mln_512x512_80k_ade20k.py": (VIT_B, 768, 12, True, False, 0.0, 80000),
    "upernet_vit-b16_mln_512x512_160k_ade20k.py": (VIT_B, 768, 12, True, False, 0.0, 160000),
    "upernet_vit-b16_ln_mln_512x512_160k_ade20k.py": (VIT_B, 768, 12, True, True, 0.1, 160000),
    "upernet_deit-b16_512x512_80k_ade20k.py": (DEIT_B, 768, 12, False, False, 0.1, 80000),
    "upernet_deit-b16_512x512_160k_ade20k.py": (DEIT_B, 768, 12, False, False, 0.1, 160000),
    "upernet_deit-b16_mln_512x512_160k_ade20k.py": (DEIT_B, 768, 12, True, False, 0.1, 160000),
    "upernet_deit-b16_ln_mln_512x512_160k_ade20k.py": (DEIT_B, 768, 12, True, True, 0.1, 160000),
    "upernet_deit-s16_512x512_80k_ade20k.py": (DEIT_S, 384, 6, False, False, 0.1, 80000),
    "upernet_deit-s16_512x512_160k_ade20k.py": (DEIT_S, 384, 6, False, False, 0.1, 160000),
    "upernet_deit-s16_mln_512x512_160k_ade20k.py": (DEIT_S, 384, 6, True, False, 0.1, 160000),
    "upernet_deit-s16_ln_mln_512x512_160k_ade20k.py": (DEIT_S, 384, 6, True, True, 0.1, 160000),
}


def test_the_v0_30_0_files_are_all_there():
    assert sorted(p.name for p in (ROOT / "configs/vit").glob("*.py")) == sorted(EXPECTED)


def test_base_model_resolves_to_mmseg_values():
    cfg = Config.fromfile(ROOT / "configs/_base_/models/upernet_vit-b16_ln_mln.py")
    sync_bn = {"type": "SyncBN", "requires_grad": True}
    ce = {"type": "CrossEntropyLoss", "use_sigmoid": False}
    assert cfg.model.to_dict() == {
        "type": "EncoderDecoder", "pretrained": "pretrain/jx_vit_base_p16_224-80ecf9dd.pth",
        "backbone": {
            "type": "VisionTransformer", "img_size": (512, 512), "patch_size": 16,
            "in_channels": 3, "embed_dims": 768, "num_layers": 12, "num_heads": 12,
            "mlp_ratio": 4, "out_indices": (2, 5, 8, 11), "qkv_bias": True, "drop_rate": 0.0,
            "attn_drop_rate": 0.0, "drop_path_rate": 0.0, "with_cls_token": True,
            "norm_cfg": {"type": "LN", "eps": 1e-6}, "act_cfg": {"type": "GELU"},
            "norm_eval": False, "interpolate_mode": "bicubic"},
        "neck": {"type": "MultiLevelNeck", "in_channels": [768, 768, 768, 768],
                 "out_channels": 768, "scales": [4, 2, 1, 0.5]},
        "decode_head": {"type": "UPerHead", "in_channels": [768, 768, 768, 768],
                        "in_index": [0, 1, 2, 3], "pool_scales": (1, 2, 3, 6), "channels": 512,
                        "dropout_ratio": 0.1, "num_classes": 19, "norm_cfg": sync_bn,
                        "align_corners": False, "loss_decode": {**ce, "loss_weight": 1.0}},
        "auxiliary_head": {"type": "FCNHead", "in_channels": 768, "in_index": 3, "channels": 256,
                           "num_convs": 1, "concat_input": False, "dropout_ratio": 0.1,
                           "num_classes": 19, "norm_cfg": sync_bn, "align_corners": False,
                           "loss_decode": {**ce, "loss_weight": 0.4}},
        "train_cfg": {}, "test_cfg": {"mode": "whole"}}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_config_resolves_to_mmseg_values(name):
    pretrained, dims, heads, mln, final_norm, drop_path, iters = EXPECTED[name]
    cfg = Config.fromfile(ROOT / "configs/vit" / name)
    b = cfg.model.backbone
    assert cfg.model.pretrained == pretrained
    assert (b.embed_dims, b.num_heads, b.final_norm if "final_norm" in b else False) == (
        dims, heads, final_norm)
    assert b.drop_path_rate == drop_path
    if mln:
        assert cfg.model.neck.to_dict() == {"type": "MultiLevelNeck", "in_channels": [dims] * 4,
                                            "out_channels": dims, "scales": [4, 2, 1, 0.5]}
    else:
        assert cfg.model.neck is None
    assert cfg.model.decode_head.in_channels == [dims] * 4
    assert cfg.model.auxiliary_head.in_channels == dims
    assert cfg.model.decode_head.num_classes == cfg.model.auxiliary_head.num_classes == 150
    assert cfg.optimizer.to_dict() == {
        "type": "AdamW", "lr": 0.00006, "betas": (0.9, 0.999), "weight_decay": 0.01,
        "paramwise_cfg": {"custom_keys": {"pos_embed": {"decay_mult": 0.0},
                                          "cls_token": {"decay_mult": 0.0},
                                          "norm": {"decay_mult": 0.0}}}}
    assert cfg.lr_config.to_dict() == {
        "policy": "poly", "warmup": "linear", "warmup_iters": 1500, "warmup_ratio": 1e-6,
        "power": 1.0, "min_lr": 0.0, "by_epoch": False}
    assert cfg.runner.max_iters == iters and cfg.data.samples_per_gpu == 2


@pytest.mark.parametrize("name", ["upernet_vit-b16_ln_mln_512x512_160k_ade20k.py",
                                  "upernet_deit-s16_512x512_80k_ade20k.py"])
def test_built_vit_has_mmseg_properties(name):
    _, dims, heads, mln, final_norm, drop_path, _ = EXPECTED[name]
    cfg = Config.fromfile(ROOT / "configs/vit" / name)
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        model = build_segmentor(cfg.model)
    vit = model.backbone
    assert (vit.embed_dims, len(vit.layers), vit.out_indices) == (dims, 12, (2, 5, 8, 11))
    assert vit.layers[0].attn.num_heads == heads and vit.final_norm == final_norm
    assert vit.pos_embed.shape == (1, 32 * 32 + 1, dims)  # img_size 512, patch 16
    assert vit.layers[-1].ffn.dropout_layer.drop_prob == pytest.approx(drop_path)
    assert (getattr(model, "neck", None) is not None) == mln
    if mln:
        assert model.neck.output_shapes(vit.output_shapes()) == (
            ShapeSpec(dims, 4), ShapeSpec(dims, 8), ShapeSpec(dims, 16), ShapeSpec(dims, 32))
