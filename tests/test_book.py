"""The executed chapters and the built HTML (needs `make book`; run by `make test`).

These tests read what the build produced: every chapter executed without error, glued a verdict,
saved its figures with provenance; the Figures page lists every figure; the HTML references no
remote resource (everything offline, MathJax served locally).
"""

import json
import re

import nbformat
import pytest

from dlnlib.companion import cli
from dlnlib.companion.report import figure_entries, glued_text

pytestmark = pytest.mark.book


@pytest.fixture(scope="module")
def executed(root):
    out = {}
    for c in cli.list_chapters(root):
        path = root / cli.EXECUTED_DIR / f"{c.name}.ipynb"
        assert path.exists(), f"{path} missing: run `make book` first"
        out[c.name] = nbformat.read(path, as_version=4)
    return out


@pytest.fixture(scope="module")
def entries(root):
    return figure_entries(root)


def test_every_chapter_is_in_the_toc(root):
    toc = (root / "_toc.yml").read_text()
    for c in cli.list_chapters(root):
        assert f"book/chapters/{c.name}" in toc, f"{c.name} is not in _toc.yml"


def test_chapters_executed_without_errors(executed):
    for name, nb in executed.items():
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{name} has error outputs"
        assert nb.metadata.get("papermill", {}).get("exception") in (None, False), name


def test_every_chapter_states_a_glued_verdict(executed):
    for name, nb in executed.items():
        first = nb.cells[0].source
        assert "**Paper:**" in first and "**Verdict:**" in first, f"{name}: first cell must state paper and verdict"
        assert f"{name}-verdict" in first, f"{name}: the verdict must be glued"
        assert f"{name}-verdict" in glued_text(nb), f"{name}: verdict key never glued"


def test_every_glue_reference_is_defined(executed):
    for name, nb in executed.items():
        glued = glued_text(nb)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        refs = set(re.findall(r"\{glue(?::\w+)?\}`([^`:]+)", text))
        refs |= set(re.findall(r"```\{glue:figure\}\s+(\S+)", text))
        missing = refs - set(glued)
        assert not missing, f"{name}: glue keys referenced but not glued: {sorted(missing)}"


def test_every_figure_has_label_caption_files_and_provenance(root, executed, entries):
    defaults = {c.name: c.defaults for c in cli.list_chapters(root)}
    assert entries, "no figures found"
    assert {e["chapter"] for e in entries} == set(executed), "every chapter should have at least one figure"
    for e in entries:
        assert e["label"].startswith("fig-"), e
        assert len(e["caption"]) > 20, e
        prov = e["provenance"]
        assert prov is not None, f"{e['key']}: figure not saved"
        assert prov["chapter"] == e["chapter"] and prov["git_commit"] and prov["date"]
        assert prov["parameters"] == json.loads(json.dumps(defaults[e["chapter"]]))
        assert {f"{e['name']}.pdf", f"{e['name']}.png"} <= set(prov["files"])  # the default formats
        for file in prov["files"]:
            assert (root / "figures" / e["chapter"] / file).stat().st_size > 1000


def test_figures_page_lists_every_figure(html, entries):
    """Each figure is cited by its file (the PDF, the default vector format) and offers every file it wrote."""
    import re

    page = (html / "book" / "chapters" / "figures.html").read_text()
    downloads = set(re.findall(r'href="[^"]*/_downloads/[0-9a-f]+/([^"/]+)"', page))
    for e in entries:
        assert f"{e['chapter']}/{e['name']}.pdf" in page, e["key"]
        for file in e["provenance"]["files"]:
            assert file.endswith(".json") or file in downloads, (e["key"], file)


def test_png_metadata_carries_provenance(root):
    from PIL import Image

    pngs = sorted((root / "figures").glob("*/*.png"))
    assert pngs
    for p in pngs:
        with Image.open(p) as im:
            info = json.loads(im.info["Description"])
        assert info["chapter"] == p.parent.name and info["figure"] == p.stem


def test_html_loads_nothing_remote(html):
    remote = re.compile(r"""<(?:script|link|img|iframe)[^>]+(?:src|href)=["'](?:https?:)?//""", re.I)
    for page in html.rglob("*.html"):
        hits = remote.findall(page.read_text(errors="replace"))
        assert not hits, f"{page.relative_to(html)} loads remote resources: {hits[:3]}"
    assert (html / "_static" / "mathjax" / "tex-chtml.js").exists()


def test_execution_report_lists_every_chapter(root, html):
    report = json.loads((root / cli.EXECUTED_DIR / "execution.json").read_text())
    assert set(report) == {c.name for c in cli.list_chapters(root)}
    assert all(r["status"] == "ok" and r["seconds"] > 0 for r in report.values())
    page = (html / "book" / "chapters" / "execution.html").read_text()
    for r in report.values():
        assert r["title"].split()[0] in page


def test_figure_sidecars_carry_the_pages_citation_and_bibtex(root, entries):
    from dlnlib.companion.report import figure_citations

    for e in figure_citations(root, entries):
        if e["provenance"] is None:
            continue
        assert e["number"], f"{e['key']}: no figure number"
        side = json.loads((root / "figures" / e["chapter"] / f"{e['name']}.json").read_text(encoding="utf-8"))
        assert side["number"] == e["number"] and side["citation"] == e["citation"] and side["bibtex"] == e["bibtex"]
        assert f"Fig. {e['number']}: " in side["citation"] and "$" not in side["citation"]
