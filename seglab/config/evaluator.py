"""A restricted evaluator for ``.py`` config files: the file is read, never executed.

The source is parsed with :mod:`ast` and interpreted node by node. Only data-building constructs
are understood: literals, names bound earlier in the file, the calls and methods listed in
``safe_builtins``, arithmetic, comparisons, boolean logic, conditional expressions,
comprehensions, f-strings and subscripts; statements are assignments (also tuple unpacking,
augmented and subscript assignment), expression statements such as ``x.update({...})``,
docstrings, ``pass`` and top-level ``if``/``else``. Everything else (import, def, class, lambda,
loops, attribute access other than the listed methods, dunder names) is refused before it could
run, with an error naming the file, the line and the construct, and saying how to rewrite it.

No ``exec``, ``eval``, ``compile`` or import is ever used on config text.
"""
from __future__ import annotations

import ast
from typing import Any, Dict, List

from ..errors import ConfigError
from .expressions import EvalError, ExpressionEvaluator
from .safe_builtins import INPLACE_OPERATORS, REFUSED_STATEMENTS


class RestrictedEvaluator(ExpressionEvaluator):
    """Evaluate the statements of one config file into an ordered namespace.

    Args:
        filename: shown in error messages (``<file>:<line>: ...``).
        source: the text of the file.
        extra_names: names readable by the file without being assigned in it (used for the
            ``{{_base_.xxx}}`` placeholders); they do not appear in the result.
    """

    def run(self) -> Dict[str, Any]:
        """Evaluate the whole file and return its top-level names in assignment order."""
        try:
            tree = ast.parse(self.source, filename=self.filename)
            self._exec_block(tree.body)
        except SyntaxError as e:
            raise ConfigError(f"{self.filename}:{e.lineno}: syntax error in config: {e.msg}. "
                              f"Fix the Python syntax of this line.") from None
        except EvalError as e:
            line = getattr(e.node, "lineno", "?")
            raise ConfigError(f"{self.filename}:{line}: {e.message}") from None
        except (RecursionError, MemoryError):
            raise ConfigError(f"{self.filename}: the config is nested too deeply to be read; "
                              f"split the deep expression into several names.") from None
        return self.namespace

    def _exec_block(self, statements: List[ast.stmt]) -> None:
        for stmt in statements:
            self._exec(stmt)

    def _exec(self, stmt: ast.stmt) -> None:
        kind = type(stmt).__name__
        if isinstance(stmt, ast.Assign):
            value = self._eval(stmt.value)
            for target in stmt.targets:
                self._assign(target, value)
        elif isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:  # the annotation itself is never evaluated
                self._assign(stmt.target, self._eval(stmt.value))
        elif isinstance(stmt, ast.AugAssign):
            self._aug_assign(stmt)
        elif isinstance(stmt, ast.Expr):
            if not isinstance(stmt.value, ast.Constant):  # docstrings are skipped
                self._eval(stmt.value)
        elif isinstance(stmt, ast.If):
            self._exec_block(stmt.body if self._truth(stmt.test) else stmt.orelse)
        elif isinstance(stmt, ast.Pass):
            pass
        elif kind in REFUSED_STATEMENTS:
            raise self._refuse(stmt, *REFUSED_STATEMENTS[kind])
        else:
            raise self._refuse(stmt, f"a '{kind}' statement", "configs may only assign values")

    def _aug_assign(self, stmt: ast.AugAssign) -> None:
        op = type(stmt.op).__name__
        if op not in INPLACE_OPERATORS:
            raise self._refuse(stmt, f"the operator {op}=", "use +, -, *, /, //, %, ** instead")
        value = self._eval(stmt.value)
        target = stmt.target
        if isinstance(target, ast.Name):
            current = self._load_name(target)
            self._assign(target, self._apply(stmt, INPLACE_OPERATORS[op], current, value))
        elif isinstance(target, ast.Subscript):
            container = self._eval(target.value)
            key = self._eval_slice(target.slice)
            current = self._subscript(target, container, key)
            new = self._apply(stmt, INPLACE_OPERATORS[op], current, value)
            if type(container) not in (dict, list):
                raise self._runtime(target, f"cannot assign to an item of a "
                                            f"{type(container).__name__}")
            container[key] = new
        else:
            self._assign(target, None)  # raises the matching refusal

