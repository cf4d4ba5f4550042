"""Tests for dlnlib.stepsize: the step-size bound of [NRT] Theorem 2.4 (as quoted in the student report)
and the report's step-doubling experiment (see the Mathematical notes, "Step sizes for gradient descent"; Chen, Choi and
Scialanga, Math 273A final project)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dlnlib.dynamics import gradient_descent
from dlnlib.model import end_to_end, gradient, invariants, loss, random_weights
from dlnlib.stepsize import (
    balancedness,
    first_diverging_step,
    step_size_bound,
    step_size_bounds,
)


def report_instance(seed: int = 2, scale: float = 0.15):
    """The student report's §5.4 setup: X 5x5 Gaussian, Y = diag(1..5) X + N(0, 0.1^2), N = 3, W_i 5x5 Gaussian.

    The report does not give the weight scale; ``scale = 0.15`` makes the initialization balanced
    enough (alpha < 1) for this seed.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((5, 5))
    Y = np.diag(np.arange(1.0, 6.0)) @ X + 0.1 * rng.standard_normal((5, 5))
    ws = [scale * rng.standard_normal((5, 5)) for _ in range(3)]
    return ws, X, Y


# --------------------------------------------------------------------------- balancedness


def test_balancedness_hand_values():
    assert balancedness([np.eye(2), 2 * np.eye(2)]) == pytest.approx(3.0, abs=1e-14)
    assert balancedness([np.ones((3, 2))]) == 0.0  # N = 1
    w1 = np.array([[1.0, 0.0], [0.0, 2.0]])
    w2 = np.array([[1.0, 1.0]])
    # W_2^T W_2 - W_1 W_1^T = [[0, 1], [1, -3]], eigenvalues (-3 ± sqrt(13)) / 2
    assert balancedness([w1, w2]) == pytest.approx((3 + np.sqrt(13)) / 2, rel=1e-14)


def test_balancedness_is_max_spectral_norm_of_invariants():
    ws = random_weights((3, 4, 2, 5), 7)
    expected = max(np.linalg.norm(c, 2) for c in invariants(ws))
    assert_allclose(balancedness(ws), expected, rtol=1e-14)


# --------------------------------------------------------------------------- the bound, by hand


def test_bound_pieces_hand_computed():
    X = np.diag([2.0, 1.0])
    Y = np.array([[1.0, 0.0], [0.0, 3.0]])
    ws = [np.eye(2), np.diag([1.1, 1.0])]
    N = 2
    # formulas written out independently: L with the 1/2, spectral norms, sigma_min(X) = 1
    L0 = 0.5 * ((1.0 - 2.2) ** 2 + (3.0 - 1.0) ** 2)  # Y - W_2 W_1 X = diag(-1.2, 2)
    M = (np.sqrt(2 * L0) + 3.0) / 1.0  # ||Y||_2 = 3
    bal = 1.1**2 - 1.0  # W_2^T W_2 - W_1 W_1^T = diag(0.21, 0)
    delta = M / (2 * 9)  # M^(2/N) / (N (N+1)^2)
    alpha = bal / delta
    K = M + 9 * delta
    B = 2 * np.e * 2 * K * 2.0**2 + np.sqrt(np.e) * 2 * 1.0 * 3.0  # ||X|| = 2, ||X Y^T|| = ||diag(2, 3)|| = 3
    eta = 2 * (1 - alpha) * delta / (4 * L0 + (1 - alpha) * delta * B)

    b = step_size_bound(ws, X, Y)
    assert b.N == N and b.m_variant == "corrected"
    assert_allclose(b.loss0, L0, rtol=1e-14)
    assert_allclose(b.M, M, rtol=1e-14)
    assert_allclose(b.delta, delta, rtol=1e-14)
    assert_allclose(b.alpha, alpha, rtol=1e-13)
    assert_allclose(b.balancedness, bal, rtol=1e-13)
    assert_allclose(b.measured_balancedness, bal, rtol=1e-13)
    assert_allclose(b.K_delta, K, rtol=1e-14)
    assert_allclose(b.B_delta, B, rtol=1e-14)
    assert_allclose(b.eta, eta, rtol=1e-13)
    assert_allclose(b.eta_no_half, eta / 2, rtol=1e-14)

    # the report's printed (garbled) M, read literally
    m_rep = np.sqrt(2 * np.sqrt(2 * L0) + 3.0) / 1.0
    br = step_size_bound(ws, X, Y, m_variant="report", delta=1.0)
    assert_allclose(br.M, m_rep, rtol=1e-14)
    assert_allclose(br.K_delta, m_rep + 9.0, rtol=1e-14)
    # with the default delta = M/18 the smaller garbled M makes this initialization inadmissible
    with pytest.raises(ValueError, match="not balanced enough"):
        step_size_bound(ws, X, Y, m_variant="report")

    # explicit delta and alpha
    be = step_size_bound(ws, X, Y, delta=1.0, alpha=0.5)
    K1 = M + 9.0
    B1 = 2 * np.e * 2 * K1 * 4.0 + np.sqrt(np.e) * 2 * 3.0
    assert_allclose(be.eta, 2 * 0.5 * 1.0 / (4 * L0 + 0.5 * 1.0 * B1), rtol=1e-13)
    assert be.balancedness == pytest.approx(0.5)


def test_bound_decreases_with_alpha():
    ws, X, Y = report_instance()
    b = step_size_bound(ws, X, Y)
    b_worse = step_size_bound(ws, X, Y, alpha=0.5 * (1 + b.alpha))
    assert b_worse.eta < b.eta


def test_unbalanced_initialization_raises():
    ws, X, Y = report_instance(scale=1.0)
    with pytest.raises(ValueError, match=r"not balanced enough .*alpha = .* >= 1"):
        step_size_bound(ws, X, Y)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 1.0}, r"alpha in \[0, 1\)"),
        ({"alpha": -0.1}, r"alpha in \[0, 1\)"),
        ({"alpha": 1e-6}, r"below the balancedness"),
        ({"m_variant": "literal"}, r"m_variant must be one of"),
        ({"delta": 0.0}, r"delta must be a finite positive"),
    ],
)
def test_bad_options_raise(kwargs, match):
    ws, X, Y = report_instance()
    with pytest.raises(ValueError, match=match):
        step_size_bound(ws, X, Y, **kwargs)


def test_rank_deficient_x_raises():
    ws = [np.eye(3), np.eye(3)]
    X = np.ones((3, 10))
    with pytest.raises(ValueError, match="full row rank"):
        step_size_bound(ws, X, X)


# --------------------------------------------------------------------------- the report's instance


def test_report_instance_bound_and_norm_along_gd():
    ws, X, Y = report_instance()
    b = step_size_bound(ws, X, Y)
    assert np.isfinite(b.eta) and b.eta > 0
    assert 0 <= b.alpha < 1
    # recorded numbers for this instance (seed 2, scale 0.15)
    assert_allclose([b.eta, b.delta, b.alpha, b.M], [3.8035e-6, 0.7949, 0.4039, 235.67], rtol=2e-4)
    # corrected M is larger than the garbled one, so its eta is smaller (ratio ~5.8)
    br = step_size_bound(ws, X, Y, m_variant="report")
    assert br.M < b.M and br.eta > b.eta

    # GD at 0.9 * bound: L non-increasing, hence ||W_{N:1}(k)||_2 <= M, for 5000 steps
    eta = 0.9 * b.eta
    w = [x.copy() for x in ws]
    losses, norms = [loss(w, X, Y)], [np.linalg.norm(end_to_end(w), 2)]
    for _ in range(5000):
        g = gradient(w, X, Y)
        w = [x - eta * gx for x, gx in zip(w, g)]
        losses.append(loss(w, X, Y))
        norms.append(np.linalg.norm(end_to_end(w), 2))
    assert np.all(np.diff(losses) <= 1e-12 * losses[0])
    assert max(norms) <= b.M
    assert losses[-1] < losses[0]


def test_doubling_on_report_instance():
    ws, X, Y = report_instance()
    b = step_size_bound(ws, X, Y)
    res = first_diverging_step(ws, X, Y, eta0=0.9 * b.eta, n_epochs=5000, max_doublings=20)
    assert_allclose(res.steps, 0.9 * b.eta * 2.0 ** np.arange(21), rtol=1e-15)
    assert res.k == 13
    assert_allclose(res.first_diverging_step, 0.9 * b.eta * 2**13, rtol=1e-15)
    assert 0.01 < res.first_diverging_step < 0.05  # the report's range for 5x5 networks
    assert res.status[res.k] == "diverged"
    # monotone consistency: every smaller step did not diverge
    assert all(s != "diverged" for s in res.status[: res.k])
    assert np.all(np.isfinite(res.final_loss))
    assert res.last_stable_step == pytest.approx(res.steps[res.k - 1])
    # the sequential procedure agrees around the threshold
    assert not gradient_descent(ws, X, Y, res.steps[res.k - 1], 5000).diverged
    single = gradient_descent(ws, X, Y, res.steps[res.k], 5000)
    assert single.diverged and all(np.all(np.isfinite(w)) for w in single.final_weights)


def test_doubling_reports_divergence_as_status():
    ws, X, Y = report_instance()
    res = first_diverging_step(ws, X, Y, eta0=10.0, n_epochs=50, max_doublings=3)
    assert res.k == 0 and res.first_diverging_step == 10.0
    assert res.status == ("diverged",) * 4
    assert np.all(np.isfinite(res.final_loss))
    assert res.last_stable_step is None


def test_doubling_without_divergence():
    ws, X, Y = report_instance()
    res = first_diverging_step(ws, X, Y, eta0=1e-6, n_epochs=10, max_doublings=2)
    assert res.k is None and res.first_diverging_step is None
    assert res.status == ("not_diverged",) * 3
    assert res.last_stable_step == pytest.approx(4e-6)


def test_doubling_validation():
    ws, X, Y = report_instance()
    with pytest.raises(ValueError, match="max_doublings"):
        first_diverging_step(ws, X, Y, eta0=1e-3, max_doublings=-1)
    with pytest.raises(ValueError, match="eta0"):
        first_diverging_step(ws, X, Y, eta0=-1.0)


# --------------------------------------------------------------------------- many networks


def test_step_size_bounds_matches_single_networks():
    _, X, Y = report_instance()
    dims = (5, 5, 5, 5)
    sample = step_size_bounds(dims, X, Y, 11, 1000, scale=0.15)
    assert sample.eta.shape == (1000,)
    assert np.all(np.isnan(sample.eta) == ~sample.valid)
    assert np.all(sample.eta[sample.valid] > 0)
    assert 0 < sample.fraction_valid <= 1
    children = np.random.default_rng(11).spawn(1000)
    for j in (0, 1, 999):
        ws = random_weights(dims, children[j], scale=0.15)
        if sample.valid[j]:
            assert_allclose(step_size_bound(ws, X, Y).eta, sample.eta[j], rtol=1e-10)
        else:
            with pytest.raises(ValueError, match="not balanced enough"):
                step_size_bound(ws, X, Y)
    # a network does not depend on how many are drawn
    small = step_size_bounds(dims, X, Y, 11, 3, scale=0.15)
    assert_allclose(small.alpha, sample.alpha[:3], rtol=1e-14)


def test_step_size_bounds_depth_one_and_variant():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 20))
    Y = rng.standard_normal((2, 20))
    s = step_size_bounds((3, 2), X, Y, 1, 5, m_variant="report")
    assert np.all(s.valid) and np.all(s.balancedness == 0)
    with pytest.raises(ValueError, match="expects X with"):
        step_size_bounds((4, 2), X, Y, 1, 5)
