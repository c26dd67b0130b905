"""How a tool's process ends (seglab.engine.launch.run_and_exit / finish_process).

A rank that joined a process group must end without Python's interpreter finalization: gloo's
worker threads may still be releasing the tensors of the last collective, and doing so while the
interpreter finalizes aborts the process (SIGABRT, "terminate called without an active
exception") after the job has finished. These tests run a small tool in a subprocess, in a real
one-process gloo group, and check the exit status, the flushed output, whether the group was left
and whether finalization (an atexit handler) ran.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from dist_launch_helpers import REPO, child_env

TOOL = textwrap.dedent("""
    import atexit, sys
    import torch, torch.distributed as dist
    from seglab.engine.launch import init_dist, run_and_exit

    join, outcome = sys.argv[1] == "join", sys.argv[2]
    atexit.register(lambda: print("finalized", file=sys.stderr, flush=True))
    destroy = dist.destroy_process_group
    def counted_destroy(*args, **kwargs):
        print("left the group", file=sys.stderr, flush=True)
        destroy(*args, **kwargs)
    dist.destroy_process_group = counted_destroy

    def main():
        if join:
            init_dist("pytorch", backend="gloo", init_method="file://" + sys.argv[3])
            total = torch.ones(3)
            dist.all_reduce(total)  # a collective right before the end, as after a checkpoint
        print("work done", end="")  # no newline, no flush: only an explicit flush saves it
        if outcome == "fail":
            return 2
        if outcome == "raise":
            raise RuntimeError("boom in the tool")
        if outcome == "interrupt":
            raise KeyboardInterrupt
        return 0

    run_and_exit(main)
""")


def _run(tmp_path, join: bool, outcome: str) -> subprocess.CompletedProcess:
    script = tmp_path / "tool.py"
    script.write_text(TOOL)
    env = child_env(dict(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                         MASTER_PORT="1"))  # the file:// rendezvous needs no port
    args = [sys.executable, str(script), "join" if join else "alone", outcome,
            str(tmp_path / "rendezvous")]
    return subprocess.run(args, env=env, cwd=str(REPO), capture_output=True, text=True,
                          timeout=120)


def test_a_finished_rank_leaves_the_group_and_skips_finalization(tmp_path):
    proc = _run(tmp_path, join=True, outcome="ok")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "work done"  # flushed before the exit
    assert "left the group" in proc.stderr
    assert "finalized" not in proc.stderr  # no interpreter finalization after the collectives


@pytest.mark.parametrize("outcome, status", [("fail", 2), ("raise", 1), ("interrupt", 130)])
def test_a_failed_rank_keeps_its_status_and_message(tmp_path, outcome, status):
    proc = _run(tmp_path, join=True, outcome=outcome)
    assert proc.returncode == status, proc.stderr
    assert proc.stdout == "work done"
    # A peer may still be inside a collective: a failed rank does not tear the group down.
    assert "left the group" not in proc.stderr
    assert "finalized" not in proc.stderr
    if outcome == "raise":
        assert "Traceback" in proc.stderr and "RuntimeError: boom in the tool" in proc.stderr
    if outcome == "interrupt":
        assert "KeyboardInterrupt" in proc.stderr


def test_a_process_without_a_group_exits_normally(tmp_path):
    proc = _run(tmp_path, join=False, outcome="fail")
    assert proc.returncode == 2
    assert proc.stdout == "work done"
    assert "finalized" in proc.stderr  # sys.exit: atexit handlers and finalization run as usual
    assert "left the group" not in proc.stderr
