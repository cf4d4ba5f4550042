"""The folding rule for code cells (tools/nbgen.py): set-up and plotting cells fold, computation stays visible.

Every chapter source must follow the rule; after adding or changing cells run
``python tools/nbgen.py fold book/src/*.ipynb`` (it only changes cell metadata).
"""

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _nbgen():
    spec = importlib.util.spec_from_file_location("nbgen", ROOT / "tools" / "nbgen.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


nbgen = _nbgen()

SETUP = """import numpy as np

from dlnlib.companion.chapter import Chapter

ch = Chapter("ch99_x", seed=seed)
rng = np.random.default_rng(seed)
"""
PLOT = """fig, ax = ch.subplots(figsize=(5, 3))
ax.plot(t, y, label="loss")
ax.legend()
ch.save(fig, "loss")
"""
COMPUTE = """traj = dlnlib.gradient_flow(w0, X, Y, t_max)
err = float(traj.invariant_drift.max())
ch.glue("err", err, "{:.1e}")
"""
CHECK = """# NBVAL_CHECK_OUTPUT
ok = err < 1e-8
ch.glue("verdict", "confirm" if ok else "do NOT confirm", "{}")
print("drift below 1e-8:", ok)
"""
LEDGER = """ch.record("Lemma 2.3", ok=bool(err < 1e-8), figure=err, section="ch99-x", how="drift along one flow")"""


@pytest.mark.parametrize(
    ("source", "tags", "want"),
    [
        (SETUP, [], "hide-input"),
        ("import time\n\n\ndef f(x):\n    return 2 * x\n", [], "hide-input"),  # imports and helpers only
        (PLOT, [], "hide-input"),
        (COMPUTE, [], None),
        (CHECK, [], None),  # the checked verdict cell is read, never folded
        (LEDGER, [], "remove-cell"),
        (LEDGER + "\nprint(err)\n", [], None),  # a ledger cell that prints shows its output
        ('ch.glue("n", n)\nch.glue("m", m, "{:.2g}")\n', [], "remove-input"),
        ("display(Markdown(table))\n", [], "remove-input"),
        ('_ = ch.glue("n", n)\n', [], "remove-input"),
        (COMPUTE + PLOT, [], None),  # computation and plotting in one cell: computation wins
        (PLOT + 'print("done")\n', [], None),  # a plotting cell with printed output a reader reads
        ('import numpy as np\nseed = 0  # int, >= 0: seed\n', ["parameters"], None),  # parameters always shown
        ("x = np.linalg.norm(A)\nx\n", [], None),
        ("%timeit f(1)\n", [], None),  # magics: not parsed, left as written
    ],
)
def test_fold_tag_rule(source, tags, want):
    assert nbgen.fold_tag(source, tags) == want


def test_fold_cell_changes_only_the_folding_tags_and_is_idempotent():
    cell = {"cell_type": "code", "metadata": {"tags": ["remove-output", "keep-me"]}, "source": PLOT, "outputs": []}
    assert nbgen.fold_cell(cell)
    assert cell["metadata"]["tags"] == ["keep-me", "hide-input"]
    assert cell["source"] == PLOT
    assert not nbgen.fold_cell(cell)
    shown = {"cell_type": "code", "metadata": {"tags": ["hide-input"]}, "source": COMPUTE, "outputs": []}
    assert nbgen.fold_cell(shown) and "tags" not in shown["metadata"]
    md = {"cell_type": "markdown", "metadata": {}, "source": "import x"}
    assert not nbgen.fold_cell(md)


def test_misfolded_reports_cells_against_the_rule(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(COMPUTE, metadata={"tags": ["hide-input"]})]
    for i, c in enumerate(nb.cells):
        c["id"] = f"c{i}"
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    assert nbgen.misfolded(path) == ["c0: has [], rule says hide-input", "c1: has ['hide-input'], rule says None"]
    before = json.loads(path.read_text())
    assert nbgen.fold(path) == 2
    after = json.loads(path.read_text())
    assert [c["source"] for c in after["cells"]] == [c["source"] for c in before["cells"]]
    assert nbgen.misfolded(path) == []


SOURCES = sorted((ROOT / "book" / "src").glob("ch*.ipynb"))


@pytest.mark.parametrize("path", SOURCES, ids=[p.stem for p in SOURCES])
def test_every_chapter_follows_the_folding_rule(path):
    bad = nbgen.misfolded(path)
    assert not bad, f"{path.name}: run `python tools/nbgen.py fold book/src/*.ipynb`:\n" + "\n".join(bad)


def test_chapters_fold_something_and_keep_computation_visible():
    """Each chapter folds its set-up cell and keeps its parameters and checked cells in view."""
    for path in SOURCES:
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        tags = [c["metadata"].get("tags", []) for c in cells]
        assert any("hide-input" in t for t in tags), path.name
        for c, t in zip(cells, tags):
            src = "".join(c["source"])
            if "parameters" in t or "NBVAL_CHECK_OUTPUT" in src:
                assert not set(t) & set(nbgen.FOLD_TAGS), (path.name, c.get("id"))
        assert sum(not set(t) & set(nbgen.FOLD_TAGS) for t in tags) >= 2, path.name  # parameters + computation


def _ext(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "book" / "_ext" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_rendered_cells_drop_nbval_marker_lines_only():
    strip = _ext("dln_code").strip_markers
    assert strip(CHECK) == CHECK.split("\n", 1)[1]
    assert strip("x = 1  # NBVAL_CHECK_OUTPUT is mentioned here\n") == "x = 1  # NBVAL_CHECK_OUTPUT is mentioned here\n"
    assert strip("a = 1\n  #NBVAL_IGNORE_OUTPUT\nb = 2") == "a = 1\nb = 2"
    assert strip(COMPUTE) == COMPUTE


def test_reproduce_command_names_the_run_id_seeds_and_changed_parameters():
    from dlnlib.companion import cli

    ext = _ext("dln_reproduce")
    params = {"cell_type": "code", "metadata": {"tags": ["parameters"]},
              "source": ["seed = 0  # int: seed\n", "dims = [4, 3, 3]  # list[int]: widths\n", "wide_seed = 7\n"]}
    nb = {"cells": [params]}
    assert ext.reproduce_command("ch02", nb) == "python -m dlnlib run ch02 -p seed 0 -p wide_seed 7"
    injected = {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]},
                "source": ["seed = 3\n", "dims = [5, 2]\n", "wide_seed = 7\n"]}
    nb = {"cells": [params, injected]}
    assert ext.reproduce_command("ch02", nb) == "python -m dlnlib run ch02 -p seed 3 -p wide_seed 7 -p dims '[5, 2]'"
    # every chapter: the id resolves to the chapter, the command parses, and each figure label maps to a file
    for path in SOURCES:
        chapter_id = path.stem.split("_")[0]
        assert cli.find_chapter(chapter_id, ROOT).name == path.stem
        nb = json.loads(path.read_text())
        words = ext.reproduce_command(chapter_id, nb).split()
        assert words[:5] == ["python", "-m", "dlnlib", "run", chapter_id] and "seed" in words, path.name
        text = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        labels = set(re.findall(rf":name:\s*(fig-{chapter_id}-\S+)", text))
        files = ext.figure_files(nb)
        assert labels and labels <= set(files), (path.name, labels - set(files))
        assert all(f and "/" not in f for f in files.values())
