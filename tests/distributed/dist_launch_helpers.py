"""Helpers to launch real multi-process CPU runs (torchrun, gloo) with a free port and a hard timeout."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from spawn_ranks import spawn_ranks as run_forked  # noqa: F401  (the in-process 2-rank tests)

REPO = Path(__file__).resolve().parents[2]
WORKERS = Path(__file__).resolve().parent / "workers"
PYTHON = sys.executable
# A generous bound: each process imports torch (seconds on a loaded 2-core machine); a hang in a
# collective would otherwise block the suite forever.
TIMEOUT_S = 120


def child_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment for launched processes: one thread each, no inherited launcher variables."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "PORT",
                        "NNODES", "NODE_RANK")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    env.update(extra or {})
    return env


def run_torchrun(script: Path, args: Sequence[str], nproc: int = 2,
                 timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    """``python -m torch.distributed.run --standalone --nproc_per_node N script args``.

    ``--standalone``: torchrun binds a free port itself; a port picked here and released before
    torchrun binds it could be taken by another test's process in between.
    """
    cmd: List[str] = [PYTHON, "-m", "torch.distributed.run", "--standalone",
                      "--nproc_per_node", str(nproc), str(script), *args]
    return subprocess.run(cmd, env=child_env(), cwd=str(REPO), capture_output=True, text=True,
                          timeout=timeout)


def make_collectives_inputs() -> Dict[str, "torch.Tensor"]:
    """Initial weights and data shared by the 2-process worker and the 1-process reference."""
    import torch
    from torch import nn

    generator = torch.Generator().manual_seed(0)
    conv1, conv2 = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 3, 1)
    with torch.no_grad():
        for conv in (conv1, conv2):
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.5)
            conv.bias.copy_(torch.randn(conv.bias.shape, generator=generator) * 0.1)
    state = {f"conv1.{k}": v for k, v in conv1.state_dict().items()}
    state.update({f"conv2.{k}": v for k, v in conv2.state_dict().items()})
    bn = nn.BatchNorm2d(4)
    with torch.no_grad():  # not the default 1/0, so a lost affine gradient shows
        bn.weight.copy_(torch.rand(4, generator=generator) + 0.5)
        bn.bias.copy_(torch.randn(4, generator=generator) * 0.1)
    state.update({f"bn.{k}": v for k, v in bn.state_dict().items()})
    return dict(
        init_state=state,
        img=torch.randn(4, 3, 8, 8, generator=generator) * 2 + 1,
        label=torch.randint(0, 3, (4, 8, 8), generator=generator),
        uneven_x=torch.randn(4, 5, 3, 3, generator=generator) * 3 - 1,
        uneven_probe=torch.randn(4, 5, 3, 3, generator=generator),
        uneven_weight=torch.rand(5, generator=generator) + 0.5,
        uneven_bias=torch.randn(5, generator=generator))
