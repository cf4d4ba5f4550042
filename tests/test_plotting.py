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
