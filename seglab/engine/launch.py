"""Join the process group that a launcher started: torchrun (``pytorch``), SLURM's srun, or MPI.

``tools/dist_train.sh`` runs ``python -m torch.distributed.run ... tools/train.py CONFIG --launcher
pytorch``; torchrun starts one process per GPU and gives each ``RANK``, ``LOCAL_RANK``,
``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``. :func:`init_dist` reads them (or derives them
from ``SLURM_*`` / ``OMPI_COMM_WORLD_*``), picks the backend, pins the process to its GPU and calls
``torch.distributed.init_process_group``.

Backend: ``dist_params = dict(backend='nccl')`` (every MMSeg config has it) or the ``backend``
argument; None means NCCL when CUDA is available, else gloo. NCCL on a machine without CUDA falls
back to gloo with one warning, so the MMSeg configs run unchanged on CPU processes.
"""
from __future__ import annotations

import datetime
import gc
import logging
import os
import shutil
import socket
import subprocess
import sys
import traceback
import warnings
from typing import Any, Callable, Dict, Mapping, NoReturn, Optional, Tuple, Union

import torch
import torch.distributed as dist

from ..errors import ConfigError
from ..utils import get_dist_info

__all__ = ["LAUNCHERS", "init_dist", "destroy_dist", "finish_process", "exit_process", "run_and_exit",
           "launcher_env", "resolve_backend", "first_slurm_host", "port_is_free",
           "find_free_port"]

LAUNCHERS = ("pytorch", "slurm", "mpi")
DEFAULT_PORT = 29500
# Keys of the config's dist_params (besides backend) that init_dist understands.
DIST_PARAM_KEYS = ("port", "timeout", "init_method")

# Set once this process has joined a process group (it stays set after destroy_dist).
_joined_group = False

_TORCHRUN_HINT = ("start it with tools/dist_train.sh / tools/dist_test.sh (or python -m "
                  "torch.distributed.run), or run on one process with --launcher none")


def _env_int(environ: Mapping[str, str], name: str, launcher: str) -> int:
    value = environ.get(name)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"--launcher {launcher}: environment variable {name}={value!r} is not an "
                          f"integer; {_TORCHRUN_HINT}.") from None


def _require(environ: Mapping[str, str], names, launcher: str, hint: str) -> None:
    missing = [name for name in names if not environ.get(name)]
    if missing:
        raise ConfigError(f"--launcher {launcher} needs the environment variables "
                          f"{', '.join(missing)}, which are not set; {hint}.")


def _unknown_launcher(launcher: str) -> str:
    return (f"--launcher {launcher!r} is not a distributed launcher; use one of "
            f"{', '.join(LAUNCHERS)} (--launcher none runs one process and needs no process group).")


def first_slurm_host(nodelist: str) -> str:
    """The first host name of a SLURM node list (``'gpu[03-05,09],cpu1'`` -> ``'gpu03'``).

    ``scontrol show hostnames`` is used when it exists; this parser covers the compressed
    ``prefix[a-b,c]suffix`` form when it does not (e.g. inside a container).
    """
    nodelist = nodelist.strip()
    if not nodelist:
        raise ConfigError("SLURM_NODELIST is empty; run under srun/sbatch.")
    if shutil.which("scontrol"):
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True,
                             text=True, check=False).stdout.split()
        if out:
            return out[0]
    depth, end = 0, len(nodelist)
    for i, char in enumerate(nodelist):  # the first entry: up to a comma outside brackets
        depth += char == "["
        depth -= char == "]"
        if char == "," and depth == 0:
            end = i
            break
    entry = nodelist[:end]
    if "[" not in entry:
        return entry
    prefix, rest = entry.split("[", 1)
    ranges, suffix = rest.split("]", 1)
    first = ranges.split(",")[0].split("-")[0]
    return prefix + first + suffix


def launcher_env(launcher: str, environ: Optional[Mapping[str, str]] = None,
                 port: Optional[int] = None,
                 num_gpus: Optional[int] = None) -> Dict[str, str]:
    """The torch.distributed environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
    ``MASTER_ADDR``, ``MASTER_PORT``) that ``launcher`` implies.

    * ``pytorch``: torchrun already set all five; they are checked and returned.
    * ``slurm``: from ``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID`` (else the rank modulo
      the GPU count, as MMCV does) and the first host of ``SLURM_NODELIST``; ``MASTER_ADDR`` and
      ``MASTER_PORT`` from the environment win when set; the port is ``port`` (``dist_params.port``),
      else ``MASTER_PORT``, else 29500.
    * ``mpi``: from ``OMPI_COMM_WORLD_RANK``/``SIZE``/``LOCAL_RANK``; ``MASTER_ADDR`` must be set.

    Args:
        launcher: ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
        environ: the environment to read (default ``os.environ``).
        port: the master port from ``dist_params`` (slurm and mpi).
        num_gpus: GPUs on this node (default: ``torch.cuda.device_count()``).

    Raises:
        ConfigError: unknown launcher, or a variable it needs is missing or not a number.
    """
    environ = os.environ if environ is None else environ
    if launcher == "pytorch":
        names = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
        _require(environ, names, launcher, f"the process was not started by torchrun: {_TORCHRUN_HINT}")
        rank = _env_int(environ, "RANK", launcher)
        world_size = _env_int(environ, "WORLD_SIZE", launcher)
        local_rank = _env_int(environ, "LOCAL_RANK", launcher) if environ.get("LOCAL_RANK") else 0
        addr = environ["MASTER_ADDR"]
        master_port = _env_int(environ, "MASTER_PORT", launcher)
    elif launcher == "slurm":
        hint = "run it under srun (tools/slurm_train.sh / tools/slurm_test.sh)"
        _require(environ, ("SLURM_PROCID", "SLURM_NTASKS"), launcher, hint)
        rank = _env_int(environ, "SLURM_PROCID", launcher)
        world_size = _env_int(environ, "SLURM_NTASKS", launcher)
        if environ.get("SLURM_LOCALID"):
            local_rank = _env_int(environ, "SLURM_LOCALID", launcher)
        else:
            gpus = torch.cuda.device_count() if num_gpus is None else num_gpus
            local_rank = rank % gpus if gpus else 0
        addr = environ.get("MASTER_ADDR") or first_slurm_host(
            environ.get("SLURM_NODELIST") or environ.get("SLURM_JOB_NODELIST") or "")
        master_port = int(port) if port is not None else (
            _env_int(environ, "MASTER_PORT", launcher) if environ.get("MASTER_PORT") else DEFAULT_PORT)
    elif launcher == "mpi":
        hint = ("run it under mpirun and export MASTER_ADDR (the host of rank 0) to every process "
                "(mpirun -x MASTER_ADDR=...)")
        _require(environ, ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "MASTER_ADDR"), launcher,
                 hint)
        rank = _env_int(environ, "OMPI_COMM_WORLD_RANK", launcher)
        world_size = _env_int(environ, "OMPI_COMM_WORLD_SIZE", launcher)
        local_rank = (_env_int(environ, "OMPI_COMM_WORLD_LOCAL_RANK", launcher)
                      if environ.get("OMPI_COMM_WORLD_LOCAL_RANK") else 0)
        addr = environ["MASTER_ADDR"]
        master_port = int(port) if port is not None else (
            _env_int(environ, "MASTER_PORT", launcher) if environ.get("MASTER_PORT") else DEFAULT_PORT)
    else:
        raise ConfigError(_unknown_launcher(launcher))
    if world_size < 1 or not 0 <= rank < world_size:
        raise ConfigError(f"--launcher {launcher}: rank {rank} is not in [0, world size {world_size}).")
    return dict(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(local_rank),
                MASTER_ADDR=str(addr), MASTER_PORT=str(master_port))


def resolve_backend(backend: Optional[str], warn: bool = True) -> str:
    """The process-group backend to use: ``backend``, or NCCL with CUDA and gloo without.

    ``'nccl'`` on a machine without CUDA (or a torch build without NCCL) becomes ``'gloo'`` with
    one warning: MMSeg configs all say ``dist_params = dict(backend='nccl')``, and they should run
    on CPU processes too.
    """
    nccl_ok = torch.cuda.is_available() and dist.is_nccl_available()
    if backend is None:
        return "nccl" if nccl_ok else "gloo"
    backend = str(backend).lower()
    if backend == "nccl" and not nccl_ok:
        if warn:
            warnings.warn("dist_params.backend is 'nccl', but this machine has no CUDA GPU (or torch "
                          "was built without NCCL): using the gloo backend on CPU instead. Set "
                          "dist_params = dict(backend='gloo') (in a MMSegmentation 1.x config: "
                          "env_cfg = dict(dist_cfg=dict(backend='gloo'))) to silence this.",
                          UserWarning,
                          stacklevel=3)
        return "gloo"
    return backend


def _timeout(value: Union[None, int, float, datetime.timedelta]) -> Optional[datetime.timedelta]:
    if value is None or isinstance(value, datetime.timedelta):
        return value
    if isinstance(value, (int, float)) and value > 0:
        return datetime.timedelta(seconds=value)
    raise ConfigError(f"dist_params.timeout = {value!r}: give the collective timeout in seconds "
                      f"(a positive number).")


def _set_cuda_device(local_rank: int, backend: str) -> None:
    """Pin this process to GPU ``local_rank`` (NCCL needs it; other backends use it if present)."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        return
    if local_rank >= count:
        if backend == "nccl":
            raise ConfigError(f"LOCAL_RANK {local_rank}, but this node has {count} visible GPU(s): "
                              f"start at most {count} processes per node (GPUS / --nproc_per_node) or "
                              f"check CUDA_VISIBLE_DEVICES.")
        return
    torch.cuda.set_device(local_rank)


def init_dist(launcher: str, backend: Optional[str] = None, **dist_params: Any) -> Tuple[int, int]:
    """Initialise the default process group for ``launcher``; returns ``(rank, world_size)``.

    Called by ``tools/train.py`` / ``tools/test.py`` as ``init_dist(args.launcher,
    **cfg.dist_params)``. Exports the variables of :func:`launcher_env` to ``os.environ`` (so
    later code and child processes see them), picks the backend (:func:`resolve_backend`), sets the
    CUDA device to ``LOCAL_RANK`` and initialises from the environment (``env://``). A group that is
    already initialised is kept.

    Args:
        launcher: ``'pytorch'`` (torchrun), ``'slurm'`` or ``'mpi'``.
        backend: ``'nccl'``, ``'gloo'``, ... (None: NCCL with CUDA, else gloo).
        **dist_params: the rest of the config's ``dist_params``: ``port`` (master port for slurm and
            mpi), ``timeout`` (seconds before a stuck collective fails), ``init_method``.

    Raises:
        ConfigError: unknown launcher or dist_params key, missing launcher variables, more
            processes than GPUs, or the master port already in use.
    """
    unknown = sorted(set(dist_params) - set(DIST_PARAM_KEYS))
    if unknown:
        raise ConfigError(f"dist_params has unknown key(s) {', '.join(map(repr, unknown))}; accepted: "
                          f"backend, {', '.join(DIST_PARAM_KEYS)}.")
    if launcher not in LAUNCHERS:
        raise ConfigError(_unknown_launcher(launcher))
    if dist.is_available() and dist.is_initialized():
        return get_dist_info()
    if not dist.is_available():
        raise ConfigError("This torch build has no torch.distributed support; use --launcher none.")
    env = launcher_env(launcher, port=dist_params.get("port"))
    os.environ.update(env)
    rank, world_size, local_rank = int(env["RANK"]), int(env["WORLD_SIZE"]), int(env["LOCAL_RANK"])
    backend = resolve_backend(backend, warn=rank == 0)  # one warning per job, not per process
    _set_cuda_device(local_rank, backend)
    kwargs: Dict[str, Any] = dict(backend=backend, rank=rank, world_size=world_size,
                                  init_method=dist_params.get("init_method") or "env://")
    timeout = _timeout(dist_params.get("timeout"))
    if timeout is not None:
        kwargs["timeout"] = timeout
    global _joined_group
    try:
        dist.init_process_group(**kwargs)
        _joined_group = True
    except Exception as err:  # torch raises RuntimeError or DistNetworkError, depending on version
        text = str(err)
        if "EADDRINUSE" in text or "address already in use" in text.lower():
            raise ConfigError(
                f"The master port {env['MASTER_PORT']} on {env['MASTER_ADDR']} is in use (another "
                f"job?). Pick another one: PORT=29501 tools/dist_train.sh ..., or MASTER_PORT / "
                f"dist_params.port for slurm and mpi.") from err
        raise
    return rank, world_size


def destroy_dist() -> None:
    """Leave the default process group at the end of a successful run (no-op without one).

    Every rank calls it; it releases the backend's resources (NCCL warns at exit otherwise).
    Garbage is collected first: a DDP wrapper left in a reference cycle holds the group, and
    only once the last reference is gone does the backend join its worker threads.
    """
    if dist.is_available() and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def finish_process(code: int) -> NoReturn:
    """End a tool's process with exit status ``code``.

    A process that never joined a process group exits normally (``sys.exit``). One that did
    (torchrun, srun, mpirun) leaves the group when ``code`` is 0, flushes its logs and standard
    streams and ends with ``os._exit``, skipping Python's interpreter finalization. Why: gloo runs
    each collective on a worker thread, which drops its references to the collective's tensors
    just *after* the caller has been told the collective finished. When the main thread is by then
    already finalizing the interpreter (the tool returned right after its last collective, e.g.
    the RNG-state gather of the last checkpoint), releasing a tensor that has a Python object takes
    the GIL, Python ends that thread with ``pthread_exit``, and its forced unwind through a
    ``noexcept`` frame aborts the process: ``terminate called without an active exception``,
    SIGABRT, after all the work was done (seen in about one run in 15 of tools/dist_train.sh on a
    loaded 2-core machine). Without finalization the worker threads are stopped by the exit
    itself, so a finished job always exits with its own status.

    On a failed run (``code`` != 0) the group is not destroyed: a peer may still be inside a
    collective, and tearing down under it could block; the exit status and the message printed
    before are what torchrun reports.
    """
    if not (_joined_group or (dist.is_available() and dist.is_initialized())):
        sys.exit(code)
    if code == 0:
        destroy_dist()
    exit_process(code)


def exit_process(code: int) -> NoReturn:
    """Flush the log files and standard streams, then end the process at once with ``code``
    (``os._exit``: no interpreter finalization, no atexit handlers; see :func:`finish_process`).
    """
    logging.shutdown()  # what finalization would have done for the log files: flush and close
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing left to save
            pass
    os._exit(code)


def run_and_exit(main: Callable[[], Optional[int]]) -> NoReturn:
    """Run a tool's ``main()`` and end the process through :func:`finish_process`.

    An exception that ``main`` lets through is printed as Python would print it and exits with
    status 1 (``SystemExit`` keeps its status), so a distributed rank that fails unexpectedly
    still shows its traceback and fails the job.
    """
    try:
        code = main()
    except SystemExit as err:
        code = err.code
    except KeyboardInterrupt:
        traceback.print_exc()
        code = 130  # what a shell reports for Ctrl-C
    except BaseException:  # noqa: B902 - everything a tool did not handle ends the process here
        traceback.print_exc()
        code = 1
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): Python prints it and exits with 1
        print(code, file=sys.stderr)
        code = 1
    finish_process(code)


def port_is_free(port: int, host: str = "") -> bool:
    """True when a TCP server could listen on ``port`` (``host=''``: all interfaces) right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like torch's TCPStore: a port in TIME_WAIT from a finished job counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, int(port)))
        except OSError:
            return False
    return True


def find_free_port(host: str = "") -> int:
    """A TCP port that is free now (the OS picks it), for a master port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
