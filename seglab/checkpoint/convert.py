"""Turn a trusted checkpoint that holds pickled Python objects into a clean one.

:func:`seglab.checkpoint.load_checkpoint` refuses files whose pickle needs arbitrary globals (for
example ``mmcv.Config`` objects or custom classes in ``meta``). A user who trusts such a file runs
:func:`convert_checkpoint` once::

    python -c "from seglab.checkpoint import convert_checkpoint
    convert_checkpoint('in.pth', 'out.pth')"

The original is unpickled with ``weights_only=False`` (this executes the pickle: only do it for
files you trust). Classes whose package is not installed (mmcv, mmseg) are replaced by inert
stand-ins, so the conversion works without OpenMMLab packages. The output keeps the state_dict,
the optimizer state and the parts of ``meta`` made of plain types; everything else in ``meta``
becomes its ``repr``.
"""
from __future__ import annotations

import os
import pickle
from typing import Any, Dict, Union

import torch

from ..utils import atomic_torch_save
from .io import _extract_state_dict, weights_to_cpu

PathLike = Union[str, os.PathLike]


class _Missing:
    """Stand-in for a pickled class whose module cannot be imported; keeps its arguments."""

    qualname = "?"

    def __init__(self, *args: Any, **kwargs: Any):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<unpickled {self.qualname}>"


class _LenientUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return type(name, (_Missing,), {"qualname": f"{module}.{name}"})


class _LenientPickle:
    """A ``pickle_module`` for ``torch.load`` that tolerates missing classes."""

    Unpickler = _LenientUnpickler
    load = staticmethod(lambda f, **kw: _LenientUnpickler(f, **kw).load())
    __name__ = "seglab_lenient_pickle"


def _plain(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):  # before the float check: np.float64 subclasses float
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str, bytes, torch.Tensor)):
        return obj
    if isinstance(obj, dict):  # includes OrderedDict and mmcv ConfigDict when importable
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [_plain(v) for v in obj]
        return items if isinstance(obj, list) else tuple(items)
    pretty = getattr(obj, "pretty_text", None)  # an mmcv Config: keep its text
    return pretty if isinstance(pretty, str) else repr(obj)


def convert_checkpoint(src: PathLike, dst: PathLike) -> Dict[str, Any]:
    """Rewrite the trusted checkpoint ``src`` as ``dst`` that loads with ``weights_only=True``.

    Args:
        src: the original file (unpickled with weights_only=False: trusted files only).
        dst: where to write ``{'meta', 'state_dict'[, 'optimizer']}`` (atomically).

    Returns:
        The converted checkpoint.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    original = torch.load(src, map_location="cpu", weights_only=False, pickle_module=_LenientPickle)
    state_dict = weights_to_cpu(_extract_state_dict(original, src))
    clean: Dict[str, Any] = {"state_dict": state_dict}
    if original is not _extract_state_dict(original, src):  # a full checkpoint, not bare weights
        clean["meta"] = _plain(original.get("meta") or {})
        if isinstance(original.get("optimizer"), dict):
            clean["optimizer"] = _plain(original["optimizer"])
    atomic_torch_save(clean, dst)
    return clean
