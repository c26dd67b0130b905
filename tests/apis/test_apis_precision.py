"""init_segmentor(precision=...) and the batched evaluation follow model.test_cfg.precision."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from seglab.apis import evaluate_segmentor, inference_segmentor, init_segmentor
from seglab.utils import precision


@pytest.fixture
def native_cpu(monkeypatch):
    monkeypatch.setattr(precision, "_warned", set())
    monkeypatch.setattr(precision, "cpu_bf16_support", lambda: precision.CpuBf16Support(
        native=True, flags=("avx512_bf16",), capability="AVX512", cpu="Test CPU"))


def test_init_segmentor_precision_runs_the_network_in_bf16(fixture_files, native_cpu):
    fp32 = init_segmentor(fixture_files["config"], fixture_files["checkpoint"], device="cpu")
    bf16 = init_segmentor(fixture_files["config"], fixture_files["checkpoint"], device="cpu",
                          precision="bf16")
    assert fp32.test_precision == "fp32" and bf16.test_precision == "bf16"
    seen = []
    hook = bf16.decode_head.conv_seg.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    img = np.random.default_rng(0).integers(0, 255, (37, 40, 3), dtype=np.uint8)
    ours, = inference_segmentor(bf16, img)
    hook.remove()
    theirs, = inference_segmentor(fp32, img)
    assert seen == [torch.bfloat16]  # the network ran in bf16 ...
    # ... and the labels come out as in fp32
    assert ours.shape == theirs.shape == (37, 40) and ours.dtype == theirs.dtype
    assert (ours == theirs).mean() >= 0.95  # random tiny FCN: many near ties


def test_evaluation_follows_the_model_precision(fixture_files, native_cpu):
    from seglab.apis.cli import build_test_loader, prepare_test_config

    model = init_segmentor(fixture_files["config"], fixture_files["checkpoint"], device="cpu")
    cfg = model.cfg.copy() if hasattr(model.cfg, "copy") else model.cfg
    prepare_test_config(cfg)
    _, loader = build_test_loader(cfg, batch_size=2)
    fp32 = evaluate_segmentor(model, loader, logger="silent")
    model.test_cfg["precision"] = "bf16"
    bf16 = evaluate_segmentor(model, loader, logger="silent")
    assert set(bf16) == set(fp32) and isinstance(bf16["mIoU"], float)
    assert bf16["mIoU"] == pytest.approx(fp32["mIoU"], abs=0.03)
