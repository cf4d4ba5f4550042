"""Helpers for the chapters on related results: [NRT] step sizes and [TKB] pure/spurious points.

See the Mathematical notes, "Step sizes for gradient descent" and "Pure and spurious critical points". The logic of the
bound and of the losses lives in :mod:`dlnlib.stepsize` and :mod:`dlnlib.losses`; this module only adds the batched
experiments and
the functional-space views those chapters plot.

* :func:`report_stepsize_data`: the student report's §5.4 data (``X`` 5x5 Gaussian,
  ``Y = diag(1..5) X + noise``).
* :func:`report_instances`: many random instances (networks, with fresh or shared data).
* :func:`bounds_or_nan`: the bound per network, NaN where the balancedness hypothesis fails.
* :func:`first_diverging_steps`: the report's doubling experiment for many networks at once
  (one :func:`~dlnlib.dynamics.gradient_descent_batch` over networks x candidate steps).
* :func:`descent_end_to_end_norms`: ``L(W(k))`` and ``||W_{N:1}(k)||_2`` along one GD run (to
  check ``||W_{N:1}(k)||_2 <= M``).
* :func:`pure_spurious_table`: pure/spurious and strict/non-strict verdicts of square-loss critical points.
* :func:`rank_one_profile`: ``min_σ ℓ(σ u_θ v_φ^T)`` over the rank-one ``2 x 2`` matrices of
  direction ``(θ, φ)``, the functional-space landscape of the non-filling widths ``(2, 1, 2)``.

References
----------
[NRT] G. M. Nguegnang, H. Rauhut, U. Terstiege, arXiv:2108.02040, Theorem 2.4 (as quoted in the
student report).
[TKB] M. Trager, K. Kohn, J. Bruna, ICLR 2020 (arXiv:1910.01671).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ._validation import as_finite_array, as_rng, as_weights, check_positive
from .dynamics import DIVERGED, gradient_descent_batch
from .losses import EndToEndLoss
from .model import (
    _check_dims,
    _check_problem,
    _end_to_end,
    _gradient_from_e,
    _prefix_products,
    random_weights,
)
from .stepsize import _check_variant, _eta_or_nan

__all__ = [
    "DivergenceSample",
    "bounds_or_nan",
    "descent_end_to_end_norms",
    "first_diverging_steps",
    "pure_spurious_table",
    "rank_one_profile",
    "report_instances",
    "report_stepsize_data",
    "rows_to_markdown",
]


def report_stepsize_data(rng, *, d: int = 5, noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Data of the student report's step-size experiment (§5.4; see Chen, Choi and Scialanga, Math 273A final project).

    ``X`` is ``d x d`` standard Gaussian and ``Y = diag(1, ..., d) X + noise * Z`` with ``Z``
    standard Gaussian (the report writes ``N(0, 0.1)``; read as standard deviation 0.1). Our
    orientation (columns are samples); the report's is transposed.

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Source of randomness.
    d : int, optional
        Keyword-only. Dimension (``d_x = d_y = m = d``).
    noise : float, optional
        Keyword-only. Standard deviation of the noise.

    Returns
    -------
    X, Y : ndarray of shape (d, d)
        Data and targets.

    Raises
    ------
    ValueError
        Invalid ``d`` or ``noise``.
    """
    g = as_rng(rng)
    d = check_positive(d, "d", integer=True)
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite non-negative number, got {noise!r}")
    X = g.standard_normal((d, d))
    Y = np.diag(np.arange(1.0, d + 1.0)) @ X + noise * g.standard_normal((d, d))
    return X, Y


def report_instances(rng, n: int, dims, *, scale: float = 1.0, noise: float = 0.1, fresh_data: bool = True):
    """Draw ``n`` instances ``(weights, X, Y)`` of the report's step-size experiment (see Chen, Choi and Scialanga, Math
    273A final project).

    Instance ``j`` is drawn from the ``j``-th child of ``rng.spawn(n)``: with ``fresh_data`` its own
    data :func:`report_stepsize_data` ``(child, d=dims[0], noise=noise)`` and then the weights
    :func:`dlnlib.model.random_weights` ``(dims, child, scale=scale)``; without, the data of the
    first instance are shared by all (one data set, many random networks).

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Source of randomness.
    n : int
        Number of instances.
    dims : sequence of int
        Widths ``(d_0, ..., d_N)``, with ``d = dims[0]``.
    scale : float, optional
        Keyword-only. Initialization scale.
    noise : float, optional
        Keyword-only. Noise level of :func:`report_stepsize_data`.
    fresh_data : bool, optional
        Keyword-only. Draw new data for every instance.

    Returns
    -------
    networks : list of list of ndarray
        ``n`` weight lists.
    X, Y : ndarray of shape (n, d, d)
        Data and targets (one copy per instance).

    Raises
    ------
    ValueError
        Invalid ``n``, ``dims`` or parameters.
    """
    d = _check_dims(dims)
    if d[0] != d[-1]:
        raise ValueError(f"the report's data need d_x = d_y (Y = diag(1..d) X), got dims = {d}")
    n = check_positive(n, "n", integer=True)
    nets, xs, ys = [], [], []
    for j, child in enumerate(as_rng(rng).spawn(n)):
        X, Y = report_stepsize_data(child, d=d[0], noise=noise) if (fresh_data or j == 0) else (xs[0], ys[0])
        xs.append(X)
        ys.append(Y)
        nets.append(random_weights(d, child, scale=scale))
    return nets, np.stack(xs), np.stack(ys)


def _per_network_data(X, Y, n: int) -> tuple[np.ndarray, np.ndarray]:
    X = as_finite_array(X, "X", ndim=(2, 3))
    Y = as_finite_array(Y, "Y", ndim=(2, 3))
    X = np.broadcast_to(X, (n, *X.shape[-2:])) if X.ndim == 2 else X
    Y = np.broadcast_to(Y, (n, *Y.shape[-2:])) if Y.ndim == 2 else Y
    if X.shape[0] != n or Y.shape[0] != n:
        raise ValueError(f"per-network X, Y need {n} entries on the first axis, got {X.shape} and {Y.shape}")
    return X, Y


def bounds_or_nan(networks: Sequence, X, Y, *, m_variant: str = "corrected") -> np.ndarray:
    """Step-size bound of [NRT] Theorem 2.4 (:func:`dlnlib.stepsize.step_size_bound`) per network.

    NaN where the balancedness hypothesis fails (``α >= 1`` with the report's default ``δ``),
    instead of an exception.

    Parameters
    ----------
    networks : list of list of ndarray
        ``n`` weight lists.
    X, Y : ndarray of shape (d, m) or (n, d, m)
        Shared or per-network data and targets.
    m_variant : {"corrected", "report"}, optional
        Keyword-only. Reading of ``M`` (see :func:`dlnlib.stepsize.step_size_bound`).

    Returns
    -------
    ndarray of shape (n,)
        The bound ``η`` of each network, NaN where the hypothesis fails.
    """
    return _bounds_or_nan(networks, X, Y, m_variant)[0]


def _bounds_or_nan(
    networks: Sequence, X, Y, m_variant: str
) -> tuple[np.ndarray, list[list[np.ndarray]], np.ndarray, np.ndarray]:
    """:func:`bounds_or_nan` and the checked inputs: ``(eta, weight lists, Xs, Ys)`` (``Xs``, ``Ys`` per network)."""
    m_variant = _check_variant(m_variant)
    Xs, Ys = _per_network_data(X, Y, len(networks))
    out = np.full(len(networks), np.nan)
    nets = []
    for j, ws in enumerate(networks):
        ws, Xj, Yj = _check_problem(ws, Xs[j], Ys[j], "networks[j]")
        out[j] = _eta_or_nan(ws, Xj, Yj, m_variant)
        nets.append(ws)
    return out, nets, Xs, Ys


@dataclass(frozen=True)
class DivergenceSample:
    """The doubling experiment for many networks (:func:`first_diverging_steps`).

    All step sizes are for the loss with the 1/2 (halve them for the report's loss).

    Attributes
    ----------
    eta : ndarray of shape (n,)
        Step-size bound of each network (NaN where the hypothesis ``α < 1`` fails).
    first_diverging_step : ndarray of shape (n,)
        ``factor η 2^k`` for the first diverging ``k`` (NaN if the hypothesis fails or no
        candidate diverged).
    k : ndarray of shape (n,)
        That ``k`` (``-1`` if none).
    n_epochs : int
        GD iterations per candidate.
    max_doublings : int
        Largest ``k`` tried.
    factor : float
        ``eta0 = factor * eta``.
    """

    eta: np.ndarray
    first_diverging_step: np.ndarray
    k: np.ndarray = field(repr=False)
    n_epochs: int = 5000
    max_doublings: int = 20
    factor: float = 0.9

    @property
    def valid(self) -> np.ndarray:
        """The hypothesis ``α < 1`` holds (the bound is defined)."""
        return np.isfinite(self.eta)

    @property
    def fraction_diverged(self) -> float:
        """Fraction of the valid networks for which some candidate step diverged."""
        return float(np.mean(self.k[self.valid] >= 0)) if np.any(self.valid) else float("nan")


def first_diverging_steps(
    networks: Sequence,
    X,
    Y,
    *,
    n_epochs: int = 5000,
    max_doublings: int = 20,
    factor: float = 0.9,
    m_variant: str = "corrected",
    grad_tol: float | None = 1e-10,
) -> DivergenceSample:
    """The report's doubling experiment for many networks at once (see Chen, Choi and Scialanga, Math 273A final
    project).

    For each network satisfying the hypothesis of [NRT] (:func:`bounds_or_nan`) the candidates
    ``factor * η * 2^k``, ``k = 0..max_doublings``, are run for ``n_epochs`` GD steps, all networks
    and candidates in *one* :func:`~dlnlib.dynamics.gradient_descent_batch`; the first diverging
    ``k`` is the answer of the sequential procedure (as :func:`dlnlib.stepsize.first_diverging_step`
    for one network).

    Parameters
    ----------
    networks : list of list of ndarray
        ``n`` weight lists (same widths).
    X, Y : ndarray of shape (d, m) or (n, d, m)
        Shared or per-network data and targets.
    n_epochs, max_doublings, factor, m_variant, grad_tol : optional
        Keyword-only; see :func:`dlnlib.stepsize.first_diverging_step` (``factor`` scales the
        bound into ``eta0``).

    Returns
    -------
    DivergenceSample
        Bounds and first diverging steps.
    """
    n_epochs = check_positive(n_epochs, "n_epochs", integer=True)
    max_doublings = check_positive(max_doublings, "max_doublings", integer=True)
    factor = check_positive(factor, "factor")
    eta, checked, Xs, Ys = _bounds_or_nan(networks, X, Y, m_variant)
    n_cand = max_doublings + 1
    first = np.full(len(networks), np.nan)
    kk = np.full(len(networks), -1, dtype=int)
    idx = np.flatnonzero(np.isfinite(eta))
    if idx.size:
        nets = [checked[j] for j in idx]
        batch = [np.repeat(np.stack([net[i] for net in nets]), n_cand, axis=0) for i in range(len(nets[0]))]
        steps = (factor * eta[idx])[:, None] * 2.0 ** np.arange(n_cand)[None, :]
        res = gradient_descent_batch(
            batch,
            np.repeat(Xs[idx], n_cand, axis=0),
            np.repeat(Ys[idx], n_cand, axis=0),
            steps.ravel(),
            n_epochs,
            grad_tol=grad_tol,
            record_every=n_epochs,
        )
        div = (res.status == DIVERGED).reshape(idx.size, n_cand)
        has = div.any(axis=1)
        k_first = np.where(has, np.argmax(div, axis=1), -1)
        kk[idx] = k_first
        first[idx[has]] = steps[has, k_first[has]]
    return DivergenceSample(
        eta=eta, first_diverging_step=first, k=kk, n_epochs=n_epochs, max_doublings=max_doublings, factor=factor
    )


def descent_end_to_end_norms(weights0: Sequence, X, Y, step: float, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Loss ``L(W(k))`` (with the 1/2) and ``||W_{N:1}(k)||_2`` for ``k = 0..n_steps`` of constant-step GD.

    The check of [NRT]'s ``M`` (see the Mathematical notes, "Reconstructed here — the bound M of the step-size
    theorem"): below the bound, ``L`` does not increase, so ``||W_{N:1}(k)||_2 <= M`` for the corrected ``M`` of
    :func:`dlnlib.stepsize.step_size_bound`.

    Parameters
    ----------
    weights0 : list of ndarray
        Initial weights ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.
    step : float
        Constant step size.
    n_steps : int
        Number of iterations.

    Returns
    -------
    losses, norms : ndarray of shape (n_steps + 1,)
        ``L(W(k))`` and ``||W_{N:1}(k)||_2``.
    """
    ws, X, Y = _check_problem(weights0, X, Y, "weights0")
    step = check_positive(step, "step")
    n_steps = check_positive(n_steps, "n_steps", integer=True)
    losses = np.empty(n_steps + 1)
    norms = np.empty(n_steps + 1)
    for k in range(n_steps + 1):
        if k and not all(np.isfinite(w).all() for w in ws):
            as_weights(ws)  # GD blew up: raise the error of the public loss (non-finite weights)
        pre = _prefix_products(ws)
        P = pre[-1]  # W_{N:1}
        r = Y - P @ X
        losses[k] = 0.5 * float(np.sum(r * r))
        norms[k] = np.linalg.norm(P, 2)
        if k < n_steps:
            ws = [w - step * gw for w, gw in zip(ws, _gradient_from_e(ws, (-r) @ X.T, pre))]
    return losses, norms


def rank_one_profile(ell: EndToEndLoss, thetas, phis, sigmas) -> tuple[np.ndarray, np.ndarray]:
    """Profile ``min_σ ℓ(σ u_θ v_φ^T)`` on a grid: the loss over the rank-one matrices, by direction.

    ``u_θ = (cos θ, sin θ)``, ``v_φ = (cos φ, sin φ)``; every nonzero rank-one ``2 x 2`` matrix is
    ``σ u_θ v_φ^T`` with ``θ, φ ∈ [0, π)`` and ``σ ≠ 0``, so this is the functional-space picture
    of the non-filling widths ``(2, 1, 2)`` ([TKB]; see the Mathematical notes, "Pure and spurious critical points").
    The minimum over ``σ`` is taken on the grid ``sigmas`` (``ℓ`` must be elementwise, e.g.
    :class:`~dlnlib.losses.WeightedLogCoshLoss`, and vectorize over leading axes of ``A``).

    Parameters
    ----------
    ell : EndToEndLoss
        Elementwise loss of ``2 x 2`` matrices.
    thetas, phis : array_like
        Angles in ``[0, π)``.
    sigmas : array_like
        Grid of scales ``σ``.

    Returns
    -------
    values : ndarray of shape (len(thetas), len(phis))
        The profile.
    best_sigma : ndarray of shape (len(thetas), len(phis))
        The minimizing ``σ`` of each cell.

    Raises
    ------
    ValueError
        If the target of ``ell`` is not ``2 x 2``.
    """
    if tuple(ell.target.shape) != (2, 2):
        raise ValueError(f"rank_one_profile needs a loss of 2 x 2 matrices, got target shape {ell.target.shape}")
    t = as_finite_array(thetas, "thetas", ndim=1)
    p = as_finite_array(phis, "phis", ndim=1)
    s = as_finite_array(sigmas, "sigmas", ndim=1)
    u = np.stack([np.cos(t), np.sin(t)], axis=1)  # (T, 2)
    v = np.stack([np.cos(p), np.sin(p)], axis=1)  # (P, 2)
    A = s[None, None, :, None, None] * (u[:, None, None, :, None] * v[None, :, None, None, :])  # (T, P, S, 2, 2)
    vals = _elementwise_value(ell, A)
    j = np.argmin(vals, axis=2)
    return np.take_along_axis(vals, j[..., None], axis=2)[..., 0], s[j]


def _elementwise_value(ell: EndToEndLoss, A: np.ndarray) -> np.ndarray:
    """``ℓ`` on a stack of matrices ``(..., d_y, d_x)`` for the elementwise losses of :mod:`dlnlib.losses`."""
    r = A - ell.target
    if hasattr(ell, "weights"):  # WeightedLogCoshLoss
        a = np.abs(r)
        f = ell.weights * (a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0))
    elif hasattr(ell, "delta"):  # HuberLoss
        a, dl = np.abs(r), ell.delta
        f = np.where(a <= dl, 0.5 * a * a, dl * (a - 0.5 * dl))
    else:  # SquareLoss
        f = 0.5 * r * r
    return f.sum(axis=(-2, -1))


def pure_spurious_table(U, dims) -> list[dict]:
    """Pure/spurious and strict/non-strict verdicts for every square-loss critical point type of ``dims``.

    The square loss ``1/2 ||U - W_{N:1}||_F^2`` is the loss of [CLC] with whitened data ``X = I``,
    ``Y = U`` (see the Mathematical notes, "Notation" and "Pure and spurious critical points"). For every admissible
    index set ``S`` (:func:`dlnlib.critical.critical_index_sets`) the tight critical point
    :func:`dlnlib.critical.critical_point` is classified by
    :func:`dlnlib.losses.classify_pure_spurious` and by :func:`dlnlib.hessian.classify`.

    Parameters
    ----------
    U : ndarray of shape (d_y, d_x)
        Target of the square loss.
    dims : sequence of int
        Widths ``(d_0, ..., d_N)`` with ``d_0 = d_x``, ``d_N = d_y``.

    Returns
    -------
    list of dict
        One per index set, by value, with keys ``S`` (1-based, as in the paper), ``rank``,
        ``top``, ``value``, ``pure_spurious``, ``kind``, ``rank_max`` (``|S| = r_max``),
        ``projected`` (norm of ``ℓ'(A)`` projected onto the tangent cone of ``{rank <= r_max}``
        at ``A = W_{N:1}``, :func:`dlnlib.losses.variety_stationarity`) and ``slope`` (finite
        difference ``(ℓ(A + t Z) - ℓ(A)) / t``, ``t = 1e-6``, along its steepest cone direction
        ``Z``; 0 when ``projected`` is 0). ``projected`` and ``slope`` check the definition of
        pure on the end-to-end matrix, independently of the rule used by the classifier.
    """
    from .critical import critical_index_sets, critical_point
    from .hessian import classify
    from .losses import SquareLoss, classify_pure_spurious, variety_stationarity

    U = as_finite_array(U, "U", ndim=2)
    d = _check_dims(dims)
    X = np.eye(U.shape[1])
    ell = SquareLoss(U)
    rows = []
    for c in critical_index_sets(X, U, d):
        ws = critical_point(X, U, d, c.index_set)
        A = _end_to_end(ws)
        v = variety_stationarity(A, ell.grad(A), min(d))
        t = 1e-6
        slope = (ell.value(A + t * v.direction) - ell.value(A)) / t
        rows.append(
            {
                "S": tuple(i + 1 for i in c.index_set),
                "rank": c.rank,
                "top": c.is_top,
                "value": c.value,
                "rank_max": c.rank == min(d),
                "pure_spurious": classify_pure_spurious(ws, ell),
                "kind": classify(ws, X, U),
                "projected": v.projected_norm,
                "slope": float(slope),
            }
        )
    return rows


def rows_to_markdown(rows: Sequence[dict], columns: dict[str, str], *, formats: dict[str, str] | None = None) -> str:
    """A MyST/GitHub markdown table of ``rows`` (dicts); ``columns`` maps keys to header titles.

    ``formats`` maps keys to format strings (e.g. ``{"value": "{:.3g}"}``). Booleans print as
    yes/no, tuples as index sets (``{1, 2}``, ``∅``); in strings ``non_`` prints as ``non-`` and other
    underscores as spaces (``non_strict_saddle`` -> ``non-strict saddle``).

    Parameters
    ----------
    rows : sequence of dict
        Table rows.
    columns : dict of str to str
        Keys to print, in order, and their header titles.
    formats : dict of str to str or None, optional
        Keyword-only. Format strings by key.

    Returns
    -------
    str
        The table in markdown.
    """
    formats = formats or {}

    def cell(key, v):
        if key in formats:
            return formats[key].format(v)
        if isinstance(v, (bool, np.bool_)):
            return "yes" if v else "no"
        if isinstance(v, tuple):  # an index set, already 1-based
            return "{" + ", ".join(map(str, v)) + "}" if v else "∅"
        return str(v).replace("non_", "non-").replace("_", " ")

    from .landscape import markdown_table

    return markdown_table(list(columns.values()), [[cell(k, r[k]) for k in columns] for r in rows])
