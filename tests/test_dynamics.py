"""Tests for dlnlib.dynamics: gradient flow (single and batched) and gradient descent (see the Mathematical notes,
"Notation", "Invariants of the flow" and "Boundedness and convergence")."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dlnlib.dynamics import (
    CONVERGED,
    DIVERGED,
    FAILED,
    REACHED_T_MAX,
    gradient_descent,
    gradient_descent_batch,
    gradient_flow,
    gradient_flow_batch,
)
from dlnlib.model import balanced_weights, gradient, invariants, loss, random_weights, reduce_data

# Shared table of configurations (widths d_0..d_N): depths 1-4.
CONFIGS = [
    (3, 2),
    (3, 4, 2),
    (4, 3, 3),
    (4, 5, 4, 3),
    (3, 3, 3, 3, 3),
]
IDS = ["-".join(map(str, c)) for c in CONFIGS]

try:
    import numba  # noqa: F401

    HAVE_NUMBA = True
except ImportError:
    HAVE_NUMBA = False


@pytest.fixture(params=["numpy", "jit"])
def engine(request, monkeypatch):
    """Run a batched-flow test with each engine: the numpy one and the compiled one (when numba is installed)."""
    if request.param == "jit" and not HAVE_NUMBA:
        pytest.skip("numba is not installed: the compiled engine is not available")
    monkeypatch.setenv("DLNLIB_NO_JIT", "1" if request.param == "numpy" else "0")
    return request.param


def make_data(dims, seed, m=40):
    """Unwhitened data (X X^T far from a multiple of I), well conditioned."""
    g = np.random.default_rng(seed)
    X = g.standard_normal((dims[0], m)) * g.uniform(0.6, 1.5, size=(dims[0], 1)) / np.sqrt(m)
    Y = g.standard_normal((dims[-1], dims[0])) @ X + 0.1 * g.standard_normal((dims[-1], m)) / np.sqrt(m)
    return X, Y


def stack(list_of_weights):
    return [np.stack(z) for z in zip(*list_of_weights)]


def rel_inv_drift(w0, w):
    scale = max(np.sum(x * x) for x in w0)
    return max((np.linalg.norm(a - b) for a, b in zip(invariants(w0), invariants(w))), default=0.0) / scale


# --------------------------------------------------------------------------- gradient flow


@pytest.mark.parametrize("dims", CONFIGS, ids=IDS)
def test_flow_conserves_invariants_and_decreases_loss(dims):
    X, Y = make_data(dims, 1)
    w0 = random_weights(dims, 2)
    tr = gradient_flow(w0, X, Y, 10.0, rtol=1e-11, atol=1e-13, grad_tol=None, store_weights=True)
    assert tr.status == REACHED_T_MAX and tr.success
    assert rel_inv_drift(w0, tr.final_weights) < 1e-8
    assert np.max(tr.invariant_drift) / max(np.sum(w * w) for w in w0) < 1e-8
    assert np.all(np.diff(tr.loss) <= 1e-12 * tr.loss[0])
    assert_allclose(tr.loss[-1], loss(tr.final_weights, X, Y), rtol=1e-10)
    assert len(tr.weights) == tr.t.size


def test_flow_stops_when_converged_and_at_critical_point():
    dims = (3, 3, 2)
    X, Y = make_data(dims, 3)
    tr = gradient_flow(random_weights(dims, 4), X, Y, 1e4, grad_tol=1e-8)
    assert tr.status == CONVERGED and tr.converged
    assert tr.grad_norm[-1] <= 1.01e-8 and tr.t[-1] < 1e4
    g = gradient(tr.final_weights, X, Y)
    assert np.sqrt(sum(np.sum(x * x) for x in g)) < 1.01e-8
    # starting there: returns immediately
    tr2 = gradient_flow(tr.final_weights, X, Y, 1.0, grad_tol=1e-6)
    assert tr2.status == CONVERGED and tr2.t.size == 1


def test_reduced_flow_equals_original_flow_for_whitened_data():
    dims = (3, 3, 2)
    X, Y = make_data(dims, 5)
    ev, evec = np.linalg.eigh(X @ X.T)
    Xw = evec @ np.diag(ev**-0.5) @ evec.T @ X
    red = reduce_data(Xw, Y)
    w0 = random_weights(dims, 6, scale=0.5)
    direct = gradient_flow(w0, Xw, Y, 2.0, rtol=1e-11, atol=1e-13, grad_tol=None).final_weights
    via = gradient_flow(red.to_reduced(w0), np.eye(3), red.sigma_bar, 2.0, rtol=1e-11, atol=1e-13, grad_tol=None)
    for a, b in zip(red.from_reduced(via.final_weights), direct):
        assert_allclose(a, b, rtol=0, atol=1e-8)


# --------------------------------------------------------------------------- batched flow


@pytest.mark.parametrize("dims", CONFIGS, ids=IDS)
def test_batch_flow_agrees_with_single_trajectories(dims, engine):
    X, Y = make_data(dims, 7)
    ws = [random_weights(dims, 100 + k) for k in range(4)]
    t_eval = np.linspace(0, 3.0, 7)
    bt = gradient_flow_batch(stack(ws), X, Y, 3.0, rtol=1e-10, atol=1e-13, grad_tol=None, t_eval=t_eval)
    assert np.all(bt.status == REACHED_T_MAX) and bt.n_trajectories == 4
    assert np.all(bt.invariant_drift < 1e-8)
    for k, w in enumerate(ws):
        tr = gradient_flow(w, X, Y, 3.0, rtol=1e-11, atol=1e-13, grad_tol=None, t_eval=t_eval)
        assert_allclose(bt.loss[k], tr.loss, rtol=1e-7, atol=1e-12)
        assert_allclose(bt.grad_norm[k], tr.grad_norm, rtol=1e-6, atol=1e-10)
        for a, b in zip(bt.trajectory_weights(k), tr.final_weights):
            assert_allclose(a, b, rtol=0, atol=1e-7 * max(1.0, np.abs(b).max()))
        assert rel_inv_drift(w, bt.trajectory_weights(k)) < 1e-8


def test_batch_flow_per_trajectory_stopping_and_data(engine):
    dims = (3, 3, 2)
    X, Y = make_data(dims, 8)
    ws = stack([random_weights(dims, 9), random_weights(dims, 10, scale=0.01)])  # the second one lingers
    bt = gradient_flow_batch(ws, X, Y, 200.0, grad_tol=1e-8)
    assert np.all(bt.status == CONVERGED)
    assert bt.t_final[0] < bt.t_final[1]  # each trajectory stops on its own
    # per-trajectory data (K, d, m)
    Xb, Yb = np.stack([X, 2 * X]), np.stack([Y, Y])
    bt2 = gradient_flow_batch(ws, Xb, Yb, 1.0, grad_tol=None)
    tr = gradient_flow([w[1] for w in ws], 2 * X, Y, 1.0, grad_tol=None)
    assert_allclose(bt2.loss[1, -1], tr.loss[-1], rtol=1e-6)


def test_batch_flow_continuous_batching_is_bit_identical(engine):
    """Whatever the slot count, each trajectory's result is the one it gets alone (continuous batching)."""
    dims = (4, 3, 3, 2)
    rng = np.random.default_rng(3)
    k = 7
    data = [make_data(dims, rng) for _ in range(k)]
    X, Y = np.stack([d[0] for d in data]), np.stack([d[1] for d in data])
    w0 = stack([random_weights(dims, rng, scale=s) for s in np.geomspace(0.2, 2, k)])
    t_eval = np.linspace(0, 30, 5)
    ref = gradient_flow_batch(w0, X, Y, 30.0, grad_tol=1e-5, t_eval=t_eval, rtol=1e-6, atol=1e-9)
    assert set(ref.status.tolist()) == {CONVERGED, REACHED_T_MAX}  # trajectories stop at different times
    for slots in (1, 3):
        r = gradient_flow_batch(w0, X, Y, 30.0, grad_tol=1e-5, t_eval=t_eval, rtol=1e-6, atol=1e-9, slots=slots)
        for name in ("loss", "grad_norm", "t_final", "status", "n_steps", "n_rejected", "invariant_drift"):
            assert_array_equal(getattr(r, name), getattr(ref, name))
        for a, b in zip(r.final_weights, ref.final_weights):
            assert_array_equal(a, b)
    for j in (0, 6):
        wj = [w[j : j + 1] for w in w0]
        alone = gradient_flow_batch(
            wj, X[j : j + 1], Y[j : j + 1], 30.0, grad_tol=1e-5, t_eval=t_eval, rtol=1e-6, atol=1e-9
        )
        assert_array_equal(alone.loss[0], ref.loss[j])
        assert_array_equal(alone.final_weights[0][0], ref.final_weights[0][j])
    with pytest.raises(ValueError, match="slots"):
        gradient_flow_batch(w0, X, Y, 30.0, slots=0)


def test_batch_flow_max_steps_is_per_trajectory(engine):
    dims = (3, 3, 2)
    X, Y = make_data(dims, 8)
    ws = stack([random_weights(dims, 9), random_weights(dims, 10)])
    bt = gradient_flow_batch(ws, X, Y, 1e3, grad_tol=None, max_steps=5, slots=1)
    assert np.all(bt.status == FAILED) and np.all(bt.n_steps + bt.n_rejected == 5)


def test_batch_flow_balanced_stays_balanced(engine):
    dims = (4, 5, 4, 3)
    X, Y = make_data(dims, 11)
    ws = stack([balanced_weights(dims, 20 + k) for k in range(3)])
    bt = gradient_flow_batch(ws, X, Y, 5.0, rtol=1e-10, atol=1e-13, grad_tol=None)
    for k in range(3):
        w = bt.trajectory_weights(k)
        assert max(np.linalg.norm(c) for c in invariants(w)) < 1e-8 * max(np.sum(x * x) for x in w)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed: the compiled engine is not available")
def test_batch_flow_engines_agree(monkeypatch):
    """The compiled and numpy engines take the same steps up to rounding and agree to the integration tolerance."""
    dims = (4, 3, 3, 2)
    rng = np.random.default_rng(5)
    X, Y = make_data(dims, 6)
    w0 = stack([random_weights(dims, rng, scale=s) for s in np.geomspace(0.3, 2, 6)])
    t_eval = np.linspace(0, 50, 6)
    runs = {}
    for flag in ("1", "0"):
        monkeypatch.setenv("DLNLIB_NO_JIT", flag)
        runs[flag] = gradient_flow_batch(w0, X, Y, 50.0, grad_tol=1e-7, t_eval=t_eval, rtol=1e-10, atol=1e-13)
    a, b = runs["1"], runs["0"]
    assert_array_equal(a.status, b.status)
    assert np.all(np.abs(a.n_steps - b.n_steps) <= 2)
    assert_allclose(a.loss, b.loss, rtol=1e-8, atol=1e-12)
    assert_allclose(a.t_final, b.t_final, rtol=1e-3)
    for wa, wb in zip(a.final_weights, b.final_weights):
        assert_allclose(wa, wb, rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- gradient descent


@pytest.mark.parametrize(
    "dims", [c for c in CONFIGS if len(c) > 2], ids=[i for c, i in zip(CONFIGS, IDS) if len(c) > 2]
)
def test_gd_drift_is_second_order_per_step(dims):
    X, Y = make_data(dims, 12)
    w0 = random_weights(dims, 13)
    eta = 0.02
    d1 = gradient_descent(w0, X, Y, eta, 1).invariant_drift[-1]
    d2 = gradient_descent(w0, X, Y, eta / 2, 1).invariant_drift[-1]
    assert_allclose(d1 / d2, 4.0, rtol=1e-6)


def test_gd_drift_over_fixed_horizon_is_first_order():
    dims = (4, 5, 4, 3)
    X, Y = make_data(dims, 14)
    w0 = random_weights(dims, 15)
    T = 1.0
    drifts = [
        gradient_descent(w0, X, Y, eta, round(T / eta), record_every=1000).invariant_drift[-1] for eta in (0.004, 0.002)
    ]
    assert_allclose(drifts[0] / drifts[1], 2.0, rtol=0.05)


def test_gd_matches_manual_iteration_and_batch():
    dims = (3, 4, 2)
    X, Y = make_data(dims, 16)
    w = random_weights(dims, 17)
    res = gradient_descent(w, X, Y, 0.05, 5)
    for _ in range(5):
        w = [a - 0.05 * g for a, g in zip(w, gradient(w, X, Y))]
    for a, b in zip(res.final_weights, w):
        assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert res.status == REACHED_T_MAX and res.n_steps_done == 5 and res.steps.tolist() == [0, 1, 2, 3, 4, 5]
    ws = [random_weights(dims, 17), random_weights(dims, 18)]
    bres = gradient_descent_batch(stack(ws), X, Y, np.array([0.05, 0.02]), 5)
    for k, (w0, eta) in enumerate(zip(ws, (0.05, 0.02))):
        single = gradient_descent(w0, X, Y, eta, 5)
        assert_allclose(bres.loss[k], single.loss, rtol=1e-12)
        for a, b in zip([x[k] for x in bres.final_weights], single.final_weights):
            assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_gd_divergence_is_reported_with_finite_weights():
    dims = (3, 3, 3, 2)
    X, Y = make_data(dims, 19)
    w0 = random_weights(dims, 20, scale=2.0)
    res = gradient_descent(w0, X, Y, 50.0, 100)
    assert res.status == DIVERGED == -2 and res.diverged and not res.success
    assert "diverged" in res.message and "step" in res.message
    assert all(np.all(np.isfinite(w)) for w in res.final_weights)
    assert res.n_steps_done < 100
    bres = gradient_descent_batch(stack([w0, w0]), X, Y, np.array([50.0, 0.01]), 20)
    assert bres.diverged.tolist() == [True, False]
    assert all(np.all(np.isfinite(w)) for w in bres.final_weights)


def test_gd_converges_with_grad_tol():
    dims = (3, 3, 2)
    X, Y = make_data(dims, 21)
    res = gradient_descent(random_weights(dims, 22), X, Y, 0.2, 100_000, grad_tol=1e-7, record_every=100)
    assert res.status == CONVERGED and res.grad_norm[-1] < 1e-7


def test_gd_records_grow_as_the_run_goes():
    """Issue: n_steps=10**11 with grad_tol used to allocate the records of 10**11 steps up front (745 GiB)."""
    import tracemalloc

    dims = (3, 3, 2)
    X, Y = make_data(dims, 21)
    w0 = random_weights(dims, 22)
    tracemalloc.start()
    res = gradient_descent(w0, X, Y, 0.2, 10**11, grad_tol=1e-3)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert res.status == CONVERGED and res.n_steps_done < 10**5
    assert peak < 50 * 2**20
    # the default records sparsely (every n_steps // 1000 steps) and always keeps the start and the end
    assert res.steps[0] == 0 and res.steps[-1] == res.n_steps_done and res.grad_norm[-1] < 1e-3
    dense = gradient_descent(w0, X, Y, 0.2, 3000, record_every=1)
    sparse = gradient_descent(w0, X, Y, 0.2, 3000)
    assert dense.steps.size == 3001 and sparse.steps.tolist() == list(range(0, 3001, 3))
    assert_array_equal(sparse.loss, dense.loss[::3])
    assert_array_equal(sparse.final_weights[0], dense.final_weights[0])
    # a batch in which runs stop at different steps gives each run the result it gets alone
    ws = [random_weights(dims, s) for s in (22, 23, 24)]
    steps = np.array([0.2, 0.1, 50.0])  # the last one diverges
    b = gradient_descent_batch(stack(ws), X, Y, steps, 4000, grad_tol=1e-6, record_every=7)
    assert b.status.tolist() == [CONVERGED, CONVERGED, DIVERGED]
    for j in range(3):
        alone = gradient_descent(ws[j], X, Y, steps[j], 4000, grad_tol=1e-6, record_every=7)
        assert alone.n_steps_done == b.n_steps_done[j] and alone.status == b.status[j]
        assert_array_equal(alone.final_weights[1], b.final_weights[1][j])
        at = np.searchsorted(b.steps, alone.steps)  # the batch records at the union of the runs' record steps
        assert_array_equal(b.steps[at], alone.steps)
        assert_array_equal(alone.loss, b.loss[j, at])
        assert np.all(np.isnan(b.loss[j, at[-1] + 1 :]))


# --------------------------------------------------------------------------- validation


@pytest.fixture
def problem():
    dims = (3, 4, 2)
    X, Y = make_data(dims, 23)
    return dims, X, Y, random_weights(dims, 24)


@pytest.mark.parametrize("t_max", [0.0, -1.0, np.inf, np.nan])
def test_flow_rejects_bad_horizon(problem, t_max):
    _, X, Y, w = problem
    with pytest.raises(ValueError, match="t_max"):
        gradient_flow(w, X, Y, t_max)
    with pytest.raises(ValueError, match="t_max"):
        gradient_flow_batch(stack([w]), X, Y, t_max)


@pytest.mark.parametrize("step", [0.0, -0.1, np.inf])
def test_gd_rejects_bad_step(problem, step):
    _, X, Y, w = problem
    with pytest.raises(ValueError, match="step"):
        gradient_descent(w, X, Y, step, 10)
    with pytest.raises(ValueError, match="step"):
        gradient_descent_batch(stack([w]), X, Y, step, 10)


@pytest.mark.parametrize(("n_steps", "exc"), [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)])
def test_gd_rejects_bad_n_steps(problem, n_steps, exc):
    _, X, Y, w = problem
    with pytest.raises(exc, match="n_steps"):
        gradient_descent(w, X, Y, 0.1, n_steps)


def test_dynamics_reject_bad_data_and_weights(problem):
    _, X, Y, w = problem
    Xn = X.copy()
    Xn[0, 0] = np.nan
    for fn, ws in ((gradient_flow, w), (gradient_flow_batch, stack([w]))):
        with pytest.raises(ValueError, match="X contains 1 NaN"):
            fn(ws, Xn, Y, 1.0)
        with pytest.raises(ValueError, match="rows"):
            fn(ws, X[:2], Y, 1.0)
    bad = [x.copy() for x in w]
    bad[0][0, 0] = np.inf
    with pytest.raises(ValueError, match=r"weights0.*NaN or infinite"):
        gradient_flow(bad, X, Y, 1.0)
    with pytest.raises(ValueError, match=r"weights0.*NaN or infinite"):
        gradient_descent(bad, X, Y, 0.1, 1)
    Xd = X.copy()
    Xd[-1] = Xd[0]
    with pytest.raises(ValueError, match="Assumption 2"):
        gradient_flow(w, Xd, Y, 1.0)
    with pytest.raises(ValueError, match="Assumption 2"):
        gradient_descent(w, Xd, Y, 0.1, 1)


def test_batch_rejects_inconsistent_shapes(problem):
    _, X, Y, w = problem
    ws = stack([w, w])
    with pytest.raises(ValueError, match="batch sizes differ"):
        gradient_flow_batch([ws[0], ws[1][:1]], X, Y, 1.0)
    with pytest.raises(ValueError, match="leading axis K=2"):
        gradient_flow_batch(ws, np.stack([X] * 3), Y, 1.0)
    with pytest.raises(ValueError, match="K=2 entries"):
        gradient_descent_batch(ws, X, Y, np.array([0.1, 0.1, 0.1]), 5)
    with pytest.raises(ValueError, match="positive"):
        gradient_descent_batch(ws, X, Y, np.array([0.1, -0.1]), 5)
    with pytest.raises(ValueError, match="ndim"):
        gradient_flow_batch(w, X, Y, 1.0)  # single weights where a batch is expected


def test_flow_rejects_bad_t_eval(problem):
    _, X, Y, w = problem
    with pytest.raises(ValueError, match="t_eval"):
        gradient_flow(w, X, Y, 1.0, t_eval=[0.0, 2.0])
    with pytest.raises(ValueError, match="t_eval"):
        gradient_flow_batch(stack([w]), X, Y, 1.0, t_eval=[0.5, 0.2])
