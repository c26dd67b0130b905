"""seglab.engine.launch: launcher environments, backend choice and init_dist (in this process)."""
import socket
import warnings

import pytest
import torch.distributed as dist

from seglab.engine import launch
from seglab.engine.launch import (find_free_port, first_slurm_host, init_dist, launcher_env,
                                  port_is_free, resolve_backend)
from seglab.errors import ConfigError

LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def clean_env(monkeypatch):
    """No launcher variables; whatever init_dist exports is removed again after the test."""
    for name in LAUNCH_VARS + ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_NODELIST", "SLURM_LOCALID",
                               "SLURM_JOB_NODELIST"):
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch
    if dist.is_initialized():
        dist.destroy_process_group()


def test_pytorch_env_is_checked_and_returned():
    env = launcher_env("pytorch", dict(RANK="3", WORLD_SIZE="4", LOCAL_RANK="1",
                                       MASTER_ADDR="10.0.0.2", MASTER_PORT="29600"))
    assert env == dict(RANK="3", WORLD_SIZE="4", LOCAL_RANK="1", MASTER_ADDR="10.0.0.2",
                       MASTER_PORT="29600")


def test_pytorch_env_missing_or_bad_values_say_what_to_do():
    with pytest.raises(ConfigError, match="RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT.*torchrun.*"
                                          "dist_train.sh.*--launcher none"):
        launcher_env("pytorch", {})
    with pytest.raises(ConfigError, match="MASTER_PORT"):
        launcher_env("pytorch", dict(RANK="0", WORLD_SIZE="1", MASTER_ADDR="h"))
    with pytest.raises(ConfigError, match="RANK='x' is not an integer"):
        launcher_env("pytorch", dict(RANK="x", WORLD_SIZE="1", MASTER_ADDR="h", MASTER_PORT="1"))
    with pytest.raises(ConfigError, match=r"rank 2 is not in \[0, world size 2\)"):
        launcher_env("pytorch", dict(RANK="2", WORLD_SIZE="2", MASTER_ADDR="h", MASTER_PORT="1"))
    with pytest.raises(ConfigError, match="'torchrun' is not a distributed launcher.*pytorch, slurm, mpi"):
        launcher_env("torchrun", {})


def test_slurm_env_like_mmcv(monkeypatch):
    monkeypatch.setattr(launch.shutil, "which", lambda name: None)  # no scontrol here
    slurm = dict(SLURM_PROCID="5", SLURM_NTASKS="8", SLURM_NODELIST="gpu[03-04,09]")
    env = launcher_env("slurm", slurm, num_gpus=4)
    # Without SLURM_LOCALID the local rank is the rank modulo the GPUs of a node (MMCV's rule).
    assert env == dict(RANK="5", WORLD_SIZE="8", LOCAL_RANK="1", MASTER_ADDR="gpu03",
                       MASTER_PORT="29500")
    env = launcher_env("slurm", dict(slurm, SLURM_LOCALID="2", MASTER_PORT="29999"), num_gpus=4)
    assert env["LOCAL_RANK"] == "2" and env["MASTER_PORT"] == "29999"
    # dist_params.port wins over MASTER_PORT; an exported MASTER_ADDR wins over the node list.
    env = launcher_env("slurm", dict(slurm, MASTER_PORT="29999", MASTER_ADDR="head"), port=28000,
                       num_gpus=4)
    assert env["MASTER_PORT"] == "28000" and env["MASTER_ADDR"] == "head"
    with pytest.raises(ConfigError, match="SLURM_PROCID, SLURM_NTASKS.*srun"):
        launcher_env("slurm", {})


@pytest.mark.parametrize("nodelist,first", [
    ("node7", "node7"), ("a1,b2", "a1"), ("gpu[03-05,09],cpu1", "gpu03"), ("n[9]x", "n9x"),
    ("rack1-[12-14]", "rack1-12")])
def test_first_slurm_host_without_scontrol(monkeypatch, nodelist, first):
    monkeypatch.setattr(launch.shutil, "which", lambda name: None)
    assert first_slurm_host(nodelist) == first


def test_mpi_env_needs_master_addr():
    env = launcher_env("mpi", dict(OMPI_COMM_WORLD_RANK="1", OMPI_COMM_WORLD_SIZE="2",
                                   OMPI_COMM_WORLD_LOCAL_RANK="1", MASTER_ADDR="h0"))
    assert env == dict(RANK="1", WORLD_SIZE="2", LOCAL_RANK="1", MASTER_ADDR="h0", MASTER_PORT="29500")
    with pytest.raises(ConfigError, match="MASTER_ADDR.*mpirun -x"):
        launcher_env("mpi", dict(OMPI_COMM_WORLD_RANK="1", OMPI_COMM_WORLD_SIZE="2"))


def test_backend_nccl_without_cuda_falls_back_to_gloo_with_one_warning(monkeypatch):
    monkeypatch.setattr(launch.torch.cuda, "is_available", lambda: False)
    assert resolve_backend(None) == "gloo"
    with pytest.warns(UserWarning, match="'nccl'.*no CUDA GPU.*gloo.*backend='gloo'"):
        assert resolve_backend("nccl") == "gloo"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_backend("nccl", warn=False) == "gloo"  # the other ranks stay quiet
        assert resolve_backend("GLOO") == "gloo"


def test_init_dist_from_torchrun_env_and_dist_params(clean_env):
    port = find_free_port()
    clean_env.setenv("RANK", "0")
    clean_env.setenv("WORLD_SIZE", "1")
    clean_env.setenv("MASTER_ADDR", "127.0.0.1")
    clean_env.setenv("MASTER_PORT", str(port))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nccl -> gloo on this CPU machine
        assert init_dist("pytorch", backend="nccl", timeout=60) == (0, 1)
    assert dist.is_initialized() and dist.get_backend() == "gloo"
    assert init_dist("pytorch") == (0, 1)  # joining twice keeps the group


def test_init_dist_slurm_exports_the_torch_env(clean_env, monkeypatch):
    monkeypatch.setattr(launch.shutil, "which", lambda name: None)
    port = find_free_port()
    clean_env.setenv("SLURM_PROCID", "0")
    clean_env.setenv("SLURM_NTASKS", "1")
    clean_env.setenv("SLURM_NODELIST", "localhost")
    assert init_dist("slurm", backend="gloo", port=port) == (0, 1)
    assert {k: launch.os.environ[k] for k in LAUNCH_VARS} == dict(
        RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="localhost", MASTER_PORT=str(port))


def test_init_dist_reports_a_busy_master_port(clean_env):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        assert not port_is_free(port)
        for name, value in dict(RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
                                MASTER_PORT=str(port)).items():
            clean_env.setenv(name, value)
        with pytest.raises(ConfigError, match=f"master port {port} .* in use.*PORT=29501"):
            init_dist("pytorch", backend="gloo")
    assert not dist.is_initialized()


def test_init_dist_rejects_unknown_launcher_and_dist_params(clean_env):
    with pytest.raises(ConfigError, match="'prot'.*accepted: backend, port, timeout, init_method"):
        init_dist("pytorch", backend="gloo", prot=1)
    with pytest.raises(ConfigError, match="'none' is not a distributed launcher.*runs one process"):
        init_dist("none")
    with pytest.raises(ConfigError, match="dist_params.timeout = -3"):
        launch._timeout(-3)


def test_free_port_helpers():
    port = find_free_port()
    assert 0 < port < 65536 and port_is_free(port)
