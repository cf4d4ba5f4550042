"""Tests for dlnlib.critical: critical values and points (Lemma 3.2 of [CLC]; see the Mathematical notes, "Critical
points and critical values")."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dlnlib.critical import (
    critical_index_sets,
    critical_point,
    critical_value_of,
    critical_values,
    inversion_number,
    limit_critical_value,
)
from dlnlib.model import end_to_end, gradient, least_squares, loss

# One shared table of configurations: (dims, label). Depths 1-4, filling and non-filling,
# square and non-square, d_x > d_y.
CONFIGS = [
    ((3, 2), "depth 1, d_x > d_y"),
    ((3, 4, 2), "depth 2, wide hidden, d_x > d_y"),
    ((4, 3, 3), "depth 2, d_x > d_y"),
    ((5, 2, 4), "depth 2, non-filling"),
    ((4, 4, 4), "depth 2, square"),
    ((5, 3, 4, 3), "depth 3, d_x > d_y"),
    ((5, 2, 2, 5), "depth 3, non-filling"),
    ((4, 4, 2, 3), "depth 3, non-filling bottleneck"),
    ((3, 3, 3, 3, 3), "depth 4, square"),
    ((5, 4, 3, 4, 3), "depth 4, d_x > d_y"),
]
IDS = [label for _, label in CONFIGS]


def make_data(dims, seed, m=40):
    """Unwhitened data with a generic reduced target (Assumptions 1-4 hold almost surely)."""
    g = np.random.default_rng(seed)
    X = g.standard_normal((dims[0], m)) * g.uniform(0.5, 2.0, size=(dims[0], 1))
    Y = g.standard_normal((dims[-1], dims[0])) @ X + 0.1 * g.standard_normal((dims[-1], m))
    return X, Y


def eig_sigma(X, Y):
    """Independent reference: eigenpairs of Σ = Σ_YX Σ_XX^{-1} Σ_XY, decreasing, and tr Σ_YY."""
    syx, sxx = Y @ X.T, X @ X.T
    lam, u = np.linalg.eigh(syx @ np.linalg.solve(sxx, syx.T))
    return lam[::-1], u[:, ::-1], float(np.trace(Y @ Y.T))


def admissible_sets(dims):
    d_y, n = dims[-1], len(dims) - 1
    sizes = [d_y] if n == 1 else range(min(dims) + 1)
    return [S for k in sizes for S in itertools.combinations(range(d_y), k)]


def rel_grad(ws, X, Y):
    g = gradient(ws, X, Y)
    scale = np.linalg.norm(Y @ X.T) * np.prod([np.linalg.norm(w, 2) for w in ws]) + 1.0
    return np.sqrt(sum(np.sum(gi**2) for gi in g)) / scale


# --------------------------------------------------------------------------- critical values


def test_critical_values_brute_force_tiny():
    X, Y = make_data((3, 2, 3), seed=11)
    lam, _, tr_yy = eig_sigma(X, Y)
    brute = sorted(0.5 * (tr_yy - sum(lam[list(S)])) for k in range(3) for S in itertools.combinations(range(3), k))
    assert_allclose(critical_values(X, Y, (3, 2, 3)), brute, rtol=1e-12, atol=0)


def test_critical_values_docstring_example():
    assert_allclose(critical_values(np.eye(2), np.diag([2.0, 1.0]), (2, 2, 2)), [0.0, 0.5, 2.0, 2.5], atol=1e-14)


def test_critical_values_merge_duplicates():
    # s = (sqrt 2, 1, 1)?  Assumption 3 forbids equal s; use s^2 = (3, 2, 1): {1} and {2, 3} collide.
    X = np.eye(3)
    Y = np.diag(np.sqrt([3.0, 2.0, 1.0]))
    vals = critical_values(X, Y, (3, 3, 3))
    sets = critical_index_sets(X, Y, (3, 3, 3))
    assert len(sets) == 8
    assert vals.size == 7  # 0.5*(6 - 3) = 0.5*(6 - (2+1)) merged
    assert_allclose(vals, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0], atol=1e-12)


def test_critical_values_non_filling():
    dims = (5, 2, 2, 5)
    X, Y = make_data(dims, seed=12)
    vals = critical_values(X, Y, dims)
    assert vals.size == 1 + 5 + 10  # |S| <= r_max = 2
    lam, _, tr_yy = eig_sigma(X, Y)
    assert_allclose(vals[0], 0.5 * (tr_yy - lam[0] - lam[1]), rtol=1e-12)
    assert np.all(np.diff(vals) > 0)


def test_critical_index_sets_sorted_and_flags():
    dims = (4, 3, 3, 4)
    X, Y = make_data(dims, seed=13)
    sets = critical_index_sets(X, Y, dims)
    assert sets[0].index_set == (0, 1, 2) and sets[0].is_global_minimum
    assert sum(cs.is_global_minimum for cs in sets) == 1
    assert all(a.value <= b.value for a, b in itertools.pairwise(sets))
    assert sets[-1].index_set == () and sets[-1].is_top
    for cs in sets:
        assert_allclose(cs.value, critical_value_of(X, Y, cs.index_set), rtol=1e-13)


def test_depth_one_has_single_critical_value():
    X, Y = make_data((3, 2), seed=14)
    vals = critical_values(X, Y, (3, 2))
    r = Y - least_squares(X, Y) @ X
    assert_allclose(vals, [0.5 * np.sum(r * r)], rtol=1e-12)


def test_inversion_number():
    assert inversion_number((0, 1), 4) == 0
    assert inversion_number((1,), 3) == 1
    assert inversion_number((2, 3), 4) == 4
    assert inversion_number((), 3) == 0


# --------------------------------------------------------------------------- critical points


@pytest.mark.parametrize("dims", [c for c, _ in CONFIGS], ids=IDS)
@pytest.mark.parametrize("rng", [None, 7], ids=["canonical", "random"])
def test_constructed_points_are_critical(dims, rng):
    X, Y = make_data(dims, seed=21)
    lam, u, tr_yy = eig_sigma(X, Y)
    w_ls = least_squares(X, Y)
    for S in admissible_sets(dims):
        ws = critical_point(X, Y, dims, S, rng=rng)
        assert [w.shape for w in ws] == [(dims[i + 1], dims[i]) for i in range(len(dims) - 1)]
        assert rel_grad(ws, X, Y) < 1e-12
        assert_allclose(loss(ws, X, Y), 0.5 * (tr_yy - lam[list(S)].sum()), rtol=1e-11, atol=1e-11 * tr_yy)
        u_s = u[:, list(S)]
        assert_allclose(end_to_end(ws), u_s @ u_s.T @ w_ls, rtol=0, atol=1e-10 * np.abs(w_ls).max())


@pytest.mark.parametrize("dims", [c for c, _ in CONFIGS if len(c) == 3], ids=[lab for c, lab in CONFIGS if len(c) == 3])
def test_tight_point_ranks(dims):
    X, Y = make_data(dims, seed=22)
    for S in admissible_sets(dims):
        ws = critical_point(X, Y, dims, S, rng=3)
        assert [np.linalg.matrix_rank(w) for w in ws] == [len(S)] * len(ws)


def test_complement_blocks_give_extra_rank_same_critical_value():
    dims = (5, 4, 4, 5)
    X, Y = make_data(dims, seed=23)
    S = (0, 1, 2)
    tight = critical_point(X, Y, dims, S)
    extra = critical_point(X, Y, dims, S, complement=[None, np.ones((1, 1)), None])
    assert [np.linalg.matrix_rank(w) for w in tight] == [3, 3, 3]
    assert [np.linalg.matrix_rank(w) for w in extra] == [3, 4, 3]
    assert rel_grad(extra, X, Y) < 1e-12
    assert_allclose(loss(extra, X, Y), loss(tight, X, Y), rtol=1e-12)
    assert_allclose(end_to_end(extra), end_to_end(tight), rtol=0, atol=1e-12 * np.abs(end_to_end(tight)).max())


def test_complement_two_zero_blocks_depth_four():
    dims = (4, 4, 4, 4, 4)
    X, Y = make_data(dims, seed=24)
    g = np.random.default_rng(5)
    comp = [g.standard_normal((3, 3)), None, g.standard_normal((3, 3)), None]
    ws = critical_point(X, Y, dims, (0,), complement=comp, rng=g)
    assert rel_grad(ws, X, Y) < 1e-12
    assert_allclose(loss(ws, X, Y), critical_value_of(X, Y, (0,)), rtol=1e-12)


def test_complement_depth_two_extra_columns_only():
    dims = (5, 4, 3)
    X, Y = make_data(dims, seed=25)
    b1 = np.zeros((3, 4))  # (d_1 - r, d_x - r) with r = 1; columns (S^c, S^c, extra, extra)
    b1[:, 2:] = np.random.default_rng(1).standard_normal((3, 2))
    ws = critical_point(X, Y, dims, (0,), complement=[b1, None])
    assert rel_grad(ws, X, Y) < 1e-12
    assert np.linalg.matrix_rank(ws[0]) == 3
    b1[0, 0] = 1.0  # reads a target direction of S^c: not critical
    with pytest.raises(ValueError, match="inadmissible complement"):
        critical_point(X, Y, dims, (0,), complement=[b1, None])


@pytest.mark.parametrize(
    ("S", "match"),
    [
        ((0, 0), "duplicate"),
        ((0, 5), "out-of-range"),
        ((-1,), "out-of-range"),
        ((0, 1, 2), "exceeds r_max"),
    ],
)
def test_bad_index_sets(S, match):
    dims = (5, 2, 2, 5)
    X, Y = make_data(dims, seed=26)
    with pytest.raises(ValueError, match=match):
        critical_point(X, Y, dims, S)


def test_bad_index_set_types_and_depth_one():
    X, Y = make_data((3, 2), seed=27)
    with pytest.raises(TypeError, match="integer"):
        critical_point(X, Y, (3, 2), "01")
    with pytest.raises(TypeError, match="integer"):
        critical_point(X, Y, (3, 2), [0.5])
    with pytest.raises(ValueError, match="depth N = 1"):
        critical_point(X, Y, (3, 2), (0,))
    assert rel_grad(critical_point(X, Y, (3, 2), (0, 1)), X, Y) < 1e-12


def test_bad_complement():
    dims = (4, 3, 3, 4)
    X, Y = make_data(dims, seed=28)
    with pytest.raises(ValueError, match="shape"):
        critical_point(X, Y, dims, (0,), complement=[None, np.ones((3, 3)), None])
    with pytest.raises(TypeError, match="list of N=3"):
        critical_point(X, Y, dims, (0,), complement=[None, None])
    g = np.random.default_rng(2)
    dense = [g.standard_normal((2, 3)), g.standard_normal((2, 2)), g.standard_normal((3, 2))]
    with pytest.raises(ValueError, match="inadmissible complement"):
        critical_point(X, Y, dims, (0,), complement=dense)


def test_bad_data():
    dims = (4, 3, 3)
    X, Y = make_data(dims, seed=29)
    with pytest.raises(ValueError, match="dims"):
        critical_point(X, Y, (5, 3, 3), (0,))
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        critical_values(Xn, Y, dims)
    with pytest.raises(ValueError, match="same number of samples"):
        critical_values(X[:, :-1], Y, dims)
    with pytest.raises(ValueError, match="Assumption 3"):
        critical_values(np.eye(3), np.diag([2.0, 2.0, 1.0]), (3, 3, 3))


# --------------------------------------------------------------------------- limits


@pytest.mark.parametrize("dims", [(4, 3, 3, 4), (5, 2, 2, 5), (3, 4, 2)])
def test_limit_critical_value_identifies_every_set(dims):
    X, Y = make_data(dims, seed=31)
    for S in admissible_sets(dims):
        res = limit_critical_value(critical_point(X, Y, dims, S, rng=4), X, Y)
        assert res.resolved, res.message
        assert res.index_set == S
        assert_allclose(res.value, critical_value_of(X, Y, S), rtol=1e-13)
        assert res.distance < 1e-9
        assert res.is_global_minimum == (S == tuple(range(min(dims))))


def test_limit_critical_value_duck_types_trajectory():
    dims = (4, 3, 3, 4)
    X, Y = make_data(dims, seed=32)
    traj = SimpleNamespace(final_weights=critical_point(X, Y, dims, (0, 1, 2), rng=1))
    res = limit_critical_value(traj, X, Y)
    assert res.resolved and res.is_global_minimum and res.index_set == (0, 1, 2)


def test_limit_critical_value_unresolved_off_critical_set():
    dims = (4, 3, 3, 4)
    X, Y = make_data(dims, seed=33)
    ws = critical_point(X, Y, dims, (0, 1))
    g = np.random.default_rng(3)
    moved = [w + 0.05 * g.standard_normal(w.shape) for w in ws]
    res = limit_critical_value(moved, X, Y)
    assert not res.resolved
    assert not res.is_global_minimum
    assert "unresolved" in res.message
    with pytest.raises(ValueError, match="rtol"):
        limit_critical_value(ws, X, Y, rtol=-1.0)
    with pytest.raises(ValueError, match="rows"):
        limit_critical_value(ws, X[:3], Y)
