_base_ = './fcn_hr18_512x512_80k_loveda.py'
# seglab: pretrained=None added; MMSeg v0.30.0's file inherits the base's model.pretrained
# next to this backbone.init_cfg, which fails there too ('init_cfg and pretrained cannot be
# setting at the same time'). The init_cfg checkpoint is the one meant.
model = dict(
    pretrained=None,
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='open-mmlab://msra/hrnetv2_w18_small'),
        extra=dict(
            stage1=dict(num_blocks=(2, )),
            stage2=dict(num_blocks=(2, 2)),
            stage3=dict(num_modules=3, num_blocks=(2, 2, 2)),
            stage4=dict(num_modules=2, num_blocks=(2, 2, 2, 2)))))
