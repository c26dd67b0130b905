"""Resize / ResizeToMultiple: MMSeg output sizes, scale sampling, label maps."""
import json
from pathlib import Path

import numpy as np
import pytest

from seglab.datasets.transforms import Pad, Resize, ResizeToMultiple
from seglab.errors import ConfigError
from shared_data import SHARED

PARITY = Path(f"{SHARED}/data/mmseg-parity/resize_sizes.json")


def _results(h, w, seg=True):
    res = dict(img=np.zeros((h, w, 3), np.uint8), seg_fields=[])
    if seg:
        res["gt_semantic_seg"] = np.zeros((h, w), np.uint8)
        res["seg_fields"].append("gt_semantic_seg")
    return res


@pytest.mark.skipif(not PARITY.exists(), reason="parity fixtures not available")
def test_keep_ratio_sizes_scale_factor_and_pad32_match_mmseg():
    for case in json.loads(PARITY.read_text())["results"]:
        h, w = case["img_hw"]
        res = Resize(img_scale=tuple(case["scale"]), keep_ratio=True)(_results(h, w))
        assert list(res["img_shape"][:2]) == case["out_hw"], case
        assert list(res["gt_semantic_seg"].shape) == case["out_hw"]
        assert res["scale_factor"].dtype == np.float32
        assert res["scale_factor"][:2].tolist() == case["scale_factor_wh_0x_float32"]
        assert res["scale_factor"][2:].tolist() == case["scale_factor_wh_0x_float32"]
        assert res["keep_ratio"] is True and res["scale"] == tuple(case["scale"])
        padded = Pad(size_divisor=32)(res)
        assert list(padded["pad_shape"][:2]) == case["pad32_of_out_hw"]
        assert list(padded["gt_semantic_seg"].shape) == case["pad32_of_out_hw"]
        fixed = Resize(img_scale=tuple(case["scale"]), keep_ratio=False)(_results(h, w))
        assert list(fixed["img_shape"][:2]) == case["out_hw_keep_ratio_false"]


def test_ratio_range_draws_like_mmseg():
    np.random.seed(3)
    ratio = np.random.random_sample() * (2.0 - 0.5) + 0.5
    expected_scale = (int(2048 * ratio), int(512 * ratio))
    np.random.seed(3)
    res = Resize(img_scale=(2048, 512), ratio_range=(0.5, 2.0))(_results(100, 200))
    assert res["scale"] == expected_scale and res["scale_idx"] is None
    # img_scale=None: the image's own (w, h) times the ratio
    np.random.seed(3)
    res = Resize(ratio_range=(0.5, 2.0))(_results(100, 200))
    assert res["scale"] == (int(200 * ratio), int(100 * ratio))


def test_multiscale_value_and_range_modes():
    scales = [(100, 50), (300, 150)]
    np.random.seed(0)
    idx = np.random.randint(2)
    np.random.seed(0)
    res = Resize(img_scale=scales, multiscale_mode="value")(_results(10, 20))
    assert res["scale"] == scales[idx] and res["scale_idx"] == idx
    np.random.seed(1)
    long_edge, short_edge = np.random.randint(100, 301), np.random.randint(50, 151)
    np.random.seed(1)
    res = Resize(img_scale=scales, multiscale_mode="range")(_results(10, 20))
    assert res["scale"] == (long_edge, short_edge)


def test_preset_scale_is_used_and_list_scale_is_accepted():
    res = _results(10, 20)
    res["scale"] = (40, 40)
    assert Resize(keep_ratio=True)(res)["img_shape"] == (20, 40, 3)
    assert Resize(img_scale=[40, 40])(_results(10, 20))["img_shape"] == (20, 40, 3)


def test_seg_maps_use_nearest_and_images_bilinear():
    res = _results(4, 4)
    res["img"] = np.zeros((4, 4, 3), np.uint8)
    res["img"][:, 2:] = 200
    res["gt_semantic_seg"][:, 2:] = 7
    out = Resize(img_scale=(8, 8), keep_ratio=False)(res)
    assert set(np.unique(out["gt_semantic_seg"])) == {0, 7}
    assert len(np.unique(out["img"])) > 2  # interpolated values at the edge


def test_min_size_raises_the_short_edge():
    res = Resize(img_scale=(64, 16), min_size=32)(_results(100, 200))
    assert res["img_shape"][:2] == (32, 64)


def test_bad_arguments_fail_clearly():
    with pytest.raises(ConfigError, match="img_scale"):
        Resize(img_scale=512)
    with pytest.raises(ConfigError, match="ratio_range"):
        Resize(img_scale=[(1, 2), (3, 4)], ratio_range=(0.5, 2.0))
    with pytest.raises(ConfigError, match="multiscale_mode"):
        Resize(img_scale=(1, 2), multiscale_mode="random")
    with pytest.raises(ConfigError, match="no img_scale"):
        Resize()(_results(4, 4))
    with pytest.raises(ConfigError, match="exactly 2"):
        Resize(img_scale=[(1, 2), (3, 4), (5, 6)])(_results(4, 4))


def test_resize_to_multiple():
    res = _results(33, 70)
    out = ResizeToMultiple(size_divisor=32)(res)
    assert out["img_shape"] == out["pad_shape"] == (64, 96, 3)
    assert out["gt_semantic_seg"].shape == (64, 96)
