"""seglab.utils.precision: detection, the dtype decision, the one fallback warning, bf16 numerics.

Bounds for bfloat16 (8 significant bits, a rounding step of 2**-8 relative) on the MMSeg parity
fixtures (five tiny ResNet models, /work/shared/data/mmseg-parity), measured on an AMD EPYC with
avx512_bf16: max |logit - fp32 logit| is 1.0-2.1% of the largest |logit| and argmax agrees on
98.5-100% of the pixels. The tests allow 3% and 98%, and require every changed pixel to be a
near tie in float32 (top-2 margin under twice the logit bound).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from seglab.errors import ConfigError
from seglab.utils import precision
from shared_data import SHARED

PARITY = Path(f"{SHARED}/data/mmseg-parity")
MODELS = ["fcn_tiny", "pspnet_tiny", "deeplabv3_tiny", "deeplabv3plus_tiny", "upernet_tiny"]
LOGIT_BOUND = 0.03  # max |bf16 - fp32| logit, as a fraction of the largest |fp32 logit|
ARGMAX_AGREEMENT = 0.98  # fraction of pixels whose bf16 class equals the fp32 class


def _cpu(native: bool, flags=("avx512_bf16",)):
    return precision.CpuBf16Support(native=native, flags=flags if native else (),
                                    capability="AVX512", cpu="Test CPU")


@pytest.fixture
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(precision, "_warned", set())


@pytest.fixture
def native_cpu(monkeypatch, fresh_warnings):
    monkeypatch.setattr(precision, "cpu_bf16_support", lambda: _cpu(True))


@pytest.fixture
def emulating_cpu(monkeypatch, fresh_warnings):
    monkeypatch.setattr(precision, "cpu_bf16_support", lambda: _cpu(False))


def _fallbacks(record):
    return [w for w in record if issubclass(w.category, precision.PrecisionFallbackWarning)]


def test_names_and_aliases():
    assert [precision.check_precision(v) for v in (None, "fp32", "float32", "BF16", "bfloat16",
                                                   torch.bfloat16, "half", torch.float16)] == \
        ["fp32", "fp32", "fp32", "bf16", "bf16", "bf16", "fp16", "fp16"]
    with pytest.raises(ConfigError, match=r"model.test_cfg.precision = 'int8'.*'fp32', 'bf16'"):
        precision.check_precision("int8", "model.test_cfg.precision")


@pytest.mark.parametrize("text, native, flags", [
    ("flags\t\t: fpu sse avx512f avx512_bf16 avx512_vnni\n", True, ("avx512_bf16",)),
    ("flags\t\t: fpu avx512f amx_bf16 amx_tile avx512_bf16\n", True, ("amx_bf16", "avx512_bf16")),
    ("flags\t\t: fpu sse avx2 avx512f avx512bw\n", False, ()),
    ("Features\t: fp asimd bf16 i8mm\n", True, ("bf16",)),  # aarch64
])
def test_detector_reads_the_cpu_flags(monkeypatch, tmp_path, text, native, flags):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\n" + text)
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(
        info if path == "/proc/cpuinfo" else path, *a, **k))
    precision.cpu_bf16_support.cache_clear()
    try:
        support = precision.cpu_bf16_support()
    finally:
        precision.cpu_bf16_support.cache_clear()
    assert support.flags == flags and support.cpu == "Some CPU"
    assert support.native == (native and torch.backends.mkldnn.is_available())
    assert support.capability == torch.backends.cpu.get_cpu_capability()


def test_the_real_cpu_is_described():
    support = precision.cpu_bf16_support()
    assert support.capability and support.cpu
    assert ("bf16 flags: none" in support.describe()) == (not support.flags)


def test_dtype_on_a_native_cpu(native_cpu):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert precision.autocast_dtype("fp32", "cpu") is None
        assert precision.autocast_dtype("bf16", "cpu") is torch.bfloat16
        with precision.autocast("bf16", "cpu"):
            assert nn.Conv2d(3, 2, 1)(torch.randn(1, 3, 4, 4)).dtype == torch.bfloat16
    assert precision.train_amp("cpu") == "bf16"
    assert precision.train_amp("cuda") == "fp16"


def test_emulated_bf16_falls_back_with_one_warning(emulating_cpu):
    conv = nn.Conv2d(3, 2, 1)
    with pytest.warns(precision.PrecisionFallbackWarning) as record:
        for _ in range(3):
            assert precision.autocast_dtype("bf16", "cpu") is None
            with precision.autocast("bf16", "cpu"):
                assert conv(torch.randn(1, 3, 4, 4)).dtype == torch.float32
        assert precision.effective_precision("bf16", "cpu") == "fp32"
    (warning,) = _fallbacks(record)
    assert "Test CPU" in str(warning.message) and "amx_bf16 or avx512_bf16" in str(warning.message)
    assert "bf16 flags: none of amx_bf16/avx512_bf16/bf16" in str(warning.message)


def test_fp16_on_a_cpu_runs_in_fp32_with_one_warning(native_cpu):
    with pytest.warns(precision.PrecisionFallbackWarning) as record:
        assert precision.autocast_dtype("fp16", "cpu") is None
        assert precision.autocast_dtype("float16", torch.device("cpu")) is None
    (warning,) = _fallbacks(record)
    assert "CUDA only" in str(warning.message) and "use 'bf16'" in str(warning.message)


def test_amp_on_an_emulating_cpu_trains_in_fp32(emulating_cpu):
    from seglab.engine import OptimStep

    with pytest.warns(precision.PrecisionFallbackWarning, match="only used on CUDA") as record:
        assert OptimStep("cpu", amp="auto").amp is None
        assert OptimStep("cpu", amp="auto").amp is None
    assert len(_fallbacks(record)) == 1
    with pytest.warns(precision.PrecisionFallbackWarning, match="no native bfloat16"):
        assert OptimStep("cpu", amp="bf16").amp is None


def test_set_test_precision_writes_the_config():
    from seglab.config import Config

    cfg = Config(dict(model=dict(type="EncoderDecoder", test_cfg=None)))
    precision.set_test_precision(cfg, "bfloat16")
    assert cfg.model.test_cfg == dict(mode="whole", precision="bf16")
    legacy = Config(dict(model=dict(type="EncoderDecoder"), test_cfg=dict(mode="slide")))
    precision.set_test_precision(legacy, "fp16")
    assert legacy.test_cfg.precision == "fp16" and legacy.model.get("test_cfg") is None
    with pytest.raises(ConfigError, match="--precision = 'fp8'"):
        precision.set_test_precision(cfg, "fp8")


# -- the segmentor's test path -------------------------------------------------------------------
pytestmark_parity = pytest.mark.skipif(not PARITY.is_dir(), reason="parity fixtures not available")


def _load(name: str):
    return torch.load(PARITY / name, map_location="cpu", weights_only=True)


def _model(name: str, **test_cfg):
    from seglab.models import build_segmentor

    cfg = json.loads((PARITY / f"{name}.model.json").read_text())
    cfg["test_cfg"] = dict(mode="whole", **test_cfg)
    model = build_segmentor(cfg)
    model.load_state_dict(_load(f"{name}.state_dict.pth"), strict=True)
    return model.eval()


def _metas(h: int, w: int, n: int):
    return [dict(img_shape=(h, w), pad_shape=(h, w), ori_shape=(h, w)) for _ in range(n)]


def _assert_close_to_fp32(logits: torch.Tensor, reference: torch.Tensor):
    assert logits.dtype == torch.float32
    bound = LOGIT_BOUND * reference.abs().max().item()
    assert (logits - reference).abs().max().item() <= bound
    changed = logits.argmax(1) != reference.argmax(1)
    assert changed.float().mean().item() <= 1 - ARGMAX_AGREEMENT
    top2 = reference.topk(2, dim=1).values
    assert ((top2[:, 0] - top2[:, 1])[changed] < 2 * bound).all()  # only near ties change


def test_invalid_test_cfg_precision_fails_at_build():
    if not PARITY.is_dir():
        pytest.skip("parity fixtures not available")
    with pytest.raises(ConfigError, match="model.test_cfg.precision = 'bf8'"):
        _model("fcn_tiny", precision="bf8")


@pytestmark_parity
@pytest.mark.parametrize("name", MODELS)
def test_bf16_parity_logits_and_labels(name, native_cpu):
    """Whole and slide logits under bf16 autocast against MMSeg's float32 fixtures; the label maps
    of the test forward (test_cfg.precision='bf16') against the fixtures' argmax."""
    inputs = _load("inputs.pt")
    model = _model(name, precision="bf16")
    with torch.inference_mode(), precision.autocast("bf16", "cpu"):
        whole = model.encode_decode(inputs["x"], _metas(64, 64, 2))
    _assert_close_to_fp32(whole, _load(f"{name}.whole_logits.pt"))
    with torch.inference_mode():
        labels = model(inputs["x"], _metas(64, 64, 2), return_loss=False)
    expected = _load(f"{name}.whole_logits.pt").argmax(1)
    agreement = (torch.as_tensor(np.stack(labels)) == expected).float().mean().item()
    assert agreement >= ARGMAX_AGREEMENT
    model.test_cfg = dict(mode="slide", crop_size=(48, 48), stride=(32, 32), precision="bf16")
    with torch.inference_mode(), precision.autocast("bf16", "cpu"):
        slide = model.slide_inference(inputs["y"], _metas(80, 96, 1), rescale=True)
    _assert_close_to_fp32(slide, _load(f"{name}.slide_logits.pt"))


@pytestmark_parity
def test_emulating_cpu_tests_in_fp32_exactly(emulating_cpu):
    inputs = _load("inputs.pt")
    fp32, bf16 = _model("fcn_tiny"), _model("fcn_tiny", precision="bf16")
    with torch.inference_mode():
        with pytest.warns(precision.PrecisionFallbackWarning) as record:
            labels = [bf16(inputs["x"], _metas(64, 64, 2), return_loss=False) for _ in range(2)]
        reference = fp32(inputs["x"], _metas(64, 64, 2), return_loss=False)
    assert len(_fallbacks(record)) == 1
    for ours in labels:
        for a, b in zip(ours, reference):
            assert (a == b).all()


@pytestmark_parity
def test_bf16_amp_training_step_is_close_to_fp32(native_cpu):
    """One --amp step on a native-bf16 CPU: bf16 autocast, no loss scaler, finite loss near fp32."""
    from seglab.engine import OptimStep

    inputs = _load("inputs.pt")
    losses, params = {}, {}
    for amp in (None, "auto"):
        model = _model("fcn_tiny").train()
        for m in model.modules():
            if isinstance(m, nn.Dropout2d):
                m.eval()
        step = OptimStep("cpu", amp=amp)
        assert step.amp == ("bf16" if amp else None) and step.scaler is None
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        with step.autocast():
            loss, _ = model.parse_losses(model.forward_train(
                inputs["x"], _metas(64, 64, 2), inputs["gt"][:, None]))
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        step.step(loss, model, optimizer, 0, 1)
        losses[amp] = loss.item()
        params[amp] = model.decode_head.conv_seg.weight.detach().clone()
    assert losses["auto"] == pytest.approx(losses[None], rel=0.01)
    assert torch.isfinite(params["auto"]).all()
    moved = (params[None] - _model("fcn_tiny").decode_head.conv_seg.weight).abs().max()
    assert (params["auto"] - params[None]).abs().max() <= 0.05 * moved


@pytestmark_parity
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["fcn_tiny", "upernet_tiny"])
@pytest.mark.parametrize("half", ["fp16", "bf16"])
def test_cuda_half_precision_parity(name, half, fresh_warnings):
    """fp16 (and bf16 where the GPU has it) on CUDA within the bf16 bounds (fp16 is finer)."""
    if half == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no native bf16")
    inputs = _load("inputs.pt")
    model = _model(name, precision=half).cuda()
    with torch.inference_mode(), precision.autocast(half, "cuda"):
        whole = model.encode_decode(inputs["x"].cuda(), _metas(64, 64, 2))
    _assert_close_to_fp32(whole.cpu(), _load(f"{name}.whole_logits.pt"))
    with torch.inference_mode():
        labels = model(inputs["x"].cuda(), _metas(64, 64, 2), return_loss=False)
    expected = _load(f"{name}.whole_logits.pt").argmax(1)
    assert (torch.as_tensor(np.stack(labels)) == expected).float().mean() >= ARGMAX_AGREEMENT
