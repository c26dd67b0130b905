_base_ = './pascal_voc12.py'
# dataset settings: VOC2012 train plus the SBD augmented set (10582 images)
data = dict(
    train=dict(
        ann_dir=['SegmentationClass', 'SegmentationClassAug'],
        split=[
            'ImageSets/Segmentation/train.txt',
            'ImageSets/Segmentation/aug.txt'
        ]))
