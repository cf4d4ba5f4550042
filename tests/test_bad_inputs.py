"""Bad inputs get a clear early error naming the argument and what is allowed (issue 13, "keep it fixed").

One row per case: the call, the exception type, and a phrase the message must contain. The rows
cover the cases that were fixed (NaN tolerances, NaN noise, complex input, unnamed arguments) and
the ones that already behaved (NaN and infinite data, shapes, rank-deficient data, step sizes,
index sets, counts, seeds), so that none of them regresses.
"""

import math

import numpy as np
import pytest

import dlnlib
from dlnlib import _validation
from dlnlib import convergence as cv
from dlnlib import critical as cr
from dlnlib import dynamics as dy
from dlnlib import experiments as ex
from dlnlib import geometry as ge
from dlnlib import landscape as la
from dlnlib import losses as lo
from dlnlib import model as mo
from dlnlib import rates as ra
from dlnlib import stepsize as st

_hs = __import__("dlnlib.hessian", fromlist=["hessian"])  # `dlnlib.hessian` is also a function

NAN, INF = float("nan"), float("inf")
_g = np.random.default_rng(20261201)
DIMS = (3, 3, 2)
X = _g.standard_normal((3, 20))
Y = _g.standard_normal((2, 20))
W = mo.random_weights(DIMS, _g)
WB = [np.stack([w, 0.5 * w]) for w in W]  # a batch of K = 2
X_NAN = X.copy()
X_NAN[0, 0] = NAN
Y_INF = Y.copy()
Y_INF[1, 3] = INF
X_RANKDEF = np.vstack([X[:2], X[:1]])  # rank 2 < d_x = 3: Assumption 1 fails
X_FEW = X[:, :2]  # m = 2 < d_x = 3
W_BAD_CHAIN = [W[0], np.ones((2, 4))]
W_NAN = [W[0].copy(), W[1]]
W_NAN[0][0, 0] = NAN
SQ = lo.SquareLoss(np.diag([1.0, 0.5]))
TRAJ = dy.gradient_flow(W, X, Y, 0.5, grad_tol=None)


def _many_steps():
    return dy.gradient_descent(W, X, Y, 1e-3, 0)


CASES = [
    # ------------------------------------------------------------------ fixed by issue 13
    (lambda: dy.gradient_flow(W, X, Y, 1.0, rtol=NAN), ValueError, "rtol must be a finite positive number"),
    (lambda: dy.gradient_flow(W, X, Y, 1.0, atol=NAN), ValueError, "atol must be a finite positive number"),
    (lambda: dy.gradient_flow(W, X, Y, 1.0, rtol=-1), ValueError, "rtol must be a finite positive number"),
    (lambda: dy.gradient_flow(W, X, Y, 1.0, atol=0.0), ValueError, "atol must be a finite positive number"),
    (lambda: dy.gradient_flow(W, X, Y, 1.0, rtol="tight"), TypeError, "rtol must be a positive number"),
    (lambda: ex.make_data(DIMS, 0, noise=NAN), ValueError, "noise must be a finite non-negative number"),
    (lambda: ex.make_data(DIMS, 0, noise=-0.1), ValueError, "noise must be a finite non-negative number"),
    (lambda: ex.make_data(DIMS, 0, noise="loud"), TypeError, "noise must be a finite non-negative number"),
    (lambda: mo.loss(W, X + 1j, Y), TypeError, "X must be a real numeric array, got complex"),
    (lambda: mo.gradient(W, X, Y * (1 + 1e-3j)), TypeError, "Y must be a real numeric array, got complex"),
    (lambda: mo.loss([W[0] + 2j, W[1]], X, Y), TypeError, "must be a real numeric array, got complex"),
    (
        lambda: st.first_diverging_step(W, X, Y, eta0=0.1, max_doublings=2000),
        ValueError,
        "max_doublings must be at most",
    ),
    (lambda: mo.random_weights([4, "a", 3], 0), TypeError, "dims must be a sequence of positive integers"),
    (lambda: mo.random_weights([4, NAN, 3], 0), ValueError, "dims must be a sequence of positive integers"),
    (lambda: mo.random_weights("443", 0), TypeError, "dims must be a sequence of positive integers"),
    (lambda: _hs.hessian_fd(W, X, Y, chunk=0), ValueError, "chunk must be a positive integer"),
    (lambda: _hs.hessian_fd(W, X, Y, chunk=2.5), TypeError, "chunk must be a positive integer"),
    (lambda: _hs.hessian_fd(W, X, Y, eps="small"), TypeError, "eps must be a positive number"),
    (lambda: mo.random_weights(DIMS, -1), ValueError, "rng: an integer seed must be non-negative"),
    (lambda: mo.random_weights(DIMS, True), TypeError, "rng must be a numpy.random.Generator or an int seed"),
    (lambda: cr.inversion_number([], d_y=-3), ValueError, "d_y must be a positive integer"),
    (lambda: cr.inversion_number([0], d_y=2.0), TypeError, "d_y must be a positive integer"),
    (lambda: _hs.classify(W, X, Y, gtol="abc"), TypeError, "gtol must be a positive number"),
    (lambda: _hs.classify(W, X, Y, ptol=NAN), ValueError, "ptol must be a finite positive number"),
    (lambda: _hs.classification(W, X, Y, rank_tol=-1.0), ValueError, "rank_tol must be a finite positive number"),
    # ------------------------------------------------------------------ weights
    (lambda: mo.loss([], X, Y), TypeError, "weights must be a non-empty list"),
    (lambda: mo.loss(np.ones((2, 3)), X, Y), TypeError, "weights must be a non-empty list"),
    (lambda: mo.loss(W_BAD_CHAIN, X, Y), ValueError, "must have 3 columns"),
    (lambda: mo.loss(W_NAN, X, Y), ValueError, "NaN or infinite"),
    (lambda: mo.loss([W[0][0], W[1]], X, Y), ValueError, "must have ndim in (2,)"),
    (lambda: mo.loss([np.array([["a", "b"]]), W[1]], X, Y), TypeError, "must be a real numeric array"),
    (lambda: mo.loss([W[0], np.ones((2, 3, 1))], X, Y), ValueError, "ndim"),
    (lambda: mo.gradient(W_NAN, X, Y), ValueError, "NaN or infinite"),
    (lambda: mo.end_to_end([]), TypeError, "non-empty list"),
    (lambda: mo.end_to_end(W_BAD_CHAIN), ValueError, "columns"),
    (lambda: mo.invariants(W_NAN), ValueError, "NaN or infinite"),
    (lambda: mo.partial_product(W, 5, 1), ValueError, "partial_product"),
    (lambda: mo.partial_product(W, 1, 0), ValueError, "partial_product"),
    (lambda: mo.random_weights([3], 0), ValueError, "at least two entries"),
    (lambda: mo.random_weights([3, 0, 2], 0), ValueError, "positive integers"),
    (lambda: mo.random_weights([3, -2, 2], 0), ValueError, "positive integers"),
    (lambda: mo.random_weights([3, 2.5, 2], 0), ValueError, "positive integers"),
    (lambda: mo.random_weights(5, 0), TypeError, "dims must be a sequence"),
    (lambda: mo.random_weights(DIMS, None), TypeError, "rng is required"),
    (lambda: mo.random_weights(DIMS, "seed"), TypeError, "rng must be a numpy.random.Generator"),
    (lambda: mo.random_weights(DIMS, 0.5), TypeError, "rng must be a numpy.random.Generator"),
    (lambda: mo.random_weights(DIMS, 0, scale=0.0), ValueError, "scale"),
    (lambda: mo.random_weights(DIMS, 0, scale=NAN), ValueError, "scale"),
    (lambda: mo.random_weights(DIMS, 0, scale=-1), ValueError, "scale"),
    (lambda: mo.balanced_weights(DIMS, 0, scale=INF), ValueError, "scale"),
    (lambda: mo.balanced_weights([3], 0), ValueError, "at least two entries"),
    # ------------------------------------------------------------------ data
    (lambda: mo.loss(W, X_NAN, Y), ValueError, "X contains 1 NaN or infinite"),
    (lambda: mo.loss(W, X, Y_INF), ValueError, "Y contains 1 NaN or infinite"),
    (lambda: mo.loss(W, X[0], Y), ValueError, "X must have ndim in (2,)"),
    (lambda: mo.loss(W, X, Y[:, :5]), ValueError, "same number of samples"),
    (lambda: mo.loss(W, X[:2], Y), ValueError, "expects X with 3 rows (d_x)"),
    (lambda: mo.loss(W, X, np.vstack([Y, Y])), ValueError, "produces 2 outputs (d_y)"),
    (lambda: mo.loss(W, "data", Y), TypeError, "X must be a real numeric array"),
    (lambda: mo.loss(W, [[1, 2], [3]], Y), TypeError, "X must be a real numeric array"),
    (lambda: mo.check_data(X_RANKDEF, Y, DIMS), ValueError, "Assumption 2 of [CLC]: X must have full row rank"),
    (lambda: mo.check_data(X_FEW, Y[:, :2], DIMS), ValueError, "Assumption 1"),
    (lambda: mo.check_data(X, np.zeros_like(Y), DIMS), ValueError, "Assumption 2"),
    (lambda: mo.check_data(X, Y, (3, 1, 2)), ValueError, "filling"),
    (lambda: mo.check_data(X, Y, (3, 3, 3)), ValueError, "dims[-1] = d_y must equal the number of rows of Y"),
    (lambda: mo.check_data(X, Y, DIMS, rtol=-1.0), ValueError, "rtol must be a finite positive number"),
    (lambda: mo.check_data(X_NAN, Y, DIMS), ValueError, "NaN or infinite"),
    (lambda: mo.reduce_data(X_RANKDEF, Y), ValueError, "Assumption 2 of [CLC]: X must have full row rank"),
    (lambda: mo.reduce_data(X, Y[:, :4]), ValueError, "same number of samples"),
    (lambda: mo.least_squares(X_RANKDEF, Y), ValueError, "full row rank (Assumption 2 of [CLC])"),
    (lambda: mo.least_squares(X_NAN, Y), ValueError, "NaN or infinite"),
    (lambda: ex.make_data(DIMS, 0, kind="uniform"), ValueError, "kind must be one of"),
    (lambda: ex.make_data(DIMS, 0, n_samples=2), ValueError, "Assumption 1"),
    (lambda: ex.make_data(DIMS, 0, n_samples=0), ValueError, "n_samples must be a positive integer"),
    (lambda: ex.make_data(DIMS, 0, n_samples=10.5), TypeError, "n_samples must be a positive integer"),
    (lambda: ex.make_data([3], 0), ValueError, "at least two entries"),
    (lambda: st.report_stepsize_data(0, d=0), ValueError, "d"),
    (lambda: st.report_stepsize_data(0, noise=NAN), ValueError, "noise"),
    # ------------------------------------------------------------------ gradient flow and descent
    (lambda: dy.gradient_flow(W, X, Y, 0.0), ValueError, "t_max must be a finite positive number"),
    (lambda: dy.gradient_flow(W, X, Y, -1.0), ValueError, "t_max must be a finite positive number"),
    (lambda: dy.gradient_flow(W, X, Y, NAN), ValueError, "t_max must be a finite positive number"),
    (lambda: dy.gradient_flow(W, X, Y, INF), ValueError, "t_max must be a finite positive number"),
    (lambda: dy.gradient_flow(W, X, Y, "long"), TypeError, "t_max must be a positive number"),
    (lambda: dy.gradient_flow(W, X, Y, 1.0, grad_tol=-1.0), ValueError, "grad_tol"),
    (lambda: dy.gradient_flow(W, X, Y, 1.0, t_eval=[0.0, 2.0]), ValueError, "t_eval"),
    (lambda: dy.gradient_flow(W, X, Y, 1.0, t_eval=[0.5, 0.1]), ValueError, "t_eval"),
    (lambda: dy.gradient_flow(W_NAN, X, Y, 1.0), ValueError, "NaN or infinite"),
    (lambda: dy.gradient_flow(W, X_NAN, Y, 1.0), ValueError, "NaN or infinite"),
    (lambda: dy.gradient_flow_batch(WB, X, Y, 1.0, rtol=NAN), ValueError, "rtol must be a finite positive number"),
    (lambda: dy.gradient_flow_batch(WB, X, Y, 1.0, atol=-1e-9), ValueError, "atol must be a finite positive number"),
    (lambda: dy.gradient_flow_batch(WB, X, Y, 0.0), ValueError, "t_max must be a finite positive number"),
    (lambda: dy.gradient_flow_batch(W, X, Y, 1.0), ValueError, "ndim in (3,)"),
    (lambda: dy.gradient_flow_batch([WB[0], WB[1][:1]], X, Y, 1.0), ValueError, "batch sizes differ"),
    (lambda: dy.gradient_flow_batch(WB, X, Y, 1.0, max_steps=0), ValueError, "max_steps must be a positive integer"),
    (lambda: dy.gradient_flow_batch([], X, Y, 1.0), TypeError, "non-empty list of 3-D arrays"),
    (lambda: dy.gradient_descent(W, X, Y, 0.0, 10), ValueError, "step"),
    (lambda: dy.gradient_descent(W, X, Y, NAN, 10), ValueError, "step"),
    (lambda: dy.gradient_descent(W, X, Y, -0.1, 10), ValueError, "step"),
    (lambda: dy.gradient_descent(W, X, Y, INF, 10), ValueError, "step"),
    (lambda: dy.gradient_descent(W, X, Y, 1e-3, 0), ValueError, "n_steps must be a positive integer"),
    (lambda: dy.gradient_descent(W, X, Y, 1e-3, 2.5), TypeError, "n_steps must be a positive integer"),
    (lambda: dy.gradient_descent(W, X, Y, 1e-3, 10, record_every=0), ValueError, "record_every"),
    (lambda: dy.gradient_descent(W, X, Y, 1e-3, 10, grad_tol=NAN), ValueError, "grad_tol"),
    (lambda: dy.gradient_descent(W, X, Y, 1e-3, 10, divergence_factor=NAN), ValueError, "divergence_factor must be"),
    (lambda: dy.gradient_descent_batch(WB, X, Y, [1e-3, NAN], 10), ValueError, "step"),
    (lambda: dy.gradient_descent_batch(WB, X, Y, [1e-3, 1e-3, 1e-3], 10), ValueError, "step"),
    (lambda: dy.gradient_descent_batch(WB, X, Y, 1e-3, 0), ValueError, "n_steps must be a positive integer"),
    (lambda: cv.gd_invariant_increment(W, X, Y, NAN), ValueError, "step"),
    (lambda: cv.gd_invariant_increment(W, X, Y, -1.0), ValueError, "step"),
    (lambda: st.descent_end_to_end_norms(W, X, Y, 0.0, 10), ValueError, "step"),
    (lambda: st.descent_end_to_end_norms(W, X, Y, 1e-3, 0), ValueError, "n_steps"),
    # ------------------------------------------------------------------ step sizes
    (lambda: st.first_diverging_step(W, X, Y, eta0=0.0), ValueError, "eta0 must be a finite positive number"),
    (lambda: st.first_diverging_step(W, X, Y, eta0=NAN), ValueError, "eta0 must be a finite positive number"),
    (lambda: st.first_diverging_step(W, X, Y, eta0=0.1, n_epochs=0), ValueError, "n_epochs must be a positive integer"),
    (lambda: st.first_diverging_step(W, X, Y, eta0=0.1, max_doublings=-1), ValueError, "max_doublings must be"),
    (lambda: st.first_diverging_step(W, X, Y, eta0=0.1, max_doublings=1.5), ValueError, "max_doublings must be"),
    (lambda: st.step_size_bound(W, X, Y, m_variant="wrong"), ValueError, "m_variant"),
    (lambda: st.step_size_bound(W, X, Y, alpha=-1.0), ValueError, "alpha"),
    (lambda: st.step_size_bound(W, X, Y, delta=NAN), ValueError, "delta"),
    (lambda: st.step_size_bound(W_NAN, X, Y), ValueError, "NaN or infinite"),
    (lambda: st.step_size_bounds(DIMS, X, Y, 0, 0), ValueError, "n_networks must be a positive integer"),
    (lambda: st.step_size_bounds(DIMS, X, Y, 0, 5, scale=0.0), ValueError, "scale"),
    (lambda: st.balancedness([]), TypeError, "non-empty list"),
    (lambda: st.first_diverging_steps([W], X, Y, n_epochs=0), ValueError, "n_epochs"),
    (lambda: st.report_instances(0, 0, DIMS), ValueError, "n"),
    # ------------------------------------------------------------------ index sets and critical points
    (lambda: cr.critical_point(X, Y, DIMS, (5,), rng=0), ValueError, "out-of-range indices [5]"),
    (lambda: cr.critical_point(X, Y, DIMS, (0, 0), rng=0), ValueError, "duplicate indices"),
    (lambda: cr.critical_point(X, Y, (3, 1, 2), (0, 1), rng=0), ValueError, "exceeds r_max"),
    (lambda: cr.critical_point(X, Y, DIMS, (-1,), rng=0), ValueError, "out-of-range"),
    (lambda: cr.critical_point(X, Y, DIMS, "01", rng=0), TypeError, "S must be a collection of integer indices"),
    (lambda: cr.critical_point(X, Y, DIMS, (0.5,), rng=0), TypeError, "S must contain integers"),
    (lambda: cr.critical_point(X, Y, DIMS, [[0, 1]], rng=0), TypeError, "S must be a collection"),
    (lambda: cr.critical_point(X, Y, (3, 2), (0,), rng=0), ValueError, "depth N = 1"),
    (lambda: cr.critical_point(X_RANKDEF, Y, DIMS, (0,), rng=0), ValueError, "Assumption 2 of [CLC]"),
    (lambda: cr.critical_value_of(X, Y, (7,)), ValueError, "out-of-range"),
    (lambda: cr.inversion_number((3,), 2), ValueError, "out-of-range"),
    (lambda: cr.inversion_number("ab", 2), TypeError, "S must be a collection"),
    (lambda: cr.critical_index_sets(X, Y, DIMS, max_sets=0), ValueError, "max_sets"),
    (lambda: cr.critical_values(X_NAN, Y, DIMS), ValueError, "NaN or infinite"),
    (lambda: cr.limit_critical_value(W, X, Y, rtol=-1.0), ValueError, "rtol"),
    (lambda: cr.limit_critical_value(W_BAD_CHAIN, X, Y), ValueError, "columns"),
    (lambda: la.tight_inertia_formula(DIMS, (4,)), ValueError, "out-of-range"),
    (lambda: la.balanced_critical_point(X, Y, DIMS, (0, 0)), ValueError, "duplicate"),
    (lambda: la.drop_directions(W, [9]), ValueError, "drop"),
    (lambda: la.random_critical_points(X, Y, DIMS, 0, rng=0), ValueError, "n must be a positive integer"),
    (lambda: la.perturbed_batch(W, [0.1], 0, rng=0), ValueError, "n must be a positive integer"),
    (lambda: la.perturbed_batch(W, [-0.1], 2, rng=0), ValueError, "eps"),
    (lambda: la.escape_times([[1.0, 0.5]], 1.0, 2.0), ValueError, "lower_value"),
    (lambda: la.escape_times([[1.0, 0.5]], 1.0, 0.0, fraction=1.5), ValueError, "fraction"),
    (lambda: la.plateaus([1.0, 0.5], [], rtol=-1.0), ValueError, "rtol"),
    (lambda: la.middle_rank(W, rank_tol=-1.0), ValueError, "rank_tol must be a finite positive number"),
    (lambda: la.next_lower_value([1.0, 0.5], NAN), ValueError, "value"),
    # ------------------------------------------------------------------ Hessian, geometry
    (lambda: _hs.hessian(W_NAN, X, Y), ValueError, "NaN or infinite"),
    (lambda: _hs.hessian(W, X, Y[:, :3]), ValueError, "same number of samples"),
    (lambda: _hs.hessian_vector_product(W, X, Y, np.ones(5)), ValueError, "v"),
    (lambda: _hs.hessian_vector_product(W, X, Y, np.full(15, NAN)), ValueError, "NaN or infinite"),
    (lambda: _hs.inertia(W, X, Y, tol=-1.0), ValueError, "tol"),
    (lambda: _hs.pairing_criterion(W, X, Y, -1), ValueError, "r must be a non-negative integer"),
    (lambda: _hs.hessian_fd(W, X, Y, eps=0.0), ValueError, "eps must be a finite positive number"),
    (lambda: ge.critical_manifold_dimension(DIMS, -1), ValueError, "r"),
    (lambda: ge.critical_manifold_dimension(DIMS, 5), ValueError, "r"),
    (lambda: ge.predicted_unstable_dimension(DIMS, (9,)), ValueError, "out-of-range"),
    (lambda: ge.scalar_flow_limit(1.0, 1.0, 0.0, 1.0), ValueError, "x"),
    (lambda: ge.scalar_flow_limit(NAN, 1.0, 1.0, 1.0), ValueError, "scalar_flow_limit needs finite inputs"),
    (lambda: ge.tangent_dimension(W, X, Y, eps=0.0), ValueError, "eps"),
    (lambda: ge.project_to_critical_set(W, X, Y, max_iter=0), ValueError, "max_iter"),
    (lambda: ge.distance_to_critical_set(W_NAN, X, Y), ValueError, "NaN or infinite"),
    # ------------------------------------------------------------------ theory
    (lambda: ra.decay_rates([0.0, 1.0], [1.0], [1.0, 0.5]), ValueError, "same length"),
    (lambda: ra.decay_rates([0.0, 1.0], [1.0, NAN], [1.0, 0.5]), ValueError, "NaN or infinite"),
    (lambda: ra.fit_loglog_slope([1.0, 2.0], [1.0, -1.0]), ValueError, "positive"),
    (lambda: ra.fit_loglog_slope([1.0], [1.0]), ValueError, "need at least 2 points"),
    (lambda: ra.exponential_bound_excess([0.0, 1.0], [1.0, 0.5], NAN), ValueError, "rate"),
    (lambda: cv.prop2_rate(W, rtol=0.0), ValueError, "rtol"),
    (lambda: cv.remark4_weights(DIMS, 0, scales=[1.0]), ValueError, "scales"),
    (lambda: cv.remark4_weights(DIMS, 0, scales=[1.0, -1.0]), ValueError, "scales"),
    (lambda: cv.lemma24_terms([]), TypeError, "non-empty list"),
    # ------------------------------------------------------------------ losses (Section 4)
    (lambda: lo.SquareLoss(np.full((2, 2), NAN)), ValueError, "NaN or infinite"),
    (lambda: lo.WeightedLogCoshLoss(np.eye(2), -np.ones((2, 2))), ValueError, "weights"),
    (lambda: lo.HuberLoss(np.eye(2), delta=0.0), ValueError, "delta"),
    (lambda: lo.composite_loss([np.ones((3, 2))], SQ), ValueError, "shape"),
    (lambda: lo.local_minima_search((2, 2, 2), SQ, 0, 0), ValueError, "n_starts must be a positive integer"),
    (lambda: lo.local_minima_search((2, 2, 2), SQ, 0, 2, method="nope"), ValueError, "method"),
    (lambda: lo.local_minima_search((3, 2, 2), SQ, 0, 2), ValueError, "dims"),
    (lambda: lo.certify_local_minimum([np.eye(2)], SQ, tol=-1.0), ValueError, "tol"),
    (lambda: lo.is_filling([2]), ValueError, "at least two entries"),
    (lambda: lo.pure_spurious_table(np.eye(2), (3, 2, 3)), ValueError, "dims"),
    (lambda: lo.rank_one_profile(SQ, [0.0], [0.0], [NAN]), ValueError, "NaN or infinite"),
    # ------------------------------------------------------------------ experiments
    (lambda: ex.ovf_experiment(DIMS, n_data=0, n_inits=2, rng=0), ValueError, "n_data must be a positive integer"),
    (lambda: ex.ovf_experiment(DIMS, n_data=1, n_inits=0, rng=0), ValueError, "n_inits must be a positive integer"),
    (lambda: ex.ovf_experiment(DIMS, n_data=1, n_inits=2, rng=None), TypeError, "rng is required"),
    (lambda: ex.ovf_experiment(DIMS, n_data=1, n_inits=2, rng=0, t_max=NAN), ValueError, "t_max"),
    (lambda: ex.ovf_experiment(DIMS, n_data=1, n_inits=2, rng=0, init_scale=0.0), ValueError, "init_scale"),
    (lambda: ex.ovf_experiment(DIMS, n_data=1, n_inits=2, rng=0, data="nope"), ValueError, "data"),
    (lambda: ex.ovf_experiment(DIMS, n_data=1, n_inits=2, rng=-5), ValueError, "rng"),
    (lambda: ex.wilson_interval(3, 0), ValueError, "n"),
    (lambda: ex.wilson_interval(5, 3), ValueError, "k"),
    (lambda: ex.wilson_interval(1, 3, confidence=1.5), ValueError, "confidence"),
    (lambda: _validation.as_rng(np.random.default_rng), TypeError, "rng must be"),
    (lambda: _validation.check_positive(True, "n", integer=True), TypeError, "n must be a positive integer"),
    (lambda: _validation.as_finite_array([1.0, INF], "v"), ValueError, "v contains 1 NaN or infinite"),
    (lambda: _validation.as_finite_array(np.ones((2, 2)), "v", ndim=1), ValueError, "v must have ndim in (1,)"),
    (lambda: _validation.check_tolerances(1e-6, NAN), ValueError, "atol must be a finite positive number"),
]


def _case_id(case):
    _, exc, phrase = case
    return f"{exc.__name__}-{phrase[:40]}"


@pytest.mark.parametrize(("call", "exc", "phrase"), CASES, ids=[_case_id(c) for c in CASES])
def test_bad_input_is_refused_early_and_named(call, exc, phrase):
    with pytest.raises(exc) as info:
        call()
    assert phrase in str(info.value), f"message {str(info.value)!r} lacks {phrase!r}"


def test_the_table_is_large_and_covers_every_fixed_case():
    assert len(CASES) >= 100
    assert not math.isnan(TRAJ.loss[-1])
    assert dlnlib.gradient_flow is dy.gradient_flow
