"""MMSegmentation 0.x's configs/beit/*.py and configs/mae/*.py load, resolve and build.

tests/test_configs_tree.py loads every config; here each BEiT / MAE config is checked for what
its name says and built on the meta device (no memory, no download), which runs the segmentor's
build-time check of the heads against the backbone's and Feature2Pyramid's declared outputs.
The layer-wise lr decay constructors the configs name build the optimizer's parameter groups
(heads at the full lr, block i at ``lr * decay_rate ** (num_layers - i)``).
"""
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.engine import build_optimizer
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p.relative_to(ROOT).as_posix()
                 for folder in ("beit", "mae") for p in (ROOT / "configs" / folder).glob("*.py"))


def test_all_six_configs_present():
    assert len(CONFIGS) == 6


@pytest.mark.parametrize("path", CONFIGS)
def test_config_resolves_and_builds(path):
    cfg = Config.fromfile(ROOT / path)
    for key in ("model", "data", "optimizer", "lr_config", "runner", "log_config"):
        assert key in cfg, f"{path} has no '{key}'"
    backbone = cfg.model.backbone
    large = "large" in path
    dims, layers = (1024, 24) if large else (768, 12)
    assert (backbone.embed_dims, backbone.num_layers) == (dims, layers)
    assert cfg.model.neck == dict(type="Feature2Pyramid", embed_dim=dims,
                                  rescales=[4, 2, 1, 0.5])
    assert cfg.model.decode_head.in_channels == [dims] * 4
    assert cfg.model.decode_head.num_classes == cfg.model.auxiliary_head.num_classes == 150
    assert cfg.optimizer.type == "AdamW" and cfg.optimizer.weight_decay == 0.05
    assert cfg.lr_config.policy == "poly" and cfg.lr_config.warmup == "linear"
    if "/beit/" in path:
        assert backbone.type == "BEiT" and backbone.img_size == (640, 640)
        assert backbone.init_values == (1e-6 if large else 0.1)
        assert cfg.optimizer.constructor == "LearningRateDecayOptimizerConstructor"
        assert cfg.optimizer.paramwise_cfg == {"decay_rate": 0.95 if large else 0.9,
                                               "decay_type": "layer_wise_vit",
                                               "num_layers": layers}
        assert cfg.model.test_cfg == dict(mode="slide", crop_size=(640, 640), stride=(426, 426))
        assert cfg.runner.max_iters == (320000 if large else 160000)
    else:
        assert backbone.type == "MAE" and backbone.img_size == (512, 512)
        assert backbone.init_values == 1.0 and "qv_bias" not in backbone
        assert cfg.optimizer.constructor == "LayerDecayOptimizerConstructor"
        assert cfg.optimizer.paramwise_cfg == dict(num_layers=12, layer_decay_rate=0.65)
        assert cfg.fp16 == dict(loss_scale="dynamic")
    if path.endswith("_ms.py"):
        aug = cfg.data.test.pipeline[1]
        assert aug.img_ratios == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75] and aug.flip is True
    text = cfg.pretty_text
    assert "_delete_" not in text and "_base_ =" not in text and "'_base_'" not in text
    with torch.device("meta"):
        model = build_segmentor(cfg.model)
    assert model.backbone.out_channels == (dims,) * 4
    assert model.backbone.out_strides == (16,) * 4
    assert model.neck.output_shapes(model.backbone.output_shapes()) is not None
    optimizer = build_optimizer(model, cfg.optimizer)
    lrs = {g["group_name"]: g["lr"] for g in optimizer.param_groups}
    rate = (cfg.optimizer.paramwise_cfg.get("decay_rate")
            or cfg.optimizer.paramwise_cfg.get("layer_decay_rate"))
    assert lrs[f"layer_{layers + 1}_decay"] == cfg.optimizer.lr
    assert lrs["layer_1_decay"] == pytest.approx(cfg.optimizer.lr * rate ** layers)
