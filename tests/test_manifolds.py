"""Stable and unstable manifolds of the saddle strata for one hidden layer (dlnlib.manifolds; [CLC] §4)."""

import numpy as np
import pytest

import dlnlib
from dlnlib.experiments import make_data
from dlnlib.manifolds import (
    distance_to_stratum,
    expanding_directions,
    manifold_portrait,
    saddle_escape_times,
    saddle_splitting,
    shooting_fraction,
    stable_convergence,
    stable_manifold_points,
)

DIMS = (3, 2, 2)


@pytest.fixture(scope="module")
def problem():
    X, Y = make_data(DIMS, np.random.default_rng(3), kind="reduced")
    rng = np.random.default_rng(4)
    splits = {S: saddle_splitting(dlnlib.critical_point(X, Y, DIMS, S, rng=rng), X, Y, rng=5) for S in [(0,), (1,), ()]}
    return X, Y, splits


def test_splitting_matches_proposition_5(problem):
    _, _, splits = problem
    for S, sp in splits.items():
        r = len(S)
        assert sp.index_set == S
        assert sp.n_zero == sp.dim_stratum == dlnlib.critical_manifold_dimension(DIMS, r)
        assert sp.tangent_numerical == sp.dim_stratum
        assert sp.kernel_angle < 1e-3
        assert sp.n_minus == sp.n_minus_predicted >= 1
        assert sp.n_plus + sp.n_minus + sp.n_zero == sp.n_params == 10
        assert sp.dim_stable_manifold == sp.dim_stratum + sp.n_plus
        assert sp.codimension == sp.n_minus
        assert sp.consistent
        assert np.all(sp.stable_eigenvalues > 0) and np.all(sp.unstable_eigenvalues < 0)
        assert np.all(np.diff(sp.stable_eigenvalues) >= 0) and np.all(np.diff(sp.unstable_eigenvalues) >= 0)
        basis = np.hstack([sp.tangent, sp.stable, sp.unstable])
        np.testing.assert_allclose(basis.T @ basis, np.eye(sp.n_params), atol=1e-10)
        assert sp.lower_value < sp.value
    # inv(S) = 1 for S = {2}: one more unstable direction than the top set of the same size
    assert splits[(1,)].n_minus == splits[(0,)].n_minus + 1


def test_splitting_rejects_bad_input(problem):
    X, Y, _ = problem
    best = dlnlib.critical_point(X, Y, DIMS, (0, 1))
    with pytest.raises(ValueError, match="global minimum"):
        saddle_splitting(best, X, Y)
    w = dlnlib.critical_point(X, Y, DIMS, (0,))
    with pytest.raises(ValueError, match="critical point"):
        saddle_splitting([w[0] + 0.1, w[1]], X, Y)
    w3 = dlnlib.critical_point(X, Y, (3, 2, 2, 2), (0,))
    with pytest.raises(ValueError, match="one hidden layer"):
        saddle_splitting(w3, X, Y)


def test_distance_to_stratum(problem):
    X, Y, splits = problem
    sp = splits[(0,)]
    t = np.array([1e-3, 1e-4])
    pts = sp.point[None, :] + t[:, None] * sp.stable[:, 0][None, :]
    np.testing.assert_allclose(distance_to_stratum(pts, sp, X, Y), t, rtol=1e-2)
    # a point near another stratum of the same rank is not at a distance from this one
    other = splits[(1,)]
    assert np.isnan(distance_to_stratum(other.point[None, :] + 1e-4 * other.stable[:, :1].T, sp, X, Y)[0])
    with pytest.raises(ValueError, match="shape"):
        distance_to_stratum(np.zeros(3), sp, X, Y)


def test_shooting_builds_points_that_converge(problem):
    X, Y, splits = problem
    sps = [splits[(0,)], splits[()]]
    pts = stable_manifold_points(sps, X, Y, modes=[0], mix=0.3, rng=1, growth=1e6)
    for p in pts:
        assert p.residual[0] < 1e-8
        assert p.correction[0] < 1e-2  # W^s is tangent to T C ⊕ E^s: the correction is of higher order
    # the mixed start is not in an invariant subspace: the correction is needed
    assert pts[0].correction[0] > 1e-12
    fits = stable_convergence(sps, pts, X, Y, n_t=25)
    for f in fits:
        assert f.decades[0] > 0.5
        assert f.rel_error[0] < 1e-2
    # negative control: without the unstable correction the same start leaves C_S much earlier
    raw = [
        dlnlib.manifolds.StableManifoldPoints(
            points=sps[0].point[None, :] + pts[0].eps * pts[0].directions,
            modes=pts[0].modes,
            signs=pts[0].signs,
            rates=pts[0].rates,
            directions=pts[0].directions,
            correction=np.zeros(1),
            residual=np.full(1, np.nan),
            horizon=pts[0].horizon,
            eps=pts[0].eps,
        )
    ]
    raw_fit = stable_convergence(sps[:1], raw, X, Y, n_t=25)[0]
    assert raw_fit.min_distance[0] > 10 * fits[0].min_distance[0]


def test_escape_time_slope_is_inverse_rate(problem):
    X, Y, splits = problem
    fits = saddle_escape_times(list(splits.values()), X, Y)
    for f, sp in zip(fits, splits.values(), strict=True):
        assert f.predicted_rate == pytest.approx(abs(sp.unstable_eigenvalues[0]))
        assert f.rel_error < 1e-2
        assert np.all(np.diff(f.times) > 0)


def test_expanding_directions_count_is_codimension(problem):
    X, Y, splits = problem
    for e, sp in zip(expanding_directions(list(splits.values()), X, Y), splits.values(), strict=True):
        assert (e.n_expanding, e.n_neutral, e.n_contracting) == (sp.n_minus, sp.dim_stratum, sp.n_plus)
        assert e.dim_converging == sp.dim_stable_manifold
        assert e.rate_error < 1e-4


def test_shooting_fraction_slope_for_one_unstable_direction(problem):
    X, Y, splits = problem
    sp = splits[(0,)]
    assert sp.n_minus == 1
    f = shooting_fraction(sp, X, Y, rng=0, n_samples=300, radii=np.logspace(-3.5, -1.2, 8))
    assert np.all(np.diff(f.fractions) <= 0.05)  # larger balls: fewer starts stay
    assert f.codimension == pytest.approx(1.0, abs=0.3)


def test_portrait_geometry(problem):
    X, Y, splits = problem
    pt = manifold_portrait(splits[(0,)], X, Y, n_tau=3, tau_max=0.1, radius=0.02)
    assert pt.stratum.shape == (3, 3)
    np.testing.assert_allclose(pt.stratum[:, 0], [-0.1, 0.0, 0.1], atol=1e-2)
    assert np.max(np.abs(pt.stratum[:, 1:])) < 1e-2
    # W^s arrives along v_k and stays close to E^s (small u); W^u leaves along u
    start = pt.stable_orbits[1, :, 0]
    np.testing.assert_allclose(np.abs(start[:, 1]), 0.02, rtol=0.1)
    assert pt.unstable_curvature < 0.1
    end = pt.stable_orbits[1, :, -1]
    assert np.max(np.abs(end[:, 1:])) < 1e-3
    assert np.max(np.abs(pt.unstable_orbits[1, :, -1, 2])) > 0.01
    # passing trajectories come in along v_k and leave along u
    assert np.all(np.abs(pt.passing[:, -1, 2]) > np.abs(pt.passing[:, -1, 1]))


def test_validation(problem):
    X, Y, splits = problem
    sp = splits[(0,)]
    with pytest.raises(ValueError, match="modes"):
        stable_manifold_points(sp, X, Y, modes=[sp.n_plus])
    with pytest.raises(ValueError, match="eps"):
        stable_manifold_points(sp, X, Y, eps=0.5)
    with pytest.raises(ValueError, match="growth"):
        stable_manifold_points(sp, X, Y, growth=1e20)
    with pytest.raises(ValueError, match="deltas"):
        saddle_escape_times(sp, X, Y, deltas=[1.0, 0.1])
    with pytest.raises(ValueError, match="direction"):
        saddle_escape_times(sp, X, Y, direction=sp.n_minus)
    with pytest.raises(TypeError, match="SaddleSplitting"):
        expanding_directions([], X, Y)
    X2, Y2 = make_data((4, 3, 3), np.random.default_rng(0), kind="reduced")
    other = saddle_splitting(dlnlib.critical_point(X2, Y2, (4, 3, 3), (0,)), X2, Y2, check_tangent=False)
    with pytest.raises(ValueError, match="same widths"):
        expanding_directions([sp, other], X, Y)
    with pytest.raises(ValueError, match="radii"):
        shooting_fraction(sp, X, Y, rng=0, radii=[1e-3, 2e-3])
