"""What a seglab ``.py`` config may call, and the size guards of the restricted evaluator.

A config is data. The evaluator (``evaluator.py``) only ever produces Python built-in values
(dict, list, tuple, set, str, int, float, bool, None), so calling one of the functions below or
one of the listed methods on such a value cannot reach the file system, the network or any
module. ``str.format`` is deliberately absent: its ``{0.__class__}`` fields read attributes.
"""
from __future__ import annotations

import operator
from typing import Any, Callable, Dict, FrozenSet

# Largest container or string an expression may build, and the largest int exponent/shift:
# enough for any real config, small enough that a hostile file cannot exhaust memory or CPU.
MAX_ITEMS = 10_000_000
MAX_INT_EXPONENT = 10_000
MAX_STEPS = 2_000_000


class LimitExceeded(ValueError):
    """An expression would build a value too large for a config."""


def _checked_range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_ITEMS:
        raise LimitExceeded(f"range of {len(r)} items is larger than a config needs "
                            f"(limit {MAX_ITEMS})")
    return r


SAFE_FUNCTIONS: Dict[str, Callable[..., Any]] = {
    "dict": dict, "list": list, "tuple": tuple, "set": set,
    "sum": sum, "range": _checked_range, "len": len, "min": min, "max": max, "abs": abs,
    "round": round, "int": int, "float": float, "str": str, "bool": bool,
    "enumerate": enumerate, "zip": zip, "sorted": sorted, "reversed": reversed,
    "any": any, "all": all,
}

# Methods callable on values of exactly these types (``x.update({...})`` and friends).
SAFE_METHODS: Dict[type, FrozenSet[str]] = {
    dict: frozenset({"update", "copy", "get", "keys", "values", "items", "pop", "setdefault"}),
    list: frozenset({"append", "extend", "insert", "copy", "index", "count", "pop", "remove",
                     "reverse", "sort"}),
    tuple: frozenset({"index", "count"}),
    str: frozenset({"join", "replace", "split", "rsplit", "strip", "lstrip", "rstrip", "lower",
                    "upper", "startswith", "endswith", "zfill"}),
}


def _sized(value: Any) -> Any:
    if isinstance(value, (str, bytes, list, tuple)) and len(value) > MAX_ITEMS:
        raise LimitExceeded(f"the result has {len(value)} items, more than a config needs "
                            f"(limit {MAX_ITEMS})")
    return value


def _guard_repeat(a: Any, b: Any) -> None:
    # 'ab' * 10**9 would allocate gigabytes before any size check could run.
    for seq, count in ((a, b), (b, a)):
        if isinstance(seq, (str, bytes, list, tuple)) and isinstance(count, int):
            if len(seq) * max(count, 0) > MAX_ITEMS:
                raise LimitExceeded(f"repeating a sequence {count} times gives more than "
                                    f"{MAX_ITEMS} items")


def _guard_power(a: Any, b: Any) -> None:
    if isinstance(a, int) and isinstance(b, int) and abs(a) > 1 and b > MAX_INT_EXPONENT:
        raise LimitExceeded(f"exponent {b} is larger than a config needs "
                            f"(limit {MAX_INT_EXPONENT})")


def _guard_shift(a: Any, b: Any) -> None:
    if isinstance(b, int) and b > MAX_INT_EXPONENT:
        raise LimitExceeded(f"shift by {b} bits is larger than a config needs")


def _guarded(fn: Callable[[Any, Any], Any], guard: Callable[[Any, Any], None] = None):
    def apply(a: Any, b: Any) -> Any:
        if guard is not None:
            guard(a, b)
        return _sized(fn(a, b))
    return apply


BINARY_OPERATORS = {
    "Add": _guarded(operator.add), "Sub": _guarded(operator.sub),
    "Mult": _guarded(operator.mul, _guard_repeat), "Div": _guarded(operator.truediv),
    "FloorDiv": _guarded(operator.floordiv), "Mod": _guarded(operator.mod),
    "Pow": _guarded(operator.pow, _guard_power), "LShift": _guarded(operator.lshift, _guard_shift),
    "RShift": _guarded(operator.rshift), "BitOr": _guarded(operator.or_),
    "BitXor": _guarded(operator.xor), "BitAnd": _guarded(operator.and_),
}

# ``x += y`` mutates a list in place, as Python does (other names bound to it see the change).
INPLACE_OPERATORS = {
    "Add": _guarded(operator.iadd), "Sub": _guarded(operator.isub),
    "Mult": _guarded(operator.imul, _guard_repeat), "Div": _guarded(operator.itruediv),
    "FloorDiv": _guarded(operator.ifloordiv), "Mod": _guarded(operator.imod),
    "Pow": _guarded(operator.ipow, _guard_power),
    "LShift": _guarded(operator.ilshift, _guard_shift), "RShift": _guarded(operator.irshift),
    "BitOr": _guarded(operator.ior), "BitXor": _guarded(operator.ixor),
    "BitAnd": _guarded(operator.iand),
}

UNARY_OPERATORS = {
    "UAdd": operator.pos, "USub": operator.neg, "Not": operator.not_, "Invert": operator.invert,
}

COMPARE_OPERATORS = {
    "Eq": operator.eq, "NotEq": operator.ne, "Lt": operator.lt, "LtE": operator.le,
    "Gt": operator.gt, "GtE": operator.ge, "Is": operator.is_, "IsNot": operator.is_not,
    "In": lambda a, b: a in b, "NotIn": lambda a, b: a not in b,
}

# Statement and expression nodes that are refused, with the words used in the error and a hint.
REFUSED_STATEMENTS = {
    "Import": ("an import statement",
               "configs are read without running code, so no module can be imported; write "
               "the values as literals or compute them with dict/list/range/... instead"),
    "ImportFrom": ("a 'from ... import' statement",
                   "configs are read without running code, so no module can be imported; "
                   "write the values as literals instead"),
    "FunctionDef": ("a function definition (def)",
                    "compute the value directly, e.g. with a list comprehension"),
    "AsyncFunctionDef": ("a function definition (async def)", "compute the value directly"),
    "ClassDef": ("a class definition", "describe objects as dict(type='ClassName', ...)"),
    "For": ("a for loop", "use a comprehension, e.g. x = [dict(scale=s) for s in scales]"),
    "AsyncFor": ("a for loop", "use a comprehension"),
    "While": ("a while loop", "write the values out or use a comprehension"),
    "With": ("a with statement", "remove it; configs cannot open files or resources"),
    "AsyncWith": ("a with statement", "remove it"),
    "Try": ("a try statement", "remove it; a config value cannot fail conditionally"),
    "Raise": ("a raise statement", "remove it"),
    "Assert": ("an assert statement", "remove it"),
    "Delete": ("a del statement",
               "leave the name out, or use _delete_=True in a dict to drop base keys"),
    "Global": ("a global statement", "remove it"),
    "Nonlocal": ("a nonlocal statement", "remove it"),
    "Return": ("a return statement", "remove it"),
    "Break": ("a break statement", "remove it"),
    "Continue": ("a continue statement", "remove it"),
    "Match": ("a match statement", "use a conditional expression: a if cond else b"),
}

REFUSED_EXPRESSIONS = {
    "Lambda": ("a lambda", "configs cannot hold functions; write the value itself"),
    "NamedExpr": ("an assignment expression (:=)", "assign the value on its own line"),
    "Await": ("await", "remove it"),
    "Yield": ("yield", "remove it"),
    "YieldFrom": ("yield from", "remove it"),
}
