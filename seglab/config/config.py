"""``Config``: a resolved config (from a file or a dict) with attribute access, overrides, dump.

Example:
    >>> cfg = Config.fromfile('configs/fcn/fcn_r50-d8_512x512_20k_voc12aug.py')
    >>> cfg.model.decode_head.num_classes
    21
    >>> cfg.merge_from_dict({'model.backbone.with_cp': True})
    >>> cfg.dump('work_dir/fcn_r50-d8_512x512_20k_voc12aug.py')
"""
from __future__ import annotations

import copy
import json
import os
import os.path as osp
import warnings
from typing import Any, Dict, Iterator, Mapping, Optional, Union

from ..errors import ConfigError
from ..registry import OPENMMLAB_SCOPES
from .config_dict import ConfigDict, to_plain
from .loader import check_suffix, load_config_file, load_config_text
from .merge import merge_override, strip_delete_keys
from .pretty import format_config

PathLike = Union[str, "os.PathLike[str]"]
RESERVED_KEYS = ("filename", "text", "pretty_text")
_OWN_ATTRIBUTES = ("_cfg_dict", "_filename", "_text")


def _lists_for_tuples(value: Any) -> Any:
    """Plain data for JSON/YAML writers, which do not know tuples or ConfigDict."""
    if isinstance(value, dict):
        return {k: _lists_for_tuples(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists_for_tuples(v) for v in value]
    return value


def _non_openmmlab_imports(custom_imports: Any) -> list:
    """The modules of ``custom_imports`` that are not OpenMMLab packages.

    0.x configs import ``mmcls.models`` for their ``mmcls.ConvNeXt``-style types; seglab resolves
    those scoped types itself (or says at build time that it has no such type), so only other
    modules are worth a warning.
    """
    if not custom_imports:
        return []
    imports = custom_imports.get("imports", []) if isinstance(custom_imports, Mapping) else []
    imports = [imports] if isinstance(imports, str) else list(imports)
    return [name for name in imports
            if str(name).split(".")[0] not in OPENMMLAB_SCOPES]


class Config:
    """A config: a :class:`ConfigDict` plus the file it came from and that file's text.

    Args:
        cfg_dict: the config values (top-level names of the config file).
        cfg_text: the text of the file(s) it was read from (``cfg.text``).
        filename: the file it was read from, if any.
    """

    def __init__(self, cfg_dict: Optional[Mapping] = None, cfg_text: Optional[str] = None,
                 filename: Optional[PathLike] = None):
        if cfg_dict is None:
            cfg_dict = {}
        elif not isinstance(cfg_dict, Mapping):
            raise ConfigError(f"Config needs a dict of config values, got "
                              f"{type(cfg_dict).__name__}: {cfg_dict!r}")
        for key in cfg_dict:
            if key in RESERVED_KEYS:
                raise ConfigError(f"'{key}' is reserved for the Config object itself and cannot "
                                  f"be a config key; rename it.")
        filename = os.fspath(filename) if filename is not None else None
        if cfg_text is None:
            if filename is not None and osp.isfile(filename):
                with open(filename, encoding="utf-8") as f:
                    cfg_text = f.read()
            else:
                cfg_text = ""
        object.__setattr__(self, "_cfg_dict", ConfigDict(cfg_dict))
        object.__setattr__(self, "_filename", filename)
        object.__setattr__(self, "_text", cfg_text)

    # ------------------------------------------------------------------------------- loading
    @staticmethod
    def fromfile(filename: PathLike, use_predefined_variables: bool = True,
                 import_custom_modules: bool = True) -> "Config":
        """Read a ``.py``/``.json``/``.yaml`` config with its ``_base_`` files.

        Args:
            filename: the config file.
            use_predefined_variables: replace ``{{fileDirname}}``-style variables (mmcv).
            import_custom_modules: accepted for mmcv compatibility; seglab never imports the
                modules named in ``custom_imports`` (a config cannot run code) and warns instead.
        """
        filename = os.fspath(filename)
        cfg_dict, cfg_text = load_config_file(filename, use_predefined_variables)
        strip_delete_keys(cfg_dict)
        others = _non_openmmlab_imports(cfg_dict.get("custom_imports"))
        if import_custom_modules and others:
            warnings.warn(f"{filename}: custom_imports {others!r} are not imported; seglab does "
                          f"not import code named in configs. Import those modules in your own "
                          f"script before building.", UserWarning)
        return Config(cfg_dict, cfg_text=cfg_text, filename=filename)

    @staticmethod
    def fromstring(cfg_str: str, file_format: str) -> "Config":
        """Read config text of type ``file_format`` ('.py', '.json', '.yaml' or '.yml').

        ``_base_`` paths in the text are relative to the current directory.
        """
        suffix = check_suffix(f"<string>{file_format}")
        pseudo = osp.join(os.getcwd(), f"<string>{suffix}")
        cfg_dict, cfg_text = load_config_text(cfg_str, suffix, pseudo)
        strip_delete_keys(cfg_dict)
        return Config(cfg_dict, cfg_text=cfg_text)

    # ---------------------------------------------------------------------------- properties
    @property
    def filename(self) -> Optional[str]:
        return self._filename

    @property
    def text(self) -> str:
        return self._text

    @property
    def pretty_text(self) -> str:
        """The resolved config as the text of a ``.py`` config file."""
        return format_config(self._cfg_dict)

    def to_dict(self) -> Dict[str, Any]:
        """The resolved config as plain nested dicts (a deep copy)."""
        return to_plain(self._cfg_dict)

    # ---------------------------------------------------------------------------- overriding
    def merge_from_dict(self, options: Mapping[str, Any], allow_list_keys: bool = True) -> None:
        """Apply overrides such as ``{'model.backbone.with_cp': True}`` (from ``--options``).

        Each dotted key must lead through existing dicts (and, with ``allow_list_keys``, list
        indices: ``data.train.pipeline.2.img_scale``); only its last part may be a new key.
        A dict value merges into an existing dict, any other value replaces.
        """
        cfg_dict = self._cfg_dict
        for full_key, value in options.items():
            cfg_dict = ConfigDict(merge_override(cfg_dict, full_key, value, allow_list_keys))
        object.__setattr__(self, "_cfg_dict", cfg_dict)

    # ---------------------------------------------------------------------------------- dump
    def dump(self, file: Optional[PathLike] = None, path: Optional[PathLike] = None
             ) -> Optional[str]:
        """Write the resolved config to ``file`` (atomically), or return its text.

        The format follows the suffix of ``file`` (.py, .json, .yaml/.yml); without a file, the
        suffix of ``self.filename`` (``.py`` text when there is none). A ``.py`` dump loads back
        with :meth:`fromfile` to an equal config, tuples included. ``path`` is an alias of
        ``file``.
        """
        if file is not None and path is not None:
            raise ConfigError("Config.dump takes file or path, not both.")
        target = file if file is not None else path
        if target is not None:
            suffix = check_suffix(os.fspath(target))
        else:
            suffix = osp.splitext(self._filename or "x.py")[1]
        if suffix == ".py":
            text = format_config(self._cfg_dict, strict=True)
        elif suffix == ".json":
            text = json.dumps(_lists_for_tuples(self._cfg_dict), indent=4) + "\n"
        else:
            import yaml

            text = yaml.safe_dump(_lists_for_tuples(self._cfg_dict), sort_keys=False)
        if target is None:
            return text
        # Imported here: seglab.utils pulls in torch, which reading a config does not need.
        from ..utils import atomic_write_text

        atomic_write_text(target, text)
        return None

    # ------------------------------------------------------------------------ dict interface
    def __getattr__(self, name: str) -> Any:
        # Only called for names not found normally; never recurse before __init__/__setstate__.
        if name in _OWN_ATTRIBUTES or (name.startswith("__") and name.endswith("__")):
            raise AttributeError(name)
        return getattr(self._cfg_dict, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in RESERVED_KEYS:
            raise ConfigError(f"'{name}' is a read-only property of Config.")
        self._cfg_dict[name] = value

    def __delattr__(self, name: str) -> None:
        delattr(self._cfg_dict, name)

    def __getitem__(self, name: Any) -> Any:
        return self._cfg_dict[name]

    def __setitem__(self, name: Any, value: Any) -> None:
        self._cfg_dict[name] = value

    def __delitem__(self, name: Any) -> None:
        del self._cfg_dict[name]

    def __contains__(self, name: Any) -> bool:
        return name in self._cfg_dict

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cfg_dict)

    def __len__(self) -> int:
        return len(self._cfg_dict)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Config):
            return self._cfg_dict == other._cfg_dict
        if isinstance(other, Mapping):
            return self._cfg_dict == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like dict

    def __repr__(self) -> str:
        return f"Config (path: {self._filename}): {dict.__repr__(self._cfg_dict)}"

    # --------------------------------------------------------------------- copy and pickling
    def __getstate__(self):
        return (self._cfg_dict, self._filename, self._text)

    def __setstate__(self, state) -> None:
        cfg_dict, filename, text = state
        object.__setattr__(self, "_cfg_dict", cfg_dict)
        object.__setattr__(self, "_filename", filename)
        object.__setattr__(self, "_text", text)

    def __copy__(self) -> "Config":
        other = Config.__new__(Config)
        other.__setstate__(self.__getstate__())
        return other

    def __deepcopy__(self, memo: Dict[int, Any]) -> "Config":
        other = Config.__new__(Config)
        memo[id(self)] = other
        other.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return other
