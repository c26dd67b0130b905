"""MMSegmentation 0.x's configs/setr/*.py build (on the meta device) into SETR's models: ViT-L/16
(24 layers, 1024 dims) with the naive / PUP / MLA decoders and their auxiliary heads."""
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.models import build_segmentor
from seglab.models.backbones import ShapeSpec
from seglab.models.decode_heads import FCNHead, SETRMLAHead, SETRUPHead
from seglab.models.necks import MLANeck

ROOT = Path(__file__).resolve().parents[1]
SETR_CONFIGS = sorted(p.name for p in (ROOT / "configs/setr").glob("*.py"))


def test_the_v0_30_configs_are_all_there():
    assert len(SETR_CONFIGS) == 7


@pytest.mark.parametrize("name", SETR_CONFIGS)
def test_setr_config_builds(name):
    cfg = Config.fromfile(ROOT / "configs/setr" / name)
    with torch.device("meta"):
        model = build_segmentor(cfg.model)
    ade = name.endswith("ade20k.py")
    backbone = model.backbone
    assert (backbone.embed_dims, len(backbone.layers), backbone.patch_size) == (1024, 24, 16)
    assert backbone.img_size == ((512, 512) if ade else (768, 768))
    assert backbone.interpolate_mode == "bilinear" and not backbone.final_norm
    assert backbone.drop_after_pos.p == 0
    assert backbone.init_cfg == dict(type="Pretrained", checkpoint="pretrain/vit_large_p16.pth")
    classes = 150 if ade else 19
    heads = [model.decode_head, *model.auxiliary_head]
    assert all(h.num_classes == classes for h in heads)
    assert cfg.model.test_cfg.mode == "slide"
    if "_mla_" in name:
        assert isinstance(model.neck, MLANeck) and not backbone.with_cls_token
        assert backbone.out_indices == (5, 11, 17, 23)
        assert model.neck.output_shapes(backbone.output_shapes()) == (ShapeSpec(256, 16),) * 4
        assert isinstance(model.decode_head, SETRMLAHead) and model.decode_head.channels == 512
        assert [type(h) for h in model.auxiliary_head] == [FCNHead] * 4
    else:
        assert backbone.with_cls_token and backbone.out_indices == (9, 14, 19, 23)
        assert all(isinstance(h, SETRUPHead) for h in heads) and len(heads) == 4
        pup = "_pup_" in name
        assert (model.decode_head.num_convs, model.decode_head.up_scale,
                model.decode_head.kernel_size) == ((4, 2, 3) if pup else (1, 4, 1))
        assert model.auxiliary_head[0].num_convs == (2 if ade or pup else 1)
