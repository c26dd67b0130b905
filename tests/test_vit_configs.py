"""MMSegmentation 0.x's configs/vit/*.py build (on the meta device: no ViT-B weights in memory)
into the models MMSeg builds from them."""
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.models import build_segmentor
from seglab.models.backbones import ShapeSpec

ROOT = Path(__file__).resolve().parents[1]
VIT_CONFIGS = sorted(p.name for p in (ROOT / "configs/vit").glob("*.py"))


def test_the_v0_30_configs_are_all_there():
    assert len(VIT_CONFIGS) == 11


@pytest.mark.parametrize("name", VIT_CONFIGS)
def test_vit_config_builds(name):
    cfg = Config.fromfile(ROOT / "configs/vit" / name)
    with torch.device("meta"):
        model = build_segmentor(cfg.model)
    deit_small = "deit-s16" in name
    dims = 384 if deit_small else 768
    backbone = model.backbone
    assert (backbone.embed_dims, len(backbone.layers), backbone.out_indices) == (
        dims, 12, (2, 5, 8, 11))
    assert backbone.layers[0].attn.num_heads == (6 if deit_small else 12)
    assert backbone.final_norm == ("ln_mln" in name)
    assert backbone.pos_embed.shape == (1, 32 * 32 + 1, dims)  # img_size 512, patch 16
    assert backbone.img_size == (512, 512) and backbone.interpolate_mode == "bicubic"
    assert (backbone.layers[-1].ffn.dropout_layer.drop_prob == pytest.approx(0.1)
            if "deit" in name or "ln_mln" in name
            else isinstance(backbone.layers[-1].ffn.dropout_layer, torch.nn.Identity))
    has_neck = "mln" in name
    assert (getattr(model, "neck", None) is not None) == has_neck
    if has_neck:
        assert model.neck.scales == [4, 2, 1, 0.5]
        assert model.neck.output_shapes(backbone.output_shapes()) == (
            ShapeSpec(dims, 4), ShapeSpec(dims, 8), ShapeSpec(dims, 16), ShapeSpec(dims, 32))
    assert model.decode_head.num_classes == 150 and model.auxiliary_head.num_classes == 150
    weights = ("deit_small_patch16_224-cd65a155.pth" if deit_small
               else "deit_base_patch16_224-b5f2ef4d.pth" if "deit" in name
               else "vit_base_patch16_224.pth")
    assert cfg.model.pretrained.endswith(weights)
    assert cfg.optimizer.type == "AdamW" and cfg.data.samples_per_gpu == 2
