"""Text helpers for the book's prose and tables: widths, lists, index sets and Markdown tables.

These format computed objects for glued prose (``ch.glue``) and for the tables chapters display;
they hold no mathematics. A rerun with other parameters formats its own numbers the same way, so
the text never contradicts the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["format_index_set", "markdown_table", "rows_to_markdown", "spoken_list", "widths_label"]


def widths_label(dims: Sequence[int]) -> str:
    """Widths as the text writes them, ``(5, 2, 2, 5)`` -> ``"5-2-2-5"`` (for glued prose and labels).

    Parameters
    ----------
    dims : sequence of int
        Widths ``(d_0, ..., d_N)``.

    Returns
    -------
    str
        The widths joined by hyphens.
    """
    return "-".join(str(int(d)) for d in dims)


def spoken_list(items: Sequence[Any], fmt: str = "{}") -> str:
    """Items as a sentence lists them, ``[2, 3, 4]`` -> ``"2, 3 and 4"`` (for glued prose).

    Parameters
    ----------
    items : sequence
        The items, in order (at least one).
    fmt : str, optional
        Format applied to each item.

    Returns
    -------
    str
        ``"a"``, ``"a and b"`` or ``"a, b and c"``.

    Raises
    ------
    ValueError
        If ``items`` is empty.
    """
    words = [fmt.format(x) for x in items]
    if not words:
        raise ValueError("spoken_list needs at least one item")
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A GitHub/MyST markdown table (for ``IPython.display.Markdown`` in the chapters).

    Parameters
    ----------
    header : sequence of str
        Column titles.
    rows : sequence of sequence
        Table rows, each with one cell per column.

    Returns
    -------
    str
        The table in markdown.

    Raises
    ------
    ValueError
        If a row does not have as many cells as the header.
    """
    header = [str(h) for h in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"row {row!r} has {len(row)} cells, the header has {len(header)}")
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


def format_index_set(S: Sequence[int]) -> str:
    """The paper's 1-based notation: ``"{1, 2, 3}"`` for the 0-based ``(0, 1, 2)``, ``"∅"`` when empty.

    Parameters
    ----------
    S : sequence of int
        0-based index set.

    Returns
    -------
    str
        The 1-based set.
    """
    return "{" + ", ".join(str(int(i) + 1) for i in S) + "}" if len(S) else "∅"


def rows_to_markdown(rows: Sequence[dict], columns: dict[str, str], *, formats: dict[str, str] | None = None) -> str:
    """A MyST/GitHub markdown table of ``rows`` (dicts); ``columns`` maps keys to header titles.

    ``formats`` maps keys to format strings (e.g. ``{"value": "{:.3g}"}``). Booleans print as
    yes/no, tuples as index sets (``{1, 2}``, ``∅``); in strings ``non_`` prints as ``non-`` and other
    underscores as spaces (``non_strict_saddle`` -> ``non-strict saddle``).

    Parameters
    ----------
    rows : sequence of dict
        Table rows.
    columns : dict of str to str
        Keys to print, in order, and their header titles.
    formats : dict of str to str or None, optional
        Keyword-only. Format strings by key.

    Returns
    -------
    str
        The table in markdown.
    """
    formats = formats or {}

    def cell(key, v):
        if key in formats:
            return formats[key].format(v)
        if isinstance(v, (bool, np.bool_)):
            return "yes" if v else "no"
        if isinstance(v, tuple):  # an index set, already 1-based
            return "{" + ", ".join(map(str, v)) + "}" if v else "∅"
        return str(v).replace("non_", "non-").replace("_", " ")

    return markdown_table(list(columns.values()), [[cell(k, r[k]) for k in columns] for r in rows])
