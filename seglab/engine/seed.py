"""Random seeds and the random-number-generator state that exact resume needs."""
from __future__ import annotations

import os
import random
import sys
from typing import Any, Dict, Optional

import numpy as np
import torch


def set_random_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python ``random``, numpy and torch (all CUDA devices too).

    Args:
        seed: the seed.
        deterministic: also ask for deterministic kernels: cuDNN deterministic and not benchmarking,
            ``torch.use_deterministic_algorithms(True, warn_only=True)`` (ops without a
            deterministic implementation warn instead of failing) and the cuBLAS workspace setting
            that deterministic CUDA matmuls require.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    if deterministic:
        # Must be set before the first cuBLAS call; harmless when it is too late or on CPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        _use_deterministic_algorithms()


def _use_deterministic_algorithms() -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)``, without its inductor import.

    torch's function imports ``torch._inductor.config`` only to set its ``deterministic`` flag,
    which costs seconds at every start of a tool (3.7 s of tools/train.py --deterministic here).
    While inductor is not imported, the same flag is asked for through the environment variable
    inductor reads at its import (``TORCHINDUCTOR_DETERMINISTIC=1``), so a later
    ``torch.compile`` is deterministic too, and the kernels' flag is set directly.
    """
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if "torch._inductor.config" in sys.modules or setter is None:
        torch.use_deterministic_algorithms(True, warn_only=True)
        return
    os.environ["TORCHINDUCTOR_DETERMINISTIC"] = "1"
    setter(True, warn_only=True)


def get_rng_state() -> Dict[str, Any]:
    """The state of every global generator, in types that ``torch.load(weights_only=True)`` accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: Dict[str, Any] = {
        "python": random.getstate(),
        # numpy's uint32 key array is stored as an int64 tensor: numpy arrays need unsafe globals.
        "numpy": dict(kind=kind, keys=torch.from_numpy(keys.astype(np.int64)), pos=int(pos),
                      has_gauss=int(has_gauss), cached_gaussian=float(cached)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Optional[Dict[str, Any]]) -> None:
    """Restore what :func:`get_rng_state` returned (missing parts are left as they are)."""
    if not state:
        return
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy" in state:
        s = state["numpy"]
        np.random.set_state((s["kind"], s["keys"].numpy().astype(np.uint32), s["pos"], s["has_gauss"],
                             s["cached_gaussian"]))
    if "torch" in state:
        torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])
