"""Batched step-size experiments ([NRT], in dlnlib.stepsize) and functional-space views ([TKB], in dlnlib.losses)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dlnlib.companion.text import rows_to_markdown
from dlnlib.losses import SquareLoss, WeightedLogCoshLoss, pure_spurious_table, rank_one_profile
from dlnlib.model import end_to_end, random_weights
from dlnlib.stepsize import (
    bounds_or_nan,
    descent_end_to_end_norms,
    first_diverging_step,
    first_diverging_steps,
    report_instances,
    report_stepsize_data,
    step_size_bound,
    step_size_bounds,
)


def test_report_data_shapes_and_model():
    X, Y = report_stepsize_data(3, noise=0.0)
    assert X.shape == Y.shape == (5, 5)
    assert_allclose(Y, np.diag(np.arange(1.0, 6.0)) @ X, rtol=1e-15)
    with pytest.raises(ValueError, match="noise"):
        report_stepsize_data(3, noise=-1.0)


def test_instances_shared_data_match_step_size_bounds():
    dims = (5, 5, 5, 5)
    nets, X, Y = report_instances(4, 6, dims, scale=0.15, fresh_data=False)
    assert X.shape == (6, 5, 5) and np.all(X == X[0]) and np.all(Y == Y[0])
    fresh = report_instances(4, 6, dims, scale=0.15)[1]
    assert not np.allclose(fresh[1], fresh[0])
    eta = bounds_or_nan(nets, X, Y)
    for j in range(6):
        assert_allclose(eta[j], step_size_bound(nets[j], X[j], Y[j]).eta, rtol=1e-12)
    # NaN exactly where step_size_bounds reports an invalid network (large init: alpha >= 1 somewhere)
    rng = np.random.default_rng(0)
    X0, Y0 = report_stepsize_data(rng)
    children = np.random.default_rng(1).spawn(40)
    big = [random_weights(dims, c, scale=0.4) for c in children]
    ref = step_size_bounds(dims, X0, Y0, 1, 40, scale=0.4)
    got = bounds_or_nan(big, X0, Y0)
    assert 0 < ref.fraction_valid < 1
    assert_allclose(got, ref.eta, rtol=1e-10, equal_nan=True)
    with pytest.raises(ValueError, match="d_x = d_y"):
        report_instances(0, 2, (5, 2, 4))


def test_first_diverging_steps_agrees_with_single_network_runs():
    nets, X, Y = report_instances(5, 3, (5, 5, 5, 5), scale=0.15)
    res = first_diverging_steps(nets, X, Y, n_epochs=300, max_doublings=18)
    assert res.fraction_diverged == 1.0
    for j in range(3):
        single = first_diverging_step(nets[j], X[j], Y[j], eta0=0.9 * res.eta[j], n_epochs=300, max_doublings=18)
        assert res.k[j] == single.k
        assert_allclose(res.first_diverging_step[j], single.first_diverging_step, rtol=1e-14)


def test_descent_norms_stay_below_corrected_M():
    nets, X, Y = report_instances(2, 1, (5, 5, 5, 5), scale=0.15)
    b = step_size_bound(nets[0], X[0], Y[0])
    losses, norms = descent_end_to_end_norms(nets[0], X[0], Y[0], 0.9 * b.eta, 500)
    assert losses.shape == norms.shape == (501,)
    assert np.all(np.diff(losses) <= 1e-12 * losses[0])
    assert norms.max() <= b.M
    assert_allclose(norms[0], np.linalg.norm(end_to_end(nets[0]), 2), rtol=1e-14)


def test_rank_one_profile_minima_of_the_tkb_example():
    ell = WeightedLogCoshLoss(np.diag([1.0, 0.8]), np.array([[1.0, 20.0], [20.0, 1.0]]))
    th = np.linspace(0, np.pi, 5)[:-1]  # 0, pi/4, pi/2, 3pi/4
    vals, sig = rank_one_profile(ell, th, th, np.linspace(-2, 2, 401))
    assert vals.shape == sig.shape == (4, 4)
    assert_allclose(vals[0, 0], np.log(np.cosh(0.8)), rtol=1e-12)  # e1 e1^T, sigma = 1
    assert_allclose(vals[2, 2], np.log(np.cosh(1.0)), rtol=1e-12)  # 0.8 e2 e2^T
    assert_allclose(sig[2, 2], 0.8, atol=1e-12)
    assert vals.min() == vals[0, 0]
    sq = SquareLoss(np.diag([1.0, 0.8]))
    vals_sq, _ = rank_one_profile(sq, th, th, np.linspace(-2, 2, 401))
    assert_allclose(vals_sq[0, 0], 0.32, rtol=1e-12)
    with pytest.raises(ValueError, match="2 x 2"):
        rank_one_profile(SquareLoss(np.eye(3)), th, th, th)


def test_pure_spurious_table_square_loss():
    rows = pure_spurious_table(np.diag([3.0, 2.0, 1.0]), (3, 2, 3))
    assert len(rows) == 7
    # See the Mathematical notes, "Pure and spurious critical points": |S| = r_max pure, |S| < r_max spurious
    for r in rows:
        assert r["pure_spurious"] == ("pure" if r["rank"] == 2 else "spurious")
        assert (r["kind"] == "global_minimum") == (r["S"] == (1, 2))
        if r["rank"] == 2:  # critical on the variety: the projected gradient vanishes
            assert r["projected"] < 1e-10 and r["slope"] == pytest.approx(0.0, abs=1e-5)
        else:  # a line inside {rank <= 2} decreases the loss at first order, at the predicted rate
            assert r["projected"] > 0.5 and r["slope"] == pytest.approx(-r["projected"], rel=1e-4)
    filling = pure_spurious_table(np.diag([3.0, 2.0, 1.0]), (3, 3, 3))
    assert [r["pure_spurious"] for r in filling].count("pure") == 1
    md = rows_to_markdown(rows[:2], {"S": "S", "top": "top", "value": "L"}, formats={"value": "{:.2f}"})
    assert md.splitlines()[2] == "| {1, 2} | yes | 0.50 |"
    md = rows_to_markdown([{"S": (), "kind": "non_strict_saddle"}], {"S": "S", "kind": "kind"})
    assert md.splitlines()[2] == "| ∅ | non-strict saddle |"
