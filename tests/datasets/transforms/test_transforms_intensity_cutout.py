"""Rerange, CLAHE, RGB2Gray, AdjustGamma, SegRescale and RandomCutOut."""
import numpy as np
import pytest

from seglab.datasets.transforms import (CLAHE, AdjustGamma, RandomCutOut, Rerange, RGB2Gray,
                                        SegRescale)
from seglab.errors import ConfigError, DatasetError


def _img(seed=0, shape=(8, 9, 3)):
    return np.random.default_rng(seed).integers(10, 200, shape).astype(np.uint8)


def test_rerange_stretches_to_the_new_range():
    img = _img()
    out = Rerange(min_value=-1, max_value=1)(dict(img=img.copy()))["img"]
    assert out.min() == -1 and out.max() == 1
    expected = (img.astype(np.float64) - img.min()) / (int(img.max()) - img.min()) * 2 - 1
    np.testing.assert_allclose(out, expected)
    with pytest.raises(DatasetError, match="constant"):
        Rerange()(dict(img=np.full((2, 2, 3), 5, np.uint8), filename="x.png"))
    with pytest.raises(ConfigError):
        Rerange(min_value=3, max_value=1)


def test_clahe_equalises_each_channel():
    img = (np.linspace(100, 140, 64 * 64).reshape(64, 64, 1).repeat(3, 2)).astype(np.uint8)
    out = CLAHE(clip_limit=40.0, tile_grid_size=(2, 2))(dict(img=img.copy()))["img"]
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert np.ptp(out) > np.ptp(img)  # contrast increased
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    with pytest.raises(ConfigError):
        CLAHE(tile_grid_size=(8,))


def test_rgb2gray_weights_and_channels():
    img = np.zeros((2, 2, 3), np.uint8)
    img[..., 0] = 100
    res = RGB2Gray()(dict(img=img))
    assert res["img"].shape == (2, 2, 3) and res["img_shape"] == (2, 2, 3)
    assert res["img"][0, 0].tolist() == pytest.approx([29.9] * 3)
    assert RGB2Gray(out_channels=1)(dict(img=img))["img"].shape == (2, 2, 1)
    with pytest.raises(ConfigError, match="weight per channel"):
        RGB2Gray(weights=(0.5, 0.5))(dict(img=img))


def test_adjust_gamma_lookup():
    img = np.array([[[0, 64, 255]]], np.uint8)
    out = AdjustGamma(gamma=2.0)(dict(img=img))["img"]
    assert out.tolist() == [[[0, int((64 / 255) ** 0.5 * 255), 255]]]
    assert AdjustGamma()(dict(img=img))["img"].tolist() == img.tolist()
    with pytest.raises(ConfigError):
        AdjustGamma(gamma=0)


def test_seg_rescale_only_touches_labels():
    seg = np.arange(16, dtype=np.uint8).reshape(4, 4)
    res = SegRescale(scale_factor=0.5)(dict(img=np.zeros((4, 4, 3)), gt_semantic_seg=seg,
                                            seg_fields=["gt_semantic_seg"]))
    assert res["gt_semantic_seg"].shape == (2, 2) and res["img"].shape == (4, 4, 3)
    assert set(res["gt_semantic_seg"].ravel()) <= set(seg.ravel())


def test_random_cutout_fills_image_and_labels():
    img = np.full((20, 30, 3), 9, np.uint8)
    seg = np.ones((20, 30), np.uint8)
    res = RandomCutOut(prob=1.0, n_holes=3, cutout_shape=(4, 5), fill_in=(1, 2, 3),
                       seg_fill_in=255)(dict(img=img, gt_semantic_seg=seg,
                                             seg_fields=["gt_semantic_seg"]))
    holes = np.all(res["img"] == (1, 2, 3), axis=2)
    assert holes.any() and np.array_equal(holes, res["gt_semantic_seg"] == 255)
    assert holes.sum() <= 3 * 4 * 5
    untouched = RandomCutOut(prob=0.0, n_holes=(1, 3), cutout_ratio=(0.5, 0.5))(
        dict(img=np.full((4, 4, 3), 9, np.uint8)))
    assert np.all(untouched["img"] == 9)


def test_random_cutout_arguments():
    with pytest.raises(ConfigError, match="exactly one"):
        RandomCutOut(prob=0.5, n_holes=1)
    with pytest.raises(ConfigError, match="n_holes"):
        RandomCutOut(prob=0.5, n_holes=(3, 1), cutout_shape=(2, 2))
    with pytest.raises(ConfigError, match="seg_fill_in"):
        RandomCutOut(prob=0.5, n_holes=1, cutout_shape=(2, 2), seg_fill_in=300)
