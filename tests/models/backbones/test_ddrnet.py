"""DDRNet: MMSeg 1.x's keys and sizes (23-slim, 23), outputs in both modes, DAPPM / PAPPM by
hand, make_res_layer's block endings and downsample styles. Numerics against MMSeg:
tests/models/test_mmseg_1x_fixtures.py (ddrnet)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seglab.errors import ConfigError
from seglab.models import build_backbone
from seglab.models.layers.basic_block import BasicBlock, Bottleneck, make_res_layer
from seglab.models.layers.dappm import DAPPM, PAPPM

BN = dict(type="BN", requires_grad=True)
TINY = dict(type="DDRNet", channels=2, ppm_channels=4, norm_cfg=BN)
# The configs' widths; parameter counts and state_dict sizes of MMSeg 1.2.2's builds.
FULL = {"23-slim": (32, 5620576), "23": (64, 19850688)}


@pytest.mark.parametrize("name", sorted(FULL))
def test_full_size_parameters_equal_mmseg(name):
    channels, params = FULL[name]
    with torch.device("meta"):
        model = build_backbone(dict(TINY, channels=channels, ppm_channels=128))
    assert sum(p.numel() for p in model.parameters()) == params
    assert len(model.state_dict()) == 318


def test_mmseg_key_names():
    keys = build_backbone(TINY).state_dict()
    for key in ("stem.1.bn.weight", "stem.4.0.downsample.0.weight",
                "stem.4.0.downsample.1.running_mean", "context_branch_layers.0.1.conv2.bn.bias",
                "context_branch_layers.2.0.conv3.conv.weight",
                "spatial_branch_layers.2.0.downsample.1.weight",
                "compression_1.conv.weight", "down_1.bn.weight", "down_2.0.conv.weight",
                "down_2.1.bn.running_var", "spp.scales.0.bn.weight", "spp.scales.1.1.conv.weight",
                "spp.processes.3.bn.weight",
                "spp.compression.conv.weight", "spp.shortcut.conv.weight"):
        assert key in keys, key
    assert not any(k.startswith("stem.4.0.downsample.conv") for k in keys)


def test_outputs_in_train_and_eval_mode():
    model = build_backbone(TINY)
    x = torch.randn(2, 3, 64, 32)
    outs = model.train()(x)
    assert [tuple(o.shape) for o in outs] == [(2, 4, 8, 4), (2, 8, 8, 4)]
    assert model.output_shapes() == ((4, 8), (8, 8))
    with torch.no_grad():
        assert len(model.eval()(x)) == 2  # MMSeg: only the final map in eval mode


def _eval_randomized(module):
    torch.manual_seed(2)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return module.eval()


def test_dappm_and_pappm_by_hand():
    x = torch.randn(2, 8, 9, 7)
    dappm = _eval_randomized(DAPPM(8, 3, 5, num_scales=4))
    assert [type(s[0]).__name__ for s in dappm.scales[1:]] == ["AvgPool2d", "AvgPool2d",
                                                              "AdaptiveAvgPool2d"]
    up = lambda t: F.interpolate(t, size=(9, 7), mode="bilinear")  # noqa: E731
    feats = [dappm.scales[0](x)]
    for i in range(1, 4):
        feats.append(dappm.processes[i - 1](up(dappm.scales[i](x)) + feats[-1]))
    expected = dappm.compression(torch.cat(feats, 1)) + dappm.shortcut(x)
    torch.testing.assert_close(dappm(x), expected)

    pappm = _eval_randomized(PAPPM(8, 3, 5, num_scales=4))
    assert pappm.processes.conv.groups == 3
    base = pappm.scales[0](x)
    pooled = torch.cat([up(pappm.scales[i](x)) + base for i in range(1, 4)], 1)
    expected = pappm.compression(torch.cat([base, pappm.processes(pooled)], 1)) + pappm.shortcut(x)
    torch.testing.assert_close(pappm(x), expected)
    assert all(m.order == ("norm", "act", "conv") and not m.with_bias
               for m in pappm.modules() if hasattr(m, "order"))


def test_dappm_needs_a_pool_per_middle_scale():
    with pytest.raises(ConfigError, match="num_scales=6 needs >= 2 scales and 4 kernel_sizes"):
        DAPPM(8, 3, 5, num_scales=6)


def test_make_res_layer_endings_and_downsamples():
    layer = make_res_layer(BasicBlock, 4, 4, 4)
    assert [b.act is not None for b in layer] == [True, True, True, False]
    assert layer[0].downsample is None
    single = make_res_layer(Bottleneck, 4, 4, 1, stride=2, conv_module_downsample=False)
    assert single[0].act is None and isinstance(single[0].downsample, torch.nn.Sequential)
    x = torch.randn(1, 4, 8, 8)
    assert single(x).shape == (1, 8, 4, 4)
    block = single[0].eval()
    expected = block.conv3(block.conv2(block.conv1(x))) + block.downsample(x)
    torch.testing.assert_close(block(x), expected)
