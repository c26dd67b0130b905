"""Expose a base class's constructor keys on a subclass that forwards them with ``**kwargs``.

The registry rejects unknown config keys by reading the constructor signature; a subclass that
passes shared arguments (``in_channels``, ``norm_cfg``, ``loss_decode``...) through ``**kwargs`` to
its base would hide them. :func:`publish_signature` publishes the merged signature, so a typo such
as ``chanels=16`` fails early with the list of accepted keys, and ``help(FCNHead)`` shows every key.
The base constructor takes explicit keywords, so nothing is silently swallowed either way.

``BaseBackbone`` and ``BaseDecodeHead`` call it for every subclass (``__init_subclass__``), so
model files need no decorator; :func:`inherit_signature` is the decorator for other classes.
"""
from __future__ import annotations

import inspect
from typing import Callable, Iterable, Type, TypeVar

T = TypeVar("T", bound=type)

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def publish_signature(cls: type, exclude: Iterable[str] = ()) -> None:
    """Merge the direct base's constructor keys into ``cls.__init__``'s signature.

    Only a constructor of ``cls`` itself that takes ``**kwargs`` is changed: one with explicit
    keywords only already states what it accepts, and one inherited keeps its base's signature.

    Args:
        cls: the subclass.
        exclude: base keys the subclass fixes itself (e.g. ``input_transform`` for UPerHead);
            they are not accepted from configs.
    """
    init = cls.__dict__.get("__init__")
    if init is None:
        return
    own = inspect.signature(init)
    if not any(p.kind is p.VAR_KEYWORD for p in own.parameters.values()):
        return
    excluded = set(exclude)
    params = [p for p in own.parameters.values() if p.kind is not p.VAR_KEYWORD]
    names = {p.name for p in params}
    base: Type = cls.__mro__[1]
    extra = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
             for p in inspect.signature(base.__init__).parameters.values()
             if p.kind in _NAMED and p.name != "self" and p.name not in names
             and p.name not in excluded]
    init.__signature__ = own.replace(parameters=params + extra)


def inherit_signature(exclude: Iterable[str] = ()) -> Callable[[T], T]:
    """Class decorator form of :func:`publish_signature` (``cls`` must define ``__init__``)."""
    def decorate(cls: T) -> T:
        if "__init__" not in cls.__dict__:
            raise TypeError(f"{cls.__name__} must define __init__ to inherit a signature")
        publish_signature(cls, exclude)
        return cls

    return decorate
