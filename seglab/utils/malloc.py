"""The C allocator's policy for a tool's process: page faults traded against peak RSS.

PyTorch takes tensor memory from the C library's ``malloc``. With glibc's defaults every block
of 32 MiB or more (and, until the first free, of 128 KiB or more) is a fresh ``mmap``: the kernel
hands out zeroed 4 KiB pages on first touch and takes them back on ``free``. A network's large
activations (a stem's output at half resolution, the logits at full resolution, their
gradients) are therefore page-faulted in again at every forward and backward; on a virtual
machine a fault costs microseconds, and the early full-resolution layers spend more time
faulting than computing (``benchmarks/mmseg_side_by_side.py`` runs seglab with the default
policy, and its ``*_memory`` rows with ``memory``).

Policies (``SEGLAB_MALLOC``; every tool applies it at start):

``speed`` (the default of tools/train.py and tools/benchmark.py)
    No ``mmap`` for blocks, and the heap's free top is never trimmed: after the first iteration
    every tensor reuses memory that is already mapped, so no page faults. The peak RSS is the
    heap's high-water mark, which fragmentation can put above the largest live set. This pays
    when the iterations allocate the same sizes (training crops, a benchmark's one input); with
    inputs of ever new sizes the heap keeps growing (FCN R18 whole inference on 15 random
    1024-1600 px images: peak RSS 2200 instead of 1304 MiB, 16% faster), so tools that see
    images of any size do not default to it.
``memory``
    Every block of 4 MiB or more is its own ``mmap`` and is returned at ``free``: the peak RSS
    is the largest live set, at the price of the page faults.
``system`` (the default of tools/test.py and the other tools)
    The C library's defaults, untouched.

Other C libraries (musl, macOS, Windows) have no ``mallopt``; there the policy is not applied
and :func:`set_malloc_policy` says so by returning False. CUDA tensors do not come from
``malloc``, so the policy only concerns host memory.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
from typing import Mapping, Optional

from ..errors import ConfigError

ENV_VAR = "SEGLAB_MALLOC"
POLICIES = ("speed", "memory", "system")
DEFAULT_POLICY = "system"  # tools/train.py and tools/benchmark.py: "speed"

# mallopt(3) parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4
# The largest trim threshold mallopt takes (an int): the heap is never given back.
_NEVER_TRIM = 2 ** 31 - 1
# 'memory': blocks from this size on are mapped on their own (a fixed threshold also stops
# glibc from raising it after each free, which is what keeps freed blocks resident).
MEMORY_MMAP_THRESHOLD = 4 * 1024 * 1024

_SETTINGS = {
    "speed": ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, _NEVER_TRIM)),
    "memory": ((M_MMAP_THRESHOLD, MEMORY_MMAP_THRESHOLD),),
    "system": (),
}


def _glibc_mallopt():
    """glibc's ``mallopt``, or None where the C library is not glibc."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt


def check_malloc_policy(policy: str, source: str = ENV_VAR) -> str:
    """``policy`` if it is one of :data:`POLICIES`; else a ConfigError naming ``source``."""
    if policy not in POLICIES:
        raise ConfigError(f"{source}={policy!r} is not a malloc policy: use one of "
                          f"{', '.join(POLICIES)} (unset: the tool's default; see "
                          "seglab.utils.malloc).")
    return policy


def malloc_policy_from_env(environ: Optional[Mapping[str, str]] = None,
                           default: str = DEFAULT_POLICY) -> str:
    """The policy ``SEGLAB_MALLOC`` asks for (``default`` when unset or empty)."""
    value = (os.environ if environ is None else environ).get(ENV_VAR, "").strip().lower()
    return check_malloc_policy(value or default)


def set_malloc_policy(policy: str) -> bool:
    """Apply ``policy`` to this process's allocator (it holds for later allocations).

    Returns:
        True if glibc took every setting; False where there is no glibc ``mallopt`` (the
        process keeps its C library's behaviour) and for ``'system'``.

    Raises:
        ConfigError: an unknown policy name.
        RuntimeError: glibc refused a setting (its values are fixed here, so not expected).
    """
    check_malloc_policy(policy, "malloc policy")
    settings = _SETTINGS[policy]
    mallopt = _glibc_mallopt() if settings else None
    if mallopt is None:
        return False
    for param, value in settings:
        if mallopt(param, value) != 1:
            raise RuntimeError(f"glibc mallopt({param}, {value}) failed for the malloc policy "
                               f"{policy!r}; set {ENV_VAR}=system to leave the allocator alone.")
    return True


def apply_malloc_policy_from_env(environ: Optional[Mapping[str, str]] = None,
                                 default: str = DEFAULT_POLICY) -> str:
    """What the tools run at start: :func:`set_malloc_policy` of ``SEGLAB_MALLOC`` (else
    ``default``, the tool's own)."""
    policy = malloc_policy_from_env(environ, default)
    set_malloc_policy(policy)
    return policy
