"""PIDNet: MMSeg 1.x's keys and sizes (S/M/L), the S and L structures, outputs in both modes,
the fusion modules against hand computations, norm_cfg everywhere, inputs not divisible by 8,
the offline pretrained message. Numerics against MMSeg: tests/models/test_mmseg_1x_fixtures.py
(pidnet_s, pidnet_l)."""
from __future__ import annotations

import pytest
import torch

from seglab.errors import CheckpointError
from seglab.models import build_backbone
from seglab.models.backbones.pidnet import Bag, LightBag, PagFM
from seglab.models.layers.dappm import DAPPM, PAPPM

BN = dict(type="BN", requires_grad=True)
TINY_S = dict(type="PIDNet", channels=2, ppm_channels=4, num_stem_blocks=2, num_branch_blocks=3,
              norm_cfg=BN)
TINY_L = dict(TINY_S, num_stem_blocks=3, num_branch_blocks=4)
# The configs' widths; parameter counts and state_dict sizes of MMSeg 1.2.2's builds.
FULL = {"S": (dict(channels=32, ppm_channels=96), 7475232, 438),
        "M": (dict(channels=64, ppm_channels=96), 28240256, 438),
        "L": (dict(channels=64, ppm_channels=112, num_stem_blocks=3, num_branch_blocks=4),
              36343712, 504)}


@pytest.mark.parametrize("size", sorted(FULL))
def test_full_size_parameters_equal_mmseg(size):
    cfg, params, entries = FULL[size]
    with torch.device("meta"):
        model = build_backbone(dict(type="PIDNet", norm_cfg=BN, **cfg))
    assert sum(p.numel() for p in model.parameters()) == params
    assert len(model.state_dict()) == entries


def test_mmseg_key_names_of_the_s_and_l_structures():
    s = build_backbone(TINY_S).state_dict()
    # ConvModule blocks, a ConvModule downsample, PAPPM's grouped process conv, LightBag
    for key in ("stem.0.conv.weight", "stem.2.0.conv1.conv.weight", "stem.2.1.conv2.bn.weight",
                "stem.4.0.downsample.conv.weight", "stem.4.0.downsample.bn.running_var",
                "i_branch_layers.2.0.conv3.bn.weight", "p_branch_layers.2.0.downsample.conv.weight",
                "d_branch_layers.0.downsample.conv.weight", "d_branch_layers.2.0.conv3.conv.weight",
                "pag_1.f_i.conv.weight", "pag_2.f_p.bn.bias", "compression_1.bn.weight",
                "diff_2.conv.weight", "spp.scales.4.1.bn.weight", "spp.processes.conv.weight",
                "spp.compression.conv.weight", "spp.shortcut.bn.running_mean",
                "dfm.f_p.conv.weight", "dfm.f_i.bn.weight"):
        assert key in s, key
    assert tuple(s["spp.processes.conv.weight"].shape) == (16, 4, 3, 3)  # 4 groups of 4
    assert tuple(s["d_branch_layers.0.conv1.conv.weight"].shape) == (2, 4, 3, 3)  # 2c -> c
    l_keys = build_backbone(TINY_L).state_dict()
    assert "spp.processes.3.conv.weight" in l_keys and "dfm.conv.conv.weight" in l_keys
    assert "d_branch_layers.0.downsample.conv.weight" not in l_keys  # 2c -> 2c
    assert "stem.2.2.conv1.conv.weight" in l_keys
    assert "i_branch_layers.0.3.conv1.bn.weight" in l_keys
    assert isinstance(build_backbone(TINY_S).spp, PAPPM)
    assert type(build_backbone(TINY_L).spp) is DAPPM


def test_residual_blocks_end_like_mmseg():
    """First block: its block's default activation; middle blocks ReLU; the last none."""
    model = build_backbone(TINY_S)
    acts = [block.act is not None for block in model.i_branch_layers[0]]
    assert acts == [True, True, False]
    assert model.d_branch_layers[0].act is None  # _make_single_layer
    assert model.i_branch_layers[2][0].act is None and model.i_branch_layers[2][1].act is None


@pytest.mark.parametrize("cfg", [TINY_S, TINY_L], ids=["S", "L"])
def test_outputs_in_train_and_eval_mode(cfg):
    torch.manual_seed(0)
    model = build_backbone(cfg)
    x = torch.randn(2, 3, 64, 96)
    outs = model.train()(x)
    assert [tuple(o.shape) for o in outs] == [(2, 4, 8, 12), (2, 8, 8, 12), (2, 4, 8, 12)]
    assert model.output_shapes() == ((4, 8), (8, 8), (4, 8))
    with torch.no_grad():
        evaluated = model.eval()(x)
    assert len(evaluated) == 3  # MMSeg: only the fused map; seglab keeps the tuple
    assert not torch.allclose(evaluated[1], outs[1])  # running vs batch statistics


def test_inputs_not_divisible_by_8_work():
    """MMSeg resizes to input // 8 and fails on such inputs; seglab follows the maps' size."""
    model = build_backbone(TINY_S).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 60, 70))
    assert {tuple(o.shape[2:]) for o in outs} == {(8, 9)}


def test_norm_cfg_reaches_every_norm():
    model = build_backbone(dict(TINY_S, norm_cfg=dict(type="GN", num_groups=1)))
    assert not [n for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]


def _randomize(module):
    torch.manual_seed(1)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.1)
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return module.eval()


def test_pagfm_by_hand():
    pag = _randomize(PagFM(6, 4))
    x_p, x_i = torch.randn(2, 6, 8, 8), torch.randn(2, 6, 4, 4)
    up = lambda t: torch.nn.functional.interpolate(t, size=(8, 8), mode="bilinear")  # noqa: E731
    sigma = torch.sigmoid((pag.f_p(x_p) * up(pag.f_i(x_i))).sum(1, keepdim=True))
    torch.testing.assert_close(pag(x_p, x_i), sigma * up(x_i) + (1 - sigma) * x_p)
    channel = _randomize(PagFM(6, 4, with_channel=True, after_relu=True, upsample_mode="nearest"))
    out = channel(x_p, x_i)
    assert out.shape == (2, 6, 8, 8) and channel.up.conv.out_channels == 6
    assert (x_p < 0).any()  # after_relu does not change the caller's maps


def test_bag_and_light_bag_by_hand():
    x_p, x_i, x_d = (torch.randn(2, 4, 5, 5) for _ in range(3))
    s = torch.sigmoid(x_d)
    light = _randomize(LightBag(4, 6))
    torch.testing.assert_close(light(x_p, x_i, x_d),
                               light.f_p((1 - s) * x_i + x_p) + light.f_i(x_i + s * x_p))
    bag = _randomize(Bag(4, 6))
    assert bag.conv.order == ("norm", "act", "conv") and bag.conv.bn.num_features == 4
    torch.testing.assert_close(bag(x_p, x_i, x_d), bag.conv(s * x_p + (1 - s) * x_i))


def test_init_and_the_offline_pretrained_message():
    model = build_backbone(TINY_S)
    model.init_weights()  # MMSeg's Kaiming / constant init without init_cfg
    assert torch.equal(model.stem[0].bn.weight, torch.ones(2))
    url = ("https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/pidnet/"
           "pidnet-s_imagenet1k_not_cached.pth")
    model = build_backbone(dict(TINY_S, init_cfg=dict(type="Pretrained", checkpoint=url)))
    with pytest.raises(CheckpointError, match="init_cfg=None"):
        model.init_weights()
