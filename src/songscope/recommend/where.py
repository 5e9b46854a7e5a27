"""`--where`: a small, safe language of feature ranges for recommendations.

    duration_ms < 420000 and instrumentalness < 0.5
    0.3 <= energy <= 0.8 and not (mode == 0 or tempo > 150)

Comparisons (``< <= > >= == !=``, chained as in ``0.3 <= energy <= 0.8``) of feature names with
numbers, joined by ``and``, ``or``, ``not`` and parentheses. The text is parsed by Python's own
parser (for its grammar and its error positions) and then only walked: anything else (a call, an
attribute, a string, arithmetic) is refused with the token and its column; nothing is ever
evaluated as Python. A song whose value is missing passes no comparison on it (and so passes
``not`` of one).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

#: Bounds on one expression, so that a client cannot make one expensive (each comparison is a
#: pass over the candidates).
from songscope.errors import UserError

MAX_WHERE_CHARS = 500
MAX_COMPARISONS = 32

_COMPARE = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater, ast.GtE: np.greater_equal, ast.Eq: np.equal, ast.NotEq: np.not_equal}


class WhereError(UserError):
    """A `--where` expression that is not in the language; the message names the token and column."""


@dataclass(frozen=True)
class Where:
    """A parsed expression: `columns` are the features it reads, `mask` applies it."""

    text: str
    tree: ast.expr
    columns: tuple[str, ...]

    def mask(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """Which songs pass, given each of `columns` as an array over the same songs.

        >>> parse_where("energy > 0.5 and not mode == 1", ["energy", "mode"]).mask(
        ...     {"energy": np.array([0.9, 0.9, 0.1, np.nan]), "mode": np.array([0, 1, 0, 0])}).tolist()
        [True, False, False, False]
        >>> parse_where("mode != 1", ["mode"]).mask({"mode": np.array([0, 1, np.nan])}).tolist()
        [True, False, False]
        """
        return np.asarray(_evaluate(self.tree, values), dtype=bool)


def parse_where(text: str, features: Iterable[str]) -> Where:
    """Parse `text` over the feature names `features`; `WhereError` says what is wrong and where.

    >>> parse_where("0.3 <= energy <= 0.8", ["energy"]).columns
    ('energy',)
    >>> parse_where("energy > __import__('os')", ["energy"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    songscope.recommend.where.WhereError: --where "energy > __import__('os')": a call is not allowed, at column 10 ("__import__('os')"); ...
    """
    known = tuple(features)
    shown = f"--where {text!r}"
    if not text or not text.strip():
        raise WhereError(f"{shown}: the expression is empty; {_EXAMPLE}")
    if len(text) > MAX_WHERE_CHARS:
        raise WhereError(f"{shown[:60]}...: the expression has {len(text):,} characters; at most {MAX_WHERE_CHARS} are allowed")
    source = " ".join(text.split())  # one line: a newline would end the expression
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        last = source.split()[-1]
        if last in ("and", "or", "not", "(") or last.endswith(("<", ">", "=")):
            raise WhereError(f"{shown}: it ends after {last!r}, at column {len(source) + 1}: something is missing there; {_EXAMPLE}") from None
        at = max((exc.offset or 1) - 1, 0)
        token = source[at:].split()[0] if source[at:].strip() else "the end of the expression"
        raise WhereError(f"{shown}: cannot read it at column {at + 1} ({token!r}: {exc.msg}); {_EXAMPLE}") from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise WhereError(f"{shown}: cannot read it ({type(exc).__name__}: nested too deep, or a NUL); {_EXAMPLE}") from None
    columns: list[str] = []
    comparisons = _check(tree, source, shown, set(known), columns)
    if comparisons > MAX_COMPARISONS:
        raise WhereError(f"{shown}: {comparisons} comparisons; at most {MAX_COMPARISONS} are allowed")
    return Where(text=text, tree=tree, columns=tuple(dict.fromkeys(columns)))


_EXAMPLE = "compare features with numbers, e.g. energy < 0.5 and tempo > 120"

_WHAT = {ast.Call: "a call", ast.Attribute: "an attribute", ast.BinOp: "arithmetic", ast.Subscript: "indexing",
         ast.Lambda: "a lambda", ast.IfExp: "an if-expression", ast.NamedExpr: "an assignment"}


def _check(node: ast.AST, source: str, shown: str, known: set[str], columns: list[str]) -> int:
    """Refuse anything outside the language; collect the feature names; count the comparisons."""
    def refuse(what: str, at: ast.AST) -> WhereError:
        segment = ast.get_source_segment(source, at) or ""
        return WhereError(f"{shown}: {what} is not allowed, at column {getattr(at, 'col_offset', 0) + 1} ({segment!r}); {_EXAMPLE}")

    if isinstance(node, ast.BoolOp):
        return sum(_check(v, source, shown, known, columns) for v in node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _check(node.operand, source, shown, known, columns)
    if isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise refuse(f"the operator {type(op).__name__!r}", node)
        operands = [node.left, *node.comparators]
        names = 0
        for operand in operands:
            if isinstance(operand, ast.Name):
                if operand.id not in known:
                    raise WhereError(f"{shown}: unknown feature {operand.id!r} at column {operand.col_offset + 1}; "
                                     f"the features are {', '.join(sorted(known))}")
                columns.append(operand.id)
                names += 1
            elif _number(operand) is None:
                raise refuse(_WHAT.get(type(operand), "this"), operand)
        if names == 0:
            raise refuse("a comparison without a feature", node)
        return len(node.ops)
    if isinstance(node, ast.Name | ast.Constant):
        raise refuse("a value on its own (compare it: energy > 0.5)", node)
    raise refuse(_WHAT.get(type(node), f"{type(node).__name__.lower()}"), node)


def _number(node: ast.AST) -> float | None:
    """The number a literal (or a signed literal) holds, or None."""
    sign = 1.0
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return sign * float(node.value)
    return None


def _evaluate(node: ast.AST, values: Mapping[str, np.ndarray]):
    if isinstance(node, ast.BoolOp):
        parts = [_evaluate(v, values) for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        result = parts[0]
        for part in parts[1:]:
            result = combine(result, part)
        return result
    if isinstance(node, ast.UnaryOp):  # `not`, the only unary operator _check lets through here
        return np.logical_not(_evaluate(node.operand, values))
    operands = [np.asarray(values[o.id], dtype=np.float64) if isinstance(o, ast.Name) else _number(o) for o in (node.left, *node.comparators)]
    result = True
    for op, left, right in zip(node.ops, operands, operands[1:]):
        result = np.logical_and(result, _COMPARE[type(op)](left, right))
    for operand in operands:  # a missing value passes no comparison (NaN != 1 would be true)
        if isinstance(operand, np.ndarray):
            result = np.logical_and(result, ~np.isnan(operand))
    return result
