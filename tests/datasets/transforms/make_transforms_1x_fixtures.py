"""Make fixtures_1x/transforms_1x.npz: outputs of MMSegmentation 1.2.2's (mmcv 2.1's) transforms.

Run with the MMSeg 1.x venv (never imported by seglab or its tests):
    /work/mmseg-venv/bin/python tests/datasets/transforms/make_transforms_1x_fixtures.py

Every case starts from the same small uint8 image (13 x 17 x 3) and label map (values 0..4 and
255), given as ``results = dict(img, gt_seg_map, seg_fields=['gt_seg_map'], img_shape,
ori_shape)``. Random transforms are run after ``np.random.seed(seed)`` (mmcv draws from
``np.random``), so their outputs are exact references too. For each case the npz holds
``<case>/img`` and ``<case>/seg`` (the outputs) and ``<case>/meta`` (a JSON string: scale, flip,
direction, shapes...). TestTimeAug and PackSegInputs store the per-augmentation shapes and flags
and the packed tensors.
"""
import json
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("fixtures_1x") / "transforms_1x.npz"


def sample(seg_key="gt_seg_map"):
    """The input of every case (``seg_key``: 1.x's ``gt_seg_map``, seglab's ``gt_semantic_seg``);
    seglab's test imports this and ``CASES`` (nothing of MMSeg is imported at module level)."""
    rng = np.random.RandomState(7)
    img = rng.randint(0, 256, (13, 17, 3)).astype(np.uint8)
    seg = rng.randint(0, 5, (13, 17)).astype(np.uint8)
    seg[:3, :4] = 255
    seg[6:, 8:] = 2  # a large region so that crops can be one-class
    shape = img.shape[:2] if seg_key == "gt_seg_map" else img.shape  # 1.x: (h, w); 0.x: 3-D
    return {"img": img, seg_key: seg, "seg_fields": [seg_key], "img_shape": shape,
            "ori_shape": shape}


def jsonable(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (tuple, list)):
        return [jsonable(x) for x in v]
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    return v


# (case, transform config, seed or None)
CASES = [
    ("resize_scale_keep", dict(type="Resize", scale=(40, 20), keep_ratio=True), None),
    ("resize_scale_exact", dict(type="Resize", scale=(30, 11), keep_ratio=False), None),
    ("resize_int_scale", dict(type="Resize", scale=24, keep_ratio=True), None),
    ("resize_factor_keep", dict(type="Resize", scale_factor=0.75, keep_ratio=True), None),
    ("resize_factor_pair", dict(type="Resize", scale_factor=(1.5, 0.5), keep_ratio=False), None),
    ("resize_factor_nearest", dict(type="Resize", scale_factor=1.75, keep_ratio=True,
                                   interpolation="nearest"), None),
    ("shortest_edge", dict(type="ResizeShortestEdge", scale=20, max_size=100), None),
    ("shortest_edge_capped", dict(type="ResizeShortestEdge", scale=(30, 20), max_size=22), None),
    ("random_resize_ratio", dict(type="RandomResize", scale=(64, 16), ratio_range=(0.5, 2.0),
                                 keep_ratio=True), 3),
    ("random_resize_ratio_b", dict(type="RandomResize", scale=(64, 16), ratio_range=(0.5, 2.0),
                                   keep_ratio=True), 11),
    ("random_resize_range", dict(type="RandomResize", scale=[(20, 10), (40, 30)],
                                 keep_ratio=False), 5),
    ("random_choice_resize", dict(type="RandomChoiceResize", scales=[(20, 10), (34, 26), 16],
                                  keep_ratio=True), 2),
    # an int scale reaches Resize unconverted: with keep_ratio, 1.x rescales by it as a factor
    ("random_choice_resize_int", dict(type="RandomChoiceResize", scales=[(20, 10), (34, 26), 2],
                                      keep_ratio=True), 3),
    ("random_choice_shortest_edge", dict(type="RandomChoiceResize", scales=[12, 20],
                                         resize_type="ResizeShortestEdge", max_size=30), 1),
    ("flip_list", dict(type="RandomFlip", prob=[0.3, 0.3, 0.2],
                       direction=["horizontal", "vertical", "diagonal"]), 1),
    ("flip_list_b", dict(type="RandomFlip", prob=0.9, direction=["horizontal", "vertical"]), 4),
    ("flip_one", dict(type="RandomFlip", prob=0.5), 0),
    ("crop_int", dict(type="RandomCrop", crop_size=8), 6),
    ("crop_cat", dict(type="RandomCrop", crop_size=(6, 9), cat_max_ratio=0.5), 9),
    ("photometric", dict(type="PhotoMetricDistortion"), 12),
    ("rot_flip", dict(type="RandomRotFlip", rotate_prob=0.0, flip_prob=1.0), 8),
    ("rot_free", dict(type="RandomRotFlip", rotate_prob=1.0, flip_prob=1.0, degree=30), 8),
    ("edge", dict(type="GenerateEdge", edge_width=3), None),
]

# the 1.x configs' train_pipeline after LoadImageFromFile / LoadAnnotations, at a small scale
TRAIN_PIPELINE = [
    dict(type="RandomResize", scale=(64, 16), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type="RandomCrop", crop_size=(8, 8), cat_max_ratio=0.75),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion"),
    dict(type="PackSegInputs"),
]
PIPELINE_SEEDS = (0, 1, 2, 3)


def main():
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks/side_by_side"))
    import mmcv_ops_standin

    mmcv_ops_standin.install()
    from mmseg.registry import TRANSFORMS
    from mmseg.utils import register_all_modules

    register_all_modules()
    arrays = {}
    for case, cfg, seed in CASES:
        transform = TRANSFORMS.build(dict(cfg))
        if seed is not None:
            np.random.seed(seed)
        out = transform(sample())
        arrays[f"{case}/img"] = out["img"]
        arrays[f"{case}/seg"] = out["gt_edge_map"] if case == "edge" else out["gt_seg_map"]
        meta = {k: jsonable(out[k]) for k in ("scale", "scale_factor", "flip", "flip_direction",
                                                "img_shape", "keep_ratio", "scale_idx")
                if k in out}
        if seed is not None:  # the draws used up, checked too
            meta["next_draw"] = float(np.random.random_sample())
        arrays[f"{case}/meta"] = np.array(json.dumps(meta, sort_keys=True))
    # A whole 1.x training pipeline after loading (the 1.x configs' steps, small sizes), a few
    # seeds: every random draw in its order
    for seed in PIPELINE_SEEDS:
        pipeline = [TRANSFORMS.build(dict(cfg)) for cfg in TRAIN_PIPELINE]
        np.random.seed(seed)
        results = sample()
        for step in pipeline:
            results = step(results)
        arrays[f"pipeline/{seed}/img"] = results["inputs"].numpy()
        arrays[f"pipeline/{seed}/seg"] = results["data_samples"].gt_sem_seg.data.numpy()
        arrays[f"pipeline/{seed}/meta"] = np.array(json.dumps(dict(
            {k: jsonable(v) for k, v in results["data_samples"].metainfo.items()},
            next_draw=float(np.random.random_sample())), sort_keys=True))
    # TestTimeAug: 1.x configs' tta_pipeline after loading (ratios, unflipped / flipped, pack)
    tta = TRANSFORMS.build(dict(type="TestTimeAug", transforms=[
        [dict(type="Resize", scale_factor=r, keep_ratio=True) for r in (0.5, 1.0, 1.75)],
        [dict(type="RandomFlip", prob=0.0, direction="horizontal"),
         dict(type="RandomFlip", prob=1.0, direction="horizontal")],
        [dict(type="PackSegInputs")]]))
    out = tta(sample())
    for i, (inputs, data_sample) in enumerate(zip(out["inputs"], out["data_samples"])):
        arrays[f"tta/{i}/img"] = inputs.numpy()
        arrays[f"tta/{i}/seg"] = data_sample.gt_sem_seg.data.numpy()
        arrays[f"tta/{i}/meta"] = np.array(json.dumps(
            {k: jsonable(v) for k, v in data_sample.metainfo.items()}, sort_keys=True))
    arrays["tta/count"] = np.array(len(out["inputs"]))
    OUT.parent.mkdir(exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(arrays)} arrays)")


if __name__ == "__main__":
    main()
