"""Tests for dlnlib.critical.lemma32_structure (Lemma 3.2 (i)-(iii) of [CLC])."""

from __future__ import annotations

import numpy as np
import pytest

from dlnlib.critical import critical_point, lemma32_structure
from dlnlib.landscape import random_critical_points
from dlnlib.model import random_weights

# filling and non-filling (a hidden width below d_y) architectures, depths 2-4
DIMS = [(4, 3, 3), (5, 4, 3), (4, 2, 3), (5, 4, 4, 4), (4, 3, 2, 4), (4, 3, 5, 3, 3)]


def make_data(dims, seed, m=30):
    g = np.random.default_rng(seed)
    X = g.standard_normal((dims[0], m)) * g.uniform(0.5, 2.0, size=(dims[0], 1)) / np.sqrt(m)
    Y = g.standard_normal((dims[-1], dims[0])) @ X + 0.1 * g.standard_normal((dims[-1], m)) / np.sqrt(m)
    return X, Y


def test_hand_example():
    X, Y = np.eye(2), np.diag([2.0, 1.0])
    ws = [np.array([[2.0, 0.0]]), np.array([[1.0], [0.0]])]  # S = {1}: W_2 W_1 = diag(2, 0)
    st = lemma32_structure(ws, X, Y)
    assert st.index_set == (0,) and st.rank == 1
    assert st.max_deviation == 0.0
    assert (st.left_rank, st.right_rank, st.middle_rank) == (1, 1, 1)
    assert st.holds()


@pytest.mark.parametrize("dims", DIMS, ids=["-".join(map(str, d)) for d in DIMS])
def test_random_critical_points_have_the_block_form(dims):
    X, Y = make_data(dims, 1)
    for w in random_critical_points(X, Y, dims, 12, rng=2):
        st = lemma32_structure(w, X, Y)
        assert st.holds(1e-10), st


def test_zero_point_and_tight_point():
    dims = (4, 3, 3, 3)
    X, Y = make_data(dims, 3)
    st = lemma32_structure(critical_point(X, Y, dims, ()), X, Y)
    assert st.rank == 0 and st.holds()
    st = lemma32_structure(critical_point(X, Y, dims, (0, 2), rng=4), X, Y)
    assert st.index_set == (0, 2) and st.holds(1e-10)


def test_non_critical_point_fails():
    dims = (4, 3, 3)
    X, Y = make_data(dims, 5)
    st = lemma32_structure(random_weights(dims, 6), X, Y)
    assert not st.holds(1e-6)
    assert st.max_deviation > 1e-3


def test_errors():
    X, Y = make_data((3, 2), 7)
    with pytest.raises(ValueError, match="N >= 2"):
        lemma32_structure([np.ones((2, 3))], X, Y)
