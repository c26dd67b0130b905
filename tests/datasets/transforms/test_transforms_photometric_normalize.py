"""PhotoMetricDistortion (draw order, uint8) and Normalize (eager and deferred)."""
import numpy as np
import pytest

from seglab.datasets.transforms import Normalize, PhotoMetricDistortion, apply_deferred_normalize
from seglab.datasets.transforms.image_ops import bgr2hsv, hsv2bgr
from seglab.errors import ConfigError

MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def _image(seed=0, shape=(6, 8, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


def _convert(img, alpha=1.0, beta=0.0):
    return np.clip(img.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)


def _reference_distortion(img, rng):
    """The documented sequence of draws, written out step by step."""
    if rng.randint(2):
        img = _convert(img, beta=rng.uniform(-32, 32))
    mode = rng.randint(2)
    if mode == 1 and rng.randint(2):
        img = _convert(img, alpha=rng.uniform(0.5, 1.5))
    if rng.randint(2):
        hsv = bgr2hsv(img)
        hsv[:, :, 1] = _convert(hsv[:, :, 1], alpha=rng.uniform(0.5, 1.5))
        img = hsv2bgr(hsv)
    if rng.randint(2):
        hsv = bgr2hsv(img)
        hsv[:, :, 0] = (hsv[:, :, 0].astype(int) + rng.randint(-18, 18)) % 180
        img = hsv2bgr(hsv)
    if mode == 0 and rng.randint(2):
        img = _convert(img, alpha=rng.uniform(0.5, 1.5))
    return img


@pytest.mark.parametrize("seed", range(8))
def test_photometric_distortion_follows_mmseg_draws(seed):
    img = _image(seed)
    expected = _reference_distortion(img.copy(), np.random.RandomState(seed))
    np.random.seed(seed)
    out = PhotoMetricDistortion()(dict(img=img.copy()))["img"]
    assert out.dtype == np.uint8 and out.shape == img.shape
    np.testing.assert_array_equal(out, expected)


def test_photometric_distortion_changes_images():
    img = _image(1)
    changed = 0
    for seed in range(5):
        np.random.seed(seed)
        changed += not np.array_equal(PhotoMetricDistortion()(dict(img=img.copy()))["img"], img)
    assert changed >= 3


def test_eager_normalize_values_and_cfg():
    img = _image()
    out = Normalize(mean=MEAN, std=STD, to_rgb=True, defer=False)(dict(img=img))
    expected = (img[..., ::-1].astype(np.float32) - np.float32(MEAN)) / np.float32(STD)
    assert out["img"].dtype == np.float32
    np.testing.assert_allclose(out["img"], expected, rtol=0, atol=1e-6)
    assert out["img_norm_cfg"]["to_rgb"] is True and "deferred" not in out["img_norm_cfg"]
    np.testing.assert_array_equal(out["img_norm_cfg"]["mean"], np.float32(MEAN))


def test_deferred_normalize_keeps_pixels_and_materialises_exactly():
    img = _image()
    deferred = Normalize(mean=MEAN, std=STD)(dict(img=img.copy()))
    assert deferred["img"].dtype == np.uint8
    np.testing.assert_array_equal(deferred["img"], img)
    assert deferred["img_norm_cfg"]["deferred"] is True
    eager = Normalize(mean=MEAN, std=STD, defer=False)(dict(img=img.copy()))
    apply_deferred_normalize(deferred)
    np.testing.assert_array_equal(deferred["img"], eager["img"])
    assert "deferred" not in deferred["img_norm_cfg"]


def test_transform_after_deferred_normalize_sees_normalised_values():
    img = _image()
    res = Normalize(mean=MEAN, std=STD)(dict(img=img.copy()))
    # seeded: with some draws PhotoMetricDistortion applies no step and keeps the float image
    np.random.seed(0)
    out = PhotoMetricDistortion(brightness_delta=0)(res)  # reads values: normalises first
    eager = Normalize(mean=MEAN, std=STD, defer=False)(dict(img=img.copy()))
    assert out["img"].dtype == np.uint8  # PhotoMetricDistortion casts, as in MMSeg
    assert "deferred" not in out["img_norm_cfg"]
    np.random.seed(0)
    expected = PhotoMetricDistortion(brightness_delta=0)(eager)["img"]
    np.random.seed(0)
    res = Normalize(mean=MEAN, std=STD)(dict(img=img.copy()))
    np.testing.assert_array_equal(PhotoMetricDistortion(brightness_delta=0)(res)["img"], expected)


def test_normalize_arguments():
    with pytest.raises(ConfigError, match="per channel"):
        Normalize(mean=[1, 2, 3], std=[1, 2])
    with pytest.raises(ConfigError, match="zero"):
        Normalize(mean=[1, 2, 3], std=[1, 0, 2])
    with pytest.raises(ConfigError, match="1 channel"):
        Normalize(mean=MEAN, std=STD)(dict(img=np.zeros((4, 4), np.uint8)))
    gray = Normalize(mean=[10.0], std=[2.0], to_rgb=False, defer=False)(
        dict(img=np.full((2, 2), 14, np.uint8)))
    assert gray["img"].tolist() == [[2.0, 2.0], [2.0, 2.0]]
