"""The command line shared by ``tools/model_converters/*2mmseg.py``: ``SRC DST [MODEL]``.

Like MMSegmentation's tools, it reads ``SRC`` (a checkpoint dict with ``'state_dict'`` or
``'model'``, or a bare state_dict), converts its keys and writes the bare converted state_dict
to ``DST``. Unlike them, it reads with ``torch.load(weights_only=True)`` (a pickle that needs code
is refused, with the way to clean a trusted file), writes atomically (an interrupted write
leaves no half file), prints what it did, and answers bad input with one ``error:`` line and
exit status 2 instead of a traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import OrderedDict
from typing import Any, Callable, Mapping, Optional, Sequence

import torch

from ..errors import CheckpointError
from ..utils import atomic_torch_save
from .converters import DROPPED_PREFIXES
from .io import load_checkpoint_file

Converter = Callable[..., "OrderedDict[str, torch.Tensor]"]


def state_dict_of(checkpoint: Any, src: str) -> Mapping[str, torch.Tensor]:
    """The weights in what ``src`` held, picked as MMSegmentation's converters pick them.

    Args:
        checkpoint: the loaded object.
        src: its file name, for the messages.

    Returns:
        ``checkpoint['state_dict']``, else ``checkpoint['model']``, else ``checkpoint`` itself.

    Raises:
        CheckpointError: not a dict, no tensors, or values that are not tensors (named).
    """
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f"'{src}' holds a {type(checkpoint).__name__}, not a state dict "
                              f"(a dict of tensors, or a checkpoint dict with 'state_dict' or "
                              f"'model').")
    state_dict = checkpoint
    for key in ("state_dict", "model"):
        if key in checkpoint:
            state_dict = checkpoint[key]
            if not isinstance(state_dict, Mapping):
                raise CheckpointError(f"'{src}': its '{key}' entry is a "
                                      f"{type(state_dict).__name__}, not a state dict.")
            break
    where = "" if state_dict is checkpoint else f"['{key}']"
    if not state_dict:
        raise CheckpointError(f"'{src}'{where} is empty: there are no weights to convert.")
    bad = [str(k) for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if bad:
        kinds = sorted({type(state_dict[k]).__name__ for k in state_dict if str(k) in bad})
        shown = ", ".join(repr(k) for k in bad[:8]) + (", ..." if len(bad) > 8 else "")
        raise CheckpointError(f"'{src}'{where} is not a state dict: the values of {shown} are "
                              f"not tensors ({', '.join(kinds)}); expected a dict of tensors or "
                              f"a checkpoint dict with 'state_dict' or 'model'.")
    return state_dict


def _fail(prog: str, message: str) -> int:
    # One line, as argparse reports a usage error, and the same exit status.
    print(f"{prog}: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def run_converter(argv: Optional[Sequence[str]], prog: str, family: str, description: str,
                  convert: Converter, choices: Optional[Mapping[str, Sequence[str]]] = None
                  ) -> int:
    """Parse ``SRC DST [extra positionals]``, convert, write; the body of each tool's ``main``.

    Args:
        argv: the arguments (None: ``sys.argv[1:]``).
        prog: the tool's name in messages (``'mit2mmseg'``).
        family: the key of :data:`seglab.checkpoint.converters.DROPPED_PREFIXES`.
        description: the ``--help`` text.
        convert: ``convert(state_dict, **extra)`` -> the converted state_dict.
        choices: extra positional arguments and their allowed values (Twins' ``model``), passed
            to ``convert`` by name.

    Returns:
        0 on success, 2 on bad input (the reason printed on stderr).
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("src", help="the original weights (a local file; model-zoo names and "
                                    "URLs must already be in the local cache)")
    parser.add_argument("dst", help="where to write the converted state_dict (.pth)")
    for name, allowed in (choices or {}).items():
        parser.add_argument(name, choices=list(allowed), metavar=name,
                            help=f"one of {', '.join(allowed)}")
    args = parser.parse_args(argv)  # exits with status 2 on a usage error, as argparse does
    extra = {name: getattr(args, name) for name in (choices or {})}
    if "://" not in args.src and not os.path.isfile(os.path.expanduser(args.src)):
        return _fail(prog, f"'{args.src}' does not exist or is not a file (looked at "
                           f"{os.path.abspath(os.path.expanduser(args.src))}).")
    try:  # the loader's and state_dict_of's messages name the file already
        state_dict = state_dict_of(load_checkpoint_file(args.src), args.src)
    except CheckpointError as err:
        return _fail(prog, str(err))
    try:
        converted = convert(state_dict, **extra)
    except CheckpointError as err:
        return _fail(prog, f"'{args.src}': {err}")
    try:
        atomic_torch_save(converted, args.dst)
    except OSError as err:
        return _fail(prog, f"could not write '{args.dst}': {err.strerror or err} (nothing was "
                           f"written; a file already there is intact).")
    dropped = [k for k in state_dict if str(k).startswith(DROPPED_PREFIXES[family])]
    note = (f"; left out, as MMSegmentation's tool does (ImageNet classifier): "
            f"{', '.join(dropped)}" if dropped else "")
    print(f"{prog}: converted {len(state_dict)} tensors of {args.src} into {len(converted)} "
          f"under MMSegmentation's names, written to {os.path.abspath(args.dst)}{note}")
    return 0
