_base_ = './fcn_hr18_512x512_80k_loveda.py'
# seglab: pretrained=None added; MMSeg v0.30.0's file inherits the base's model.pretrained
# next to this backbone.init_cfg, which fails there too ('init_cfg and pretrained cannot be
# setting at the same time'). The init_cfg checkpoint is the one meant.
model = dict(
    pretrained=None,
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint='open-mmlab://msra/hrnetv2_w48'),
        extra=dict(
            stage2=dict(num_channels=(48, 96)),
            stage3=dict(num_channels=(48, 96, 192)),
            stage4=dict(num_channels=(48, 96, 192, 384)))),
    decode_head=dict(
        in_channels=[48, 96, 192, 384], channels=sum([48, 96, 192, 384])))
