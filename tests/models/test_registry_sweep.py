"""Registry-keyed sweeps: every type in ``MODELS`` builds from its tiny config (tiny_configs.py),
runs forward and backward on CPU, rejects a misspelt key, and a backbone's (or neck's) declared
outputs are its real outputs. Nothing here lists model types by hand."""
from __future__ import annotations

import math

import pytest
import torch

from seglab.errors import RegistryError
from seglab.models import build_backbone, build_head, build_loss, build_neck, build_segmentor
from seglab.models.backbones import ShapeSpec
from seglab.models.decode_heads import BaseCascadeDecodeHead
from seglab.models.segmentors.build_checks import check_head
from seglab.registry import MODELS, accepted_keys
from tiny_configs import (BACKBONE_SIDES, HEAD_CALLS, HEAD_COMMON, HEAD_FEATS, HEAD_INPUTS,
                          IMAGE_SIZE, LOSS_CALLS, NECK_INPUT, NECK_INPUTS, NUM_CLASSES, TINY,
                          kind_of)

NAMES = sorted(MODELS)
BY_KIND = {kind: [n for n in NAMES if kind_of(MODELS.get(n)) == kind]
           for kind in ("backbone", "neck", "head", "segmentor", "loss")}


def _tiny(name: str) -> dict:
    if name not in TINY:
        pytest.fail(f"{name} is registered but has no tiny config in tests/models/tiny_configs.py")
    return dict(type=name, **TINY[name])


def _tensors(out):
    """The tensors of a (possibly nested) output, in order."""
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for item in out for t in _tensors(item)]


def _image(requires_grad: bool = True) -> torch.Tensor:
    return torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE, requires_grad=requires_grad)


def _assert_matches_declaration(outs, shapes, who: str) -> None:
    if shapes is None:  # opting out is for outputs that are not plain maps
        assert any(not isinstance(o, torch.Tensor) for o in outs), (
            f"{who} returns plain maps but declares nothing; implement output_shapes()")
        return
    assert len(shapes) == len(outs), f"{who} declares {len(shapes)} outputs, returns {len(outs)}"
    for i, (out, spec) in enumerate(zip(outs, shapes)):
        if spec is None:
            assert not isinstance(out, torch.Tensor), f"{who} output {i} is a map; declare it"
            continue
        sides = BACKBONE_SIDES.get(who)  # ceil-mode pooling (ICNet) rounds some sides up
        side = sides[i] if sides else math.ceil(IMAGE_SIZE / spec.stride)
        assert tuple(out.shape) == (2, spec.channels, side, side), (
            f"{who} output {i}: declared {spec}, got {tuple(out.shape)}")


def _assert_all_grads(module: torch.nn.Module) -> None:
    missing = [n for n, p in module.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient for {missing[:5]}"


def test_every_registered_type_has_a_kind_and_a_tiny_config():
    assert [n for n in NAMES if not kind_of(MODELS.get(n))] == [], (
        "registered types the sweep cannot run: derive them from the base classes")
    assert sorted(set(NAMES) - set(TINY)) == [], "add them to tests/models/tiny_configs.py"
    assert sorted(set(TINY) - set(NAMES)) == [], "tiny configs of types no longer registered"
    assert BY_KIND["backbone"] and BY_KIND["head"] and BY_KIND["segmentor"] and BY_KIND["loss"]


@pytest.mark.parametrize("name", BY_KIND["backbone"])
def test_backbone_outputs_are_what_it_declares(name):
    model = build_backbone(_tiny(name)).train()
    x = _image()
    outs = model(x)
    assert isinstance(outs, tuple)
    _assert_matches_declaration(outs, model.output_shapes(), name)
    sum(t.mean() for t in _tensors(outs)).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    _assert_all_grads(model)


@pytest.mark.parametrize("name", BY_KIND["neck"])
def test_neck_outputs_are_what_it_declares(name):
    backbone = build_backbone(dict(NECK_INPUTS.get(name, NECK_INPUT)))
    neck = build_neck(_tiny(name)).train()
    outs = neck(backbone(_image()))
    _assert_matches_declaration(outs, neck.output_shapes(backbone.output_shapes()), name)
    sum(t.mean() for t in _tensors(outs)).backward()
    _assert_all_grads(neck)


def _head_inputs(name: str, head: torch.nn.Module):
    """(features, their declaration, who makes them, the logits' stride) for a head: random
    HEAD_FEATS maps, or the real outputs of its HEAD_INPUTS backbone (e.g. ViT pairs)."""
    if name in HEAD_INPUTS:
        spec = HEAD_INPUTS[name]
        backbone = build_backbone(dict(spec["backbone"]))
        return backbone(_image()), backbone.output_shapes(), "HEAD_INPUTS", spec["logit_stride"]
    shapes = tuple(ShapeSpec(c, s) for c, s in HEAD_FEATS)
    feats = [torch.randn(2, c, IMAGE_SIZE // s, IMAGE_SIZE // s, requires_grad=True)
             for c, s in HEAD_FEATS]
    finest = min(HEAD_FEATS[i][1] for i in _read_indices(head))
    return feats, shapes, "HEAD_FEATS", finest  # logits come at the finest level a head reads


def _read_indices(head: torch.nn.Module):
    return [i for spec in head.input_specs()
            for i in (spec.index if isinstance(spec.index, tuple) else (spec.index,))]


@pytest.mark.parametrize("name", BY_KIND["head"])
def test_head_forward_backward(name):
    calls = HEAD_CALLS.get(name, {})
    common = HEAD_COMMON if calls.get("common", True) else {}  # composites set their own
    head = build_head({**common, **_tiny(name)}).train()  # a head's own keys win
    feats, shapes, producer, logit_stride = _head_inputs(name, head)
    check_head(head, shapes, f"TINY[{name!r}]", producer)  # the tiny config is consistent
    side = IMAGE_SIZE // logit_stride
    label = torch.randint(0, NUM_CLASSES, (2, 1, IMAGE_SIZE, IMAGE_SIZE))
    # A cascade head (CascadeEncoderDecoder's later stages) also reads the previous logits.
    prev_side = IMAGE_SIZE // calls.get("prev_stride", logit_stride)
    prev = [torch.randn(2, NUM_CLASSES, prev_side, prev_side)] if isinstance(
        head, BaseCascadeDecodeHead) else []
    # Further label maps a head trains on (PIDHead's gt_edge_map): random 0/1 maps.
    extra_gt = {key: torch.randint(0, 2, label.shape) for key in head.extra_gt_keys}
    losses = head.forward_train(feats, *prev, [{}] * 2, label, calls.get("train_cfg"), **extra_gt)
    acc_keys = calls.get("acc_keys", [calls.get("acc_key", "acc_seg")])  # one per output
    assert set(losses) == set(head.loss_names) | set(acc_keys)
    sum(losses[n] for n in head.loss_names).backward()
    _assert_all_grads(head)
    with torch.no_grad():
        out = head.eval().forward_test(feats, *prev, [{}] * 2, calls.get("test_cfg"))
    assert tuple(out.shape) == (2, NUM_CLASSES, side, side)


@pytest.mark.parametrize("name", BY_KIND["segmentor"])
def test_segmentor_train_and_test(name):
    model = build_segmentor(_tiny(name)).train()
    label = torch.randint(0, NUM_CLASSES, (2, 1, IMAGE_SIZE, IMAGE_SIZE))
    metas = [dict(img_shape=(IMAGE_SIZE, IMAGE_SIZE), ori_shape=(IMAGE_SIZE, IMAGE_SIZE))] * 2
    loss, log_vars = model.parse_losses(model.forward_train(_image(False), metas, label))
    assert torch.isfinite(loss) and log_vars["loss"] == pytest.approx(loss.item())
    loss.backward()
    _assert_all_grads(model)
    with torch.no_grad():
        preds = model.eval().simple_test(_image(False), metas)
    assert [p.shape for p in preds] == [(IMAGE_SIZE, IMAGE_SIZE)] * 2
    assert all(0 <= p.min() and p.max() < NUM_CLASSES for p in preds)


@pytest.mark.parametrize("name", BY_KIND["loss"])
def test_loss_forward_backward(name):
    loss = build_loss(_tiny(name))
    calls = LOSS_CALLS.get(name, {})
    logits = torch.randn(2, calls.get("channels", NUM_CLASSES), 8, 8, requires_grad=True)
    value = loss(logits, torch.randint(0, calls.get("num_labels", NUM_CLASSES), (2, 8, 8)))
    assert value.dim() == 0 and torch.isfinite(value) and value.item() > 0
    value.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_misspelt_key_is_rejected_with_the_accepted_keys(name):
    cfg = _tiny(name)
    key = next((k for k in cfg if k != "type"), None) or accepted_keys(MODELS.get(name))[0]
    typo = key[:2] + key[2] + key[2:]  # 'depth' -> 'deppth'
    value = cfg.pop(key, None)
    cfg[typo] = value
    with pytest.raises(RegistryError, match=(rf"got unexpected key\(s\) '{typo}' "
                                             rf"\(did you mean '{key}'\?\).*Accepted keys: ")):
        MODELS.build(cfg)
