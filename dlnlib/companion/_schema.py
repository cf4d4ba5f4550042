"""Declared schema of a chapter's parameters, and its work estimate (private, standard library only).

Every assignment in a chapter's ``parameters`` cell carries a trailing comment::

    dims = [4, 3, 3]  # list[int], >= 1, len >= 2: widths d_0, ..., d_N
    seed = 0  # int, >= 0: seed of the random generator

that is ``# <type>[, <constraint>]...: <one-line description>`` with

* types ``int``, ``float``, ``bool``, ``str``, ``list[int]``, ``list[float]``, ``list[list[int]]``,
  ``list[list[float]]``, ``list[str]``;
* constraints ``>= x``, ``> x``, ``<= x``, ``< x`` (on the value, or on every element of a list,
  at any depth), ``len >= n`` (on the list; for a list of lists, on every inner list, the outer
  list being non-empty), ``in {a, b}`` (on the value or every element; bare words are strings).

A ``float`` must be finite (``1e400`` and ``nan`` are refused); an ``int`` is accepted for a ``float``.

The cell may also hold one line ``# cost: <expression>``: an arithmetic expression over the parameter
names (``+ - * / **``, numbers, list displays, ``len``, ``sum``, ``max``, ``min``; ``sum``/``max``/``min`` flatten
nested lists) proportional to the chapter's work. The command line divides its value at the given
parameters by its value at the defaults to estimate the run time from the last recorded execution.
"""

from __future__ import annotations

import ast
import io
import math
import re
import tokenize
from dataclasses import dataclass
from typing import Any

__all__ = ["ParamSpec", "chapter_cost", "check_value", "parse_cost", "parse_schema"]

_TYPES = (
    "int",
    "float",
    "bool",
    "str",
    "list[int]",
    "list[float]",
    "list[list[int]]",
    "list[list[float]]",
    "list[str]",
)
_CMP = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b}


@dataclass(frozen=True)
class ParamSpec:
    """The declared schema of one parameter.

    Attributes
    ----------
    name : str
        Parameter name.
    default : object
        Its value in the parameters cell.
    type : str
        One of the declared types (``"int"``, ``"list[float]"``, ...).
    bounds : tuple of (str, float)
        ``(operator, bound)`` pairs applied to the value or to every element.
    min_len : int or None
        Minimum length (``len >= n``).
    choices : tuple or None
        Allowed values (``in {a, b}``).
    description : str
        The one-line description.
    """

    name: str
    default: Any
    type: str
    bounds: tuple[tuple[str, float], ...]
    min_len: int | None
    choices: tuple | None
    description: str

    def constraint_text(self) -> str:
        """The type and constraints as written in the comment (``"list[int], >= 1, len >= 2"``)."""
        parts = [self.type] + [f"{op} {b:g}" for op, b in self.bounds]
        if self.min_len is not None:
            parts.append(f"len >= {self.min_len}")
        if self.choices is not None:
            parts.append("in {" + ", ".join(str(c) for c in self.choices) + "}")
        return ", ".join(parts)


def _split_top(text: str) -> list[str]:
    """Split at commas outside brackets and braces."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text.strip()


def _parse_comment(name: str, default: Any, comment: str) -> ParamSpec:
    body = comment.lstrip("#").strip()
    head, sep, description = body.partition(":")
    if not sep or not description.strip():
        raise ValueError(
            f"parameter {name!r}: schema comment {comment!r} needs '# <type>[, <constraint>]...: <description>'"
        )
    parts = _split_top(head)
    typ = parts[0]
    if typ not in _TYPES:
        raise ValueError(f"parameter {name!r}: unknown type {typ!r} in schema comment; allowed: {', '.join(_TYPES)}")
    bounds: list[tuple[str, float]] = []
    min_len = None
    choices = None
    for part in parts[1:]:
        m = re.fullmatch(r"(len\s*)?(>=|<=|>|<)\s*(\S+)", part)
        if m and m[1]:
            if m[2] != ">=":
                raise ValueError(f"parameter {name!r}: only 'len >= n' is allowed, got {part!r}")
            min_len = int(m[3])
        elif m:
            try:
                bounds.append((m[2], float(m[3])))
            except ValueError:
                raise ValueError(f"parameter {name!r}: bound {part!r} is not a number") from None
        elif (m := re.fullmatch(r"in\s*\{(.*)\}", part)) is not None:
            choices = tuple(_literal(x) for x in _split_top(m[1]))
        else:
            raise ValueError(f"parameter {name!r}: unknown constraint {part!r} in schema comment")
    if min_len is not None and not typ.startswith("list"):
        raise ValueError(f"parameter {name!r}: 'len >= n' needs a list type, got {typ}")
    return ParamSpec(name, default, typ, tuple(bounds), min_len, choices, description.strip())


def parse_schema(source: str) -> dict[str, ParamSpec]:
    """The declared schema of every assignment of a ``parameters`` cell.

    Parameters
    ----------
    source : str
        The cell's source.

    Returns
    -------
    dict of str to ParamSpec
        By parameter name, in the cell's order.

    Raises
    ------
    ValueError
        If an assignment has no schema comment, a malformed one, or a default that breaks it.
    """
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string
    out: dict[str, ParamSpec] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        name = node.targets[0].id
        default = ast.literal_eval(node.value)
        comment = comments.get(node.end_lineno)
        if comment is None:
            raise ValueError(f"parameter {name!r} has no schema comment '# <type>[, <constraint>]...: <description>'")
        spec = _parse_comment(name, default, comment)
        check_value(spec, default)
        out[name] = spec
    return out


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _leaves(v)]
    return [value]


def _convert(typ: str, value: Any, where: str, at: str = "") -> Any:
    """``value`` checked against ``typ`` (ints promoted to float for float types); ``at`` locates an element."""
    what = f"{where}{' element ' + at if at else ''}"
    if typ.startswith("list["):
        inner = typ[5:-1]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{what} must be a {typ}, got {value!r} ({type(value).__name__})")
        return [_convert(inner, v, where, f"{at}[{i}]") for i, v in enumerate(value)]
    if typ == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{what} must be a bool (True or False), got {value!r}")
        return value
    if typ == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{what} must be an int, got {value!r} ({type(value).__name__})")
        return value
    if typ == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{what} must be a float, got {value!r} ({type(value).__name__})")
        if not math.isfinite(value):
            raise ValueError(f"{what} must be a finite float, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a str, got {value!r} ({type(value).__name__})")
    return value


def check_value(spec: ParamSpec, value: Any) -> Any:
    """Check ``value`` against ``spec``: type, element type, bounds, length and choices.

    Parameters
    ----------
    spec : ParamSpec
        The parameter's schema.
    value : object
        The value (already parsed as a Python literal).

    Returns
    -------
    object
        The value, with ints promoted to floats where the type says float.

    Raises
    ------
    ValueError
        Naming the parameter, what is allowed and what was given.
    """
    where = f"parameter {spec.name!r} ({spec.constraint_text()}: {spec.description})"
    value = _convert(spec.type, value, where)
    if spec.min_len is not None:
        lists = value if spec.type.startswith("list[list") else [value]
        if spec.type.startswith("list[list") and not value:
            raise ValueError(f"{where} must hold at least one list, got {value!r}")
        for v in lists:
            if len(v) < spec.min_len:
                raise ValueError(f"{where} needs len >= {spec.min_len}, got {v!r} (len {len(v)})")
    for leaf in _leaves(value):
        for op, bound in spec.bounds:
            if not _CMP[op](leaf, bound):
                what = "every element" if spec.type.startswith("list") else "the value"
                raise ValueError(f"{where}: {what} must be {op} {bound:g}, got {leaf!r}")
        if spec.choices is not None and leaf not in spec.choices:
            raise ValueError(f"{where} must be in {{{', '.join(map(str, spec.choices))}}}, got {leaf!r}")
    return value


_COST_FUNCS = {
    "len": len,
    "sum": lambda x: sum(_leaves(x)),
    "max": lambda x: max(_leaves(x)),
    "min": lambda x: min(_leaves(x)),
}


def parse_cost(source: str) -> str | None:
    """The ``# cost: <expression>`` line of a parameters cell, if any (checked for allowed syntax).

    Parameters
    ----------
    source : str
        The cell's source.

    Returns
    -------
    str or None
        The expression.

    Raises
    ------
    ValueError
        If the expression uses anything but numbers, names, ``+ - * / **`` and ``len/sum/max/min``.
    """
    for line in source.splitlines():
        m = re.match(r"\s*#\s*cost:\s*(.+)$", line)
        if m:
            expr = m[1].strip()
            for node in ast.walk(ast.parse(expr, mode="eval")):
                ok = isinstance(
                    node,
                    (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load, ast.Call, ast.List)
                    + (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub),
                )
                if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _COST_FUNCS):
                    ok = False
                if not ok:
                    raise ValueError(f"cost expression {expr!r}: {type(node).__name__} is not allowed")
            return expr
    return None


def chapter_cost(expr: str, params: dict[str, Any]) -> float:
    """Evaluate a cost expression at ``params`` (see :func:`parse_cost`).

    Parameters
    ----------
    expr : str
        The expression.
    params : dict
        Parameter values by name.

    Returns
    -------
    float
        The (relative) amount of work.
    """
    return float(eval(compile(expr, "<cost>", "eval"), {"__builtins__": {}, **_COST_FUNCS}, dict(params)))
