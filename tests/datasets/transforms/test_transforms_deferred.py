"""Deferred normalisation gives the eager result for any order of transforms after Normalize."""
import numpy as np
import pytest

from seglab.datasets.collate import collate, prepare_batch
from seglab.datasets.transforms import Compose, apply_deferred_normalize, normalize_tensor

NORM = dict(type="Normalize", mean=[100.0, 110.0, 120.0], std=[50.0, 60.0, 70.0], to_rgb=True)
TAIL = [dict(type="DefaultFormatBundle"),
        dict(type="Collect", keys=["img", "gt_semantic_seg"], meta_keys=["img_shape",
                                                                         "img_norm_cfg"])]
ORDERS = {
    "pad_then_flip": [NORM, dict(type="Pad", size=(12, 14), pad_val=2.0),
                      dict(type="RandomFlip", prob=1.0)],
    "pad_then_crop": [NORM, dict(type="Pad", size=(12, 14), pad_val=-1.0),
                      dict(type="RandomCrop", crop_size=(8, 9))],
    "crop_flip_then_pad": [NORM, dict(type="RandomCrop", crop_size=(7, 9)),
                           dict(type="RandomFlip", prob=1.0, direction="vertical"),
                           dict(type="Pad", size_divisor=8, pad_val=3.0, seg_pad_val=0)],
    "two_pads": [NORM, dict(type="Pad", size=(11, 13), pad_val=1.0),
                 dict(type="Pad", size_divisor=8, pad_val=5.0)],
    "resize_after": [NORM, dict(type="Resize", img_scale=(20, 20), keep_ratio=True)],
    "rotate_after": [NORM, dict(type="RandomRotate", prob=1.0, degree=20, pad_val=4.0)],
    "photometric_after": [NORM, dict(type="PhotoMetricDistortion")],
    "pad_before": [dict(type="Pad", size_divisor=8, pad_val=0), NORM,
                   dict(type="RandomCrop", crop_size=(9, 9))],
    "resize_to_multiple_after": [NORM, dict(type="ResizeToMultiple", size_divisor=4)],
    "cutout_after_pad": [NORM, dict(type="Pad", size=(12, 14), pad_val=2.0),
                         dict(type="RandomCutOut", prob=1.0, n_holes=2, cutout_shape=(3, 3),
                              fill_in=(7.0, 8.0, 9.0))],
}


def _eager(cfgs):
    return [dict(cfg, defer=False) if cfg["type"] == "Normalize" else cfg for cfg in cfgs]


def _inputs():
    rng = np.random.default_rng(1)
    out = []
    for h, w in [(10, 11), (6, 13)]:
        out.append(dict(img=rng.integers(0, 256, (h, w, 3)).astype(np.uint8),
                        gt_semantic_seg=rng.integers(0, 4, (h, w)).astype(np.uint8),
                        seg_fields=["gt_semantic_seg"], img_shape=(h, w, 3)))
    return out


def _batch(cfgs, seed):
    np.random.seed(seed)
    pipeline = Compose(cfgs + TAIL)
    return prepare_batch(collate([pipeline(dict(r)) for r in _inputs()]), "cpu")


@pytest.mark.parametrize("name", sorted(ORDERS))
def test_deferred_equals_eager(name):
    for seed in range(2):
        got = _batch(ORDERS[name], seed)
        want = _batch(_eager(ORDERS[name]), seed)
        assert got["img"].shape == want["img"].shape
        assert (got["img"] - want["img"]).abs().max().item() <= 1e-5, name
        assert (got["gt_semantic_seg"] == want["gt_semantic_seg"]).all()


def test_materialising_a_formatted_tensor():
    pipeline = Compose([NORM, dict(type="Pad", size=(4, 4), pad_val=9.0),
                        dict(type="ImageToTensor", keys=["img"])])
    res = pipeline(dict(img=np.full((2, 3, 3), 100, np.uint8)))
    apply_deferred_normalize(res)
    assert res["img"].shape == (3, 4, 4)
    assert res["img"][:, 0, 0].tolist() == pytest.approx([0.0, -10 / 60, -20 / 70], abs=1e-6)
    assert res["img"][:, 3, 3].tolist() == [9.0, 9.0, 9.0]


def test_normalize_tensor_checks_its_inputs():
    import torch
    with pytest.raises(ValueError, match="B, C, H, W"):
        normalize_tensor(torch.zeros(3, 2, 2), [None])
    with pytest.raises(ValueError, match="batch of 1"):
        normalize_tensor(torch.zeros(1, 3, 2, 2), [None, None])


@pytest.mark.parametrize("mean,std", [
    ([123.675, 116.28, 103.53], [58.395, 57.12, 57.375]),
    ([127.5, 127.5, 127.5], [127.5, 127.5, 127.5]),
    ([73.53223948, 80.01710095, 74.59297778], [49.44672066, 48.5491595, 49.43489216]),
])
def test_device_normalisation_is_bit_identical_to_mmcv_on_all_uint8_values(mean, std):
    import torch
    from seglab.datasets.transforms.image_ops import imnormalize
    values = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    eager = imnormalize(values, np.float32(mean), np.float32(std), to_rgb=True)
    cfg = dict(mean=np.float32(mean), std=np.float32(std), to_rgb=True, deferred=True)
    chw = torch.from_numpy(np.ascontiguousarray(values.transpose(2, 0, 1)))[None]
    deferred = normalize_tensor(chw, [cfg])[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(deferred, eager)
