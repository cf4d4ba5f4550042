"""Tests for dlnlib.model: loss, gradient, invariants, initializations, data checks, reduction (see the Mathematical
notes, "Notation", "The reduction" and "Invariants of the flow")."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dlnlib.model import (
    balanced_weights,
    check_data,
    end_to_end,
    gradient,
    invariants,
    least_squares,
    loss,
    partial_product,
    random_weights,
    reduce_data,
)

# Shared table of configurations (widths d_0..d_N): depths 1-4, square, wide, bottleneck, d_x > d_y.
CONFIGS = [
    (3, 2),
    (4, 4),
    (3, 4, 2),
    (4, 3, 3),
    (5, 2, 4),
    (4, 5, 4, 3),
    (2, 6, 1, 3),
    (3, 3, 3, 3, 3),
    (5, 4, 3, 4, 3),
]
IDS = ["-".join(map(str, c)) for c in CONFIGS]


def make_data(dims, seed, m=40):
    """Unwhitened data with a generic target (Assumptions 2-3 hold almost surely when d_x >= d_y)."""
    g = np.random.default_rng(seed)
    X = g.standard_normal((dims[0], m)) * g.uniform(0.5, 2.0, size=(dims[0], 1))
    Y = g.standard_normal((dims[-1], dims[0])) @ X + 0.1 * g.standard_normal((dims[-1], m))
    return X, Y


def flat(ws):
    return np.concatenate([w.ravel() for w in ws])


def unflat(v, dims):
    out, k = [], 0
    for i in range(1, len(dims)):
        n = dims[i] * dims[i - 1]
        out.append(v[k : k + n].reshape(dims[i], dims[i - 1]))
        k += n
    return out


# --------------------------------------------------------------------------- loss and gradient


@pytest.mark.parametrize("dims", CONFIGS, ids=IDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_gradient_matches_central_finite_differences(dims, seed):
    X, Y = make_data(dims, seed, m=12)
    ws = random_weights(dims, seed + 10)
    g = flat(gradient(ws, X, Y))
    v0, h = flat(ws), 1e-6
    fd = np.empty_like(v0)
    for k in range(v0.size):
        e = np.zeros_like(v0)
        e[k] = h
        fd[k] = (loss(unflat(v0 + e, dims), X, Y) - loss(unflat(v0 - e, dims), X, Y)) / (2 * h)
    assert_allclose(g, fd, rtol=0, atol=1e-6 * max(1.0, np.abs(g).max()))


@pytest.mark.parametrize("dims", CONFIGS, ids=IDS)
def test_loss_and_products_match_direct_computation(dims):
    X, Y = make_data(dims, 2)
    ws = random_weights(dims, 3)
    p = ws[0]
    for w in ws[1:]:
        p = w @ p
    assert_allclose(end_to_end(ws), p, rtol=1e-13, atol=1e-14)
    assert_allclose(loss(ws, X, Y), 0.5 * np.sum((Y - p @ X) ** 2), rtol=1e-13)
    n = len(ws)
    assert_allclose(partial_product(ws, n, 1), p, rtol=1e-13, atol=1e-14)
    assert_allclose(partial_product(ws, 0, 1), np.eye(dims[0]))
    assert_allclose(partial_product(ws, n, n + 1), np.eye(dims[-1]))
    if n >= 2:
        assert_allclose(partial_product(ws, 2, 2), ws[1])
        assert partial_product(ws, n, 2).shape == (dims[-1], dims[1])


def test_loss_docstring_example():
    assert loss([np.eye(2), 2 * np.eye(2)], np.eye(2), np.eye(2)) == 1.0


@pytest.mark.parametrize("dims", CONFIGS, ids=IDS)
def test_invariants_shapes_and_trace_identity(dims):
    ws = random_weights(dims, 4)
    cs = invariants(ws)
    assert [c.shape for c in cs] == [(d, d) for d in dims[1:-1]]
    for i, c in enumerate(cs):
        assert_allclose(c, c.T, atol=1e-14)
        assert_allclose(np.trace(c), np.sum(ws[i + 1] ** 2) - np.sum(ws[i] ** 2), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- initializations


@pytest.mark.parametrize("dims", CONFIGS, ids=IDS)
def test_random_weights_shapes_scale_and_reproducibility(dims):
    ws = random_weights(dims, 5, scale=0.5)
    assert [w.shape for w in ws] == [(dims[i], dims[i - 1]) for i in range(1, len(dims))]
    again = random_weights(dims, np.random.default_rng(5), scale=0.5)
    for a, b in zip(ws, again):
        assert_allclose(a, b)


def test_random_weights_variance():
    ws = random_weights((50, 60), 6, scale=2.0)
    assert abs(np.var(ws[0]) - 4.0 / 50) < 0.1 * 4.0 / 50  # 3000 entries: relative std ~ 2.6%


@pytest.mark.parametrize("dims", CONFIGS, ids=IDS)
def test_balanced_weights_are_balanced(dims):
    ws = balanced_weights(dims, 7, scale=1.5)
    assert [w.shape for w in ws] == [(dims[i], dims[i - 1]) for i in range(1, len(dims))]
    scale = max(np.sum(w * w) for w in ws)
    for c in invariants(ws):
        assert np.linalg.norm(c) <= 1e-13 * max(scale, 1.0)
    assert np.linalg.matrix_rank(end_to_end(ws)) == min(dims)


@pytest.mark.parametrize("make", [random_weights, balanced_weights])
def test_initializations_require_rng_and_valid_dims(make):
    with pytest.raises(TypeError, match="rng is required"):
        make((3, 2), None)
    with pytest.raises(TypeError, match="rng must be"):
        make((3, 2), "seed")
    with pytest.raises(ValueError, match="at least two"):
        make((3,), 0)
    with pytest.raises(ValueError, match="positive integers"):
        make((3, 0, 2), 0)
    with pytest.raises(ValueError, match="positive integers"):
        make((3, 2.5, 2), 0)
    with pytest.raises(TypeError, match="sequence"):
        make(3, 0)
    with pytest.raises(ValueError, match="scale"):
        make((3, 2), 0, scale=-1.0)


# --------------------------------------------------------------------------- reduction, least squares


@pytest.mark.parametrize(
    "dims", [c for c in CONFIGS if c[0] >= c[-1]], ids=[i for c, i in zip(CONFIGS, IDS) if c[0] >= c[-1]]
)
def test_reduction_round_trip_and_loss_identity(dims):
    X, Y = make_data(dims, 8)
    red = reduce_data(X, Y)
    g = np.random.default_rng(9)
    for _ in range(5):
        ws = random_weights(dims, g)
        back = red.from_reduced(red.to_reduced(ws))
        for a, b in zip(back, ws):
            assert_allclose(a, b, rtol=1e-11, atol=1e-12)
        assert_allclose(red.reduced_loss(red.to_reduced(ws)) + red.constant, loss(ws, X, Y), rtol=1e-11)
    s = red.singular_values
    assert np.all(np.diff(s) < 0) and s[-1] > 0
    lam = np.sort(np.linalg.eigvalsh(Y @ X.T @ np.linalg.solve(X @ X.T, X @ Y.T)))[::-1]
    assert_allclose(s**2, lam, rtol=1e-10)
    sb = red.sigma_bar
    assert sb.shape == (dims[-1], dims[0])
    assert_allclose(np.diag(sb), s)


@pytest.mark.parametrize("dims", [(4, 3, 3), (5, 4, 4, 3)])
def test_reduction_transfers_critical_points_and_inertia_not_eigenvalues(dims):
    """L = Lbar o T + c with T linear and invertible: Hess L(W) = T^* Hess Lbar(T W) T (congruence).

    So critical points correspond and the inertia agrees (Sylvester's law) at every point, while the
    eigenvalues differ unless X X^T is a multiple of the identity (Section 2.1 of [CLC]).
    """
    from dlnlib.critical import critical_index_sets, critical_point
    from dlnlib.hessian import inertia

    X, Y = make_data(dims, 8)
    X = np.diag(np.linspace(0.5, 2.0, dims[0])) @ X  # far from whitened
    red = reduce_data(X, Y)
    Xr, Yr = np.eye(dims[0]), red.sigma_bar
    g = np.random.default_rng(3)
    points = [critical_point(X, Y, dims, c.index_set, rng=g) for c in critical_index_sets(X, Y, dims)]
    for ws in points:
        wr = red.to_reduced(ws)
        gr = np.sqrt(sum(np.sum(a * a) for a in gradient(wr, Xr, Yr)))
        assert gr < 1e-10 * np.linalg.norm(Yr)
        assert_allclose(loss(ws, X, Y), loss(wr, Xr, Yr) + red.constant, rtol=1e-10)
    n_diff = 0
    for ws in points + [random_weights(dims, g) for _ in range(4)]:
        a, b = inertia(ws, X, Y), inertia(red.to_reduced(ws), Xr, Yr)
        assert a.as_tuple() == b.as_tuple()
        n_diff += not np.allclose(a.eigenvalues, b.eigenvalues, rtol=1e-3, atol=1e-8)
    assert n_diff >= len(points)  # the spectra themselves are not preserved


def test_least_squares_and_constant():
    dims = (4, 3, 2)
    X, Y = make_data(dims, 10)
    w_ls = least_squares(X, Y)
    assert_allclose(w_ls @ X @ X.T, Y @ X.T, rtol=1e-10, atol=1e-10)  # normal equations
    red = reduce_data(X, Y)
    assert_allclose(loss([w_ls], X, Y), red.constant, rtol=1e-10)
    assert_allclose(red.to_reduced([w_ls])[0], red.sigma_bar, atol=1e-10)
    # L(W) = c_0 + 1/2 ||(W_{N:1} - W_LS) X||^2 (Remark 5)
    ws = random_weights(dims, 11)
    assert_allclose(loss(ws, X, Y), red.constant + 0.5 * np.sum(((end_to_end(ws) - w_ls) @ X) ** 2), rtol=1e-10)


# --------------------------------------------------------------------------- validation


def test_check_data_accepts_good_data():
    dims = (4, 5, 3)
    X, Y = make_data(dims, 12)
    summ = check_data(X, Y, dims)
    assert summ.dims == dims and summ.m == 40 and summ.filling and summ.r_max == 3
    assert summ.min_relative_gap > 0


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("samples", "same number of samples"),
        ("d_x", "dims\\[0\\]"),
        ("d_y", "dims\\[-1\\]"),
        ("nan_x", "NaN or infinite"),
        ("inf_y", "NaN or infinite"),
        ("m_lt_dx", "Assumption 1.*m >= d_x"),
        ("dx_lt_dy", "Assumption 1.*d_x >= d_y"),
        ("hidden", "Assumption 1.*hidden width"),
        ("rank_x", "Assumption 2.*X"),
        ("rank_y", "Assumption 2.*Y"),
        ("repeated", "Assumption 3"),
        ("x_1d", "ndim"),
    ],
)
def test_check_data_errors_name_the_problem(case, match):
    dims = (4, 4, 3)
    X, Y = make_data(dims, 13)
    if case == "samples":
        Y = Y[:, :-1]
    elif case == "d_x":
        dims = (5, 4, 3)
    elif case == "d_y":
        dims = (4, 4, 2)
    elif case == "nan_x":
        X[0, 0] = np.nan
    elif case == "inf_y":
        Y[1, 2] = np.inf
    elif case == "m_lt_dx":
        X, Y = X[:, :3], Y[:, :3]
    elif case == "dx_lt_dy":
        X, Y, dims = X[:2], Y, (2, 4, 3)
    elif case == "hidden":
        dims = (4, 2, 3)
    elif case == "rank_x":
        X[-1] = X[0] + X[1]
    elif case == "rank_y":
        Y[-1] = Y[0] - Y[1]
    elif case == "repeated":
        X = np.hstack([np.eye(4), np.zeros((4, 36))])
        Y = np.hstack([np.diag([2.0, 1.0, 1.0]) @ np.eye(3, 4), np.zeros((3, 36))])
    elif case == "x_1d":
        X = X[0]
    with pytest.raises(ValueError, match=match):
        check_data(X, Y, dims)


def test_check_data_non_filling_opt_in():
    dims = (4, 2, 3)
    X, Y = make_data(dims, 14)
    summ = check_data(X, Y, dims, allow_non_filling=True)
    assert not summ.filling and summ.r_max == 2


@pytest.mark.parametrize("fn", [loss, gradient])
def test_loss_and_gradient_validate_inputs(fn):
    dims = (3, 4, 2)
    X, Y = make_data(dims, 15)
    ws = random_weights(dims, 16)
    with pytest.raises(ValueError, match="expects X with 3 rows"):
        fn(ws, X[:2], Y)
    with pytest.raises(ValueError, match="produces 2 outputs"):
        fn(ws, X, Y[:1])
    with pytest.raises(ValueError, match="same number of samples"):
        fn(ws, X, Y[:, :-1])
    bad = [w.copy() for w in ws]
    bad[1][0, 0] = np.nan
    with pytest.raises(ValueError, match=r"weights\[1\] \(W_2\) contains 1 NaN"):
        fn(bad, X, Y)
    with pytest.raises(ValueError, match="W_2 must have 4 columns"):
        fn([ws[0], np.ones((2, 3))], X, Y)
    with pytest.raises(TypeError, match="non-empty list"):
        fn(ws[0], X, Y)
    with pytest.raises(TypeError, match="non-empty list"):
        fn([], X, Y)
    Xn = X.copy()
    Xn[0, 0] = np.inf
    with pytest.raises(ValueError, match="X contains 1 NaN or infinite"):
        fn(ws, Xn, Y)


def test_partial_product_index_errors():
    ws = random_weights((3, 4, 2), 17)
    with pytest.raises(ValueError, match="partial_product"):
        partial_product(ws, 3, 1)
    with pytest.raises(ValueError, match="partial_product"):
        partial_product(ws, 1, 0)


def test_reduce_and_least_squares_errors():
    X, Y = make_data((4, 4, 3), 18)
    Xd = X.copy()
    Xd[-1] = Xd[0]
    with pytest.raises(ValueError, match="Assumption 2"):
        reduce_data(Xd, Y)
    with pytest.raises(ValueError, match="Assumption 2"):
        least_squares(Xd, Y)
    with pytest.raises(ValueError, match="Assumption 1"):
        reduce_data(X[:2], Y)
    with pytest.raises(ValueError, match="Assumption 1"):
        reduce_data(X[:, :3], Y[:, :3])
