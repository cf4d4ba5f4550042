"""Text helpers of dlnlib.plotting used to glue parameter-dependent words into the chapters' prose."""

import pytest

from dlnlib.plotting import spoken_list, widths_label


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
    from dlnlib.plotting import Chapter, ledger_slug

    assert ledger_slug("Lemma 3.2 (ii)") == "lemma-3-2-ii"
    assert ledger_slug("Theorem 2.2") == "theorem-2-2"
    ch = Chapter("ch00_test")
    assert ch.record("Lemma 2.3", ok=True, figure=1.23456e-9) is True
    assert ch.record("Lemma 2.3", ok=False) is False
    with pytest.raises(ValueError, match="kind"):
        ch.record("Lemma 2.3", ok=True, kind="proved")


def test_draw_network_from_dims():
    import matplotlib.pyplot as plt

    from dlnlib.plotting import draw_network

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
