"""Tests for Proposition 3 of [CLC] along lines: dlnlib.hessian.second_variation and line_polynomial."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dlnlib.critical import critical_point
from dlnlib.hessian import hessian, line_polynomial, second_variation
from dlnlib.model import gradient, loss, random_weights

DIMS = [(3, 2), (4, 3, 3), (4, 3, 5, 2), (3, 3, 3, 3, 3)]


def make_data(dims, seed, m=25):
    g = np.random.default_rng(seed)
    X = g.standard_normal((dims[0], m)) * g.uniform(0.5, 2.0, size=(dims[0], 1)) / np.sqrt(m)
    Y = g.standard_normal((dims[-1], dims[0])) @ X + 0.1 * g.standard_normal((dims[-1], m)) / np.sqrt(m)
    return X, Y


@pytest.mark.parametrize("dims", DIMS, ids=["-".join(map(str, d)) for d in DIMS])
def test_second_variation_and_line_polynomial(dims):
    g = np.random.default_rng(11)
    X, Y = make_data(dims, 12)
    ws = random_weights(dims, g)
    ds = [g.standard_normal(w.shape) for w in ws]
    flat = np.concatenate([d.ravel() for d in ds])
    q = flat @ hessian(ws, X, Y) @ flat
    assert_allclose(second_variation(ws, X, Y, ds), q, rtol=1e-10)
    assert_allclose(second_variation(ws, X, Y, flat), q, rtol=1e-10)
    c = line_polynomial(ws, X, Y, ds)
    assert c.shape == (2 * len(ws) + 1,)
    assert_allclose(c[0], loss(ws, X, Y), rtol=1e-12)
    assert_allclose(c[1], sum(np.sum(a * b) for a, b in zip(gradient(ws, X, Y), ds)), rtol=1e-10)
    assert_allclose(c[2], 0.5 * q, rtol=1e-10)
    for t in (0.3, -1.7):
        assert_allclose(np.polyval(c[::-1], t), loss([w + t * d for w, d in zip(ws, ds)], X, Y), rtol=1e-10)


def test_hand_scalar_line():
    # L(t) = 1/2 (1 - (1 + t)(2 + 3t))^2 = 1/2 (1 + 5t + 3t^2)^2 = 1/2 + 5t + 31/2 t^2 + 15 t^3 + 9/2 t^4
    ws = [np.array([[1.0]]), np.array([[2.0]])]
    c = line_polynomial(ws, np.ones((1, 1)), np.ones((1, 1)), [np.array([[1.0]]), np.array([[3.0]])])
    assert_allclose(c, [0.5, 5.0, 15.5, 15.0, 4.5])


def test_cubic_coefficient_at_non_strict_saddle():
    # reduced problem, depth 3, tight critical point S = {1}: along e_k in every complement block the
    # second variation vanishes and L(W + tΔ) - L(W) = -s_k t^3 + t^6 / 2
    s = np.array([3.0, 2.0, 1.0])
    X, Y = np.eye(3), np.diag(s)
    dims = (3, 3, 3, 3)
    ws = critical_point(X, Y, dims, (0,))
    ds = [np.zeros(w.shape) for w in ws]
    ds[0][1, 2] = ds[1][1, 1] = ds[2][2, 1] = 1.0  # hidden complement coordinate 1, output/input index 2
    c = line_polynomial(ws, X, Y, ds)
    assert_allclose(c[1:3], 0.0, atol=1e-14)
    assert_allclose(c[3], -s[2], rtol=1e-14)
    assert_allclose(second_variation(ws, X, Y, ds), 0.0, atol=1e-14)
