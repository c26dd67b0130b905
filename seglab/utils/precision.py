"""Run-time choice of the numeric precision: ``'fp32'``, ``'bf16'`` or ``'fp16'`` autocast.

The one place that looks at the hardware and decides which autocast dtype a requested precision
gets on a device:

========== ==================================== ==========================================
precision  CUDA                                 CPU
========== ==================================== ==========================================
``fp32``   float32                              float32
``bf16``   bfloat16 if ``is_bf16_supported()``  bfloat16 if the CPU has native bf16 (the
                                                ``amx_bf16`` / ``avx512_bf16`` flags of
                                                ``/proc/cpuinfo``, ``bf16`` on aarch64)
``fp16``   float16                              float32 (CUDA only, as MMSeg's fp16)
========== ==================================== ==========================================

Where a request cannot be honoured (bfloat16 that the CPU would only emulate, which is several
times slower than float32; float16 on a CPU) the run continues in float32 and one
:class:`PrecisionFallbackWarning` per process and case says why, naming the CPU flags.

Inference reads ``model.test_cfg.precision`` (``tools/test.py --precision``,
``tools/benchmark.py --precision``, ``init_segmentor(..., precision=)``, evaluation during
training); training uses ``--amp`` (see :func:`train_amp`).
"""
from __future__ import annotations

import contextlib
import functools
import platform
import warnings
from dataclasses import dataclass
from typing import ContextManager, Optional, Set, Tuple, Union

import torch

from ..errors import ConfigError

PRECISIONS = ("fp32", "bf16", "fp16")
_ALIASES = {"fp32": "fp32", "float32": "fp32", "float": "fp32",
            "bf16": "bf16", "bfloat16": "bf16",
            "fp16": "fp16", "float16": "fp16", "half": "fp16"}
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# x86: AMX tiles or AVX512-BF16 instructions; aarch64: the BF16 extension (Features line).
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16", "bf16")

_warned: Set[Tuple[str, str]] = set()


class PrecisionFallbackWarning(UserWarning):
    """A requested precision runs in float32 instead (emulated bf16, fp16 without CUDA)."""


@dataclass(frozen=True)
class CpuBf16Support:
    """What the CPU offers for bfloat16.

    Attributes:
        native: bf16 arithmetic in hardware (so bf16 autocast is not emulated).
        flags: the bf16-related flags found (e.g. ``('avx512_bf16',)``).
        capability: ``torch.backends.cpu.get_cpu_capability()`` (e.g. ``'AVX512'``).
        cpu: the CPU's model name.
    """

    native: bool
    flags: Tuple[str, ...]
    capability: str
    cpu: str

    def describe(self) -> str:
        flags = ", ".join(self.flags) if self.flags else "none of " + "/".join(NATIVE_BF16_FLAGS)
        return f"{self.cpu} (bf16 flags: {flags}; torch CPU capability {self.capability})"


def _cpuinfo() -> Tuple[Set[str], str]:
    """The flags (x86 ``flags``, aarch64 ``Features``) and model name from ``/proc/cpuinfo``."""
    flags: Set[str] = set()
    name = platform.processor() or platform.machine() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("flags", "features"):
                    flags.update(value.split())
                elif key == "model name":
                    name = value.strip()
    except OSError:  # not Linux: no flags to read, bf16 counts as emulated
        pass
    return flags, name


@functools.lru_cache(maxsize=None)
def cpu_bf16_support() -> CpuBf16Support:
    """Detect, once per process, whether this CPU computes bfloat16 natively."""
    flags, name = _cpuinfo()
    found = tuple(f for f in NATIVE_BF16_FLAGS if f in flags)
    try:
        capability = str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):
        capability = "unknown"
    # bf16 convolutions and matmuls go through oneDNN; without it ATen emulates them.
    native = bool(found) and torch.backends.mkldnn.is_available()
    return CpuBf16Support(native=native, flags=found, capability=capability, cpu=name)


def check_precision(value: Union[None, str, torch.dtype], key: str = "precision") -> str:
    """The canonical name (``'fp32'``, ``'bf16'``, ``'fp16'``) of a precision; None is fp32.

    Raises:
        ConfigError: an unknown value, naming ``key`` and the accepted ones.
    """
    if value is None:
        return "fp32"
    if isinstance(value, torch.dtype):
        value = str(value).replace("torch.", "")
    name = _ALIASES.get(str(value).lower()) if isinstance(value, str) else None
    if name is None:
        raise ConfigError(f"{key} = {value!r} is not a precision; use one of "
                          f"{', '.join(repr(p) for p in PRECISIONS)}.")
    return name


def _warn_once(case: Tuple[str, str], message: str) -> None:
    if case in _warned:
        return
    _warned.add(case)
    warnings.warn(message, PrecisionFallbackWarning, stacklevel=3)


def autocast_dtype(precision: Union[None, str, torch.dtype],
                   device: Union[str, torch.device]) -> Optional[torch.dtype]:
    """The autocast dtype that ``precision`` gets on ``device``; None: plain float32.

    Falls back to float32, with one :class:`PrecisionFallbackWarning` per case and process, for
    bfloat16 on a CPU (or GPU) without native support and for float16 on a CPU.
    """
    name = check_precision(precision)
    kind = torch.device(device).type
    if name == "fp32":
        return None
    if kind == "cuda":
        if name == "bf16" and not torch.cuda.is_bf16_supported():
            _warn_once(("bf16", "cuda"), f"precision 'bf16': {torch.cuda.get_device_name()} has no "
                       "native bfloat16; running in float32 (use 'fp16' on this GPU).")
            return None
        return _DTYPES[name]
    if kind != "cpu":
        _warn_once((name, kind), f"precision {name!r} is not supported on {kind}; running in "
                   "float32.")
        return None
    support = cpu_bf16_support()
    if name == "fp16":
        hint = " (this CPU has native bfloat16: use 'bf16')" if support.native else ""
        _warn_once(("fp16", "cpu"), "precision 'fp16' runs on CUDA only (as MMSeg's fp16); "
                   f"running in float32 on the CPU{hint}.")
        return None
    if not support.native:
        _warn_once(("bf16", "cpu"), f"precision 'bf16': the CPU {support.describe()} has no "
                   "native bfloat16 (amx_bf16 or avx512_bf16); emulated bf16 would be slower "
                   "than float32, so running in float32.")
        return None
    return torch.bfloat16


def effective_precision(precision: Union[None, str, torch.dtype],
                        device: Union[str, torch.device]) -> str:
    """The precision that ``precision`` actually runs in on ``device`` ('fp32' after a fallback)."""
    dtype = autocast_dtype(precision, device)
    return "fp32" if dtype is None else {torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def autocast(precision: Union[None, str, torch.dtype],
             device: Union[str, torch.device]) -> ContextManager:
    """``torch.autocast`` for :func:`autocast_dtype`'s decision (a no-op for float32)."""
    dtype = autocast_dtype(precision, device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def train_amp(device: Union[str, torch.device]) -> Optional[str]:
    """What ``--amp`` means on ``device``: ``'fp16'`` (with a GradScaler) on CUDA, ``'bf16'`` on a
    CPU with native bfloat16, else None (float32, with one warning)."""
    kind = torch.device(device).type
    if kind == "cuda":
        return "fp16"
    if kind == "cpu" and cpu_bf16_support().native:
        return "bf16"
    what = f"the CPU {cpu_bf16_support().describe()} has no native bfloat16" if kind == "cpu" \
        else f"{kind} has no AMP support here"
    _warn_once(("amp", kind), f"--amp: {what}; AMP float16 is only used on CUDA, so training in "
               "float32.")
    return None


def set_test_precision(cfg, precision: Union[None, str, torch.dtype]) -> None:
    """Write ``precision`` into a config's ``model.test_cfg.precision`` (creating test_cfg)."""
    name = check_precision(precision, "--precision")
    model = cfg["model"]
    if model.get("test_cfg") is None:
        if cfg.get("test_cfg") is not None:  # the pre-0.13 layout: a top-level test_cfg
            cfg["test_cfg"]["precision"] = name
            return
        model["test_cfg"] = dict(mode="whole")
    model["test_cfg"]["precision"] = name


__all__ = ["PRECISIONS", "PrecisionFallbackWarning", "CpuBf16Support", "cpu_bf16_support",
           "check_precision", "autocast_dtype", "effective_precision", "autocast", "train_amp",
           "set_test_precision"]
