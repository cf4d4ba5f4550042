"""Tests for dlnlib.optimizers (Remark 2 of [CLC]): hand-computed first steps and the measurements."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dlnlib.dynamics import gradient_descent_batch
from dlnlib.model import random_weights
from dlnlib.optimizers import SGD, Adam, HeavyBall, optimize_batch

# scalar network w2 * w1 * x, samples x = (1, 2), targets y = (0, 1), start (w1, w2) = (1, 2):
# residuals r = w2 w1 x - y = (2, 3), L = 6.5, dL/dw1 = w2 sum r x = 16, dL/dw2 = w1 sum r x = 8.
X = np.array([[1.0, 2.0]])
Y = np.array([[0.0, 1.0]])


def start():
    return [np.array([[[1.0]]]), np.array([[[2.0]]])]


def grad(w1, w2):
    s = (w2 * w1 * 1 - 0) * 1 + (w2 * w1 * 2 - 1) * 2
    return np.array([w2 * s, w1 * s])


def final(run):
    return np.array([run.final_weights[0][0, 0, 0], run.final_weights[1][0, 0, 0]])


def test_hand_gradient():
    assert_allclose(grad(1.0, 2.0), [16.0, 8.0])


def test_sgd_full_batch_first_step_and_recordings():
    run = optimize_batch(start(), X, Y, SGD(0.01), 1)
    assert_allclose(final(run), [0.84, 1.92], rtol=0, atol=1e-14)
    assert_allclose(run.loss[0, 0], 6.5, rtol=1e-14)
    assert_allclose(run.grad_norm[0, 0], np.sqrt(16.0**2 + 8.0**2), rtol=1e-14)
    assert_allclose(run.cos_angle[0, 0], 1.0, rtol=1e-14)  # full-batch step is exactly -eta grad
    assert np.isnan(run.cos_angle[0, -1])  # no step after the last record
    # C = w2^2 - w1^2 changes by eta^2 (g2^2 - g1^2) = 1e-4 (64 - 256)
    assert_allclose(run.invariant_drift[0, -1], 0.0192, rtol=1e-10)
    assert_allclose(run.max_weight_norm[0], np.sqrt(5.0), rtol=1e-14)


def test_sgd_full_batch_is_gradient_descent():
    g = np.random.default_rng(3)
    dims = (3, 4, 2, 2)
    Xd = g.standard_normal((3, 20)) / np.sqrt(20)
    Yd = g.standard_normal((2, 3)) @ Xd
    w0 = [np.stack(ws) for ws in zip(*[random_weights(dims, g) for _ in range(3)])]
    run = optimize_batch(w0, Xd, Yd, SGD(0.05), 50, record_every=10)
    assert not run.diverged.any()
    ref = gradient_descent_batch(w0, Xd, Yd, 0.05, 50, record_every=10)
    for a, b in zip(run.final_weights, ref.final_weights):
        assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert_allclose(run.loss, ref.loss, rtol=1e-12)
    assert_allclose(run.invariant_drift, ref.invariant_drift, rtol=1e-9, atol=1e-15)


def test_minibatch_first_step_is_one_of_the_hand_computed_ones():
    # one sample, gradient scaled by m/b = 2: sample 0 gives 2 * 2 * 1 * (w2, w1) = (8, 4),
    # sample 1 gives 2 * 3 * 2 * (w2, w1) = (24, 12); their mean is the full gradient (16, 8)
    candidates = {0: np.array([1 - 0.01 * 8, 2 - 0.01 * 4]), 1: np.array([1 - 0.01 * 24, 2 - 0.01 * 12])}
    seen = set()
    for seed in range(12):
        w = final(optimize_batch(start(), X, Y, SGD(0.01, batch_size=1), 1, rng=seed))
        hits = [k for k, c in candidates.items() if np.allclose(w, c, rtol=0, atol=1e-14)]
        assert len(hits) == 1
        seen.add(hits[0])
    assert seen == {0, 1}


def test_minibatch_reproducible():
    a = optimize_batch(start(), X, Y, SGD(0.01, batch_size=1), 20, rng=7)
    b = optimize_batch(start(), X, Y, SGD(0.01, batch_size=1), 20, rng=7)
    assert_allclose(a.loss, b.loss, rtol=0, atol=0)


def test_heavy_ball_two_steps():
    eta, mu = 0.01, 0.5
    w0 = np.array([1.0, 2.0])
    w1 = w0 - eta * grad(*w0)  # (0.84, 1.92)
    v2 = mu * (w1 - w0) - eta * grad(*w1)
    w2 = w1 + v2
    assert_allclose(w1, [0.84, 1.92])
    assert_allclose(w2, [0.6435712, 1.8290624], rtol=1e-12)
    run = optimize_batch(start(), X, Y, HeavyBall(eta, momentum=mu), 2)
    assert_allclose(final(run), w2, rtol=1e-13)


def test_adam_two_steps():
    eta, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    g0 = grad(1.0, 2.0)
    w1 = np.array([1.0, 2.0]) - eta * g0 / (np.abs(g0) + eps)  # first step: -eta * sign(g) up to eps
    assert_allclose(w1, [0.9, 1.9], atol=1e-9)
    g1 = grad(*w1)
    m = b1 * (1 - b1) * g0 + (1 - b1) * g1
    s = b2 * (1 - b2) * g0**2 + (1 - b2) * g1**2
    w2 = w1 - eta * (m / (1 - b1**2)) / (np.sqrt(s / (1 - b2**2)) + eps)
    run = optimize_batch(start(), X, Y, Adam(eta, beta1=b1, beta2=b2, eps=eps), 2)
    assert_allclose(final(run), w2, rtol=1e-13)
    # angle of the first step with -grad: cos = |g|_1 / (sqrt(2) |g|_2) = 24 / (sqrt(2) sqrt(320))
    assert_allclose(run.cos_angle[0, 0], 24 / (np.sqrt(2) * np.sqrt(320.0)), rtol=1e-7)


def test_step_decay_schedule():
    run = optimize_batch(start(), X, Y, SGD(0.01, decay=1.0), 2)
    w1 = np.array([1.0, 2.0]) - 0.01 * grad(1.0, 2.0)
    w2 = w1 - 0.005 * grad(*w1)  # eta_1 = eta / (1 + 1 * 1)
    assert_allclose(final(run), w2, rtol=1e-13)


def test_divergence_is_flagged_and_weights_stay_finite():
    run = optimize_batch(start(), X, Y, SGD(1.0), 50)
    assert run.diverged[0]
    assert all(np.all(np.isfinite(w)) for w in run.final_weights)


def test_errors():
    with pytest.raises(ValueError, match="step"):
        SGD(0.0)
    with pytest.raises(ValueError, match="momentum"):
        HeavyBall(0.1, momentum=1.0)
    with pytest.raises(ValueError, match="beta2"):
        Adam(0.1, beta2=1.5)
    with pytest.raises(ValueError, match="decay"):
        SGD(0.1, decay=-1)
    with pytest.raises(ValueError, match="batch_size"):
        optimize_batch(start(), X, Y, SGD(0.1, batch_size=3), 1, rng=0)
    with pytest.raises(ValueError, match="rng"):
        optimize_batch(start(), X, Y, SGD(0.1, batch_size=1), 1)
    with pytest.raises(TypeError, match="optimizer"):
        optimize_batch(start(), X, Y, "adam", 1)
