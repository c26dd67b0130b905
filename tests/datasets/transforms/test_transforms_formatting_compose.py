"""DefaultFormatBundle / ImageToTensor / Collect, Compose building and errors, MultiScaleFlipAug."""
import numpy as np
import pytest
import torch

from seglab.datasets.transforms import (Collect, Compose, DefaultFormatBundle, ImageToTensor,
                                        MultiScaleFlipAug, ToTensor, Transpose)
from seglab.errors import ConfigError, RegistryError
from seglab.registry import TRANSFORMS, build_from_cfg

META = dict(filename="a.jpg", ori_filename="a.jpg", ori_shape=(4, 6, 3), img_shape=(4, 6, 3),
            pad_shape=(4, 6, 3), scale_factor=1.0, flip=False, flip_direction="horizontal",
            img_norm_cfg=dict(mean=0, std=1, to_rgb=False))


def test_default_format_bundle_and_collect():
    img = np.arange(72, dtype=np.uint8).reshape(4, 6, 3)
    seg = np.arange(24, dtype=np.uint8).reshape(4, 6)
    res = dict(img=img, gt_semantic_seg=seg, extra=1, **META)
    res = DefaultFormatBundle()(res)
    assert res["img"].shape == (3, 4, 6) and res["img"].dtype == torch.uint8
    assert torch.equal(res["img"][1], torch.from_numpy(img[..., 1]))
    assert res["gt_semantic_seg"].shape == (1, 4, 6) and res["gt_semantic_seg"].dtype == torch.int64
    out = Collect(keys=["img", "gt_semantic_seg"])(res)
    assert set(out) == {"img", "gt_semantic_seg", "img_metas"}
    assert set(out["img_metas"]) == set(META)
    out = Collect(keys=["img"], meta_keys=["filename"])(dict(img=1, filename="x"))
    assert out == {"img_metas": {"filename": "x"}, "img": 1}


def test_collect_missing_keys_fail_clearly():
    with pytest.raises(ConfigError, match="'gt_semantic_seg'.*LoadAnnotations"):
        Collect(keys=["img", "gt_semantic_seg"])(dict(img=1, **META))
    without_flip = {k: v for k, v in META.items() if k != "flip"}
    with pytest.raises(ConfigError, match="'flip'"):
        Collect(keys=["img"])(dict(img=1, **without_flip))
    with pytest.raises(ConfigError, match="list"):
        Collect(keys="img")


def test_image_to_tensor_to_tensor_and_transpose():
    out = ImageToTensor(keys=["img", "gray"])(dict(img=np.zeros((4, 5, 3), np.float32),
                                                    gray=np.zeros((4, 5), np.uint8)))
    assert out["img"].shape == (3, 4, 5) and out["gray"].shape == (1, 4, 5)
    out = ToTensor(keys=["a", "b", "c"])(dict(a=np.ones(2), b=3, c=[1.0, 2.0]))
    assert out["a"].dtype == torch.float64 and out["b"].tolist() == [3] and out["c"].shape == (2,)
    assert Transpose(keys=["a"], order=(1, 0))(dict(a=np.zeros((2, 3))))["a"].shape == (3, 2)


def test_constructors_reject_unknown_keys():
    with pytest.raises(RegistryError, match="meta_key"):
        build_from_cfg(dict(type="Collect", keys=["img"], meta_key=[]), TRANSFORMS)
    with pytest.raises(RegistryError, match="DefaultFormatBundle"):
        build_from_cfg(dict(type="DefaultFormatBundle", keys=["img"]), TRANSFORMS)


def test_compose_builds_configs_and_callables_and_drops_none():
    calls = []
    pipeline = Compose([dict(type="ImageToTensor", keys=["img"]),
                        lambda r: calls.append(r["img"].shape) or r])
    out = pipeline(dict(img=np.zeros((2, 3, 3), np.uint8)))
    assert calls == [(3, 2, 3)] and out["img"].shape == (3, 2, 3)
    assert Compose([lambda r: None, lambda r: pytest.fail("must not run")])(dict()) is None
    assert "ImageToTensor" in repr(pipeline)


def test_compose_errors_name_the_config_path():
    with pytest.raises(RegistryError, match=r"pipeline\.1\.type = 'Resise'.*Did you mean 'Resize'"):
        Compose([dict(type="ImageToTensor", keys=["img"]), dict(type="Resise")])
    with pytest.raises(RegistryError,
                       match=r"RandomFlip at pipeline\.0 got unexpected key.*'prop'"):
        Compose([dict(type="RandomFlip", prop=0.5)])
    with pytest.raises(ConfigError, match=r"pipeline\.0 must be a transform dict"):
        Compose([42])
    with pytest.raises(ConfigError, match="list of transform dicts"):
        Compose(dict(type="Resize"))
    with pytest.raises(RegistryError, match=r"pipeline\.1\.transforms\.0\.type = 'Rezise'"):
        Compose([dict(type="LoadImageFromFile"),
                 dict(type="MultiScaleFlipAug", img_scale=(8, 8),
                      transforms=[dict(type="Rezise")])])


def test_compose_gives_foreign_callables_normalised_images():
    seen = []
    pipeline = Compose([dict(type="Normalize", mean=[1, 1, 1], std=[2, 2, 2], to_rgb=False),
                        lambda r: seen.append(r["img"].copy()) or r])
    pipeline(dict(img=np.full((1, 1, 3), 5, np.uint8)))
    assert seen[0].dtype == np.float32 and seen[0].ravel().tolist() == [2.0, 2.0, 2.0]


def _tta(**kwargs):
    return MultiScaleFlipAug(transforms=[dict(type="Resize", keep_ratio=True),
                                         dict(type="RandomFlip"),
                                         dict(type="ImageToTensor", keys=["img"]),
                                         dict(type="Collect", keys=["img"],
                                              meta_keys=["img_shape", "flip", "scale"])],
                             **kwargs)


def test_multi_scale_flip_aug_lists_every_augmentation():
    img = np.arange(20 * 40 * 3, dtype=np.uint8).reshape(20, 40, 3)
    out = _tta(img_scale=(80, 40), img_ratios=[0.5, 1.0], flip=True)(dict(img=img))
    metas = out["img_metas"]
    assert [m["scale"] for m in metas] == [(40, 20), (40, 20), (80, 40), (80, 40)]
    assert [m["flip"] for m in metas] == [False, True, False, True]
    assert [tuple(t.shape) for t in out["img"]] == [(3, 20, 40)] * 2 + [(3, 40, 80)] * 2
    assert torch.equal(out["img"][1], out["img"][0].flip(-1))


def test_multi_scale_flip_aug_scale_modes():
    img = np.zeros((20, 40, 3), np.uint8)
    out = _tta(img_scale=None, img_ratios=[0.5, 1.5])(dict(img=img))
    assert [m["scale"] for m in out["img_metas"]] == [(20, 10), (60, 30)]
    out = _tta(img_scale=[(10, 10), (20, 20)])(dict(img=img))
    assert [m["img_shape"] for m in out["img_metas"]] == [(5, 10, 3), (10, 20, 3)]
    out = _tta(img_scale=(2048, 512), img_ratios=1)(dict(img=img))
    assert out["img_metas"][0]["scale"] == (2048, 512)
    out = _tta(img_scale=(40, 40), flip=True, flip_direction=["horizontal", "vertical"])(
        dict(img=img))
    assert len(out["img"]) == 4


def test_multi_scale_flip_aug_arguments():
    with pytest.raises(ConfigError, match="img_scale"):
        _tta()
    with pytest.raises(ConfigError, match="img_ratios"):
        _tta(img_scale=(8, 8), img_ratios=[0.5, "x"])
    with pytest.raises(ConfigError, match="flip_direction"):
        _tta(img_scale=(8, 8), flip=True, flip_direction="diagonal")
    with pytest.warns(UserWarning, match="RandomFlip"):
        MultiScaleFlipAug(transforms=[dict(type="Resize")], img_scale=(8, 8), flip=True)
