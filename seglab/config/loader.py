"""Reading one config file and its ``_base_`` files into a merged dict (mmcv 1.x semantics).

Order of work for a file, as in mmcv's ``Config._file2dict``:

1. ``{{fileDirname}}``, ``{{fileBasename}}``, ``{{fileBasenameNoExtension}}`` and
   ``{{fileExtname}}`` are replaced in the text.
2. Each ``{{_base_.a.b}}`` becomes a placeholder token, and the file is read (``.py`` by the
   restricted evaluator, ``.json``/``.yaml`` by their safe parsers).
3. The ``_base_`` files (a path or a list of paths, relative to this file) are read the same way
   and combined; a top-level key defined in two of them is an error.
4. The placeholders are replaced by the values they name in the combined base dict (deep
   copies); a placeholder inside a longer string is replaced by the value's text.
5. This file's dict is merged into the combined base dict (``merge.merge_a_into_b``).
"""
from __future__ import annotations

import copy
import difflib
import json
import os
import os.path as osp
import re
import uuid
import warnings
from typing import Any, Dict, List, Mapping, Sequence, Tuple

from ..errors import ConfigError
from .evaluator import RestrictedEvaluator
from .merge import BASE_KEY, DEPRECATION_KEY, merge_a_into_b

SUFFIXES = (".py", ".json", ".yaml", ".yml")
_BASE_REF = re.compile(r"\{\{\s*" + BASE_KEY + r"\.([\w\.]+)\s*\}\}")


def check_suffix(filename: str) -> str:
    suffix = osp.splitext(filename)[1]
    if suffix not in SUFFIXES:
        raise ConfigError(f"unsupported config file type '{suffix or '(none)'}' for {filename}: "
                          f"seglab reads {', '.join(SUFFIXES)} config files. Rename or convert "
                          f"the file.")
    return suffix


def _missing_file_message(filename: str, included_from: str) -> str:
    origin = f" (a _base_ of {included_from})" if included_from else ""
    message = f"config file not found: {filename}{origin}."
    directory = osp.dirname(filename)
    if osp.isdir(directory):
        close = difflib.get_close_matches(osp.basename(filename), os.listdir(directory), n=3)
        if close:
            message += f" Did you mean {', '.join(repr(osp.join(directory, c)) for c in close)}?"
    else:
        message += f" The folder {directory} does not exist either."
    if included_from:
        message += " _base_ paths are relative to the file that names them."
    return message


def substitute_predefined_vars(text: str, filename: str) -> str:
    """Replace mmcv's ``{{fileDirname}}``-style variables with parts of ``filename``."""
    values = {
        "fileDirname": osp.dirname(filename),
        "fileBasename": osp.basename(filename),
        "fileBasenameNoExtension": osp.splitext(osp.basename(filename))[0],
        "fileExtname": osp.splitext(filename)[1],
    }
    for name, value in values.items():
        text = re.sub(r"\{\{\s*" + name + r"\s*\}\}", value.replace("\\", "/"), text)
    return text


def _replace_base_refs(text: str, quoted: bool) -> Tuple[str, Dict[str, str]]:
    """Replace ``{{_base_.x}}`` by unique tokens; return the text and {token: 'x'}.

    In a ``.py`` file the token is a bare name that the evaluator reads as the token string
    (inside a string literal it stays text). In JSON/YAML a reference standing as a value
    becomes a quoted string, as in mmcv; one inside a string stays bare text in that string.
    """
    refs: Dict[str, str] = {}
    by_ref: Dict[str, str] = {}
    tag = uuid.uuid4().hex[:8]

    def token_for(match: "re.Match[str]") -> str:
        ref = match.group(1)
        if ref not in by_ref:
            token = f"_seglab_base_ref_{len(by_ref)}_{tag}_"
            by_ref[ref] = token
            refs[token] = ref
        before = match.string[:match.start()].rstrip(" \t")
        as_value = not before or before[-1] in ":[,-\n{"
        return f'"{by_ref[ref]}"' if quoted and as_value else by_ref[ref]

    return _BASE_REF.sub(token_for, text), refs


def parse_text(text: str, suffix: str, filename: str, extra_names: Mapping[str, Any]) -> dict:
    """Read config text of the given type into a dict (no ``_base_`` handling)."""
    if suffix == ".py":
        return RestrictedEvaluator(filename, text, extra_names).run()
    if suffix == ".json":
        try:
            data = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as e:
            raise ConfigError(f"{filename}:{e.lineno}: invalid JSON: {e.msg}.") from None
        except RecursionError:
            raise ConfigError(f"{filename}: the JSON is nested too deeply to be read.") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{filename}{line}: invalid YAML: {e}.") from None
        data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{filename}: the top level of a config must be a mapping of keys to "
                          f"values, got a {type(data).__name__}.")
    return data


def unalias(value: Any) -> Any:
    """Copy of ``value`` in which no dict or list object appears twice.

    ``norm_cfg`` used in three heads is one object in the file; merging must not let a change
    (e.g. popping ``_delete_``) at one place show up at the others.
    """
    if isinstance(value, dict):
        return {k: unalias(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(unalias(v) for v in value)
    return copy.deepcopy(value)


def _lookup_ref(base: Mapping, ref: str, filename: str, base_files: Sequence[str]) -> Any:
    node: Any = base
    walked: List[str] = []
    for part in ref.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            where = ".".join(walked) or "the base config"
            keys = list(node) if isinstance(node, dict) else []
            close = difflib.get_close_matches(part, [k for k in keys if isinstance(k, str)], n=1)
            hint = f" Did you mean '{'.'.join([*walked, close[0]])}'?" if close else ""
            raise ConfigError(
                f"{filename}: {{{{_base_.{ref}}}}} refers to '{ref}', but {where} has no "
                f"'{part}' (bases: {', '.join(base_files)}).{hint}")
        walked.append(part)
    return node


def substitute_base_refs(value: Any, refs: Mapping[str, str], base: Mapping, filename: str,
                         base_files: Sequence[str]) -> Any:
    """Replace placeholder tokens in ``value`` by the base values they name."""
    if isinstance(value, dict):
        return {k: substitute_base_refs(v, refs, base, filename, base_files)
                for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(substitute_base_refs(v, refs, base, filename, base_files)
                           for v in value)
    if isinstance(value, str):
        if value in refs:
            return copy.deepcopy(_lookup_ref(base, refs[value], filename, base_files))
        for token, ref in refs.items():
            if token in value:
                value = value.replace(token, str(_lookup_ref(base, ref, filename, base_files)))
    return value


def _base_paths(cfg_dict: dict, filename: str) -> List[str]:
    bases = cfg_dict.pop(BASE_KEY)
    bases = list(bases) if isinstance(bases, (list, tuple)) else [bases]
    for base in bases:
        if not isinstance(base, str):
            raise ConfigError(f"{filename}: _base_ must be a path or a list of paths, got "
                              f"{base!r}.")
        if "::" in base:
            raise ConfigError(f"{filename}: _base_ '{base}' names a file of another package "
                              f"(mmengine's 'package::path' form); copy that file next to the "
                              f"config and use a relative path.")
    return [osp.normpath(osp.join(osp.dirname(filename), base)) for base in bases]


def load_config_file(filename: str, use_predefined_variables: bool = True,
                     _stack: Tuple[str, ...] = (), _included_from: str = ""
                     ) -> Tuple[dict, str]:
    """Read ``filename`` and its bases; return ``(merged dict, text)``.

    The text is each file's path and content, bases first, like mmcv's ``cfg.text``.
    """
    filename = osp.abspath(osp.expanduser(os.fspath(filename)))
    suffix = check_suffix(filename)
    if not osp.isfile(filename):
        raise ConfigError(_missing_file_message(filename, _included_from))
    if filename in _stack:
        chain = " -> ".join([*_stack[_stack.index(filename):], filename])
        raise ConfigError(f"cyclic _base_ inheritance: {chain}. Remove one of these _base_ "
                          f"entries.")
    with open(filename, encoding="utf-8") as f:
        original = f.read()
    return load_config_text(original, suffix, filename, use_predefined_variables, _stack)


def load_config_text(original: str, suffix: str, filename: str,
                     use_predefined_variables: bool = True, _stack: Tuple[str, ...] = ()
                     ) -> Tuple[dict, str]:
    """Like :func:`load_config_file` for text already read; ``filename`` places its bases."""
    text = substitute_predefined_vars(original, filename) if use_predefined_variables else original
    text, refs = _replace_base_refs(text, quoted=suffix != ".py")
    try:
        cfg_dict = unalias(parse_text(text, suffix, filename, {t: t for t in refs}))
    except ConfigError as e:
        message = str(e)
        for token, ref in refs.items():  # show what the user wrote, not the placeholder
            message = message.replace(f'"{token}"', token).replace(token, f"{{{{_base_.{ref}}}}}")
        raise ConfigError(message) from None

    if DEPRECATION_KEY in cfg_dict:
        info = cfg_dict.pop(DEPRECATION_KEY) or {}
        message = f"The config file {filename} will be deprecated in the future."
        if isinstance(info, dict) and "expected" in info:
            message += f" Please use {info['expected']} instead."
        if isinstance(info, dict) and "reference" in info:
            message += f" More information can be found at {info['reference']}"
        warnings.warn(message, DeprecationWarning)

    cfg_text = filename + "\n" + original
    if BASE_KEY not in cfg_dict:
        if refs:
            ref = next(iter(refs.values()))
            raise ConfigError(f"{filename}: {{{{_base_.{ref}}}}} is used but the file has no "
                              f"_base_; add _base_ = '<base file>' or write the value itself.")
        return cfg_dict, cfg_text

    base_files = _base_paths(cfg_dict, filename)
    base_dict: Dict[str, Any] = {}
    defined_in: Dict[str, str] = {}
    texts = []
    for base_file in base_files:
        sub_dict, sub_text = load_config_file(base_file, use_predefined_variables,
                                              (*_stack, filename), filename)
        duplicates = [k for k in sub_dict if k in base_dict]
        if duplicates:
            details = ", ".join(f"'{k}' (in {defined_in[k]} and {base_file})" for k in duplicates)
            raise ConfigError(
                f"{filename}: duplicate key is not allowed among bases: {details}. Define "
                f"each key in one base only, or set it in {osp.basename(filename)} itself.")
        for k in sub_dict:
            defined_in[k] = base_file
        base_dict.update(sub_dict)
        texts.append(sub_text)

    cfg_dict = substitute_base_refs(cfg_dict, refs, base_dict, filename, base_files)
    merged = merge_a_into_b(cfg_dict, base_dict, source=filename)
    return merged, "\n".join([*texts, cfg_text])
