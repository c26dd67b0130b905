"""``ConfigDict``: a dict whose keys can also be read and written as attributes.

It reproduces the behaviour of mmcv's ``ConfigDict`` (an ``addict.Dict``) that configs rely on,
without the dependency: nested dicts, also those inside lists and tuples, become ``ConfigDict``
when stored; tuples stay tuples; a missing key raises ``KeyError`` for ``cfg['x']`` and
``AttributeError`` for ``cfg.x`` (so ``getattr(cfg, 'x', default)`` and ``hasattr`` work).
"""
from __future__ import annotations

import copy
import difflib
from typing import Any, Dict, Iterable, Mapping


def to_config_value(value: Any) -> Any:
    """Convert dicts nested in ``value`` (also inside lists/tuples) into ``ConfigDict``.

    Lists and tuples are rebuilt with their own type, so a tuple stays a tuple.
    """
    if isinstance(value, ConfigDict):
        return value
    if isinstance(value, dict):
        return ConfigDict(value)
    if type(value) in (list, tuple):
        return type(value)(to_config_value(v) for v in value)
    return value


def to_plain(value: Any) -> Any:
    """Deep copy of ``value`` with every ``ConfigDict`` turned into a plain ``dict``."""
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(to_plain(v) for v in value)
    return copy.deepcopy(value)


class ConfigDict(dict):
    """A ``dict`` with attribute access, used for every dict inside a :class:`Config`.

    Example:
        >>> d = ConfigDict(model=dict(backbone=dict(depth=50)))
        >>> d.model.backbone.depth
        50
        >>> d.model.backbone.with_cp = True
        >>> d['model']['backbone']['with_cp']
        True
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    # Item access converts nested dicts so that attribute access works at every depth.
    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, to_config_value(value))

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def __getattr__(self, name: str) -> Any:
        # Dunder lookups (copy, pickle, IPython probes) must not be treated as config keys.
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            close = difflib.get_close_matches(name, [k for k in self if isinstance(k, str)], n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise AttributeError(f"'ConfigDict' object has no attribute '{name}'.{hint}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> Iterable[str]:
        return list(super().__dir__()) + [k for k in self if isinstance(k, str)]

    def copy(self) -> "ConfigDict":
        return ConfigDict(self)

    def __copy__(self) -> "ConfigDict":
        return ConfigDict(self)

    def __deepcopy__(self, memo: Dict[int, Any]) -> "ConfigDict":
        other = ConfigDict()
        memo[id(self)] = other
        for key, value in self.items():
            dict.__setitem__(other, copy.deepcopy(key, memo), copy.deepcopy(value, memo))
        return other

    def __reduce__(self):
        # Rebuild from a plain dict: robust for DataLoader workers and independent of __dict__.
        return (ConfigDict, (dict(self),))

    def to_dict(self) -> Dict[Any, Any]:
        """A deep copy made of plain ``dict`` objects (lists and tuples kept)."""
        return to_plain(self)


def as_config_dict(value: Mapping) -> ConfigDict:
    """``value`` as a ``ConfigDict`` (converted if it is a plain mapping)."""
    return value if isinstance(value, ConfigDict) else ConfigDict(value)
