"""TorchScript export of a segmentor (MMSegmentation 0.x ``tools/pytorch2torchscript.py``).

As in 0.x, ``torch.jit.trace`` records the whole-image network, ``forward_dummy`` (backbone,
neck, decode head, logits resized to the input), on one (1, 3, H, W) image. What seglab adds:

- A trace bakes the image size into the graph (every resize to the input size, every window
  count), so a traced model fed another size returns logits of the traced size, or fails deep
  inside. The saved module is a small scripted wrapper that checks the size first and raises
  an error naming the ``--shape`` it was exported with.
- The batch: most families trace batch-free (any N gives the eager numbers); those whose graph
  fixes N (per-image dynamic filters applied as one grouped convolution whose group count
  N x C is a constant of the trace: DMNet's DCM, K-Net's kernel updates) are found at export by
  running batch 2, and their wrapper accepts N = 1 only.
- ``meta.json`` beside the graph (``torch.jit.load(path, _extra_files={'meta.json': ''})``,
  or :func:`read_meta`): the input shape, whether the batch is free, CLASSES, PALETTE and the
  config's ``img_norm_cfg`` (the module takes normalised RGB images, as the test pipeline
  gives them).

A config in slide mode exports the same network: the module then segments one H x W window,
and the caller runs the sliding window around it.
"""
from __future__ import annotations

import json
import warnings
from typing import Any, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, SeglabError

# Traced and eager run the same kernels on the CPU (the tiny sweep finds 0.0 difference); the
# bound leaves room for fused kernels of other executors (float32 rounding of logits).
DEFAULT_ATOL = 1e-4


class ExportError(SeglabError, RuntimeError):
    """A traced model does not compute what the PyTorch model computes."""


class SizeCheckedSegmentor(nn.Module):
    """What the .pt file holds: the traced ``forward_dummy`` behind an input-size check.

    Args:
        traced: ``torch.jit.trace_module(segmentor, {'forward_dummy': img})``.
        height, width: the traced image size.
        batch_free: the traced graph gives the eager numbers for any batch size (else N = 1).

    Shape:
        (N, 3, height, width) normalised images -> logits (N, num_classes, height, width).
    """

    def __init__(self, traced: torch.jit.ScriptModule, height: int, width: int,
                 batch_free: bool):
        super().__init__()
        self.segmentor = traced
        self.height, self.width, self.batch_free = height, width, batch_free

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if (img.dim() != 4 or img.shape[1] != 3 or img.shape[2] != self.height
                or img.shape[3] != self.width or (not self.batch_free and img.shape[0] != 1)):
            batch = "N" if self.batch_free else "1"
            fix = ("Resize or pad the image, or export again with tools/pytorch2torchscript.py "
                   "--shape H W" if self.batch_free else "Feed one image at a time (this "
                   "family's graph fixes the batch), at the traced size")
            raise RuntimeError(
                f"this TorchScript segmentor was traced for ({batch}, 3, {self.height}, "
                f"{self.width}) images and got {list(img.shape)}: its graph holds the traced "
                f"sizes. {fix}.")
        return self.segmentor.forward_dummy(img)


def input_shape_of(shape: Sequence[int]) -> Tuple[int, int, int, int]:
    """``--shape H W`` (or one side for a square) as MMSeg's (1, 3, H, W)."""
    if len(shape) not in (1, 2):
        raise ConfigError(f"--shape {' '.join(map(str, shape))}: give H W, or one size for a "
                          "square input.")
    height, width = (shape[0], shape[0]) if len(shape) == 1 else shape
    if min(height, width) < 1:
        raise ConfigError(f"--shape {height} {width}: sizes must be >= 1.")
    return (1, 3, int(height), int(width))


def demo_input(input_shape: Sequence[int], seed: int = 0) -> torch.Tensor:
    """MMSeg's example image: uniform [0, 1) values of ``np.random.RandomState(seed)``."""
    return torch.from_numpy(np.random.RandomState(seed).rand(*input_shape).astype(np.float32))


def max_abs_difference(traced: nn.Module, model: nn.Module, img: torch.Tensor) -> float:
    """max |traced(img) - model.forward_dummy(img)|, inf when the shapes differ."""
    with torch.no_grad():
        expected, got = model.forward_dummy(img), traced(img)
    if got.shape != expected.shape:
        return float("inf")
    return (got - expected).abs().max().item()


def _trace(model: nn.Module, img: torch.Tensor) -> torch.jit.ScriptModule:
    with warnings.catch_warnings(), torch.no_grad():
        # torch 2.13 marks TorchScript deprecated; TracerWarnings name the constants the
        # trace bakes in, which the size check of SizeCheckedSegmentor covers.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        return torch.jit.trace_module(model, {"forward_dummy": img}, check_trace=False)


def trace_segmentor(model: nn.Module, input_shape: Sequence[int],
                    atol: float = DEFAULT_ATOL) -> torch.jit.ScriptModule:
    """Trace ``model.forward_dummy`` on :func:`demo_input` and wrap it (see the module doc).

    Args:
        model: a segmentor with ``forward_dummy`` (``EncoderDecoder`` and its subclasses); it is
            put in eval mode, SyncBN layers become BatchNorm2d.
        input_shape: (1, 3, H, W).
        atol: the bound of the batch check (two images traced at batch 1 vs eager).

    Returns:
        The scripted :class:`SizeCheckedSegmentor`.
    """
    from ..models.layers.sync_bn import revert_sync_batchnorm

    if not hasattr(model, "forward_dummy"):
        raise ConfigError(f"TorchScript export is not supported with {type(model).__name__} "
                          "(it has no forward_dummy).")
    model = revert_sync_batchnorm(model).eval()
    _, _, height, width = input_shape
    try:
        traced = _trace(model, demo_input(input_shape))
    except (RuntimeError, ValueError) as exc:  # the network's own complaint, e.g. too small
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        backbone = type(getattr(model, "backbone", None)).__name__
        raise ExportError(f"{type(model).__name__} with {backbone} does "
                          f"not run on a {'x'.join(map(str, input_shape))} image: {first}; "
                          "try another --shape.") from exc
    pair = demo_input((2,) + tuple(input_shape[1:]), seed=1)
    try:
        batch_free = max_abs_difference(traced.forward_dummy, model, pair) <= atol
    except RuntimeError:  # a graph whose reshapes or grouped convs hold N = 1
        batch_free = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(SizeCheckedSegmentor(traced, height, width, batch_free))


def verify(traced: nn.Module, model: nn.Module, input_shape: Sequence[int],
           atol: float = DEFAULT_ATOL) -> float:
    """max |traced - PyTorch| over the traced example and a second image; raises above ``atol``.

    The second image (another seed) catches values the trace baked in from the first.
    """
    diff = max(max_abs_difference(traced, model, demo_input(input_shape, seed))
               for seed in (0, 1))
    if not diff <= atol:
        raise ExportError(f"the TorchScript model differs from the PyTorch model by {diff:.3g} "
                          f"(max abs logit difference, bound {atol:g}): the trace baked in a "
                          "value that depends on the input; this model does not trace.")
    return diff


def export_meta(model: nn.Module, input_shape: Sequence[int], batch_free: bool,
                cfg: Optional[Mapping] = None) -> dict:
    """The ``meta.json`` of a .pt file (see the module doc)."""
    palette = getattr(model, "PALETTE", None)
    classes = getattr(model, "CLASSES", None)
    norm = (cfg or {}).get("img_norm_cfg")
    return dict(input_shape=list(input_shape), batch_free=bool(batch_free),
                CLASSES=list(classes) if classes is not None else None,
                PALETTE=np.asarray(palette).tolist() if palette is not None else None,
                img_norm_cfg=json.loads(json.dumps(dict(norm))) if norm is not None else None)


def save(traced: torch.jit.ScriptModule, path: str, meta: Mapping[str, Any]) -> None:
    """``torch.jit.save`` with ``meta.json``, atomically (temp file + rename)."""
    from ..utils.io import atomic_open

    with atomic_open(path, "wb") as f, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(traced, f, _extra_files={"meta.json": json.dumps(dict(meta))})


def read_meta(path: str) -> dict:
    """The ``meta.json`` that :func:`save` stored in a .pt file."""
    extra = {"meta.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.load(path, map_location="cpu", _extra_files=extra)
    return json.loads(extra["meta.json"])


def input_description(traced: torch.jit.ScriptModule) -> str:
    """What the module accepts, for the tool's output."""
    batch = "any N" if traced.batch_free else "N = 1 (its graph fixes the batch)"
    return f"Input: (N, 3, {traced.height}, {traced.width}) normalised images, {batch}."
