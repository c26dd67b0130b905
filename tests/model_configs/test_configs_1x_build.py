"""Every MMSegmentation 1.x config under configs/1.x/ whose types seglab has converts to the 0.x
form and builds: its model (on the meta device, as test_configs_build.py builds the 0.x
configs, with its helpers), optimizer and lr schedule, and the transforms of every dataset
pipeline (built, not run). The configs whose types seglab lacks are the manifest
``configs_1x_missing.py`` (kept by test_configs_1x_types_exist.py); each must fail to convert
or build with a seglab error, never a traceback of another kind.

The pair ``fcn_r50-d8_512x512_20k_voc12aug.py`` (0.x) / ``fcn_r50-d8_4xb4-20k_voc12aug-512x512.py``
(1.x) gives the same model, optimizer, step options, evaluation, checkpoints, the same test
pipeline outputs on an image, and learning rates equal up to 1.x PolyLR's one-step-shorter decay.
"""
from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from seglab.config import Config, convert_1x_config, is_1x_config
from seglab.datasets.sample_loading import build_compose
from seglab.engine import build_lr_hook, build_optimizer
from seglab.errors import SeglabError

from configs_1x_missing import MISSING  # the manifest beside this file
from test_configs_build import CONFIGS as CONFIGS_0X
from test_configs_build import _build_meta, _check_fcn_r50_d8_voc_layout, _heads

ROOT = Path(__file__).resolve().parents[2]
TREE = ROOT / "configs" / "1.x"
LEAVES = sorted(p.relative_to(ROOT).as_posix() for p in TREE.rglob("*.py")
                if "_base_" not in p.parts)
RUNNABLE = [p for p in LEAVES if p not in MISSING]
PAIR_0X = "configs/fcn/fcn_r50-d8_512x512_20k_voc12aug.py"
PAIR_1X = "configs/1.x/fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py"


def converted(path: str) -> Config:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 0.x leftovers in some 1.x files
        cfg = Config.fromfile(ROOT / path)
        assert is_1x_config(cfg), path
        return convert_1x_config(cfg)


def datasets(ds):
    """The leaf dataset dicts of a (wrapped) 0.x dataset config."""
    if ds.get("type") == "ConcatDataset":
        return [leaf for part in ds["datasets"] for leaf in datasets(part)]
    if ds.get("type") == "RepeatDataset":
        return datasets(ds["dataset"])
    return [ds]


def pipelines(cfg):
    """(where, pipeline) of every dataset split and the tta pipeline."""
    out = []
    for split in ("train", "val", "test"):
        if split in cfg.data:
            out += [(f"data.{split}", leaf["pipeline"]) for leaf in datasets(cfg.data[split])]
    if cfg.get("tta_pipeline"):
        out.append(("tta_pipeline", cfg.tta_pipeline))
    return out


_BUILT = set()


@functools.lru_cache(maxsize=None)
def configs_0x() -> tuple:
    return tuple(Config.fromfile(ROOT / path) for path in CONFIGS_0X)


@functools.lru_cache(maxsize=None)
def pairs_built_for_0x() -> frozenset:
    """The (model, optimizer) dicts of the 0.x configs, which test_configs_build.py builds."""
    return frozenset(repr((cfg.model, cfg.optimizer)) for cfg in configs_0x())


def test_no_0x_config_is_taken_for_a_1x_one():
    taken = [path for path, cfg in zip(CONFIGS_0X, configs_0x()) if is_1x_config(cfg)]
    assert len(CONFIGS_0X) >= 644 and not taken


def build_model_and_optimizer(model_cfg, optimizer_cfg) -> None:
    """Build the model on the meta device and its optimizer; check the classifiers and that
    every trainable parameter is optimized.

    Most 1.x configs convert to the very model and optimizer dicts of a 0.x config (373 of 409
    distinct pairs), which test_configs_build.py builds already; those are not built again,
    and each other distinct pair is built once per session (about 37: SegNeXt, PIDNet, DDRNet,
    the 1.x ConvNeXt/BEiT/MAE/K-Net variants, ...)."""
    key = repr((model_cfg, optimizer_cfg))
    if key in _BUILT or key in pairs_built_for_0x():
        return
    model = _build_meta(model_cfg)
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        optimizer = build_optimizer(model, optimizer_cfg)
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert trainable <= {id(p) for g in optimizer.param_groups for p in g["params"]}
    state = model.state_dict()
    for prefix, head in _heads(model_cfg):
        if f"{prefix}.conv_seg.weight" in state:
            assert state[f"{prefix}.conv_seg.weight"].shape[0] == head.num_classes
    _BUILT.add(key)


def test_the_walk_covers_the_tree():
    assert len(LEAVES) >= 654 and len(RUNNABLE) >= len(LEAVES) - 10
    assert any(p.startswith("configs/1.x/demo/") for p in RUNNABLE)


@pytest.mark.parametrize("path", RUNNABLE)
def test_1x_config_converts_and_builds(path):
    cfg = converted(path)
    assert not is_1x_config(cfg)
    for key in ("model", "data", "optimizer", "lr_config", "runner", "log_config"):
        assert key in cfg, f"{path}: no {key} after conversion"
    build_model_and_optimizer(cfg.model, cfg.optimizer)
    schedule = build_lr_hook(cfg.lr_config).schedule
    base, max_iters = cfg.optimizer["lr"], cfg.runner["max_iters"]
    for it in (0, 1, min(1000, max_iters - 1)):  # replaying 160k steps per config is slow
        assert 0 <= schedule.lr_at(base, it, max_iters) <= base * 1.0001, (path, it)
    for where, pipeline in pipelines(cfg):
        transforms = build_compose(pipeline).transforms
        assert type(transforms[-1]).__name__ in ("PackSegInputs", "TestTimeAug"), where
        names = [type(t).__name__ for t in transforms]
        assert "Normalize" in names or "TestTimeAug" in names, (path, where, names)


@pytest.mark.parametrize("path", sorted(p for p in MISSING if "_base_" not in Path(p).parts))
def test_configs_with_missing_types_fail_with_a_seglab_error(path):
    with pytest.raises(SeglabError):
        cfg = converted(path)
        _build_meta(cfg.model)
        for _, pipeline in pipelines(cfg):
            build_compose(pipeline)


# ------------------------------------------------------------------ the 0.x / 1.x FCN pair
@pytest.fixture(scope="module")
def pair():
    return Config.fromfile(ROOT / PAIR_0X), converted(PAIR_1X)


def test_pair_same_model_optimizer_and_loop(pair):
    zero, one = pair
    assert one.to_dict()["model"] == zero.to_dict()["model"]
    _check_fcn_r50_d8_voc_layout(_build_meta(one.model))
    assert one.optimizer == zero.optimizer
    assert one.optimizer_config == zero.optimizer_config == {}
    assert one.runner == zero.runner
    assert one.checkpoint_config == zero.checkpoint_config
    assert one.evaluation["interval"] == zero.evaluation["interval"] == 2000
    assert list(one.evaluation["metric"]) == [zero.evaluation["metric"]]
    assert one.log_config["interval"] == zero.log_config["interval"]
    assert (one.data.samples_per_gpu, one.data.workers_per_gpu) == \
        (zero.data.samples_per_gpu, zero.data.workers_per_gpu)
    # the same images and labels: VOC train + aug, as one concatenated set in both
    leaves = datasets(one.data.train)
    assert [(d["img_dir"], d["ann_dir"], d["split"]) for d in leaves] == \
        list(zip([zero.data.train.img_dir] * 2, zero.data.train.ann_dir, zero.data.train.split))


def test_pair_learning_rates(pair):
    zero, one = pair
    zero_lr, one_lr = build_lr_hook(zero.lr_config).schedule, build_lr_hook(one.lr_config).schedule
    for it in (0, 1, 1000, 10000, 19000):
        a, b = (s.lr_at(0.01, it, 20000) for s in (zero_lr, one_lr))
        # 1.x's PolyLR decays over 19999 steps, 0.x's poly over 20000
        assert b == pytest.approx(a, rel=2e-3, abs=2e-7), it
    assert one_lr.lr_at(0.01, 19999, 20000) == pytest.approx(1e-4)


def test_pair_test_pipelines_give_the_same_sample(pair, tmp_path):
    """0.x MultiScaleFlipAug(Resize, RandomFlip, Normalize, ImageToTensor, Collect) and 1.x
    Resize(scale) + the data preprocessor's Normalize + PackSegInputs: the same pixels."""
    from PIL import Image

    zero, one = pair
    rng = np.random.default_rng(0)
    path = tmp_path / "img.png"
    Image.fromarray(rng.integers(0, 256, (300, 410, 3), dtype=np.uint8)).save(path)

    def run(pipeline):
        sample = build_compose(pipeline)(dict(img_info=dict(filename=path.name),
                                              img_prefix=str(tmp_path), seg_fields=[]))
        img = sample["img"]
        img = img[0] if isinstance(img, list) else img
        metas = sample["img_metas"]
        metas = metas[0] if isinstance(metas, list) else metas
        metas = getattr(metas, "data", metas)
        return img, metas

    img0, meta0 = run(zero.data.test.pipeline)
    img1, meta1 = run(one.data.test.pipeline)
    assert img0.shape == img1.shape == (3, 512, 700)  # (2048, 512) keeping the ratio
    assert torch.equal(img0, img1)  # uint8 until the device: the normalisation is deferred
    norm0, norm1 = meta0["img_norm_cfg"], meta1["img_norm_cfg"]
    for key in ("mean", "std", "to_rgb"):
        assert np.array_equal(norm0[key], norm1[key]), key
    for key in ("ori_shape", "img_shape"):
        assert tuple(meta0[key]) == tuple(meta1[key]), key
    assert np.allclose(meta0["scale_factor"], meta1["scale_factor"])


def test_pair_train_pipelines_draw_the_same_samples(pair, tmp_path):
    """The same image and seed through both training pipelines: the same crop, flip and
    photometric draws (uint8 image and labels equal); normalised, the same pixels inside the
    crop. Outside it the dialects differ as MMSeg does: 0.x pads after Normalize (0 in normalised
    space), 1.x's pascal_voc12_aug.py pads the raw image (0, i.e. -mean / std normalised) before
    the data preprocessor normalises."""
    import random

    from PIL import Image

    from seglab.datasets.collate import collate, prepare_batch

    zero, one = pair
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (300, 410, 3), dtype=np.uint8)).save(tmp_path / "a.jpg")
    label = np.zeros((300, 410), np.uint8)
    label[50:200, 100:300] = 3
    Image.fromarray(label).save(tmp_path / "a.png")

    def run(pipeline, seed):
        random.seed(seed)
        np.random.seed(seed)
        sample = build_compose(pipeline)(dict(
            img_info=dict(filename="a.jpg", ann=dict(seg_map="a.png")),
            ann_info=dict(seg_map="a.png"), img_prefix=str(tmp_path), seg_prefix=str(tmp_path),
            seg_fields=[]))
        batch = prepare_batch(collate([sample]), torch.device("cpu"))
        return sample, batch["img"][0], batch["img_metas"][0]

    padded = 0
    mean = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
    for seed in range(6):
        (s0, x0, m0), (s1, x1, m1) = run(zero.data.train.pipeline, seed), \
            run(datasets(one.data.train)[0]["pipeline"], seed)
        raw0 = getattr(s0["img"], "data", s0["img"])
        assert torch.equal(raw0, s1["img"]), seed
        assert torch.equal(getattr(s0["gt_semantic_seg"], "data", s0["gt_semantic_seg"])
                           .reshape(s1["gt_semantic_seg"].shape), s1["gt_semantic_seg"]), seed
        h, w = m0["img_shape"][:2]
        assert tuple(m1["img_shape"][:2]) == (h, w) and x0.shape == x1.shape == (3, 512, 512)
        assert torch.equal(x0[:, :h, :w], x1[:, :h, :w]), seed
        if (h, w) != (512, 512):
            padded += 1
            assert torch.all(x0[:, h:] == 0) and torch.all(x0[:, :, w:] == 0)
            assert torch.allclose(x1[:, h:], (-mean / std).expand_as(x1[:, h:]))
    assert padded == 1  # seed 5 crops a 426 x 512 piece of the resized image
