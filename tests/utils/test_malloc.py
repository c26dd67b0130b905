"""The allocator policy of tool processes (SEGLAB_MALLOC): parsing, the mallopt calls, their
effect on a real glibc process, and that the tools apply it only to their own process."""
from __future__ import annotations

import json
import platform
import subprocess
import sys
import textwrap

import pytest

from seglab.apis.cli import run_tool
from seglab.errors import ConfigError
from seglab.utils import malloc


def test_policy_from_env():
    assert malloc.malloc_policy_from_env({}) == "system" == malloc.DEFAULT_POLICY
    assert malloc.malloc_policy_from_env({}, default="speed") == "speed"  # train, benchmark
    assert malloc.malloc_policy_from_env({"SEGLAB_MALLOC": ""}, default="speed") == "speed"
    assert malloc.malloc_policy_from_env({"SEGLAB_MALLOC": " Memory "}) == "memory"
    assert malloc.malloc_policy_from_env({"SEGLAB_MALLOC": "system"}) == "system"
    with pytest.raises(ConfigError, match=r"SEGLAB_MALLOC='fast' is not a malloc policy: use "
                                          r"one of speed, memory, system"):
        malloc.malloc_policy_from_env({"SEGLAB_MALLOC": "fast"})
    with pytest.raises(ConfigError, match="'big' is not a malloc policy"):
        malloc.set_malloc_policy("big")


@pytest.fixture
def calls(monkeypatch):
    """Record mallopt calls instead of making them (the test process keeps its allocator)."""
    made = []

    def fake_mallopt(param, value):
        made.append((param, value))
        return 1

    monkeypatch.setattr(malloc, "_glibc_mallopt", lambda: fake_mallopt)
    return made


def test_each_policy_sets_what_it_documents(calls):
    assert malloc.set_malloc_policy("speed") is True
    assert calls == [(malloc.M_MMAP_MAX, 0), (malloc.M_TRIM_THRESHOLD, 2 ** 31 - 1)]
    calls.clear()
    assert malloc.set_malloc_policy("memory") is True
    assert calls == [(malloc.M_MMAP_THRESHOLD, 4 * 1024 * 1024)]
    calls.clear()
    assert malloc.set_malloc_policy("system") is False and calls == []


def test_no_glibc_or_a_refused_setting(monkeypatch):
    monkeypatch.setattr(malloc, "_glibc_mallopt", lambda: None)
    assert malloc.set_malloc_policy("speed") is False  # another C library: left alone
    monkeypatch.setattr(malloc, "_glibc_mallopt", lambda: (lambda param, value: 0))
    with pytest.raises(RuntimeError, match="SEGLAB_MALLOC=system to leave the allocator alone"):
        malloc.set_malloc_policy("memory")


def test_run_tool_applies_the_policy_only_for_its_own_command_line(monkeypatch, calls, capsys):
    monkeypatch.setenv("SEGLAB_MALLOC", "memory")
    assert run_tool(lambda argv: 0, []) == 0  # in-process call (tests, scripts): untouched
    assert calls == []
    assert run_tool(lambda argv: 0) == 0  # the tool's process
    assert calls == [(malloc.M_MMAP_THRESHOLD, malloc.MEMORY_MMAP_THRESHOLD)]
    calls.clear()
    monkeypatch.delenv("SEGLAB_MALLOC")
    assert run_tool(lambda argv: 0) == 0 and calls == []  # default: 'system', untouched
    assert run_tool(lambda argv: 0, malloc_policy="speed") == 0  # tools/benchmark.py's default
    assert calls == [(malloc.M_MMAP_MAX, 0), (malloc.M_TRIM_THRESHOLD, 2 ** 31 - 1)]
    monkeypatch.setenv("SEGLAB_MALLOC", "quick")
    assert run_tool(lambda argv: 0) == 2  # a user mistake: one line, exit 2
    assert "error: SEGLAB_MALLOC='quick' is not a malloc policy" in capsys.readouterr().err


# A small conv net trains 8 steps on 2x3x384x384 (activations of 9-18 MiB, below and above
# glibc's own mmap threshold); the child reports the minor page faults of each step and its
# peak RSS after 5 and after 8 steps.
_PROBE = textwrap.dedent("""
    import json, resource, sys
    import torch
    from seglab.utils.malloc import set_malloc_policy

    def hwm_mib():
        with open('/proc/self/status') as f:
            return next(int(l.split()[1]) for l in f if l.startswith('VmHWM')) / 1024

    applied = set_malloc_policy(sys.argv[1])
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(True),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(True),
        torch.nn.Conv2d(32, 8, 1))
    x = torch.randn(2, 3, 384, 384)
    faults = []
    for i in range(8):
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        net(x).square().mean().backward()
        net.zero_grad(set_to_none=True)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
        if i == 4:
            hwm5 = hwm_mib()
    print(json.dumps(dict(applied=applied, faults=faults, hwm5=hwm5, hwm=hwm_mib())))
""")


def _probe(policy: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE, policy], capture_output=True, text=True,
                         check=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="the policies act through glibc's mallopt")
def test_policies_on_a_real_process():
    speed, system, memory = _probe("speed"), _probe("system"), _probe("memory")
    assert speed["applied"] and memory["applied"] and not system["applied"]
    steady = {name: sum(r["faults"][5:]) for name, r in
              (("speed", speed), ("system", system), ("memory", memory))}
    # glibc's defaults fault tens of thousands of pages per step (each large block is mapped
    # afresh); 'speed' reuses what it mapped in the first steps, 'memory' maps even more.
    assert steady["system"] > 30_000, steady
    assert steady["speed"] < 0.1 * steady["system"], steady
    assert steady["memory"] >= steady["system"], steady
    # 'speed' keeps its heap, but the heap does not grow once the steps repeat ...
    assert speed["hwm"] <= 1.1 * speed["hwm5"], speed
    # ... and 'memory' gives every large block back at once: the lowest peak.
    assert memory["hwm"] < system["hwm"], (memory, system)
