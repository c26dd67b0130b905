"""One ``Registry`` class and the registries of seglab.

A config dict ``dict(type='FCNHead', ...)`` names a registered class; :func:`build_from_cfg` looks it
up and calls it with the remaining keys. Errors name the config path that led to the failing dict
(``model.decode_head.type``), the closest registered names and every available one.

Nested builds record their path automatically: a constructor that calls
``build_from_cfg(sub_cfg, MODELS, key='backbone')`` while being built as ``model`` reports errors at
``model.backbone``.
"""
from __future__ import annotations

import contextvars
import difflib
import inspect
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple

from .errors import RegistryError

# Names of the OpenMMLab projects whose scoped types (``mmcls.ConvNeXt``) users may meet in configs.
_FOREIGN_SCOPES = ("mmcls", "mmpretrain", "mmdet", "mmcv", "mmengine", "mmdet3d", "mmocr", "mmpose")
_OWN_SCOPES = ("mmseg", "seglab")
OPENMMLAB_SCOPES = _OWN_SCOPES + _FOREIGN_SCOPES

_BUILD_PATH: contextvars.ContextVar[Tuple[str, ...]] = contextvars.ContextVar(
    "seglab_build_path", default=())


def current_build_path() -> str:
    """Dotted config path of the dict being built right now ('' outside a build)."""
    return ".".join(_BUILD_PATH.get())


def _closest(name: str, candidates, n: int = 3):
    by_lower = {c.lower(): c for c in candidates}
    hits = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.5)
    return [by_lower[h] for h in hits]


class Registry:
    """A name -> class (or function) table.

    Args:
        name: what the registry holds, used in messages (``'model'``, ``'transform'``).
    """

    def __init__(self, name: str):
        self.name = name
        self._module_dict: Dict[str, Callable] = {}
        self._scopes: Dict[str, Tuple[str, ...]] = {}  # name -> foreign scopes it also answers to

    def __repr__(self) -> str:
        return f"Registry(name={self.name!r}, items={sorted(self._module_dict)})"

    def __len__(self) -> int:
        return len(self._module_dict)

    def __contains__(self, name: str) -> bool:
        return name in self._module_dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._module_dict)

    @property
    def module_dict(self) -> Mapping[str, Callable]:
        return dict(self._module_dict)

    def get(self, name: str) -> Optional[Callable]:
        """The registered object called ``name``, else None.

        An ``mmseg.`` / ``seglab.`` scope is accepted for every name; another project's scope
        (``mmcls.ConvNeXt``) only for the names registered with it in ``scopes``.
        """
        scope, _, short = name.rpartition(".")
        if scope in _OWN_SCOPES or scope in self._scopes.get(short, ()):
            name = short
        return self._module_dict.get(name)

    def register_module(self, name: Optional[str] = None, force: bool = False,
                        module: Optional[Callable] = None, scopes: Tuple[str, ...] = ()):
        """Register a class or function, as a decorator or directly (``module=``).

        Registering a second object under an existing name is an error unless ``force=True``.
        ``scopes`` names the OpenMMLab projects whose scoped spelling of the name 0.x configs use
        for it (``scopes=('mmcls',)``: ``type='mmcls.ConvNeXt'`` builds seglab's ``ConvNeXt``).
        """
        unknown = [scope for scope in scopes if scope not in _FOREIGN_SCOPES]
        if unknown:
            raise RegistryError(f"register_module(scopes={scopes!r}): {unknown} are not OpenMMLab "
                                f"project scopes; known: {', '.join(_FOREIGN_SCOPES)}.")
        def _register(obj: Callable) -> Callable:
            key = name or obj.__name__
            if not force and key in self._module_dict and self._module_dict[key] is not obj:
                raise RegistryError(
                    f"'{key}' is already registered in the {self.name} registry "
                    f"(by {self._module_dict[key].__module__}); pick another name or pass force=True.")
            self._module_dict[key] = obj
            if scopes:
                self._scopes[key] = tuple(scopes)
            return obj

        if module is not None:
            return _register(module)
        return _register

    def build(self, cfg: Mapping, default_args: Optional[Mapping] = None, key: Optional[str] = None):
        return build_from_cfg(cfg, self, default_args, key=key)


def _unknown_type_message(type_name: str, registry: Registry, path: str) -> str:
    where = f"{path}.type" if path else "type"
    scope, _, short = type_name.rpartition(".")
    if scope and scope not in _OWN_SCOPES:
        if scope in _FOREIGN_SCOPES or scope.startswith("mm"):
            own = sorted(f"{scope}.{n}" for n, s in registry._scopes.items() if scope in s)
            implemented = (f" seglab implements these '{scope}' types itself: {', '.join(own)}."
                           if own else "")
            return (f"{where} = '{type_name}': types from the '{scope}' package are not available in "
                    f"seglab (it does not depend on OpenMMLab packages).{implemented} Use a seglab "
                    f"{registry.name} instead; available: {', '.join(sorted(registry)) or '(none)'}.")
    lookup = short if scope in _OWN_SCOPES else type_name
    close = _closest(lookup, registry)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return (f"{where} = '{type_name}' is not a registered {registry.name} type.{hint} "
            f"Available {registry.name} types: {', '.join(sorted(registry)) or '(none)'}.")


def accepted_keys(obj: Callable) -> Optional[Tuple[str, ...]]:
    """Keyword names that ``obj`` accepts, or None when it takes ``**kwargs``."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return None
    names = []
    for p in params:
        if p.kind is p.VAR_KEYWORD:
            return None
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
            names.append(p.name)
    return tuple(names)


def check_keys(obj: Callable, keys, path: str = "") -> None:
    """Raise a :class:`RegistryError` naming ``obj``'s accepted keys if some of ``keys`` are not."""
    accepted = accepted_keys(obj)
    if accepted is None:
        return
    unknown = [k for k in keys if k not in accepted]
    if not unknown:
        return
    where = f" at {path}" if path else ""
    hints = []
    for k in unknown:
        close = _closest(k, accepted, n=1)
        hints.append(f"'{k}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    raise RegistryError(
        f"{obj.__name__}{where} got unexpected key(s) {', '.join(hints)}. "
        f"Accepted keys: {', '.join(accepted)}.")


def build_from_cfg(cfg: Mapping, registry: Registry, default_args: Optional[Mapping] = None, *,
                   key: Optional[str] = None) -> Any:
    """Build an object from ``dict(type=..., **kwargs)``.

    Args:
        cfg: the config dict; ``type`` is a registered name or a class.
        registry: where to look the name up.
        default_args: keys used when ``cfg`` does not set them.
        key: the name of this dict inside its parent config (``'decode_head'``); it extends the
            config path that error messages show.
    """
    parent = _BUILD_PATH.get()
    path_parts = parent + (key,) if key else parent
    path = ".".join(path_parts)
    if not isinstance(cfg, Mapping):
        raise RegistryError(f"{path or 'config'} must be a dict with a 'type' key, got "
                            f"{type(cfg).__name__}: {cfg!r}")
    args = dict(cfg)
    for k, v in (default_args or {}).items():
        args.setdefault(k, v)
    if "type" not in args:
        raise RegistryError(f"{path or 'config'} has no 'type' key; set it to one of the "
                            f"{registry.name} types: {', '.join(sorted(registry))}.")
    obj_type = args.pop("type")
    if isinstance(obj_type, str):
        obj_cls = registry.get(obj_type)
        if obj_cls is None:
            raise RegistryError(_unknown_type_message(obj_type, registry, path))
    elif callable(obj_type):
        obj_cls = obj_type
    else:
        raise RegistryError(f"{path or 'config'}.type must be a string or a class, got {obj_type!r}")
    check_keys(obj_cls, args, path)
    token = _BUILD_PATH.set(path_parts)
    try:
        return obj_cls(**args)
    finally:
        _BUILD_PATH.reset(token)


# MMSegmentation 0.x keeps backbones, necks, heads, losses and segmentors in one registry.
MODELS = Registry("model")
BACKBONES = NECKS = HEADS = LOSSES = SEGMENTORS = MODELS
PIXEL_SAMPLERS = Registry("pixel sampler")
# MMCV keeps DropPath / Dropout (``dropout_layer=dict(type=...)``) in their own registry.
DROPOUT_LAYERS = Registry("dropout layer")
DATASETS = Registry("dataset")
TRANSFORMS = Registry("transform")
PIPELINES = TRANSFORMS
SAMPLERS = Registry("sampler")
HOOKS = Registry("hook")
OPTIMIZERS = Registry("optimizer")
LR_SCHEDULERS = Registry("lr scheduler")
RUNNERS = Registry("runner")
