"""Sphinx extension: under every chapter figure, the one-line command that reproduces it.

For each figure labelled ``fig-chNN-...`` in a chapter page (``book/chapters/chNN_<name>``), a paragraph
``Reproduce this figure: python -m dlnlib run chNN -p seed 0 (file <name>.png)`` is added after it. The
command is generated from the executed notebook: the chapter id that ``python -m dlnlib run`` accepts
(checked with :func:`dlnlib.companion.cli.find_chapter`), every seed parameter (``seed``, ``*_seed``) and
every parameter the book's execution set away from its default (papermill's injected parameters), with
their executed values; the file is the figure's ``{glue:figure}`` key.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from pathlib import Path

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)

CHAPTER_DOC = re.compile(r"^book/chapters/(ch\d\d)_\w+$")
FIGURE_DIRECTIVE = re.compile(r"```\{glue:figure\}\s+(\S+)\s*\n(?:[ \t]*:[^\n]*\n)*?[ \t]*:name:\s*(\S+)")


def _cell_parameters(cells: list[dict], tag: str) -> dict:
    """Literal assignments of the first code cell tagged ``tag``."""
    for cell in cells:
        if cell.get("cell_type") == "code" and tag in cell.get("metadata", {}).get("tags", []):
            out = {}
            for node in ast.parse("".join(cell["source"])).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    try:
                        out[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError:
                        pass
            return out
    return {}


def reproduce_command(chapter_id: str, nb: dict) -> str:
    """The ``python -m dlnlib run`` command that reruns an executed chapter notebook with its parameters.

    Parameters
    ----------
    chapter_id : str
        The id ``run`` accepts, e.g. ``"ch02"``.
    nb : dict
        The executed notebook (JSON): its ``parameters`` cell gives the defaults, papermill's
        ``injected-parameters`` cell the values the execution set.

    Returns
    -------
    str
        E.g. ``"python -m dlnlib run ch02 -p seed 0"``.
    """
    defaults = _cell_parameters(nb["cells"], "parameters")
    injected = _cell_parameters(nb["cells"], "injected-parameters")
    values = {**defaults, **injected}
    names = [k for k in values if k == "seed" or k.endswith("_seed")]
    names += [k for k in injected if k not in names and injected[k] != defaults.get(k)]
    parts = ["python -m dlnlib run", chapter_id]
    for k in names:
        v = values[k]
        parts += ["-p", k, shlex.quote(repr(v)) if not isinstance(v, str) else shlex.quote(v)]
    return " ".join(parts)


def figure_files(nb: dict) -> dict[str, str]:
    """Figure label -> figure file stem, from the ``{glue:figure}`` directives of the markdown cells."""
    out = {}
    for cell in nb["cells"]:
        if cell.get("cell_type") == "markdown":
            for key, label in FIGURE_DIRECTIVE.findall("".join(cell["source"])):
                out[label] = key.split("-", 1)[1] if "-" in key else key
    return out


def _add_reproduce_lines(app, doctree) -> None:
    docname = app.env.docname
    m = CHAPTER_DOC.match(docname)
    if not m:
        return
    chapter_id = m.group(1)
    path = Path(app.env.doc2path(docname))
    if path.suffix != ".ipynb":
        return
    try:
        from dlnlib.companion import cli

        found = cli.find_chapter(chapter_id, Path(app.srcdir)).name
    except (ImportError, ValueError, SystemExit) as exc:
        found = f"no chapter ({exc})"
    if found != Path(docname).name:
        logger.warning(f"{docname}: `python -m dlnlib run {chapter_id}` resolves to {found}", location=docname)
        return
    nb = json.loads(path.read_text(encoding="utf-8"))
    command = reproduce_command(chapter_id, nb)
    files = figure_files(nb)
    for fig in list(doctree.findall(nodes.figure)):
        label = next((i for i in fig["ids"] if i.startswith(f"fig-{chapter_id}-")), None)
        if label is None:
            continue
        para = nodes.paragraph(classes=["dln-reproduce"])
        para += nodes.Text("Reproduce this figure: ")
        para += nodes.literal(command, command)
        if label in files:
            para += nodes.Text(" (file ")
            para += nodes.literal(f"{files[label]}.png", f"{files[label]}.png")
            para += nodes.Text(")")
        fig.parent.insert(fig.parent.index(fig) + 1, para)


def setup(app):
    app.connect("doctree-read", _add_reproduce_lines)
    app.add_css_file("dln-reproduce.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
