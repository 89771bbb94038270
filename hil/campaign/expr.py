"""The arithmetic of a campaign's ``derive:``: numbers, the parameters' dotted paths, + − × /
// % **, unary minus and round/min/max/abs — parsed with :mod:`ast`, never ``eval``."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["check_expression", "evaluate", "expression_names"]

_BIN: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_FUN: dict[str, Callable[..., Any]] = {"round": round, "min": min, "max": max, "abs": abs}


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _walk(node: ast.AST, value: Callable[[str], Any]) -> Any:
    if isinstance(node, ast.Expression):
        return _walk(node.body, value)
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    ):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
        return _BIN[type(node.op)](_walk(node.left, value), _walk(node.right, value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        x = _walk(node.operand, value)
        return -x if isinstance(node.op, ast.USub) else x
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUN
        and not node.keywords
    ):
        return _FUN[node.func.id](*(_walk(a, value) for a in node.args))
    name = _dotted(node)
    if name is not None:
        return value(name)
    raise ValueError(f"{ast.unparse(node)!r} is not allowed (numbers, parameter paths, + - * / // % **, "
                     f"{', '.join(_FUN)})")  # fmt: skip


def _parse(expr: str) -> ast.Expression:
    try:
        return ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"{expr!r} is not an expression: {exc.msg}") from None


def _names(node: ast.AST, out: list[str]) -> None:
    """Check ``node``'s structure (as :func:`_walk` would evaluate it) and collect its paths."""
    name = _dotted(node)
    if name is not None:
        out.append(name)
        return
    if isinstance(node, ast.Expression):
        _names(node.body, out)
    elif isinstance(node, ast.BinOp) and type(node.op) in _BIN:
        _names(node.left, out)
        _names(node.right, out)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _names(node.operand, out)
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUN
        and not node.keywords
    ):
        for arg in node.args:
            _names(arg, out)
    elif not (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    ):
        _walk(node, lambda _n: 0.0)  # raises the message for what is not allowed


def expression_names(expr: str) -> list[str]:
    """The dotted paths ``expr`` reads, in order (ValueError when it is not allowed)."""
    names: list[str] = []
    _names(_parse(expr), names)
    return names


def check_expression(expr: str) -> None:
    """ValueError when ``expr`` is not one this module evaluates."""
    expression_names(expr)


def evaluate(expr: str, values: Mapping[str, Any]) -> Any:
    """``expr`` with each path's value from ``values``."""
    return _walk(_parse(expr), lambda n: values[n])
