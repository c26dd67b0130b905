"""configs/{nonlocal_net,dnlnet,ann,isanet,emanet} (MMSegmentation v0.30.0's files) resolve to
MMSeg's values.

The expected values are written out by hand from MMSegmentation 0.x's config files (the method
folders, _base_/models/{nonlocal,dnl,ann,isanet,emanet}_r50-d8.py and the dataset / schedule
bases they name). That every file builds is tests/model_configs/test_configs_build.py's job;
here the R50 Cityscapes models are built on the meta device to check the head layouts at full
width, and the DNL optimizer's ``wd_mult`` (which mmcv ignores) is checked to be ignored too.
"""
import re
import warnings
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.engine import build_optimizer
from seglab.models import build_segmentor
from test_context_heads_configs import CE, DATASETS, SYNC_BN, _aux_head, _files

ROOT = Path(__file__).resolve().parents[2]
# folder -> file prefix
FAMILIES = {"nonlocal_net": "nonlocal", "dnlnet": "dnl", "ann": "ann", "isanet": "isanet",
            "emanet": "emanet"}
FILES = [(f, p.name) for f in FAMILIES for p in sorted((ROOT / "configs" / f).glob("*.py"))]
# the decode head of each base file, without num_classes / align_corners
HEADS = {
    "nonlocal": {"type": "NLHead", "in_channels": 2048, "in_index": 3, "channels": 512,
                 "dropout_ratio": 0.1, "reduction": 2, "use_scale": True,
                 "mode": "embedded_gaussian"},
    "dnl": {"type": "DNLHead", "in_channels": 2048, "in_index": 3, "channels": 512,
            "dropout_ratio": 0.1, "reduction": 2, "use_scale": True, "mode": "embedded_gaussian"},
    "ann": {"type": "ANNHead", "in_channels": [1024, 2048], "in_index": [2, 3], "channels": 512,
            "project_channels": 256, "query_scales": (1,), "key_pool_scales": (1, 3, 6, 8),
            "dropout_ratio": 0.1},
    "isanet": {"type": "ISAHead", "in_channels": 2048, "in_index": 3, "channels": 512,
               "isa_channels": 256, "down_factor": (8, 8), "dropout_ratio": 0.1},
    "emanet": {"type": "EMAHead", "in_channels": 2048, "in_index": 3, "channels": 256,
               "ema_channels": 512, "num_bases": 64, "num_stages": 3, "momentum": 0.1,
               "dropout_ratio": 0.1},
}
SGD = {"type": "SGD", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0005}
SCHEDULE_KEYS = ("lr_config", "runner", "checkpoint_config", "evaluation")
NO_THETA_PHI_DECAY = {"custom_keys": {"theta": {"wd_mult": 0.0}, "phi": {"wd_mult": 0.0}}}


def test_the_v0_30_0_files_are_all_there():
    found = {p: sorted(n for f, n in FILES if FAMILIES[f] == p) for p in FAMILIES.values()}
    for prefix in ("nonlocal", "ann", "isanet"):
        assert found[prefix] == _files(prefix, ("r50", "r101")), prefix
    assert found["dnl"] == _files("dnl", ("r50", "r101"), with_voc=False)
    assert found["emanet"] == sorted(f"emanet_{d}-d8_{s}_80k_cityscapes.py"
                                     for d in ("r50", "r101") for s in ("512x1024", "769x769"))
    assert len(FILES) == 16 + 12 + 16 + 16 + 4
    for prefix in FAMILIES.values():
        assert (ROOT / f"configs/_base_/models/{prefix}_r50-d8.py").is_file()


@pytest.mark.parametrize("family,name", FILES)
def test_every_file_resolves_to_mmsegs_values(family, name):
    prefix = FAMILIES[family]
    m = re.match(rf"{prefix}_(r50|r101)-d8_(\d+)x(\d+)_(\d+)k_(\w+)\.py$", name)
    assert m, name
    depth, h, w, iters, dataset = m.groups()
    crop, iters = (int(h), int(w)), int(iters) * 1000
    num_classes, crop_size, dataset_type, per_gpu = DATASETS[dataset]
    align = crop == (769, 769)
    cfg = Config.fromfile(ROOT / "configs" / family / name)
    model = cfg.model.to_dict()
    assert model == {
        "type": "EncoderDecoder",
        "pretrained": f"open-mmlab://resnet{depth[1:]}_v1c",
        "backbone": {"type": "ResNetV1c", "depth": int(depth[1:]), "num_stages": 4,
                     "out_indices": (0, 1, 2, 3), "dilations": (1, 1, 2, 4),
                     "strides": (1, 2, 1, 1), "norm_cfg": SYNC_BN, "norm_eval": False,
                     "style": "pytorch", "contract_dilation": True},
        "decode_head": {**HEADS[prefix], "num_classes": num_classes, "norm_cfg": SYNC_BN,
                        "align_corners": align, "loss_decode": {**CE, "loss_weight": 1.0}},
        "auxiliary_head": _aux_head(num_classes, align),
        "train_cfg": {},
        "test_cfg": ({"mode": "slide", "crop_size": (769, 769), "stride": (513, 513)} if align
                     else {"mode": "whole"})}
    assert cfg.crop_size == (crop_size or crop)
    assert cfg.dataset_type == dataset_type and cfg.data.train.type == dataset_type
    assert cfg.data.samples_per_gpu == per_gpu
    # only MMSeg's DNL 769x769 80k file (and the R101 one on it) sets a paramwise_cfg
    dnl_769_80k = prefix == "dnl" and align and iters == 80000
    assert cfg.optimizer.to_dict() == (
        {**SGD, "paramwise_cfg": NO_THETA_PHI_DECAY} if dnl_769_80k else SGD)
    schedule = {key: cfg[key].to_dict() for key in SCHEDULE_KEYS}
    assert schedule == dict(  # _base_/schedules/schedule_{20,40,80,160}k.py
        lr_config={"policy": "poly", "power": 0.9, "min_lr": 1e-4, "by_epoch": False},
        runner={"type": "IterBasedRunner", "max_iters": iters},
        checkpoint_config={"by_epoch": False, "interval": iters // 10},
        evaluation={"interval": iters // 10, "metric": "mIoU", "pre_eval": True})


def _meta_model(cfg):
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        return build_segmentor(cfg.model)


# Full-width head parameters of the R50 Cityscapes models (MMSeg 0.x keys and shapes).
R50_SHAPES = {
    "nonlocal_net": {"decode_head.nl_block.g.conv.weight": (256, 512, 1, 1),
                     "decode_head.nl_block.theta.conv.bias": (256,),
                     "decode_head.nl_block.conv_out.conv.weight": (512, 256, 1, 1),
                     "decode_head.nl_block.conv_out.bn.weight": (512,),
                     "decode_head.conv_cat.conv.weight": (512, 2048 + 512, 3, 3)},
    "dnlnet": {"decode_head.dnl_block.phi.conv.weight": (256, 512, 1, 1),
               "decode_head.dnl_block.conv_mask.weight": (1, 512, 1, 1),
               "decode_head.convs.1.conv.weight": (512, 512, 3, 3)},
    "ann": {"decode_head.fusion.stages.0.key_project.conv.weight": (256, 1024, 1, 1),
            "decode_head.fusion.stages.0.query_project.conv.weight": (256, 2048, 1, 1),
            "decode_head.fusion.stages.0.out_project.weight": (2048, 256, 1, 1),
            "decode_head.fusion.bottleneck.conv.weight": (2048, 4096, 1, 1),
            "decode_head.bottleneck.conv.weight": (512, 2048, 3, 3),
            "decode_head.context.stages.0.query_project.conv.weight": (256, 512, 1, 1),
            "decode_head.context.bottleneck.conv.weight": (512, 1024, 1, 1)},
    "isanet": {"decode_head.in_conv.conv.weight": (512, 2048, 3, 3),
               "decode_head.global_relation.key_project.1.conv.weight": (256, 256, 1, 1),
               "decode_head.local_relation.value_project.weight": (512, 512, 1, 1),
               "decode_head.local_relation.output_project.conv.weight": (512, 512, 1, 1),
               "decode_head.out_conv.conv.weight": (512, 1024, 1, 1)},
    "emanet": {"decode_head.ema_module.bases": (1, 512, 64),
               "decode_head.ema_in_conv.conv.weight": (512, 2048, 3, 3),
               "decode_head.ema_mid_conv.conv.bias": (512,),
               "decode_head.bottleneck.conv.weight": (256, 512, 3, 3),
               "decode_head.conv_cat.conv.weight": (256, 2048 + 256, 3, 3)},
}


@pytest.mark.parametrize("family", FAMILIES)
def test_r50_cityscapes_head_layout(family):
    name = f"{FAMILIES[family]}_r50-d8_512x1024_80k_cityscapes.py"
    state = _meta_model(Config.fromfile(ROOT / "configs" / family / name)).state_dict()
    for key, shape in R50_SHAPES[family].items():
        assert tuple(state[key].shape) == shape, key
    ann_only = any(k.startswith("decode_head.fusion") for k in state)
    assert ann_only == (family == "ann")


def test_dnl_wd_mult_is_ignored_as_by_mmcv():
    """mmcv's DefaultOptimizerConstructor reads lr_mult / decay_mult only: theta and phi keep
    the weight decay in MMSeg's runs of this config, and in seglab's (with a warning)."""
    cfg = Config.fromfile(ROOT / "configs/dnlnet/dnl_r101-d8_769x769_80k_cityscapes.py")
    model = _meta_model(cfg)
    with pytest.warns(UserWarning, match="has 'wd_mult', which mmcv ignores") as record:
        optimizer = build_optimizer(model, cfg.optimizer)
    assert sorted(re.findall(r"custom_keys\['(\w+)'\]", " ".join(str(w.message) for w in record))
                  ) == ["phi", "theta"]
    decay = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    theta = model.decode_head.dnl_block.theta.conv.weight
    phi_bias = model.decode_head.dnl_block.phi.conv.bias
    assert decay[id(theta)] == decay[id(phi_bias)] == 0.0005
