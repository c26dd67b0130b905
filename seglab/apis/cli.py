"""Steps shared by the command-line tools (``tools/test.py``, ``tools/benchmark.py``, demos).

Config handling follows MMSegmentation 0.x ``tools/test.py``: ``model.pretrained = None``,
``data.test.test_mode = True``, ``--aug-test`` sets ``data.test.pipeline[1].img_ratios`` and
``flip``, the test batch size comes from ``data.test.samples_per_gpu`` /
``data.test_dataloader.samples_per_gpu`` (default 1), and CLASSES / PALETTE come from the
checkpoint's meta when present, else from the dataset.
"""
from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..errors import ConfigError, SeglabError

AUG_TEST_RATIOS = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]


def launch_rank() -> Tuple[int, int]:
    """(rank, world size) of this process in its launch: from the process group once it
    exists, before that from the launcher's ``RANK`` / ``WORLD_SIZE``; (0, 1) otherwise."""
    from ..utils import get_dist_info, is_distributed

    if is_distributed():
        return get_dist_info()
    try:
        return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    except ValueError:
        return 0, 1


@contextmanager
def same_on_every_rank() -> Iterator[None]:
    """Marks the seglab errors raised inside as ones every rank of a launch raises alike
    (argument and config checks), so that :func:`run_tool` shows them once, from rank 0."""
    try:
        yield
    except SeglabError as err:
        err.same_on_every_rank = True
        raise


def run_tool(main: Callable[[Optional[Sequence[str]]], int],
             argv: Optional[Sequence[str]] = None, malloc_policy: str = "system") -> int:
    """Run a tool's ``main``; a user mistake prints ``error: <message>`` and returns 2.

    seglab's errors (config, dataset, checkpoint, unknown type or metric, no display) carry a
    message that says what to fix; a traceback would only bury it. In a multi-process launch
    the message names the rank that raised it (``error: [rank 1] ...``), except for errors
    marked :func:`same_on_every_rank`, which only rank 0 prints; a rank whose collective fails
    because another rank died prints one note, not a second traceback, and returns 1.

    Called with ``argv=None`` (the tool's own command line, so the process is the tool's), it
    first sets the C allocator's policy from ``SEGLAB_MALLOC``, else ``malloc_policy`` (the
    tool's default; :mod:`seglab.utils.malloc`).
    """
    from ..engine.dist import PEER_FAILURE_NOTE, is_peer_failure
    from ..utils.malloc import apply_malloc_policy_from_env

    try:
        if argv is None:  # the process is the tool's: its allocator policy (SEGLAB_MALLOC)
            apply_malloc_policy_from_env(default=malloc_policy)
        return main(argv)
    except SeglabError as e:
        rank, world_size = launch_rank()
        if world_size > 1 and getattr(e, "same_on_every_rank", False):
            if rank == 0:
                print(f"error: {e}", file=sys.stderr)
        else:
            tag = f"[rank {rank}] " if world_size > 1 else ""
            print(f"error: {tag}{e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        rank, world_size = launch_rank()
        if not is_peer_failure(e, world_size):
            raise
        print(f"note: [rank {rank}] {PEER_FAILURE_NOTE}", file=sys.stderr)
        return 1


def resolve_device(name: Optional[str] = None, gpu_id: int = 0) -> torch.device:
    """``--device``: default CUDA (``cuda:<gpu_id>``) when available, else the CPU.

    Raises:
        ConfigError: a CUDA device on a machine without CUDA, or an unknown device string.
    """
    if name is None:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ConfigError(f"--device {name!r} is not a valid device ({e}); use cpu, cuda or "
                          "cuda:N.") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name!r}: CUDA is not available on this machine; use "
                              "--device cpu.")
        if device.index is None:
            device = torch.device("cuda", gpu_id)
    return device


def apply_aug_test(cfg) -> None:
    """MMSeg 0.x ``--aug-test``: multi-scale (0.5-1.75) and flip test-time augmentation."""
    try:
        aug = cfg.data.test.pipeline[1]
    except (AttributeError, KeyError, IndexError, TypeError):
        aug = None
    if not isinstance(aug, Mapping) or aug.get("type") != "MultiScaleFlipAug":
        raise ConfigError("--aug-test needs data.test.pipeline[1] to be a MultiScaleFlipAug (as "
                          "in MMSeg's dataset configs); edit the test pipeline instead.")
    aug["img_ratios"] = list(AUG_TEST_RATIOS)
    aug["flip"] = True


def prepare_test_config(cfg, aug_test: bool = False) -> None:
    """``model.pretrained = None``, ``data.test.test_mode = True`` (+ ``--aug-test``)."""
    if "model" not in cfg:
        raise ConfigError("The config has no `model` section; is it a segmentation config?")
    if "data" not in cfg or "test" not in cfg.data:
        raise ConfigError("The config has no data.test section: tools/test.py needs the test "
                          "dataset (add data = dict(test=dict(...)) or a _base_ dataset config; "
                          "in a MMSegmentation 1.x config: test_dataloader).")
    if aug_test:
        apply_aug_test(cfg)
    cfg.model.pretrained = None
    tests = cfg.data.test if isinstance(cfg.data.test, (list, tuple)) else [cfg.data.test]
    for test in tests:
        test["test_mode"] = True


def resolve_test_batch_size(cfg, batch_size: Optional[int] = None) -> int:
    """The test batch size: ``batch_size``, else ``data.test.samples_per_gpu`` (removed from the
    dataset config, as 0.x does), else ``data.test_dataloader.samples_per_gpu``, else 1."""
    tests = cfg.data.test if isinstance(cfg.data.test, (list, tuple)) else [cfg.data.test]
    values = [v for v in (test.pop("samples_per_gpu", None) for test in tests) if v]
    from_dataset = max(values) if values else None
    loader_cfg = cfg.data.get("test_dataloader") or {}
    size = batch_size or from_dataset or loader_cfg.get("samples_per_gpu") or 1
    if not isinstance(size, int) or size < 1:
        raise ConfigError(f"The test batch size must be a positive integer, got {size!r} "
                          "(--batch-size or data.test.samples_per_gpu).")
    return size


def build_test_loader(cfg, batch_size: Optional[int] = None,
                      workers: Optional[int] = None) -> Tuple[Dataset, DataLoader]:
    """The test dataset and its loader (dataset order, ``batch_size`` images per batch)."""
    from ..datasets import build_dataloader_from_cfg, build_dataset

    size = resolve_test_batch_size(cfg, batch_size)
    dataset = build_dataset(cfg.data.test, dict(test_mode=True))
    data_cfg = {k: v for k, v in cfg.data.items()}
    loader_cfg = dict(data_cfg.get("test_dataloader") or {})
    loader_cfg.update(samples_per_gpu=size, shuffle=False)
    if workers is not None:
        loader_cfg["workers_per_gpu"] = workers
    data_cfg["test_dataloader"] = loader_cfg
    loader = build_dataloader_from_cfg(data_cfg, "test", dataset=dataset, seed=0)
    return dataset, loader


def build_test_model(cfg, checkpoint: Optional[str], device: torch.device,
                     dataset: Optional[Dataset] = None, strict: bool = True,
                     logger: Optional[logging.Logger] = None,
                     tool: Optional[str] = None) -> nn.Module:
    """Build ``cfg.model``, load ``checkpoint`` strictly, set CLASSES / PALETTE, move, eval.

    A checkpoint for another ``num_classes`` (or architecture) fails with a
    :class:`~seglab.checkpoint.CheckpointMismatchError` listing the mismatched keys.

    Args:
        cfg: the test config (see :func:`prepare_test_config`).
        checkpoint: the checkpoint file, or None for random weights.
        device: where the model goes.
        dataset: gives CLASSES / PALETTE when the checkpoint's meta has none.
        strict: fail on any key or shape mismatch.
        logger: for the notes (default: the ``seglab`` logger).
        tool: the command-line tool loading for its user (e.g. ``'tools/test.py'``): a mismatch
            then hints what that tool's user can do, not the API's ``strict=False``.

    Returns:
        The model in eval mode on ``device``.
    """
    from ..checkpoint import CheckpointMismatchError
    from .inference import _dataset_classes, build_and_load

    log = logger or logging.getLogger("seglab")
    if cfg.get("fp16") is not None:
        log.warning("The config's fp16 setting is ignored: seglab tests in float32.")
    if cfg.get("cudnn_benchmark"):
        torch.backends.cudnn.benchmark = True
    try:
        model, meta = build_and_load(cfg, checkpoint, strict)
    except CheckpointMismatchError as err:
        if tool is None:
            raise
        raise err.for_tool(tool) from None  # the same keys; only the hint changes
    fallback = (getattr(dataset, "CLASSES", None), getattr(dataset, "PALETTE", None)) \
        if dataset is not None else _dataset_classes(cfg)
    for key, value in zip(("CLASSES", "PALETTE"), fallback):
        if meta.get(key) is not None:
            setattr(model, key, meta[key])
        else:
            if checkpoint is not None:
                log.info(f'"{key}" not found in the checkpoint meta, using the dataset\'s')
            setattr(model, key, value)
    model.to(device)
    model.eval()
    return model


def dump_json(obj: Any, path: str) -> None:
    """Write ``obj`` as indented json, atomically."""
    import json

    from ..utils import atomic_write_text

    atomic_write_text(path, json.dumps(obj, indent=4) + "\n")
