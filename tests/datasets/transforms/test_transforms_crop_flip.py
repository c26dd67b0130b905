"""RandomCrop (sizes, category ratio) and RandomFlip (image and labels flipped together)."""
import warnings

import numpy as np
import pytest

from seglab.datasets.transforms import RandomCrop, RandomFlip
from seglab.errors import ConfigError


def _results(img, seg):
    return dict(img=img, gt_semantic_seg=seg, seg_fields=["gt_semantic_seg"],
                img_shape=img.shape)


def test_crop_size_and_alignment_of_image_and_label():
    img = np.arange(20 * 30).reshape(20, 30)[..., None].repeat(3, 2).astype(np.int32)
    seg = np.arange(20 * 30).reshape(20, 30)
    np.random.seed(0)
    out = RandomCrop(crop_size=(8, 10))(_results(img, seg))
    assert out["img"].shape == (8, 10, 3) and out["img_shape"] == (8, 10, 3)
    np.testing.assert_array_equal(out["img"][..., 0], out["gt_semantic_seg"])


def test_crop_larger_than_image_keeps_the_image():
    img = np.zeros((5, 6, 3), np.uint8)
    out = RandomCrop(crop_size=(10, 10))(_results(img, np.zeros((5, 6), np.uint8)))
    assert out["img"].shape == (5, 6, 3)


def _two_class_map():
    # class 1 only in a 40x40 block of a 100x100 map: most 20x20 crops hold one class.
    seg = np.zeros((100, 100), np.uint8)
    seg[30:70, 30:70] = 1
    seg[:5] = 255  # ignored pixels must not count
    return seg


def test_cat_max_ratio_retries_until_no_class_dominates():
    seg = _two_class_map()
    img = np.zeros((100, 100, 3), np.uint8)

    def balanced(crop):
        labels, counts = np.unique(crop, return_counts=True)
        counts = counts[labels != 255]
        return len(counts) > 1 and counts.max() / counts.sum() < 0.75

    def count(transform):
        hits = 0
        for seed in range(30):
            np.random.seed(seed)
            hits += balanced(transform(_results(img, seg.copy()))["gt_semantic_seg"])
        return hits

    with_ratio = count(RandomCrop(crop_size=(20, 20), cat_max_ratio=0.75))
    without = count(RandomCrop(crop_size=(20, 20)))
    assert with_ratio >= 2 * without and with_ratio >= 10, (with_ratio, without)


def test_cat_max_ratio_uses_the_same_draws_as_mmseg():
    seg = _two_class_map()
    img = np.zeros((100, 100, 3), np.uint8)
    np.random.seed(5)
    # Reference: draw offsets until the crop passes (at most 11 draws), as MMSeg 0.x.
    for attempt in range(11):
        y, x = np.random.randint(0, 81), np.random.randint(0, 81)
        crop = seg[y:y + 20, x:x + 20]
        labels, counts = np.unique(crop, return_counts=True)
        counts = counts[labels != 255]
        if attempt == 10 or (len(counts) > 1 and counts.max() / counts.sum() < 0.75):
            break
    np.random.seed(5)
    out = RandomCrop(crop_size=(20, 20), cat_max_ratio=0.75)(_results(img, seg.copy()))
    np.testing.assert_array_equal(out["gt_semantic_seg"], seg[y:y + 20, x:x + 20])


def test_crop_errors():
    with pytest.raises(ConfigError, match="crop_size"):
        RandomCrop(crop_size=(512,))  # an int is 1.x's square crop (test_transforms_1x.py)
    with pytest.raises(ConfigError, match="LoadAnnotations"):
        RandomCrop(crop_size=(2, 2), cat_max_ratio=0.5)(dict(img=np.zeros((4, 4, 3))))


@pytest.mark.parametrize("direction,axis", [("horizontal", 1), ("vertical", 0)])
def test_flip_image_and_label_together(direction, axis):
    img = np.random.default_rng(0).integers(0, 255, (4, 6, 3)).astype(np.uint8)
    seg = np.arange(24).reshape(4, 6).astype(np.uint8)
    out = RandomFlip(prob=1.0, direction=direction)(_results(img.copy(), seg.copy()))
    assert out["flip"] is True and out["flip_direction"] == direction
    np.testing.assert_array_equal(out["img"], np.flip(img, axis))
    np.testing.assert_array_equal(out["gt_semantic_seg"], np.flip(seg, axis))
    assert out["gt_semantic_seg"].flags["C_CONTIGUOUS"]


def test_flip_probability_and_preset_decision():
    img = np.arange(6).reshape(1, 6, 1).astype(np.uint8)
    out = RandomFlip(prob=0.0)(_results(img.copy(), img[..., 0].copy()))
    assert out["flip"] is False and out["img"].ravel().tolist() == list(range(6))
    np.random.seed(0)
    draws = np.random.rand(200) < 0.3
    np.random.seed(0)
    flips = [RandomFlip(prob=0.3)(_results(img.copy(), img[..., 0].copy()))["flip"]
             for _ in range(200)]
    assert flips == draws.tolist()
    preset = _results(img.copy(), img[..., 0].copy())
    preset.update(flip=True, flip_direction="horizontal")
    assert RandomFlip()(preset)["img"].ravel().tolist() == [5, 4, 3, 2, 1, 0]


def test_flip_arguments():
    with pytest.raises(ConfigError, match="prob=None"):
        RandomFlip()(_results(np.zeros((2, 2, 3)), np.zeros((2, 2))))
    with pytest.raises(ConfigError, match="direction"):
        RandomFlip(prob=0.5, direction="sideways")  # 'diagonal' is 1.x's (mmcv 2.x)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        RandomFlip(prob=1.5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert RandomFlip(flip_ratio=0.5).prob == 0.5
    assert any("deprecated" in str(w.message) for w in caught)
