"""mmcv-equivalent image functions: sizes, fill values, flips, rotation, normalisation."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from seglab.datasets.transforms import image_ops
from shared_data import SHARED

PARITY = Path(f"{SHARED}/data/mmseg-parity/resize_sizes.json")


def _cases():
    return json.loads(PARITY.read_text())["results"]


@pytest.mark.skipif(not PARITY.exists(), reason="parity fixtures not available")
def test_imrescale_and_pad_sizes_match_mmseg():
    for case in _cases():
        h, w = case["img_hw"]
        img = np.zeros((h, w, 3), np.uint8)
        out, factor = image_ops.imrescale(img, tuple(case["scale"]))
        assert list(out.shape[:2]) == case["out_hw"]
        assert factor == pytest.approx(case["rescale_size_factor"], rel=0, abs=0)
        assert list(image_ops.impad_to_multiple(out, 32).shape[:2]) == case["pad32_of_out_hw"]
        assert list(image_ops.pad_to_multiple_shape((h, w), 32)) == case["pad32_of_input_hw"]
        fixed, _, _ = image_ops.imresize(img, tuple(case["scale"]))
        assert list(fixed.shape[:2]) == case["out_hw_keep_ratio_false"]


def test_rescale_size_rounds_half_up():
    # 3 * 0.5 = 1.5 -> 2 (Python's round() would give 2 too, but 5 * 0.5 = 2.5 -> 3, not 2)
    assert image_ops.rescale_size((5, 3), 0.5)[0] == (3, 2)
    with pytest.raises(ValueError, match="positive"):
        image_ops.rescale_size((5, 3), 0)


def test_impad_fills_every_channel_and_never_crops():
    img = np.ones((2, 3, 3), np.float32)
    out = image_ops.impad(img, (4, 5), pad_val=7.5)
    assert out.shape == (4, 5, 3)
    assert np.all(out[:2, :3] == 1) and np.all(out[2:] == 7.5) and np.all(out[:, 3:] == 7.5)
    per_channel = image_ops.impad(img, (3, 3), pad_val=(1, 2, 3))
    assert per_channel[2, 0].tolist() == [1, 2, 3]
    assert image_ops.impad(img, (1, 1)).shape == (2, 3, 3)
    with pytest.raises(ValueError, match="channel"):
        image_ops.impad(img, (3, 3), pad_val=(1, 2))


def test_imflip_directions():
    img = np.arange(6).reshape(2, 3)
    assert image_ops.imflip(img, "horizontal").tolist() == [[2, 1, 0], [5, 4, 3]]
    assert image_ops.imflip(img, "vertical").tolist() == [[3, 4, 5], [0, 1, 2]]
    assert image_ops.imflip(img, "diagonal").tolist() == [[5, 4, 3], [2, 1, 0]]
    with pytest.raises(ValueError):
        image_ops.imflip(img, "sideways")


def test_imrotate_90_degrees_is_clockwise_about_the_centre():
    img = np.arange(25, dtype=np.uint8).reshape(5, 5)
    out = image_ops.imrotate(img, 90, interpolation="nearest")
    np.testing.assert_array_equal(out, np.rot90(img, k=-1))


def test_imrotate_auto_bound_grows_and_fills_border():
    img = np.full((4, 8, 3), 100, np.uint8)
    out = image_ops.imrotate(img, 90, border_value=5, auto_bound=True)
    assert out.shape == (8, 4, 3)
    square = np.full((9, 9, 3), 100, np.uint8)
    partial = image_ops.imrotate(square, 45, border_value=5)
    assert partial.shape == (9, 9, 3)
    assert partial[0, 0].tolist() == [5, 5, 5]  # a corner rotates out: border on all channels
    assert partial[4, 4].tolist() == [100, 100, 100]


def test_imnormalize_matches_the_formula_in_float32():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (6, 7, 3)).astype(np.uint8)
    mean = np.array([123.675, 116.28, 103.53], np.float32)
    std = np.array([58.395, 57.12, 57.375], np.float32)
    out = image_ops.imnormalize(img, mean, std, to_rgb=True)
    expected = (img[..., ::-1].astype(np.float32) - mean) / std
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)
    assert img.dtype == np.uint8  # input untouched


def test_imresize_to_multiple_rounds_up():
    img = np.zeros((33, 65), np.uint8)
    assert image_ops.imresize_to_multiple(img, 32).shape == (64, 96)


def _mmcv_normalize_reference(img, mean, std):
    """mmcv 1.x's imnormalize spelled out per element: two float64 steps, each rounded to float32."""
    x = img[..., ::-1].astype(np.float32).astype(np.float64)
    mean64 = np.asarray(mean, np.float64)
    stdinv64 = 1 / np.asarray(std, np.float64)
    return ((x - mean64).astype(np.float32).astype(np.float64) * stdinv64).astype(np.float32)


@pytest.mark.parametrize("use_opencv", [True, False])
def test_imnormalize_is_mmcv_arithmetic_bit_for_bit_on_either_path(monkeypatch, use_opencv):
    if use_opencv and not image_ops._opencv_normalizes_like_mmcv():
        pytest.skip(f"OpenCV {cv2.__version__} does not do mmcv's per-channel arithmetic")
    monkeypatch.setattr(image_ops, "_opencv_normalizes_like_mmcv", lambda: use_opencv)
    rng = np.random.default_rng(3)
    mean = np.array([123.675, 116.28, 103.53], np.float32)
    std = np.array([58.395, 57.12, 57.375], np.float32)
    every_byte = np.arange(256 * 3, dtype=np.int64).reshape(16, 16, 3) % 256
    images = [every_byte.astype(np.uint8), rng.integers(0, 256, (1, 1, 3)).astype(np.uint8),
              (rng.random((33, 17, 3)) * 255).astype(np.float32)]  # float: after PhotoMetricDistortion
    for img in images:
        out = image_ops.imnormalize(img, mean, std, to_rgb=True)
        assert out.dtype == np.float32 and out.flags.c_contiguous and out.shape == img.shape
        np.testing.assert_array_equal(out, _mmcv_normalize_reference(img, mean, std))


def test_opencv_4_does_mmcv_arithmetic():
    """OpenCV 4.x (what mmcv runs on) must pass the probe; otherwise seglab would be slower."""
    if int(cv2.__version__.split(".")[0]) != 4:
        pytest.skip(f"OpenCV {cv2.__version__}")
    assert image_ops._opencv_normalizes_like_mmcv()


def test_imnormalize_rejects_to_rgb_on_a_one_channel_image():
    with pytest.raises(ValueError, match="3-channel BGR image.*to_rgb=False"):
        image_ops.imnormalize(np.zeros((4, 5), np.uint8), [0.0], [1.0], to_rgb=True)
    out = image_ops.imnormalize(np.full((4, 5), 10, np.uint8), [4.0], [2.0], to_rgb=False)
    assert out.shape == (4, 5) and np.all(out == 3.0)
