"""Pad (size / size_divisor, values, bookkeeping) and RandomRotate."""
import numpy as np
import pytest

from seglab.datasets.transforms import Pad, RandomRotate
from seglab.errors import ConfigError


def _results(h, w, img_value=9, seg_value=3):
    return dict(img=np.full((h, w, 3), img_value, np.uint8),
                gt_semantic_seg=np.full((h, w), seg_value, np.uint8),
                seg_fields=["gt_semantic_seg"], img_shape=(h, w, 3), pad_shape=(h, w, 3))


def test_pad_to_fixed_size_with_values():
    out = Pad(size=(8, 10), pad_val=4, seg_pad_val=255)(_results(5, 7))
    assert out["img"].shape == (8, 10, 3) and out["pad_shape"] == (8, 10, 3)
    assert out["img_shape"] == (5, 7, 3)  # untouched
    assert np.all(out["img"][:5, :7] == 9) and np.all(out["img"][5:] == 4)
    assert np.all(out["img"][:, 7:] == 4)
    assert np.all(out["gt_semantic_seg"][:5, :7] == 3)
    assert np.all(out["gt_semantic_seg"][5:] == 255)
    assert np.all(out["gt_semantic_seg"][:, 7:] == 255)
    assert out["pad_fixed_size"] == (8, 10) and out["pad_size_divisor"] is None


def test_pad_to_multiple():
    out = Pad(size_divisor=32, seg_pad_val=0)(_results(33, 64))
    assert out["pad_shape"] == (64, 64, 3) and out["gt_semantic_seg"].shape == (64, 64)
    assert out["gt_semantic_seg"][40, 0] == 0 and out["img"][40, 0, 2] == 0
    assert out["pad_size_divisor"] == 32 and out["pad_fixed_size"] is None


def test_pad_of_a_larger_image_is_a_no_op():
    out = Pad(size=(4, 4))(_results(5, 7))
    assert out["img"].shape == (5, 7, 3)


def test_pad_arguments():
    with pytest.raises(ConfigError, match="exactly one"):
        Pad()
    with pytest.raises(ConfigError, match="exactly one"):
        Pad(size=(4, 4), size_divisor=32)
    with pytest.raises(ConfigError, match=r"\(h, w\)"):
        Pad(size=512)


def test_rotate_90_image_and_label_together():
    img = np.arange(25, dtype=np.uint8).reshape(5, 5)[..., None].repeat(3, 2)
    res = dict(img=img.copy(), gt_semantic_seg=img[..., 0].copy(), seg_fields=["gt_semantic_seg"])
    out = RandomRotate(prob=1.0, degree=(90, 90))(res)
    np.testing.assert_array_equal(out["gt_semantic_seg"], np.rot90(img[..., 0], k=-1))
    np.testing.assert_array_equal(out["img"][..., 1], np.rot90(img[..., 1], k=-1))


def test_rotate_draws_both_numbers_and_fills_borders():
    np.random.seed(0)
    rotate = np.random.rand() < 0.5
    angle = np.random.uniform(-30, 30)
    after = np.random.rand()
    np.random.seed(0)
    res = dict(img=np.full((9, 9, 3), 50, np.uint8), gt_semantic_seg=np.ones((9, 9), np.uint8),
               seg_fields=["gt_semantic_seg"])
    out = RandomRotate(prob=0.5, degree=30, pad_val=7, seg_pad_val=254)(res)
    assert np.random.rand() == after  # exactly two draws
    if rotate and abs(angle) > 10:
        assert out["img"][0, 0].tolist() == [7, 7, 7] and out["gt_semantic_seg"][0, 0] == 254
    assert set(np.unique(out["gt_semantic_seg"])) <= {1, 254}


def test_rotate_auto_bound_updates_img_shape():
    res = dict(img=np.zeros((4, 8, 3), np.uint8), seg_fields=[], img_shape=(4, 8, 3))
    out = RandomRotate(prob=1.0, degree=(90, 90), auto_bound=True)(res)
    assert out["img"].shape == (8, 4, 3) and out["img_shape"] == (8, 4, 3)


def test_rotate_arguments():
    with pytest.raises(ConfigError, match="positive"):
        RandomRotate(prob=0.5, degree=-3)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        RandomRotate(prob=2, degree=3)
    with pytest.raises(ConfigError, match="auto_bound"):
        RandomRotate(prob=1, degree=3, center=(1, 1), auto_bound=True)


def test_pad_1x_pad_val_dict_and_seg_pad_val_do_not_overrule_each_other():
    # Before: seg_pad_val was dropped silently (255, or pad_val['seg'], whatever it said).
    pad = Pad(size=(4, 4), pad_val=dict(img=7), seg_pad_val=0)
    out = pad(dict(img=np.ones((2, 3, 3), np.uint8), gt_semantic_seg=np.ones((2, 3), np.uint8),
                   seg_fields=["gt_semantic_seg"]))
    assert out["img"][3, 3, 0] == 7 and out["gt_semantic_seg"][3, 3] == 0
    with pytest.raises(ConfigError, match=r"two label padding values; set pad_val\['seg'\] only"):
        Pad(size=(4, 4), pad_val=dict(img=0, seg=255), seg_pad_val=0)
    assert Pad(size=(4, 4), pad_val=dict(img=0, seg=3)).seg_pad_val == 3
