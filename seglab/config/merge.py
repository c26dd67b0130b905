"""Merging config dicts with mmcv's rules, and command-line overrides.

The rules (mmcv 1.x ``Config._merge_a_into_b``): a dict in the child merges key by key into the
dict of the base; lists, tuples and scalars replace; ``_delete_=True`` in a child dict replaces
the base dict instead of merging; a child dict over a base value that is not a dict is an error
unless ``_delete_=True``. Key order is that of the base, new keys are appended.
"""
from __future__ import annotations

import difflib
from typing import Any, List, Mapping, Sequence, Union

from ..errors import ConfigError
from .config_dict import ConfigDict

BASE_KEY = "_base_"
DELETE_KEY = "_delete_"
DEPRECATION_KEY = "_deprecation_"


class ConfigMergeError(ConfigError, TypeError):
    """A child config dict cannot merge into a base value of another type (mmcv: TypeError)."""


def _dotted(path: Sequence[Any]) -> str:
    return ".".join(str(p) for p in path)


def strip_delete_keys(value: Any) -> Any:
    """Remove every ``_delete_`` key left in ``value`` (in place); return ``value``.

    ``_delete_`` only means something while merging into a base. mmcv leaves it in a dict that
    had nothing to replace, where it later fails the build as an unknown argument; seglab drops it.
    """
    if isinstance(value, dict):
        value.pop(DELETE_KEY, None)
        for v in value.values():
            strip_delete_keys(v)
    elif type(value) in (list, tuple):
        for v in value:
            strip_delete_keys(v)
    return value


def _is_index(key: Any) -> bool:
    return isinstance(key, str) and key.isdigit()


def merge_a_into_b(a: Mapping, b: Union[dict, list], allow_list_keys: bool = False,
                   path: Sequence[Any] = (), source: str = "") -> Union[dict, list]:
    """Merge dict ``a`` into ``b`` without modifying either; return the merged copy of ``b``.

    Args:
        a: the child (or override) dict.
        b: the base dict; with ``allow_list_keys`` also a list that ``a`` indexes with digit
            strings (``{'1': dict(...)}``).
        allow_list_keys: accept digit keys of ``a`` as indices into lists of ``b``.
        path: dotted position of ``b`` in the whole config, for error messages.
        source: the file (or 'override') that ``a`` comes from, for error messages.
    """
    merged: Union[dict, list] = b.copy()
    where = f" (in {source})" if source else ""
    for key, value in a.items():
        if isinstance(merged, list):
            if not (allow_list_keys and _is_index(key)):
                raise ConfigMergeError(
                    f"'{_dotted(path)}' is a list in the base config, so the child dict key "
                    f"'{key}'{where} cannot merge into it. Replace the whole list, or set "
                    f"'{DELETE_KEY}=True' to replace the base value.")
            index = int(key)
            if index >= len(merged):
                raise ConfigError(f"index {index} is out of range for '{_dotted(path)}', a list "
                                  f"of {len(merged)} items{where}.")
            if isinstance(value, dict) and isinstance(merged[index], (dict, list)):
                merged[index] = merge_a_into_b(value, merged[index], allow_list_keys,
                                               (*path, index), source)
            else:
                merged[index] = strip_delete_keys(value)
            continue
        if isinstance(value, dict):
            value = dict(value)  # popping _delete_ must not touch the caller's dict
            delete = value.pop(DELETE_KEY, False)
            if key in merged and not delete:
                allowed = (dict, list) if allow_list_keys else (dict,)
                if not isinstance(merged[key], allowed):
                    raise ConfigMergeError(
                        f"{_dotted((*path, key))}={value!r}{where} is a dict in the child config "
                        f"but a {type(merged[key]).__name__} ({merged[key]!r}) in the base "
                        f"config, so it cannot inherit from it. Set `{DELETE_KEY}=True` in the "
                        f"child dict to replace the base value.")
                merged[key] = merge_a_into_b(value, merged[key], allow_list_keys,
                                             (*path, key), source)
            else:
                merged[key] = ConfigDict(strip_delete_keys(value))
        else:
            merged[key] = value
    return merged


def _closest(name: str, keys: List[Any]) -> List[str]:
    names = [k for k in keys if isinstance(k, str)]
    return difflib.get_close_matches(name, names, n=1, cutoff=0.5)


def check_override_path(cfg: Mapping, full_key: str, allow_list_keys: bool = True) -> None:
    """Raise a ConfigError if ``full_key`` cannot be set in ``cfg``.

    Every part but the last must exist (a dict key, or a list index when ``allow_list_keys``);
    the last may be a new key of an existing dict (mmcv allows adding ``with_cp`` to a backbone
    dict), but not a new list index.
    """
    parts = full_key.split(".")
    node: Any = cfg
    for depth, part in enumerate(parts):
        prefix = _dotted(parts[:depth]) or "the config"
        is_leaf = depth == len(parts) - 1
        if isinstance(node, list):
            if not allow_list_keys:
                raise ConfigError(
                    f"override '{full_key}': '{prefix}' is a list and list indices are not "
                    f"allowed here; override the whole list '{prefix}'.")
            if not _is_index(part):
                raise ConfigError(
                    f"override '{full_key}': '{prefix}' is a list of {len(node)} items, so "
                    f"'{part}' must be an index 0..{len(node) - 1}.")
            if int(part) >= len(node):
                raise ConfigError(
                    f"override '{full_key}': index {part} is out of range for '{prefix}', a "
                    f"list of {len(node)} items (valid indices 0..{len(node) - 1}).")
            node = node[int(part)]
        elif isinstance(node, dict):
            if part not in node:
                if is_leaf:
                    return  # a new leaf key of an existing dict is allowed
                close = _closest(part, list(node))
                hint = (f" Did you mean '{_dotted([*parts[:depth], close[0]])}'?" if close
                        else "")
                keys = ", ".join(str(k) for k in node) or "(none)"
                raise ConfigError(
                    f"override '{full_key}': {prefix} has no key '{part}'.{hint} Only the last "
                    f"part of an override may be a new key. Keys of {prefix}: {keys}.")
            node = node[part]
        else:
            raise ConfigError(
                f"override '{full_key}': '{prefix}' is a {type(node).__name__} "
                f"({node!r}), not a dict, so it has no key '{part}'. Override '{prefix}' itself.")


def merge_override(cfg: dict, full_key: str, value: Any, allow_list_keys: bool = True) -> dict:
    """Apply one ``--options`` override ``full_key=value`` to ``cfg``; return the merged copy."""
    check_override_path(cfg, full_key, allow_list_keys)
    nested: dict = {}
    node = nested
    parts = full_key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return merge_a_into_b(nested, cfg, allow_list_keys=allow_list_keys,
                          source=f"override {full_key}")
