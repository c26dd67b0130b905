"""Run an in-process API over a real gloo group: ``spawn_ranks(worker, args)`` starts the ranks.

Shared by every test that needs several processes without torchrun (metrics all-reduce, samplers,
distributed evaluation, multi_gpu_test, two-rank training), so they all start, join and end their
ranks the same way:

* spawn, not fork: a child forked from a pytest worker that already ran torch code can hang
  (OpenMP and other locks held by the parent's threads at the fork);
* the group is joined through a file (``init_method=f"file://{init_file}"``), so no TCP port is
  picked in advance that another test could take first;
* a rank that returns ends with :func:`seglab.engine.launch.exit_process` after its group is gone,
  as the tools do: no interpreter finalization while gloo's worker threads may still release the
  tensors of the last collective (that aborts the process with SIGABRT, see ``finish_process``);
* a rank's exception fails the test with that rank's traceback; a hang is killed after
  ``timeout`` seconds and fails the test, not the suite.
"""
from __future__ import annotations

import os
import tempfile
import time
from typing import Callable, Sequence

TIMEOUT_S = 120


def _rank_entry(rank: int, worker: Callable, nprocs: int, init_file: str, *args) -> None:
    worker(rank, nprocs, init_file, *args)  # an exception goes to torch's error queue as usual
    from seglab.engine.launch import destroy_dist, exit_process

    destroy_dist()  # if the worker left its group joined
    exit_process(0)


def spawn_ranks(worker: Callable, args: Sequence = (), nprocs: int = 2,
                timeout: float = TIMEOUT_S) -> None:
    """Run ``worker(rank, nprocs, init_file, *args)`` in ``nprocs`` spawned processes.

    ``worker`` must be a module-level function (it is pickled by name); it joins the group with
    ``dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
    world_size=nprocs)``.
    """
    import pytest
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as folder:
        init_file = os.path.join(folder, "init")
        context = mp.start_processes(_rank_entry, args=(worker, nprocs, init_file, *args),
                                     nprocs=nprocs, start_method="spawn", join=False)
        deadline = time.monotonic() + timeout
        while not context.join(timeout=0.5):
            if time.monotonic() > deadline:
                for process in context.processes:
                    process.kill()
                pytest.fail(f"{nprocs} ranks did not finish within {timeout} s")
