# FCN with a slim ResNetV1c-18 (16-128 channels, dilated to output stride 8) trained from scratch
# on the synthetic VOC-style dataset, sized so that `make demo` trains on 2 CPU cores in minutes:
# images at half the base config's scale (longer side <= 256, shorter 128) and 128x128 crops.
# Generate the data first:  python tools/misc/make_synthetic_voc.py data/synthetic_voc
# Train:                    python tools/train.py configs/demo/fcn_r18-d8_synthetic_voc.py
_base_ = ['../_base_/datasets/synthetic_voc.py', '../_base_/default_runtime.py']
norm_cfg = dict(type='BN', requires_grad=True)  # one process: plain BN
num_classes = 6
model = dict(
    type='EncoderDecoder',
    pretrained=None,  # from scratch: no download needed
    backbone=dict(
        type='ResNetV1c',
        depth=18,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        contract_dilation=True,
        stem_channels=16,
        base_channels=16),
    decode_head=dict(
        type='FCNHead',
        in_channels=128,
        in_index=3,
        channels=64,
        num_convs=2,
        concat_input=True,
        dropout_ratio=0.1,
        num_classes=num_classes,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead',
        in_channels=64,
        in_index=2,
        channels=32,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=num_classes,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))


img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
img_scale = (256, 128)
crop_size = (128, 128)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', img_scale=img_scale, ratio_range=(0.5, 2.0)),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
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
    samples_per_gpu=8,
    train=dict(pipeline=train_pipeline),
    val=dict(pipeline=test_pipeline),
    test=dict(pipeline=test_pipeline))

# From scratch, AdamW converges much faster than SGD on this small problem.
optimizer = dict(type='AdamW', lr=0.004, betas=(0.9, 0.999), weight_decay=0.01)
optimizer_config = dict()
lr_config = dict(policy='poly', power=0.9, min_lr=1e-5, by_epoch=False, warmup='linear',
                 warmup_iters=50, warmup_ratio=0.1)
runner = dict(type='IterBasedRunner', max_iters=1500)
checkpoint_config = dict(by_epoch=False, interval=1500)
evaluation = dict(interval=1500, metric='mIoU', pre_eval=True, save_best='mIoU')
log_config = dict(interval=50, hooks=[dict(type='TextLoggerHook', by_epoch=False)])
cudnn_benchmark = False
