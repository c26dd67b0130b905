"""Constructors from declarations: a named dataset states its defaults, not a copy of ``__init__``.

MMSegmentation's named datasets differ from ``CustomDataset`` only in constructor defaults:
ADE20K fixes ``img_suffix='.jpg'``, VOC needs ``split``, Cityscapes changes the suffix defaults.
A subclass declares them as class attributes::

    DEFAULTS = dict(img_suffix='.png')   # new default values; a config may still set the key
    FIXED = dict(reduce_zero_label=True)  # values MMSeg hard-codes; the key is not accepted
    REQUIRED = ('split',)                 # keys without a default (None is refused too)

and :func:`declare_constructor` gives it an ``__init__`` whose signature (what the registry's key
check and ``help()`` read) lists exactly the accepted keys with their defaults. Declarations are
inherited and extended: a subclass's entries add to (and override) its parent's.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Tuple

from ..errors import DatasetError

_GENERATED = "_seglab_declared_init"


def _merged(cls: type) -> Tuple[Dict[str, Any], Dict[str, Any], Tuple[str, ...]]:
    base = cls.__mro__[1]
    own = cls.__dict__
    fixed = {**getattr(base, "FIXED", {}), **own.get("FIXED", {})}
    defaults = {**getattr(base, "DEFAULTS", {}), **own.get("DEFAULTS", {})}
    required = [k for k in (*getattr(base, "REQUIRED", ()), *own.get("REQUIRED", ()))
                if k not in own.get("DEFAULTS", {})]
    defaults = {k: v for k, v in defaults.items() if k not in fixed}
    required = tuple(k for k in dict.fromkeys(required) if k not in fixed)
    return defaults, fixed, required


def _target_init(cls: type) -> Callable:
    """The nearest hand-written ``__init__`` above ``cls`` (``CustomDataset``'s at the latest)."""
    for klass in cls.__mro__[1:]:
        init = klass.__dict__.get("__init__")
        if init is not None and not getattr(init, _GENERATED, False):
            return init
    raise TypeError(f"{cls.__name__} has no hand-written __init__ to declare defaults for")


def _signature(target: Callable, defaults: Dict[str, Any], fixed: Dict[str, Any],
               required: Tuple[str, ...]) -> inspect.Signature:
    params = list(inspect.signature(target).parameters.values())
    names = {p.name for p in params}
    unknown = [k for k in (*defaults, *fixed, *required) if k not in names]
    if unknown:
        raise TypeError(f"declared keys {unknown} are not arguments of {target.__qualname__}")
    self_param, rest = params[0], [p for p in params[1:] if p.name not in fixed]
    out = []
    for p in rest:
        if p.name in required:
            p = p.replace(default=p.empty)
        elif p.name in defaults:
            p = p.replace(default=defaults[p.name])
        out.append(p)
    # Required keys first (the declared ones leading, as MMSeg's ``__init__(self, split, ...)``).
    first = sorted((p for p in out if p.default is p.empty),
                   key=lambda p: (p.name not in required, out.index(p)))
    return inspect.Signature([self_param, *first, *(p for p in out if p.default is not p.empty)])


def declare_constructor(cls: type) -> None:
    """Give ``cls`` an ``__init__`` built from its ``DEFAULTS``, ``FIXED`` and ``REQUIRED``.

    A class that writes its own ``__init__`` keeps it (its declarations still merge for its
    subclasses).
    """
    defaults, fixed, required = _merged(cls)
    cls.DEFAULTS, cls.FIXED, cls.REQUIRED = defaults, fixed, required
    if "__init__" in cls.__dict__:
        return
    target = _target_init(cls)
    signature = _signature(target, defaults, fixed, required)

    def __init__(self, *args, **kwargs):
        try:
            given = signature.bind_partial(self, *args, **kwargs).arguments
            for key in required:
                if given.get(key) is None:
                    raise DatasetError(f"{type(self).__name__} needs {key}= (it has no "
                                       f"default); set {key} in its data config.")
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as e:
            accepted = ", ".join(list(signature.parameters)[1:])
            raise TypeError(f"{type(self).__name__}: {e}. Accepted keys: {accepted}"
                            + (f"; {sorted(fixed)} are fixed by the dataset" if fixed else "")
                            + ".") from None
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        arguments.pop(next(iter(signature.parameters)))
        target(self, **arguments, **fixed)

    __init__.__signature__ = signature
    __init__.__doc__ = (f"Build a {cls.__name__}; arguments as :class:`CustomDataset`"
                        + (f", with {fixed} fixed" if fixed else "")
                        + (f", {defaults} as defaults" if defaults else "")
                        + (f", {list(required)} required" if required else "") + ".")
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    setattr(__init__, _GENERATED, True)
    cls.__init__ = __init__
