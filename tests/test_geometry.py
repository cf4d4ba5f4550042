"""Tests for dlnlib.geometry: the dimension formula (27), Prop. 5 (tangent = ker Hess), n_- (see the Mathematical notes,
"One hidden layer and normal hyperbolicity")."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dlnlib.critical import critical_point
from dlnlib.geometry import (
    TangentDimension,
    critical_manifold_dimension,
    distance_to_critical_set,
    predicted_unstable_dimension,
    project_to_critical_set,
    stable_unstable_dimensions,
    tangent_dimension,
)
from dlnlib.hessian import inertia
from dlnlib.model import random_weights

# One shared table of single-hidden-layer shapes: d_x > d_y, d_x = d_y, wide, narrow, non-filling.
FAST_DIMS = [(5, 4, 3), (6, 3, 2), (4, 6, 3), (3, 3, 3), (5, 2, 3)]
SLOW_DIMS = [(5, 5, 3), (7, 4, 4), (6, 5, 4), (8, 3, 5), (6, 6, 6), (7, 2, 4)]


def make_data(dims, seed, m=30):
    g = np.random.default_rng(seed)
    X = g.standard_normal((dims[0], m)) / np.sqrt(m)
    Y = g.standard_normal((dims[-1], dims[0])) @ X + 0.3 * g.standard_normal((dims[-1], m)) / np.sqrt(m)
    return X, Y


def strata(dims):
    """One index set per rank r: top sets for even r, a shifted (non-top) set for odd r when possible."""
    d_y = dims[-1]
    for r in range(min(dims[1], d_y) + 1):
        yield tuple(range(1, r + 1)) if (r % 2 and r < d_y) else tuple(range(r))


def check_stratum(dims, S, seed):
    X, Y = make_data(dims, seed)
    w = critical_point(X, Y, dims, S, rng=seed + 1)
    formula = critical_manifold_dimension(dims, len(S))
    td = tangent_dimension(w, X, Y, rng=seed)
    nh = stable_unstable_dimensions(w, X, Y)
    assert td.all_converged and td.max_gradient < 1e-12
    assert td.gap > 100
    assert td.dimension == formula
    assert inertia(w, X, Y).n_zero == formula
    assert nh.n_center == formula
    assert nh.n_unstable == predicted_unstable_dimension(dims, S)
    assert nh.n_unstable + nh.n_stable + nh.n_center == sum(a * b for a, b in zip(dims[1:], dims[:-1]))
    # Prop. 5: the numerical tangent space is the kernel of the Hessian (principal angles O(eps))
    if formula:
        kernel = nh.eigenvectors[:, np.argsort(np.abs(nh.eigenvalues))[:formula]]
        cosines = np.linalg.svd(kernel.T @ td.basis, compute_uv=False)
        assert np.min(cosines) > 1 - 1e-4


@pytest.mark.parametrize("dims", FAST_DIMS, ids=str)
def test_formula_equals_tangent_and_kernel_dimension(dims):
    for S in strata(dims):
        check_stratum(dims, S, seed=sum(dims) + len(S))


@pytest.mark.slow
@pytest.mark.parametrize("dims", SLOW_DIMS, ids=str)
def test_formula_equals_tangent_and_kernel_dimension_sweep(dims):
    d_y = dims[-1]
    for r in range(min(dims[1], d_y) + 1):
        for S in {tuple(range(r)), tuple(range(d_y - r, d_y))}:
            check_stratum(dims, S, seed=7 * r + d_y)


def test_formula_special_cases():
    assert critical_manifold_dimension((3, 3, 3), 0) == 0  # the origin is isolated when d_x = d_y
    assert critical_manifold_dimension((4, 4, 4), 2) == 2 * (8 - 2)  # r (2 d_1 - r) when d_x = d_y
    # the equivalent form of the Mathematical notes, "One hidden layer and normal hyperbolicity"
    d0, d1, d2, r = 7, 5, 3, 2
    assert critical_manifold_dimension((d0, d1, d2), r) == r * d1 + (d1 - r) * (d0 - d2 + r)


@pytest.mark.parametrize(
    ("dims", "r", "match"),
    [
        ((4, 3, 3, 2), 1, "one hidden layer"),
        ((4, 3), 1, "one hidden layer"),
        ((4, 3, 2), 3, r"min\(d_1, d_2\) = 2"),
        ((4, 2, 3), 3, r"min\(d_1, d_2\) = 2"),
        ((4, 3, 2), -1, "0 <= r"),
        ((2, 3, 4), 1, "Assumption 1"),
    ],
)
def test_formula_value_errors(dims, r, match):
    with pytest.raises(ValueError, match=match):
        critical_manifold_dimension(dims, r)


def test_formula_type_error():
    with pytest.raises(TypeError):
        critical_manifold_dimension((4, 3, 2), 1.5)


def test_tangent_dimension_refuses_non_critical_point():
    dims = (4, 3, 2)
    X, Y = make_data(dims, 0)
    with pytest.raises(ValueError, match="critical point"):
        tangent_dimension(random_weights(dims, 1), X, Y)


def test_tangent_dimension_result_is_an_int():
    dims = (4, 3, 2)
    X, Y = make_data(dims, 2)
    td = tangent_dimension(critical_point(X, Y, dims, (0,), rng=3), X, Y)
    assert isinstance(td, TangentDimension)
    assert int(td) == td.dimension == critical_manifold_dimension(dims, 1)
    assert td.basis.shape == (sum(a * b for a, b in zip(dims[1:], dims[:-1])), td.dimension)


def test_projection_recovers_normal_distance():
    dims = (5, 4, 3)
    X, Y = make_data(dims, 4)
    S = (0,)
    w = critical_point(X, Y, dims, S, rng=5)
    nh = stable_unstable_dimensions(w, X, Y)
    dim = critical_manifold_dimension(dims, 1)
    v = nh.eigenvectors[:, -1] + nh.eigenvectors[:, 0]  # one stable and one unstable normal direction
    delta = 1e-4
    flat = np.concatenate([a.ravel() for a in w]) + delta * v / np.linalg.norm(v)
    pert = [flat[:20].reshape(4, 5), flat[20:].reshape(3, 4)]
    proj = project_to_critical_set(pert, X, Y, dimension=dim)
    assert proj.converged and proj.codimension == nh.n_params - dim
    assert_allclose(proj.distance, delta, rtol=1e-3)
    assert_allclose(distance_to_critical_set(pert, X, Y, dimension=dim), delta, rtol=1e-3)
    # without `dimension`, the codimension is decided from the Jacobian's gap at the starting point
    auto = project_to_critical_set(w, X, Y)
    assert auto.converged and auto.codimension == nh.n_params - dim and auto.distance < 1e-12


def test_predicted_unstable_dimension_is_zero_only_at_global_minima():
    dims = (5, 3, 4)
    assert predicted_unstable_dimension(dims, (0, 1, 2)) == 0
    assert predicted_unstable_dimension(dims, (0, 1)) == (4 - 2) * (3 - 2)
    assert predicted_unstable_dimension(dims, (0, 1, 3)) == 1


# --------------------------------------------------------------------------- the scalar network (see the Mathematical
# notes, "Reconstructed here — the limit of the scalar flow")


@pytest.mark.parametrize(
    ("start", "x", "y"),
    [
        ((0.3, -0.1), 1.0, 1.0),
        ((-0.2, 0.25), 1.0, 1.0),
        ((-1.9, -0.2), 1.0, 1.0),
        ((0.4, 0.9), 2.0, 0.5),
        ((0.4, 0.9), 1.0, -1.5),
        ((-0.7, 0.1), -1.0, 2.0),
    ],
)
def test_scalar_flow_limit_matches_the_flow(start, x, y):
    from dlnlib import gradient_flow, scalar_flow_limit

    lim = scalar_flow_limit(*start, x, y)
    traj = gradient_flow(
        [np.array([[start[0]]]), np.array([[start[1]]])],
        np.array([[x]]),
        np.array([[y]]),
        200.0,
        rtol=1e-12,
        atol=1e-14,
        grad_tol=1e-13,
    )
    assert traj.converged
    got = (traj.final_weights[0][0, 0], traj.final_weights[1][0, 0])
    assert_allclose(got, lim, rtol=1e-9, atol=1e-12)
    assert_allclose(lim[0] * lim[1], y / x, rtol=1e-14)


def test_scalar_flow_limit_report_value_and_stable_manifold():
    from dlnlib import scalar_flow_limit

    # See the Mathematical notes, "Reconstructed here — the limit of the scalar flow": from (0.3, -0.1) with x = y = 1
    # the limit is (1.020196, 0.980204)
    assert_allclose(scalar_flow_limit(0.3, -0.1, 1.0, 1.0), (1.020196, 0.980204), atol=5e-7)
    assert scalar_flow_limit(0.5, -0.5, 1.0, 1.0) == (0.0, 0.0)  # on w_2 = -w_1: the saddle's stable manifold
    assert scalar_flow_limit(0.5, 0.5, 1.0, -1.0) == (0.0, 0.0)  # p < 0: the stable manifold is w_2 = w_1
    with pytest.raises(ValueError, match="Assumption 1"):
        scalar_flow_limit(0.3, 0.1, 0.0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        scalar_flow_limit(np.nan, 0.1, 1.0, 1.0)
    with pytest.raises(ValueError, match="hyperbola"):
        scalar_flow_limit(0.3, 0.1, 1.0, 0.0)
