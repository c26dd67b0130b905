"""configs/setr (MMSegmentation v0.30.0's files) resolve to MMSeg's values.

The expected values are written out by hand from MMSegmentation v0.30.0's config files
(configs/setr/*.py and configs/_base_/models/setr_{naive,pup,mla}.py). Every config is built on
the meta device by tests/model_configs/test_configs_build.py; here the SETR-specific modules.
"""
import warnings
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.models import build_segmentor
from seglab.models.backbones import ShapeSpec
from seglab.models.decode_heads import FCNHead, SETRMLAHead, SETRUPHead
from seglab.models.necks import MLANeck

ROOT = Path(__file__).resolve().parents[2]
VIT_L = {"type": "Pretrained", "checkpoint": "pretrain/vit_large_p16.pth"}
# config -> (decoder, SGD lr, samples_per_gpu, aux heads' (num_convs, kernel_size, up_scale))
# (up_scale None: not in the config, the head's default)
EXPECTED = {
    "setr_naive_512x512_160k_b16_ade20k.py": ("naive", 0.01, 2, (2, 1, None)),
    "setr_pup_512x512_160k_b16_ade20k.py": ("pup", 0.001, 2, (2, 3, None)),
    "setr_mla_512x512_160k_b8_ade20k.py": ("mla", 0.001, 1, (0, 1, None)),
    "setr_mla_512x512_160k_b16_ade20k.py": ("mla", 0.001, 2, (0, 1, None)),
    "setr_vit-large_naive_8x1_768x768_80k_cityscapes.py": ("naive", 0.01, 1, (1, 1, 4)),
    "setr_vit-large_pup_8x1_768x768_80k_cityscapes.py": ("pup", 0.01, 1, (2, 3, 4)),
    "setr_vit-large_mla_8x1_768x768_80k_cityscapes.py": ("mla", 0.002, 1, (0, 1, None)),
}
# decoder -> decode head's (num_convs, up_scale, kernel_size); MLA: (mla_channels, channels)
DECODERS = {"naive": (1, 4, 1), "pup": (4, 2, 3), "mla": (128, 512)}


def test_the_v0_30_0_files_are_all_there():
    assert sorted(p.name for p in (ROOT / "configs/setr").glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_config_resolves_to_mmseg_values(name):
    decoder, lr, samples, (aux_convs, aux_kernel, aux_up) = EXPECTED[name]
    cfg = Config.fromfile(ROOT / "configs/setr" / name)
    ade = name.endswith("ade20k.py")
    size, classes = (512, 150) if ade else (768, 19)
    model = cfg.model
    # the _base_ model names jx_vit_large_p16_384-b3be5167.pth; every file replaces it
    assert model.pretrained is None and model.backbone.init_cfg.to_dict() == VIT_L
    b = model.backbone
    assert (b.type, b.embed_dims, b.num_layers, b.num_heads, b.patch_size) == (
        "VisionTransformer", 1024, 24, 16, 16)
    assert b.img_size == (size, size) and b.drop_rate == 0 and b.interpolate_mode == "bilinear"
    assert b.norm_cfg.to_dict() == {"type": "LN", "eps": 1e-6, "requires_grad": True}
    assert b.with_cls_token == (decoder != "mla")
    assert b.out_indices == ((5, 11, 17, 23) if decoder == "mla" else (9, 14, 19, 23))
    head = model.decode_head
    assert head.num_classes == classes and head.in_index == (
        (0, 1, 2, 3) if decoder == "mla" else 3)
    if decoder == "mla":
        assert model.neck.to_dict() == {
            "type": "MLANeck", "in_channels": [1024] * 4, "out_channels": 256,
            "norm_cfg": {"type": "SyncBN", "requires_grad": True}, "act_cfg": {"type": "ReLU"}}
        assert (head.type, head.mla_channels, head.channels) == ("SETRMLAHead", *DECODERS["mla"])
    else:
        assert "neck" not in model
        assert (head.type, head.num_convs, head.up_scale, head.kernel_size) == (
            "SETRUPHead", *DECODERS[decoder])
    aux = model.auxiliary_head
    assert [a.in_index for a in aux] == list(range(4 if decoder == "mla" else 3))
    for a in aux:
        assert a.type == ("FCNHead" if decoder == "mla" else "SETRUPHead")
        assert (a.num_convs, a.kernel_size, a.get("up_scale")) == (aux_convs, aux_kernel, aux_up)
        assert a.num_classes == classes and a.loss_decode.loss_weight == 0.4
    assert cfg.optimizer.to_dict() == {
        "type": "SGD", "lr": lr, "momentum": 0.9, "weight_decay": 0.0,
        "paramwise_cfg": {"custom_keys": {"head": {"lr_mult": 10.0}}}}
    assert cfg.data.samples_per_gpu == samples and cfg.crop_size == (size, size)
    stride = 341 if ade else 512
    assert model.test_cfg.to_dict() == {"mode": "slide", "crop_size": (size, size),
                                        "stride": (stride, stride)}
    assert cfg.runner.max_iters == (160000 if ade else 80000)


@pytest.mark.parametrize("name", ["setr_naive_512x512_160k_b16_ade20k.py",
                                  "setr_vit-large_mla_8x1_768x768_80k_cityscapes.py"])
def test_built_setr_has_mmseg_modules(name):
    cfg = Config.fromfile(ROOT / "configs/setr" / name)
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        model = build_segmentor(cfg.model)
    assert len(model.backbone.layers) == 24 and model.backbone.drop_after_pos.p == 0
    if "_mla_" in name:
        assert isinstance(model.neck, MLANeck) and isinstance(model.decode_head, SETRMLAHead)
        shapes = model.neck.output_shapes(model.backbone.output_shapes())
        assert shapes == (ShapeSpec(256, 16),) * 4
        assert [type(h) for h in model.auxiliary_head] == [FCNHead] * 4
    else:
        heads = [model.decode_head, *model.auxiliary_head]
        assert [type(h) for h in heads] == [SETRUPHead] * 4
        assert tuple(model.state_dict()["decode_head.up_convs.0.0.conv.weight"].shape) == (
            256, 1024, 1, 1)
