"""MMSeg's pascal_voc12 train and test pipelines end to end on MMSeg's test data.

Also checks the deferred normalisation: the batch that ``prepare_batch`` gives equals the batch of
the same pipeline with an eager ``Normalize`` (MMSegmentation's behaviour).
"""
import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from seglab.datasets.collate import collate, prepare_batch
from seglab.datasets.transforms import Compose
from shared_data import SHARED

DATA = Path(f"{SHARED}/data/mmseg-testdata/tests/data")
PSEUDO = DATA / "pseudo_dataset"
pytestmark = pytest.mark.skipif(not DATA.exists(), reason="mmseg test data not available")

IMG_NORM_CFG = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
CROP_SIZE = (512, 512)


def train_pipeline(defer=True, pad_val=0, shrink=1):
    """configs/_base_/datasets/pascal_voc12.py (0.x), verbatim apart from ``defer``/``pad_val``.

    ``shrink`` divides img_scale and crop_size to keep the sweeps fast.
    """
    crop_size = (CROP_SIZE[0] // shrink, CROP_SIZE[1] // shrink)
    return [
        dict(type="LoadImageFromFile"),
        dict(type="LoadAnnotations"),
        dict(type="Resize", img_scale=(2048 // shrink, 512 // shrink), ratio_range=(0.5, 2.0)),
        dict(type="RandomCrop", crop_size=crop_size, cat_max_ratio=0.75),
        dict(type="RandomFlip", prob=0.5),
        dict(type="PhotoMetricDistortion"),
        dict(type="Normalize", **IMG_NORM_CFG, **({} if defer else dict(defer=False))),
        dict(type="Pad", size=crop_size, pad_val=pad_val, seg_pad_val=255),
        dict(type="DefaultFormatBundle"),
        dict(type="Collect", keys=["img", "gt_semantic_seg"]),
    ]


def test_pipeline(defer=True, img_ratios=None, flip=False):
    return [
        dict(type="LoadImageFromFile"),
        dict(type="MultiScaleFlipAug", img_scale=(2048, 512), img_ratios=img_ratios, flip=flip,
             transforms=[
                 dict(type="Resize", keep_ratio=True),
                 dict(type="RandomFlip"),
                 dict(type="Normalize", **IMG_NORM_CFG, **({} if defer else dict(defer=False))),
                 dict(type="ImageToTensor", keys=["img"]),
                 dict(type="Collect", keys=["img"]),
             ]),
    ]


test_pipeline.__test__ = False  # a config helper, not a test


def pseudo_sample(i):
    """The results dict a 0.x CustomDataset hands to its pipeline."""
    return dict(img_info=dict(filename=f"{i:05d}_img.jpg", ann=dict(seg_map=f"{i:05d}_gt.png")),
                ann_info=dict(seg_map=f"{i:05d}_gt.png"), seg_fields=[],
                img_prefix=str(PSEUDO / "imgs"), seg_prefix=str(PSEUDO / "gts"))


def assert_close(got, want, atol=1e-5):
    # (torch.testing.assert_close imports torch.distributed and sympy: seconds per session)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert (got - want).abs().max().item() <= atol


def run(pipeline_cfg, samples, seed):
    np.random.seed(seed)
    pipeline = Compose(pipeline_cfg)
    return collate([pipeline(copy.deepcopy(s)) for s in samples])


@pytest.mark.parametrize("shrink,seed,pad_val", [(1, 0, 0), (4, 1, 0), (4, 2, 1.5),
                                                 (4, 5, (0.5, -1.0, 2.0))])
def test_voc_train_pipeline_deferred_equals_eager(shrink, seed, pad_val):
    size = 512 // shrink
    samples = [pseudo_sample(i) for i in range(3)]
    deferred = run(train_pipeline(True, pad_val, shrink), samples, seed)
    eager = run(train_pipeline(False, pad_val, shrink), samples, seed)
    assert deferred["img"].dtype == torch.uint8 and eager["img"].dtype == torch.float32
    assert deferred["img"].shape == (3, 3, size, size)
    got = prepare_batch(deferred, "cpu")
    want = prepare_batch(eager, "cpu")
    assert got["img"].dtype == torch.float32
    assert_close(got["img"], want["img"])
    assert torch.equal(got["gt_semantic_seg"], want["gt_semantic_seg"])
    present = torch.bincount(got["gt_semantic_seg"].flatten(), minlength=256).nonzero().flatten()
    assert set(present.tolist()) <= {0, 1, 2, 3, 255}
    shapes = [m["img_shape"] for m in got["img_metas"]]
    # these seeds draw small ratios: some crops are smaller than the crop size and get padded
    assert any(s[0] < size or s[1] < size for s in shapes)
    for meta, img, seg in zip(got["img_metas"], got["img"], got["gt_semantic_seg"]):
        h, w = meta["img_shape"][:2]
        assert meta["pad_shape"][:2] == (size, size)
        assert meta["batch_input_shape"] == (size, size)
        if h < size:
            assert torch.all(seg[:, h:] == 255)
            value = torch.tensor(pad_val, dtype=torch.float32).expand(3)
            assert torch.equal(img[:, -1, 0], value)


def test_voc_train_pipeline_is_reproducible_from_the_seed():
    samples = [pseudo_sample(i) for i in range(2)]
    a, b = run(train_pipeline(shrink=4), samples, 7), run(train_pipeline(shrink=4), samples, 7)
    assert torch.equal(a["img"], b["img"]) and torch.equal(a["gt_semantic_seg"],
                                                          b["gt_semantic_seg"])


def _test_samples():
    return [dict(img_info=dict(filename="color.jpg"), img_prefix=str(DATA), seg_fields=[]),
            dict(img_info=dict(filename="00000_img.jpg"), img_prefix=str(PSEUDO / "imgs"),
                 seg_fields=[])]


def test_voc_test_pipeline_end_to_end_with_different_sizes():
    deferred = run(test_pipeline(), _test_samples(), 0)
    eager = run(test_pipeline(defer=False), _test_samples(), 0)
    assert len(deferred["img"]) == 1 and len(deferred["img_metas"]) == 1
    # color.jpg 288x512 -> 512x910; the 128x256 pseudo image -> 512x1024
    metas = deferred["img_metas"][0]
    assert [m["img_shape"] for m in metas] == [(512, 910, 3), (512, 1024, 3)]
    assert [m["ori_shape"] for m in metas] == [(288, 512, 3), (128, 256, 3)]
    assert all(m["batch_input_shape"] == (512, 1024) for m in metas)
    assert deferred["img"][0].shape == (2, 3, 512, 1024)
    got, want = prepare_batch(deferred, "cpu"), prepare_batch(eager, "cpu")
    assert_close(got["img"][0], want["img"][0])
    assert torch.all(got["img"][0][0, :, :, 910:] == 0)  # collate padding is 0 after normalising
    assert got["img"][0][0, :, :, :910].abs().sum() > 0


def test_voc_test_pipeline_with_ratios_and_flip():
    deferred = run(test_pipeline(img_ratios=[0.5, 1.0], flip=True), _test_samples(), 0)
    eager = run(test_pipeline(defer=False, img_ratios=[0.5, 1.0], flip=True), _test_samples(), 0)
    assert len(deferred["img"]) == 4
    assert [m[0]["flip"] for m in deferred["img_metas"]] == [False, True, False, True]
    got, want = prepare_batch(deferred, "cpu"), prepare_batch(eager, "cpu")
    for g, w in zip(got["img"], want["img"]):
        assert_close(g, w)
    half, full = got["img"][0], got["img"][2]
    assert half.shape[-2:] == (256, 512) and full.shape[-2:] == (512, 1024)
    flipped = got["img"][1]
    assert torch.equal(flipped[1], half[1].flip(-1))
