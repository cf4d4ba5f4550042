"""Tests for dlnlib.rates (Theorem 2.2 of [CLC]: Łojasiewicz exponents and convergence rates)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dlnlib.dynamics import gradient_flow
from dlnlib.model import end_to_end, loss, random_weights
from dlnlib.rates import (
    fit_exponential_rate,
    fit_lojasiewicz,
    fit_power_rate,
    loss_excess,
    predicted_rates,
    scalar_balanced_prediction,
    scalar_balanced_start,
)


def test_loss_excess_matches_difference_of_losses():
    g = np.random.default_rng(0)
    X = g.standard_normal((3, 10))
    Y = g.standard_normal((2, 10))
    ws, ws2 = random_weights((3, 4, 2), g), random_weights((3, 4, 2), g)
    ex = loss_excess(np.stack([end_to_end(ws)]), end_to_end(ws2), X, Y)
    assert_allclose(ex[0], loss(ws, X, Y) - loss(ws2, X, Y), rtol=1e-12)
    assert isinstance(loss_excess(end_to_end(ws), end_to_end(ws2), X, Y), float)
    with pytest.raises(ValueError, match="shape"):
        loss_excess(np.zeros((2, 3)), np.zeros((3, 3)), X, Y)


def test_fits_on_synthetic_power_laws():
    e = np.geomspace(1e-10, 1e-2, 30)
    f = fit_lojasiewicz(e, 3.0 * e**0.7)
    assert_allclose([f.theta, f.constant, f.r_squared], [0.7, 3.0, 1.0], rtol=1e-12)
    f = fit_lojasiewicz(e, 3.0 * e**0.7, upper=1e-5)
    assert f.n_points < 30
    t = np.linspace(0, 10, 50)
    r = fit_exponential_rate(t, 2.0 * np.exp(-1.5 * t))
    assert_allclose([r.rate, r.prefactor], [1.5, 2.0], rtol=1e-12)
    assert_allclose(r(t[:3]), 2.0 * np.exp(-1.5 * t[:3]), rtol=1e-12)
    p = fit_power_rate(t, 4.0 * np.maximum(t, 1e-300) ** -0.25, t_min=1.0)
    assert_allclose([p.rate, p.prefactor], [0.25, 4.0], rtol=1e-12)
    assert p.kind == "power"
    with pytest.raises(ValueError, match="at least 3"):
        fit_lojasiewicz(e, e, lower=1.0)
    with pytest.raises(ValueError, match="same length"):
        fit_exponential_rate(t, t[:-1])


def test_predicted_rates():
    p = predicted_rates(2 / 3)
    assert_allclose([p.loss_exponent, p.distance_exponent], [3.0, 1.0])
    assert predicted_rates(0.5).exponential
    with pytest.raises(ValueError, match="theta"):
        predicted_rates(1.0)
    assert_allclose(scalar_balanced_prediction(3, at="minimum").theta, 5 / 6)
    assert_allclose(scalar_balanced_prediction(3, at="minimum").distance_exponent, 1 / 4)
    assert_allclose(scalar_balanced_prediction(3, at="saddle").theta, 2 / 3)
    assert scalar_balanced_prediction(2, at="saddle").exponential
    with pytest.raises(ValueError, match="at"):
        scalar_balanced_prediction(3, at="max")
    with pytest.raises(ValueError, match="depth"):
        scalar_balanced_start(1, 0.5, at="saddle")


@pytest.mark.parametrize(("depth", "at"), [(3, "saddle"), (3, "minimum"), (2, "minimum")])
def test_flow_matches_predicted_exponents(depth, at):
    ws, X, Y = scalar_balanced_start(depth, 0.5, at=at)
    t_max = 1e4
    t_eval = np.concatenate([[0], np.geomspace(1e-2, t_max, 120)])
    tr = gradient_flow(ws, X, Y, t_max, t_eval=t_eval, grad_tol=None, rtol=1e-11, atol=1e-14, store_weights=True)
    prods = np.array([end_to_end(w) for w in tr.weights])
    ex = loss_excess(prods, np.zeros((1, 1)), X, Y)
    pred = scalar_balanced_prediction(depth, at=at)
    fit = fit_lojasiewicz(ex, tr.grad_norm, upper=1e-3 * ex[0])
    assert_allclose(fit.theta, pred.theta, atol=1e-3)
    dist = np.array([np.sqrt(sum(float(np.sum(w * w)) for w in ws_t)) for ws_t in tr.weights])
    assert_allclose(fit_power_rate(tr.t, dist, t_min=t_max / 100).rate, pred.distance_exponent, rtol=0.02)
