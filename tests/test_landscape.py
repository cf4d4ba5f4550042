"""Tests for dlnlib.landscape: plateaus, escape times, balanced critical points, inertia tables."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dlnlib.companion.text import format_index_set, markdown_table
from dlnlib.critical import critical_index_sets, critical_value_of, critical_values, limit_critical_value
from dlnlib.dynamics import gradient_descent, gradient_flow_batch
from dlnlib.hessian import inertia
from dlnlib.landscape import (
    balanced_critical_point,
    drop_directions,
    escape_times,
    inertia_row,
    inertia_table,
    middle_rank,
    next_lower_value,
    perturbed_batch,
    plateaus,
    random_critical_points,
    tight_inertia_formula,
)
from dlnlib.model import end_to_end, gradient, invariants, least_squares, random_weights, reduce_data

# Shared table of configurations: depths 2-4, square, d_x > d_y, bottlenecks (non-filling).
CONFIGS = [
    (4, 4, 4),
    (5, 3, 4),
    (4, 4, 4, 4),
    (5, 4, 3, 4),
    (4, 3, 5, 3, 3),
]
IDS = ["-".join(map(str, d)) for d in CONFIGS]


def make_data(dims, seed, m=40):
    """Unwhitened data with a generic reduced target (Assumptions 1-4 hold almost surely)."""
    g = np.random.default_rng(seed)
    X = g.standard_normal((dims[0], m)) * g.uniform(0.5, 2.0, size=(dims[0], 1))
    Y = g.standard_normal((dims[-1], dims[0])) @ X + 0.1 * g.standard_normal((dims[-1], m))
    return X, Y


def report_data(seed=0):
    """The student-report data of the Mathematical notes, "The Hessian and the landscape": X 5x1000, Y = diag(5,4,3,2,1)
    X + N(0, 0.1^2)."""
    g = np.random.default_rng(seed)
    X = g.standard_normal((5, 1000))
    return X, np.diag([5.0, 4, 3, 2, 1]) @ X + 0.1 * g.standard_normal((5, 1000))


# --------------------------------------------------------------------------- plateaus


def _sets(values):
    """Fake CriticalIndexSet-like records with given values (index set = (k,))."""
    from dlnlib.critical import CriticalIndexSet

    return [CriticalIndexSet((k,), v, 1, False, False) for k, v in enumerate(values)]


def test_plateaus_on_synthetic_staircase():
    values = [0.0, 1.0, 3.0, 6.0]
    steps = np.arange(0, 100, 2.0)
    loss = np.interp(steps, [0, 20, 24, 50, 52, 80, 84, 98], [6, 6, 3, 3, 1, 1, 0, 0])
    found = plateaus(loss, _sets(values), steps=steps, rtol=0.01)
    assert [p.index_set for p in found] == [(3,), (2,), (1,), (0,)]
    assert_allclose([p.start for p in found], [0, 24, 52, 84])
    assert_allclose([p.dwell for p in found], [20, 26, 28, 14])


def test_plateaus_min_length_and_nan():
    loss = np.array([5.0, 5.0, 3.0, 1.0, 1.0, 1.0, np.nan, np.nan])
    found = plateaus(loss, _sets([1.0, 3.0, 5.0]), min_length=2)
    assert [p.value for p in found] == [5.0, 1.0]  # the single point at 3 is not a plateau
    with pytest.raises(ValueError, match="1-D"):
        plateaus(np.ones((2, 3)), _sets([1.0]))
    with pytest.raises(ValueError, match="shape of loss"):
        plateaus(np.ones(3), _sets([1.0]), steps=np.arange(4))


def test_small_initialization_visits_top_sets_in_order():
    """Saddle-to-saddle ([SMG]): GD from a tiny init steps down through S = ∅, {1}, {1, 2}, ..."""
    dims = (3, 3, 3, 3)
    X = np.eye(3)
    Y = np.diag([3.0, 2.0, 1.0])
    g = np.random.default_rng(11)
    w0 = random_weights(dims, g, scale=0.02)
    res = gradient_descent(w0, X, Y, 0.05, 4000, record_every=5)
    found = plateaus(res.loss, critical_index_sets(X, Y, dims), steps=res.steps, rtol=0.02, min_length=3)
    assert [p.index_set for p in found] == [(), (0,), (0, 1), (0, 1, 2)]
    assert all(p.dwell > 0 for p in found[:-1])


# --------------------------------------------------------------------------- escape times


def test_escape_times_threshold_and_nan():
    loss = np.array([[10.0, 9.0, 7.0, 4.0], [10.0, 10.0, 10.0, 10.0], [10.0, 6.0, np.nan, np.nan]])
    out = escape_times(loss, 10.0, 4.0, fraction=0.5, steps=np.array([0, 10, 20, 30]))
    assert out.threshold == 7.0
    assert_allclose(out.epochs, [30.0, np.nan, 10.0])  # 7.0 is not < 7.0
    assert_array_equal(out.escaped, [True, False, True])
    one = escape_times(loss[0], 10.0, 4.0, fraction=0.75)
    assert_allclose(one.epochs, [3.0])
    with pytest.raises(ValueError, match="below"):
        escape_times(loss, 4.0, 10.0)
    with pytest.raises(ValueError, match="fraction"):
        escape_times(loss, 10.0, 4.0, fraction=0.0)


def test_next_lower_value():
    vals = np.array([0.5, 2.0, 2.5, 4.0])
    assert next_lower_value(vals, 2.5) == 2.0
    assert next_lower_value(vals, 4.0 * (1 + 1e-12)) == 2.5
    with pytest.raises(ValueError, match="smallest"):
        next_lower_value(vals, 0.5)
    with pytest.raises(ValueError, match="not a critical value"):
        next_lower_value(vals, 3.0)


def test_perturbed_batch_layout():
    ws = [np.ones((3, 2)), np.zeros((2, 3))]
    batch = perturbed_batch(ws, [0.0, 1.0, 2.0], 4, rng=5)
    assert [b.shape for b in batch] == [(12, 3, 2), (12, 2, 3)]
    assert_allclose(batch[0][:4], 1.0)  # eps = 0: unperturbed
    assert_allclose(batch[1][8:] - ws[1], 2.0 * (batch[1][4:8] - ws[1]))  # same directions, doubled
    assert [b.shape for b in perturbed_batch(ws, 0.1, 2, rng=5)] == [(2, 3, 2), (2, 2, 3)]


def test_perturbed_batch_total_norm_convention():
    ws = [np.ones((3, 2)), np.zeros((2, 3))]
    entry = perturbed_batch(ws, [0.5, 2.0], 3, rng=7)
    total = perturbed_batch(ws, [0.5, 2.0], 3, rng=7, convention="total")
    norms = np.sqrt(sum(np.sum((b - w) ** 2, axis=(1, 2)) for b, w in zip(total, ws)))
    assert_allclose(norms, [0.5] * 3 + [2.0] * 3, rtol=1e-12)
    de = np.concatenate([(e - w)[:3].reshape(3, -1) for e, w in zip(entry, ws)], axis=1)
    dt = np.concatenate([(t - w)[:3].reshape(3, -1) for t, w in zip(total, ws)], axis=1)
    assert_allclose(dt, 0.5 * de / np.linalg.norm(de, axis=1, keepdims=True), rtol=1e-12)  # same directions
    with pytest.raises(ValueError, match="convention"):
        perturbed_batch(ws, 0.1, 2, rng=5, convention="layer")


def test_strict_saddle_escapes_faster_than_non_strict():
    """See the Mathematical notes, "The Hessian and the landscape": from the report's rank-3 point, the strict version
    escapes first, and halving eps roughly doubles the non-strict escape time (C/eps) but adds little to the strict
    one."""
    from dlnlib.dynamics import gradient_descent_batch

    X, Y = report_data(0)
    dims, S = (5, 4, 4, 5), (0, 1, 2)
    value = critical_value_of(X, Y, S)
    lower = next_lower_value(critical_values(X, Y, dims), value)
    eps = [0.1, 0.05]
    w0 = [
        np.concatenate(pair)
        for pair in zip(
            perturbed_batch(balanced_critical_point(X, Y, dims, S), eps, 3, rng=7),
            perturbed_batch(balanced_critical_point(X, Y, dims, S, middle=1.0), eps, 3, rng=7),
            strict=True,
        )
    ]
    res = gradient_descent_batch(w0, X, Y, 2e-5, 1500, record_every=5)
    t = escape_times(res.loss, value, lower, steps=res.steps).epochs.reshape(2, 2, 3)
    med = np.median(t, axis=2)  # (type, eps)
    assert np.all(np.isfinite(med))
    assert np.all(med[1] < med[0] / 2)  # strict much faster
    assert 1.5 < med[0, 1] / med[0, 0] < 3.0  # non-strict ~ 1/eps
    assert med[1, 1] / med[1, 0] < 1.5  # strict ~ log(1/eps)


# --------------------------------------------------------------------------- critical points


@pytest.mark.parametrize("dims", CONFIGS, ids=IDS)
def test_balanced_critical_point_is_critical_balanced_and_on_the_right_stratum(dims):
    X, Y = make_data(dims, seed=21)
    sets = critical_index_sets(X, Y, dims)
    W_ls = least_squares(X, Y)
    u = reduce_data(X, Y).U_Y
    for cs in sets:
        for middle in (0.0, 0.7):
            ws = balanced_critical_point(X, Y, dims, cs.index_set, middle=middle)
            scale = np.linalg.norm(Y @ X.T) * max(np.linalg.norm(w) for w in ws) ** (len(ws) - 1)
            assert max(np.abs(gi).max() for gi in gradient(ws, X, Y)) <= 1e-10 * scale
            u_s = u[:, list(cs.index_set)]
            assert_allclose(end_to_end(ws), u_s @ u_s.T @ W_ls, atol=1e-10 * np.abs(W_ls).max())
            if middle == 0.0:  # the A part is balanced: every invariant C_i vanishes
                assert max(np.abs(c).max() for c in invariants(ws)) <= 1e-10 * np.abs(W_ls).max()


def test_report_example_inertias():
    """See the Mathematical notes, "The Hessian and the landscape": (21, 0, 35) tight (non-strict), (23, 2, 31) with
    rank W_2 = 4 (strict)."""
    X, Y = report_data(0)
    dims, S = (5, 4, 4, 5), (0, 1, 2)
    tight = balanced_critical_point(X, Y, dims, S)
    strict = balanced_critical_point(X, Y, dims, S, middle=1.0)
    assert inertia(tight, X, Y).as_tuple() == (21, 0, 35)
    assert inertia(strict, X, Y).as_tuple() == (23, 2, 31)
    rows = [inertia_row(w, X, Y) for w in (tight, strict)]
    assert [r.kind for r in rows] == ["non_strict_saddle", "strict_saddle"]
    assert [r.middle_rank for r in rows] == [3, 4]
    assert tight_inertia_formula(dims, S) == (21, 0, 35)


def test_drop_directions_is_invariant_and_converges_to_the_predicted_saddle():
    dims = (4, 3, 3, 3)
    s = np.array([2.0, 1.3, 0.7])
    X, Y = np.eye(4), np.hstack([np.diag(s), np.zeros((3, 1))])
    g = np.random.default_rng(31)
    w = [np.stack(ws) for ws in zip(*[drop_directions(random_weights(dims, g), [0]) for _ in range(3)], strict=True)]
    res = gradient_flow_batch(w, X, Y, 200.0, grad_tol=1e-10)
    assert np.all(res.final_weights[-1][:, 0, :] == 0.0) and np.all(res.final_weights[0][:, :, 0] == 0.0)
    for k in range(3):
        lim = limit_critical_value(res.trajectory_weights(k), X, Y)
        assert lim.resolved and lim.index_set == (1, 2)
    with pytest.raises(ValueError, match="output indices"):
        drop_directions(random_weights(dims, g), [3])


# --------------------------------------------------------------------------- inertia tables


@pytest.mark.parametrize("dims", CONFIGS, ids=IDS)
def test_tight_table_matches_formula(dims):
    X, Y = make_data(dims, seed=41)
    rows = inertia_table(X, Y, dims, rng=42)
    assert len(rows) == len(critical_index_sets(X, Y, dims))
    for row in rows:
        assert row.inertia == tight_inertia_formula(dims, row.index_set)
        assert row.gap > 1e6
    n = len(dims) - 1
    non_strict = [r for r in rows if r.kind == "non_strict_saddle"]
    if n == 2:
        assert not non_strict  # Prop. 4 (ii): depth 2, every saddle strict
    else:  # top S with r < r_max at a tight point: non-strict
        assert {r.index_set for r in non_strict} == {tuple(range(k)) for k in range(min(dims))}


@pytest.mark.parametrize(
    "dims", [d for d in CONFIGS if len(d) >= 4], ids=[i for d, i in zip(CONFIGS, IDS) if len(d) >= 4]
)
def test_middle_rank_makes_saddles_strict(dims):
    """Prop. 4 (iii) of [CLC]: rank W_{N-1:2} > |S| implies a negative Hessian eigenvalue."""
    X, Y = make_data(dims, seed=51)
    rows = inertia_table(X, Y, dims, middle=1.0, rng=52)
    for row in rows:
        if row.middle_rank > row.rank:
            assert row.inertia[1] > 0
    pts = random_critical_points(X, Y, dims, 25, rng=53)
    rr = [inertia_row(w, X, Y) for w in pts]
    assert sum(r.middle_rank > r.rank for r in rr) >= 5
    assert all(r.inertia[1] > 0 for r in rr if r.middle_rank > r.rank)


def test_random_critical_points_reproducible():
    dims = (4, 4, 3, 4)
    X, Y = make_data(dims, seed=61)
    a = random_critical_points(X, Y, dims, 4, rng=62)
    b = random_critical_points(X, Y, dims, 4, rng=62)
    for wa, wb in zip(a, b, strict=True):
        for x, y in zip(wa, wb, strict=True):
            assert_array_equal(x, y)


def test_middle_rank_and_inertia_row_errors():
    ws = [np.ones((2, 2)), np.eye(2), np.ones((2, 2))]
    assert middle_rank(ws) == 2
    assert middle_rank([np.ones((3, 2)), np.ones((2, 3))]) == 3  # N = 2: identity of size d_1
    X, Y = make_data((2, 2, 2, 2), seed=71)
    with pytest.raises(ValueError, match="critical"):
        inertia_row(ws, X, Y)


def test_markdown_helpers():
    t = markdown_table(["S", "n-"], [["{1}", 0], ["∅", 2]])
    assert t.splitlines() == ["| S | n- |", "|---|---|", "| {1} | 0 |", "| ∅ | 2 |"]
    with pytest.raises(ValueError, match="cells"):
        markdown_table(["a"], [[1, 2]])
    assert format_index_set((0, 2)) == "{1, 3}"
    assert format_index_set(()) == "∅"
