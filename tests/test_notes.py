"""The Mathematical notes page (book/notes.md) and the references to it from the book's sources.

Reads source files only (no build needed): the notes define every label the chapters may cite, each
exactly once; every reference to a ``notes`` label in the book resolves, with the right role; and
references to the statement blocks carry an explicit title (the blocks are unnumbered, so a bare
``{prf:ref}`` would render as "Lemma " without the paper's number).
"""

import json
import re

import pytest

SECTIONS = [
    "notes",
    "notes-notation",
    "notes-assumptions",
    "notes-reduction",
    "notes-invariants",
    "notes-boundedness",
    "notes-convergence",
    "notes-critical",
    "notes-second-order",
    "notes-one-hidden-layer",
    "notes-ovf",
    "notes-stepsize",
    "notes-pure-spurious",
    "notes-remarks",
    "notes-glossary",
]
STATEMENTS = [
    *(f"notes-assumption-{i}" for i in range(1, 5)),
    "notes-definition-2-1",
    "notes-definition-4-1",
    "notes-lemma-2-3",
    "notes-lemma-2-4",
    "notes-lemma-3-1",
    "notes-lemma-3-2",
    *(f"notes-proposition-{i}" for i in range(1, 6)),
    "notes-theorem-2-2",
    "notes-theorem-4-2",
    "notes-conjecture-1",
    *(f"notes-remark-{i}" for i in range(1, 8)),
    "notes-nrt-theorem",
    "notes-tkb-pure-spurious",
    "notes-amg-classification",
]
RECONSTRUCTED = [
    "notes-lemma24-constants",
    "notes-prop2-rate",
    "notes-dimension-formula",
    "notes-nrt-corrected-m",
    "notes-pairing-criterion",
    "notes-scalar-flow-limit",
    "notes-normal-count",
]
ROLE_RE = re.compile(r"\{(ref|prf:ref|eq)\}`([^`]*)`")


@pytest.fixture(scope="module")
def notes(root):
    return (root / "book" / "notes.md").read_text(encoding="utf-8")


def _section_labels(text):
    return re.findall(r"^\(([\w-]+)\)=$", text, flags=re.M)


def _block_labels(text):
    """Labels of prf blocks: the ``:label:`` option in the lines right after a ``:::{prf:...}`` fence."""
    return re.findall(r"^:::\{prf:\w+\}.*\n(?::\w+:.*\n)*?:label: ([\w-]+)$", text, flags=re.M)


def _math_labels(text):
    return re.findall(r"^```\{math\}\n:label: ([\w-]+)$", text, flags=re.M)


def test_every_label_is_defined_exactly_once(notes):
    sections, blocks = _section_labels(notes), _block_labels(notes)
    for label in SECTIONS:
        assert sections.count(label) == 1, f"section label {label!r} defined {sections.count(label)} times"
    for label in STATEMENTS + RECONSTRUCTED:
        assert blocks.count(label) == 1, f"prf label {label!r} defined {blocks.count(label)} times"
    everything = sections + blocks + _math_labels(notes)
    assert len(everything) == len(set(everything)), "a label of the notes is defined twice"


def test_statement_blocks_are_unnumbered_and_reconstructions_are_marked(notes):
    blocks = re.findall(r"^:::\{prf:(\w+)\} (.*)\n((?::\w+:.*\n)+)", notes, flags=re.M)
    assert blocks, "no prf blocks found"
    for kind, title, options in blocks:
        assert ":nonumber:" in options, f"{kind} {title!r}: the paper's numbers are in the titles, use :nonumber:"
        label = re.search(r":label: ([\w-]+)", options).group(1)
        if label in RECONSTRUCTED:
            assert title.startswith("Reconstructed here"), f"{label}: title must say 'Reconstructed here'"
    body = {label: notes.split(f":label: {label}\n", 1)[1].split("\n:::\n", 1)[0] for label in RECONSTRUCTED}
    for label, text in body.items():
        assert "tests/test_" in text, f"{label}: say which test checks the reconstructed formula"


def _book_sources(root):
    for path in sorted((root / "book").glob("*.md")):
        yield path.name, path.read_text(encoding="utf-8")
    for path in sorted((root / "book" / "src").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        yield path.name, "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def test_references_to_the_notes_resolve_with_the_right_role(root, notes):
    sections, blocks, maths = set(_section_labels(notes)), set(_block_labels(notes)), set(_math_labels(notes))
    for name, text in _book_sources(root):
        for role, content in ROLE_RE.findall(text):
            m = re.fullmatch(r"(?:(.*?)\s*<)?([\w-]+)>?", content.strip(), flags=re.S)
            title, target = m.group(1), m.group(2)
            if not target.startswith("notes"):
                continue
            if role == "ref":
                assert target in sections, f"{name}: {{ref}} to {target!r}, which is not a section of the notes"
            elif role == "prf:ref":
                assert target in blocks, f"{name}: {{prf:ref}} to {target!r}, which is not a prf block of the notes"
                assert title, f"{name}: {{prf:ref}}`{target}` needs an explicit title, e.g. `Lemma 2.3 <{target}>`"
            else:
                assert target in maths, f"{name}: {{eq}} to {target!r}, which is not an equation of the notes"
