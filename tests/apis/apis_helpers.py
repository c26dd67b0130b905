"""Helpers shared by the apis and tools tests: a tiny FCN config, an oracle segmentor and an
independent numpy computation of MMSegmentation's metrics."""
from __future__ import annotations

import os.path as osp
from typing import Dict, List, Sequence

import numpy as np
import torch
from torch import nn

NUM_CLASSES = 6  # SyntheticVOCDataset.CLASSES

CONFIG_TEXT = """
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    pretrained=None,
    backbone=dict(type='ResNetV1c', depth=18, num_stages=4, out_indices=(0, 1, 2, 3),
                  dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1), norm_cfg=norm_cfg,
                  norm_eval=False, style='pytorch', contract_dilation=True, stem_channels=16,
                  base_channels=8),
    decode_head=dict(type='FCNHead', in_channels=64, in_index=3, channels=16, num_convs=2,
                     concat_input=True, dropout_ratio=0.1, num_classes={num_classes},
                     norm_cfg=norm_cfg, align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                                      loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=(40, 40), flip=False,
         transforms=[dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'),
                     dict(type='Normalize', **img_norm_cfg),
                     dict(type='ImageToTensor', keys=['img']),
                     dict(type='Collect', keys=['img'])])]
data = dict(
    samples_per_gpu=2, workers_per_gpu=0,
    test=dict(type='SyntheticVOCDataset', data_root={data_root!r}, img_dir='JPEGImages',
              ann_dir='SegmentationClass', split='ImageSets/Segmentation/val.txt',
              pipeline=test_pipeline))
"""


def config_text(data_root: str, num_classes: int = NUM_CLASSES) -> str:
    return CONFIG_TEXT.format(num_classes=num_classes, data_root=data_root)


def tiny_model(num_classes: int = NUM_CLASSES, seed: int = 0) -> nn.Module:
    """The tiny FCN with random weights whose predictions vary over the image."""
    from seglab.config import Config
    from seglab.models import build_segmentor

    cfg = Config.fromstring(config_text(".", num_classes), ".py")
    torch.manual_seed(seed)
    model = build_segmentor(cfg.model)
    model.eval()
    with torch.no_grad():
        # Random weights favour one class everywhere; centring each class's mean logit on a
        # random input makes the argmax follow the image content instead.
        model.decode_head.conv_seg.weight.mul_(20.0)
        logits = model.encode_decode(torch.randn(2, 3, 40, 40), None)
        model.decode_head.conv_seg.bias -= logits.mean(dim=(0, 2, 3))
    return model


def make_fixture_files(root: str) -> Dict[str, str]:
    """Synthetic data (5 images, longer side 40), the config and a checkpoint under ``root``."""
    from seglab.datasets import make_synthetic_voc
    from seglab.datasets.synthetic import SYNTHETIC_CLASSES, SYNTHETIC_PALETTE
    from seglab.engine import save_checkpoint

    data_root = make_synthetic_voc(osp.join(root, "voc"), num_train=0, num_val=5, size=40, seed=3)
    config = osp.join(root, "fcn_tiny_synthetic.py")
    with open(config, "w", encoding="utf-8") as f:
        f.write(config_text(data_root))
    checkpoint = osp.join(root, "tiny.pth")
    save_checkpoint(tiny_model(), checkpoint,
                    meta=dict(CLASSES=list(SYNTHETIC_CLASSES),
                              PALETTE=[list(p) for p in SYNTHETIC_PALETTE]))
    return dict(data_root=data_root, config=config, checkpoint=checkpoint)


class OracleSegmentor(nn.Module):
    """Predicts from the dataset's evaluation ground truth: exact, or with every ``step``-th
    pixel moved to the next class. No network, so evaluation tests stay fast."""

    def __init__(self, dataset, num_classes: int, step: int = 0):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # gives the model a device
        self.dataset, self.num_classes, self.step = dataset, num_classes, step
        self.index = {dataset.sample_paths(i)[0]: i for i in range(len(dataset))}
        self.returned: List = []  # predictions handed out (for lifetime checks)

    def forward(self, img, img_metas, return_loss=True, rescale=True):
        metas = img_metas[0] if isinstance(img, list) else img_metas
        preds = []
        for meta in metas:
            gt = self.dataset.get_gt_seg_map_by_idx(self.index[meta["filename"]]).astype(np.int64)
            pred = np.where(gt == 255, 0, gt)
            if self.step:
                flat = pred.reshape(-1)
                flat[::self.step] = (flat[::self.step] + 1) % self.num_classes
            preds.append(pred)
        self.returned.extend(preds)
        return preds


def direct_metrics(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], num_classes: int,
                   ignore_index: int = 255) -> Dict[str, np.ndarray]:
    """MMSeg's definitions from a numpy confusion matrix (rows: label, columns: prediction)."""
    hist = np.zeros((num_classes, num_classes), dtype=np.int64)
    for pred, gt in zip(preds, gts):
        keep = gt != ignore_index
        hist += np.bincount(num_classes * gt[keep].astype(np.int64) + pred[keep],
                            minlength=num_classes ** 2).reshape(num_classes, num_classes)
    inter, label, predicted = np.diag(hist), hist.sum(1), hist.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision, recall = inter / predicted, inter / label
        return dict(aAcc=inter.sum() / hist.sum(), IoU=inter / (label + predicted - inter),
                    Acc=recall, Dice=2 * inter / (label + predicted),
                    Precision=precision, Recall=recall,
                    Fscore=2 * precision * recall / (precision + recall))
