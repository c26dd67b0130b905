"""Shared helpers of the losses: class weights from configs or files, and loss reduction.

The reduction rules are those of MMSegmentation 0.x (``mmseg/models/losses/utils.py``):
``reduction='mean'`` without an ``avg_factor`` is the mean over every element; with an
``avg_factor`` it is ``sum / (avg_factor + eps)``, eps being float32's machine epsilon, added as a
Python float so that an all-ignored batch gives 0 instead of a division by zero.
"""
from __future__ import annotations

import json
import os
import pickle
from typing import List, Optional, Sequence, Union

import numpy as np
import torch

from ...errors import ConfigError
from ...registry import current_build_path

#: The epsilon MMSegmentation adds to averaging denominators (a Python float, 1.1920928955e-07).
EPS: float = torch.finfo(torch.float32).eps

REDUCTIONS = ("none", "mean", "sum")

ClassWeight = Union[None, str, os.PathLike, Sequence[float], np.ndarray]


def where(owner: str) -> str:
    """``'CrossEntropyLoss at model.decode_head.loss_decode'`` (or just the class name)."""
    path = current_build_path()
    return f"{owner} at {path}" if path else owner


def check_reduction(reduction: Optional[str], owner: str, key: str = "reduction") -> None:
    """Raise a :class:`ConfigError` unless ``reduction`` is 'none', 'mean' or 'sum'."""
    if reduction not in REDUCTIONS:
        raise ConfigError(f"{where(owner)}: {key}={reduction!r} is not supported; use one of "
                          f"{', '.join(repr(r) for r in REDUCTIONS)}.")


# Globals that a pickled list / NumPy array of class weights needs, and nothing else: a pickle
# naming any other callable (os.system, eval, ...) is refused before anything runs.
_SAFE_PICKLE_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("collections", "OrderedDict"),
}


class _ClassWeightUnpickler(pickle.Unpickler):
    """An unpickler that only builds plain containers, numbers and numeric NumPy arrays."""

    def __init__(self, file, path: str):
        super().__init__(file)
        self._path = path

    def find_class(self, module: str, name: str):
        if (module, name) in _SAFE_PICKLE_GLOBALS:
            return super().find_class(module, name)
        if module.startswith("numpy") and module.endswith("dtypes") and name.endswith("DType"):
            return super().find_class(module, name)  # NumPy 2 pickles dtypes by their class
        raise ConfigError(
            f"class_weight file '{self._path}' is a pickle that needs '{module}.{name}'; seglab "
            f"never unpickles arbitrary code. Save the weights as a plain list (.json/.yaml), a "
            f"NumPy .npy file (np.save) or a pickle of a list of floats.")


def _load_class_weight_file(path: str) -> object:
    if not os.path.isfile(path):
        raise ConfigError(f"class_weight file '{path}' does not exist; give a list of floats or "
                          f"the path of a .npy, .json, .yaml or .pkl file.")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npy":
            return np.load(path, allow_pickle=False)
        if ext == ".json":
            with open(path, "r", encoding="utf-8") as f:
                return json.load(f)
        if ext in (".yaml", ".yml"):
            import yaml
            with open(path, "r", encoding="utf-8") as f:
                return yaml.safe_load(f)
        if ext in (".pkl", ".pickle"):
            with open(path, "rb") as f:
                return _ClassWeightUnpickler(f, path).load()
    except ConfigError:
        raise
    except Exception as exc:  # corrupt file: say which one and what was expected
        raise ConfigError(f"class_weight file '{path}' could not be read ({type(exc).__name__}: "
                          f"{exc}); it must hold a 1-D list of floats.") from exc
    raise ConfigError(f"class_weight file '{path}' has an unsupported extension '{ext}'; use .npy "
                      f".json, .yaml/.yml or .pkl/.pickle.")


def get_class_weight(class_weight: ClassWeight) -> Optional[List[float]]:
    """Class weights as a list of floats, read from a file when given a path.

    Args:
        class_weight: None, a sequence of numbers, or the path of a ``.npy`` (loaded without
            pickle), ``.json``, ``.yaml``/``.yml`` or ``.pkl`` file (restricted unpickler: plain
            lists and numeric NumPy arrays only) holding a 1-D list of numbers.

    Returns:
        None or the weights as a list of Python floats (one per class).

    Raises:
        ConfigError: for a missing/unreadable/unsafe file or a value that is not a flat list of
            numbers.
    """
    if class_weight is None:
        return None
    source = "class_weight"
    if isinstance(class_weight, (str, os.PathLike)):
        source = f"class_weight file '{os.fspath(class_weight)}'"
        class_weight = _load_class_weight_file(os.fspath(class_weight))
    if isinstance(class_weight, torch.Tensor):
        class_weight = class_weight.detach().cpu().numpy()
    try:
        arr = np.asarray(class_weight)
        if arr.dtype == object or arr.ndim != 1 or arr.size == 0:
            raise ValueError
        values = [float(v) for v in arr.astype(np.float64)]
    except (TypeError, ValueError):
        raise ConfigError(f"{where('loss')}: {source} must be a non-empty 1-D list of numbers (one "
                          f"per class), got {class_weight!r}.") from None
    return values


def reduce_loss(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce an element-wise loss.

    Args:
        loss: element-wise loss of any shape.
        reduction: 'none' (returned as is), 'mean' or 'sum' (0-d tensor).
    """
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"reduction={reduction!r} is not one of {REDUCTIONS}")


def weight_reduce_loss(loss: torch.Tensor, weight: Optional[torch.Tensor] = None,
                       reduction: str = "mean",
                       avg_factor: Optional[Union[float, torch.Tensor]] = None) -> torch.Tensor:
    """Apply an element-wise weight, then reduce.

    Args:
        loss: element-wise loss, e.g. (N, H, W).
        weight: element-wise weight broadcastable to ``loss`` (same number of dimensions; a
            size-1 second axis broadcasts over classes).
        reduction: 'none', 'mean' or 'sum'.
        avg_factor: the denominator of 'mean' instead of ``loss.numel()``; the mean is then
            ``loss.sum() / (avg_factor + EPS)``. Not allowed with 'sum'.

    Returns:
        The weighted loss ('none') or a 0-d tensor.
    """
    if weight is not None:
        if weight.dim() != loss.dim() or (weight.dim() > 1 and weight.size(1) not in
                                          (1, loss.size(1))):
            raise ValueError(f"loss weight of shape {tuple(weight.shape)} does not match the "
                             f"element-wise loss of shape {tuple(loss.shape)}.")
        loss = loss * weight
    if avg_factor is None:
        return reduce_loss(loss, reduction)
    if reduction == "mean":
        return loss.sum() / (avg_factor + EPS)
    if reduction == "none":
        return loss
    raise ValueError('avg_factor can not be used with reduction="sum"')
