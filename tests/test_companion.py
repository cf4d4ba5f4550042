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


def _figure(ch):
    fig, ax = ch.subplots(figsize=(5.0, 3.0))
    ax.semilogy([1, 2, 3], [1e-3, 1e-1, 1.0], label="a curve")
    ax.set(xlabel="$t$", ylabel="loss", title="a title")
    ax.legend()
    return fig


def test_save_writes_the_asked_formats_once_laid_out(tmp_path, monkeypatch):
    import json

    import matplotlib.pyplot as plt
    from PIL import Image

    from dlnlib.companion.chapter import Chapter

    monkeypatch.setenv("DLN_FIGURES_DIR", str(tmp_path))
    monkeypatch.delenv("DLN_FIGURE_FORMATS", raising=False)
    ch = Chapter("ch00_test", seed=1)
    ch.save(_figure(ch), "default", glue=False)
    folder = tmp_path / "ch00_test"
    assert sorted(p.name for p in folder.iterdir()) == ["default.json", "default.pdf", "default.png"]
    prov = json.loads((folder / "default.json").read_text())
    assert prov["files"] == ["default.pdf", "default.png"] and prov["parameters"] == {"seed": 1}
    with Image.open(folder / "default.png") as im:  # provenance in the PNG, as before
        assert json.loads(im.info["Description"])["figure"] == "default"
        saved_size = im.size
    # one layout for all formats: the PNG is cut like savefig(bbox_inches="tight") (to a pixel or two)
    plain = _figure(ch)
    plain.savefig(tmp_path / "plain.png", bbox_inches="tight")
    plt.close(plain)
    with Image.open(tmp_path / "plain.png") as im:
        assert all(abs(a - b) <= 2 for a, b in zip(im.size, saved_size, strict=True)), (im.size, saved_size)
    monkeypatch.setenv("DLN_FIGURE_FORMATS", "svg, pdf")
    ch.save(_figure(ch), "all", glue=False)
    assert json.loads((folder / "all.json").read_text())["files"] == ["all.pdf", "all.png", "all.svg"]
    assert (folder / "all.svg").stat().st_size > 1000 and (folder / "all.pdf").stat().st_size > 1000


@pytest.mark.parametrize("value", ["jpg", "png,eps", "pdf;svg"])
def test_unknown_figure_format_is_a_clear_error(monkeypatch, value):
    from dlnlib.companion.chapter import figure_formats

    monkeypatch.setenv("DLN_FIGURE_FORMATS", value)
    with pytest.raises(ValueError, match="DLN_FIGURE_FORMATS must be a comma-separated list among pdf, png, svg"):
        figure_formats()


def test_glued_value_formats_numbers_and_unquotes_strings():
    from dlnlib.companion.report import glued_value

    glued = {"a": "0.123456", "s": "'confirm'", "w": "5-4-3"}
    assert glued_value(glued, "a:.2f") == "0.12"
    assert glued_value(glued, "a") == "0.123456"
    assert glued_value(glued, "s") == "confirm"
    assert glued_value(glued, "w:.2f") == "5-4-3"  # a format only applies to a number
    assert glued_value(glued, "missing") is None
