"""Suite-wide settings.

Under pytest-xdist each worker gets its share of the cores: torch's default (one thread per core
in every worker, and in every tool a test starts as a subprocess) oversubscribes a small machine
and makes the suite several times slower.
"""
import os

import pytest

_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    _threads = str(max(1, (os.cpu_count() or 1) // _workers))
    os.environ.setdefault("OMP_NUM_THREADS", _threads)  # inherited by subprocesses (tools/*.py)
    os.environ.setdefault("MKL_NUM_THREADS", _threads)
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


# set_random_seed(deterministic=True) sets these for its process, as a tool wants; a test that
# calls it in-process (tools' main(), the runner) must not hand them to the worker's later tests.
_DETERMINISM_ENV = ("CUBLAS_WORKSPACE_CONFIG", "TORCHINDUCTOR_DETERMINISTIC")


@pytest.fixture(autouse=True)
def _restore_determinism_env():
    before = {key: os.environ.get(key) for key in _DETERMINISM_ENV}
    yield
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
