"""Citable figures: captions as plain text, figure and equation numbers, citation text and BibTeX."""

import json
import re
import sys
from pathlib import Path

import pytest

from dlnlib.companion import citation as cit

MACROS = {"R": r"\mathbb{R}", "L": r"\mathcal{L}", "Sbar": r"\bar{\Sigma}", "rank": r"\operatorname{rank}",
          "T": r"\top", "pair": [r"(#1, #2)", 2]}


@pytest.mark.parametrize(
    ("tex", "text"),
    [
        (r"\Sbar", "Σ̄"),
        (r"W_i\in\R^{d_i\times d_{i-1}}", "Wᵢ ∈ ℝ^(dᵢ×dᵢ₋₁)"),
        (r"\max_i\|W_i(0)\|_F^2", "maxᵢ‖Wᵢ(0)‖_F²"),
        (r"\bar\L(0)e^{-2\kappa t}", "ℒ̄(0)e^(−2κt)"),
        (r"\rank W_2 = 4", "rank W₂ = 4"),
        (r"-s_k+\tfrac12t^N", "−sₖ+½tᴺ"),
        (r"\frac{a+b}{c}", "(a+b)/c"),
        (r"\{1,\dots,r\}", "{1,…,r}"),
        (r"W_1^\T", "W₁ᵀ"),
        (r"a + b\log(1/\varepsilon)", "a+b log(1/ε)"),
        (r"\sim10^{-8}", "∼ 10⁻⁸"),
        (r"\pair{x}{y}", "(x,y)"),
        (r"\text{if } x > 0", "if x>0"),
    ],
)
def test_tex_to_text(tex, text):
    assert cit.tex_to_text(tex, MACROS) == text


def test_tex_to_text_leaves_no_tex():
    out = cit.tex_to_text(r"\sqrt{\lambda_+^{\min}}\,\mathcal C_S \unknowncommand{x}", MACROS)
    assert not re.search(r"[\\{}$]", out), out
    assert "unknowncommand" in out  # an unknown command keeps its name, never a backslash


def test_expand_macros_nested_and_with_arguments():
    macros = {"a": r"\b+1", "b": r"\mathbb{R}", "f": [r"g(#1)", 1]}
    assert cit.tex_to_text(r"\a \f{x}", macros) == "ℝ+1g(x)"
    assert cit.expand_macros(r"\alpha", {"a": "z"}) == r"\alpha"  # a longer command is not the macro


NUMBERS = cit.BookNumbers(
    figures={"fig-ch02-flow": "2.1"}, tables={"tab-ch03-x": "3.1"}, equations={"eq-ch02-inv": "2.1"},
    chapters={"ch02": 2},
)


def test_caption_to_text_resolves_every_reference():
    caption = (
        "Drift of {glue}`k-n` networks up to $t$ = {glue:text}`k-t:.1f`, see {eq}`eq-ch02-inv`, "
        "{numref}`fig-ch02-flow`, "
        "{numref}`Table %s <tab-ch03-x>`, {prf:ref}`Lemma 2.3 <notes-lemma-2-3>`, {cite:t}`chitour2023geometric`, "
        "{cite:p}`chitour2023geometric`, `dlnlib.model` and **bold**; $\\Sbar\\in\\R$."
    )
    out = cit.caption_to_text(
        caption, glued={"k-n": "3", "k-t": "20.04"}, numbers=NUMBERS, macros=MACROS,
        bib={"chitour2023geometric": ("Chitour et al.", "2023")},
    )
    assert out == (
        "Drift of 3 networks up to t = 20.0, see (2.1), Fig. 2.1, Table 3.1, Lemma 2.3, Chitour et al. (2023), "
        "(Chitour et al., 2023), dlnlib.model and bold; Σ̄ ∈ ℝ."
    )


def test_caption_to_text_without_numbers_shows_no_raw_role():
    out = cit.caption_to_text("See {numref}`fig-x` and {eq}`eq-y` and $x^2$.")
    assert "{" not in out and "`" not in out and "$" not in out


def _write_book(root: Path) -> None:
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nparts:\n  - caption: C\n    numbered: true\n    chapters:\n"
        "      - file: book/chapters/chA\n      - file: book/chapters/chB\n  - caption: R\n    chapters:\n"
        "      - file: book/notes\n"
    )
    (root / "book" / "chapters").mkdir(parents=True)

    def nb(cells):
        return json.dumps({"cells": [{"cell_type": "markdown", "source": c} for c in cells]})

    (root / "book" / "chapters" / "chA.ipynb").write_text(nb(["# A\n"]))
    (root / "book" / "chapters" / "chB.ipynb").write_text(nb([
        "$$ x = 1 $$ (eq-b1)\n\n```{prf:lemma}\n:label: lem-b\nx\n```\n",
        "```{glue:figure} chB-one\n:name: fig-b1\n\nFirst.\n```\n\n```{glue:figure} chB-unnamed\n\nNo name.\n```\n",
        "::::{table} A table.\n:name: tab-b1\n\n:::{glue:md} chB-t\n:::\n::::\n\n```{math}\n:label: eq-b2\ny\n```\n",
        "```{glue:figure} chB-two\n:name: fig-b2\n\nSecond.\n```\n",
    ]))


def test_book_numbers_follow_toc_and_document_order(tmp_path):
    _write_book(tmp_path)
    n = cit.book_numbers(tmp_path)
    assert n.chapters == {"chA": 1, "chB": 2}
    assert n.figures == {"fig-b1": "2.1", "fig-b2": "2.2"}
    assert n.tables == {"tab-b1": "2.1"}
    assert n.equations == {"eq-b1": "2.1", "eq-b2": "2.2"}  # a lemma's :label: is not an equation


def test_read_work_and_placeholder_url(tmp_path):
    cff = tmp_path / "CITATION.cff"
    cff.write_text('title: "T"\nauthors:\n  - given-names: Ada\n    family-names: Lovelace\n  - name: "X team"\n'
                   "version: 1.2.0\ndate-released: 2026-11-25\n")
    work = cit.read_work(cff)
    assert work == cit.Work(authors=("Ada Lovelace", "X team"), title="T", year="2026", version="1.2.0", url=None)
    kw = dict(number="2.1", caption="Loss 50% of_runs {x}", commit="abc123", files="figures/ch/f.{pdf,png,svg}")
    text = cit.citation_text(work, **kw)
    assert text.startswith("Ada Lovelace, X team (2026). T, version 1.2.0, commit abc123. Fig. 2.1: Loss 50% of_runs {x}.")  # noqa: E501
    assert cit.URL_PLACEHOLDER in text
    bib = cit.bibtex_entry(work, **kw)
    assert bib.startswith("@misc{dln-companion-fig-2-1,\n") and bib.endswith("\n}")
    assert "author       = {{Ada Lovelace} and {X team}}" in bib
    assert r"Loss 50\% of\_runs \{x\}" in bib and "howpublished" in bib
    assert bib.count("{") - bib.count(r"\{") == bib.count("}") - bib.count(r"\}")  # balanced braces
    cff.write_text(cff.read_text() + "repository-code: https://example.org/dln_x\n")
    work = cit.read_work(cff)
    assert work.url == "https://example.org/dln_x"
    assert "https://example.org/dln_x." in cit.citation_text(work, **kw)
    assert "url          = {https://example.org/dln_x}" in cit.bibtex_entry(work, **kw)


def test_read_work_rejects_missing_authors(tmp_path):
    cff = tmp_path / "CITATION.cff"
    cff.write_text('title: "T"\n')
    with pytest.raises(ValueError, match="author"):
        cit.read_work(cff)


def test_read_bib_authors(root):
    bib = cit.read_bib_authors(root / "references.bib")
    assert bib["chitour2023geometric"] == ("Chitour et al.", "2023")
    assert all(who and year for who, year in bib.values())


def test_repository_macros_and_citation_files_parse(root):
    macros = cit.read_macros(root / "_config.yml")
    assert {"R", "L", "Sbar"} <= set(macros)
    assert cit.tex_to_text(r"\Sbar", macros) == "Σ̄"
    work = cit.read_work(root / "CITATION.cff")
    assert work.authors and work.version


@pytest.fixture(scope="module")
def dln_figures(root):
    import importlib.util

    spec = importlib.util.spec_from_file_location("dln_figures", root / "book" / "_ext" / "dln_figures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("dln_figures", module)  # as Sphinx imports it (dataclasses look the module up)
    spec.loader.exec_module(module)
    return module


def test_docstring_clc_renders_as_the_author_year_citation(dln_figures):
    lines = ["Proposition 5 of [CLC], eq. (1).", "", "[CLC] Y. Chitour, Z. Liao, R. Couillet, *A Geometric ...*"]
    dln_figures.cite_clc(None, "module", "m", None, {}, lines)
    assert lines[0] == "Proposition 5 of :cite:t:`chitour2023geometric`, eq. (1)."
    assert lines[2].startswith(":cite:t:`chitour2023geometric`: Y. Chitour")
    assert not any("[CLC]" in line for line in lines)


def test_bibliography_labels_are_author_year(dln_figures, root):
    from pybtex.database import parse_file
    from pybtex.plugin import find_plugin
    from sphinxcontrib.bibtex.plugin import find_plugin as find_bibtex_plugin

    dln_figures._register_bibliography_style()
    dln_figures._register_reference_style()
    reference = find_bibtex_plugin("sphinxcontrib.bibtex.style.referencing", "dln_author_year")()
    assert (reference.bracket_textual.left, reference.bracket_textual.right) == ("(", ")")
    style = find_plugin("pybtex.style.formatting", "dln_author_year")()
    entries = parse_file(str(root / "references.bib")).entries
    labels = dict(zip(entries, style.format_labels(entries.values())))
    assert labels["chitour2023geometric"] == "Chitour et al., 2023"
    authors = cit.read_bib_authors(root / "references.bib")
    for key, label in labels.items():  # the bibliography's label is the in-text citation's author and year
        assert label == f"{authors[key][0]}, {authors[key][1]}", (key, label)


def test_alt_text_from_caption(dln_figures):
    from types import SimpleNamespace

    from docutils import nodes

    doc = nodes.document(None, None)
    caption = nodes.caption("", "", nodes.Text("Drift of "), nodes.math("", r"\Sbar_i"), nodes.Text(" (dashed)."))
    figure = nodes.figure("", nodes.container("", nodes.image(uri="x.png")), caption, ids=["fig-a"])
    doc += [figure, nodes.image(uri="y.png")]
    app = SimpleNamespace(
        config=SimpleNamespace(mathjax3_config={"tex": {"macros": {"Sbar": r"\bar{\Sigma}"}}}),
        env=SimpleNamespace(toc_fignumbers={"ch": {"figure": {"fig-a": (2, 1)}}}),
    )
    dln_figures.set_alt_text(app, doc, "ch")
    alts = [im["alt"] for im in doc.findall(nodes.image)]
    assert alts[0] == "Fig. 2.1: Drift of Σ̄ᵢ (dashed)."
    assert alts[1] and "png" not in alts[1]
