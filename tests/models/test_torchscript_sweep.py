"""TorchScript sweep: every registered segmentor family (tiny_segmentors.py: one complete tiny
segmentor per backbone, neck, head and segmentor type) traces with seglab.apis.torchscript_export
and the traced module equals eager PyTorch on two 64x64 images (and on a batch of two where the
graph is batch-free). Saving and loading the .pt is tested once, in tests/tools/.

Bound: 1e-4 abs on the logits (export.DEFAULT_ATOL); on the CPU traced and eager run the same
kernels and every family gives 0.0. The lists below are asserted both ways, so they cannot grow
or go stale silently."""
from __future__ import annotations

import pytest
import torch

from seglab.apis import torchscript_export as export
from seglab.models import build_segmentor
from tiny_configs import IMAGE_SIZE
from tiny_segmentors import family_names, tiny_segmentor_cfg

SHAPE = (1, 3, IMAGE_SIZE, IMAGE_SIZE)

# Families whose trace does not compute what PyTorch computes: none today.
DO_NOT_TRACE: dict = {}
# Families whose traced graph holds N = 1 (their .pt refuses other batch sizes).
FIXED_BATCH = {
    "DMHead": "DCM applies per-image filters as one conv with groups = N * C, a trace constant",
    "IterativeDecodeHead": "K-Net's kernel update convolves masks with groups = N, a trace "
                           "constant",
}


@pytest.fixture(autouse=True)
def _unoptimized_executor():
    """The graph executor's profiling runs cost more than these tiny models; the numbers are
    the same without them (the tool's end-to-end test runs the default executor)."""
    with torch.jit.optimized_execution(False):
        yield


def test_the_lists_name_registered_families_and_do_not_trace_still_fails():
    assert set(DO_NOT_TRACE) | set(FIXED_BATCH) <= set(family_names())
    assert not set(DO_NOT_TRACE) & set(FIXED_BATCH)
    for name in DO_NOT_TRACE:  # a family that starts to trace leaves the list
        model = build_segmentor(tiny_segmentor_cfg(name)).eval()
        with pytest.raises((export.ExportError, RuntimeError)):
            export.verify(export.trace_segmentor(model, SHAPE), model, SHAPE)


@pytest.mark.parametrize("name", [n for n in family_names() if n not in DO_NOT_TRACE])
def test_traced_equals_eager(name):
    model = build_segmentor(tiny_segmentor_cfg(name)).eval()
    traced = export.trace_segmentor(model, SHAPE)
    assert export.verify(traced, model, SHAPE) <= export.DEFAULT_ATOL  # raises above it
    assert traced.batch_free == (name not in FIXED_BATCH), (
        "the batch check of trace_segmentor changed for this family: update FIXED_BATCH")
    if name in FIXED_BATCH:
        with pytest.raises(torch.jit.Error, match=r"traced for \(1, 3, 64, 64\) images and "
                                                  r"got \[2, 3, 64, 64\].*one image at a time"):
            traced(export.demo_input((2, 3, IMAGE_SIZE, IMAGE_SIZE)))


def test_an_input_the_network_cannot_take_is_an_export_error():
    model = build_segmentor(tiny_segmentor_cfg("BEiT")).eval()  # relative position tables fix
    with pytest.raises(export.ExportError, match=r"EncoderDecoder with BEiT does not run on a "
                                                 r"1x3x32x32 image: .*try another --shape"):
        export.trace_segmentor(model, (1, 3, 32, 32))
