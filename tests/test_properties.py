"""Property-based tests (hypothesis) of the identities and invariants the book relies on.

Random widths, data and weights; each property is an exact identity of [CLC] checked to a tolerance
scaled by the sizes involved:

* the gradient against central finite differences of the loss;
* the conservation of the invariants ``C_i`` along the gradient flow (Lemma 2.3);
* the exact one-step drift of the invariants under gradient descent (eq. (7));
* the Hessian's symmetry and its agreement with the Hessian-vector product;
* the critical value at ``critical_point(S)`` for every admissible ``S`` (Lemma 3.2 (iv)).

Example counts are bounded and the search is derandomized, so the file is fast and reproducible.
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import dlnlib
from dlnlib import convergence, critical, dynamics, model

_hs = __import__("dlnlib.hessian", fromlist=["hessian"])

FAST = settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw, *, min_depth=1, max_depth=4, max_width=4, assumptions=False):
    """Widths ``(d_0, ..., d_N)``, generic data ``(X, Y)`` and random weights, from one drawn seed.

    With ``assumptions=True`` the widths satisfy Assumption 1 of [CLC] (``d_x >= d_y``).
    """
    depth = draw(st.integers(min_depth, max_depth))
    dims = [draw(st.integers(1, max_width)) for _ in range(depth + 1)]
    if assumptions:
        dims[-1] = min(dims[-1], dims[0])
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([0.3, 1.0, 2.0]))
    g = np.random.default_rng(seed)
    m = 3 * dims[0] + 2
    X = g.standard_normal((dims[0], m))
    Y = g.standard_normal((dims[-1], dims[0])) @ X + 0.5 * g.standard_normal((dims[-1], m))
    return tuple(dims), X, Y, model.random_weights(dims, g, scale=scale), g


def _flat(ws):
    return np.concatenate([w.ravel() for w in ws])


def _unflat(v, ws):
    out, k = [], 0
    for w in ws:
        out.append(v[k : k + w.size].reshape(w.shape))
        k += w.size
    return out


@FAST
@given(problems())
def test_gradient_matches_central_differences(p):
    _, X, Y, ws, g = p
    grad = _flat(model.gradient(ws, X, Y))
    v = g.standard_normal(grad.size)
    v /= np.linalg.norm(v)
    x0, h = _flat(ws), 1e-5
    fd = (model.loss(_unflat(x0 + h * v, ws), X, Y) - model.loss(_unflat(x0 - h * v, ws), X, Y)) / (2 * h)
    scale = 1.0 + model.loss(ws, X, Y) + np.linalg.norm(grad)
    assert_allclose(grad @ v, fd, rtol=0, atol=1e-6 * scale)


@FAST
@given(problems(min_depth=2, max_depth=3, max_width=3))
def test_invariants_are_conserved_along_the_flow(p):
    _, X, Y, ws, _ = p
    X, Y = X / np.sqrt(X.shape[1]), Y / np.sqrt(X.shape[1])  # order-one moments: a short, accurate flow
    traj = dynamics.gradient_flow(ws, X, Y, 1.0, rtol=1e-10, atol=1e-12, grad_tol=None)
    c0, c1 = model.invariants(ws), model.invariants(traj.final_weights)
    size = 1.0 + max(float(np.sum(w * w)) for w in ws)
    for a, b in zip(c0, c1):
        assert_allclose(b, a, rtol=0, atol=1e-6 * size)
    assert np.all(traj.invariant_drift <= 1e-6 * size)


@FAST
@given(problems(min_depth=2), st.floats(1e-4, 1e-1))
def test_gradient_descent_drift_of_the_invariants_is_exact(p, eta):
    dims, X, Y, ws, _ = p
    grad = model.gradient(ws, X, Y)
    after = [w - eta * gw for w, gw in zip(ws, grad)]
    predicted = convergence.gd_invariant_increment(ws, X, Y, eta)
    actual = [b - a for a, b in zip(model.invariants(ws), model.invariants(after))]
    assert len(predicted) == len(actual) == len(dims) - 2
    for pr, ac, w in zip(predicted, actual, ws[1:]):
        size = 1.0 + float(np.sum(w * w)) + eta**2 * sum(float(np.sum(gw * gw)) for gw in grad)
        assert_allclose(ac, pr, rtol=0, atol=1e-11 * size)


@FAST
@given(problems(max_depth=3, max_width=3))
def test_hessian_is_symmetric_and_agrees_with_hvp(p):
    _, X, Y, ws, g = p
    h = _hs.hessian(ws, X, Y)
    n_par = sum(w.size for w in ws)
    assert h.shape == (n_par, n_par)
    top = max(np.abs(h).max(), 1.0)
    assert_allclose(h, h.T, rtol=0, atol=1e-12 * top)
    v = g.standard_normal(n_par)
    assert_allclose(_hs.hessian_vector_product(ws, X, Y, v), h @ v, rtol=0, atol=1e-11 * top * np.abs(v).sum())


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(problems(max_depth=3, max_width=3, assumptions=True))
def test_critical_point_of_every_admissible_set_has_its_critical_value(p):
    dims, X, Y, _, g = p
    sets = critical.critical_index_sets(X, Y, dims)
    assert sets, dims
    for cs in sets:
        w = critical.critical_point(X, Y, dims, cs.index_set, rng=g)
        value = model.loss(w, X, Y)
        assert_allclose(value, cs.value, rtol=1e-9, atol=1e-9)
        assert_allclose(value, critical.critical_value_of(X, Y, cs.index_set), rtol=1e-9, atol=1e-9)
        gnorm = np.sqrt(sum(float(np.sum(gw * gw)) for gw in model.gradient(w, X, Y)))
        size = 1.0 + np.linalg.norm(X) * np.linalg.norm(Y) + max(float(np.sum(wi * wi)) for wi in w) ** 2
        assert gnorm <= 1e-8 * size * np.linalg.norm(X) ** 2, (dims, cs.index_set, gnorm)
    assert dlnlib.critical_values(X, Y, dims).size == len(sets)
