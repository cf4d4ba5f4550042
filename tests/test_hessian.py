"""Tests for dlnlib.hessian: Prop. 3 of [CLC] (Hessian), inertia and classification (see the Mathematical notes, "The
Hessian and the landscape")."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dlnlib.critical import critical_point, inversion_number
from dlnlib.hessian import (
    Inertia,
    classification,
    classify,
    hessian,
    hessian_fd,
    hessian_vector_product,
    inertia,
    pairing_criterion,
)
from dlnlib.model import gradient, loss, random_weights

# One shared table of configurations: (dims, label). Depths 1-4, non-square, d_x > d_y, non-filling.
CONFIGS = [
    ((3, 2), "depth 1"),
    ((3, 4, 2), "depth 2, d_x > d_y"),
    ((5, 2, 4), "depth 2, non-filling"),
    ((4, 4, 4), "depth 2, square"),
    ((5, 3, 4, 3), "depth 3, d_x > d_y"),
    ((5, 2, 2, 5), "depth 3, non-filling"),
    ((4, 4, 2, 3), "depth 3, bottleneck"),
    ((3, 3, 3, 3, 3), "depth 4, square"),
    ((5, 4, 3, 4, 3), "depth 4, d_x > d_y"),
]
IDS = [label for _, label in CONFIGS]
DIMS = [c for c, _ in CONFIGS]


def make_data(dims, seed, m=40):
    g = np.random.default_rng(seed)
    X = g.standard_normal((dims[0], m)) * g.uniform(0.5, 2.0, size=(dims[0], 1))
    Y = g.standard_normal((dims[-1], dims[0])) @ X + 0.1 * g.standard_normal((dims[-1], m))
    return X, Y


def report_data(seed):
    """Data of the student report (see the Mathematical notes, "The Hessian and the landscape"): X 5x1000 standard
    normal, Y = diag(5..1) X + 0.1 noise."""
    g = np.random.default_rng(seed)
    X = g.standard_normal((5, 1000))
    Y = np.diag([5.0, 4.0, 3.0, 2.0, 1.0]) @ X + 0.1 * g.standard_normal((5, 1000))
    return X, Y


def admissible_sets(dims):
    d_y, n = dims[-1], len(dims) - 1
    sizes = [d_y] if n == 1 else range(min(dims) + 1)
    return [S for k in sizes for S in itertools.combinations(range(d_y), k)]


# --------------------------------------------------------------------------- Hessian


@pytest.mark.parametrize("dims", DIMS, ids=IDS)
def test_hessian_matches_finite_differences(dims):
    g = np.random.default_rng(101)
    X, Y = make_data(dims, seed=102)
    ws = random_weights(dims, g)
    h = hessian(ws, X, Y)
    p = sum(w.size for w in ws)
    assert h.shape == (p, p)
    h_fd = hessian_fd(ws, X, Y, eps=1e-5)
    assert_allclose(h, h_fd, rtol=0, atol=1e-8 * np.abs(h).max())


def test_hessian_matches_loop_finite_differences_of_public_gradient():
    """Independent of hessian_fd's batched gradient: loop over coordinates with dlnlib.model.gradient."""
    dims = (4, 3, 2, 3)
    g = np.random.default_rng(103)
    X, Y = make_data(dims, seed=104)
    ws = random_weights(dims, g)
    flat = np.concatenate([w.ravel() for w in ws])
    off = np.cumsum([0] + [w.size for w in ws])

    def grad_flat(x):
        return np.concatenate(
            [
                gi.ravel()
                for gi in gradient(
                    [x[a:b].reshape(w.shape) for a, b, w in zip(off[:-1], off[1:], ws, strict=True)], X, Y
                )
            ]
        )

    eps = 1e-5
    eye = np.eye(flat.size) * eps
    cols = [(grad_flat(flat + e) - grad_flat(flat - e)) / (2 * eps) for e in eye]
    h = hessian(ws, X, Y)
    assert_allclose(h, np.array(cols).T, rtol=0, atol=1e-8 * np.abs(h).max())


def test_hessian_quadratic_form_is_second_variation():
    """Taylor: L(W + tΔ) = L + t<∇L, Δ> + t²/2 Δ^T H Δ + O(t³) (Prop. 3 of [CLC])."""
    dims = (4, 3, 3, 2)
    g = np.random.default_rng(105)
    X, Y = make_data(dims, seed=106)
    ws = random_weights(dims, g)
    ds = [g.standard_normal(w.shape) for w in ws]
    dflat = np.concatenate([d.ravel() for d in ds])
    q = dflat @ hessian(ws, X, Y) @ dflat
    lin = sum(np.sum(gi * d) for gi, d in zip(gradient(ws, X, Y), ds, strict=True))
    ts = np.array([1e-2, 5e-3, 2.5e-3])
    errs = [
        abs(loss([w + t * d for w, d in zip(ws, ds, strict=True)], X, Y) - loss(ws, X, Y) - t * lin - 0.5 * t**2 * q)
        for t in ts
    ]
    slope = np.polyfit(np.log(ts), np.log(errs), 1)[0]
    assert_allclose(slope, 3.0, atol=0.1)


@pytest.mark.parametrize("dims", DIMS, ids=IDS)
def test_hessian_symmetric_and_hvp(dims):
    g = np.random.default_rng(107)
    X, Y = make_data(dims, seed=108)
    ws = random_weights(dims, g)
    h = hessian(ws, X, Y)
    assert_allclose(h, h.T, rtol=0, atol=1e-13 * np.abs(h).max())
    v = g.standard_normal(h.shape[0])
    hv = hessian_vector_product(ws, X, Y, v)
    assert_allclose(hv, h @ v, rtol=0, atol=1e-12 * np.abs(h).max() * np.abs(v).sum())
    off = np.cumsum([0] + [w.size for w in ws])
    v_list = [v[a:b].reshape(w.shape) for a, b, w in zip(off[:-1], off[1:], ws, strict=True)]
    hv_list = hessian_vector_product(ws, X, Y, v_list)
    assert isinstance(hv_list, list)
    assert_allclose(np.concatenate([x.ravel() for x in hv_list]), hv, rtol=0, atol=1e-13 * np.abs(hv).max())


def test_hessian_medium_size_hvp_consistency():
    dims = (20, 20, 20, 20, 20)  # P = 1600
    g = np.random.default_rng(109)
    X, Y = make_data(dims, seed=110, m=60)
    ws = random_weights(dims, g)
    h = hessian(ws, X, Y)
    v = g.standard_normal(h.shape[0])
    assert_allclose(hessian_vector_product(ws, X, Y, v), h @ v, rtol=0, atol=1e-11 * np.abs(h @ v).max())


def test_hessian_input_errors():
    dims = (3, 4, 2)
    X, Y = make_data(dims, seed=111)
    ws = random_weights(dims, np.random.default_rng(1))
    with pytest.raises(ValueError, match="rows"):
        hessian(ws, X[:2], Y)
    with pytest.raises(ValueError, match="outputs"):
        hessian(ws, X, Y[:1])
    bad = [w.copy() for w in ws]
    bad[1][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        hessian(bad, X, Y)
    with pytest.raises(ValueError, match="W_2 must have"):
        hessian([ws[0], ws[1].T], X, Y)
    with pytest.raises(TypeError, match="non-empty list"):
        hessian(ws[0], X, Y)
    with pytest.raises(ValueError, match="length P"):
        hessian_vector_product(ws, X, Y, np.ones(5))
    with pytest.raises(ValueError, match="shaped like"):
        hessian_vector_product(ws, X, Y, [ws[0]])
    with pytest.raises(ValueError, match="tol"):
        inertia(ws, X, Y, tol=-1.0)


# --------------------------------------------------------------------------- inertia at critical points


@pytest.mark.parametrize("dims", [(3, 4, 2), (4, 3, 3), (5, 2, 4), (4, 4, 4)])
def test_depth_two_inertia_formula_every_saddle_strict(dims):
    """See the Mathematical notes, "The Hessian and the landscape": tight points, n_- = inv(S) + (d_y-r)(d_1-r), n_+ =
    r² + 2r(d_y-r) - inv + r(d_x-d_y) + ..."""
    X, Y = make_data(dims, seed=201)
    d_x, d_1, d_y = dims
    for S in admissible_sets(dims):
        r, inv = len(S), inversion_number(S, d_y)
        n_neg = inv + (d_y - r) * (d_1 - r)
        n_pos = r * r + 2 * r * (d_y - r) - inv + r * (d_x - d_y) + (d_y - r) * (d_1 - r)
        for rng in (None, 3):
            inn = inertia(critical_point(X, Y, dims, S, rng=rng), X, Y)
            assert (inn.n_pos, inn.n_neg) == (n_pos, n_neg), (S, rng, inn)
            assert inn.gap > 1e6
            kind = classify(critical_point(X, Y, dims, S, rng=rng), X, Y)
            assert kind == ("global_minimum" if r == min(dims) and inv == 0 else "strict_saddle")


@pytest.mark.parametrize("dims", [(5, 3, 4, 3), (4, 4, 2, 3), (5, 2, 2, 5), (3, 3, 3, 3, 3)])
def test_deep_tight_inertia_formula(dims):
    """Depth >= 3 tight points: n_- = inv(S), n_+ = r² + 2r(d_y-r) - inv(S) + r(d_x-d_y)."""
    X, Y = make_data(dims, seed=202)
    d_x, d_y = dims[0], dims[-1]
    for S in admissible_sets(dims):
        r, inv = len(S), inversion_number(S, d_y)
        inn = inertia(critical_point(X, Y, dims, S, rng=5), X, Y)
        assert (inn.n_pos, inn.n_neg) == (r * r + 2 * r * (d_y - r) - inv + r * (d_x - d_y), inv), (S, inn)


@pytest.mark.parametrize("dims", [(4, 4, 4, 4), (5, 3, 4, 3)])
def test_depth_three_non_strict_and_strict_saddles_same_set(dims):
    X, Y = make_data(dims, seed=203)
    r_max = min(dims)
    for r in range(r_max):
        S = tuple(range(r))
        tight = critical_point(X, Y, dims, S, rng=7)
        assert classify(tight, X, Y) == "non_strict_saddle"
        assert inertia(tight, X, Y).n_neg == 0
        comp = [None, np.eye(dims[2] - r, dims[1] - r), None]  # single nonzero middle block
        strict = critical_point(X, Y, dims, S, complement=comp, rng=7)
        assert_allclose(loss(strict, X, Y), loss(tight, X, Y), rtol=1e-12)
        assert classify(strict, X, Y) == "strict_saddle"
        assert pairing_criterion(strict, X, Y, r) == (1, 3)
    assert classify(critical_point(X, Y, dims, tuple(range(r_max)), rng=7), X, Y) == "global_minimum"
    assert classify(critical_point(X, Y, dims, (1,), rng=7), X, Y) == "strict_saddle"


def test_report_example_inertia():
    """See the Mathematical notes, "The Hessian and the landscape": dims 5-4-4-5, S = {1,2,3}: tight (21, 0, 35); with
    (W_2)_44 = 1: (23, 2, 31)."""
    X, Y = report_data(seed=301)
    dims, S = (5, 4, 4, 5), (0, 1, 2)
    tight = critical_point(X, Y, dims, S)
    strict = critical_point(X, Y, dims, S, complement=[None, np.ones((1, 1)), None])
    assert inertia(tight, X, Y).as_tuple() == (21, 0, 35)
    assert inertia(strict, X, Y).as_tuple() == (23, 2, 31)
    assert classify(tight, X, Y) == "non_strict_saddle"
    assert classify(strict, X, Y) == "strict_saddle"
    # Sylvester: the random point of the same manifold has the same inertia.
    assert inertia(critical_point(X, Y, dims, S, complement=[None, np.ones((1, 1)), None], rng=9), X, Y).as_tuple() == (
        23,
        2,
        31,
    )
    glob = critical_point(X, Y, dims, (0, 1, 2, 3), rng=2)
    inn = inertia(glob, X, Y)
    assert inn.n_neg == 0 and isinstance(inn, Inertia)
    assert classify(glob, X, Y) == "global_minimum"


def test_same_ranks_different_verdicts_depth_three():
    """See the Mathematical notes, "The Hessian and the landscape" warning: equal ranks of every partial product, one
    strict and one non-strict saddle.

    d_x > d_y: W_1 gets one extra rank reading an S^c target direction (strict) or an extra input
    direction with zero target (non-strict).
    """
    dims = (6, 4, 4, 3)
    X, Y = make_data(dims, seed=302)
    S, r = (0,), 1
    reads_target = np.zeros((dims[1] - r, dims[0] - r))
    reads_target[0, 0] = 1.0  # column 0 of (S^c, extra) = an S^c direction
    reads_extra = np.zeros_like(reads_target)
    reads_extra[0, dims[-1] - r] = 1.0  # first extra column
    a = critical_point(X, Y, dims, S, complement=[reads_target, None, None], rng=4)
    b = critical_point(X, Y, dims, S, complement=[reads_extra, None, None], rng=4)

    def ranks(ws):
        n = len(ws)
        out = []
        for i, j in itertools.combinations_with_replacement(range(n), 2):
            p = ws[i]
            for w in ws[i + 1 : j + 1]:
                p = w @ p
            out.append(np.linalg.matrix_rank(p))
        return out

    assert ranks(a) == ranks(b)
    assert_allclose(loss(a, X, Y), loss(b, X, Y), rtol=1e-12)
    assert classify(a, X, Y) == "strict_saddle"
    assert classify(b, X, Y) == "non_strict_saddle"


def test_zero_hessian_point_uses_scale_aware_tolerance():
    """W = (W_1, 0, 0) with W_1 reading only zero-target inputs: the Hessian vanishes exactly."""
    dims = (6, 4, 4, 3)
    X, Y = make_data(dims, seed=303)
    b1 = np.zeros((4, 6))
    b1[:, 3:] = np.random.default_rng(6).standard_normal((4, 3))
    ws = critical_point(X, Y, dims, (), complement=[b1, None, None], rng=6)
    inn = inertia(ws, X, Y)
    assert inn.n_zero == sum(w.size for w in ws)
    assert classify(ws, X, Y) == "non_strict_saddle"


def test_non_filling_global_minimum_and_saddles():
    dims = (5, 2, 2, 5)
    X, Y = make_data(dims, seed=304)
    assert classify(critical_point(X, Y, dims, (0, 1), rng=1), X, Y) == "global_minimum"
    assert classify(critical_point(X, Y, dims, (0, 2), rng=1), X, Y) == "strict_saddle"
    assert classify(critical_point(X, Y, dims, (0,), rng=1), X, Y) == "non_strict_saddle"


# --------------------------------------------------------------------------- not critical, robustness


def test_not_critical():
    dims = (4, 3, 3, 4)
    X, Y = make_data(dims, seed=401)
    ws = random_weights(dims, np.random.default_rng(2))
    res = classification(ws, X, Y)
    assert res.kind == "not_critical" and res.gradient_norm > 1e-3
    moved = [w + 1e-4 for w in critical_point(X, Y, dims, (0, 1))]
    assert classify(moved, X, Y) == "not_critical"


def test_tiny_perturbation_keeps_verdict():
    dims = (4, 4, 4, 4)
    X, Y = make_data(dims, seed=402)
    g = np.random.default_rng(3)
    for comp, kind in [(None, "non_strict_saddle"), ([None, np.eye(3), None], "strict_saddle")]:
        ws = critical_point(X, Y, dims, (0,), complement=comp, rng=1)
        for delta in (1e-14, 1e-11, 1e-9):  # approximately critical: tolerances widen with the gradient
            moved = [w + delta * np.abs(w).max() * g.standard_normal(w.shape) for w in ws]
            assert classify(moved, X, Y) == kind


def test_classification_errors():
    dims = (4, 3, 3, 4)
    X, Y = make_data(dims, seed=403)
    ws = critical_point(X, Y, dims, (0, 1, 2))
    with pytest.raises(ValueError, match="gtol"):
        classify(ws, X, Y, gtol=0.0)
    with pytest.raises(ValueError, match="Assumption 3"):
        classify([np.eye(3), np.eye(3)], np.eye(3), np.diag([2.0, 2.0, 1.0]))
    # a tolerance so large that the Hessian looks PSD at a strict saddle: disagreement is reported
    strict = critical_point(X, Y, dims, (1,), rng=2)
    with pytest.raises(RuntimeError, match="disagree"):
        classify(strict, X, Y, tol=1e12)
    assert classify(strict, X, Y, check_hessian=False) == "strict_saddle"
