"""The segmentor checks its heads' in_channels/in_index against the backbone (or neck) at build."""
import re

import pytest
import torch
from torch import nn

from seglab.errors import ConfigError
from seglab.models import EncoderDecoder, build_segmentor
from seglab.models.backbones import BaseBackbone, ShapeSpec, shape_specs
from seglab.models.necks import BaseNeck

# conftest's tiny backbone (ResNetV1c-18-D8): channels (8, 16, 32, 64), strides (4, 8, 8, 8).
DECLARED = "the backbone ResNetV1c, whose 4 outputs have channels (8, 16, 32, 64)"


class Lateral(BaseNeck):
    """1x1 conv of every input to ``out_channels`` (an FPN without the top-down path)."""

    def __init__(self, in_channels, out_channels: int):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels)
        self.out_channels = out_channels

    def output_shapes(self, in_shapes):
        return shape_specs([self.out_channels] * len(in_shapes), [s.stride for s in in_shapes])

    def forward(self, inputs):
        return tuple(conv(x) for conv, x in zip(self.convs, inputs))


class PlainNeck(nn.Module):
    """A neck outside the contract (no output_shapes): nothing to check against."""

    def forward(self, inputs):
        return inputs


class Declares(BaseBackbone):
    """A backbone whose declaration is given in the config (None entries / None overall)."""

    def __init__(self, shapes=((4, 2),), opt_out: bool = False):
        super().__init__()
        self.shapes, self.opt_out = shapes, opt_out
        self.conv = nn.Conv2d(3, 4, 1)

    def output_shapes(self):
        if self.opt_out:
            return None
        return tuple(None if s is None else ShapeSpec(*s) for s in self.shapes)

    def forward(self, x):
        return (self.conv(x),)


def _raises(cfg, message: str):
    with pytest.raises(ConfigError, match=re.escape(message)):
        build_segmentor(cfg)


def test_decode_head_channels_mismatch_names_key_value_producer_and_fix(cfgs):
    cfg = cfgs.segmentor(decode_head=cfgs.fcn_head(in_channels=256))
    _raises(cfg, f"model.decode_head.in_channels = 256 (at in_index = 3) does not match "
                 f"{DECLARED}: output 3 has 64 channels, not 256. Set "
                 f"model.decode_head.in_channels = 64, or choose other outputs with "
                 f"model.decode_head.in_index.")


def test_auxiliary_heads_are_checked_by_position(cfgs):
    aux = [cfgs.fcn_head(32, 2, 8, 1, False, 0.4), cfgs.fcn_head(32, 4, 8, 1, False, 0.4)]
    _raises(cfgs.segmentor(auxiliary_head=aux),
            f"model.auxiliary_head[1].in_index = 4 selects output 4, but the head reads "
            f"{DECLARED}; use indices 0..3 (or -4..-1).")
    single = cfgs.fcn_head(16, 2, 8, 1, False, 0.4)
    _raises(cfgs.segmentor(auxiliary_head=single),
            "model.auxiliary_head.in_channels = 16 (at in_index = 2) does not match")
    aux[1]["in_index"] = -2  # negative indices count from the end, as in forward
    build_segmentor(cfgs.segmentor(auxiliary_head=aux))
    aux[1]["in_index"] = -5
    _raises(cfgs.segmentor(auxiliary_head=aux), "model.auxiliary_head[1].in_index = -5 selects")


def test_list_inputs_get_the_whole_corrected_list(cfgs):
    head = dict(type="UPerHead", in_channels=[8, 16, 320, 512], in_index=[0, 1, 2, 3],
                channels=8, num_classes=5)
    _raises(cfgs.segmentor(decode_head=head),
            f"model.decode_head.in_channels = [8, 16, 320, 512] (at in_index = [0, 1, 2, 3]) "
            f"does not match {DECLARED}: output 2 has 32 channels, not 320; output 3 has 64 "
            f"channels, not 512. Set model.decode_head.in_channels = [8, 16, 32, 64]")
    head = dict(type="FCNHead", in_channels=[16, 64], in_index=[1, 2], channels=8, num_classes=5,
                input_transform="resize_concat")
    _raises(cfgs.segmentor(decode_head=head), "output 2 has 32 channels, not 64. Set "
                                              "model.decode_head.in_channels = [16, 32]")


def test_extra_inputs_of_a_head_are_checked_too(cfgs):
    head = dict(type="DepthwiseSeparableASPPHead", in_channels=64, in_index=3, channels=8,
                c1_in_channels=16, c1_channels=4, dilations=(1, 2), num_classes=5)
    _raises(cfgs.segmentor(decode_head=head),
            f"model.decode_head.c1_in_channels = 16 does not match {DECLARED}: output 0 has 8 "
            f"channels, not 16. Set model.decode_head.c1_in_channels = 8.")
    head["c1_in_channels"] = 8
    model = build_segmentor(cfgs.segmentor(decode_head=head))
    assert model.decode_head.c1_bottleneck.conv.in_channels == 8


def test_check_goes_through_a_declared_neck(cfgs):
    cfg = cfgs.segmentor(auxiliary_head=None)
    cfg["neck"] = dict(type=Lateral, in_channels=[8, 16, 32, 64], out_channels=12)
    _raises(cfg, "model.decode_head.in_channels = 64 (at in_index = 3) does not match the neck "
                 "Lateral, whose 4 outputs have channels (12, 12, 12, 12): output 3 has 12")
    cfg["decode_head"]["in_channels"] = 12
    model = build_segmentor(cfg).eval()
    with torch.no_grad():
        assert model.encode_decode(torch.randn(1, 3, 32, 32)).shape == (1, 5, 32, 32)


def test_undeclared_producers_are_not_checked(cfgs):
    cfg = cfgs.segmentor(auxiliary_head=None, decode_head=cfgs.fcn_head(in_channels=999))
    cfg["neck"] = dict(type=PlainNeck)
    assert build_segmentor(cfg).decode_head.in_channels == 999
    head = cfgs.fcn_head(in_channels=7, in_index=0)
    for backbone in (dict(type=Declares, shapes=[None]), dict(type=Declares, opt_out=True)):
        build_segmentor(cfgs.segmentor(backbone=backbone, decode_head=head, auxiliary_head=None))
    _raises(cfgs.segmentor(backbone=dict(type=Declares, shapes=[(4, 2)]), decode_head=head,
                           auxiliary_head=None),
            "whose 1 outputs have channels (4,): output 0 has 4 channels, not 7")
    head["in_index"] = 1  # the number of outputs is known even where channels are not
    _raises(cfgs.segmentor(backbone=dict(type=Declares, shapes=[None]), decode_head=head,
                           auxiliary_head=None),
            "in_index = 1 selects output 1, but the head reads the backbone Declares, whose 1 "
            "outputs have channels (None,)")


def test_direct_construction_names_the_model_keys(cfgs):
    cfg = cfgs.segmentor(decode_head=cfgs.fcn_head(in_channels=63))
    cfg.pop("type")
    with pytest.raises(ConfigError, match=r"^model\.decode_head\.in_channels = 63 "):
        EncoderDecoder(**cfg)
