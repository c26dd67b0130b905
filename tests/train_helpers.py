"""Shared by the training tests (tests/apis/test_train_*.py, tests/tools/test_train_tool.py,
the end-to-end runs tests/tools/test_*_end_to_end.py).

The smoke config trains a tiny FCN for a few iterations on a 4-image synthetic dataset that every
pytest-xdist worker shares. Import the fixtures into a test module to use them.
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from filelock import FileLock
from PIL import Image

from seglab.datasets import make_synthetic_voc
from seglab.engine import get_rng_state, set_rng_state

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs/demo/fcn_tiny_synthetic_voc_smoke.py"


def load_train_tool(module_name="seglab_tools_train"):
    """tools/train.py as a module, so tests call its ``main(argv)`` in this process."""
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "tools/train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def restore_torch_globals():
    """tools/train.py --deterministic switches global torch flags; give them back after each test."""
    det = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    rng = get_rng_state()
    yield
    torch.use_deterministic_algorithms(det, warn_only=warn_only)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = cudnn
    set_rng_state(rng)


def shared_path(tmp_path_factory, name):
    """A path that every pytest-xdist worker of this session sees (the workers' common basetemp)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    return root / name


def run_once(tmp_path_factory, name, make):
    """``make(path)`` once per session, even with several xdist workers; returns ``path``."""
    path = shared_path(tmp_path_factory, name)
    done = path.with_name(name + ".done")
    with FileLock(str(path) + ".lock"):
        if not done.exists():
            shutil.rmtree(path, ignore_errors=True)
            make(path)
            done.touch()
    return path


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    # make_synthetic_voc writes atomically and reuses an identical dataset: safe to share.
    return make_synthetic_voc(str(shared_path(tmp_path_factory, "synthetic_voc_4x2_32px_seed3")),
                              num_train=4, num_val=2, size=32, seed=3)


def data_options(root):
    return [f"data.{split}.data_root={root}" for split in ("train", "val", "test")]


# --- end-to-end runs of the demo configs (tests/tools/test_*_end_to_end.py) -------------------

def run_tool(script, *args, cwd, timeout=600):
    """``tools/<script> ARGS`` in a subprocess from ``cwd``, as a user types it; must succeed."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # One thread: on a busy small machine more threads per process cost more than they give.
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    result = subprocess.run([sys.executable, str(ROOT / "tools" / script), *map(str, args)],
                            cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return result


def read_labels(data_root, split="val"):
    """The label maps of a synthetic VOC split, in the split file's order."""
    root = Path(data_root)
    names = (root / f"ImageSets/Segmentation/{split}.txt").read_text().split()
    return [np.array(Image.open(root / "SegmentationClass" / f"{n}.png")) for n in names]


def background_only_miou(labels):
    """mIoU of predicting background everywhere: background IoU = its share of the labelled
    pixels, the other classes present score 0, absent classes are NaN (left out of the mean)."""
    counts = sum(np.bincount(label.ravel(), minlength=256) for label in labels)[:255]
    return counts[0] / counts.sum() / np.count_nonzero(counts)


def val_record(work_dir):
    """The one evaluation record (``mode: val``) of the training run's json log."""
    (log,) = Path(work_dir).glob("*.log.json")
    (val,) = [r for r in map(json.loads, log.read_text().splitlines()) if r.get("mode") == "val"]
    return val


def tool_metric(folder):
    """The metrics tools/test.py wrote to ``eval_*.json`` in its work dir."""
    (eval_json,) = Path(folder).glob("eval_*.json")
    return json.loads(eval_json.read_text())["metric"]


def train_then_test(tmp, config, *train_args, num_train=96, num_val=16, size=64, seed=11):
    """The demo workflow in a new folder ``tmp``: synthetic data in ``tmp/voc`` (``seed``),
    ``tools/train.py CONFIG --seed 0 TRAIN_ARGS`` into ``tmp/work_dir``, then ``tools/test.py
    --eval mIoU`` on its ``latest.pth`` (work dir ``tmp/test``, predictions ``tmp/test.pkl``)."""
    tmp.mkdir()
    data_root = make_synthetic_voc(str(tmp / "voc"), num_train=num_train, num_val=num_val,
                                   size=size, seed=seed)
    options = data_options(data_root)
    run_tool("train.py", config, "--work-dir", tmp / "work_dir", "--seed", "0", *train_args,
             "--options", *options, cwd=tmp)
    run_tool("test.py", config, tmp / "work_dir" / "latest.pth", "--eval", "mIoU",
             "--device", "cpu", "--work-dir", tmp / "test", "--out", tmp / "test.pkl",
             "--options", *options, cwd=tmp)
