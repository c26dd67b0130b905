"""set_random_seed, RNG state round trip, get_root_logger, collect_env."""
import logging
import os
import random
import subprocess
import sys

import numpy as np
import torch

from seglab.engine import collect_env, format_env, get_rng_state, get_root_logger, set_random_seed, set_rng_state
from seglab.engine.logging import close_file_handlers


def _draw():
    return random.random(), float(np.random.rand()), float(np.random.randn()), torch.rand(2).tolist()


def test_set_random_seed_makes_all_generators_repeat():
    set_random_seed(3)
    first = _draw()
    set_random_seed(3)
    assert _draw() == first
    set_random_seed(4)
    assert _draw() != first


def test_deterministic_flags(monkeypatch):
    before = torch.are_deterministic_algorithms_enabled()
    try:
        set_random_seed(0, deterministic=True)
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.use_deterministic_algorithms(before)
        torch.backends.cudnn.deterministic = False


def test_deterministic_mode_leaves_inductor_unimported_and_still_deterministic():
    """torch.use_deterministic_algorithms imports inductor (seconds at every tool start);
    seglab sets the same flags without it, and inductor imported later is deterministic too."""
    code = """
import os, sys, torch
from seglab.engine import set_random_seed
set_random_seed(0, deterministic=True)
print('inductor imported:', 'torch._inductor' in sys.modules)
print('kernels:', torch.are_deterministic_algorithms_enabled(),
      torch.is_deterministic_algorithms_warn_only_enabled())
import torch._inductor.config as inductor_config
print('inductor:', inductor_config.deterministic)
"""
    env = {k: v for k, v in os.environ.items() if k != "TORCHINDUCTOR_DETERMINISTIC"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["inductor imported: False", "kernels: True True",
                                        "inductor: True"]


def test_rng_state_survives_a_weights_only_round_trip(tmp_path):
    set_random_seed(7)
    np.random.randn()  # leaves a cached gaussian in numpy's state
    state = get_rng_state()
    expected = _draw()
    torch.save(state, tmp_path / "rng.pth")
    set_random_seed(8)
    set_rng_state(torch.load(tmp_path / "rng.pth", weights_only=True))
    assert _draw() == expected


def test_root_logger_writes_console_and_file_once(tmp_path, capsys):
    log_file = tmp_path / "run.log"
    logger = get_root_logger(log_file=str(log_file))
    try:
        get_root_logger(log_file=str(log_file))  # a second call adds no duplicate handlers
        logging.getLogger("seglab.models.some_module").info("hello from a module")
        logger.debug("hidden at INFO")
    finally:
        close_file_handlers(logger)
    text = log_file.read_text()
    assert text.count("hello from a module") == 1 and "hidden" not in text
    assert " - seglab.models.some_module - INFO - hello from a module" in text
    assert capsys.readouterr().err.count("hello from a module") == 1


def test_collect_env_lists_versions():
    env = collect_env()
    for key in ("sys.platform", "Python", "CUDA available", "PyTorch", "NumPy", "OpenCV", "seglab"):
        assert env[key], key
    assert env["PyTorch"] == torch.__version__
    assert "PyTorch: " + torch.__version__ in format_env(env)
