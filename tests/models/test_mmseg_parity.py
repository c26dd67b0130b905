"""seglab reproduces what MMSegmentation 1.2.2 computes for five tiny models.

Fixtures: /work/shared/data/mmseg-parity (its README says how each file was made). Tolerances
are the README's: logits atol 2e-5, losses rtol 1e-5, gradients atol 1e-5; acc_seg counts argmax
hits, so it is compared within one pixel step (100 / 7992 percentage points).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from seglab.models import build_segmentor
from shared_data import SHARED

PARITY = Path(f"{SHARED}/data/mmseg-parity")
MODELS = ["fcn_tiny", "pspnet_tiny", "deeplabv3_tiny", "deeplabv3plus_tiny", "upernet_tiny"]
ACC_STEP = 100.0 / 7992

pytestmark = pytest.mark.skipif(not PARITY.is_dir(), reason="MMSeg parity fixtures not available")


def _load(name: str):
    return torch.load(PARITY / name, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def inputs():
    return _load("inputs.pt")


def _metas(h: int, w: int, n: int):
    return [dict(img_shape=(h, w), pad_shape=(h, w), ori_shape=(h, w)) for _ in range(n)]


def _model(name: str, model_cfg: dict = None):
    cfg = model_cfg or json.loads((PARITY / f"{name}.model.json").read_text())
    model = build_segmentor(cfg)
    model.load_state_dict(_load(f"{name}.state_dict.pth"), strict=True)
    return model


def _train_without_dropout(model):
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout2d):
            m.eval()
    return model


def _assert_losses(losses: dict, expected: dict):
    assert set(expected) <= set(losses)
    for key, ref in expected.items():
        value = losses[key].item()
        if key.endswith("acc_seg"):
            assert value == pytest.approx(ref, abs=1.5 * ACC_STEP), key
        else:
            assert value == pytest.approx(ref, rel=1e-5), key


@pytest.mark.parametrize("name", MODELS)
def test_whole_logits(name, inputs):
    model = _model(name).eval()
    with torch.no_grad():
        logits = model.encode_decode(inputs["x"], _metas(64, 64, 2))
        feats = model.extract_feat(inputs["x"])
        head_out = model.decode_head(feats)
    ref = _load(f"{name}.whole_feats.pt")
    assert [tuple(f.shape) for f in feats] == [tuple(f.shape) for f in ref["backbone"]]
    for ours, theirs in zip(feats, ref["backbone"]):
        torch.testing.assert_close(ours, theirs, atol=2e-5, rtol=0)
    torch.testing.assert_close(head_out, ref["decode_head_out"], atol=2e-5, rtol=0)
    expected = _load(f"{name}.whole_logits.pt")
    assert logits.shape == expected.shape == (2, 5, 64, 64)
    torch.testing.assert_close(logits, expected, atol=2e-5, rtol=0)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("slide_batch_size", [1, 4])
def test_slide_logits(name, slide_batch_size, inputs):
    model = _model(name).eval()
    model.test_cfg = dict(mode="slide", crop_size=(48, 48), stride=(32, 32),
                          slide_batch_size=slide_batch_size)
    with torch.no_grad():
        logits = model.slide_inference(inputs["y"], _metas(80, 96, 1), rescale=True)
    expected = _load(f"{name}.slide_logits.pt")
    assert logits.shape == expected.shape == (1, 5, 80, 96)
    torch.testing.assert_close(logits, expected, atol=2e-5, rtol=0)


@pytest.mark.parametrize("name", MODELS)
def test_training_losses(name, inputs):
    model = _train_without_dropout(_model(name))
    losses = model.forward_train(inputs["x"], _metas(64, 64, 2), inputs["gt"][:, None])
    assert list(losses) == ["decode.loss_ce", "decode.acc_seg", "aux.loss_ce", "aux.acc_seg"]
    _assert_losses(losses, json.loads((PARITY / f"{name}.losses.json").read_text()))


@pytest.mark.parametrize("name", MODELS)
def test_training_losses_with_dropout(name, inputs):
    model = _model(name).train()
    metas, gt = _metas(64, 64, 2), inputs["gt"][:, None]
    torch.manual_seed(103)  # masks drawn decode head first, then auxiliary head, as MMSeg
    losses = model.forward_train(inputs["x"], metas, gt)
    _assert_losses(losses, json.loads((PARITY / f"{name}.losses_dropout.json").read_text()))


def test_fcn_total_loss_gradients_and_bn_statistics(inputs):
    model = _train_without_dropout(_model("fcn_tiny"))
    losses = model.forward_train(inputs["x"], _metas(64, 64, 2), inputs["gt"][:, None])
    loss, log_vars = model.parse_losses(losses)
    assert loss.item() == pytest.approx(2.4203405380249023, rel=1e-6)
    assert log_vars["loss"] == pytest.approx(loss.item())
    loss.backward()

    grads = _load("fcn_tiny.grads.pth")
    params = dict(model.named_parameters())
    assert set(grads) == set(params)
    for key, ref in grads.items():
        torch.testing.assert_close(params[key].grad, ref, atol=1e-5, rtol=0, msg=key)

    stats = _load("fcn_tiny.bn_after_loss.pth")
    state = model.state_dict()
    for key, ref in stats.items():
        if key.endswith("num_batches_tracked"):
            assert state[key].item() == ref.item() == 1, key
        else:
            torch.testing.assert_close(state[key], ref, atol=1e-6, rtol=1e-5, msg=key)


@pytest.mark.parametrize("name", MODELS)
def test_py_config_through_config_system(name, inputs, tmp_path):
    config_mod = pytest.importorskip("seglab.config")
    path = tmp_path / f"{name}.py"
    shutil.copy(PARITY / f"{name}.py.txt", path)
    cfg = config_mod.Config.fromfile(str(path))
    reference = json.loads((PARITY / f"{name}.model.json").read_text())
    assert json.loads(json.dumps(cfg.model.to_dict() if hasattr(cfg.model, "to_dict")
                                 else dict(cfg.model))) == reference
    model = _model(name, cfg.model).eval()
    with torch.no_grad():
        logits = model.encode_decode(inputs["x"], _metas(64, 64, 2))
    torch.testing.assert_close(logits, _load(f"{name}.whole_logits.pt"), atol=2e-5, rtol=0)
