# OCRNet on HRNetV2-W18-Small's layout (stage blocks 2/2/2/2, modules 1/1/3/2) at under half its
# width (branches of 8/16/32/64 channels instead of 18/36/72/144, a 64-channel OCR head), trained
# from scratch on 64 px synthetic VOC images: a CPU-sized run of HRNet and of the cascade
# (FCNHead -> OCRHead) path; tests/tools/test_ocrnet_end_to_end.py trains and tests it in well
# under a minute on 2 cores.
# Generate the data first:
#   python tools/misc/make_synthetic_voc.py data/synthetic_voc_64 --num-train 32 --num-val 8 --size 64
# Train:  python tools/train.py configs/demo/ocrnet_hr18s-narrow_64x64_synthetic_voc.py
# Test:   python tools/test.py CONFIG work_dirs/.../latest.pth --eval mIoU
_base_ = [
    '../_base_/models/ocrnet_hr18.py', '../_base_/datasets/synthetic_voc.py',
    '../_base_/default_runtime.py'
]
norm_cfg = dict(type='BN', requires_grad=True)  # one process: plain BN
num_classes = 6
widths = (8, 16, 32, 64)
model = dict(
    pretrained=None,  # from scratch: no download needed
    backbone=dict(
        norm_cfg=norm_cfg,
        extra=dict(
            stage1=dict(num_blocks=(2, ), num_channels=(16, )),
            stage2=dict(num_blocks=(2, 2), num_channels=widths[:2]),
            stage3=dict(num_modules=3, num_blocks=(2, 2, 2), num_channels=widths[:3]),
            stage4=dict(num_modules=2, num_blocks=(2, 2, 2, 2), num_channels=widths))),
    decode_head=[
        dict(
            type='FCNHead',
            in_channels=list(widths),
            channels=sum(widths),
            in_index=(0, 1, 2, 3),
            input_transform='resize_concat',
            kernel_size=1,
            num_convs=1,
            concat_input=False,
            dropout_ratio=-1,
            num_classes=num_classes,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
        dict(
            type='OCRHead',
            in_channels=list(widths),
            in_index=(0, 1, 2, 3),
            input_transform='resize_concat',
            channels=64,
            ocr_channels=32,
            dropout_ratio=-1,
            num_classes=num_classes,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    ])

data_root = 'data/synthetic_voc_64'
img_scale = (64, 64)
crop_size = (64, 64)
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', img_scale=img_scale, ratio_range=(0.75, 1.5)),
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
    workers_per_gpu=0,
    train=dict(data_root=data_root, pipeline=train_pipeline),
    val=dict(data_root=data_root, pipeline=test_pipeline),
    test=dict(data_root=data_root, pipeline=test_pipeline))

# MMSeg's OCRNet schedule is SGD lr 0.01 with poly decay over 40k-160k iterations; from scratch
# in a few hundred iterations AdamW with a short warm-up converges much faster.
optimizer = dict(type='AdamW', lr=0.004, betas=(0.9, 0.999), weight_decay=0.01)
optimizer_config = dict()
lr_config = dict(policy='poly', power=1.0, min_lr=0.0, by_epoch=False, warmup='linear',
                 warmup_iters=20, warmup_ratio=1e-3)
runner = dict(type='IterBasedRunner', max_iters=200)
checkpoint_config = dict(by_epoch=False, interval=200)
evaluation = dict(interval=200, metric='mIoU', pre_eval=True)
log_config = dict(interval=20, hooks=[dict(type='TextLoggerHook', by_epoch=False)])
cudnn_benchmark = False
