"""MMSeg 0.x's ConvNeXt rules of LearningRateDecayOptimizerConstructor ('layer_wise' and
'stage_wise'), checked parameter by parameter against ids and rates worked out by hand from
mmseg/core/layer_decay_optimizer_constructor.py (v0.30.0)."""
import pytest

from seglab.engine import build_optimizer
from seglab.errors import ConfigError
from seglab.models import build_segmentor

BN = dict(type="BN", requires_grad=True)


def segmentor(depths=(1, 1, 4, 1), channels=(4, 8, 8, 8), **backbone):
    """A tiny ConvNeXt (stage 2 has 4 blocks: ids 3, 3, 3, 4) under a one-conv FCN head."""
    return build_segmentor(dict(
        type="EncoderDecoder",
        backbone=dict(type="mmcls.ConvNeXt",
                      arch=dict(depths=list(depths), channels=list(channels)),
                      out_indices=list(range(len(depths))), gap_before_final_norm=False,
                      layer_scale_init_value=1.0, **backbone),
        decode_head=dict(type="FCNHead", in_channels=channels[-1], in_index=len(depths) - 1,
                         channels=4, num_convs=1, num_classes=3, norm_cfg=BN)))


def groups(model, decay_type, num_layers=6):
    optimizer = build_optimizer(model, dict(
        type="AdamW", lr=1.0, weight_decay=0.05,
        constructor="LearningRateDecayOptimizerConstructor",
        paramwise_cfg=dict(num_layers=num_layers, decay_rate=0.5, decay_type=decay_type)))
    return {g["group_name"]: g for g in optimizer.param_groups}


def layer_of(got):
    return {name: key for key, g in got.items() for name in g["param_names"]}


# layer_wise with num_layers 6: heads and the output norms are id 7, the last stage id 6.
LAYER_WISE = {
    "backbone.downsample_layers.0.0.weight": "layer_0_decay",
    "backbone.downsample_layers.0.0.bias": "layer_0_no_decay",
    "backbone.downsample_layers.0.1.weight": "layer_0_no_decay",  # the stem's LN2d
    "backbone.stages.0.0.depthwise_conv.weight": "layer_1_decay",
    "backbone.stages.0.0.pointwise_conv1.weight": "layer_1_decay",  # nn.Linear, 2-D
    "backbone.stages.0.0.gamma": "layer_1_no_decay",
    "backbone.downsample_layers.1.0.weight": "layer_2_no_decay",
    "backbone.downsample_layers.1.1.weight": "layer_2_decay",
    "backbone.stages.1.0.norm.bias": "layer_2_no_decay",
    "backbone.downsample_layers.2.1.weight": "layer_3_decay",
    "backbone.stages.2.0.pointwise_conv2.weight": "layer_3_decay",
    "backbone.stages.2.2.depthwise_conv.bias": "layer_3_no_decay",
    "backbone.stages.2.3.depthwise_conv.weight": "layer_4_decay",  # 3 + 3 // 3
    "backbone.downsample_layers.3.1.weight": "layer_6_decay",
    "backbone.stages.3.0.gamma": "layer_6_no_decay",
    "backbone.norm0.weight": "layer_7_no_decay",
    "backbone.norm3.bias": "layer_7_no_decay",
    "decode_head.conv_seg.weight": "layer_7_decay",
    "decode_head.convs.0.bn.weight": "layer_7_no_decay",
}


def test_layer_wise_ids_rates_and_weight_decay():
    model = segmentor()
    got = groups(model, "layer_wise")
    where = layer_of(got)
    assert {name: where[name] for name in LAYER_WISE} == LAYER_WISE
    assert sorted(got) == sorted(f"layer_{i}_{k}" for i in (0, 1, 2, 3, 4, 6, 7)
                                 for k in ("decay", "no_decay"))
    for key, group in got.items():
        layer_id = int(key.split("_")[1])
        assert group["lr_scale"] == 0.5 ** (7 - layer_id)  # decay_rate ** (6 + 2 - id - 1)
        assert group["lr"] == group["lr_scale"]  # lr 1.0
        assert group["weight_decay"] == (0.0 if key.endswith("no_decay") else 0.05)
    assert got["layer_0_decay"]["param_names"] == ["backbone.downsample_layers.0.0.weight"]
    assert got["layer_4_decay"]["param_names"] == [
        f"backbone.stages.2.3.{n}.weight" for n in ("depthwise_conv", "pointwise_conv1",
                                                    "pointwise_conv2")]
    assert len(where) == sum(1 for _ in model.parameters())  # nothing left out, nothing twice


def test_layer_wise_vit_gives_convnext_the_convnext_ids_as_mmseg():
    model = segmentor()
    # MMSeg tests "'layer_wise' in decay_type", so 'layer_wise_vit' picks ConvNeXt's rule too.
    assert layer_of(groups(model, "layer_wise_vit")) == layer_of(groups(model, "layer_wise"))


def test_stage_wise_ids_and_rates():
    got = groups(segmentor(), "stage_wise")
    where = layer_of(got)
    expected = {
        "backbone.downsample_layers.0.0.weight": "layer_0_decay",
        "backbone.downsample_layers.3.0.bias": "layer_0_no_decay",  # every downsample layer
        "backbone.stages.0.0.depthwise_conv.weight": "layer_1_decay",
        "backbone.stages.2.3.pointwise_conv1.weight": "layer_3_decay",  # stage 2 -> 3
        "backbone.stages.3.0.gamma": "layer_4_no_decay",
        "backbone.norm1.weight": "layer_7_no_decay",  # num_layers + 2 - 1
        "decode_head.conv_seg.weight": "layer_7_decay",
    }
    assert {name: where[name] for name in expected} == expected
    assert sorted({int(k.split("_")[1]) for k in got}) == [0, 1, 2, 3, 4, 7]
    for key, group in got.items():
        assert group["lr"] == 0.5 ** (7 - int(key.split("_")[1]))


def test_frozen_stages_are_left_out():
    model = segmentor(frozen_stages=1)
    names = set(layer_of(groups(model, "layer_wise")))
    assert not any(n.startswith(("backbone.downsample_layers.0.", "backbone.stages.0."))
                   for n in names)
    assert "backbone.downsample_layers.1.1.weight" in names
    assert len(names) == sum(p.requires_grad for p in model.parameters())


def test_more_than_four_stages_fail_clearly_for_layer_wise_only():
    model = segmentor(depths=(1, 1, 1, 1, 1), channels=(4, 4, 4, 4, 4))
    with pytest.raises(ConfigError, match=r"stage 4.*4 stages only \(use stage_wise\)"):
        groups(model, "layer_wise")
    assert "layer_5_decay" in groups(model, "stage_wise")
