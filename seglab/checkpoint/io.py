"""Reading and writing checkpoints, compatible with MMSegmentation 0.x / 1.x files.

Loading always goes through ``torch.load(weights_only=True)``: a file that needs arbitrary Python
objects to unpickle is refused with an explanation (only the numpy types that plain arrays and
scalars are made of are allowed, since MMSeg 0.x checkpoints often carry them in ``meta``).
Writing goes through :func:`seglab.utils.atomic_torch_save`, so a failed write (disk full) leaves
the previous file intact.
"""
from __future__ import annotations

import importlib
import logging
import os
import pickle
import re
import time
import warnings
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..errors import CheckpointError
from ..utils import atomic_torch_save
from ..version import __version__
from .mismatch import CheckpointMismatchError, _mismatch_report
from .mmengine_stand_ins import MMENGINE_STAND_INS
from .model_zoo import resolve_checkpoint_path

PathLike = Union[str, os.PathLike]
DEFAULT_REVISE_KEYS: Sequence[Tuple[str, str]] = ((r"^module\.", ""),)

# How torch names the global it refused: "GLOBAL numpy.dtype ..." (find_class) or
# "... but got <class 'numpy.dtypes.Int64DType'>" (BUILD of a dtype's state).
_GLOBAL_RE = re.compile(r"GLOBAL ([\w.]+)|but got <class '([\w.]+)'>")
# Pickle globals that only rebuild plain numpy arrays, dtypes and scalars: no code can run.
_NUMPY_DATA_GLOBALS = {
    f"numpy{core}.multiarray.{fn}" for core in (".core", "._core")
    for fn in ("_reconstruct", "scalar")
} | {"numpy.ndarray", "numpy.dtype"}


def _is_numpy_data_global(name: str) -> bool:
    return name in _NUMPY_DATA_GLOBALS or (name.startswith("numpy.dtypes.")
                                           and name.endswith("DType"))


def _numpy_dtype_classes() -> List[Tuple[Any, str]]:
    import numpy as np

    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25
    if dtypes is None:
        return []
    return [(cls, f"numpy.dtypes.{name}") for name, cls in vars(dtypes).items()
            if name.endswith("DType") and isinstance(cls, type)]


def _resolve_global(name: str) -> Any:
    module, _, attr = name.rpartition(".")
    with warnings.catch_warnings():  # numpy 2 warns when numpy.core is imported
        warnings.simplefilter("ignore")
        return getattr(importlib.import_module(module), attr)


def _unsafe_message(filename: str, name: str) -> str:
    return (
        f"Checkpoint '{filename}' contains pickled Python objects: unpickling it needs the "
        f"global(s) '{name}', which could run arbitrary code, so seglab refuses to load it (it "
        f"only loads tensors, numbers, strings, lists, dicts and plain numpy arrays). If you "
        f"trust the file, "
        f"convert it once into a clean checkpoint and load the new file: python -c \"from "
        f"seglab.checkpoint import convert_checkpoint; convert_checkpoint('{filename}', "
        f"'converted.pth')\" (this unpickles the original with weights_only=False and keeps the "
        f"state_dict, the optimizer state and the plain-typed meta).")


def _precheck_globals(filename: str, path: str) -> List[Tuple[Any, str]]:
    """Allow-list entries for the numpy globals a zip checkpoint needs; refuse any other global."""
    try:
        needed = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # legacy (non-zip) format or an old torch: found one by one while loading
        return []
    # MMSeg 1.x checkpoints pickle mmengine logging objects: harmless stand-ins load them.
    stand_ins = [(MMENGINE_STAND_INS[name], name) for name in needed if name in MMENGINE_STAND_INS]
    needed = [name for name in needed if name not in MMENGINE_STAND_INS]
    unsafe = [name for name in needed if not _is_numpy_data_global(name)]
    if unsafe:
        raise CheckpointError(_unsafe_message(filename, ", ".join(unsafe)))
    allowed = stand_ins + [(_resolve_global(name), name) for name in needed]
    return allowed + (_numpy_dtype_classes() if "numpy.dtype" in needed else [])


def _unpickler_reason(err: Exception) -> str:
    # torch wraps the reason ("Unsupported operand 35") in paragraphs about weights_only and
    # a link to its docs; only the reason says something about this file.
    text = str(err)
    detail = text.split("WeightsUnpickler error:", 1)[-1]
    lines = [line.strip() for line in detail.splitlines()
             if line.strip() and not line.startswith("Check the documentation")]
    return " ".join(lines) or text.strip().splitlines()[-1]


def load_checkpoint_file(filename: PathLike, map_location: Any = "cpu") -> Any:
    """Resolve ``filename`` and unpickle it safely.

    Args:
        filename: local path or model-zoo name (see :func:`resolve_checkpoint_path`).
        map_location: as in ``torch.load``.

    Returns:
        The unpickled object (usually a dict).

    Raises:
        CheckpointError: missing/uncached file, corrupt file, or a pickle needing unsafe globals.
    """
    filename = os.fspath(filename)
    path = resolve_checkpoint_path(filename)
    allowed = _precheck_globals(filename, path)
    for _ in range(32):  # each retry allows one more numpy data global
        try:
            with torch.serialization.safe_globals(allowed):
                return torch.load(path, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as err:
            match = _GLOBAL_RE.search(str(err))
            if match is None:  # not a refused global: the bytes are no pickle torch can read
                raise CheckpointError(
                    f"Checkpoint '{filename}' ({path}) is not a readable PyTorch checkpoint "
                    f"(truncated download or another format?): the unpickler stopped at "
                    f"'{_unpickler_reason(err)}'") from err
            name = match.group(1) or match.group(2)
            if not _is_numpy_data_global(name) or any(n == name for _, n in allowed):
                raise CheckpointError(_unsafe_message(filename, name)) from None
            allowed.append((_resolve_global(name), name))
            if name == "numpy.dtype":  # rebuilding a dtype also needs its numpy.dtypes class
                allowed.extend(_numpy_dtype_classes())
        except CheckpointError as err:  # a stand-in refused the file: its reason as it is
            raise CheckpointError(f"Checkpoint '{filename}' ({path}): {err}") from None
        except (RuntimeError, EOFError, ValueError) as err:
            raise CheckpointError(
                f"Checkpoint '{filename}' ({path}) is not a readable PyTorch checkpoint (truncated "
                f"download or another format?): {err}") from err
    raise CheckpointError(_unsafe_message(filename, "too many numpy globals"))


def _extract_state_dict(checkpoint: Any, filename: str) -> Mapping[str, Any]:
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f"Checkpoint '{filename}' holds a {type(checkpoint).__name__}, not a "
                              f"dict of weights; expected a state_dict or {{'state_dict': ...}}.")
    for key in ("state_dict", "model"):
        if isinstance(checkpoint.get(key), Mapping):
            return checkpoint[key]
    if any(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return checkpoint
    raise CheckpointError(f"Checkpoint '{filename}' has no weights: top-level keys are "
                          f"{sorted(map(str, checkpoint))}; expected 'state_dict' or parameter "
                          f"names.")


def _unwrap(module: nn.Module) -> nn.Module:
    # DataParallel / DistributedDataParallel keep the real model in .module.
    if isinstance(module, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        return module.module
    return module


def load_state_dict(module: nn.Module, state_dict: Mapping[str, Any], strict: bool = False,
                    logger: Optional[logging.Logger] = None,
                    source: str = "checkpoint") -> Dict[str, list]:
    """Copy ``state_dict`` into ``module``, reporting missing, unexpected and mis-shaped keys.

    Args:
        module: the model (a DDP/DataParallel wrapper is unwrapped).
        state_dict: name -> tensor.
        strict: raise instead of warning when anything does not match; nothing is loaded then.
        logger: where the non-strict warning goes (default: the ``seglab`` logger).
        source: the file name used in messages.

    Returns:
        ``dict(missing_keys, unexpected_keys, shape_mismatch)`` (``num_batches_tracked`` buffers
        absent from old checkpoints are not reported as missing).

    Raises:
        CheckpointMismatchError: ``strict`` and the keys or shapes differ.
    """
    module = _unwrap(module)
    own = module.state_dict()
    shapes, filtered = [], OrderedDict()
    for key, value in state_dict.items():
        if key in own and isinstance(value, torch.Tensor) and value.shape != own[key].shape:
            shapes.append((key, value.shape, own[key].shape))
        else:
            filtered[key] = value
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        filtered._metadata = metadata  # BN version info used by _load_from_state_dict
    bad_shape = {k for k, _, _ in shapes}
    missing = [k for k in own if k not in state_dict and "num_batches_tracked" not in k]
    unexpected = [k for k in state_dict if k not in own]
    if strict and (missing or unexpected or shapes):
        raise CheckpointMismatchError(source, missing, unexpected, shapes)
    result = module.load_state_dict(filtered, strict=False)
    # Custom _load_from_state_dict hooks may rename keys; trust torch's view for the rest.
    missing = sorted(set(missing) | {k for k in result.missing_keys
                                     if k not in bad_shape and "num_batches_tracked" not in k})
    unexpected = sorted(set(unexpected) | set(result.unexpected_keys))
    if missing or unexpected or shapes:
        (logger or logging.getLogger("seglab")).warning(
            f"Checkpoint '{source}' does not fully match the model; loaded the matching weights:\n"
            + _mismatch_report(missing, unexpected, shapes))
    return dict(missing_keys=missing, unexpected_keys=unexpected,
                shape_mismatch=[(k, list(a), list(b)) for k, a, b in shapes])


def load_checkpoint(model: nn.Module, filename: PathLike, map_location: Any = "cpu",
                    strict: bool = False,
                    logger: Optional[logging.Logger] = None,
                    revise_keys: Sequence[Tuple[str, str]] = DEFAULT_REVISE_KEYS) -> Dict[str, Any]:
    """Load a checkpoint file into ``model``.

    Accepts MMSeg 0.x/1.x files (``{'meta', 'state_dict', 'optimizer', ...}``), a ``{'model': ...}``
    dict or a bare state_dict; ``revise_keys`` regex substitutions (default: drop a DDP ``module.``
    prefix) are applied to every key.

    Args:
        model: the module to fill.
        filename: local path, ``open-mmlab://``, ``mmcls://``, ``torchvision://`` or ``http(s)://``
            (must already be in the local cache; nothing is downloaded).
        map_location: as in ``torch.load``.
        strict: raise :class:`CheckpointError` on any key/shape mismatch instead of warning.
        logger: logger for the messages.
        revise_keys: ``(pattern, replacement)`` pairs applied with ``re.sub`` to each key.

    Returns:
        The whole checkpoint (a dict; a bare state_dict is returned as ``{'state_dict': ...}``).
    """
    filename = os.fspath(filename)
    return apply_checkpoint(model, load_checkpoint_file(filename, map_location), filename, strict,
                            logger, revise_keys)


def apply_checkpoint(model: nn.Module, checkpoint: Any, filename: PathLike, strict: bool = False,
                     logger: Optional[logging.Logger] = None,
                     revise_keys: Sequence[Tuple[str, str]] = DEFAULT_REVISE_KEYS
                     ) -> Dict[str, Any]:
    """:func:`load_checkpoint` for a checkpoint already read (e.g. by the resume search).

    Args:
        model: the module to fill.
        checkpoint: what :func:`load_checkpoint_file` returned for ``filename``.
        filename: where it came from; named in the messages.
        strict, logger, revise_keys: as in :func:`load_checkpoint`.

    Returns:
        The whole checkpoint, as :func:`load_checkpoint` returns it.
    """
    filename = os.fspath(filename)
    state_dict = _extract_state_dict(checkpoint, filename)

    def revise(key: str) -> str:
        for pattern, replacement in revise_keys:
            key = re.sub(pattern, replacement, key)
        return key

    revised = OrderedDict((revise(k), v) for k, v in state_dict.items())
    if getattr(state_dict, "_metadata", None) is not None:
        revised._metadata = OrderedDict((revise(k), v) for k, v in state_dict._metadata.items())
    (logger or logging.getLogger("seglab")).info(f"load checkpoint from {filename}")
    load_state_dict(model, revised, strict=strict, logger=logger, source=filename)
    if state_dict is checkpoint:
        return {"state_dict": checkpoint}
    return checkpoint


def load_checkpoint_with_prefix(prefix: str, filename: PathLike,
                                map_location: Any = "cpu") -> Dict[str, Any]:
    """The weights under ``prefix`` (e.g. ``'backbone.'``) with the prefix removed.

    For ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``: initialise a
    backbone from a whole segmentor's checkpoint.
    """
    filename = os.fspath(filename)
    prefix = prefix if prefix.endswith(".") else prefix + "."
    state_dict = _extract_state_dict(load_checkpoint_file(filename, map_location), filename)
    out = OrderedDict((k[len(prefix):], v) for k, v in state_dict.items() if k.startswith(prefix))
    if not out:
        heads = sorted({k.split(".", 1)[0] + "." for k in state_dict})
        raise CheckpointError(f"Checkpoint '{filename}' has no keys starting with '{prefix}'; its "
                              f"top-level prefixes are {heads}.")
    return out


def get_state_dict(module: nn.Module) -> "OrderedDict[str, torch.Tensor]":
    """``module.state_dict()`` of the model itself (DDP/DataParallel unwrapped)."""
    return _unwrap(module).state_dict()


def weights_to_cpu(state_dict: Mapping[str, torch.Tensor]) -> "OrderedDict[str, torch.Tensor]":
    """A copy of ``state_dict`` with every tensor on the CPU (keeps ``_metadata``)."""
    out = OrderedDict((k, v.detach().cpu()) for k, v in state_dict.items())
    out._metadata = getattr(state_dict, "_metadata", OrderedDict())
    return out


def to_plain(obj: Any, where: str = "meta") -> Any:
    """``obj`` with numpy values turned into Python ones, so that it loads with weights_only=True.

    Raises:
        TypeError: a value of another type, naming where it is.
    """
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):  # before the float check: np.float64 subclasses float
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str, bytes, torch.Tensor)):
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, Mapping):
        return {k: to_plain(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [to_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else tuple(items)
    raise TypeError(f"{where}: cannot store a {type(obj).__name__} in a checkpoint (it must load "
                    f"with torch.load(weights_only=True)); convert it to str, numbers, lists or "
                    f"dicts.")


def save_checkpoint(model: nn.Module, filename: PathLike,
                    optimizer: Optional[torch.optim.Optimizer] = None,
                    meta: Optional[Mapping[str, Any]] = None,
                    extra: Optional[Mapping[str, Any]] = None) -> None:
    """Write ``{'meta', 'state_dict', 'optimizer', **extra}`` to ``filename`` atomically.

    Args:
        model: its state_dict is saved on the CPU, without a DDP ``module.`` prefix.
        filename: destination; its directory is created. An existing file stays intact if the write
            fails.
        optimizer: saved as ``optimizer.state_dict()`` when given.
        meta: plain-typed information (``iter``, ``CLASSES``, ``PALETTE``, config text, ...);
            ``seglab_version`` and ``time`` are added.
        extra: more top-level entries (AMP scaler, RNG states, ...).

    Raises:
        CheckpointError: the file could not be written (disk full, permissions).
        TypeError: ``meta``/``extra`` holds objects that weights_only loading would refuse.
    """
    if meta is not None and not isinstance(meta, Mapping):
        raise TypeError(f"meta must be a dict or None, got {type(meta).__name__}")
    meta = dict(meta or {})
    meta.update(seglab_version=__version__, time=time.asctime())
    checkpoint: Dict[str, Any] = {"meta": to_plain(meta, "meta"),
                                  "state_dict": weights_to_cpu(get_state_dict(model))}
    if optimizer is not None:
        checkpoint["optimizer"] = optimizer.state_dict()
    for key, value in (extra or {}).items():
        if key in checkpoint:
            raise ValueError(f"extra key '{key}' would overwrite the checkpoint's own '{key}' "
                             f"entry")
        checkpoint[key] = to_plain(value, key)
    filename = os.fspath(filename)
    try:
        atomic_torch_save(checkpoint, filename)
    except OSError as err:
        raise CheckpointError(
            f"Could not write checkpoint '{filename}': {err.strerror or err}. Nothing was "
            f"overwritten (any previous file of that name is intact); free disk space or choose "
            f"another --work-dir.") from err
