"""The book machinery (dlnlib.companion): text helpers for glued prose, Chapter, Figure 1, and the layout."""

import pytest

from dlnlib.companion.text import spoken_list, widths_label


def test_widths_label():
    assert widths_label((5, 2, 2, 5)) == "5-2-2-5"
    assert widths_label([4, 3]) == "4-3"


def test_spoken_list():
    assert spoken_list([2]) == "2"
    assert spoken_list([2, 3]) == "2 and 3"
    assert spoken_list([2, 3, 4]) == "2, 3 and 4"
    assert spoken_list([0.5, 0.25], "{:.0%}") == "50% and 25%"
    with pytest.raises(ValueError, match="at least one"):
        spoken_list([])


def test_ledger_slug_and_record_payload():
    from dlnlib.companion.chapter import Chapter, ledger_slug

    assert ledger_slug("Lemma 3.2 (ii)") == "lemma-3-2-ii"
    assert ledger_slug("Theorem 2.2") == "theorem-2-2"
    ch = Chapter("ch00_test")
    assert ch.record("Lemma 2.3", ok=True, figure=1.23456e-9) is True
    assert ch.record("Lemma 2.3", ok=False) is False
    with pytest.raises(ValueError, match="kind"):
        ch.record("Lemma 2.3", ok=True, kind="proved")


def test_draw_network_from_dims():
    import matplotlib.pyplot as plt

    from dlnlib.companion.figures import draw_network

    fig, ax = plt.subplots()
    out = draw_network(ax, (4, 3, 3))
    assert [c.shape[0] for c in out["nodes"]] == [4, 3, 3]
    assert out["edges"] == 4 * 3 + 3 * 3
    assert sum("W_" in t.get_text() for t in ax.texts) == 2
    out = draw_network(ax, (30, 2), max_nodes=5, labels=False)
    assert [c.shape[0] for c in out["nodes"]] == [5, 2]
    with pytest.raises(ValueError, match="two integer widths"):
        draw_network(ax, (3,))
    with pytest.raises(ValueError, match="max_nodes"):
        draw_network(ax, (3, 2), max_nodes=2)
    plt.close(fig)


def test_import_dlnlib_keeps_book_machinery_out():
    """``import dlnlib`` loads neither the companion subpackage nor matplotlib, IPython or papermill."""
    import subprocess
    import sys

    code = (
        "import dlnlib, sys; bad = {'matplotlib', 'IPython', 'papermill', 'dlnlib.companion'} & set(sys.modules); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_public_module_has_an_api_page():
    """The API reference has one page per public module of ``dlnlib`` and ``dlnlib.companion``."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    mods = [p.stem for p in (root / "dlnlib").glob("*.py") if not p.stem.startswith("_")]
    mods += ["companion." + p.stem for p in (root / "dlnlib" / "companion").glob("*.py") if not p.stem.startswith("_")]
    toc = (root / "_toc.yml").read_text()
    for mod in mods:
        page = root / "book" / "api" / (mod.replace(".", "-") + ".md")
        assert page.exists(), f"no API page for dlnlib.{mod}"
        assert f".. automodule:: dlnlib.{mod}\n" in page.read_text()
        assert f"file: book/api/{page.stem}\n" in toc
