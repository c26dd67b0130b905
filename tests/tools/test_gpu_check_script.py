"""benchmarks/gpu_check.sh: its syntax, its fail-soft steps and summary table, and (slow) the whole
script in its CPU dry run (GPU_CHECK_DEVICE=cpu: the same steps, tiny)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks/gpu_check.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def run_bash(code, tmp_path, **env):
    """``code`` in bash after sourcing the script's functions (GPU_CHECK_LIB=1: nothing runs)."""
    full_env = dict(os.environ, GPU_CHECK_LIB="1", RESULTS=str(tmp_path / "results.tsv"),
                    WORK=str(tmp_path), STEP_TIMEOUT="20", **env)
    return subprocess.run(["bash", "-c", f"source {SCRIPT} && {code}"], capture_output=True,
                          text=True, env=full_env, cwd=tmp_path, timeout=60)


def test_syntax():
    done = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_sourcing_runs_nothing(tmp_path):
    done = run_bash("echo sourced", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "sourced\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no data, logs or results


def test_steps_fail_soft_into_one_table(tmp_path):
    code = """
ok() { echo working; echo 'NOTE: 12.5 img/s'; }
broken() { echo 'Traceback ...'; echo 'RuntimeError: CUDA error: no kernel image'; return 3; }
slow() { sleep 30; }
export -f ok broken slow
: >"$RESULTS"
step first ok
step second broken
STEP_TIMEOUT=1 step third slow
step fourth ok
skip fifth 'no visible GPU'
record sixth PASS 7 $'a\\tb\\nc'
print_summary "$RESULTS"
"""
    done = run_bash(code, tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert rows[:2] == ["| step | result | s | note |", "|---|---|---|---|"]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows[2:]]
    assert [c[0] for c in cells] == ["first", "second", "third", "fourth", "fifth", "sixth"]
    assert [c[1] for c in cells] == ["PASS", "FAIL", "FAIL", "PASS", "SKIP", "PASS"]
    assert cells[0][3] == "12.5 img/s"
    assert cells[1][3] == "exit 3: RuntimeError: CUDA error: no kernel image"
    assert cells[2][3].startswith("timed out after 1s")
    assert cells[4][3] == "no visible GPU"
    assert cells[5][2:] == ["7", "a b c"]  # tabs and newlines of a note cannot break the table
    assert (tmp_path / "second.log").read_text().startswith("Traceback")
    assert "[second] FAIL" in done.stderr


def test_unknown_device_is_refused(tmp_path):
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, GPU_CHECK_DEVICE="tpu",
                                   GPU_CHECK_WORK=str(tmp_path)))
    assert done.returncode == 2
    assert "GPU_CHECK_DEVICE=tpu; use cuda or cpu" in done.stderr


@pytest.mark.slow
def test_cpu_dry_run(tmp_path):
    """Every step but the CUDA specifics works: only mmseg_r50 may skip (no MMSeg venv)."""
    env = dict(os.environ, GPU_CHECK_DEVICE="cpu", GPU_CHECK_WORK=str(tmp_path),
               MMSEG_VENV=str(tmp_path / "no-venv"), OMP_NUM_THREADS="1")
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env,
                          timeout=600)
    rows = {}
    for line in done.stdout.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("|") and len(cells) == 4 and cells[1] in ("PASS", "FAIL", "SKIP"):
            rows[cells[0]] = cells
    assert list(rows) == ["env", "data", "train_amp", "resume_exact", "dist_train", "dist_test",
                          "whole_batched", "slide_batched", "bench_fp32", "bench_fp16",
                          "bench_bf16", "mmseg_r50"], done.stdout + done.stderr
    failed = {k: v[3] for k, v in rows.items() if v[1] != "PASS" and k != "mmseg_r50"}
    assert not failed, failed
    assert done.returncode == 0
    assert rows["mmseg_r50"][1] == "SKIP"
    assert "equal bit for bit" in rows["resume_exact"][3]
    assert "2 processes (gloo)" in rows["dist_train"][3]
    assert "img/s" in rows["bench_fp32"][3]
