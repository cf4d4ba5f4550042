"""Tests for dlnlib.experiments: Wilson interval and the OVF Monte Carlo runner (see the Mathematical notes, "The
overfitting conjecture")."""

from __future__ import annotations

import itertools
import math
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dlnlib.experiments import OVFResult, make_data, ovf_experiment, wilson_interval
from dlnlib.model import check_data

Z95 = 1.959963984540054


def wilson_by_hand(k, n, z=Z95):
    p = k / n
    center = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return center - half, center + half


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [(0, 10, (0.0, 0.2775)), (5, 10, (0.2366, 0.7634)), (10, 10, (0.7225, 1.0)), (100, 100, (0.9630, 1.0))],
)
def test_wilson_known_values(k, n, expected):
    assert_allclose(wilson_interval(k, n), expected, atol=5e-5)


def test_wilson_matches_hand_formula():
    g = np.random.default_rng(0)
    for _ in range(50):
        n = int(g.integers(1, 500))
        k = int(g.integers(0, n + 1))
        low, high = wilson_by_hand(k, n)
        assert_allclose(wilson_interval(k, n), (max(low, 0.0), min(high, 1.0)), rtol=1e-12, atol=1e-15)
    # other confidence levels: z = 2.5758 for 99 %
    assert_allclose(wilson_interval(3, 20, confidence=0.99), wilson_by_hand(3, 20, z=2.5758293035489004), rtol=1e-12)


@pytest.mark.parametrize(("k", "n"), [(-1, 10), (11, 10), (0, 0)])
def test_wilson_value_errors(k, n):
    with pytest.raises(ValueError):
        wilson_interval(k, n)


def test_wilson_type_and_confidence_errors():
    with pytest.raises(TypeError):
        wilson_interval(1.5, 10)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 10, confidence=1.0)


KW = {"n_data": 2, "n_inits": 6, "t_max": 2e3, "progress": False}


def test_ovf_reproducible_and_bit_identical_with_process_pool():
    a = ovf_experiment((3, 3, 2), rng=11, chunk_size=4, **KW)
    b = ovf_experiment((3, 3, 2), rng=11, chunk_size=4, **KW)
    with ProcessPoolExecutor(2) as ex:
        c = ovf_experiment((3, 3, 2), rng=11, chunk_size=4, executor=ex, **KW)
    assert isinstance(a, OVFResult)
    for res in (b, c):
        for name in ("final_loss", "t_final", "status", "distance_optimum", "excess_loss", "resolved"):
            assert_array_equal(getattr(a, name), getattr(res, name))
        assert a.index_set == res.index_set
    # OVF: every run converges to the global minimum for generic data (N = 2: a theorem)
    assert a.n_trials == 12 and a.n_global == a.n_resolved == 12
    assert a.fraction == 1.0 and a.interval == wilson_interval(12, 12)
    assert np.all(a.distance_least_squares < 1e-6)
    assert_array_equal(a.data_index, np.repeat([0, 1], 6))


def test_ovf_results_do_not_depend_on_chunking_or_slots():
    a = ovf_experiment((3, 3, 2), rng=3, chunk_size=12, slots=12, **KW)
    for chunk, slots in ((5, 5), (7, 2)):
        b = ovf_experiment((3, 3, 2), rng=3, chunk_size=chunk, slots=slots, **KW)
        # bit-identical: every trial has its own streams, and the continuous-batching integrator acts row by row
        for name in ("final_loss", "t_final", "status", "distance_optimum", "critical_value"):
            assert_array_equal(getattr(a, name), getattr(b, name))
        assert a.index_set == b.index_set
        assert_array_equal(a.global_minimum_value, b.global_minimum_value)


def test_ovf_consecutive_experiments_on_one_generator_use_new_streams():
    rng = np.random.default_rng(4)
    a = ovf_experiment((3, 3, 2), rng=rng, **KW)
    b = ovf_experiment((3, 3, 2), rng=rng, **KW)
    assert not np.array_equal(a.final_loss, b.final_loss)
    # the lazy streams are the children the eager SeedSequence.spawn tree gives
    root = np.random.SeedSequence(9)
    kids = root.spawn(3)
    data_ss, init_parent = kids[2].spawn(2)
    lazy = np.random.default_rng(np.random.SeedSequence(9))
    from dlnlib.experiments import _streams

    st = _streams(lazy, 3)
    assert_array_equal(st.data(2).generate_state(4), data_ss.generate_state(4))
    assert_array_equal(st.init(2, 5).generate_state(4), init_parent.spawn(6)[5].generate_state(4))


def test_ovf_refuses_what_cannot_fit_before_building_trials():
    # 10**10 trials: refused by an estimate made before any trial, stream or task exists
    with pytest.raises(ValueError, match="cannot fit in memory") as err:
        ovf_experiment((3, 3, 2), n_data=10**5, n_inits=10**5, rng=0, progress=False)
    assert "campaign" in str(err.value) and "1e+10 trials" in str(err.value)


@pytest.mark.parametrize("dims", [(3, 3, 3), (3, 3, 3, 3)], ids=["N=2", "N=3"])
def test_negative_control_is_classified_as_saddle(dims):
    res = ovf_experiment(dims, rng=5, data="reduced", init="invariant", n_data=2, n_inits=5, t_max=3e3, progress=False)
    assert res.n_resolved == res.n_trials
    assert res.n_global == 0 and res.fraction == 0.0
    assert set(res.index_set) == {(1, 2)}  # the saddle missing s_1
    assert np.all(res.excess_loss > 0)


def test_invariant_init_needs_reduced_data():
    with pytest.raises(ValueError, match="invariant"):
        ovf_experiment((3, 3, 2), rng=0, init="invariant", **KW)


def test_degenerate_data_needs_opt_in_and_is_identified_by_value():
    X, Y = make_data((4, 2, 3), 0, kind="degenerate")
    assert_allclose(X @ X.T, np.eye(4), atol=1e-12)
    with pytest.raises(ValueError, match="Assumption 3"):
        check_data(X, Y, (4, 2, 3), allow_non_filling=True)
    with pytest.raises(ValueError, match="allow_degenerate"):
        ovf_experiment((4, 2, 3), rng=0, data="degenerate", **KW)
    res = ovf_experiment((4, 2, 3), rng=0, data="degenerate", allow_degenerate=True, **KW)
    assert "critical value only" in res.identification
    assert all(s is None for s in res.index_set)
    assert res.n_global == res.n_trials  # the global minimum *value* is reached
    # ... but the end-to-end map is not unique: the repeated value straddles the rank cut r_max = 2
    assert np.max(res.distance_optimum) > 1e-2


def test_callable_data_and_init():
    def data(rng, dims):
        return make_data(dims, rng, n_samples=12)

    def init(rng, dims):
        return [0.5 * rng.standard_normal((b, a)) for a, b in itertools.pairwise(dims)]

    res = ovf_experiment((3, 3, 2), rng=1, data=data, init=init, **KW)
    assert res.data == "data" and res.init == "init"
    assert res.n_global == res.n_trials


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"data": "nope"}, "data must be"),
        ({"init": "nope"}, "init must be"),
        ({"n_data": 0}, "n_data"),
        ({"slots": 0}, "slots"),
    ],
)
def test_ovf_argument_errors(kwargs, match):
    args = {**KW, **kwargs}
    with pytest.raises(ValueError, match=match):
        ovf_experiment((3, 3, 2), rng=0, **args)
