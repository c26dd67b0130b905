"""One complete tiny segmentor per registered model family, built from tests/models/tiny_configs.py.

For the sweeps that need a whole network (ONNX export, tracing), each registered backbone, neck,
decode head and segmentor type becomes an ``EncoderDecoder`` (or ``CascadeEncoderDecoder``)
config around it, so the type under test is in the path from the image to the logits:

- backbone: the backbone's tiny config + an FCNHead on its last declared map.
- neck: its ``NECK_INPUTS`` (or ``NECK_INPUT``) backbone + the neck + an FCNHead on its last map.
- head: its ``HEAD_INPUTS`` backbone, else ``TINY_BACKBONE`` (whose outputs are ``HEAD_FEATS``);
  a cascade head (OCRHead, PointHead) is the second stage after an FCNHead whose logits come at
  the stride the head expects (``HEAD_CALLS['prev_stride']``, else the finest level it reads).
- segmentor: its tiny config as is.

Losses are no family of their own here (they do not run at inference).
"""
from __future__ import annotations

from typing import Dict, List

from seglab.models import build_backbone, build_head, build_neck
from seglab.models.decode_heads import BaseCascadeDecodeHead
from seglab.registry import MODELS
from tiny_configs import (BN, HEAD_CALLS, HEAD_COMMON, HEAD_FEATS, HEAD_INPUTS, NECK_INPUT,
                          NECK_INPUTS, NUM_CLASSES, TINY, TINY_BACKBONE, kind_of)

FAMILY_KINDS = ("backbone", "neck", "head", "segmentor")


def family_names() -> List[str]:
    """Every registered type of a kind that runs at inference, sorted (those without a tiny
    config are left to test_registry_sweep.py, which fails for them)."""
    return sorted(n for n in MODELS if kind_of(MODELS.get(n)) in FAMILY_KINDS and n in TINY)


def _fcn(in_channels: int, in_index: int) -> dict:
    return dict(type="FCNHead", in_channels=in_channels, in_index=in_index, channels=8,
                num_convs=1, concat_input=False, num_classes=NUM_CLASSES, norm_cfg=BN)


def _fcn_on_last_map(shapes, who: str) -> dict:
    maps = [i for i, spec in enumerate(shapes or ()) if spec is not None]
    if not maps:
        raise AssertionError(f"{who} declares no map output to put an FCNHead on")
    return _fcn(shapes[maps[-1]].channels, maps[-1])


def _segmentor(backbone: dict, decode_head, neck=None, test_cfg=None) -> dict:
    cfg = dict(type="EncoderDecoder", backbone=dict(backbone), decode_head=decode_head,
               test_cfg=dict(mode="whole", **(test_cfg or {})))
    if neck is not None:
        cfg["neck"] = neck
    return cfg


def _head_segmentor(name: str) -> dict:
    calls = HEAD_CALLS.get(name, {})
    head = {**(HEAD_COMMON if calls.get("common", True) else {}), "type": name, **TINY[name]}
    backbone = HEAD_INPUTS[name]["backbone"] if name in HEAD_INPUTS else TINY_BACKBONE
    test_cfg = calls.get("test_cfg")
    if not issubclass(MODELS.get(name), BaseCascadeDecodeHead):
        return _segmentor(backbone, head, test_cfg=test_cfg)
    reads = build_head(head).input_specs()
    indices = [i for spec in reads
               for i in (spec.index if isinstance(spec.index, tuple) else (spec.index,))]
    stride = calls.get("prev_stride", min(HEAD_FEATS[i][1] for i in indices))
    first = next(i for i, (_, s) in enumerate(HEAD_FEATS) if s == stride)
    cfg = _segmentor(backbone, [_fcn(HEAD_FEATS[first][0], first), head], test_cfg=test_cfg)
    cfg.update(type="CascadeEncoderDecoder", num_stages=2)
    return cfg


def tiny_segmentor_cfg(name: str) -> dict:
    """A complete segmentor config with the registered type ``name`` in its inference path."""
    kind = kind_of(MODELS.get(name))
    if kind == "segmentor":
        return dict(type=name, **TINY[name])
    if kind == "backbone":
        backbone = dict(type=name, **TINY[name])
        shapes = build_backbone(backbone).output_shapes()
        return _segmentor(backbone, _fcn_on_last_map(shapes, name))
    if kind == "neck":
        backbone = NECK_INPUTS.get(name, NECK_INPUT)
        neck = dict(type=name, **TINY[name])
        shapes = build_neck(neck).output_shapes(build_backbone(dict(backbone)).output_shapes())
        return _segmentor(backbone, _fcn_on_last_map(shapes, name), neck=neck)
    if kind == "head":
        return _head_segmentor(name)
    raise AssertionError(f"{name} ({kind or 'no kind'}) is not a segmentor family")


def tiny_segmentor_cfgs() -> Dict[str, dict]:
    """``{registered name: complete tiny segmentor config}`` for :func:`family_names`."""
    return {name: tiny_segmentor_cfg(name) for name in family_names()}
