"""``--options`` / ``--cfg-options`` on the command line: ``key=value`` pairs for every tool.

Values are parsed as mmcv's ``DictAction`` parses them: ``1`` -> int, ``0.5`` -> float,
``true``/``False`` -> bool, ``None`` -> None, anything else a str; ``a=1,2`` and ``a=[1,2]`` are
lists, ``a=(1,2)`` a tuple, and brackets nest (``a=[(1,2),(3,4)]``). Quotes around a value
are stripped and spaces removed, as in mmcv.
"""
from __future__ import annotations

import argparse
from typing import Any, List, Optional, Sequence, Union


def parse_scalar(text: str) -> Any:
    """``'3'`` -> 3, ``'0.1'`` -> 0.1, ``'true'`` -> True, ``'None'`` -> None, else the text."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text == "None":
        return None
    return text


def _balanced(text: str) -> bool:
    return text.count("(") == text.count(")") and text.count("[") == text.count("]")


def _next_comma(text: str) -> int:
    """Index of the first comma outside brackets (len(text) if there is none)."""
    depth = 0
    for i, char in enumerate(text):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            return i
    return len(text)


def parse_value(text: str) -> Union[Any, List[Any], tuple]:
    """Parse the value part of ``key=value`` (see the module docstring)."""
    if not _balanced(text):
        raise ValueError(f"unbalanced brackets in {text!r}")
    text = text.strip("'\"").replace(" ", "")
    is_tuple = False
    if text.startswith("(") and text.endswith(")") and _next_comma(text) == len(text):
        is_tuple, text = True, text[1:-1]
    elif text.startswith("[") and text.endswith("]") and _next_comma(text) == len(text):
        text = text[1:-1]
    elif "," not in text:
        return parse_scalar(text)
    values = []
    while text:
        end = _next_comma(text)
        values.append(parse_value(text[:end]))
        text = text[end + 1:]
    return tuple(values) if is_tuple else values


class DictAction(argparse.Action):
    """argparse action turning ``KEY=VALUE`` arguments into a dict (see the module docstring).

    Several occurrences of the option (also ``--options`` beside ``--cfg-options`` when they
    share a dest) add to the same dict; a later value for the same key wins.
    """

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Union[str, Sequence[Any], None], option_string: Optional[str] = None
                 ) -> None:
        options = dict(getattr(namespace, self.dest, None) or {})
        for pair in ([values] if isinstance(values, str) else values or []):
            key, sep, text = pair.partition("=")
            if not sep or not key:
                parser.error(f"{option_string} expects key=value pairs (e.g. "
                             f"model.backbone.depth=101), got {pair!r}")
            try:
                options[key] = parse_value(text)
            except ValueError as e:
                parser.error(f"{option_string} {pair!r}: {e}")
        setattr(namespace, self.dest, options)


def add_cfg_options_args(parser: argparse.ArgumentParser, dest: str = "cfg_options"
                         ) -> argparse.ArgumentParser:
    """Add ``--cfg-options`` and its 0.x spelling ``--options`` (same dest) to ``parser``."""
    parser.add_argument(
        "--cfg-options", "--options", nargs="+", action=DictAction, dest=dest, default=None,
        metavar="KEY=VALUE",
        help="override config settings, e.g. model.backbone.depth=101 "
             "data.train.pipeline.2.img_scale=(1024,512) optimizer.lr=0.02; a list is a=1,2 or "
             "a=[1,2], a tuple a=(1,2); the last key may be new (model.backbone.with_cp=True)")
    return parser
