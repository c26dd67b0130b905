"""Format a config dict as the text of a ``.py`` config that loads back to the same dict.

The output uses MMSegmentation's style (``key = dict(a=1, ...)``, tuples kept as tuples) and is
readable by seglab's restricted evaluator: only literals and ``dict(...)`` / ``float(...)``
calls appear in it.
"""
from __future__ import annotations

import keyword
import math
from typing import Any, List, Mapping

from ..errors import ConfigError

_INDENT = 4


def _is_name(key: Any) -> bool:
    return isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key)


class _Formatter:
    """Formats values; ``strict`` refuses values that would not load back (objects, functions)."""

    def __init__(self, width: int, strict: bool):
        self.width = width
        self.strict = strict

    def scalar(self, value: Any, path: str) -> str:
        if value is None or isinstance(value, (bool, int, str, bytes)):
            return repr(value)
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                return f"float('{value}')"  # 'nan', 'inf', '-inf' parse back with float()
            return repr(value)
        if self.strict:
            raise ConfigError(
                f"cannot write config key '{path}' = {value!r} ({type(value).__name__}) to a "
                f"config file: only dicts, lists, tuples, str, numbers, bool and None can be "
                f"written. Replace it by a plain value (e.g. a type name string).")
        return repr(value)

    def inline(self, value: Any, path: str) -> str:
        """The value on one line."""
        if isinstance(value, dict):
            if all(_is_name(k) for k in value):
                inner = ", ".join(f"{k}={self.inline(v, f'{path}.{k}')}" for k, v in value.items())
                return f"dict({inner})"
            inner = ", ".join(f"{self.inline(k, path)}: {self.inline(v, f'{path}.{k}')}"
                              for k, v in value.items())
            return "{" + inner + "}"
        if isinstance(value, list):
            return "[" + ", ".join(self.inline(v, f"{path}.{i}") for i, v in enumerate(value)) + "]"
        if isinstance(value, tuple):
            items = [self.inline(v, f"{path}.{i}") for i, v in enumerate(value)]
            return "(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"
        if isinstance(value, (set, frozenset)):
            if not value:
                return "set()"
            return "{" + ", ".join(self.inline(v, path) for v in sorted(value, key=repr)) + "}"
        return self.scalar(value, path)

    def block(self, value: Any, indent: int, prefix_len: int, path: str) -> str:
        """The value starting after ``prefix_len`` characters of the current line.

        Containers that do not fit in the width are split one item per line, closing on the
        last item's line as mmcv's pretty_text does.
        """
        one_line = self.inline(value, path)
        if indent + prefix_len + len(one_line) <= self.width or not value or not isinstance(
                value, (dict, list, tuple)):
            return one_line
        pad = " " * (indent + _INDENT)
        items: List[str] = []
        if isinstance(value, dict):
            named = all(_is_name(k) for k in value)
            for k, v in value.items():
                key = f"{k}=" if named else f"{self.inline(k, path)}: "
                items.append(pad + key + self.block(v, indent + _INDENT, len(key),
                                                    f"{path}.{k}"))
            opening, closing = ("dict(", ")") if named else ("{", "}")
        else:
            for i, v in enumerate(value):
                items.append(pad + self.block(v, indent + _INDENT, 0, f"{path}.{i}"))
            if isinstance(value, list):
                opening, closing = "[", "]"
            else:
                opening, closing = "(", ",)" if len(value) == 1 else ")"
        return opening + "\n" + ",\n".join(items) + closing


def format_config(cfg: Mapping, width: int = 100, strict: bool = False) -> str:
    """The text of a ``.py`` config defining each top-level key of ``cfg``.

    Args:
        cfg: the resolved config dict.
        width: target line length.
        strict: raise a ConfigError for values that would not load back (used by ``dump``).
    """
    fmt = _Formatter(width, strict)
    lines = []
    for key, value in cfg.items():
        if not _is_name(key):
            if strict:
                raise ConfigError(f"cannot write the top-level config key {key!r}: it is not a "
                                  f"valid Python name. Rename it.")
            lines.append(f"# {key!r} = {fmt.inline(value, str(key))}")
            continue
        lines.append(f"{key} = {fmt.block(value, 0, len(key) + 3, key)}")
    return "\n".join(lines) + "\n"
