"""configs/knet (MMSegmentation v0.30.0's files) resolve to MMSeg's values.

The expected values are written out by hand from MMSegmentation v0.30.0's configs/knet/*.py (and
the ADE20K dataset / 80k schedule bases they name). That every file builds is
tests/model_configs/test_configs_build.py's job; here the R50 UPerNet and Swin-L models are built
on the meta device to check K-Net's parameter layout at full width.
"""
import warnings
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[2]
KNET = ROOT / "configs/knet"
SYNC_BN = {"type": "SyncBN", "requires_grad": True}
RELU = {"type": "ReLU", "inplace": True}
CE = {"type": "CrossEntropyLoss", "use_sigmoid": False}
SWIN_URL = "https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/swin/"
R50 = "knet_s3_{}_r50-d8_8x2_512x512_adamw_80k_ade20k.py"
SWIN = "knet_s3_upernet_swin-{}_8x2_{}_adamw_80k_ade20k.py"
UPDATE_HEAD = {
    "type": "KernelUpdateHead", "num_classes": 150, "num_ffn_fcs": 2, "num_heads": 8,
    "num_mask_fcs": 1, "feedforward_channels": 2048, "in_channels": 512, "out_channels": 512,
    "dropout": 0.0, "conv_kernel_size": 1, "ffn_act_cfg": RELU, "with_ffn": True,
    "feat_transform_cfg": {"conv_cfg": {"type": "Conv2d"}, "act_cfg": None},
    "kernel_updator_cfg": {"type": "KernelUpdator", "in_channels": 256, "feat_channels": 256,
                           "out_channels": 256, "act_cfg": RELU, "norm_cfg": {"type": "LN"}}}
AUX = {"type": "FCNHead", "in_channels": 1024, "in_index": 2, "channels": 256, "num_convs": 1,
       "concat_input": False, "dropout_ratio": 0.1, "num_classes": 150, "norm_cfg": SYNC_BN,
       "align_corners": False, "loss_decode": {**CE, "loss_weight": 0.4}}
# kernel_generate_head of each R50 file, before dropout_ratio / num_classes / norm / loss
GENERATORS = {
    "fcn": {"type": "FCNHead", "in_channels": 2048, "in_index": 3, "channels": 512,
            "num_convs": 2, "concat_input": True},
    "deeplabv3": {"type": "ASPPHead", "in_channels": 2048, "in_index": 3, "channels": 512,
                  "dilations": (1, 12, 24, 36)},
    "pspnet": {"type": "PSPHead", "in_channels": 2048, "in_index": 3, "channels": 512,
               "pool_scales": (1, 2, 3, 6)},
    "upernet": {"type": "UPerHead", "in_channels": [256, 512, 1024, 2048],
                "in_index": [0, 1, 2, 3], "pool_scales": (1, 2, 3, 6), "channels": 512},
}
ADAMW = {"type": "AdamW", "lr": 0.0001, "weight_decay": 0.0005}
STEP_LR = {"policy": "step", "warmup": "linear", "warmup_iters": 1000, "warmup_ratio": 0.001,
           "step": [60000, 72000], "by_epoch": False}


def _meta_model(cfg):
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        return build_segmentor(cfg.model)


def _load(name):
    return Config.fromfile(KNET / name)


def test_the_v0_30_0_files_are_all_there():
    assert sorted(p.name for p in KNET.glob("*.py")) == sorted(
        [R50.format(g) for g in GENERATORS]
        + [SWIN.format("t", "512x512"), SWIN.format("l", "512x512"), SWIN.format("l", "640x640")])


def _check_schedule(cfg, optimizer):
    assert cfg.optimizer.to_dict() == optimizer
    assert cfg.optimizer_config.to_dict() == {"grad_clip": {"max_norm": 1, "norm_type": 2}}
    assert cfg.lr_config.to_dict() == STEP_LR
    assert cfg.runner.to_dict() == {"type": "IterBasedRunner", "max_iters": 80000}
    assert cfg.checkpoint_config.interval == 8000 and cfg.evaluation.interval == 8000
    assert (cfg.data.samples_per_gpu, cfg.data.workers_per_gpu) == (2, 2)


@pytest.mark.parametrize("generator", GENERATORS)
def test_r50_files_resolve_to_mmseg_values(generator):
    cfg = _load(R50.format(generator))
    upernet = generator == "upernet"  # UPerNet reads all four strides; the rest are D8
    assert cfg.model.to_dict() == {
        "type": "EncoderDecoder", "pretrained": "open-mmlab://resnet50_v1c",
        "backbone": {"type": "ResNetV1c", "depth": 50, "num_stages": 4,
                     "out_indices": (0, 1, 2, 3),
                     "dilations": (1, 1, 1, 1) if upernet else (1, 1, 2, 4),
                     "strides": (1, 2, 2, 2) if upernet else (1, 2, 1, 1),
                     "norm_cfg": SYNC_BN, "norm_eval": False, "style": "pytorch",
                     "contract_dilation": True},
        "decode_head": {
            "type": "IterativeDecodeHead", "num_stages": 3,
            "kernel_update_head": [UPDATE_HEAD] * 3,
            "kernel_generate_head": {**GENERATORS[generator], "dropout_ratio": 0.1,
                                     "num_classes": 150, "norm_cfg": SYNC_BN,
                                     "align_corners": False,
                                     "loss_decode": {**CE, "loss_weight": 1.0}}},
        "auxiliary_head": AUX, "train_cfg": {}, "test_cfg": {"mode": "whole"}}
    assert (cfg.num_stages, cfg.conv_kernel_size) == (3, 1)
    _check_schedule(cfg, ADAMW)
    assert cfg.crop_size == (512, 512) and cfg.train_pipeline[3].crop_size == (512, 512)
    assert cfg.data.train.type == "ADE20KDataset"
    assert cfg.data.test.pipeline[1].img_scale == (2048, 512)


SWIN_OPTIMIZER = {
    "type": "AdamW", "lr": 0.00006, "betas": (0.9, 0.999), "weight_decay": 0.0005,
    "paramwise_cfg": {"custom_keys": {"absolute_pos_embed": {"decay_mult": 0.0},
                                      "relative_position_bias_table": {"decay_mult": 0.0},
                                      "norm": {"decay_mult": 0.0}}}}


def test_swin_t_replaces_the_backbone():
    cfg = _load(SWIN.format("t", "512x512"))
    model = cfg.model.to_dict()
    assert model["pretrained"] == SWIN_URL + "swin_tiny_patch4_window7_224_20220308-f41b89d3.pth"
    assert model["backbone"] == {
        "type": "SwinTransformer", "embed_dims": 96, "depths": [2, 2, 6, 2],
        "num_heads": [3, 6, 12, 24], "window_size": 7, "mlp_ratio": 4, "qkv_bias": True,
        "qk_scale": None, "drop_rate": 0.0, "attn_drop_rate": 0.0, "drop_path_rate": 0.3,
        "use_abs_pos_embed": False, "patch_norm": True, "out_indices": (0, 1, 2, 3)}
    generator = model["decode_head"]["kernel_generate_head"]
    assert generator == {**GENERATORS["upernet"], "in_channels": [96, 192, 384, 768],
                         "dropout_ratio": 0.1, "num_classes": 150, "norm_cfg": SYNC_BN,
                         "align_corners": False, "loss_decode": {**CE, "loss_weight": 1.0}}
    assert model["decode_head"]["kernel_update_head"] == [UPDATE_HEAD] * 3
    assert model["auxiliary_head"] == {**AUX, "in_channels": 384}
    _check_schedule(cfg, SWIN_OPTIMIZER)


@pytest.mark.parametrize("crop, drop_path", [(512, 0.3), (640, 0.4)])
def test_swin_l_files(crop, drop_path):
    cfg = _load(SWIN.format("l", f"{crop}x{crop}"))
    assert cfg.model.pretrained == (
        SWIN_URL + "swin_large_patch4_window7_224_22k_20220308-d5bdebaf.pth")
    backbone = cfg.model.backbone
    assert (backbone.embed_dims, backbone.depths, backbone.num_heads) == (
        192, [2, 2, 18, 2], [6, 12, 24, 48])
    assert (backbone.window_size, backbone.drop_path_rate, backbone.mlp_ratio) == (7, drop_path, 4)
    assert cfg.model.decode_head.kernel_generate_head.in_channels == [192, 384, 768, 1536]
    assert cfg.model.auxiliary_head.in_channels == 768
    _check_schedule(cfg, SWIN_OPTIMIZER)
    assert cfg.crop_size == (crop, crop)
    assert cfg.train_pipeline[2].to_dict() == {"type": "Resize", "img_scale": (2048, crop),
                                               "ratio_range": (0.5, 2.0)}
    assert cfg.train_pipeline[3].crop_size == (crop, crop)
    assert cfg.train_pipeline[7].to_dict() == {"type": "Pad", "size": (crop, crop), "pad_val": 0,
                                               "seg_pad_val": 255}
    assert cfg.data.train.pipeline == cfg.train_pipeline
    assert cfg.data.test.pipeline[1].img_scale == (2048, crop)
    assert cfg.data.val.pipeline[1].flip is False


# Full-width K-Net parameters (MMSeg 0.x keys and shapes): 150 kernels of 512 channels updated
# by 256-wide KernelUpdator groups, 8-head attention over the 150 kernels, FFN 512 -> 2048.
STAGE_SHAPES = {
    "attention.attn.in_proj_weight": (1536, 512), "attention.attn.out_proj.weight": (512, 512),
    "attention_norm.weight": (512,),
    "kernel_update_conv.dynamic_layer.weight": (512, 256),
    "kernel_update_conv.input_layer.weight": (512, 256),
    "kernel_update_conv.input_gate.weight": (256, 256),
    "kernel_update_conv.update_gate.bias": (256,), "kernel_update_conv.norm_in.weight": (256,),
    "kernel_update_conv.input_norm_out.bias": (256,),
    "kernel_update_conv.fc_layer.weight": (256, 256), "kernel_update_conv.fc_norm.weight": (256,),
    "feat_transform.conv.weight": (512, 512, 1, 1), "feat_transform.conv.bias": (512,),
    "ffn.layers.0.0.weight": (2048, 512), "ffn.layers.1.weight": (512, 2048),
    "ffn_norm.weight": (512,), "mask_fcs.0.weight": (512, 512), "mask_fcs.1.weight": (512,),
    "fc_mask.weight": (512, 512), "fc_mask.bias": (512,)}


@pytest.mark.parametrize("name, lateral_in", [(R50.format("upernet"), 256),
                                              (SWIN.format("l", "640x640"), 192)])
def test_full_width_layout(name, lateral_in):
    state = _meta_model(_load(name)).state_dict()
    prefix = "decode_head.kernel_update_head"
    stages = {k.split(".")[2] for k in state if k.startswith(prefix + ".")}
    assert stages == {"0", "1", "2"}
    for stage in range(3):
        for key, shape in STAGE_SHAPES.items():
            assert tuple(state[f"{prefix}.{stage}.{key}"].shape) == shape, key
        assert f"{prefix}.{stage}.mask_fcs.0.bias" not in state  # bias=False
        assert f"{prefix}.{stage}.kernel_update_conv.gate_norm.weight" not in state
    generator = "decode_head.kernel_generate_head"
    assert tuple(state[f"{generator}.conv_seg.weight"].shape) == (150, 512, 1, 1)
    assert tuple(state[f"{generator}.lateral_convs.0.conv.weight"].shape) == (512, lateral_in,
                                                                              1, 1)
    assert not any(k.startswith("decode_head.conv_seg") for k in state)


@pytest.mark.parametrize("name, file", [
    (R50.format("fcn"), "resnet50_v1c-2cccc1ad.pth"),
    (SWIN.format("t", "512x512"), "swin_tiny_patch4_window7_224_20220308-f41b89d3.pth"),
    (SWIN.format("l", "640x640"), "swin_large_patch4_window7_224_22k_20220308-d5bdebaf.pth")])
def test_pretrained_names_give_the_offline_message(name, file, tmp_path, monkeypatch):
    from seglab.checkpoint import resolve_checkpoint_path
    from seglab.errors import CheckpointError

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("SEGLAB_HOME", raising=False)
    with pytest.raises(CheckpointError, match="model.pretrained=None") as info:
        resolve_checkpoint_path(_load(name).model.pretrained)
    assert f"/{file}" in str(info.value)
