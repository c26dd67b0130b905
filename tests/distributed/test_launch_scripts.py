"""tools/dist_train.sh, dist_test.sh, slurm_train.sh, slurm_test.sh.

The scripts are copied beside a stand-in ``train.py`` / ``test.py`` (workers/fake_entry.py) that
joins the process group with ``init_dist`` and reports what it saw, so the real torchrun launches
(2 processes on one node; 2 nodes x 1 process on localhost) run in seconds. Command lines are
checked with a recording ``PYTHON`` / ``srun``.
"""
import json
import os
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from dist_launch_helpers import PYTHON, REPO, TIMEOUT_S, WORKERS, child_env
from seglab.engine.launch import find_free_port

SCRIPTS = ("dist_train.sh", "dist_test.sh", "dist_common.sh", "slurm_train.sh", "slurm_test.sh")


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def tools(tmp_path):
    """A tools/ folder with copies of the launch scripts and the stand-in entry points."""
    folder = tmp_path / "tools"
    folder.mkdir()
    for name in SCRIPTS:
        shutil.copy2(REPO / "tools" / name, folder / name)
    for entry in ("train.py", "test.py"):
        shutil.copy2(WORKERS / "fake_entry.py", folder / entry)
    return folder


@pytest.fixture
def recording_python(tmp_path):
    """A PYTHON that runs the port check for real and records any other command line."""
    record = tmp_path / "python_args.txt"
    path = _executable(tmp_path / "fakepython", f"""#!/usr/bin/env bash
if [ "$1" = "-c" ]; then exec {PYTHON} "$@"; fi
printf '%s\\n' "$@" > {record}
""")
    return path, record


def _run(cmd, env, timeout=TIMEOUT_S):
    return subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _read_ranks(out_dir: Path, count: int):
    return [json.loads((out_dir / f"rank_{r}.json").read_text()) for r in range(count)]


@pytest.mark.parametrize("script,args", [("dist_train.sh", ["cfg.py", "2"]),
                                         ("dist_test.sh", ["cfg.py", "ckpt.pth", "2"])])
@pytest.mark.parametrize("variable", ["PORT", "MASTER_PORT"])
def test_busy_port_fails_fast_and_says_how_to_pick_another(tools, script, args, variable):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        proc = _run([tools / script, *args], child_env({variable: str(port), "PYTHON": PYTHON}),
                    timeout=30)
    assert proc.returncode == 1
    assert f"port {port} is in use" in proc.stderr and "set PORT=" in proc.stderr
    assert "torch.distributed" not in proc.stderr  # stopped before launching torchrun


def test_bad_port_and_missing_arguments_are_reported(tools):
    proc = _run([tools / "dist_train.sh", "cfg.py", "2"], child_env({"PORT": "abc", "PYTHON": PYTHON}))
    assert proc.returncode == 2 and "PORT=abc is not a port number" in proc.stderr
    proc = _run([tools / "dist_test.sh", "cfg.py", "2"], child_env({"PYTHON": PYTHON}))
    assert proc.returncode == 2 and "usage:" in proc.stderr and "CHECKPOINT GPUS" in proc.stderr


def test_dist_test_command_line_and_environment(tools, recording_python):
    fake, record = recording_python
    port = find_free_port()
    env = child_env({"PYTHON": str(fake), "NNODES": "3", "NODE_RANK": "0", "MASTER_ADDR": "10.1.2.3",
                     "PORT": str(port)})
    proc = _run([tools / "dist_test.sh", "my cfg.py", "ck.pth", "4", "--eval", "mIoU", "--out",
                 "r.pkl"], env)
    assert proc.returncode == 0, proc.stderr
    assert record.read_text().splitlines() == [
        "-m", "torch.distributed.run", "--nnodes=3", "--node_rank=0", "--master_addr=10.1.2.3",
        "--nproc_per_node=4", f"--master_port={port}", f"{tools}/test.py", "my cfg.py", "ck.pth",
        "--launcher", "pytorch", "--eval", "mIoU", "--out", "r.pkl"]


def test_dist_train_defaults_and_master_port(tools, recording_python):
    fake, record = recording_python
    port = find_free_port()
    proc = _run([tools / "dist_train.sh", "cfg.py", "2"],
                child_env({"PYTHON": str(fake), "MASTER_PORT": str(port)}))
    assert proc.returncode == 0, proc.stderr
    assert record.read_text().splitlines() == [
        "-m", "torch.distributed.run", "--nnodes=1", "--node_rank=0", "--master_addr=127.0.0.1",
        "--nproc_per_node=2", f"--master_port={port}", f"{tools}/train.py", "cfg.py",
        "--launcher", "pytorch"]


def test_two_node_rehearsal_on_localhost(tools, tmp_path):
    """A real launch: NNODES=2 with NODE_RANK 0 and 1 on one machine, one process each.

    The two torchrun agents meet at MASTER_ADDR:PORT and form one gloo world of 2; the tool's
    arguments pass through; the configs' backend='nccl' becomes gloo with one warning per job.
    """
    out = tmp_path / "out"
    out.mkdir()
    port = find_free_port()
    procs = []
    for node_rank in (0, 1):
        env = child_env({"PYTHON": PYTHON, "PORT": str(port), "NNODES": "2", "NODE_RANK": str(node_rank),
                         "MASTER_ADDR": "127.0.0.1", "SEGLAB_FAKE_OUT": str(out)})
        procs.append(subprocess.Popen([str(tools / "dist_train.sh"), "cfg.py", "1", "--work-dir", "wd",
                                       "--seed", "3"], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    try:
        outputs = [p.communicate(timeout=TIMEOUT_S)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    ranks = _read_ranks(out, 2)
    assert [r["rank"] for r in ranks] == [0, 1] and [r["local_rank"] for r in ranks] == [0, 0]
    for r in ranks:
        assert r["argv"] == ["cfg.py", "--launcher", "pytorch", "--work-dir", "wd", "--seed", "3"]
        assert r["world_size"] == 2 and r["rank_sum"] == 1.0 and r["backend"] == "gloo"
        assert r["master_port"] == str(port) and r["master_addr"] == "127.0.0.1"
        assert r["pythonpath"].split(os.pathsep)[0] == f"{tools}/.."
    assert "".join(outputs).count("using the gloo backend on CPU instead") == 1


def test_port_zero_lets_torchrun_bind_a_free_port(tools, tmp_path):
    """PORT=0 on one node: torchrun's standalone rendezvous binds a free port itself, so no
    port is picked in advance that another job could take first; both ranks meet on it."""
    out = tmp_path / "out"
    out.mkdir()
    proc = _run([tools / "dist_train.sh", "cfg.py", "2", "--seed", "1"],
                child_env({"PYTHON": PYTHON, "PORT": "0", "SEGLAB_FAKE_OUT": str(out)}))
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = _read_ranks(out, 2)
    assert [r["rank"] for r in ranks] == [0, 1] and ranks[0]["rank_sum"] == 1.0
    assert ranks[0]["master_port"] == ranks[1]["master_port"] != "0"
    assert ranks[0]["argv"] == ["cfg.py", "--launcher", "pytorch", "--seed", "1"]


def test_port_zero_is_refused_for_several_nodes(tools):
    proc = _run([tools / "dist_test.sh", "cfg.py", "ck.pth", "1"],
                child_env({"PYTHON": PYTHON, "PORT": "0", "NNODES": "2", "NODE_RANK": "1"}),
                timeout=30)
    assert proc.returncode == 2
    assert "PORT=0 (any free port) works on one node only" in proc.stderr
    assert "torch.distributed" not in proc.stderr


@pytest.fixture
def recording_srun(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "srun_args.txt"
    _executable(bin_dir / "srun", f"""#!/usr/bin/env bash
printf '%s\\n' "$@" > {record}
echo "PYTHONPATH=$PYTHONPATH" >> {record}
""")
    return bin_dir, record


def _srun_env(bin_dir, extra):
    env = child_env(extra)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_slurm_train_command_line(tools, recording_srun):
    bin_dir, record = recording_srun
    env = _srun_env(bin_dir, {"GPUS": "8", "GPUS_PER_NODE": "4", "CPUS_PER_TASK": "3",
                              "SRUN_ARGS": "--quotatype=auto --time=10", "PYTHON": "py"})
    proc = _run([tools / "slurm_train.sh", "part", "job", "cfg.py", "work", "--seed", "1"], env)
    assert proc.returncode == 0, proc.stderr
    lines = record.read_text().splitlines()
    assert lines[:10] == ["-p", "part", "--job-name=job", "--gres=gpu:4", "--ntasks=8",
                          "--ntasks-per-node=4", "--cpus-per-task=3", "--kill-on-bad-exit=1",
                          "--quotatype=auto", "--time=10"]
    assert lines[10:-1] == ["py", "-u", f"{tools}/train.py", "cfg.py", "--work-dir", "work",
                            "--launcher", "slurm", "--seed", "1"]
    assert lines[-1].startswith(f"PYTHONPATH={tools}/..")


def test_slurm_train_without_work_dir_and_slurm_test(tools, recording_srun):
    bin_dir, record = recording_srun
    env = _srun_env(bin_dir, {"PYTHON": "py"})
    proc = _run([tools / "slurm_train.sh", "part", "job", "cfg.py", "--seed", "1"], env)
    assert proc.returncode == 0, proc.stderr
    lines = record.read_text().splitlines()
    assert "--ntasks=4" in lines and "--gres=gpu:4" in lines and "--cpus-per-task=5" in lines
    assert lines[lines.index("py"):-1] == ["py", "-u", f"{tools}/train.py", "cfg.py", "--launcher",
                                           "slurm", "--seed", "1"]
    proc = _run([tools / "slurm_test.sh", "part", "job", "cfg.py", "ck.pth", "--eval", "mIoU"], env)
    assert proc.returncode == 0, proc.stderr
    lines = record.read_text().splitlines()
    assert lines[lines.index("py"):-1] == ["py", "-u", f"{tools}/test.py", "cfg.py", "ck.pth",
                                           "--launcher", "slurm", "--eval", "mIoU"]
    proc = _run([tools / "slurm_test.sh", "part", "job", "cfg.py"], env)
    assert proc.returncode == 2 and "usage:" in proc.stderr
