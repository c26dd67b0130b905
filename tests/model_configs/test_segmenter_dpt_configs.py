"""configs/segmenter and configs/dpt (MMSegmentation v0.30.0's files) resolve to MMSeg's values.

The expected values are written out by hand from MMSegmentation v0.30.0's config files
(configs/{segmenter,dpt}/*.py and configs/_base_/models/{segmenter_vit-b16_mask,dpt_vit-b16}.py).
Every config is built on the meta device by tests/model_configs/test_configs_build.py; here what
the built Segmenter (ViT-T/S/B/L + mask transformer, ViT-S + linear) and DPT models hold.
"""
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.models import build_segmentor
from seglab.models.decode_heads import DPTHead, FCNHead, SegmenterMaskTransformerHead

ROOT = Path(__file__).resolve().parents[2]
SEGMENTER = sorted(p.name for p in (ROOT / "configs/segmenter").glob("*.py"))
SEG_URL = "https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segmenter/"
# name part -> (embed_dims, layers, heads, img_size, checkpoint file)
VARIANTS = {
    "vit-t": (192, 12, 3, 512, "vit_tiny_p16_384_20220308-cce8c795.pth"),
    "vit-s": (384, 12, 6, 512, "vit_small_p16_384_20220308-410f6037.pth"),
    "vit-b": (768, 12, 12, 512, "vit_base_p16_384_20220308-96dfe169.pth"),
    "vit-l": (1024, 24, 16, 640, "vit_large_p16_384_20220308-d4efb41d.pth"),
}


def test_the_v0_30_0_files_are_all_there():
    assert SEGMENTER == [
        "segmenter_vit-b_mask_8x1_512x512_160k_ade20k.py",
        "segmenter_vit-l_mask_8x1_640x640_160k_ade20k.py",
        "segmenter_vit-s_linear_8x1_512x512_160k_ade20k.py",
        "segmenter_vit-s_mask_8x1_512x512_160k_ade20k.py",
        "segmenter_vit-t_mask_8x1_512x512_160k_ade20k.py"]
    assert sorted(p.name for p in (ROOT / "configs/dpt").glob("*.py")) == [
        "dpt_vit-b16_512x512_160k_ade20k.py"]


@pytest.mark.parametrize("name", SEGMENTER)
def test_segmenter_config_resolves_and_builds_to_mmseg_values(name):
    cfg = Config.fromfile(ROOT / "configs/segmenter" / name)
    with torch.device("meta"):
        model = build_segmentor(cfg.model)
    dims, layers, heads, size, ckpt = VARIANTS[name.split("_")[1]]
    vit = model.backbone
    assert (vit.embed_dims, len(vit.layers), vit.img_size) == (dims, layers, (size, size))
    assert vit.layers[0].attn.attn.num_heads == heads
    assert vit.final_norm and vit.with_cls_token and vit.out_indices == (layers - 1,)
    assert vit.ln1.eps == 1e-6 and vit.interpolate_mode == "bicubic"
    assert vit.init_cfg == dict(type="Pretrained", checkpoint=SEG_URL + ckpt)
    head = model.decode_head
    assert head.num_classes == 150 and head.in_channels == dims
    if "_linear_" in name:
        assert isinstance(head, FCNHead) and head.num_convs == 0 and not head.concat_input
        assert head.conv_seg.in_channels == dims
    else:
        assert isinstance(head, SegmenterMaskTransformerHead) and len(head.layers) == 2
        assert head.cls_emb.shape == (1, 150, dims)
        assert head.layers[0].attn.attn.num_heads == heads
    assert cfg.model.test_cfg == dict(mode="slide", crop_size=(size, size),
                                      stride=(size - 32, size - 32))
    assert cfg.optimizer.lr == 0.001 and cfg.optimizer.weight_decay == 0.0
    assert cfg.data.samples_per_gpu == 1 and cfg.crop_size == (size, size)
    assert cfg.img_norm_cfg.mean == [127.5, 127.5, 127.5]
    # ViT-L: ADE20K at 640 (_base_/datasets/ade20k_640x640.py), images resized to (2560, 640)
    assert cfg.train_pipeline[2].img_scale == (4 * size, size)
    assert cfg.data.test.pipeline[1].img_scale == (4 * size, size)
    assert cfg.data.train.pipeline == cfg.train_pipeline


def test_dpt_config_resolves_and_builds_to_mmseg_values():
    cfg = Config.fromfile(ROOT / "configs/dpt/dpt_vit-b16_512x512_160k_ade20k.py")
    with torch.device("meta"):
        model = build_segmentor(cfg.model)
    vit = model.backbone
    assert vit.output_cls_token and vit.out_indices == (2, 5, 8, 11) and not vit.final_norm
    assert vit.img_size == (224, 224)
    assert vit.init_cfg == dict(type="Pretrained",
                                checkpoint="pretrain/vit-b16_p16_224-80ecf9dd.pth")
    head = model.decode_head
    assert isinstance(head, DPTHead) and head.num_classes == 150 and head.channels == 256
    assert head.reassemble_blocks.readout_type == "project"
    assert [p.conv.out_channels for p in head.reassemble_blocks.projects] == [96, 192, 384, 768]
    assert not model.with_auxiliary_head
    assert cfg.optimizer.to_dict() == {
        "type": "AdamW", "lr": 0.00006, "betas": (0.9, 0.999), "weight_decay": 0.01,
        "paramwise_cfg": {"custom_keys": {"pos_embed": {"decay_mult": 0.0},
                                          "cls_token": {"decay_mult": 0.0},
                                          "norm": {"decay_mult": 0.0}}}}
    assert cfg.lr_config.to_dict() == {
        "policy": "poly", "warmup": "linear", "warmup_iters": 1500, "warmup_ratio": 1e-6,
        "power": 1.0, "min_lr": 0.0, "by_epoch": False}
    assert (cfg.data.samples_per_gpu, cfg.data.workers_per_gpu) == (2, 2)
    assert cfg.model.test_cfg.mode == "whole"
