"""Tests for Remark 3 of [CLC]: dlnlib.relu (per-neuron balances) and the composite losses/flow of dlnlib.losses."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dlnlib.losses import (
    DataSquareLoss,
    SoftmaxCrossEntropyLoss,
    composite_flow,
    composite_gradient,
    composite_hessian,
    composite_loss,
)
from dlnlib.model import end_to_end, gradient, loss, random_weights
from dlnlib.relu import (
    balance_rates,
    gd_balance_increment,
    neuron_balances,
    relu_gradient,
    relu_gradient_descent,
    relu_loss,
)


def relu_problem(seed=0, dims=(3, 5, 4, 2), m=12):
    g = np.random.default_rng(seed)
    return random_weights(dims, g), g.standard_normal((dims[0], m)), g.standard_normal((dims[-1], m))


def flat_fd(f, ws, h=1e-6):
    out = []
    for i, w in enumerate(ws):
        gi = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            wp = [x.copy() for x in ws]
            wm = [x.copy() for x in ws]
            wp[i][idx] += h
            wm[i][idx] -= h
            gi[idx] = (f(wp) - f(wm)) / (2 * h)
        out.append(gi)
    return out


@pytest.mark.parametrize("slope", [0.0, 0.2])
def test_relu_gradient_matches_finite_differences(slope):
    ws, X, Y = relu_problem()
    g = relu_gradient(ws, X, Y, slope=slope)
    fd = flat_fd(lambda w: relu_loss(w, X, Y, slope=slope), ws)
    for a, b in zip(g, fd):
        assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_relu_hand_computed_loss():
    ws = [np.array([[1.0], [-1.0]]), np.array([[2.0, 3.0]])]
    X, Y = np.array([[1.0, -2.0]]), np.array([[0.0, 0.0]])
    # x = 1: hidden (1, -1) -> ReLU (1, 0) -> out 2; x = -2: hidden (-2, 2) -> (0, 2) -> out 6
    assert_allclose(relu_loss(ws, X, Y), 0.5 * (4 + 36))
    # leaky 0.5: x = 1 -> (1, -0.5) -> 2 - 1.5 = 0.5; x = -2 -> (-1, 2) -> -2 + 6 = 4
    assert_allclose(relu_loss(ws, X, Y, slope=0.5), 0.5 * (0.25 + 16))


def test_linear_limit_balances_are_invariant_diagonals():
    ws, _, _ = relu_problem()
    from dlnlib.model import invariants

    for b, c in zip(neuron_balances(ws), invariants(ws)):
        assert_allclose(b, -np.diag(c), rtol=1e-13)


@pytest.mark.parametrize("slope", [0.0, 0.1])
def test_balances_conserved_by_flow_and_gd_identity(slope):
    ws, X, Y = relu_problem(1)
    rates, scales = balance_rates(ws, X, Y, slope=slope)
    for r, s in zip(rates, scales):
        assert np.all(np.abs(r) <= 1e-13 * s.max())
        assert s.max() > 0
    inc = gd_balance_increment(ws, X, Y, 0.01, slope=slope)
    new = [w - 0.01 * g for w, g in zip(ws, relu_gradient(ws, X, Y, slope=slope))]
    for a, b, c in zip(neuron_balances(new), neuron_balances(ws), inc):
        assert_allclose(a - b, c, rtol=1e-8, atol=1e-14)
    run = relu_gradient_descent(ws, X, Y, 0.01, 30, slope=slope)
    assert run.identity_error < 1e-8
    assert run.balance_drift[-1] > 0
    assert run.loss[-1] < run.loss[0]
    # over a fixed horizon the drift is O(eta): halving eta roughly halves it
    d1 = relu_gradient_descent(ws, X, Y, 0.004, 100, slope=slope).balance_drift[-1]
    d2 = relu_gradient_descent(ws, X, Y, 0.002, 200, slope=slope).balance_drift[-1]
    assert 1.6 < d1 / d2 < 2.5


def test_relu_errors():
    ws, X, Y = relu_problem()
    with pytest.raises(ValueError, match="slope"):
        relu_loss(ws, X, Y, slope=1.0)
    with pytest.raises(ValueError, match="two layers"):
        relu_loss(ws[:1], X, X[:3])
    with pytest.raises(ValueError, match="shapes"):
        relu_loss(ws, X[:2], Y)


def ce_problem(seed=0, lam=0.0):
    g = np.random.default_rng(seed)
    X = g.standard_normal((3, 15))
    return SoftmaxCrossEntropyLoss(X, g.integers(0, 4, size=15), 4, weight_decay=lam), random_weights((3, 5, 4), g)


@pytest.mark.parametrize("lam", [0.0, 0.3])
def test_cross_entropy_gradient_and_hessian(lam):
    ell, ws = ce_problem(lam=lam)
    A = end_to_end(ws)
    # value by hand
    z = A @ ell.X
    ce = np.sum(np.log(np.sum(np.exp(z), axis=0)) - z[ell.labels, np.arange(15)])
    assert_allclose(ell.value(A), ce + 0.5 * lam * np.sum(A * A), rtol=1e-13)
    fd = flat_fd(lambda w: composite_loss(w, ell), ws)
    for a, b in zip(composite_gradient(ws, ell), fd):
        assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    h = composite_hessian(ws, ell)
    flat = np.concatenate([w.ravel() for w in ws])
    eps = 1e-6
    dims = (3, 5, 4)

    def gflat(x):
        w1 = x[:15].reshape(5, 3)
        w2 = x[15:].reshape(4, 5)
        return np.concatenate([g.ravel() for g in composite_gradient([w1, w2], ell)])

    cols = [(gflat(flat + eps * e) - gflat(flat - eps * e)) / (2 * eps) for e in np.eye(flat.size)]
    assert_allclose(h, np.array(cols).T, atol=1e-6 * np.abs(h).max())
    assert dims[0] == ell.X.shape[0]


def test_data_square_loss_matches_model_even_rank_deficient():
    g = np.random.default_rng(4)
    X = g.standard_normal((4, 2)) @ g.standard_normal((2, 10))  # rank 2 < d_x = 4
    Y = g.standard_normal((3, 10))
    ws = random_weights((4, 3, 3), g)
    ell = DataSquareLoss(X, Y)
    assert_allclose(composite_loss(ws, ell), loss(ws, X, Y), rtol=1e-13)
    for a, b in zip(composite_gradient(ws, ell), gradient(ws, X, Y)):
        assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_composite_flow_invariants():
    ell, ws = ce_problem(2, lam=0.1)
    fl = composite_flow(ws, ell, 3.0, rtol=1e-11, atol=1e-13)
    assert fl.loss[-1] < fl.loss[0]
    assert fl.invariant_drift().max() < 1e-8 * max(np.sum(w * w) for w in ws)
    # layer weight decay: C_i(t) = exp(-2 mu t) C_i(0)
    mu = 0.2
    fl2 = composite_flow(ws, ell, 3.0, layer_decay=mu, rtol=1e-11, atol=1e-13)
    c0 = fl2.invariants[0][0]
    for k in (10, 50, 100):
        assert_allclose(fl2.invariants[0][k], np.exp(-2 * mu * fl2.t[k]) * c0, rtol=1e-7, atol=1e-9)
    with pytest.raises(ValueError, match="layer_decay"):
        composite_flow(ws, ell, 1.0, layer_decay=-1)


def test_cross_entropy_errors():
    X = np.ones((2, 3))
    with pytest.raises(ValueError, match="labels"):
        SoftmaxCrossEntropyLoss(X, np.array([0, 1, 3]), 3)
    with pytest.raises(ValueError, match="n_classes"):
        SoftmaxCrossEntropyLoss(X, np.array([0, 0, 0]), 1)
    with pytest.raises(ValueError, match="weight_decay"):
        SoftmaxCrossEntropyLoss(X, np.array([0, 1, 0]), 2, weight_decay=-0.1)
    with pytest.raises(ValueError, match="samples"):
        DataSquareLoss(X, np.ones((1, 2)))


def test_remark1_rank_deficient_flow_is_the_reduced_flow():
    from dlnlib.model import reduce_rank_deficient

    g = np.random.default_rng(8)
    X = g.standard_normal((5, 2)) @ g.standard_normal((2, 20))  # rank 2
    Y = g.standard_normal((2, 20))
    ws = random_weights((5, 3, 2), g)
    red = reduce_rank_deficient(X)
    assert red.rank == 2 and red.X_reduced.shape == (2, 20)
    assert_allclose(end_to_end(ws) @ X, end_to_end(red.to_reduced(ws)) @ red.X_reduced, atol=1e-12)
    t = np.linspace(0, 2, 21)
    full = composite_flow(ws, DataSquareLoss(X, Y), 2.0, t_eval=t, rtol=1e-11, atol=1e-13)
    small = composite_flow(red.to_reduced(ws), DataSquareLoss(red.X_reduced, Y), 2.0, t_eval=t, rtol=1e-11, atol=1e-13)
    for k in (5, 20):
        pf = end_to_end([w[k] for w in full.weights]) @ X
        ps = end_to_end([w[k] for w in small.weights]) @ red.X_reduced
        assert_allclose(pf, ps, atol=1e-7)
        lifted = red.from_reduced([w[k] for w in small.weights], ws)
        assert_allclose(lifted[0], full.weights[0][k], atol=1e-7)
    with pytest.raises(ValueError, match="zero"):
        reduce_rank_deficient(np.zeros((2, 3)))
