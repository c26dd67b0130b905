"""One tiny CPU config per registered model type, keyed by its registry name.

tests/models/test_registry_sweep.py iterates ``seglab.registry.MODELS`` and fails for a type that
has no entry here, so a new model cannot be registered without being built, run forward and
backward, and checked against its declaration. Add the smallest config that exercises the type
(few channels, default-ish options); the sweep supplies the rest:

- backbone: the dict as is, run on a (2, 3, 64, 64) image.
- neck: the dict as is, run on the outputs of ``NECK_INPUT`` (a backbone config).
- head: ``HEAD_COMMON`` added (the head's own keys win), run on random maps shaped like
  ``HEAD_FEATS`` (channels, stride), or on the outputs of its ``HEAD_INPUTS`` backbone.
- segmentor: the dict as is, trained one step on a 64x64 batch.
- loss: run on (2, 3, 8, 8) logits and labels in [0, 3).
"""
from __future__ import annotations

from typing import Dict

from seglab.models.backbones import BaseBackbone
from seglab.models.decode_heads import BaseDecodeHead
from seglab.models.necks import BaseNeck
from seglab.models.segmentors import BaseSegmentor

BN = dict(type="BN", requires_grad=True)
NUM_CLASSES = 3
IMAGE_SIZE = 64

# ResNetV1c-18-D8 with 16 stem / 8 base channels: outputs 8/16/32/64 channels at strides 4/8/8/8.
TINY_BACKBONE = dict(type="ResNetV1c", depth=18, stem_channels=16, base_channels=8,
                     strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), contract_dilation=True,
                     norm_cfg=BN)
NECK_INPUT = TINY_BACKBONE
HEAD_FEATS = ((8, 4), (16, 8), (32, 8), (64, 8))
HEAD_COMMON = dict(channels=8, num_classes=NUM_CLASSES, norm_cfg=BN)


def _fcn(in_channels: int, in_index: int, num_convs: int, weight: float) -> dict:
    return dict(type="FCNHead", in_channels=in_channels, in_index=in_index, channels=8,
                num_convs=num_convs, num_classes=NUM_CLASSES, norm_cfg=BN,
                loss_decode=dict(type="CrossEntropyLoss", loss_weight=weight))


TINY: Dict[str, dict] = {
    # backbones
    "ResNet": dict(depth=18, base_channels=8),
    "ResNetV1c": dict(depth=18, stem_channels=16, base_channels=8, out_indices=(1, 3)),
    "ResNetV1d": dict(depth=50, stem_channels=16, base_channels=8, strides=(1, 2, 1, 1),
                      dilations=(1, 1, 2, 4), contract_dilation=True),
    # 16x16 and 8x8 token maps with 3x3 windows: padded, shifted windows in both stages.
    "SwinTransformer": dict(embed_dims=8, depths=(2, 2), num_heads=(1, 2), strides=(4, 2),
                            window_size=3, out_indices=(0, 1), drop_path_rate=0.1),
    # decode heads (in_channels/in_index refer to HEAD_FEATS)
    "FCNHead": dict(in_channels=64, in_index=3),
    "PSPHead": dict(in_channels=64, in_index=3, pool_scales=(1, 2, 3, 6)),
    "ASPPHead": dict(in_channels=64, in_index=3, dilations=(1, 2, 3)),
    "DepthwiseSeparableASPPHead": dict(in_channels=64, in_index=3, dilations=(1, 2, 3),
                                       c1_in_channels=8, c1_channels=4),
    "UPerHead": dict(in_channels=[8, 16, 32, 64], in_index=[0, 1, 2, 3]),
    # segmentors
    "EncoderDecoder": dict(backbone=TINY_BACKBONE, decode_head=_fcn(64, 3, 2, 1.0),
                           auxiliary_head=[_fcn(32, 2, 1, 0.4), _fcn(16, -3, 1, 0.2)],
                           test_cfg=dict(mode="whole")),
    # losses
    "CrossEntropyLoss": dict(loss_weight=1.0),
    "DiceLoss": dict(loss_weight=1.0),
    "FocalLoss": dict(loss_weight=1.0),
    "LovaszLoss": dict(loss_weight=1.0),
}


def kind_of(cls: type) -> str:
    """'backbone', 'neck', 'head', 'segmentor', 'loss', or '' for a type the sweep cannot run."""
    for base, kind in ((BaseBackbone, "backbone"), (BaseNeck, "neck"),
                       (BaseDecodeHead, "head"), (BaseSegmentor, "segmentor")):
        if isinstance(cls, type) and issubclass(cls, base):
            return kind
    if getattr(cls, "__module__", "").startswith("seglab.models.losses."):
        return "loss"
    return ""

# SegFormer: MiT with 4/8/8/16 channels at strides 4/8/16/32 (sr_ratios 8/4/2/1 fit 64x64).
TINY["MixVisionTransformer"] = dict(embed_dims=4, num_layers=[1, 1, 1, 1],
                                    num_heads=[1, 2, 2, 4], drop_path_rate=0.1)
TINY["SegformerHead"] = dict(in_channels=[8, 16, 32, 64], in_index=[0, 1, 2, 3])

# ViT: pos_embed for a 4x4 grid (img_size 32, patch 8) resized to the 8x8 grid of 64x64 images.
TINY["VisionTransformer"] = dict(img_size=32, patch_size=8, embed_dims=16, num_layers=2,
                                 num_heads=2, out_indices=(0, 1), final_norm=True,
                                 drop_path_rate=0.1)
# NECK_INPUT's strides 4/8/8/8 rescaled to 2/8/8/16.
TINY["MultiLevelNeck"] = dict(in_channels=[8, 16, 32, 64], out_channels=8, scales=[2, 1, 1, 0.5])

# SETR heads; up_scale 1 keeps the logits at the level they read (the sweep checks that size).
TINY["SETRUPHead"] = dict(in_channels=64, in_index=3, num_convs=2, up_scale=1)
TINY["SETRMLAHead"] = dict(in_channels=[32, 64], in_index=[2, 3], mla_channels=4, up_scale=1)
# Necks whose inputs must all have one size run on a tiny ViT instead of NECK_INPUT.
NECK_INPUTS: Dict[str, dict] = {
    "MLANeck": dict(type="VisionTransformer", img_size=64, patch_size=16, embed_dims=8,
                    num_layers=2, num_heads=2, out_indices=(0, 1)),
}
TINY["MLANeck"] = dict(in_channels=[8, 8], out_channels=4, norm_cfg=BN, act_cfg=dict(type="ReLU"))

# BEiT / MAE: the relative position tables fix the grid, so img_size is the sweep's image size.
TINY["BEiT"] = dict(img_size=64, patch_size=8, embed_dims=8, num_layers=2, num_heads=2,
                    out_indices=(0, 1), drop_path_rate=0.1, final_norm=True)
TINY["MAE"] = dict(img_size=64, patch_size=8, embed_dims=8, num_layers=2, num_heads=2,
                   out_indices=(0, 1), drop_path_rate=0.1)
# Feature2Pyramid rescales four same-stride maps: a tiny BEiT with four outputs feeds it.
NECK_INPUTS["Feature2Pyramid"] = dict(type="BEiT", img_size=64, patch_size=8, embed_dims=8,
                                      num_layers=4, num_heads=2, out_indices=(0, 1, 2, 3))
TINY["Feature2Pyramid"] = dict(embed_dim=8, rescales=[4, 2, 1, 0.5], norm_cfg=BN)

# Twins: 16/8/4/2 token grids at 64x64 (sr_ratios 8/4/2/1 fit); SVT's 3x3 windows pad every grid.
TINY["PCPVT"] = dict(embed_dims=[4, 8, 8, 16], num_heads=[1, 2, 2, 4], mlp_ratios=[2, 2, 2, 2],
                     depths=[1, 1, 1, 1], qkv_bias=True, drop_path_rate=0.1)
TINY["SVT"] = dict(embed_dims=[4, 8, 16, 16], num_heads=[1, 2, 2, 4], mlp_ratios=[2, 2, 2, 2],
                   depths=[2, 2, 1, 1], sr_ratios=[8, 4, 2, 1], qkv_bias=True,
                   windiow_sizes=[3, 3, 3, 3])
# FPN over NECK_INPUT's four levels plus one max-pooled extra level (stride 16).
TINY["FPN"] = dict(in_channels=[8, 16, 32, 64], out_channels=8, num_outs=5)
TINY["FPNHead"] = dict(in_channels=[8, 16, 32, 64], in_index=[0, 1, 2, 3],
                       feature_strides=[4, 8, 8, 8])

# Segmenter: its norm acts on tokens, so its own LN wins over HEAD_COMMON's BN.
TINY["SegmenterMaskTransformerHead"] = dict(in_channels=64, in_index=3, num_layers=2,
                                            num_heads=2, embed_dims=8, norm_cfg=dict(type="LN"))
# Heads that read more than maps get a backbone's real outputs, and say where their logits come.
HEAD_INPUTS: Dict[str, dict] = {
    # DPT reads [map, cls_token] pairs; patch 8 gives 8x8 tokens and logits at stride 8 / 8 = 1.
    "DPTHead": dict(backbone=dict(type="VisionTransformer", img_size=32, patch_size=8,
                                  embed_dims=8, num_layers=4, num_heads=2,
                                  out_indices=(0, 1, 2, 3), output_cls_token=True),
                    logit_stride=1),
}
TINY["DPTHead"] = dict(in_channels=[8, 8, 8, 8], in_index=[0, 1, 2, 3],
                       input_transform="multiple_select", embed_dims=8,
                       post_process_channels=[2, 4, 8, 8], readout_type="project", patch_size=8)

# UNet: 3 stages (whole downsample rate 4), the second downsampled by a stride-2 conv instead of
# the max pool; outputs 16/8/4 channels at strides 4/2/1.
TINY["UNet"] = dict(base_channels=4, num_stages=3, strides=(1, 2, 1), enc_num_convs=(1, 1, 2),
                    dec_num_convs=(1, 2), downsamples=(True, True), enc_dilations=(1, 1, 2),
                    dec_dilations=(1, 1), norm_cfg=BN)

# ConvNeXt (mmcls.ConvNeXt): 4/8/8/16 channels at strides 4/8/16/32, the segmentation settings
# (maps, not pooled vectors), layer scale and stochastic depth on.
TINY["ConvNeXt"] = dict(arch=dict(depths=[1, 1, 2, 1], channels=[4, 8, 8, 16]),
                        out_indices=[0, 1, 2, 3], drop_path_rate=0.1, layer_scale_init_value=1.0,
                        gap_before_final_norm=False)

# PoolFormer (mmcls.PoolFormer): the four stages (network positions 0/2/4/6) with 4/8/12/16
# channels at strides 4/8/16/32; patch_embed frozen (mmcls's default frozen_stages=0).
TINY["PoolFormer"] = dict(arch=dict(layers=[1, 1, 1, 1], embed_dims=[4, 8, 12, 16],
                                    mlp_ratios=[2, 2, 2, 2]),
                          out_indices=(0, 2, 4, 6), drop_path_rate=0.1)

# MobileNets: V2 at width 0.25 (D8 outputs 8/8/24/80 channels at strides 4/8/8/8), V3 small with
# its last stage / 4; LRASPP's fixed 49x49 gate pooling is shrunk to fit the 8x8 deepest level.
TINY["MobileNetV2"] = dict(widen_factor=0.25, strides=(1, 2, 2, 1, 1, 1, 1),
                           dilations=(1, 1, 1, 2, 2, 4, 4), norm_cfg=BN)
TINY["MobileNetV3"] = dict(arch="small", out_indices=(0, 1, 12), reduction_factor=4, norm_cfg=BN)
TINY["LRASPPHead"] = dict(in_channels=[8, 16, 64], in_index=[0, 1, 3],
                          input_transform="multiple_select", branch_channels=(4, 6),
                          image_pool_kernel=4, image_pool_stride=(2, 3))
TINY["DepthwiseSeparableFCNHead"] = dict(in_channels=64, in_index=3, num_convs=2)

# HRNet: stage1 Bottleneck (4 -> 16 channels), then 2/3/4 branches of 4/8/16/32 channels at
# strides 4/8/16/32; stage3/stage4 chain two HRModules and stage2's second branch has two blocks.
TINY_HRNET_EXTRA = dict(
    stage1=dict(num_modules=1, num_branches=1, block="BOTTLENECK", num_blocks=(1,),
                num_channels=(4,)),
    stage2=dict(num_modules=1, num_branches=2, block="BASIC", num_blocks=(1, 2),
                num_channels=(4, 8)),
    stage3=dict(num_modules=2, num_branches=3, block="BASIC", num_blocks=(1, 1, 1),
                num_channels=(4, 8, 16)),
    stage4=dict(num_modules=2, num_branches=4, block="BASIC", num_blocks=(1, 1, 1, 1),
                num_channels=(4, 8, 16, 32)))
TINY["HRNet"] = dict(extra=TINY_HRNET_EXTRA, norm_cfg=BN)
# OCRHead (a cascade head: the sweep feeds it random previous-stage logits) over all four levels.
TINY["OCRHead"] = dict(in_channels=[8, 16, 32, 64], in_index=[0, 1, 2, 3],
                       input_transform="resize_concat", ocr_channels=4)
# OCRNet on the tiny HRNet: FCNHead (resize_concat, aux-weighted) -> OCRHead, an FCN aux head.
_HR_ALL = dict(in_channels=[4, 8, 16, 32], in_index=[0, 1, 2, 3], input_transform="resize_concat",
               num_classes=NUM_CLASSES, norm_cfg=BN)
TINY["CascadeEncoderDecoder"] = dict(
    num_stages=2, backbone=dict(type="HRNet", extra=TINY_HRNET_EXTRA, norm_cfg=BN),
    decode_head=[dict(type="FCNHead", channels=8, kernel_size=1, num_convs=1,
                      concat_input=False, loss_decode=dict(type="CrossEntropyLoss",
                                                           loss_weight=0.4), **_HR_ALL),
                 dict(type="OCRHead", channels=8, ocr_channels=4, **_HR_ALL)],
    auxiliary_head=_fcn(32, 3, 1, 0.4), test_cfg=dict(mode="whole"))

# ResNeXt-50 with 2 groups of width 4 at base 8 (inner widths 8/16/32/64), ResNeSt-50 D8 with the
# fixture's widths (stem 8, base 4: 16/32/64/128 channels), radix 2 and avg_down_stride.
TINY["ResNeXt"] = dict(depth=50, base_channels=8, groups=2, base_width=4, out_indices=(0, 3))
TINY["ResNeSt"] = dict(depth=50, stem_channels=8, base_channels=4, strides=(1, 2, 1, 1),
                       dilations=(1, 1, 2, 4), contract_dilation=True, radix=2,
                       reduction_factor=4, avg_down_stride=True, norm_cfg=BN)

# BiSeNetV1 on a ResNet-18 with 4/8/16/32 channels: spatial 4+8 = context_channels[1] = 16.
TINY["BiSeNetV1"] = dict(backbone_cfg=dict(type="ResNet", depth=18, stem_channels=8,
                                           base_channels=4, norm_cfg=BN),
                         context_channels=(8, 16, 32), spatial_channels=(4, 4, 4, 8),
                         out_channels=16)
TINY["BiSeNetV2"] = dict(detail_channels=(8, 8, 16), semantic_channels=(4, 8, 8, 16),
                         semantic_expansion_ratio=2, bga_channels=16)
# STDC1 with 16/32/64 channels at strides 8/16/32; the add fusion runs in the unit tests.
TINY_STDC = dict(type="STDCNet", stdc_type="STDCNet1", in_channels=3, channels=(4, 8, 16, 32, 64),
                 bottleneck_type="cat", norm_cfg=BN, act_cfg=dict(type="ReLU"))
TINY["STDCNet"] = {k: v for k, v in TINY_STDC.items() if k != "type"}
TINY["STDCContextPathNet"] = dict(backbone_cfg=TINY_STDC, last_in_channels=(64, 32),
                                  out_channels=8, ffm_cfg=dict(in_channels=24, out_channels=16))
TINY["STDCHead"] = dict(in_channels=64, in_index=3, num_convs=1, concat_input=False,
                        loss_decode=[dict(type="CrossEntropyLoss", use_sigmoid=True),
                                     dict(type="DiceLoss")])

# Real-time CNNs (issue 11). ICNet: a ResNetV1c-18-D8 with 8 stem / 4 base channels (layer2 8,
# layer4 32 channels); its ceil-mode pool makes sub2 5x5 at 64x64 (see BACKBONE_SIDES).
TINY["ICNet"] = dict(backbone_cfg=dict(type="ResNetV1c", depth=18, stem_channels=8,
                                       base_channels=4, strides=(1, 2, 1, 1),
                                       dilations=(1, 1, 2, 4), contract_dilation=True,
                                       norm_cfg=BN),
                     layer_channels=(8, 32), light_branch_middle_channels=4, psp_out_channels=8,
                     out_channels=(4, 8, 8), norm_cfg=BN)
# Output sides at IMAGE_SIZE where a backbone's pooling rounds up past ceil(IMAGE_SIZE / stride).
BACKBONE_SIDES: Dict[str, tuple] = {"ICNet": (8, 5, 2)}
TINY["CGNet"] = dict(num_channels=(8, 16, 16), num_blocks=(1, 2), reductions=(8, 4),
                     norm_cfg=dict(type="BN", eps=1e-3, requires_grad=True))
TINY["ERFNet"] = dict(enc_downsample_channels=(4, 8, 16), enc_stage_non_bottlenecks=(1, 4),
                      enc_non_bottleneck_channels=(8, 16), dec_upsample_channels=(8, 4),
                      dec_stages_non_bottleneck=(1, 1), dec_non_bottleneck_channels=(8, 4))
TINY["FastSCNN"] = dict(downsample_dw_channels=(4, 8), global_in_channels=8,
                        global_block_channels=(8, 12, 16), global_out_channels=16,
                        higher_in_channels=8, lower_in_channels=16, fusion_out_channels=16,
                        norm_cfg=BN)
# ICNeck fuses three maps coarse to fine: the first three levels of NECK_INPUT's ResNet.
NECK_INPUTS["ICNeck"] = dict(TINY_BACKBONE, out_indices=(0, 1, 2))
TINY["ICNeck"] = dict(in_channels=(8, 16, 32), out_channels=8, norm_cfg=BN)
# JPU on a ResNetV1c-18-D32 (strides 8/16/32): the coarser levels are resized to the first.
NECK_INPUTS["JPU"] = dict(type="ResNetV1c", depth=18, stem_channels=16, base_channels=8,
                          out_indices=(1, 2, 3), norm_cfg=BN)
TINY["JPU"] = dict(in_channels=(16, 32, 64), mid_channels=8, dilations=(1, 2), norm_cfg=BN)

# PointHead (PointRend's cascade head) on the finest level: it refines 8x8 coarse logits once
# (x2) to 16x16, the 40 most uncertain of the 256 pixels by points; MLP over points, no BN.
TINY["PointHead"] = dict(in_channels=[8], in_index=[0], num_fcs=2, norm_cfg=None)
# Context heads (issue 12) on the 8x8 stride-8 level (64 channels): CCHead's query/key get
# 8 // 8 = 1 channel; PSAHead's 7x7 masks on the 4x4 shrunk map are the full-coverage size;
# EncHead fuses the three stride-8 levels (add_lateral) and trains its SE loss.
TINY["CCHead"] = dict(in_channels=64, in_index=3, recurrence=2)
TINY["DAHead"] = dict(in_channels=64, in_index=3, pam_channels=4)
TINY["GCHead"] = dict(in_channels=64, in_index=3, ratio=1 / 4., pooling_type="att",
                      fusion_types=("channel_add", "channel_mul"))
TINY["PSAHead"] = dict(in_channels=64, in_index=3, mask_size=(7, 7), psa_type="bi-direction")
TINY["APCHead"] = dict(in_channels=64, in_index=3, pool_scales=(1, 2, 3))
TINY["DMHead"] = dict(in_channels=64, in_index=3, filter_sizes=(1, 2, 3), fusion=True)
TINY["EncHead"] = dict(in_channels=[16, 32, 64], in_index=[1, 2, 3], num_codes=4,
                       add_lateral=True)
# What a head is called with besides the features: the segmentor's train_cfg / test_cfg, the
# stride of the previous stage's logits (cascade heads) and the accuracy key of its losses.
HEAD_CALLS: Dict[str, dict] = {
    "PointHead": dict(train_cfg=dict(num_points=64, oversample_ratio=3,
                                     importance_sample_ratio=0.75),
                      test_cfg=dict(subdivision_steps=1, subdivision_num_points=40,
                                    scale_factor=2),
                      prev_stride=8, acc_key="acc_point"),
}
HEAD_CALLS["DAHead"] = dict(acc_keys=["pam_cam.acc_seg", "pam.acc_seg", "cam.acc_seg"])

# Attention heads (issue 12) on the stride-8 levels: NL/DNL in the fixture's embedded-gaussian
# mode; ANN fuses level 2 (low) into level 3 (high) over pooled keys (1 + 4 positions);
# ISA's 3x3 cells pad the 8x8 map to 9x9; EMA with 4 bases updates its buffer in training.
TINY["NLHead"] = dict(in_channels=64, in_index=3, reduction=2, mode="embedded_gaussian")
TINY["DNLHead"] = dict(in_channels=64, in_index=3, reduction=2, temperature=0.05)
TINY["ANNHead"] = dict(in_channels=[32, 64], in_index=[2, 3], project_channels=4,
                       key_pool_scales=(1, 2))
TINY["ISAHead"] = dict(in_channels=64, in_index=3, isa_channels=4, down_factor=(3, 3))
TINY["EMAHead"] = dict(in_channels=64, in_index=3, ema_channels=8, num_bases=4, num_stages=2)

# K-Net (issue 12): a UPerHead over the four levels generates the kernels (its 8 channels), two
# KernelUpdateHead stages refine them with updators reading 4-channel halves (like MMSeg's
# 512 / 256) and a 1x1 feat_transform. A composite: it takes no HEAD_COMMON keys of its own.
_KNET_STAGE = dict(type="KernelUpdateHead", num_classes=NUM_CLASSES, num_heads=2, num_mask_fcs=1,
                   feedforward_channels=16, in_channels=8, out_channels=8,
                   feat_transform_cfg=dict(conv_cfg=dict(type="Conv2d"), act_cfg=None),
                   kernel_updator_cfg=dict(type="KernelUpdator", in_channels=4, feat_channels=4,
                                           out_channels=4))
TINY["IterativeDecodeHead"] = dict(
    num_stages=2, kernel_update_head=[_KNET_STAGE, _KNET_STAGE],
    kernel_generate_head=dict(type="UPerHead", in_channels=[8, 16, 32, 64], in_index=[0, 1, 2, 3],
                              pool_scales=(1, 2), channels=8, num_classes=NUM_CLASSES, norm_cfg=BN))
HEAD_CALLS["IterativeDecodeHead"] = dict(common=False,
                                         acc_keys=[f"acc_seg.s{i}" for i in range(3)])

# PIDNet / DDRNet (issue 15, 1.x-only types): base width 2 (the heads read 4 / 8 / 4 channels
# at stride 8); two I-branch blocks. The heads train on their backbone's real outputs; PIDHead
# also gets a random gt_edge_map (its extra_gt_keys). BoundaryLoss takes one boundary logit per
# pixel and 0/1 labels (LOSS_CALLS); OhemCrossEntropy keeps at least 50 of the 128 pixels.
TINY_PIDNET = dict(type="PIDNet", channels=2, ppm_channels=4, num_branch_blocks=2, norm_cfg=BN)
TINY_DDRNET = dict(type="DDRNet", channels=2, ppm_channels=4, norm_cfg=BN)
TINY["PIDNet"] = {k: v for k, v in TINY_PIDNET.items() if k != "type"}
TINY["DDRNet"] = {k: v for k, v in TINY_DDRNET.items() if k != "type"}
HEAD_INPUTS["PIDHead"] = dict(backbone=TINY_PIDNET, logit_stride=8)
HEAD_INPUTS["DDRHead"] = dict(backbone=TINY_DDRNET, logit_stride=8)
TINY["PIDHead"] = dict(in_channels=8)
TINY["DDRHead"] = dict(in_channels=8)
TINY["BoundaryLoss"] = dict(loss_weight=20.0)
TINY["OhemCrossEntropy"] = dict(thres=0.7, min_kept=50)
# What a loss is called with instead of (2, NUM_CLASSES, 8, 8) logits and labels in
# [0, NUM_CLASSES): the logit channels and the number of label values.
LOSS_CALLS: Dict[str, dict] = {"BoundaryLoss": dict(channels=1, num_labels=2)}

# SegNeXt (issue 15, 1.x only): MSCAN with 1 block per stage and small MLPs; LightHamHead on the
# three stride-8 levels, a rank-4 NMF with fixed bases (rand_init=False): the configs' random
# bases per forward (rand_init=True) would make every run, traced or exported, differ.
TINY["MSCAN"] = dict(embed_dims=[4, 8, 8, 16], depths=[1, 1, 1, 1], mlp_ratios=[2, 2, 2, 2],
                     norm_cfg=BN)
TINY["LightHamHead"] = dict(in_channels=[16, 32, 64], in_index=[1, 2, 3], ham_channels=8,
                            ham_kwargs=dict(MD_R=4, train_steps=2, eval_steps=3,
                                            rand_init=False))
