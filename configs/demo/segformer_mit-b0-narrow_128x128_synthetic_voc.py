# SegFormer with MiT-B0's layout (4 stages of 2 blocks, 1/2/5/8 heads, sr ratios 8/4/2/1) at half
# B0's width (embed_dims 16 instead of 32, a 64-channel head), trained from scratch on 128 px
# synthetic VOC images: a CPU-sized run of the transformer path that
# tests/tools/test_segformer_end_to_end.py trains (300 iterations of 4 crops) and tests.
# In so few iterations it learns the background and the texture class (stripes), not yet the
# shape classes: mIoU about 0.2 against 0.135 for predicting background everywhere.
# Generate the data first:
#   python tools/misc/make_synthetic_voc.py data/synthetic_voc_128 --num-train 400 --num-val 32 --size 128
# Train:  python tools/train.py configs/demo/segformer_mit-b0-narrow_128x128_synthetic_voc.py
# Slide inference:  python tools/test.py CONFIG CKPT --eval mIoU --options \
#     model.test_cfg.mode=slide model.test_cfg.crop_size="(96,96)" model.test_cfg.stride="(64,64)"
_base_ = [
    '../_base_/models/segformer_mit-b0.py', '../_base_/datasets/synthetic_voc.py',
    '../_base_/default_runtime.py'
]
norm_cfg = dict(type='BN', requires_grad=True)  # one process: plain BN
num_classes = 6
model = dict(
    pretrained=None,  # from scratch: no download needed
    backbone=dict(embed_dims=16, drop_path_rate=0.0),
    decode_head=dict(
        in_channels=[16, 32, 80, 128],
        channels=64,
        num_classes=num_classes,
        norm_cfg=norm_cfg))

data_root = 'data/synthetic_voc_128'
img_scale = (128, 128)
crop_size = (128, 128)
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
# No PhotoMetricDistortion: colours carry no class information in this dataset, and without it
# the few hundred iterations go further.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', img_scale=img_scale, ratio_range=(0.75, 1.5)),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size=crop_size, pad_val=0, seg_pad_val=255),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_semantic_seg']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiScaleFlipAug',
        img_scale=img_scale,
        flip=False,
        transforms=[
            dict(type='Resize', keep_ratio=True),
            dict(type='RandomFlip'),
            dict(type='Normalize', **img_norm_cfg),
            dict(type='ImageToTensor', keys=['img']),
            dict(type='Collect', keys=['img']),
        ])
]
data = dict(
    samples_per_gpu=4,
    workers_per_gpu=0,
    train=dict(data_root=data_root, pipeline=train_pipeline),
    val=dict(data_root=data_root, pipeline=test_pipeline),
    test=dict(data_root=data_root, pipeline=test_pipeline))

# SegFormer's AdamW with the head at 10x the lr and no decay on norms / pos_block, and its poly
# schedule with a linear warm-up (MMSeg: lr 6e-5 over 160k iterations; from scratch in a few
# hundred, 1e-3). Without the head's 10x the model stays at background only.
optimizer = dict(
    type='AdamW',
    lr=0.001,
    betas=(0.9, 0.999),
    weight_decay=0.01,
    paramwise_cfg=dict(
        custom_keys=dict(
            pos_block=dict(decay_mult=0.0),
            norm=dict(decay_mult=0.0),
            head=dict(lr_mult=10.0))))
optimizer_config = dict()
lr_config = dict(policy='poly', power=1.0, min_lr=0.0, by_epoch=False, warmup='linear',
                 warmup_iters=30, warmup_ratio=1e-6)
runner = dict(type='IterBasedRunner', max_iters=300)
checkpoint_config = dict(by_epoch=False, interval=300)
evaluation = dict(interval=300, metric='mIoU', pre_eval=True)
log_config = dict(interval=50, hooks=[dict(type='TextLoggerHook', by_epoch=False)])
cudnn_benchmark = False
