"""The house figure style fits the book's content column, and each figure records its text sizes."""

import json

import numpy as np
import pytest

from dlnlib.companion.chapter import COLUMN_WIDTH_IN, HOUSE_STYLE, Chapter, column_figsize, legibility

# px per inch where the book shows a column-wide figure: ~660 px column on a 1280 px page
COLUMN_PX_AT_1280 = 660


def test_column_figsize_narrows_wide_figures_only():
    assert column_figsize((5.6, 3.8)) == (5.6, 3.8)
    w, h = column_figsize((11.0, 3.5))
    assert w == COLUMN_WIDTH_IN
    np.testing.assert_allclose(h, 3.5 * (COLUMN_WIDTH_IN / 11.0) ** 0.5, rtol=1e-3)
    assert column_figsize(None) == tuple(HOUSE_STYLE["figure.figsize"])
    with pytest.raises(ValueError, match="figsize"):
        column_figsize((0, 3))


def test_house_font_sizes_render_at_10px_in_the_column():
    keys = ["font.size", "axes.titlesize", "axes.labelsize", "xtick.labelsize", "ytick.labelsize",
            "legend.fontsize", "legend.title_fontsize", "figure.titlesize"]
    sizes = [HOUSE_STYLE[k] for k in keys]
    assert min(sizes) / 72 * COLUMN_PX_AT_1280 / COLUMN_WIDTH_IN >= 10


def test_subplots_fits_the_column_and_save_records_legibility(tmp_path, monkeypatch):
    monkeypatch.setenv("DLN_FIGURES_DIR", str(tmp_path))
    ch = Chapter("chXX_test", seed=0)
    fig, ax = ch.subplots(figsize=(11.0, 3.4))
    assert fig.get_size_inches()[0] == pytest.approx(COLUMN_WIDTH_IN)
    ax.plot([0, 1], [0, 1], label="a line")
    ax.legend()
    ax.annotate("small", (0.5, 0.5), fontsize=6.5)
    info = legibility(fig)
    assert info["min_fontsize_pt"] == 6.5 and info["min_font_text"] == "small"
    ch.save(fig, "probe", glue=False)
    prov = json.loads((tmp_path / "chXX_test" / "probe.json").read_text())
    leg = prov["legibility"]
    assert leg["min_fontsize_pt"] == 6.5
    assert leg["figsize_in"][0] == pytest.approx(COLUMN_WIDTH_IN)
    # the saved (tight) PNG is about as wide as the figure
    assert 0.8 * COLUMN_WIDTH_IN < leg["image_width_in"] < 1.1 * COLUMN_WIDTH_IN
