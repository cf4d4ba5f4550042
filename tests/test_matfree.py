"""Matrix-free second-order analysis (dlnlib.spectrum), method selection, balancing and memory guards."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dlnlib import memory
from dlnlib.critical import critical_point
from dlnlib.geometry import project_to_critical_set, stable_unstable_dimensions, tangent_dimension
from dlnlib.hessian import (
    _default_tol,
    _hessian_scale,
    balanced_representative,
    classification,
    classify,
    hessian,
    hessian_fd,
    hessian_vector_product,
    inertia,
)
from dlnlib.landscape import balanced_critical_point, random_critical_points
from dlnlib.losses import SquareLoss, composite_hessian
from dlnlib.model import end_to_end, loss, random_weights
from dlnlib.spectrum import extreme_eigenvalues, hessian_operator, spread_reduced_data


def make_data(dims, seed, m=40):
    g = np.random.default_rng(seed)
    X = g.standard_normal((dims[0], m)) * g.uniform(0.5, 2.0, size=(dims[0], 1))
    Y = g.standard_normal((dims[-1], dims[0])) @ X + 0.1 * g.standard_normal((dims[-1], m))
    return X, Y


# --------------------------------------------------------------------------- operator and eigenvalues


@pytest.mark.parametrize("dims", [(3, 2, 4), (4, 3, 5, 3), (5, 4, 2, 3, 3)])
def test_operator_matches_dense_hessian(dims):
    X, Y = make_data(dims, seed=1)
    ws = random_weights(dims, 2)
    h = hessian(ws, X, Y)
    op = hessian_operator(ws, X, Y)
    v = np.random.default_rng(3).standard_normal((h.shape[0], 4))
    scale = np.max(np.abs(h))
    assert_allclose(op @ v, h @ v, rtol=0, atol=1e-12 * scale * h.shape[0])
    assert_allclose(op @ v[:, 0], h @ v[:, 0], rtol=0, atol=1e-12 * scale * h.shape[0])
    assert_allclose(hessian_vector_product(ws, X, Y, v[:, 1]), h @ v[:, 1], rtol=0, atol=1e-12 * scale * h.shape[0])
    assert op.n_products == 5


def test_extreme_eigenvalues_match_eigvalsh_both_ends():
    dims = (6, 5, 4)
    X, Y = make_data(dims, seed=4)
    ws = random_weights(dims, 5)
    ev = np.linalg.eigvalsh(hessian(ws, X, Y))
    lo = extreme_eigenvalues(ws, X, Y, k=4)
    hi = extreme_eigenvalues(ws, X, Y, k=3, which="largest")
    assert lo.all_converged and hi.all_converged
    assert_allclose(lo.values, ev[:4], rtol=0, atol=1e-8 * np.max(np.abs(ev)))
    assert_allclose(hi.values, ev[-3:], rtol=0, atol=1e-8 * np.max(np.abs(ev)))
    assert lo.n_products > 0 and lo.vectors.shape == (ev.size, 4)
    assert np.all(lo.residuals <= 1e-8 * np.max(np.abs(ev)))


@pytest.mark.parametrize(
    ("kwargs", "phrase"),
    [({"k": 0}, "k must"), ({"k": 10**6}, "at most P"), ({"which": "middle"}, "which must"), ({"rtol": -1.0}, "rtol")],
)
def test_extreme_eigenvalues_bad_input(kwargs, phrase):
    dims = (3, 2, 3)
    X, Y = make_data(dims, seed=0)
    with pytest.raises((ValueError, TypeError), match=phrase):
        extreme_eigenvalues(random_weights(dims, 0), X, Y, **kwargs)


# --------------------------------------------------------------------------- matrix-free vs dense inertia


def _points(dims, seed, n_random):
    """Tight points (non-strict for N >= 3 and top S), global minima, non-top S, and random critical points."""
    # well-conditioned reduced data for the largest case: Lanczos needs O(sqrt(condition)) products per value
    X, Y = spread_reduced_data(dims, rng=seed) if n_random == 0 else make_data(dims, seed=seed)
    r_max = min(dims)
    pts = [
        critical_point(X, Y, dims, tuple(range(r_max)), rng=seed),  # global minimum
        critical_point(X, Y, dims, tuple(range(r_max - 1)), rng=seed),  # top S, r < r_max
        critical_point(X, Y, dims, tuple(range(r_max - 2)) + (r_max - 1,), rng=seed),  # not top: strict
    ]
    if n_random:
        pts += random_critical_points(X, Y, dims, n_random, rng=seed)
    return X, Y, pts


@pytest.mark.parametrize(
    ("dims", "n_random"),
    [((5, 4, 3), 3), ((6, 5, 5, 4), 4), ((5, 4, 4, 4, 3), 4), ((8, 3, 4), 2), ((30, 32, 30), 0)],
)
def test_matrix_free_inertia_agrees_with_dense(dims, n_random):
    X, Y, pts = _points(dims, seed=11, n_random=n_random)
    kinds = set()
    for ws in pts:
        dense = inertia(ws, X, Y, method="dense")
        p = sum(w.size for w in ws)
        mf = inertia(ws, X, Y, method="matrix-free", k=min(dense.n_neg + 3, p))
        assert mf.method == "matrix-free" and dense.method == "dense"
        assert mf.n_neg_exact, (dims, dense.as_tuple(), mf.eigenvalues)
        assert mf.n_neg == dense.n_neg, (dims, dense.as_tuple(), mf.eigenvalues[: dense.n_neg + 2])
        assert mf.spectrum.all_converged
        scale = max(np.max(np.abs(dense.eigenvalues)), 1.0)
        # the negative eigenvalues (with multiplicity) and the first one >= -tol that certifies the count;
        # beyond it Lanczos may skip copies inside the cluster of zero eigenvalues (not needed for the count)
        m = dense.n_neg + 1
        assert_allclose(mf.eigenvalues[:m], dense.eigenvalues[:m], rtol=0, atol=1e-7 * scale)
        if mf.n_zero is not None:  # the theory's dimension formula where it applies
            assert mf.as_tuple() == dense.as_tuple(), (mf.zero_source, mf.as_tuple(), dense.as_tuple())
        else:
            assert mf.n_pos is None
        kinds.add(classification(ws, X, Y).kind if p < 1000 else ("strict_saddle" if mf.n_neg else "global_minimum"))
    assert "strict_saddle" in kinds and "global_minimum" in kinds
    if len(dims) >= 4:
        assert "non_strict_saddle" in kinds


def test_theory_gives_zero_count_for_one_hidden_layer_tight_points_and_filling_minima():
    for dims, S in [((5, 4, 3), (0, 2)), ((5, 4, 4, 3), (0,)), ((4, 5, 5, 3), (0, 1, 2))]:
        X, Y = make_data(dims, seed=21)
        ws = critical_point(X, Y, dims, S)  # canonical: tight
        mf = inertia(ws, X, Y, method="matrix-free")
        assert mf.n_zero is not None, (dims, S, mf.zero_source)
        assert mf.as_tuple() == inertia(ws, X, Y, method="dense").as_tuple()
    dims = (4, 5, 5, 3)  # filling global minimum, not tight (random complement)
    X, Y = make_data(dims, seed=22)
    ws = critical_point(X, Y, dims, (0, 1, 2), complement=[None, np.ones((2, 2)), None], rng=3)
    mf = inertia(ws, X, Y, method="matrix-free")
    assert mf.zero_source.startswith("filling global minimum")
    assert mf.as_tuple() == inertia(ws, X, Y, method="dense").as_tuple() == (12, 0, sum(w.size for w in ws) - 12)


def test_matrix_free_inertia_says_when_it_is_only_a_lower_bound():
    dims = (6, 5, 4)
    X, Y = make_data(dims, seed=5)
    ws = critical_point(X, Y, dims, (1, 2, 3))  # N = 2, not top: n_- = inv(S) + (d_2 - r)(d_1 - r) = 3 + 2
    dense = inertia(ws, X, Y, method="dense")
    assert dense.n_neg == 5
    mf = inertia(ws, X, Y, method="matrix-free", k=3)
    # k = 3: at most k - 1 = 2 negative eigenvalues resolved, and none certifies the count
    assert not mf.n_neg_exact and mf.n_neg == 2 and mf.n_zero is None and mf.n_pos is None


def test_auto_method_and_bad_method(monkeypatch):
    dims = (4, 3, 3)
    X, Y = make_data(dims, seed=6)
    ws = critical_point(X, Y, dims, (0, 1, 2))
    dense = inertia(ws, X, Y)
    assert dense.method == "dense" and dense.as_tuple() == (12, 0, 9)
    monkeypatch.setattr(memory, "MEMORY_LIMIT", 1000)  # nothing dense fits: auto goes matrix-free
    auto = inertia(ws, X, Y)
    assert auto.method == "matrix-free" and auto.as_tuple() == (12, 0, 9)
    c = classification(ws, X, Y)
    assert c.kind == "global_minimum" and c.inertia.method == "matrix-free"
    with pytest.raises(ValueError, match="method must be one of"):
        inertia(ws, X, Y, method="sparse")
    with pytest.raises(ValueError, match="method must be one of"):
        classify(ws, X, Y, method="lanczos")


# --------------------------------------------------------------------------- balancing (issue 13 item 11)


def _changed_basis(ws, g):
    """``W_{i+1} G^{-1}``, ``G W_i`` with Gaussian ``G`` between consecutive layers (same product, same loss)."""
    ws = [w.copy() for w in ws]
    for i in range(len(ws) - 1):
        G = g.standard_normal((ws[i].shape[0],) * 2)
        ws[i], ws[i + 1] = G @ ws[i], ws[i + 1] @ np.linalg.inv(G)
    return ws


@pytest.mark.parametrize(("dims", "S", "seed"), [((5, 6, 1, 4), (1,), 69), ((5, 6, 4), (0, 1, 2), 41)])
def test_classify_badly_balanced_critical_point(dims, S, seed):
    """A differential test found these: an exact critical point after a random change of basis between layers."""
    g = np.random.default_rng(seed)
    X, Y = g.standard_normal((dims[0], 50)), g.standard_normal((dims[-1], 50))
    exact = critical_point(X, Y, dims, S, rng=g)
    ws = _changed_basis(exact, g)
    assert_allclose(end_to_end(ws), end_to_end(exact), rtol=0, atol=1e-8 * np.max(np.abs(end_to_end(exact))))
    # without balancing, the negative eigenvalue sits below the cross-check tolerance (the failure before the fix)
    c_tol = classification(ws, X, Y)
    unbalanced = inertia(ws, X, Y, method="dense", tol=_classify_tol(ws, X, Y))
    assert unbalanced.n_neg == 0
    assert c_tol.kind == "strict_saddle" and c_tol.inertia.balanced
    assert c_tol.inertia.n_neg == inertia(exact, X, Y).n_neg > 0
    assert inertia(ws, X, Y, balance=True).as_tuple() == inertia(exact, X, Y).as_tuple()
    wb = balanced_representative(ws)
    assert_allclose(loss(wb, X, Y), loss(exact, X, Y), rtol=1e-9)
    norms = [np.linalg.norm(w) for w in wb]
    assert_allclose(norms, norms[0], rtol=1e-9)


def _classify_tol(ws, X, Y):
    """The cross-check tolerance of classify computed at ``ws`` itself (the pre-fix behaviour)."""
    from dlnlib.model import _products, _relative_gradient

    sxx, syx = X @ X.T, Y @ X.T
    eigs = np.linalg.eigvalsh(hessian(ws, X, Y))
    h = _hessian_scale(ws, sxx, syx)
    g_rel = _relative_gradient(_products(ws), sxx, syx)
    return max(_default_tol(eigs, h), np.sqrt(g_rel) * max(np.max(np.abs(eigs)), h))


def test_real_contradiction_still_raises(monkeypatch):
    dims = (4, 3, 3)
    X, Y = make_data(dims, seed=7)
    ws = critical_point(X, Y, dims, (1,))  # strict saddle
    monkeypatch.setattr(
        sys.modules["dlnlib.hessian"], "_theory_verdict", lambda *a: ("non_strict_saddle", "a wrong theory")
    )
    for method in ("dense", "matrix-free"):
        with pytest.raises(RuntimeError, match="theory and Hessian disagree"):
            classify(ws, X, Y, method=method)


# --------------------------------------------------------------------------- memory guards


def test_memory_guards_refuse_with_a_clear_message(monkeypatch):
    dims = (4, 3, 3)
    X, Y = make_data(dims, seed=8)
    ws = critical_point(X, Y, dims, (0, 1))
    p = sum(w.size for w in ws)
    monkeypatch.setattr(memory, "MEMORY_LIMIT", 1000)
    calls = [
        ("hessian", lambda: hessian(ws, X, Y), "hessian_vector_product"),
        ("hessian_fd", lambda: hessian_fd(ws, X, Y), "hessian_vector_product"),
        ("inertia", lambda: inertia(ws, X, Y, method="dense"), "method='matrix-free'"),
        ("inertia", lambda: classify(ws, X, Y, method="dense"), "method='matrix-free'"),
        ("stable_unstable_dimensions", lambda: stable_unstable_dimensions(ws, X, Y), "matrix-free"),
        ("tangent_dimension", lambda: tangent_dimension(ws, X, Y), "critical_manifold_dimension"),
        ("project_to_critical_set", lambda: project_to_critical_set(ws, X, Y), "matrix-free"),
    ]
    with pytest.raises(memory.DenseMemoryError, match=f"composite_hessian at P = {p} parameters"):
        composite_hessian(ws, SquareLoss(np.zeros((dims[-1], dims[0]))))
    for what, call, alternative in calls:
        with pytest.raises(memory.DenseMemoryError) as err:
            call()
        msg = str(err.value)
        assert msg.startswith(what) and f"P = {p} parameters" in msg and "bytes" in msg, msg
        assert alternative in msg, msg
    assert isinstance(memory.DenseMemoryError("x"), MemoryError)
    # what fits passes
    monkeypatch.setattr(memory, "MEMORY_LIMIT", 10**9)
    assert hessian(ws, X, Y).shape == (p, p)


def test_memory_estimates():
    assert memory.dense_bytes(180_000, "hessian") == 8 * 180_000**2
    assert memory.format_bytes(8 * 180_000**2) == "241 GiB"
    assert memory.dense_bytes(100, "inertia") == 2 * memory.dense_bytes(100, "hessian")
    with pytest.raises(ValueError, match="what must be one of"):
        memory.dense_bytes(10, "nope")
    budget = memory.memory_budget()
    assert budget is None or budget > 0


# --------------------------------------------------------------------------- wide network (P = 180,000)

_WIDE = textwrap.dedent(
    """
    import json, resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    from dlnlib.hessian import classification
    from dlnlib.landscape import balanced_critical_point
    from dlnlib.spectrum import spread_reduced_data
    d = 300
    dims = (d, d, d)
    X, Y = spread_reduced_data(dims, rng=0)
    out = {}
    for name, S in (("global", tuple(range(d))), ("strict", tuple(range(d - 2)) + (d - 1,))):
        c = classification(balanced_critical_point(X, Y, dims, S), X, Y)
        out[name] = [c.kind, c.inertia.method, c.inertia.n_neg, c.inertia.eigenvalues.tolist(), c.inertia.tol]
    print(json.dumps(out))
    """
)


def test_classify_wide_network_matrix_free_under_3_gib(root):
    """P = 180,000 (widths 300-300-300): the dense path would need 241 GiB; matrix-free fits in 3 GiB."""
    env_path = str(root)
    res = subprocess.run(
        [sys.executable, "-c", _WIDE],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": env_path, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    kind, method, n_neg, eigs, tol = out["global"]
    assert (kind, method, n_neg) == ("global_minimum", "matrix-free", 0)
    assert min(eigs) >= -tol
    kind, method, n_neg, eigs, tol = out["strict"]
    assert (kind, method) == ("strict_saddle", "matrix-free") and n_neg >= 1
    assert min(eigs) < -tol  # a Ritz value below -tol proves a negative eigenvalue


def test_spread_reduced_data():
    X, Y = spread_reduced_data((5, 4, 3), rng=0)
    s = np.diag(Y[:, :3])
    assert X.shape == (5, 5) and Y.shape == (3, 5) and np.all(np.diff(s) < 0) and s.min() > 1 and s.max() < 2
    ws = balanced_critical_point(X, Y, (5, 4, 3), (0, 1, 2))
    assert classify(ws, X, Y) == "global_minimum"
    with pytest.raises(ValueError, match="low must be below high"):
        spread_reduced_data((3, 3), rng=0, low=2.0, high=1.0)
