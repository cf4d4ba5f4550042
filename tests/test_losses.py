"""Tests for dlnlib.losses: convex losses of the end-to-end matrix, composite gradient and Hessian,
pure/spurious critical points and the bad local minimum of a non-filling network ([TKB];
see the Mathematical notes, "Pure and spurious critical points")."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dlnlib.losses import (
    EndToEndLoss,
    HuberLoss,
    SquareLoss,
    WeightedLogCoshLoss,
    certify_local_minimum,
    classify_pure_spurious,
    composite_gradient,
    composite_hessian,
    composite_loss,
    is_filling,
    local_minima_search,
    symmetry_tangent_space,
    variety_stationarity,
)
from dlnlib.model import end_to_end, gradient, loss, random_weights

# shared table of configurations (dims); depths 1-3, filling and non-filling
DIMS = [(3, 2), (3, 2, 4), (2, 3, 2), (4, 2, 3), (2, 3, 2, 3), (3, 2, 2, 3), (3, 4, 1, 2)]

# the [TKB]-type example of the Mathematical notes, "Pure and spurious critical points"
U_EX = np.diag([1.0, 0.8])
LAMBDA_EX = np.array([[1.0, 20.0], [20.0, 1.0]])


def make_losses(shape, seed):
    rng = np.random.default_rng(seed)
    U = rng.standard_normal(shape)
    lam = rng.uniform(0.5, 3.0, shape)
    return [SquareLoss(U), WeightedLogCoshLoss(U, lam), HuberLoss(U, delta=0.7)]


def flat(ws):
    return np.concatenate([w.ravel() for w in ws])


def unflat(x, dims):
    out, k = [], 0
    for i in range(1, len(dims)):
        n = dims[i] * dims[i - 1]
        out.append(x[k : k + n].reshape(dims[i], dims[i - 1]))
        k += n
    return out


def away_from_huber_kinks(ell, A, margin=1e-3):
    if isinstance(ell, HuberLoss):
        return bool(np.all(np.abs(np.abs(A - ell.target) - ell.delta) > margin))
    return True


# --------------------------------------------------------------------------- losses of A


@pytest.mark.parametrize("shape", [(2, 2), (3, 2), (1, 4)])
def test_loss_grad_hess_vs_finite_differences(shape):
    rng = np.random.default_rng(1)
    for ell in make_losses(shape, 2):
        assert isinstance(ell, EndToEndLoss)
        A = ell.target + rng.standard_normal(shape)
        assert away_from_huber_kinks(ell, A)
        eps = 1e-6
        g_fd = np.zeros(A.size)
        h_fd = np.zeros((A.size, A.size))
        for k in range(A.size):
            e = np.zeros(A.size)
            e[k] = eps
            Ap, Am = A + e.reshape(shape), A - e.reshape(shape)
            g_fd[k] = (ell.value(Ap) - ell.value(Am)) / (2 * eps)
            h_fd[:, k] = (ell.grad(Ap) - ell.grad(Am)).ravel() / (2 * eps)
        assert ell.grad(A).shape == shape
        assert ell.hess(A).shape == (A.size, A.size)
        assert_allclose(ell.grad(A).ravel(), g_fd, rtol=1e-7, atol=1e-8, err_msg=repr(ell))
        assert_allclose(ell.hess(A), h_fd, rtol=1e-6, atol=1e-7, err_msg=repr(ell))


def test_loss_closed_forms():
    U = np.array([[1.0, -2.0]])
    lam = np.array([[2.0, 0.5]])
    A = np.array([[0.0, 1.0]])
    assert SquareLoss(U).value(A) == pytest.approx(0.5 * (1 + 9))
    assert WeightedLogCoshLoss(U, lam).value(A) == pytest.approx(2 * np.log(np.cosh(1.0)) + 0.5 * np.log(np.cosh(3.0)))
    assert HuberLoss(U, delta=2.0).value(A) == pytest.approx(0.5 + 2 * (3 - 1))
    # log cosh does not overflow for large residuals
    big = WeightedLogCoshLoss(np.zeros((1, 1)), np.ones((1, 1)))
    assert big.value(np.array([[1e4]])) == pytest.approx(1e4 - np.log(2.0))


def test_loss_validation():
    with pytest.raises(ValueError, match="non-negative"):
        WeightedLogCoshLoss(np.eye(2), -np.ones((2, 2)))
    with pytest.raises(ValueError, match="target's shape"):
        WeightedLogCoshLoss(np.eye(2), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"target's shape \(2, 2\)"):
        SquareLoss(np.eye(2)).value(np.eye(3))
    with pytest.raises(ValueError, match=r"target of shape \(4, 3\)"):
        composite_loss(random_weights((3, 2, 4), 0), SquareLoss(np.eye(3)))
    with pytest.raises(TypeError, match="EndToEndLoss"):
        composite_loss(random_weights((3, 2, 4), 0), object())


# --------------------------------------------------------------------------- composite functions


@pytest.mark.parametrize("dims", DIMS, ids=str)
def test_composite_gradient_and_hessian_vs_finite_differences(dims):
    ws = random_weights(dims, 3)
    x = flat(ws)
    eps = 1e-6
    for ell in make_losses((dims[-1], dims[0]), 4):
        if not away_from_huber_kinks(ell, end_to_end(ws), margin=1e-2):
            continue
        g = flat(composite_gradient(ws, ell))
        H = composite_hessian(ws, ell)
        assert_allclose(H, H.T, atol=1e-14)
        g_fd = np.zeros(x.size)
        H_fd = np.zeros((x.size, x.size))
        for k in range(x.size):
            e = np.zeros(x.size)
            e[k] = eps
            wp, wm = unflat(x + e, dims), unflat(x - e, dims)
            g_fd[k] = (composite_loss(wp, ell) - composite_loss(wm, ell)) / (2 * eps)
            H_fd[:, k] = (flat(composite_gradient(wp, ell)) - flat(composite_gradient(wm, ell))) / (2 * eps)
        assert_allclose(g, g_fd, rtol=1e-6, atol=1e-7, err_msg=repr(ell))
        assert_allclose(H, H_fd, rtol=1e-6, atol=1e-7, err_msg=repr(ell))


@pytest.mark.parametrize("dims", DIMS, ids=str)
def test_square_loss_composite_equals_model_with_identity_data(dims):
    ws = random_weights(dims, 5)
    U = np.random.default_rng(6).standard_normal((dims[-1], dims[0]))
    ell = SquareLoss(U)
    eye = np.eye(dims[0])
    assert composite_loss(ws, ell) == pytest.approx(loss(ws, eye, U), rel=1e-13)
    for a, b in zip(composite_gradient(ws, ell), gradient(ws, eye, U)):
        assert_allclose(a, b, rtol=1e-13, atol=1e-14)


def test_square_loss_hessian_matches_hessian_module():
    hessian_mod = pytest.importorskip("dlnlib.hessian")
    dims = (3, 2, 4, 2)
    ws = random_weights(dims, 8)
    U = np.random.default_rng(9).standard_normal((2, 3))
    assert_allclose(composite_hessian(ws, SquareLoss(U)), hessian_mod.hessian(ws, np.eye(3), U), atol=1e-12)


# --------------------------------------------------------------------------- symmetry, filling


@pytest.mark.parametrize(("dims", "expected"), [((3, 2, 3), 4), ((2, 3, 2), 8), ((2, 1, 2), 1), ((3, 2, 2, 3), 8)])
def test_symmetry_tangent_space(dims, expected):
    ws = random_weights(dims, 10)
    T = symmetry_tangent_space(ws)
    assert T.shape == (sum(w.size for w in ws), expected)
    assert_allclose(T.T @ T, np.eye(expected), atol=1e-12)
    # the product W_{N:1} is invariant: its derivative vanishes on T (and so does any ell∘mu's gradient)
    ell = make_losses((dims[-1], dims[0]), 0)[1]
    g = flat(composite_gradient(ws, ell))
    assert_allclose(T.T @ g, 0.0, atol=1e-12)


def test_is_filling():
    assert is_filling((3, 4, 2))
    assert is_filling((2, 2, 2))
    assert is_filling((2, 5, 3))
    assert not is_filling((2, 1, 2))
    assert not is_filling((5, 4, 3, 4, 5))


# --------------------------------------------------------------------------- pure / spurious


def square_critical_point(U, S, hidden):
    """Critical point of 1/2||W_2 W_1 - U||^2 (X = I) with W_2 W_1 = U_S U_S^T U (see the Mathematical notes, "Critical
    points and critical values")."""
    u, s, vt = np.linalg.svd(U)
    W2 = np.zeros((U.shape[0], hidden))
    W1 = np.zeros((hidden, U.shape[1]))
    for k, i in enumerate(S):
        W2[:, k] = u[:, i]
        W1[k] = s[i] * vt[i]
    return [W1, W2]


def test_square_loss_pure_and_spurious():
    U = np.diag([3.0, 2.0, 1.0])
    ell = SquareLoss(U)  # non-filling (3, 2, 3): r_max = 2
    for S, kind in [((0, 1), "pure"), ((0, 2), "pure"), ((1, 2), "pure"), ((0,), "spurious"), ((), "spurious")]:
        ws = square_critical_point(U, S, 2)
        assert np.linalg.norm(flat(composite_gradient(ws, ell))) < 1e-12
        assert classify_pure_spurious(ws, ell) == kind, S
    # filling (3, 3, 3): only the global minimum (G = 0) is pure
    assert classify_pure_spurious(square_critical_point(U, (0, 1, 2), 3), ell) == "pure"
    assert classify_pure_spurious(square_critical_point(U, (0, 1), 3), ell) == "spurious"


def test_classify_refuses_non_critical_points():
    ell = SquareLoss(np.eye(2))
    with pytest.raises(ValueError, match="critical points"):
        classify_pure_spurious(random_weights((2, 1, 2), 0), ell)


# --------------------------------------------------------------------------- the bad minimum


def test_bad_local_minimum_of_non_filling_log_cosh():
    ell = WeightedLogCoshLoss(U_EX, LAMBDA_EX)
    res = local_minima_search((2, 1, 2), ell, 2024, 40)
    assert not res.filling and res.n_uncertified == 0
    assert_allclose(res.values, [np.log(np.cosh(0.8)), np.log(np.cosh(1.0))], atol=1e-6)
    assert_allclose(res.values, [0.290754, 0.433781], atol=1e-6)
    assert res.counts.sum() == 40 and np.all(res.counts > 0)
    assert res.kinds == ("pure", "pure")
    assert_allclose(end_to_end(res.minima[0]), np.diag([1.0, 0.0]), atol=1e-6)
    assert_allclose(end_to_end(res.minima[1]), np.diag([0.0, 0.8]), atol=1e-6)
    for cert in res.certificates:
        assert cert.is_strict_local_min_modulo_symmetry
        assert cert.grad_norm < 1e-8
        assert cert.symmetry_dimension == 1 and cert.kernel_dimension == 1  # the scaling w1 -> c w1, w2 -> w2 / c
        assert np.all(cert.hessian_eigenvalues > -cert.eig_tol)
        assert cert.min_normal_eigenvalue > 0.1

    # found again from its seed: start j only depends on j (rng.spawn), not on n_starts
    j = int(res.seeds[1])
    again = local_minima_search((2, 1, 2), ell, 2024, j + 1)
    assert again.values[-1] == pytest.approx(res.values[1], abs=1e-12)
    k = int(np.flatnonzero(again.seeds == j)[0])
    for a, b in zip(again.minima[k], res.minima[1]):
        assert_allclose(a, b, rtol=0, atol=1e-12)
    cert = certify_local_minimum(res.minima[1], ell)
    assert cert.value == pytest.approx(np.log(np.cosh(1.0)), abs=1e-10)
    assert cert.is_strict_local_min_modulo_symmetry


def test_filling_architecture_has_no_bad_minimum():
    ell = WeightedLogCoshLoss(U_EX, LAMBDA_EX)
    res = local_minima_search((2, 2, 2), ell, 2024, 20)
    assert res.filling
    assert_allclose(res.values, [0.0], atol=1e-10)
    assert res.bad_values.size == 0 and res.n_uncertified == 0
    assert res.certificates[0].symmetry_dimension == res.certificates[0].kernel_dimension == 4


def test_square_loss_non_filling_single_minimum_value():
    res = local_minima_search((2, 1, 2), SquareLoss(U_EX), 2024, 20)
    assert_allclose(res.values, [0.5 * 0.8**2], atol=1e-10)  # Eckart-Young: 0.32
    assert res.kinds == ("pure",)


def test_certificate_rejects_a_saddle():
    ell = SquareLoss(U_EX)
    ws = [np.zeros((1, 2)), np.zeros((2, 1))]  # W = 0: critical, Hessian has eigenvalues ±s_i
    cert = certify_local_minimum(ws, ell)
    assert cert.grad_norm == 0.0
    assert not cert.is_strict_local_min_modulo_symmetry
    assert cert.min_normal_eigenvalue < 0
    assert_allclose(cert.hessian_eigenvalues[[0, -1]], [-1.0, 1.0], atol=1e-12)
    assert classify_pure_spurious(ws, ell) == "spurious"


# --------------------------------------------------------------------------- stationarity on the variety


def test_variety_stationarity_at_zero_is_the_best_rank_r_part_of_the_gradient():
    g = np.random.default_rng(4)
    G = g.standard_normal((4, 5))
    s = np.linalg.svd(G, compute_uv=False)
    for r in (1, 2, 4):
        v = variety_stationarity(np.zeros((4, 5)), G, r)
        assert v.rank == 0 and v.tangent_norm == 0.0
        assert_allclose(v.projected_norm, np.sqrt(np.sum(s[:r] ** 2)), rtol=1e-12)
        assert_allclose(np.sum(G * v.direction), -v.projected_norm, rtol=1e-12)
        assert np.linalg.matrix_rank(v.direction) <= r


def test_variety_stationarity_at_a_smooth_point_is_the_tangent_projection():
    g = np.random.default_rng(5)
    A = g.standard_normal((4, 2)) @ g.standard_normal((2, 5))  # rank 2 = r_max: a smooth point
    G = g.standard_normal((4, 5))
    v = variety_stationarity(A, G, 2)
    assert v.rank == 2 and v.normal_norm == 0.0
    P = -v.direction * v.projected_norm  # P_T(G)
    u, _, vt = np.linalg.svd(A)
    PU, PV = u[:, :2] @ u[:, :2].T, vt[:2].T @ vt[:2]
    assert_allclose((np.eye(4) - PU) @ P @ (np.eye(5) - PV), 0.0, atol=1e-12)  # tangent: no normal part
    assert_allclose(np.sum((G - P) * P), 0.0, atol=1e-10)  # orthogonal projection
    # first-order decrease along a curve of rank-2 matrices with velocity -P_T(G): A(t) = (U + t B)(S V^T + t C)
    t = 1e-6
    U2, SV = u[:, :2], np.diag(np.linalg.svd(A, compute_uv=False)[:2]) @ vt[:2]
    B, C = -(np.eye(4) - PU) @ G @ np.linalg.pinv(SV), -U2.T @ G
    curve = (U2 + t * B) @ (SV + t * C)
    assert np.linalg.matrix_rank(curve) == 2
    assert_allclose(np.sum(G * (curve - A)) / t, -(v.projected_norm**2), rtol=1e-5)


@pytest.mark.parametrize("dims", [(3, 2, 3), (3, 2, 2, 3), (3, 3, 3)])
def test_variety_stationarity_separates_pure_from_spurious_square_loss_points(dims):
    from dlnlib.critical import critical_index_sets, critical_point

    U = np.diag([3.0, 2.0, 1.0])
    ell = SquareLoss(U)
    r_max = min(dims)
    for c in critical_index_sets(np.eye(3), U, dims):
        ws = critical_point(np.eye(3), U, dims, c.index_set)
        A = end_to_end(ws)
        v = variety_stationarity(A, ell.grad(A), r_max)
        assert v.tangent_norm < 1e-10  # any critical point of ell o mu is critical on its own rank stratum
        if c.rank == r_max:
            assert v.projected_norm < 1e-10
        else:  # the rank can still grow: a straight line inside {rank <= r_max} decreases ell at first order
            assert v.projected_norm > 0.5
            t = 1e-6
            assert np.linalg.matrix_rank(A + t * v.direction, tol=1e-9) <= r_max
            slope = (ell.value(A + t * v.direction) - ell.value(A)) / t
            assert_allclose(slope, -v.projected_norm, rtol=1e-4)
        assert (v.projected_norm < 1e-10) == (classify_pure_spurious(ws, ell) == "pure")


def test_variety_stationarity_errors():
    A = np.ones((2, 3))
    with pytest.raises(ValueError, match="shape of A"):
        variety_stationarity(A, np.ones((3, 2)), 1)
    with pytest.raises(ValueError, match="r_max"):
        variety_stationarity(A, A, 0)
    with pytest.raises(ValueError, match="rank <= r_max"):
        variety_stationarity(np.eye(2), np.eye(2), 1)
