"""ONNX export of every registered model family: ONNX Runtime equals PyTorch.

Each registered backbone, neck, decode head and segmentor type is put into a complete tiny
segmentor (tests/models/tiny_segmentors.py), exported by seglab.apis.onnx_export with dynamic
axes and run by ONNX Runtime at the traced 64x64 size and at two others (a batch of two 64x96
images, one 96x64 image). The logits must equal PyTorch's within ``ATOL``: the tiny models'
largest difference is ~7e-6 (DPTHead), float32 rounding of a different op order.

Families whose graph only holds at the traced size are listed in ``STATIC_ONLY`` with the
reason; for them the test asserts that another size really fails (an export error, an ONNX
Runtime error or wrong logits), so neither list can silently go stale, and that the graph is
exact at the traced size (a static export where the dynamic one is refused). The families no
graph can express are in ``NOT_EXPORTABLE``, and their export must fail with seglab's message.
"""
from __future__ import annotations

import os

import pytest
import torch

from seglab.apis.onnx_export import (OnnxExportError, export_onnx, ort_session, run_session,
                                     verify_onnx)
from seglab.models import build_segmentor
from tiny_segmentors import family_names, tiny_segmentor_cfg

pytest.importorskip("onnxruntime", reason="pip install seglab[onnx]")
# About 35 s of CPU: one export per family (two for the pooling ones), mostly the exporter's.
pytestmark = pytest.mark.slow

ATOL = 1e-4
TRACED = (1, 3, 64, 64)
OTHER_SIZES = [(2, 3, 64, 96), (1, 3, 96, 64)]

_POOL = ("adaptive average pooling to bins that do not divide the map (pool_scales 2, 3, 6): "
         "the bins depend on the input size, so the export needs it static")
_POS = "the position embedding is resized to the traced grid in Python (a constant in the graph)"
_REL = "relative position tables / their resize are computed for the traced grid in Python"
_TOKENS = "token maps are reshaped with the traced grid's H and W (Python ints in the graph)"
_PY_SIZE = ("sizes computed in Python (int / scale arithmetic) are constants of the graph: "
            "wrong logits, or a shape error, at another size")
STATIC_ONLY = {
    # export refuses the dynamic graph (seglab's symbolic needs the size)
    "ANNHead": _POOL, "APCHead": _POOL, "FastSCNN": _POOL, "ICNet": _POOL, "PSPHead": _POOL,
    "UPerHead": _POOL, "IterativeDecodeHead": _POOL + " (its UPerHead kernel generator)",
    "DMHead": "its dynamic convolution kernels come from adaptive pooling: unknown kernel shape",
    # ONNX Runtime fails at another size
    "BEiT": _REL, "MAE": _REL, "Feature2Pyramid": _REL + " (its BEiT input)",
    "VisionTransformer": _POS, "DPTHead": _POS + " (its ViT input)",
    "MLANeck": _POS + " (its ViT input)",
    "MixVisionTransformer": _TOKENS, "PCPVT": _TOKENS, "SVT": _TOKENS,
    "SwinTransformer": _TOKENS + " (window padding too)",
    "ISAHead": _PY_SIZE + " (the padding to whole cells)",
    "UNet": _PY_SIZE + " (the decoder's crop / concat sizes)",
    # wrong logits at another size
    "HRNet": _PY_SIZE + " (the fuse layers' upsampling)",
    "CascadeEncoderDecoder": _PY_SIZE + " (its HRNet)",
    "FPNHead": _PY_SIZE + " (the scale heads' upsampling)",
    "SETRUPHead": _PY_SIZE + " (the up_scale resize)", "SETRMLAHead": _PY_SIZE,
}
# LightHamHead exports: its tiny config has fixed NMF bases (rand_init=False, drawn at build).
# With SegNeXt's rand_init=True the graph draws new bases per run, as PyTorch does (no equality).
NOT_EXPORTABLE: dict = {}


def _model(name):
    torch.manual_seed(0)
    return build_segmentor(tiny_segmentor_cfg(name)).eval()


def _max_diff(model, session, shape) -> float:
    img = torch.randn(*shape)
    with torch.no_grad():
        expected = model.encode_decode(img, None)
    got = run_session(session, img)
    assert got.shape == expected.shape
    return float((got - expected).abs().max())


def test_the_lists_name_registered_families():
    names = set(family_names())
    assert len(names) > 50
    assert set(STATIC_ONLY) <= names and set(NOT_EXPORTABLE) <= names
    assert not set(STATIC_ONLY) & set(NOT_EXPORTABLE)


def test_not_exportable_families_fail_with_a_clear_error(tmp_path):
    for name in sorted(NOT_EXPORTABLE):  # a loop: an empty list is no skipped test
        with pytest.raises(OnnxExportError, match=r"cannot be exported to ONNX: "):
            export_onnx(_model(name), str(tmp_path / f"{name}.onnx"), TRACED)


@pytest.mark.parametrize("name", [n for n in family_names()
                                  if n not in STATIC_ONLY and n not in NOT_EXPORTABLE])
def test_dynamic_export_equals_pytorch_at_every_size(name, tmp_path):
    model = _model(name)
    onnx_file = export_onnx(model, str(tmp_path / f"{name}.onnx"), TRACED, dynamic_export=True)
    session = ort_session(onnx_file)
    diffs = {shape: _max_diff(model, session, shape) for shape in [TRACED] + OTHER_SIZES}
    assert max(diffs.values()) <= ATOL, diffs


CHECKED = (2, 3, 96, 80)  # export_onnx's check of a dynamic graph: two at 1.5x H, 1.25x W


def _eager_accepts(model, shape) -> bool:
    try:
        with torch.no_grad():
            model.encode_decode(torch.randn(*shape), None)
    except Exception:  # noqa: BLE001 - the model's own size check
        return False
    return True


def _fails_at_another_size(model, onnx_file) -> bool:
    session = ort_session(onnx_file)
    try:
        return _max_diff(model, session, OTHER_SIZES[0]) > ATOL
    except Exception:  # noqa: BLE001 - onnxruntime's own error types (a shape mismatch)
        return True


@pytest.mark.parametrize("name", sorted(STATIC_ONLY))
def test_static_only_family_is_exact_at_its_size_and_not_at_another(name, tmp_path):
    model = _model(name)
    onnx_file = str(tmp_path / f"{name}.onnx")
    try:
        export_onnx(model, onnx_file, TRACED, dynamic_export=True, check_dynamic=False)
    except OnnxExportError as err:
        assert "static input size" in str(err) or "unknown shape" in str(err)
    else:
        assert _fails_at_another_size(model, onnx_file), f"{name} now exports dynamically"
        # export_onnx's own check at another size refuses the graph and writes no file, unless
        # PyTorch itself refuses that size (BEiT, MAE: then ONNX Runtime fails there too).
        os.remove(onnx_file)
        if _eager_accepts(model, CHECKED):
            with pytest.raises(OnnxExportError, match=r"The dynamic graph (fails in ONNX Runtime"
                               r"|gives wrong logits) on a 2x3x96x80 input.*export without "
                               r"--dynamic-export\.$"):
                export_onnx(model, onnx_file, TRACED, dynamic_export=True)
            assert not os.listdir(tmp_path)
    # The static export (seglab's matrix form of the pooling where needed) is exact.
    export_onnx(model, onnx_file, TRACED)
    assert _max_diff(model, ort_session(onnx_file), TRACED) <= ATOL


@pytest.mark.parametrize("name, failure", [("UNet", "ONNX Runtime fails on a 2x3x96x96 input"),
                                           ("SETRUPHead", "max abs logit difference")])
def test_verify_of_a_dynamic_export_names_the_fix(name, failure, tmp_path):
    """pytorch2onnx --dynamic-export --verify on a static-only family: an ONNX Runtime error or
    wrong logits at 1.5x the size, either way one message saying to export without it."""
    model = _model(name)
    onnx_file = export_onnx(model, str(tmp_path / f"{name}.onnx"), TRACED, dynamic_export=True,
                            check_dynamic=False)
    with pytest.raises(OnnxExportError, match=failure) as err:
        verify_onnx(model, onnx_file, TRACED, dynamic_export=True)
    assert str(err.value).endswith("export without --dynamic-export.")


def test_random_nmf_bases_stay_random_in_onnx(tmp_path):
    """SegNeXt's LightHamHead(rand_init=True) exports, and ONNX Runtime draws new bases every run
    as PyTorch does: neither repeats its own logits, so no bound can hold (README)."""
    cfg = tiny_segmentor_cfg("LightHamHead")
    cfg["decode_head"] = dict(cfg["decode_head"], ham_kwargs=dict(
        cfg["decode_head"]["ham_kwargs"], rand_init=True))
    model = build_segmentor(cfg).eval()
    session = ort_session(export_onnx(model, str(tmp_path / "ham.onnx"), TRACED))
    img = torch.randn(*TRACED)
    assert float((run_session(session, img) - run_session(session, img)).abs().max()) > ATOL
    with torch.no_grad():
        assert float((model.encode_decode(img) - model.encode_decode(img)).abs().max()) > ATOL
