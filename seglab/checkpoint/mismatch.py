"""Why a state_dict does not fit a model: the report and the error strict loading raises.

Kept apart from :mod:`seglab.checkpoint.io` so the long, user-facing wording (and the hints that
differ for an API caller and a command-line tool) lives in one place.
"""
from __future__ import annotations

import re
from typing import List, Optional, Sequence, Tuple

import torch

from ..errors import CheckpointError

_MAX_LISTED = 40  # keys listed per category in mismatch messages


def _listing(title: str, items: List[str]) -> str:
    shown = items[:_MAX_LISTED]
    more = f", ... and {len(items) - len(shown)} more" if len(items) > len(shown) else ""
    return f"  {title} ({len(items)}): {', '.join(shown)}{more}"


def _mismatch_report(missing: List[str], unexpected: List[str],
                     shapes: List[Tuple[str, torch.Size, torch.Size]], source: str = "checkpoint",
                     tool: Optional[str] = None) -> str:
    lines = []
    if missing:
        lines.append(_listing("missing keys (in the model, not in the checkpoint)", missing))
    if unexpected:
        lines.append(_listing("unexpected keys (in the checkpoint, not in the model)", unexpected))
    if shapes:
        lines.append(_listing("shape mismatches", [f"{k}: checkpoint {list(a)} vs model {list(b)}"
                                                   for k, a, b in shapes]))
    classifiers = [(a, b) for k, a, b in shapes if re.search(r"conv_seg\.(weight|bias)$", k)]
    if classifiers and tool is not None:
        # A tool that loads strictly for the user: strict=False is no option its users have.
        trained, built = classifiers[0]  # state_dict order: the decode head before the auxiliary
        lines.append(f"  hint: the checkpoint was trained for {trained[0]} classes and the "
                     f"config builds {built[0]} (model.decode_head.num_classes); {tool} needs the "
                     f"config the checkpoint was trained with. To use the checkpoint for "
                     f"{built[0]} classes, fine-tune it first with tools/train.py CONFIG "
                     f"--load-from {source}, which loads the weights that fit and initialises the "
                     f"mismatched classifier layers (conv_seg) afresh.")
    elif classifiers:
        lines.append("  hint: the checkpoint was trained for another num_classes; set "
                     "model.decode_head.num_classes (and model.auxiliary_head.num_classes) to "
                     "match it, or load with strict=False to skip these keys (e.g. --load-from for "
                     "fine-tuning).")
    elif shapes and tool is not None:
        lines.append(f"  hint: the checkpoint was trained with another architecture or width; "
                     f"{tool} needs the config it was trained with (seglab's and MMSegmentation's "
                     f"tools/train.py keep its text in the checkpoint's meta['config']).")
    elif shapes:
        lines.append("  hint: the checkpoint was trained with another architecture or width; "
                     "check the config matches the checkpoint, or load with strict=False to skip "
                     "these keys.")
    return "\n".join(lines)


class CheckpointMismatchError(CheckpointError):
    """Strict loading found missing, unexpected or mis-shaped keys; nothing was loaded.

    The message lists them with a hint for an API caller (who can load with ``strict=False``);
    a command-line tool that loads strictly on its user's behalf re-words the hint with
    :meth:`for_tool`.

    Attributes:
        source: the checkpoint's file name.
        missing: keys of the model absent from the checkpoint.
        unexpected: keys of the checkpoint absent from the model.
        shapes: ``(key, checkpoint shape, model shape)`` of the keys whose shapes differ.
    """

    def __init__(self, source: str = "checkpoint", missing: Sequence[str] = (),
                 unexpected: Sequence[str] = (),
                 shapes: Sequence[Tuple[str, torch.Size, torch.Size]] = (),
                 tool: Optional[str] = None):
        self.source, self.tool = source, tool
        self.missing, self.unexpected, self.shapes = list(missing), list(unexpected), list(shapes)
        super().__init__(f"Checkpoint '{source}' does not match the model (strict loading):\n"
                         + _mismatch_report(self.missing, self.unexpected, self.shapes, source,
                                            tool))

    def __reduce__(self):
        # Exception's default would call __init__ with the message as `source`; rebuild from the
        # keys instead, and keep attributes set later (e.g. same_on_every_rank).
        return (type(self), (self.source, self.missing, self.unexpected, self.shapes, self.tool),
                self.__dict__)

    def for_tool(self, tool: str) -> "CheckpointMismatchError":
        """The same mismatch, with the hint for the users of ``tool`` (e.g. ``'tools/test.py'``)."""
        return CheckpointMismatchError(self.source, self.missing, self.unexpected, self.shapes,
                                       tool)
