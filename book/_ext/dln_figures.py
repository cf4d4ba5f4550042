"""Sphinx extension: accessible, citable figures and one citation style.

* Every image gets real ``alt`` text: for a numbered figure, its number and its caption as plain
  text (math rendered to Unicode by :func:`dlnlib.companion.citation.tex_to_text`, the book's
  macros expanded, references as the reader sees them); for an image outside a figure, a short
  description. Without this, docutils uses the image's file name.
* The Figures page's citations and BibTeX entries wrap within the column (``dln-citation.css``,
  served from ``book/_static``; the copy button is sphinx-copybutton's, bundled with Jupyter Book).
* Citations use one author–year style: ``{cite:t}`` in the text gives "Chitour et al. (2023)" and
  ``{cite:p}`` "(Chitour et al., 2023)" (the referencing style ``dln_author_year`` registered here,
  selected by ``bibtex_reference_style``: sphinxcontrib-bibtex's ``author_year`` with round brackets),
  and the bibliography labels its entries the same way
  (the pybtex style ``dln_author_year`` registered here, selected by ``bibtex_default_style``).
  Docstrings cite the paper as ``[CLC]``; in the API reference that shorthand renders as the same
  author–year citation, linked to the bibliography.
"""

from __future__ import annotations

import re

from docutils import nodes

CLC_KEY = "chitour2023geometric"
"""The bibliography key of the paper that docstrings cite as ``[CLC]``."""


def _macros(app) -> dict:
    cfg = app.config.mathjax3_config or {}
    return dict((cfg.get("tex") or {}).get("macros") or {})


def plain_text(node: nodes.Node, macros: dict) -> str:
    """The text of a caption (or any node) as a reader sees it, with math as Unicode text.

    Parameters
    ----------
    node : docutils.nodes.Node
        The node.
    macros : dict
        The book's MathJax macros.

    Returns
    -------
    str
        One line of plain text.
    """
    from dlnlib.companion.citation import tex_to_text

    def walk(n: nodes.Node) -> str:
        if isinstance(n, (nodes.math, nodes.math_block)):
            return tex_to_text(n.astext(), macros)
        if isinstance(n, nodes.Text):
            return str(n)
        return "".join(walk(c) for c in n.children)

    return re.sub(r"\s+", " ", walk(node)).strip()


def _figure_number(env, docname: str, figure: nodes.figure) -> str | None:
    numbers = env.toc_fignumbers.get(docname, {}).get("figure", {})
    for figure_id in figure.get("ids", []):
        if figure_id in numbers:
            return ".".join(map(str, numbers[figure_id]))
    return None


def set_alt_text(app, doctree: nodes.document, docname: str) -> None:
    """Give every image without ``alt`` text a description (the ``doctree-resolved`` handler)."""
    macros = _macros(app)
    for image in doctree.findall(nodes.image):
        if image.get("alt"):
            continue
        parent = image.parent
        while parent is not None and not isinstance(parent, nodes.figure):
            parent = parent.parent
        captions = [c for c in parent.children if isinstance(c, nodes.caption)] if parent is not None else []
        if captions:
            number = _figure_number(app.env, docname, parent)
            text = plain_text(captions[0], macros)
            image["alt"] = f"Fig. {number}: {text}" if number else text
        else:
            image["alt"] = "Image output of a code cell of this page"


def cite_clc(app, what, name, obj, options, lines: list[str]) -> None:
    """Render the docstrings' ``[CLC]`` shorthand as the book's author–year citation."""
    for k, line in enumerate(lines):
        if "[CLC]" not in line:
            continue
        if line.lstrip().startswith("[CLC] "):  # the entry of a References section
            line = line.replace("[CLC] ", f":cite:t:`{CLC_KEY}`: ", 1)
        lines[k] = line.replace("[CLC]", f":cite:t:`{CLC_KEY}`")


def _register_bibliography_style() -> None:
    from pybtex.plugin import register_plugin
    from pybtex.style.formatting.unsrt import Style as UnsrtStyle
    from pybtex.style.labels import BaseLabelStyle

    class AuthorYearLabels(BaseLabelStyle):
        """Labels such as "Chitour et al., 2023", as the text cites the entry."""

        def format_labels(self, sorted_entries):
            for entry in sorted_entries:
                persons = entry.persons.get("author") or entry.persons.get("editor") or []
                last = ["".join(p.last_names).replace("{", "").replace("}", "") for p in persons]
                who = f"{last[0]} et al." if len(last) > 2 else " and ".join(last) or entry.key
                yield f"{who}, {entry.fields.get('year', 'n.d.')}"

    class AuthorYearStyle(UnsrtStyle):
        """unsrt entries, sorted by author and year, with author–year labels."""

        default_label_style = "dln_author_year"
        default_sorting_style = "author_year_title"

    register_plugin("pybtex.style.labels", "dln_author_year", AuthorYearLabels, force=True)
    register_plugin("pybtex.style.formatting", "dln_author_year", AuthorYearStyle, force=True)


def _register_reference_style() -> None:
    import dataclasses

    from sphinxcontrib.bibtex.plugin import register_plugin
    from sphinxcontrib.bibtex.style.referencing import BracketStyle
    from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle

    def round_brackets() -> BracketStyle:
        return BracketStyle(left="(", right=")")

    @dataclasses.dataclass
    class RoundAuthorYear(AuthorYearReferenceStyle):
        """Author–year references in round brackets: "Chitour et al. (2023)", "(Chitour et al., 2023)"."""

        bracket_parenthetical: BracketStyle = dataclasses.field(default_factory=round_brackets)
        bracket_textual: BracketStyle = dataclasses.field(default_factory=round_brackets)
        bracket_author: BracketStyle = dataclasses.field(default_factory=round_brackets)
        bracket_label: BracketStyle = dataclasses.field(default_factory=round_brackets)
        bracket_year: BracketStyle = dataclasses.field(default_factory=round_brackets)

    register_plugin("sphinxcontrib.bibtex.style.referencing", "dln_author_year", RoundAuthorYear, force=True)


def setup(app):
    _register_bibliography_style()
    _register_reference_style()
    app.add_css_file("dln-citation.css")
    app.connect("doctree-resolved", set_alt_text)
    app.connect("autodoc-process-docstring", cite_clc)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
