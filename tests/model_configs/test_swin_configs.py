"""configs/swin (MMSegmentation v0.30.0's files) resolve to MMSeg's values.

The expected values are written out by hand from MMSegmentation v0.30.0's config files
(configs/swin/*.py and configs/_base_/models/upernet_swin.py). Every config is built on the
meta device by tests/model_configs/test_configs_build.py; here the Swin-specific shapes.
"""
import warnings
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[2]
URL = "https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/swin/"
SYNC_BN = {"type": "SyncBN", "requires_grad": True}
PRE = "upernet_swin_{}_patch4_window{}_512x512_160k_ade20k_pretrain_{}.py"
LARGE = "upernet_swin_large_patch4_window{}_512x512_pretrain_{}_160k_ade20k.py"
# config -> (embed_dims, depths, num_heads, window_size, pretrain_img_size, checkpoint)
EXPECTED = {
    PRE.format("tiny", 7, "224x224_1K"): (
        96, [2, 2, 6, 2], [3, 6, 12, 24], 7, 224,
        "swin_tiny_patch4_window7_224_20220317-1cdeb081.pth"),
    PRE.format("small", 7, "224x224_1K"): (
        96, [2, 2, 18, 2], [3, 6, 12, 24], 7, 224,
        "swin_small_patch4_window7_224_20220317-7ba6d6dd.pth"),
    PRE.format("base", 7, "224x224_1K"): (
        128, [2, 2, 18, 2], [4, 8, 16, 32], 7, 224,
        "swin_base_patch4_window7_224_20220317-e9b98025.pth"),
    PRE.format("base", 7, "224x224_22K"): (
        128, [2, 2, 18, 2], [4, 8, 16, 32], 7, 224,
        "swin_base_patch4_window7_224_22k_20220317-4f79f7c0.pth"),
    PRE.format("base", 12, "384x384_1K"): (
        128, [2, 2, 18, 2], [4, 8, 16, 32], 12, 384,
        "swin_base_patch4_window12_384_20220317-55b0104a.pth"),
    PRE.format("base", 12, "384x384_22K"): (
        128, [2, 2, 18, 2], [4, 8, 16, 32], 12, 384,
        "swin_base_patch4_window12_384_22k_20220317-e5c09f74.pth"),
    LARGE.format(7, "224x224_22K"): (
        192, [2, 2, 18, 2], [6, 12, 24, 48], 7, 224,
        "swin_large_patch4_window7_224_22k_20220412-aeecf2aa.pth"),
    LARGE.format(12, "384x384_22K"): (
        192, [2, 2, 18, 2], [6, 12, 24, 48], 12, 384,
        "swin_large_patch4_window12_384_22k_20220412-6580f57d.pth"),
}


def test_the_v0_30_0_files_are_all_there():
    assert sorted(p.name for p in (ROOT / "configs/swin").glob("*.py")) == sorted(EXPECTED)


def test_tiny_resolves_to_mmseg_values():
    cfg = Config.fromfile(ROOT / "configs/swin" / PRE.format("tiny", 7, "224x224_1K"))
    ce = {"type": "CrossEntropyLoss", "use_sigmoid": False}
    assert cfg.model.to_dict() == {
        "type": "EncoderDecoder", "pretrained": None,
        "backbone": {
            "type": "SwinTransformer", "pretrain_img_size": 224, "embed_dims": 96,
            "patch_size": 4, "window_size": 7, "mlp_ratio": 4, "depths": [2, 2, 6, 2],
            "num_heads": [3, 6, 12, 24], "strides": (4, 2, 2, 2), "out_indices": (0, 1, 2, 3),
            "qkv_bias": True, "qk_scale": None, "patch_norm": True, "drop_rate": 0.0,
            "attn_drop_rate": 0.0, "drop_path_rate": 0.3, "use_abs_pos_embed": False,
            "act_cfg": {"type": "GELU"}, "norm_cfg": {"type": "LN", "requires_grad": True},
            "init_cfg": {"type": "Pretrained",
                         "checkpoint": URL + "swin_tiny_patch4_window7_224_20220317-1cdeb081.pth"}},
        "decode_head": {"type": "UPerHead", "in_channels": [96, 192, 384, 768],
                        "in_index": [0, 1, 2, 3], "pool_scales": (1, 2, 3, 6), "channels": 512,
                        "dropout_ratio": 0.1, "num_classes": 150, "norm_cfg": SYNC_BN,
                        "align_corners": False, "loss_decode": {**ce, "loss_weight": 1.0}},
        "auxiliary_head": {"type": "FCNHead", "in_channels": 384, "in_index": 2, "channels": 256,
                           "num_convs": 1, "concat_input": False, "dropout_ratio": 0.1,
                           "num_classes": 150, "norm_cfg": SYNC_BN, "align_corners": False,
                           "loss_decode": {**ce, "loss_weight": 0.4}},
        "train_cfg": {}, "test_cfg": {"mode": "whole"}}
    assert cfg.optimizer.to_dict() == {
        "type": "AdamW", "lr": 0.00006, "betas": (0.9, 0.999), "weight_decay": 0.01,
        "paramwise_cfg": {"custom_keys": {"absolute_pos_embed": {"decay_mult": 0.0},
                                          "relative_position_bias_table": {"decay_mult": 0.0},
                                          "norm": {"decay_mult": 0.0}}}}
    assert cfg.lr_config.to_dict() == {
        "policy": "poly", "warmup": "linear", "warmup_iters": 1500, "warmup_ratio": 1e-6,
        "power": 1.0, "min_lr": 0.0, "by_epoch": False}
    assert (cfg.data.samples_per_gpu, cfg.data.workers_per_gpu) == (2, 4)
    assert cfg.runner.max_iters == 160000 and cfg.crop_size == (512, 512)
    assert cfg.data.train.type == "ADE20KDataset" and cfg.model.test_cfg.mode == "whole"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_config_names_its_size_window_and_checkpoint(name):
    dims, depths, heads, window, pretrain_size, ckpt = EXPECTED[name]
    cfg = Config.fromfile(ROOT / "configs/swin" / name)
    b = cfg.model.backbone
    assert (b.embed_dims, b.depths, b.num_heads) == (dims, depths, heads)
    assert (b.window_size, b.pretrain_img_size) == (window, pretrain_size)
    assert b.init_cfg.to_dict() == {"type": "Pretrained", "checkpoint": URL + ckpt}
    assert cfg.model.pretrained is None and b.drop_path_rate == 0.3
    assert cfg.model.decode_head.in_channels == [dims, 2 * dims, 4 * dims, 8 * dims]
    assert cfg.model.auxiliary_head.in_channels == 4 * dims


@pytest.mark.parametrize("name", [PRE.format("tiny", 7, "224x224_1K"),
                                  LARGE.format(12, "384x384_22K")])
def test_built_swin_has_mmseg_shapes(name):
    dims, depths, heads, window, _, _ = EXPECTED[name]
    cfg = Config.fromfile(ROOT / "configs/swin" / name)
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        model = build_segmentor(cfg.model)
    assert model.backbone.out_channels == (dims, 2 * dims, 4 * dims, 8 * dims)
    assert model.backbone.out_strides == (4, 8, 16, 32)
    state = model.state_dict()
    table = state["backbone.stages.3.blocks.1.attn.w_msa.relative_position_bias_table"]
    assert tuple(table.shape) == ((2 * window - 1) ** 2, heads[3])
    assert f"backbone.stages.2.blocks.{depths[2] - 1}.ffn.layers.1.weight" in state
