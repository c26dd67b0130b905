"""Fixtures of the multi-process tests: one shared 2-process torchrun of the collectives worker."""
import pytest

from dist_launch_helpers import WORKERS, make_collectives_inputs, run_torchrun


@pytest.fixture(scope="session")
def collectives_run(tmp_path_factory):
    """One 2-process torchrun of workers/collectives_worker.py: (inputs, [rank0, rank1] results)."""
    import torch

    out_dir = tmp_path_factory.mktemp("collectives")
    inputs = make_collectives_inputs()
    in_file = out_dir / "inputs.pt"
    torch.save(inputs, in_file)
    proc = run_torchrun(WORKERS / "collectives_worker.py", [str(in_file), str(out_dir)])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    results = [torch.load(out_dir / f"rank_{r}.pt", weights_only=True) for r in range(2)]
    return inputs, results
