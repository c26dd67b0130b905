"""MMSegmentation 1.x transforms against MMSeg 1.2.2's outputs (fixtures_1x/transforms_1x.npz,
made by make_transforms_1x_fixtures.py with the MMSeg 1.x venv), plus their 1.x-only arguments.

The references are exact: the same image, label map, configs and ``np.random`` seeds give the
same pixels, scales, flips and the same number of random draws (checked by the next draw).
"""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import seglab.datasets  # noqa: F401  (registers the transforms)
from seglab.datasets.transforms import (Compose, LoadAnnotations, LoadImageFromFile,
                                        MultiScaleFlipAug, PackSegInputs, Pad, RandomCrop,
                                        RandomFlip, RandomResize, Resize)
from seglab.datasets.transforms import TestTimeAug as TTA  # (pytest would collect Test*)
from seglab.errors import ConfigError, DatasetError
from seglab.registry import TRANSFORMS, build_from_cfg

from make_transforms_1x_fixtures import CASES, PIPELINE_SEEDS, TRAIN_PIPELINE  # noqa: E402
from make_transforms_1x_fixtures import sample as make_sample  # noqa: E402

FIXTURES = np.load(Path(__file__).with_name("fixtures_1x") / "transforms_1x.npz")

# The free rotation is cv2.warpAffine (bilinear): OpenCV 5.0 (seglab's venv) and 4.11 (the MMSeg
# venv that made the fixture) round its fixed-point interpolation differently, by up to a few
# grey levels; everything else (resizes included) is bit-equal.
ATOL = {"rot_free": 4}


def sample():
    return make_sample("gt_semantic_seg")


def test_every_fixture_case_is_checked():
    cases = {k.split("/")[0] for k in FIXTURES.files if not k.startswith(("tta/", "pipeline/"))}
    assert cases == {c for c, _, _ in CASES}


@pytest.mark.parametrize("case, cfg, seed", CASES, ids=[c for c, _, _ in CASES])
def test_transform_equals_mmseg_1x(case, cfg, seed):
    transform = build_from_cfg(dict(cfg), TRANSFORMS)
    if seed is not None:
        np.random.seed(seed)
    out = transform(sample())
    ref = json.loads(str(FIXTURES[f"{case}/meta"]))
    if seed is not None:
        assert np.random.random_sample() == ref["next_draw"], "another number of random draws"
    seg = out["gt_edge_map"] if case == "edge" else out["gt_semantic_seg"]
    assert seg.dtype == FIXTURES[f"{case}/seg"].dtype
    for got, want in ((out["img"], FIXTURES[f"{case}/img"]), (seg, FIXTURES[f"{case}/seg"])):
        assert got.shape == want.shape
        np.testing.assert_allclose(got.astype(int), want.astype(int), rtol=0,
                                   atol=ATOL.get(case, 0))
    assert list(out["img_shape"][:2]) == list(out["img"].shape[:2])
    if "scale" in ref:
        scale = out["scale"]  # (w, h), or the int of RandomChoiceResize(scales=[..., 2])
        assert (list(scale) if isinstance(scale, tuple) else scale) == ref["scale"]
        assert out["scale_factor"][:2].tolist() == pytest.approx(ref["scale_factor"], rel=1e-6)
        assert out["keep_ratio"] == ref["keep_ratio"]
    if "scale_idx" in ref:
        assert out["scale_idx"] == ref["scale_idx"]
    if "flip" in ref:
        assert out["flip"] == ref["flip"]
        if ref["flip"] or cfg.get("direction", "") != "horizontal" and isinstance(
                cfg.get("direction"), list):
            assert out["flip_direction"] == ref["flip_direction"]


@pytest.mark.parametrize("seed", PIPELINE_SEEDS)
def test_a_1x_training_pipeline_equals_mmseg_1x(seed):
    """RandomResize, RandomCrop(cat_max_ratio), RandomFlip, PhotoMetricDistortion and
    PackSegInputs in a row: every draw of the whole pipeline in 1.x's order."""
    pipeline = Compose([dict(cfg) for cfg in TRAIN_PIPELINE])
    np.random.seed(seed)
    out = pipeline(sample())
    ref = json.loads(str(FIXTURES[f"pipeline/{seed}/meta"]))
    assert np.random.random_sample() == ref["next_draw"]
    np.testing.assert_array_equal(out["img"].numpy(), FIXTURES[f"pipeline/{seed}/img"])
    np.testing.assert_array_equal(out["gt_semantic_seg"].numpy(), FIXTURES[f"pipeline/{seed}/seg"])
    meta = out["img_metas"]
    assert meta["flip"] == ref["flip"] and list(meta["img_shape"][:2]) == ref["img_shape"]
    assert meta["scale_factor"][:2].tolist() == pytest.approx(ref["scale_factor"])


def test_random_draws_cover_the_ranges():
    """Hand-checked properties over many seeds: RandomResize's ratio range, the flip shares."""
    resize = RandomResize(scale=(64, 16), ratio_range=(0.5, 2.0), keep_ratio=True)
    img = np.zeros((16, 64, 3), np.uint8)
    np.random.seed(0)
    widths = [resize(dict(img=img.copy(), seg_fields=[]))["scale"][0] for _ in range(300)]
    assert 32 <= min(widths) < 36 and 124 < max(widths) <= 128
    flip = RandomFlip(prob=[0.5, 0.25], direction=["horizontal", "vertical"])
    np.random.seed(1)
    dirs = [flip(dict(img=img.copy(), seg_fields=[]))["flip_direction"] for _ in range(2000)]
    shares = [dirs.count(d) / len(dirs) for d in ("horizontal", "vertical", None)]
    assert shares == pytest.approx([0.5, 0.25, 0.25], abs=0.04)


def test_test_time_aug_equals_mmseg_1x_and_multi_scale_flip_aug():
    tta = TTA(transforms=[
        [dict(type="Resize", scale_factor=r, keep_ratio=True) for r in (0.5, 1.0, 1.75)],
        [dict(type="RandomFlip", prob=0.0, direction="horizontal"),
         dict(type="RandomFlip", prob=1.0, direction="horizontal")],
        [dict(type="PackSegInputs")]])
    out = tta(sample())
    count = int(FIXTURES["tta/count"])
    assert count == 6 and set(out) == {"img", "gt_semantic_seg", "img_metas"}
    assert len(out["img"]) == len(out["img_metas"]) == count
    for i in range(count):
        ref = json.loads(str(FIXTURES[f"tta/{i}/meta"]))
        np.testing.assert_array_equal(out["img"][i].numpy(), FIXTURES[f"tta/{i}/img"])
        np.testing.assert_array_equal(out["gt_semantic_seg"][i].numpy(), FIXTURES[f"tta/{i}/seg"])
        meta = out["img_metas"][i]
        assert set(ref) <= set(meta)  # every metainfo key 1.x packs, seglab's keys beside
        # unflipped, 1.x says direction None, 0.x (and seglab for one direction) 'horizontal'
        assert meta["flip_direction"] == (ref["flip_direction"] or "horizontal")
        assert meta["flip"] == ref["flip"] and list(meta["img_shape"][:2]) == ref["img_shape"]
        assert meta["scale_factor"][:2].tolist() == pytest.approx(ref["scale_factor"])
    # the order of 0.x's MultiScaleFlipAug (scale-major, unflipped first); the sizes may differ
    # by a pixel: 1.x rounds image size x factor half up, 0.x's img_ratios truncate
    msfa = MultiScaleFlipAug(img_ratios=[0.5, 1.0, 1.75], flip=True, transforms=[
        dict(type="Resize", keep_ratio=True), dict(type="RandomFlip"),
        dict(type="ImageToTensor", keys=["img"]),
        dict(type="Collect", keys=["img"], meta_keys=["flip"])])
    old = msfa(sample())
    assert [m["flip"] for m in old["img_metas"]] == [m["flip"] for m in out["img_metas"]]
    for a, b in zip(old["img"], out["img"]):
        assert abs(a.shape[1] - b.shape[1]) <= 1 and abs(a.shape[2] - b.shape[2]) <= 1
    assert [tuple(m.shape) for m in out["img"]] == [(3, 7, 9)] * 2 + [(3, 13, 17)] * 2 + [
        (3, 23, 30)] * 2
    assert [tuple(m.shape) for m in old["img"]][::2] == [(3, 6, 8), (3, 13, 17), (3, 22, 29)]


def test_pack_seg_inputs_gives_default_format_bundle_and_collect():
    results = Resize(scale=(34, 26), keep_ratio=True)(sample())
    results.update(filename="a/b.jpg", ori_filename="b.jpg", img_path="a/b.jpg")
    old = Compose([dict(type="RandomFlip", prob=0.0), dict(type="DefaultFormatBundle"),
                   dict(type="Collect", keys=["img", "gt_semantic_seg"], meta_keys=[
                       "filename", "ori_filename", "ori_shape", "img_shape", "scale_factor",
                       "flip", "flip_direction"])])(dict(results))
    packed = PackSegInputs()(dict(results))
    assert set(packed) == set(old) == {"img", "gt_semantic_seg", "img_metas"}
    assert torch.equal(packed["img"], old["img"]) and packed["img"].shape == (3, 26, 34)
    assert packed["gt_semantic_seg"].dtype == torch.int64
    assert torch.equal(packed["gt_semantic_seg"], old["gt_semantic_seg"])
    meta = packed["img_metas"]
    for key, value in old["img_metas"].items():
        if key != "flip_direction":  # no RandomFlip ran: 1.x's None, not 0.x's 'horizontal'
            assert np.array_equal(meta[key], value), key
    assert meta["flip"] is False and meta["flip_direction"] is None
    assert meta["img_path"] == "a/b.jpg" and "seg_map_path" not in meta
    only = PackSegInputs(meta_keys=("img_path",))(dict(results))["img_metas"]
    assert only["img_path"] == "a/b.jpg" and "ori_shape" in only  # the runtime's keys stay
    edge = build_from_cfg(dict(type="GenerateEdge"), TRANSFORMS)(sample())
    packed = PackSegInputs()(edge)
    assert packed["gt_edge_map"].shape == (1, 13, 17) and packed["gt_edge_map"].dtype == torch.int64


def test_resize_keeps_0x_behaviour_and_refuses_mixed_dialects():
    r = Resize(img_scale=(40, 20))
    assert r.keep_ratio is True and r.v1x is False
    assert Resize(scale=(40, 20)).keep_ratio is False  # 1.x's default
    out = Resize(img_scale=(40, 20))(dict(sample(), scale=(30, 11)))
    assert out["img"].shape[:2] == (11, 14)  # 0.x: a preset scale (MultiScaleFlipAug) wins
    out = Resize(scale=(40, 20), keep_ratio=True)(dict(sample(), scale=(30, 11)))
    assert out["img"].shape[:2] == (20, 26)  # 1.x: the transform's own scale wins
    with pytest.raises(ConfigError, match="not both"):
        Resize(img_scale=(40, 20), scale=(40, 20))
    with pytest.raises(ConfigError, match="backend='pillow'"):
        Resize(scale=(4, 4), backend="pillow")
    with pytest.raises(ConfigError, match="scale_factor"):
        Resize(scale_factor=(1.0, 2.0, 3.0))
    with pytest.raises(ConfigError, match="ratio_range"):
        RandomResize(scale=(64, 16))
    with pytest.raises(ConfigError, match=r"give \(w, h\) pairs"):
        build_from_cfg(dict(type="RandomChoiceResize", scales=[3]), TRANSFORMS)(sample())


def test_flip_and_crop_1x_arguments():
    seg = np.array([[1, 2, 3]], np.uint8)
    out = RandomFlip(prob=1.0, swap_seg_labels=[(1, 3)])(
        dict(img=np.zeros((1, 3, 3), np.uint8), gt_semantic_seg=seg.copy(),
             seg_fields=["gt_semantic_seg"]))
    assert out["gt_semantic_seg"].tolist() == [[1, 2, 3]]  # flipped, then left / right swapped
    with pytest.raises(ConfigError, match="one probability per direction"):
        RandomFlip(prob=[0.5], direction=["horizontal", "vertical"])
    with pytest.raises(ConfigError, match="direction"):
        RandomFlip(prob=0.5, direction=["horizontal", "sideways"])
    assert RandomCrop(crop_size=8).crop_size == (8, 8)
    with pytest.raises(ConfigError, match="lists of transforms"):
        TTA(transforms=[dict(type="Resize", scale=(4, 4))])


def test_loading_1x_arguments(tmp_path):
    import cv2
    cv2.imwrite(str(tmp_path / "a.png"), np.full((4, 5, 3), 7, np.uint8))
    cv2.imwrite(str(tmp_path / "a_seg.png"), np.array([[0, 1, 2, 255]] * 4, np.uint8))
    info = dict(img_info=dict(filename="a.png"), img_prefix=str(tmp_path))
    out = LoadImageFromFile(backend_args=dict(backend="local"))(dict(info))
    assert out["img_path"] == out["filename"] == str(tmp_path / "a.png")
    assert LoadImageFromFile(ignore_empty=True)(dict(info, img_info=dict(filename="x.png"))) is None
    with pytest.raises(DatasetError, match="not found"):
        LoadImageFromFile()(dict(info, img_info=dict(filename="x.png")))
    with pytest.raises(ConfigError, match="only local files"):
        LoadImageFromFile(backend_args=dict(backend="petrel"))
    ann = dict(ann_info=dict(seg_map="a_seg.png"), seg_prefix=str(tmp_path), seg_fields=[])
    assert LoadAnnotations()(dict(ann))["gt_semantic_seg"][0].tolist() == [0, 1, 2, 255]
    # 1.x: reduce_zero_label comes from the dataset's sample when the transform leaves it None
    out = LoadAnnotations()(dict(ann, reduce_zero_label=True))
    assert out["gt_semantic_seg"][0].tolist() == [255, 0, 1, 255]
    assert out["seg_map_path"] == str(tmp_path / "a_seg.png") and out["reduce_zero_label"]
    with pytest.raises(ConfigError, match=r"reduce_zero_label=False\) but the dataset"):
        LoadAnnotations(reduce_zero_label=False)(dict(ann, reduce_zero_label=True))


def test_pad_takes_1x_pad_val_dict_and_pads_the_edge_map():
    out = Pad(size=(4, 5), pad_val=dict(img=3, seg=7))(sample() | dict(
        img=np.zeros((2, 3, 3), np.uint8), gt_semantic_seg=np.zeros((2, 3), np.uint8)))
    assert out["img"].shape == (4, 5, 3) and out["img"][3, 4].tolist() == [3, 3, 3]
    assert out["gt_semantic_seg"][3, 4] == 7 and out["gt_semantic_seg"][1, 2] == 0
    edge = Pad(size=(16, 20), seg_pad_val=255)(
        build_from_cfg(dict(type="GenerateEdge"), TRANSFORMS)(sample()))
    assert edge["gt_edge_map"].shape == (16, 20) and edge["gt_edge_map"][15, 19] == 255
    np.testing.assert_array_equal(edge["gt_edge_map"][:13, :17], FIXTURES["edge/seg"])
    with pytest.raises(ConfigError, match="padding_mode='reflect'"):
        Pad(size=(4, 4), padding_mode="reflect")
    with pytest.raises(ConfigError, match="'depth'"):
        Pad(size=(4, 4), pad_val=dict(img=0, depth=0))
