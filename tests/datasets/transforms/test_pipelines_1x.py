"""A 0.x config's training pipeline and its 1.x counterpart's give the same samples.

0.x: ``Resize(img_scale, ratio_range)``, ``RandomCrop``, ``RandomFlip(prob)``,
``PhotoMetricDistortion``, ``Normalize``, ``Pad``, ``DefaultFormatBundle``, ``Collect``. 1.x:
``RandomResize(scale, ratio_range, keep_ratio=True)``, the same crop / flip / distortion,
``PackSegInputs``, with the data preprocessor's normalisation and padding that
``seglab.config.v1x`` puts before ``PackSegInputs``. The random draws are the same, in the same
order, so with one seed both give the same pixels, labels and metadata.
"""
import numpy as np
import pytest
import torch
from PIL import Image

from seglab.config import Config
from seglab.config.v1x import load_config
from seglab.datasets.transforms import Compose

PAIRS = [
    ("configs/fcn/fcn_r50-d8_512x512_20k_voc12aug.py",
     "configs/1.x/fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py", (300, 410), 21),
    ("configs/pspnet/pspnet_r50-d8_512x512_80k_ade20k.py",
     "configs/1.x/pspnet/pspnet_r50-d8_4xb4-160k_ade20k-512x512.py", (260, 340), 150),
    ("configs/pspnet/pspnet_r50-d8_512x1024_40k_cityscapes.py",
     "configs/1.x/pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py", (256, 512), 19),
]


def _train_pipeline(cfg):
    train = cfg.data.train
    while "pipeline" not in train:  # RepeatDataset / ConcatDataset wrappers
        train = train.get("dataset") or train.datasets[0]
    return Compose(list(train.pipeline))


@pytest.mark.parametrize("zero_path, one_path, hw, classes", PAIRS,
                         ids=[p[0].split("/")[1] for p in PAIRS])
def test_0x_and_1x_training_pipelines_give_the_same_samples(zero_path, one_path, hw, classes,
                                                            tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, hw + (3,), dtype=np.uint8)).save(tmp_path / "a.png")
    label = rng.integers(0, classes, hw, dtype=np.uint8)
    label[: hw[0] // 2] = 1  # a large one-class region: the crop retries
    Image.fromarray(label).save(tmp_path / "a_seg.png")
    zero = _train_pipeline(Config.fromfile(zero_path))
    one = _train_pipeline(load_config(one_path))
    for seed in range(3):
        samples = []
        for pipeline in (zero, one):
            np.random.seed(seed)
            samples.append(pipeline(dict(
                img_info=dict(filename="a.png"), ann_info=dict(seg_map="a_seg.png"),
                img_prefix=str(tmp_path), seg_prefix=str(tmp_path), seg_fields=[])))
            samples[-1]["next_draw"] = np.random.random_sample()
        a, b = samples
        assert a["next_draw"] == b["next_draw"]
        assert torch.equal(a["img"], b["img"]) and a["img"].shape[1:] == (512, 512 * (
            2 if "cityscapes" in zero_path else 1))
        assert torch.equal(a["gt_semantic_seg"], b["gt_semantic_seg"])
        for key in ("ori_shape", "img_shape", "pad_shape", "flip", "flip_direction"):
            assert tuple(np.atleast_1d(a["img_metas"][key])) == tuple(
                np.atleast_1d(b["img_metas"][key])), key
        assert np.allclose(a["img_metas"]["scale_factor"], b["img_metas"]["scale_factor"])
        norm_a, norm_b = a["img_metas"]["img_norm_cfg"], b["img_metas"]["img_norm_cfg"]
        assert set(norm_a) == set(norm_b)
        for key in norm_a:
            assert np.array_equal(norm_a[key], norm_b[key]), key
