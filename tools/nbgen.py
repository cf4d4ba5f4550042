"""Write a chapter notebook from a list of (kind, source) cells (authoring helper).

Usage from a script:  from tools.nbgen import write; write(path, cells)
kinds: "md", "code", "params" (the papermill parameters cell).
The notebook is written without outputs; `python -m dlnlib execute` executes it.
"""

from __future__ import annotations

import nbformat


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
        elif kind == "hidden":
            nb.cells.append(nbformat.v4.new_code_cell(src, metadata={"tags": ["remove-input"]}))
        else:
            raise ValueError(kind)
    for i, c in enumerate(nb.cells):
        c["id"] = f"cell-{i:02d}"
    nbformat.validate(nb)
    nbformat.write(nb, path)
