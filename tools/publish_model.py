"""Prepare a checkpoint for release (MMSegmentation 0.x ``tools/publish_model.py``).

Usage:
    python tools/publish_model.py IN_FILE OUT_FILE

Keeps ``state_dict`` and ``meta`` (config, CLASSES, PALETTE, iter) and drops what only resuming a
training run needs: ``optimizer``, ``rng_state``, ``lr_schedule`` and ``amp``. The result goes to
``<OUT_FILE stem>-<first 8 hex digits of its sha256>.pth``, as MMSegmentation names its zoo
files (e.g. ``fcn_r50.pth`` -> ``fcn_r50-1a2b3c4d.pth``). Unlike MMSeg's ``str.rstrip('.pth')``
the stem keeps its last letters (``depth.pth`` stays ``depth-<sha>.pth``). Writes are atomic.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import os.path as osp
import sys

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from seglab.apis.cli import run_tool  # noqa: E402
from seglab.errors import CheckpointError, ConfigError  # noqa: E402

# What seglab's runner saves for an exact resume (see Runner.save_checkpoint).
TRAINING_KEYS = ("optimizer", "rng_state", "lr_schedule", "amp")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Process a checkpoint to be published")
    parser.add_argument("in_file", help="input checkpoint filename")
    parser.add_argument("out_file", help="output checkpoint filename (.pth); the sha256 prefix "
                        "is appended to its stem")
    return parser.parse_args(argv)


def sha256_of(path: str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def process_checkpoint(in_file: str, out_file: str) -> str:
    """Strip the training state from ``in_file``, save, rename with the hash; the final path."""
    from seglab.checkpoint.io import load_checkpoint_file
    from seglab.utils import atomic_torch_save

    if not out_file.endswith(".pth"):
        raise ConfigError(f"out_file {out_file!r}: the published checkpoint must end with .pth.")
    checkpoint = load_checkpoint_file(in_file, map_location="cpu")
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{in_file!r} is not a training checkpoint (a dict with "
                              "'state_dict'); nothing to publish.")
    kept = {k: v for k, v in checkpoint.items() if k not in TRAINING_KEYS}
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    atomic_torch_save(kept, out_file)
    final_file = f"{out_file[:-len('.pth')]}-{sha256_of(out_file)[:8]}.pth"
    os.replace(out_file, final_file)
    return final_file


def main(argv=None) -> int:
    args = parse_args(argv)
    final_file = process_checkpoint(args.in_file, args.out_file)
    print(f"Published {args.in_file} as {final_file}")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
