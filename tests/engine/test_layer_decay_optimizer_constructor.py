import pytest
from torch import nn

from seglab.engine import build_optimizer
from seglab.errors import ConfigError
from seglab.models.backbones.beit import BEiT
from seglab.models.backbones.mae import MAE


class Segmentor(nn.Module):
    """A backbone plus a head: the names MMSeg's layer-id rules look at."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.decode_head = nn.Conv2d(8, 3, 1)


def tiny(cls=BEiT, **kwargs) -> Segmentor:
    return Segmentor(cls(img_size=16, patch_size=8, embed_dims=8, num_layers=2, num_heads=2,
                         final_norm=True, **kwargs))


def groups(model, constructor="LearningRateDecayOptimizerConstructor", **paramwise):
    paramwise = paramwise or dict(num_layers=2, decay_rate=0.5, decay_type="layer_wise_vit")
    optimizer = build_optimizer(model, dict(type="AdamW", lr=1.0, weight_decay=0.05,
                                            constructor=constructor, paramwise_cfg=paramwise))
    return {g["group_name"]: g for g in optimizer.param_groups}


def test_beit_groups_follow_mmseg_layer_ids_and_decay_rules():
    got = groups(tiny())
    # num_layers 2 -> ids 0 (embeddings), 1, 2 (blocks), 3 (the rest); lr = 0.5 ** (3 - id)
    assert sorted(got) == sorted(f"layer_{i}_{k}" for i in range(4)
                                 for k in ("decay", "no_decay"))
    for name, group in got.items():
        layer_id = int(name.split("_")[1])
        assert group["lr"] == pytest.approx(0.5 ** (3 - layer_id))
        assert group["weight_decay"] == (0.0 if name.endswith("no_decay") else 0.05)
    assert got["layer_0_decay"]["param_names"] == ["backbone.cls_token",
                                                   "backbone.patch_embed.projection.weight"]
    assert "backbone.patch_embed.projection.bias" in got["layer_0_no_decay"]["param_names"]
    assert "backbone.layers.1.attn.qkv.weight" in got["layer_2_decay"]["param_names"]
    assert "backbone.layers.0.gamma_1" in got["layer_1_no_decay"]["param_names"]
    assert set(got["layer_3_decay"]["param_names"]) == {"decode_head.weight"}
    assert "backbone.ln1.weight" in got["layer_3_no_decay"]["param_names"]


def test_layer_decay_constructor_is_mmseg_old_spelling():
    model = tiny(MAE)
    with pytest.warns(DeprecationWarning):
        old = groups(model, "LayerDecayOptimizerConstructor", num_layers=2, layer_decay_rate=0.5)
    new = groups(model)
    assert {k: (g["lr"], g["param_names"]) for k, g in old.items()} == {
        k: (g["lr"], g["param_names"]) for k, g in new.items()}
    # MAE's pos_embed is 3-D: it decays, in layer 0, as in MMSeg
    assert "backbone.pos_embed" in old["layer_0_decay"]["param_names"]


def test_frozen_parameters_are_left_out():
    model = tiny()
    model.backbone.cls_token.requires_grad = False
    names = [n for g in groups(model).values() for n in g["param_names"]]
    assert "backbone.cls_token" not in names
    assert len(names) == sum(p.requires_grad for p in model.parameters())


def test_bad_paramwise_cfg_and_other_backbones_fail_clearly():
    with pytest.raises(ConfigError, match="unknown key"):
        groups(tiny(), num_layers=2, decay_rate=0.5, custom_keys={})
    with pytest.raises(ConfigError, match="decay_type"):
        groups(tiny(), num_layers=2, decay_rate=0.5, decay_type="stage_wise")
    other = Segmentor(nn.Conv2d(3, 8, 1))
    with pytest.raises(ConfigError, match="BEiT / MAE"):
        groups(other)
