"""seglab reproduces MMSegmentation 1.2.2 on the 1.x-only model types (tests/models/fixtures_1x).

Each fixture ``<name>`` (its README section says how it was made, its ``make_<name>.py`` makes
it with MMSeg) has ``<name>.py.txt`` (the model dict; it goes through seglab's Config),
``<name>.state_dict.pth`` (loaded strictly), ``<name>.inputs.pt`` (``x``, ``gt``),
``<name>.feats.pt`` (eval mode: ``backbone`` outputs, ``decode_head_out`` before any resize),
``<name>.whole_logits.pt`` (``encode_decode``, after the resize to the input size) and
``<name>.losses.json`` (train mode, dropout-like modules in eval mode); optionally
``<name>.grads.pt`` (parameter gradients of the summed loss terms of that call), further label
maps ``gt_*`` in ``<name>.inputs.pt`` (passed to ``forward_train``, e.g. PIDNet's
``gt_edge_map``) and ``train_backbone`` / ``train_decode_head_out`` in ``<name>.feats.pt`` (the
same outputs in train mode, dropout-like modules in eval mode).

A fixture joins with an entry in :data:`FIXTURES`: the seeds set right before the eval forwards
and the loss call (None: no seed), bounds (a bound looser than the default needs a reason),
``maker`` when its generator is not ``make_<name>.py``, and ``eval_outputs``: the indices of
seglab's backbone outputs that MMSeg's eval-mode backbone returns (None: all of them).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import torch
from torch import nn

from seglab.config import Config
from seglab.models import build_segmentor
from seglab.models.layers import DropPath

HERE = Path(__file__).parent / "fixtures_1x"
DEFAULTS = dict(eval_seed=None, loss_seed=104, feat_atol=1e-5, logit_atol=1e-5, loss_rtol=1e-5,
                grad_rtol=1e-5, train_atol=1e-5, eval_outputs=None)
# name -> what the fixture covers and how it was run (see fixtures_1x/README.md).
FIXTURES: Dict[str, Dict[str, Any]] = {
    # MSCAN + LightHamHead. NMF2D draws random bases in every forward (rand_init=True), so
    # each head forward follows a seed; 1e-5 is ~3x the fixture's float64-vs-float32 spread.
    "segnext": dict(eval_seed=105),
    # PIDNet-S / PIDNet-L / DDRNet-23-slim structures (make_pidnet_ddrnet.py makes all three).
    # The deepest maps are 1x1 with batch 2, so train-mode BN normalises 2 values per channel
    # and amplifies float32 rounding in the gradients of the layers before them: float64 vs
    # float32 MMSeg differ by up to 7e-5 (pidnet) and 2.4e-3 (ddrnet, backbone.down_2.1)
    # relative (<name>.tolerances.json); seglab's gradients are within 2e-5 and 4e-4 of them.
    # The train-mode features: float64 vs float32 2.2e-5 (seglab within 1.4e-5 of MMSeg).
    # MMSeg's eval-mode backbones return only the fused map, seglab's all outputs (1 = fused).
    "pidnet_s": dict(maker="make_pidnet_ddrnet.py", grad_rtol=1e-4, eval_outputs=(1,)),
    "pidnet_l": dict(maker="make_pidnet_ddrnet.py", grad_rtol=1e-4, eval_outputs=(1,)),
    "ddrnet": dict(maker="make_pidnet_ddrnet.py", grad_rtol=3e-3, train_atol=5e-5,
                   eval_outputs=(1,)),
}
ACC_STEP = 100.0 / 7992  # one argmax pixel of the 2 x 64 x 64 labels without the 255 corners


def _spec(name: str) -> Dict[str, Any]:
    return {**DEFAULTS, **FIXTURES[name]}


def _load(name: str) -> Any:
    return torch.load(HERE / name, map_location="cpu", weights_only=True)


def _inputs(name: str) -> Dict[str, torch.Tensor]:
    data = _load(f"{name}.inputs.pt")
    return {k: v if k == "x" else v.long() for k, v in data.items()}


def _extra_gt(inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The label maps besides ``gt`` as (N, 1, H, W) keywords of ``forward_train``."""
    return {k: v[:, None] for k, v in inputs.items() if k.startswith("gt_")}


def _metas(x: torch.Tensor) -> List[dict]:
    h, w = x.shape[-2:]
    return [dict(img_shape=(h, w), pad_shape=(h, w), ori_shape=(h, w)) for _ in range(len(x))]


def _seed(seed: Optional[int]) -> None:
    if seed is not None:
        torch.manual_seed(seed)


def build_fixture_model(name: str, tmp_path: Path) -> nn.Module:
    """The fixture's model dict through seglab's Config, built, MMSeg's state_dict loaded
    strictly."""
    path = tmp_path / f"{name}.py"
    shutil.copy(HERE / f"{name}.py.txt", path)
    model = build_segmentor(Config.fromfile(str(path)).model)
    model.load_state_dict(_load(f"{name}.state_dict.pth"), strict=True)
    return model


def _assert_close(ours: Any, theirs: Any, atol: float, what: str) -> None:
    ours = [ours] if isinstance(ours, torch.Tensor) else list(ours)
    theirs = [theirs] if isinstance(theirs, torch.Tensor) else list(theirs)
    assert [t.shape for t in ours] == [t.shape for t in theirs], what
    for i, (a, b) in enumerate(zip(ours, theirs)):
        torch.testing.assert_close(a, b, atol=atol, rtol=0, msg=lambda m: f"{what}[{i}]: {m}")


def _dropout_like_in_eval(model: nn.Module) -> nn.Module:
    """Train mode with Dropout / Dropout2d / DropPath / MultiheadAttention in eval mode, as the
    fixtures' losses were computed (no random masks)."""
    model.train()
    for module in model.modules():
        if isinstance(module, (nn.Dropout, nn.Dropout2d, DropPath, nn.MultiheadAttention)):
            module.eval()
    return model


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_files_are_small_and_complete(name):
    files = sorted(HERE.glob(f"{name}.*"))
    required = {f"{name}.{ext}" for ext in ("py.txt", "state_dict.pth", "inputs.pt", "feats.pt",
                                            "whole_logits.pt", "losses.json")}
    assert required <= {f.name for f in files}
    assert (HERE / FIXTURES[name].get("maker", f"make_{name}.py")).is_file()
    assert f"## {name} " in (HERE / "README.md").read_text()
    assert sum(f.stat().st_size for f in files) < 500_000


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_features_head_and_whole_logits(name, tmp_path):
    spec = _spec(name)
    model = build_fixture_model(name, tmp_path).eval()
    x = _inputs(name)["x"]
    ref = _load(f"{name}.feats.pt")
    with torch.no_grad():
        feats = model.backbone(x)
        picked = feats if spec["eval_outputs"] is None else [feats[i] for i in spec["eval_outputs"]]
        _assert_close(picked, ref["backbone"], spec["feat_atol"], "backbone")
        _seed(spec["eval_seed"])
        head_out = model.decode_head(model.neck(feats) if model.with_neck else feats)
        _assert_close(head_out, ref["decode_head_out"], spec["logit_atol"], "decode_head_out")
        _seed(spec["eval_seed"])
        logits = model.encode_decode(x, _metas(x))
    _assert_close(logits, _load(f"{name}.whole_logits.pt"), spec["logit_atol"], "whole logits")


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_training_losses_and_gradients(name, tmp_path):
    spec = _spec(name)
    model = _dropout_like_in_eval(build_fixture_model(name, tmp_path))
    inputs = _inputs(name)
    ref = _load(f"{name}.feats.pt")
    if "train_backbone" in ref:
        with torch.no_grad():
            feats = model.backbone(inputs["x"])
            _assert_close(feats, ref["train_backbone"], spec["train_atol"], "train backbone")
            _assert_close(model.decode_head(model.neck(feats) if model.with_neck else feats),
                          ref["train_decode_head_out"], spec["train_atol"], "train head out")
    _seed(spec["loss_seed"])
    losses = model.forward_train(inputs["x"], _metas(inputs["x"]), inputs["gt"][:, None],
                                 **_extra_gt(inputs))
    expected = json.loads((HERE / f"{name}.losses.json").read_text())
    assert list(losses) == list(expected)
    for key, ref in expected.items():
        if "acc" in key:
            assert losses[key].item() == pytest.approx(ref, abs=1.5 * ACC_STEP), key
        else:
            assert losses[key].item() == pytest.approx(ref, rel=spec["loss_rtol"]), key
    if not (HERE / f"{name}.grads.pt").is_file():
        return
    model.parse_losses(losses)[0].backward()  # the total of the loss terms, as MMSeg's
    params = dict(model.named_parameters())
    for key, ref in _load(f"{name}.grads.pt").items():
        bound = spec["grad_rtol"] * ref.abs().max().item()
        torch.testing.assert_close(params[key].grad, ref, atol=bound, rtol=0,
                                   msg=lambda m: f"grad of {key}: {m}")
