"""Expression evaluation and name binding for the restricted config evaluator.

:class:`ExpressionEvaluator` interprets expression nodes of :mod:`ast` one by one: literals,
names bound earlier in the file, the calls and methods of ``safe_builtins``, arithmetic,
comparisons, boolean logic, conditional expressions, comprehensions, f-strings and subscripts.
Any other node is refused with ``<file>:<line>: <construct> is not allowed in a seglab config
(<how to rewrite it>)``. Nothing is ever passed to ``exec``, ``eval`` or ``compile``.
"""
from __future__ import annotations

import ast
from typing import Any, Callable, Dict, List, Mapping, Optional

from ..errors import ConfigError
from .safe_builtins import (BINARY_OPERATORS, COMPARE_OPERATORS, MAX_STEPS, REFUSED_EXPRESSIONS,
                            SAFE_FUNCTIONS, SAFE_METHODS, UNARY_OPERATORS, LimitExceeded, _sized)


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__") and len(name) > 4


class EvalError(Exception):
    """A runtime failure at ``node``; the statement runner turns it into a ConfigError."""

    def __init__(self, node: ast.AST, message: str):
        super().__init__(message)
        self.node = node
        self.message = message


class ExpressionEvaluator:
    """Evaluate expressions against the names bound so far in one config file.

    Args:
        filename: shown in error messages (``<file>:<line>: ...``).
        source: the text of the file (for quoting the offending code in messages).
        extra_names: names readable by the file without being assigned in it (used for the
            ``{{_base_.xxx}}`` placeholders); they do not appear in the result.
    """

    max_steps = MAX_STEPS  # bounds the CPU time a hostile file can take (a few seconds)

    def __init__(self, filename: str, source: str, extra_names: Optional[Mapping[str, Any]] = None):
        self.filename = filename
        self.source = source
        self.extra_names = dict(extra_names or {})
        self.namespace: Dict[str, Any] = {}
        self._scopes: List[Dict[str, Any]] = []  # comprehension variables, innermost last
        self._steps = 0

    # ----------------------------------------------------------------------------------- errors
    def _refuse(self, node: ast.AST, construct: str, hint: str) -> ConfigError:
        line = getattr(node, "lineno", "?")
        return ConfigError(f"{self.filename}:{line}: {construct} is not allowed in a seglab config "
                           f"({hint}).")

    def _runtime(self, node: ast.AST, message: str) -> EvalError:
        return EvalError(node, message)

    def _snippet(self, node: ast.AST) -> str:
        text = ast.get_source_segment(self.source, node) or ast.dump(node)
        text = " ".join(text.split())
        return text if len(text) <= 60 else text[:57] + "..."

    def _truth(self, node: ast.expr) -> bool:
        value = self._eval(node)
        try:
            return bool(value)
        except Exception as e:  # numpy-like ambiguity cannot happen with builtins, but be safe
            raise self._runtime(node, f"cannot use {self._snippet(node)} as a condition: {e}")

    def _check_store_name(self, node: ast.AST, name: str) -> None:
        if _is_dunder(name):
            raise self._refuse(node, f"the dunder name '{name}'",
                               "names like __x__ are reserved; pick a plain name")

    def _assign(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            self._check_store_name(target, target.id)
            if self._scopes:
                self._scopes[-1][target.id] = value
            else:
                self.namespace[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            self._unpack(target, value)
        elif isinstance(target, ast.Subscript):
            container = self._eval(target.value)
            key = self._eval_slice(target.slice)
            if type(container) not in (dict, list):  # never mutate a str/tuple/other object
                raise self._runtime(target, f"cannot assign to an item of a "
                                            f"{type(container).__name__} ({self._snippet(target)})")
            try:
                container[key] = value
            except (KeyError, IndexError, TypeError) as e:
                raise self._runtime(target, f"cannot assign {self._snippet(target)}: {e!r}")
        elif isinstance(target, ast.Attribute):
            raise self._refuse(target, f"assignment to the attribute '{self._snippet(target)}'",
                               f"write {self._snippet(target.value)}['{target.attr}'] = ... "
                               f"or put the key in the dict(...) call")
        elif isinstance(target, ast.Starred):
            raise self._refuse(target, "a starred assignment target outside a tuple",
                               "unpack into a tuple: a, *rest = values")
        else:
            raise self._refuse(target, f"assignment to {self._snippet(target)}",
                               "assign to a plain name")

    def _unpack(self, target: ast.expr, value: Any) -> None:
        try:
            items = list(value)
        except TypeError:
            raise self._runtime(target, f"cannot unpack a {type(value).__name__} into "
                                        f"{self._snippet(target)}")
        elts = target.elts  # type: ignore[attr-defined]
        starred = [i for i, e in enumerate(elts) if isinstance(e, ast.Starred)]
        if not starred:
            if len(items) != len(elts):
                raise self._runtime(target, f"cannot unpack {len(items)} values into "
                                            f"{len(elts)} names ({self._snippet(target)})")
            for elt, item in zip(elts, items):
                self._assign(elt, item)
            return
        i = starred[0]
        n_after = len(elts) - i - 1
        if len(items) < len(elts) - 1:
            raise self._runtime(target, f"not enough values to unpack into "
                                        f"{self._snippet(target)}")
        for elt, item in zip(elts[:i], items[:i]):
            self._assign(elt, item)
        self._assign(elts[i].value, items[i:len(items) - n_after])  # type: ignore[attr-defined]
        for elt, item in zip(elts[i + 1:], items[len(items) - n_after:]):
            self._assign(elt, item)

    def _apply(self, node: ast.AST, fn: Callable, /, *args: Any, **kwargs: Any) -> Any:
        # Positional-only so that dict(node=1, fn=2) keywords cannot collide with these names.
        try:
            return fn(*args, **kwargs)
        except LimitExceeded as e:
            raise self._runtime(node, str(e))
        except Exception as e:
            raise self._runtime(node, f"{self._snippet(node)} failed: {type(e).__name__}: {e}")

    # ------------------------------------------------------------------------------ expressions
    def _eval(self, node: ast.expr) -> Any:
        self._steps += 1
        if self._steps > self.max_steps:
            raise self._runtime(node, f"the config takes more than {self.max_steps} evaluation "
                                      f"steps; it is too expensive to be a config")
        method = getattr(self, "_eval_" + type(node).__name__, None)
        if method is not None:
            return method(node)
        kind = type(node).__name__
        if kind in REFUSED_EXPRESSIONS:
            raise self._refuse(node, *REFUSED_EXPRESSIONS[kind])
        raise self._refuse(node, f"the expression '{self._snippet(node)}' ({kind})",
                           "use literals, names defined earlier and the allowed builtins")

    def _eval_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def _load_name(self, node: ast.Name) -> Any:
        name = node.id
        if _is_dunder(name):
            raise self._refuse(node, f"the dunder name '{name}'",
                               "configs cannot reach Python internals; use plain names")
        for scope in reversed(self._scopes):
            if name in scope:
                return scope[name]
        if name in self.namespace:
            return self.namespace[name]
        if name in self.extra_names:
            return self.extra_names[name]
        if name in SAFE_FUNCTIONS:
            raise self._refuse(node, f"using the builtin '{name}' as a value",
                               f"call it instead, e.g. {name}(...)")
        raise self._runtime(node, f"name '{name}' is not defined. A config can only use names "
                                  f"assigned earlier in the same file; to use a value from a "
                                  f"_base_ file write {{{{_base_.{name}}}}}.")

    def _eval_Name(self, node: ast.Name) -> Any:
        return self._load_name(node)

    def _elements(self, nodes: List[ast.expr]) -> List[Any]:
        out: List[Any] = []
        for elt in nodes:
            if isinstance(elt, ast.Starred):
                value = self._eval(elt.value)
                out.extend(self._apply(elt, list, value))
            else:
                out.append(self._eval(elt))
        return out

    def _eval_List(self, node: ast.List) -> list:
        return self._apply(node, _sized, self._elements(node.elts))

    def _eval_Tuple(self, node: ast.Tuple) -> tuple:
        return tuple(self._elements(node.elts))

    def _eval_Set(self, node: ast.Set) -> set:
        return self._apply(node, set, self._elements(node.elts))

    def _eval_Dict(self, node: ast.Dict) -> dict:
        out: Dict[Any, Any] = {}
        for key_node, value_node in zip(node.keys, node.values):
            if key_node is None:  # {**other}
                other = self._eval(value_node)
                if not isinstance(other, dict):
                    raise self._runtime(value_node, f"'**{self._snippet(value_node)}' needs a "
                                                    f"dict, got {type(other).__name__}")
                out.update(other)
            else:
                key = self._eval(key_node)
                self._apply(key_node, out.__setitem__, key, self._eval(value_node))
        return out

    def _eval_BinOp(self, node: ast.BinOp) -> Any:
        op = type(node.op).__name__
        if op not in BINARY_OPERATORS:
            raise self._refuse(node, f"the operator {op}", "use +, -, *, /, //, %, ** instead")
        return self._apply(node, BINARY_OPERATORS[op], self._eval(node.left),
                           self._eval(node.right))

    def _eval_UnaryOp(self, node: ast.UnaryOp) -> Any:
        return self._apply(node, UNARY_OPERATORS[type(node.op).__name__], self._eval(node.operand))

    def _eval_BoolOp(self, node: ast.BoolOp) -> Any:
        is_and = isinstance(node.op, ast.And)
        value: Any = None
        for operand in node.values:
            value = self._eval(operand)
            if bool(value) != is_and:  # short-circuit like Python: and stops at falsy
                return value
        return value

    def _eval_Compare(self, node: ast.Compare) -> bool:
        left = self._eval(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            right = self._eval(right_node)
            if not self._apply(node, COMPARE_OPERATORS[type(op).__name__], left, right):
                return False
            left = right
        return True

    def _eval_IfExp(self, node: ast.IfExp) -> Any:
        return self._eval(node.body) if self._truth(node.test) else self._eval(node.orelse)

    def _eval_slice(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Slice):
            parts = [None if p is None else self._eval(p) for p in (node.lower, node.upper,
                                                                   node.step)]
            return slice(*parts)
        return self._eval(node)

    def _subscript(self, node: ast.AST, container: Any, key: Any) -> Any:
        try:
            return container[key]
        except KeyError:
            keys = ", ".join(repr(k) for k in list(container)[:20])
            raise self._runtime(node, f"{self._snippet(node)}: key {key!r} not found "
                                      f"(keys: {keys})")
        except Exception as e:
            raise self._runtime(node, f"{self._snippet(node)} failed: {type(e).__name__}: {e}")

    def _eval_Subscript(self, node: ast.Subscript) -> Any:
        container = self._eval(node.value)
        return self._subscript(node, container, self._eval_slice(node.slice))

    def _eval_Attribute(self, node: ast.Attribute) -> Any:
        if _is_dunder(node.attr):
            raise self._refuse(node, f"access to the dunder attribute '{node.attr}' "
                                     f"({self._snippet(node)})",
                               "configs cannot reach Python internals")
        raise self._refuse(node, f"attribute access '{self._snippet(node)}'",
                           "only values defined in the file can be used; for a dict key write "
                           f"{self._snippet(node.value)}['{node.attr}'], for a base config value "
                           f"write {{{{_base_.{node.attr}}}}}")

    def _eval_Starred(self, node: ast.Starred) -> Any:
        raise self._refuse(node, "a starred expression here", "use *x only inside [...], (...) "
                                                              "or call arguments")

    # ------------------------------------------------------------------------------------ calls
    def _call_args(self, node: ast.Call):
        args = self._elements(node.args)
        kwargs: Dict[str, Any] = {}
        for kw in node.keywords:
            if kw.arg is None:  # **mapping
                mapping = self._eval(kw.value)
                if not isinstance(mapping, dict):
                    raise self._runtime(kw.value, f"'**{self._snippet(kw.value)}' needs a dict, "
                                                  f"got {type(mapping).__name__}")
                for k in mapping:
                    if not isinstance(k, str):
                        raise self._runtime(kw.value, f"'**{self._snippet(kw.value)}' has a "
                                                      f"non-string key {k!r}")
                    if k in kwargs:
                        raise self._runtime(node, f"keyword '{k}' given twice in "
                                                  f"{self._snippet(node)}")
                    kwargs[k] = mapping[k]
            else:
                if kw.arg in kwargs:
                    raise self._runtime(node, f"keyword '{kw.arg}' given twice in "
                                              f"{self._snippet(node)}")
                kwargs[kw.arg] = self._eval(kw.value)
        return args, kwargs

    def _eval_Call(self, node: ast.Call) -> Any:
        func = node.func
        if isinstance(func, ast.Name):
            name = func.id
            if _is_dunder(name):
                raise self._refuse(func, f"calling '{name}'",
                                   "configs cannot reach Python internals")
            if name not in SAFE_FUNCTIONS or self._is_bound(name):
                allowed = ", ".join(sorted(SAFE_FUNCTIONS))
                raise self._refuse(node, f"calling '{name}(...)'",
                                   f"only these builtins can be called: {allowed}; a class is "
                                   f"written as dict(type='{name}', ...)")
            args, kwargs = self._call_args(node)
            result = self._apply(node, SAFE_FUNCTIONS[name], *args, **kwargs)
            return self._apply(node, _sized, result)
        if isinstance(func, ast.Attribute):
            return self._call_method(node, func)
        raise self._refuse(node, f"calling '{self._snippet(func)}'",
                           "only builtins such as dict(...) and methods such as x.update(...) "
                           "can be called")

    def _is_bound(self, name: str) -> bool:
        return name in self.namespace or any(name in s for s in self._scopes)

    def _is_known(self, name: str) -> bool:
        return self._is_bound(name) or name in self.extra_names

    def _call_method(self, node: ast.Call, func: ast.Attribute) -> Any:
        if _is_dunder(func.attr):
            raise self._refuse(func, f"access to the dunder attribute '{func.attr}' "
                                     f"({self._snippet(func)})",
                               "configs cannot reach Python internals")
        root = func.value
        while isinstance(root, (ast.Attribute, ast.Subscript, ast.Call)):
            root = root.func if isinstance(root, ast.Call) else root.value
        if isinstance(root, ast.Name) and not self._is_known(root.id):
            raise self._refuse(node, f"calling '{self._snippet(func)}(...)'",
                               "a config cannot call functions of modules or other objects; "
                               "only builtins such as dict(...) and methods such as "
                               "x.update({...}) on a dict defined in the file")
        receiver = self._eval(func.value)
        allowed = SAFE_METHODS.get(type(receiver), frozenset())
        if func.attr not in allowed:
            names = ", ".join(sorted(allowed)) or "none"
            raise self._refuse(node, f"calling the method '{self._snippet(func)}' on a "
                                     f"{type(receiver).__name__}",
                               f"methods allowed on a {type(receiver).__name__}: {names}")
        args, kwargs = self._call_args(node)
        result = self._apply(node, getattr(receiver, func.attr), *args, **kwargs)
        return self._apply(node, _sized, result)

    # --------------------------------------------------------------------------- comprehensions
    def _comprehension(self, node: ast.AST, generators: List[ast.comprehension],
                       emit: Callable[[], None]) -> None:
        def loop(i: int) -> None:
            if i == len(generators):
                emit()
                return
            gen = generators[i]
            if gen.is_async:
                raise self._refuse(node, "an async comprehension", "remove 'async'")
            iterable = self._eval(gen.iter)
            try:
                iterator = iter(iterable)
            except TypeError:
                raise self._runtime(gen.iter, f"{self._snippet(gen.iter)} is not iterable")
            for item in iterator:
                self._steps += 1
                if self._steps > self.max_steps:
                    raise self._runtime(node, f"the config takes more than {self.max_steps} "
                                              f"evaluation steps; it is too expensive to be a "
                                              f"config")
                self._assign(gen.target, item)
                if all(self._truth(cond) for cond in gen.ifs):
                    loop(i + 1)

        self._scopes.append({})
        try:
            loop(0)
        finally:
            self._scopes.pop()

    def _eval_ListComp(self, node: ast.ListComp) -> list:
        out: List[Any] = []
        self._comprehension(node, node.generators, lambda: out.append(self._eval(node.elt)))
        return self._apply(node, _sized, out)

    def _eval_GeneratorExp(self, node: ast.GeneratorExp) -> list:
        # Evaluated eagerly: the result only feeds sum(...), tuple(...), etc.
        return self._eval_ListComp(node)  # type: ignore[arg-type]

    def _eval_SetComp(self, node: ast.SetComp) -> set:
        out: set = set()
        self._comprehension(node, node.generators,
                            lambda: self._apply(node, out.add, self._eval(node.elt)))
        return out

    def _eval_DictComp(self, node: ast.DictComp) -> dict:
        out: Dict[Any, Any] = {}

        def emit() -> None:
            out[self._eval(node.key)] = self._eval(node.value)
        self._comprehension(node, node.generators, emit)
        return out

    # ---------------------------------------------------------------------------------- strings
    def _eval_JoinedStr(self, node: ast.JoinedStr) -> str:
        parts = []
        for value in node.values:
            parts.append(value.value if isinstance(value, ast.Constant) else self._eval(value))
        return self._apply(node, _sized, "".join(parts))

    def _eval_FormattedValue(self, node: ast.FormattedValue) -> str:
        value = self._eval(node.value)
        conversion = {-1: None, 115: str, 114: repr, 97: ascii}[node.conversion]
        if conversion is not None:
            value = conversion(value)
        spec = self._eval(node.format_spec) if node.format_spec is not None else ""
        return self._apply(node, format, value, spec)
