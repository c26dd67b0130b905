"""Shared fixtures of the model tests: tiny configs (ResNetV1c-18, few channels) and small inputs."""
from __future__ import annotations

import copy
import warnings

import pytest
import torch

NORM = dict(type="BN", requires_grad=True)


def tiny_backbone(depth: int = 18, d8: bool = True, **overrides) -> dict:
    """ResNetV1c with 16 stem / 8 base channels: stage outputs 8/16/32/64 ch (depth 18)."""
    cfg = dict(type="ResNetV1c", depth=depth, num_stages=4, out_indices=(0, 1, 2, 3),
               dilations=(1, 1, 2, 4) if d8 else (1, 1, 1, 1),
               strides=(1, 2, 1, 1) if d8 else (1, 2, 2, 2), norm_cfg=NORM, norm_eval=False,
               style="pytorch", contract_dilation=True, stem_channels=16, base_channels=8)
    cfg.update(overrides)
    return cfg


def fcn_head(in_channels: int = 64, in_index: int = 3, channels: int = 16, num_convs: int = 2,
             concat_input: bool = True, loss_weight: float = 1.0, **overrides) -> dict:
    cfg = dict(type="FCNHead", in_channels=in_channels, in_index=in_index, channels=channels,
               num_convs=num_convs, concat_input=concat_input, dropout_ratio=0.1, num_classes=5,
               norm_cfg=NORM, align_corners=False,
               loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=loss_weight))
    cfg.update(overrides)
    return cfg


def tiny_segmentor(decode_head: dict = None, auxiliary_head="default", test_cfg=None,
                   backbone: dict = None) -> dict:
    """FCN on ResNetV1c-18-D8 with an auxiliary FCN head, 5 classes."""
    aux = fcn_head(32, 2, 8, 1, False, 0.4) if auxiliary_head == "default" else auxiliary_head
    return dict(type="EncoderDecoder", pretrained=None,
                backbone=backbone or tiny_backbone(),
                decode_head=decode_head or fcn_head(), auxiliary_head=aux, train_cfg=dict(),
                test_cfg=test_cfg or dict(mode="whole"))


@pytest.fixture(autouse=True)
def _quiet_and_deterministic():
    """Seeded RNG per test; silence MMSeg's advisory loss warning (avg_non_ignore)."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*avg_non_ignore.*")
        yield


@pytest.fixture
def cfgs():
    """Factories of tiny configs (deep copies, safe to mutate)."""
    class _Factories:
        backbone = staticmethod(lambda *a, **k: copy.deepcopy(tiny_backbone(*a, **k)))
        fcn_head = staticmethod(lambda *a, **k: copy.deepcopy(fcn_head(*a, **k)))
        segmentor = staticmethod(lambda *a, **k: copy.deepcopy(tiny_segmentor(*a, **k)))
    return _Factories
