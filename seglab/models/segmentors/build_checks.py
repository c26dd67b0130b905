"""Build-time checks of a segmentor: do the heads read what the backbone (or neck) produces?

A head's ``in_channels`` that disagrees with the backbone would otherwise fail at the first
forward pass with a conv shape error that names neither key. :func:`check_heads` compares each
head's :meth:`~seglab.models.decode_heads.BaseDecodeHead.input_specs` with the producer's
declared :meth:`output_shapes` and raises a :class:`~seglab.errors.ConfigError` that names the
config key, its value, the producer's channels and the fix.
"""
from __future__ import annotations

from typing import Iterable, List, Optional, Tuple

from torch import nn

from ...errors import ConfigError
from ..backbones.base import OutputShapes


def producer_shapes(backbone: nn.Module, neck: Optional[nn.Module]) -> Tuple[OutputShapes, str]:
    """What the heads receive, and who produces it (``'backbone ResNetV1c'``, ``'neck FPN'``).

    A backbone or neck without a declaration (not built on the base classes) gives None.
    """
    declare = getattr(backbone, "output_shapes", None)
    shapes = declare() if callable(declare) else None
    name = f"backbone {type(backbone).__name__}"
    if neck is not None:
        declare = getattr(neck, "output_shapes", None)
        shapes = declare(shapes) if callable(declare) and shapes is not None else None
        name = f"neck {type(neck).__name__}"
    return shapes, name


def _pairs(value, index) -> List[Tuple[int, int]]:
    if isinstance(value, tuple):
        return list(zip(index, value))
    return [(index, value)]


def _show(values) -> str:
    return str(list(values)) if isinstance(values, (list, tuple)) else str(values)


def check_head(head: nn.Module, shapes: OutputShapes, key: str, producer: str) -> None:
    """Raise a ConfigError if ``head`` selects outputs ``shapes`` lacks or expects other channels.

    Args:
        head: a decode head with ``input_specs()`` (others are not checked).
        shapes: the producer's declaration; None skips the check.
        key: the head's config path (``'model.auxiliary_head[1]'``).
        producer: who produces ``shapes`` (``'backbone ResNetV1c'``).
    """
    specs = getattr(head, "input_specs", None)
    if shapes is None or not callable(specs):
        return
    count = len(shapes)
    channels = tuple(None if s is None else s.channels for s in shapes)
    declared = f"the {producer}, whose {count} outputs have channels {channels}"
    for spec in specs():
        pairs = _pairs(spec.channels, spec.index)
        for index, _ in pairs:
            if not -count <= index < count:
                where = (f"{key}.{spec.index_key} = {_show(spec.index)} selects" if spec.index_key
                         else f"{key}.{spec.key} is read from")
                raise ConfigError(
                    f"{where} output {index}, but the head reads {declared}; use indices "
                    f"0..{count - 1} (or -{count}..-1).")
        wrong = [(i, c) for i, c in pairs if shapes[i] is not None and shapes[i].channels != c]
        if not wrong:
            continue
        fixed = tuple(c if shapes[i] is None else shapes[i].channels for i, c in pairs)
        fix = fixed if isinstance(spec.channels, tuple) else fixed[0]
        at = f" (at {spec.index_key} = {_show(spec.index)})" if spec.index_key else ""
        details = "; ".join(f"output {i} has {shapes[i].channels} channels, not {c}"
                            for i, c in wrong)
        raise ConfigError(
            f"{key}.{spec.key} = {_show(spec.channels)}{at} does not match {declared}: "
            f"{details}. Set {key}.{spec.key} = {_show(fix)}"
            + (f", or choose other outputs with {key}.{spec.index_key}." if spec.index_key
               else "."))


def check_heads(backbone: nn.Module, neck: Optional[nn.Module],
                heads: Iterable[Tuple[str, nn.Module]]) -> None:
    """:func:`check_head` for each ``(config path, head)`` against the backbone (or neck)."""
    shapes, producer = producer_shapes(backbone, neck)
    for key, head in heads:
        check_head(head, shapes, key, producer)
