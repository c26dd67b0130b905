"""configs/{ccnet,danet,gcnet,psanet,apcnet,dmnet,encnet} (MMSegmentation v0.30.0's files) resolve
to MMSeg's values.

The expected values are written out by hand from MMSegmentation 0.x's config files (the method
folders, _base_/models/<method>_r50-d8.py and the dataset / schedule bases they name). That every
file builds is tests/model_configs/test_configs_build.py's job; here a few are built on the meta
device to check the head layouts at full width.
"""
import re
import warnings
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = ("ccnet", "danet", "gcnet", "psanet", "apcnet", "dmnet", "encnet")
FILES = [(f, p.name) for f in FAMILIES for p in sorted((ROOT / "configs" / f).glob("*.py"))]
SYNC_BN = {"type": "SyncBN", "requires_grad": True}
CE = {"type": "CrossEntropyLoss", "use_sigmoid": False}
# dataset part of the name -> (num_classes, crop size, dataset type, samples per GPU)
DATASETS = {"cityscapes": (19, None, "CityscapesDataset", 2),
            "ade20k": (150, (512, 512), "ADE20KDataset", 4),
            "voc12aug": (21, (512, 512), "PascalVOCDataset", 4)}
# head keys after in_channels=2048, in_index=3, channels=512 (as in each base file)
HEAD_KEYS = {
    "ccnet": ("CCHead", {"recurrence": 2}),
    "danet": ("DAHead", {"pam_channels": 64}),
    "gcnet": ("GCHead", {"ratio": 1 / 4., "pooling_type": "att",
                         "fusion_types": ("channel_add",)}),
    "psanet": ("PSAHead", {"mask_size": (97, 97), "psa_type": "bi-direction", "compact": False,
                           "shrink_factor": 2, "normalization_factor": 1.0,
                           "psa_softmax": True}),
    "apcnet": ("APCHead", {"pool_scales": (1, 2, 3, 6)}),
    "dmnet": ("DMHead", {"filter_sizes": (1, 3, 5, 7)}),
}


def _files(family, depths, with_voc=True, extra=()):
    sizes = (["512x1024_40k_cityscapes", "512x1024_80k_cityscapes", "769x769_40k_cityscapes",
              "769x769_80k_cityscapes", "512x512_80k_ade20k", "512x512_160k_ade20k"]
             + (["512x512_20k_voc12aug", "512x512_40k_voc12aug"] if with_voc else []))
    return sorted([f"{family}_{d}-d8_{s}.py" for d in depths for s in sizes] + list(extra))


def test_the_v0_30_0_files_are_all_there():
    found = {f: sorted(n for g, n in FILES if g == f) for f in FAMILIES}
    for family in ("ccnet", "danet", "gcnet", "psanet"):
        assert found[family] == _files(family, ("r50", "r101")), family
    for family in ("apcnet", "dmnet"):  # no VOC configs in MMSeg 0.30.0
        assert found[family] == _files(family, ("r50", "r101"), with_voc=False), family
    assert found["encnet"] == _files("encnet", ("r50", "r101"),
                                     extra=["encnet_r50s-d8_512x512_80k_ade20k.py"])
    assert sum(map(len, found.values())) == 105
    for family in FAMILIES:
        assert (ROOT / f"configs/_base_/models/{family}_r50-d8.py").is_file()
    assert (ROOT / "configs/_base_/datasets/cityscapes_769x769.py").is_file()


def _decode_head(family, num_classes, align_corners):
    if family == "encnet":
        return {"type": "EncHead", "in_channels": [512, 1024, 2048], "in_index": (1, 2, 3),
                "channels": 512, "num_codes": 32, "use_se_loss": True, "add_lateral": False,
                "dropout_ratio": 0.1, "num_classes": num_classes, "norm_cfg": SYNC_BN,
                "align_corners": align_corners, "loss_decode": {**CE, "loss_weight": 1.0},
                "loss_se_decode": {"type": "CrossEntropyLoss", "use_sigmoid": True,
                                   "loss_weight": 0.2}}
    head_type, own = HEAD_KEYS[family]
    return {"type": head_type, "in_channels": 2048, "in_index": 3, "channels": 512, **own,
            "dropout_ratio": 0.1, "num_classes": num_classes, "norm_cfg": SYNC_BN,
            "align_corners": align_corners, "loss_decode": {**CE, "loss_weight": 1.0}}


def _aux_head(num_classes, align_corners):
    return {"type": "FCNHead", "in_channels": 1024, "in_index": 2, "channels": 256,
            "num_convs": 1, "concat_input": False, "dropout_ratio": 0.1,
            "num_classes": num_classes, "norm_cfg": SYNC_BN, "align_corners": align_corners,
            "loss_decode": {**CE, "loss_weight": 0.4}}


@pytest.mark.parametrize("family,name", FILES)
def test_every_file_resolves_to_mmsegs_values(family, name):
    m = re.match(rf"{family}_(r50s|r50|r101)-d8_(\d+)x(\d+)_(\d+)k_(\w+)\.py$", name)
    assert m, name
    depth, h, w, iters, dataset = m.groups()
    crop, iters = (int(h), int(w)), int(iters) * 1000
    num_classes, crop_size, dataset_type, per_gpu = DATASETS[dataset]
    cfg = Config.fromfile(ROOT / "configs" / family / name)
    model = cfg.model.to_dict()
    align = crop == (769, 769)
    head = _decode_head(family, num_classes, align)
    if family == "psanet" and dataset == "ade20k":
        head["mask_size"] = (66, 66)
    assert model["decode_head"] == head
    assert model["auxiliary_head"] == _aux_head(num_classes, align)
    assert model["pretrained"] == ("open-mmlab://resnet101_v1c" if depth == "r101"
                                   else "open-mmlab://resnet50_v1c")
    assert model["backbone"] == {
        "type": "ResNetV1c", "depth": 101 if depth == "r101" else 50, "num_stages": 4,
        "out_indices": (0, 1, 2, 3), "dilations": (1, 1, 2, 4), "strides": (1, 2, 1, 1),
        "norm_cfg": SYNC_BN, "norm_eval": False, "style": "pytorch", "contract_dilation": True,
        **({"stem_channels": 128} if depth == "r50s" else {})}
    assert model["train_cfg"] == {}
    assert model["test_cfg"] == ({"mode": "slide", "crop_size": (769, 769),
                                  "stride": (513, 513)} if align else {"mode": "whole"})
    assert cfg.crop_size == (crop_size or crop)
    assert cfg.dataset_type == dataset_type and cfg.data.train.type == dataset_type
    assert cfg.data.samples_per_gpu == per_gpu
    assert cfg.optimizer.to_dict() == {"type": "SGD", "lr": 0.01, "momentum": 0.9,
                                       "weight_decay": 0.0005}
    assert cfg.lr_config.to_dict() == {"policy": "poly", "power": 0.9, "min_lr": 1e-4,
                                       "by_epoch": False}
    assert cfg.runner.to_dict() == {"type": "IterBasedRunner", "max_iters": iters}
    assert cfg.checkpoint_config.to_dict() == {"by_epoch": False, "interval": iters // 10}
    assert cfg.evaluation.to_dict() == {"interval": iters // 10, "metric": "mIoU",
                                        "pre_eval": True}


# Full-width head parameters of the R50 Cityscapes models (MMSeg 0.x keys and shapes).
R50_SHAPES = {
    "ccnet": {"decode_head.cca.query_conv.weight": (64, 512, 1, 1),
              "decode_head.cca.value_conv.weight": (512, 512, 1, 1),
              "decode_head.conv_cat.conv.weight": (512, 2048 + 512, 3, 3)},
    "danet": {"decode_head.pam.query_project.weight": (64, 512, 1, 1),
              "decode_head.pam.value_project.weight": (512, 512, 1, 1),
              "decode_head.cam_conv_seg.weight": (19, 512, 1, 1)},
    "gcnet": {"decode_head.gc_block.conv_mask.weight": (1, 512, 1, 1),
              "decode_head.gc_block.channel_add_conv.1.weight": (128, 1, 1),
              "decode_head.gc_block.channel_add_conv.3.weight": (512, 128, 1, 1)},
    "psanet": {"decode_head.attention.1.weight": (97 * 97, 512, 1, 1),
               "decode_head.attention_p.1.weight": (97 * 97, 512, 1, 1),
               "decode_head.proj.conv.weight": (2048, 1024, 1, 1),
               "decode_head.bottleneck.conv.weight": (512, 4096, 3, 3)},
    "apcnet": {"decode_head.acm_modules.3.gla.weight": (36, 512, 1, 1),
               "decode_head.acm_modules.0.fusion_conv.conv.weight": (512, 512, 1, 1),
               "decode_head.bottleneck.conv.weight": (512, 2048 + 4 * 512, 3, 3)},
    "dmnet": {"decode_head.dcm_modules.3.filter_gen_conv.weight": (512, 2048, 1, 1),
              "decode_head.dcm_modules.3.norm.running_var": (512,),
              "decode_head.bottleneck.conv.weight": (512, 2048 + 4 * 512, 3, 3)},
    "encnet": {"decode_head.enc_module.encoding.0.codewords": (32, 512),
               "decode_head.enc_module.encoding.1.running_mean": (32,),
               "decode_head.enc_module.fc.0.weight": (512, 512),
               "decode_head.se_layer.weight": (19, 512)},
}


@pytest.mark.parametrize("family", FAMILIES)
def test_r50_cityscapes_head_layout(family):
    cfg = Config.fromfile(ROOT / "configs" / family / f"{family}_r50-d8_512x1024_40k_cityscapes.py")
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        state = build_segmentor(cfg.model).state_dict()
    for key, shape in R50_SHAPES[family].items():
        assert tuple(state[key].shape) == shape, key
    assert not any(k.startswith("decode_head.psamask") for k in state)  # PSAMask: no state
