"""Write a chapter notebook from a list of (kind, source) cells, and fold its code cells (authoring helper).

Usage from a script:  from tools.nbgen import write; write(path, cells)
kinds: "md", "code", "params" (the papermill parameters cell).
The notebook is written without outputs; `python -m dlnlib execute` executes it.

Folding rule (:func:`fold_tag`; ``tests/test_fold.py`` checks every chapter follows it). A code cell's tag
says how the book shows it; only the cell metadata changes, never its source:

- the ``parameters`` cell and computational cells (anything else): shown in full, no tag;
- set-up cells (construct the ``Chapter``, or only import and define functions): ``hide-input``;
- plotting cells (call ``ch.save`` and neither glue, print nor display): ``hide-input``
  (the figure itself is shown by its ``{glue:figure}``);
- cells that only glue values or display a table (every statement a ``ch.glue(...)`` or ``display(...)``
  call): ``remove-input`` (the values appear in the prose, the table stays);
- Results-ledger cells (call ``ch.record`` and neither print nor display): ``remove-cell``
  (the records appear on the Results ledger page).

A cell that mixes computation with plotting stays visible: split it to fold the plotting part.
Apply the rule to notebooks with ``python tools/nbgen.py fold book/src/*.ipynb`` (``--check`` lists the
cells that do not follow it and exits 1).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import nbformat

#: Tags of myst-nb that hide or remove part of a code cell.
FOLD_TAGS = ("hide-input", "hide-output", "hide-cell", "remove-input", "remove-output", "remove-cell")


def _called_names(tree: ast.AST) -> set[str]:
    """Names of the called functions: ``f`` for ``f(...)``, ``ch.save`` for ``ch.save(...)``."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name):
                out.add(f.id)
            elif isinstance(f, ast.Attribute):
                out.add(f"{f.value.id}.{f.attr}" if isinstance(f.value, ast.Name) else f.attr)
    return out


def _only_calls(body: list[ast.stmt], names: set[str]) -> bool:
    """True when every statement of ``body`` is a call of one of ``names`` (dotted, e.g. ``ch.glue``), bare or
    assigned to ``_``."""

    def is_call(s):
        if isinstance(s, ast.Assign) and [ast.unparse(t) for t in s.targets] == ["_"]:
            s = ast.Expr(s.value)
        return isinstance(s, ast.Expr) and isinstance(s.value, ast.Call) and ast.unparse(s.value.func) in names

    return bool(body) and all(is_call(s) for s in body)


def fold_tag(source: str, tags: list[str] | tuple[str, ...] = ()) -> str | None:
    """The folding tag the book's rule gives a code cell, or None (shown in full).

    Parameters
    ----------
    source : str
        The cell's source.
    tags : sequence of str, optional
        The cell's other tags (``parameters`` keeps a cell visible).

    Returns
    -------
    str or None
        ``"hide-input"``, ``"remove-input"``, ``"remove-cell"`` or None; see the module docstring.
    """
    if "parameters" in tags:
        return None
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics: leave the cell as written
        return None
    body, calls = tree.body, _called_names(tree)
    shows = bool({"print", "display"} & calls) or "NBVAL" in source
    if "Chapter" in calls or (body and all(isinstance(s, (ast.Import, ast.ImportFrom, ast.FunctionDef)) for s in body)):
        return "hide-input"
    if "ch.record" in calls and not shows:
        return "remove-cell"
    if "ch.save" in calls and not shows and "ch.glue" not in calls:
        return "hide-input"
    if _only_calls(body, {"ch.glue", "display"}):
        return "remove-input"
    return None


def fold_cell(cell: dict) -> bool:
    """Set a code cell's folding tag from :func:`fold_tag` (metadata only); True if it changed."""
    if cell.get("cell_type") != "code":
        return False
    tags = list(cell.get("metadata", {}).get("tags", []))
    source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])  # raw JSON: lines
    want = fold_tag(source, tags)
    new = [t for t in tags if t not in FOLD_TAGS] + ([want] if want else [])
    if new == tags:
        return False
    if new:
        cell.setdefault("metadata", {})["tags"] = new
    else:
        cell["metadata"].pop("tags", None)
    return True


def misfolded(path: str | Path) -> list[str]:
    """Code cells of a notebook whose tags do not follow :func:`fold_tag` (``"<id>: has [...], rule says ..."``)."""
    nb = nbformat.read(str(path), as_version=4)
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = list(cell.metadata.get("tags", []))
        want = fold_tag(cell.source, tags)
        have = [t for t in tags if t in FOLD_TAGS]
        if have != ([want] if want else []):
            out.append(f"{cell.get('id')}: has {have}, rule says {want}")
    return out


def fold(path: str | Path) -> int:
    """Apply the folding rule to a notebook in place (only cell metadata changes); the number of cells changed."""
    nb = nbformat.read(str(path), as_version=4)
    changed = sum(fold_cell(c) for c in nb.cells)
    if changed:
        Path(path).write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    return changed


def write(path: str, cells: list[tuple[str, str]]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, src in cells:
        src = src.strip("\n")
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(src))
        elif kind == "params":
            nb.cells.append(nbformat.v4.new_code_cell(src, metadata={"tags": ["parameters"]}))
        elif kind == "code":
            nb.cells.append(nbformat.v4.new_code_cell(src))
            fold_cell(nb.cells[-1])
        elif kind == "hidden":
            nb.cells.append(nbformat.v4.new_code_cell(src, metadata={"tags": ["remove-input"]}))
        else:
            raise ValueError(kind)
    for i, c in enumerate(nb.cells):
        c["id"] = f"cell-{i:02d}"
    nbformat.validate(nb)
    nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/nbgen.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fold", help="tag code cells by the folding rule (cell metadata only)")
    f.add_argument("notebooks", nargs="+")
    f.add_argument("--check", action="store_true", help="only list the cells that do not follow the rule")
    args = p.parse_args(argv)
    bad = 0
    for nb in args.notebooks:
        if args.check:
            for line in misfolded(nb):
                print(f"{nb}: {line}")
                bad += 1
        else:
            n = fold(nb)
            print(f"{nb}: {n} cell(s) retagged")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
