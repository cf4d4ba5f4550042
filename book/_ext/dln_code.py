"""Sphinx extension: code cells as a reader sees them.

- Test markers are for ``pytest --nbval-lax``, not for readers: a line that is only an nbval comment
  (``# NBVAL_CHECK_OUTPUT``, ``# NBVAL_IGNORE_OUTPUT``, ...) is dropped from the rendered cell source.
  The notebooks (and nbval) keep it.
- ``dln-code.css`` (``book/_static``) wraps long lines of cell sources and outputs inside the content
  column instead of behind a horizontal scrollbar.

Which cells are folded is decided by their tags (``tools/nbgen.py``), not here.
"""

from __future__ import annotations

import re

from docutils import nodes

MARKER = re.compile(r"^\s*#\s*NBVAL_[A-Z_]+\s*$")
"""An nbval marker comment on a line of its own."""


def strip_markers(code: str) -> str:
    """``code`` without its nbval marker lines (unchanged when it has none)."""
    lines = code.split("\n")
    kept = [line for line in lines if not MARKER.match(line)]
    return code if len(kept) == len(lines) else "\n".join(kept)


def _strip_cell_markers(app, doctree) -> None:
    for block in doctree.findall(nodes.literal_block):
        parent = block.parent
        if parent is None or parent.get("nb_element") != "cell_code_source":
            continue
        text = block.astext()
        new = strip_markers(text)
        if new != text:
            block.children = [nodes.Text(new)]
            block.rawsource = new  # equal to the text: Sphinx still highlights it as code


def setup(app):
    app.connect("doctree-read", _strip_cell_markers)
    app.add_css_file("dln-code.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
