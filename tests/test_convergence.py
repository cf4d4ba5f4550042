"""Tests for dlnlib.convergence (GD invariant drift, Lemma 2.4, Proposition 2) and the rate fits of dlnlib.rates.

See the Mathematical notes, "Invariants of the flow" and "Rates of convergence".
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dlnlib.convergence import (
    flow_norm_bound,
    gd_invariant_increment,
    lemma24_sandwich,
    lemma24_terms,
    prop2_rate,
    remark4_weights,
)
from dlnlib.dynamics import gradient_descent, gradient_flow
from dlnlib.model import balanced_weights, invariants, random_weights
from dlnlib.rates import decay_rates, exponential_bound_excess, fit_loglog_slope

# Shared table of configurations (widths d_0..d_N): depths 1-4, square, wide, bottleneck, d_x > d_y.
CONFIGS = [
    (3, 2),
    (3, 4, 2),
    (4, 3, 3),
    (5, 2, 4),
    (4, 5, 4, 3),
    (2, 6, 1, 3),
    (3, 3, 3, 3, 3),
]
IDS = ["-".join(map(str, c)) for c in CONFIGS]


def make_data(dims, seed, m=30):
    g = np.random.default_rng(seed)
    X = g.standard_normal((dims[0], m)) * g.uniform(0.5, 2.0, size=(dims[0], 1)) / np.sqrt(m)
    Y = g.standard_normal((dims[-1], dims[0])) @ X + 0.1 * g.standard_normal((dims[-1], m)) / np.sqrt(m)
    return X, Y


# --------------------------------------------------------------------------- GD increment


@pytest.mark.parametrize("dims", CONFIGS, ids=IDS)
@pytest.mark.parametrize("eta", [0.02, 0.1])
def test_gd_increment_matches_a_gradient_descent_step(dims, eta):
    X, Y = make_data(dims, seed=1)
    w0 = random_weights(dims, 2)
    w1 = gradient_descent(w0, X, Y, eta, 1).final_weights
    measured = [b - a for a, b in zip(invariants(w0), invariants(w1))]
    predicted = gd_invariant_increment(w0, X, Y, eta)
    assert len(predicted) == len(dims) - 2
    # C(W^1) - C(W^0) is a difference of O(||W||^2) matrices: its round-off is ~ eps ||W||^2
    roundoff = 50 * np.finfo(float).eps * max(np.sum(w * w) for w in w0)
    for m_, p_ in zip(measured, predicted):
        assert_allclose(m_, p_, rtol=0, atol=max(1e-12 * np.linalg.norm(p_), roundoff))
        assert np.linalg.norm(m_ - p_) <= 1e-12 * np.linalg.norm(p_) or np.linalg.norm(p_) < 1e-4


def test_gd_increment_is_quadratic_in_eta():
    dims = (4, 5, 4, 3)
    X, Y = make_data(dims, seed=3)
    w0 = random_weights(dims, 4)
    a = gd_invariant_increment(w0, X, Y, 0.1)
    b = gd_invariant_increment(w0, X, Y, 0.05)
    for x, y in zip(a, b):
        assert_allclose(x, 4 * y, rtol=1e-14, atol=0)


def test_gd_increment_rejects_bad_step():
    X, Y = make_data((3, 3, 2), seed=0)
    w0 = random_weights((3, 3, 2), 0)
    for bad in (0.0, -0.1, np.nan):
        with pytest.raises(ValueError, match="step"):
            gd_invariant_increment(w0, X, Y, bad)


# --------------------------------------------------------------------------- slope fitter


@pytest.mark.parametrize(("p", "c"), [(2.0, 3.0), (1.0, 0.5), (-0.5, 7.0), (2.5, 1e-3)])
def test_fit_loglog_slope_exact_power_laws(p, c):
    x = np.geomspace(1e-3, 1e-1, 7)
    fit = fit_loglog_slope(x, c * x**p)
    assert_allclose(fit.slope, p, rtol=1e-12)
    assert_allclose(fit.prefactor, c, rtol=1e-10)
    assert_allclose(fit.intercept, np.log(c), rtol=1e-10, atol=1e-12)
    assert_allclose(fit.r_squared, 1.0, atol=1e-12)
    assert_allclose(fit(x), c * x**p, rtol=1e-10)
    assert fit.n_points == 7


def test_fit_loglog_slope_noisy():
    g = np.random.default_rng(5)
    x = np.geomspace(1, 100, 50)
    y = 2 * x**1.5 * np.exp(0.01 * g.standard_normal(50))
    fit = fit_loglog_slope(x, y)
    assert abs(fit.slope - 1.5) < 0.01 and 0.99 < fit.r_squared <= 1


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        ([1, 2, 3], [1, 2], "same length"),
        ([1.0], [1.0], "at least 2"),
        ([1, 2], [1, -2], "positive"),
        ([0, 2], [1, 2], "positive"),
        ([2, 2], [1, 3], "constant"),
        ([1, np.nan], [1, 2], "NaN"),
    ],
)
def test_fit_loglog_slope_errors(x, y, match):
    with pytest.raises(ValueError, match=match):
        fit_loglog_slope(x, y)


# --------------------------------------------------------------------------- decay rates


def test_decay_rates_exact_exponential():
    t = np.linspace(0, 5, 101)
    kappa = 0.7
    loss = 3.0 * np.exp(-2 * kappa * t)
    grad = np.sqrt(2 * kappa * 2 * loss)  # so that |grad|^2 / (2 L) = 2 kappa
    r = decay_rates(t, loss, grad)
    assert_allclose(r.average, kappa, rtol=1e-12)
    assert_allclose(r.instantaneous_min, 2 * kappa, rtol=1e-12)
    assert r.horizon == 5.0
    assert_allclose(exponential_bound_excess(t, loss, kappa), 0.0, atol=1e-12)
    assert exponential_bound_excess(t, loss, 2 * kappa) > 1  # a too-fast rate is violated
    assert exponential_bound_excess(t, loss, -1e3) == 0.0  # attained at t = 0, no overflow


def test_decay_rates_floor_and_errors():
    t = np.linspace(0, 1, 11)
    loss = np.exp(-100 * t)  # falls below 1e-12 L(0) after t ~ 0.14
    r = decay_rates(t, loss, np.ones(11), loss_floor=1e-12)
    assert r.horizon == pytest.approx(0.2)
    with pytest.raises(ValueError, match="start at 0"):
        decay_rates(t + 1, loss, np.ones(11))
    with pytest.raises(ValueError, match="positive"):
        decay_rates(t, np.zeros(11), np.ones(11))
    with pytest.raises(ValueError, match="same length"):
        decay_rates(t, loss[:5], np.ones(11))


# --------------------------------------------------------------------------- Proposition 2


def test_prop2_product_of_two_negatives_is_not_a_rate():
    ws = [2.0 * np.eye(2), np.eye(2), 0.5 * np.eye(2)]  # C_1 = -3 I, C_2 = -0.75 I
    p = prop2_rate(ws)
    assert p.pyramidal
    assert_allclose(p.factors, [-3.0, -0.75])
    assert p.naive_product == pytest.approx(2.25)
    assert not p.hypothesis_holds
    assert np.isnan(p.kappa)
    assert p.n_positive == (0, 0) and p.required == (2, 2)
    assert "C_1" in p.message and "C_2" in p.message
    with pytest.raises(ValueError, match="does not apply"):
        p.bound([0.0, 1.0], 1.0)


def test_prop2_naive_bound_fails_along_the_flow():
    # two negative factors whose product is positive: the naive "rate" is violated by the flow
    g = np.random.default_rng(11)
    sigma_bar = np.diag([2.0, 1.3, 0.7])
    for _ in range(200):
        ws = random_weights((3, 3, 3, 3), g, scale=1.5)
        p = prop2_rate(ws)
        if sum(f < 0 for f in p.factors) == 2 and p.naive_product > 1:
            break
    else:  # pragma: no cover
        pytest.fail("no two-negative-factor initialization found")
    tr = gradient_flow(ws, np.eye(3), sigma_bar, 5.0, grad_tol=None, t_eval=np.linspace(0, 5, 201))
    assert exponential_bound_excess(tr.t, tr.loss, p.naive_product) > 1


def test_prop2_flags_non_pyramidal_and_one_negative():
    p = prop2_rate(random_weights((3, 2, 3, 2), 0))
    assert not p.pyramidal and not p.hypothesis_holds and "pyramidal" in p.message
    ws = [np.eye(2), 2.0 * np.eye(2), np.eye(2)]  # C_1 = 3 I > 0, C_2 = -3 I < 0
    p = prop2_rate(ws)
    assert p.factors == (3.0, -3.0) and not p.hypothesis_holds and "C_2" in p.message


def test_prop2_depth_one_and_rectangular_index():
    p = prop2_rate([np.ones((2, 3))])
    assert p.hypothesis_holds and p.kappa == 1.0 and p.factors == ()
    # (d_0, d_1, d_2) = (4, 3, 2): the factor is the d_2 = 2nd largest eigenvalue of the 3x3 C_1
    w1 = np.zeros((3, 4))
    w2 = np.array([[1.0, 0, 0], [0, 2.0, 0]])
    p = prop2_rate([w1, w2])
    assert_allclose(p.factors, [1.0])
    assert p.n_positive == (2,) and p.hypothesis_holds and p.kappa == pytest.approx(1.0)


@pytest.mark.parametrize(("dims", "scales"), [((5, 4, 3, 2), [0.1, 1.0, 2.0]), ((4, 4, 3, 3, 2), [0.1, 1.0, 2.0, 4.0])])
def test_prop2_bound_holds_along_the_reduced_flow(dims, scales):
    w0 = remark4_weights(dims, 21, scales=scales)
    p = prop2_rate(w0)
    assert p.hypothesis_holds and p.kappa > 0 and all(f > 0 for f in p.factors)
    sigma_bar = np.zeros((dims[-1], dims[0]))
    sigma_bar[np.arange(dims[-1]), np.arange(dims[-1])] = np.linspace(2.0, 0.7, dims[-1])
    t = np.linspace(0, 3, 301)
    tr = gradient_flow(w0, np.eye(dims[0]), sigma_bar, 3.0, rtol=1e-10, atol=1e-14, grad_tol=None, t_eval=t)
    keep = tr.loss > 1e-12 * tr.loss[0]
    assert np.all(tr.loss[keep] <= p.bound(tr.t[keep], tr.loss[0]) * (1 + 1e-8))
    assert exponential_bound_excess(tr.t, tr.loss, p.kappa) < 1e-8
    assert decay_rates(tr.t, tr.loss, tr.grad_norm).instantaneous_min >= p.kappa * (1 - 1e-6)


def test_remark4_weights_errors():
    with pytest.raises(ValueError, match="pyramidal"):
        remark4_weights((3, 2, 3), 0, scales=[0.1, 1.0])
    with pytest.raises(ValueError, match="scales"):
        remark4_weights((3, 3, 2), 0, scales=[0.1])
    with pytest.raises(ValueError, match="no draw"):
        remark4_weights((4, 4, 3, 2), 0, scales=[3.0, 1.0, 0.1], max_tries=20)
    with pytest.raises(TypeError, match="rng"):
        remark4_weights((3, 3, 2), None, scales=[0.1, 1.0])


# --------------------------------------------------------------------------- Lemma 2.4


@pytest.mark.parametrize("dims", CONFIGS, ids=IDS)
def test_lemma24_sandwich_and_power_trace_on_random_weights(dims):
    g = np.random.default_rng(31)
    for _ in range(50):
        ws = [w * g.uniform(0.2, 3.0) for w in random_weights(dims, g)]
        t = lemma24_terms(ws)
        assert t.lower <= t.end_to_end_sq * (1 + 1e-12)
        assert t.end_to_end_sq <= t.upper * (1 + 1e-12)
        assert t.power_trace_lower <= t.principal * (1 + 1e-12)
        assert t.principal <= t.power_trace_upper * (1 + 1e-12)


@pytest.mark.parametrize("dims", CONFIGS, ids=IDS)
def test_lemma24_balanced_identity(dims):
    t = lemma24_terms(balanced_weights(dims, 41, scale=2.0))
    assert_allclose(t.end_to_end_sq, t.principal, rtol=1e-12)


def test_lemma24_scalar_case_is_exact():
    # N = 2, scalars: ||P||^2 = w1^2 w2^2 = rho (rho + c) with c = w2^2 - w1^2
    for w1, w2 in [(0.5, 2.0), (2.0, 0.5), (1.0, 1.0)]:
        t = lemma24_terms([np.array([[w1]]), np.array([[w2]])])
        rho, c = w1**2, w2**2 - w1**2
        assert_allclose(t.end_to_end_sq, rho * (rho + c), rtol=1e-14)
        assert_allclose(t.upper, rho * (rho + max(c, 0)), rtol=1e-14)
        assert_allclose(t.lower, rho * max(rho - max(-c, 0), 0), rtol=1e-14)


def test_lemma24_batched_matches_single_and_is_constant_along_the_flow():
    dims = (4, 5, 4, 3)
    X, Y = make_data(dims, seed=7)
    ws = [random_weights(dims, k) for k in range(5)]
    batch = [np.stack(z) for z in zip(*ws)]
    tb = lemma24_terms(batch)
    for k, w in enumerate(ws):
        ts = lemma24_terms(w)
        assert_allclose(
            [tb.rho[k], tb.end_to_end_sq[k], tb.upper[k], tb.lower[k]],
            [ts.rho, ts.end_to_end_sq, ts.upper, ts.lower],
            rtol=1e-13,
        )
    tr = gradient_flow(ws[0], X, Y, 5.0, rtol=1e-11, atol=1e-13, grad_tol=None, store_weights=True)
    s0 = lemma24_sandwich(ws[0])
    for w in tr.weights[::20]:
        s = lemma24_sandwich(w)
        assert_allclose(s.c_plus, s0.c_plus, rtol=1e-8, atol=1e-10)
        assert_allclose(s.c_minus, s0.c_minus, rtol=1e-8, atol=1e-10)
        t = lemma24_terms(w)
        assert s0.lower(t.rho) <= t.end_to_end_sq * (1 + 1e-9) <= s0.upper(t.rho) * (1 + 2e-9)


def test_lemma24_input_errors():
    with pytest.raises(TypeError, match="non-empty list"):
        lemma24_terms(np.ones((2, 2)))
    with pytest.raises(ValueError, match="columns"):
        lemma24_terms([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match="NaN"):
        lemma24_terms([np.array([[np.nan]])])


@pytest.mark.parametrize("dims", [(3, 4, 2), (4, 3, 3, 3), (3, 2, 4, 3, 2)])
def test_flow_norm_bound_holds_along_the_flow_and_is_finite(dims):
    X, Y = make_data(dims, 5)
    g = np.random.default_rng(11)
    for scale in (0.3, 2.0):
        w0 = random_weights(dims, g, scale=scale)
        b = flow_norm_bound(w0, X, Y)
        assert np.isfinite(b.weights_norm_max) and b.weights_norm_max >= b.weights_norm0
        traj = gradient_flow(w0, X, Y, 30.0, store_weights=True, t_eval=np.linspace(0.0, 30.0, 61))
        norms = [np.sqrt(sum(np.sum(w * w) for w in ws)) for ws in traj.weights]
        assert max(norms) <= b.weights_norm_max * (1 + 1e-9)
        e2e = [np.sum(np.linalg.multi_dot(ws[::-1]) ** 2) if len(ws) > 1 else np.sum(ws[0] ** 2) for ws in traj.weights]
        assert max(e2e) <= b.end_to_end_sq_max * (1 + 1e-9)
        assert lemma24_sandwich(w0).lower(b.rho_max) == pytest.approx(b.end_to_end_sq_max, rel=1e-9)


def test_flow_norm_bound_scalar_case_is_exact():
    # N = 2, scalar weights: rho_max solves rho (rho + c) = B when c = w2^2 - w1^2 >= 0 (no c^- term: rho^2 <= B)
    X, Y = np.array([[2.0]]), np.array([[3.0]])
    w0 = [np.array([[0.5]]), np.array([[1.0]])]
    b = flow_norm_bound(w0, X, Y)
    loss0 = 0.5 * (3.0 - 2.0 * 0.5) ** 2
    assert_allclose(b.end_to_end_sq_max, (3.0 + np.sqrt(2 * loss0)) ** 2 / 4.0, rtol=1e-12)
    assert_allclose(b.rho_max, np.sqrt(b.end_to_end_sq_max), rtol=1e-9)  # lower(rho) = rho * rho, r = 1, c^- = 0
    c = 1.0 - 0.25
    assert_allclose(b.weights_norm_max, np.sqrt(2 * b.rho_max + c), rtol=1e-9)


def test_flow_norm_bound_batched_matches_single_and_errors():
    dims = (3, 4, 2)
    X, Y = make_data(dims, 6)
    g = np.random.default_rng(2)
    singles = [random_weights(dims, g) for _ in range(3)]
    batch = [np.stack(ws) for ws in zip(*singles)]
    bb = flow_norm_bound(batch, X, Y)
    for k, ws in enumerate(singles):
        assert_allclose(bb.weights_norm_max[k], flow_norm_bound(ws, X, Y).weights_norm_max, rtol=1e-12)
    with pytest.raises(ValueError, match="positive definite"):
        flow_norm_bound(singles[0], np.vstack([X[:2], X[:1]]), Y)
    with pytest.raises(ValueError, match="shape"):
        flow_norm_bound(singles[0], X[:2], Y)
