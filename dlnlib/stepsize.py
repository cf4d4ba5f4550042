"""Step sizes for gradient descent: the bound of Nguegnang–Rauhut–Terstiege and the doubling experiment.

See the Mathematical notes, "Step sizes for gradient descent". Loss with the 1/2, ``L(W) = 1/2 ||Y - W_{N:1} X||_F^2``.

[NRT] Theorem 2.4 *as quoted in the student report* (the statement could not be checked against
[NRT] itself): assume ``X X^T`` has full rank and the initial weights have *balancedness constant*
``αδ`` with ``α ∈ [0, 1)``, i.e.

    max_j ||W_{j+1}^T W_{j+1} - W_j W_j^T||_2 <= α δ        (spectral norm; j = 1..N-1).

If the constant step size satisfies

    η <= 2 (1 - α) δ / (4 L(W(0)) + (1 - α) δ B_δ),
    B_δ = 2 e N K_δ^{N-1} ||X||_2^2 + sqrt(e) N K_δ^{N/2 - 1} ||X Y^T||_2,
    K_δ = M^{2/N} + (N + 1)^2 δ,

where ``M`` bounds ``||W_{N:1}(k)||_2`` along the iteration, then GD converges to a critical point.

**Which M.** The report prints ``M = sqrt(2 ||Y - W(0) X|| + ||Y||) / σ_min(X)``, which is garbled
(the square root swallows the wrong terms; see the Mathematical notes, "Reconstructed here — the bound M of the
step-size theorem"). By default (``m_variant="corrected"``) we use

    M = (sqrt(2 L(W(0))) + ||Y||_2) / σ_min(X) = (||Y - W_{N:1}(0) X||_F + ||Y||_2) / σ_min(X),

the bound on ``||W_{N:1}||_2`` implied by ``L(W(k)) <= L(W(0))``:
``σ_min(X) ||W_{N:1}||_2 <= ||W_{N:1} X||_2 <= ||W_{N:1} X - Y||_F + ||Y||_2``. (With ``||Y||_F`` in
place of ``||Y||_2`` the same argument bounds ``||W_{N:1}||_F``; the spectral reading is the one
consistent with the spectral norms of ``K_δ``.) ``m_variant="report"`` evaluates the printed
formula literally, ``M = sqrt(2 ||Y - W_{N:1}(0) X||_F + ||Y||_2) / σ_min(X)``, for comparison only.

**Experiments** (the student report's, batched over networks): :func:`report_stepsize_data` (its
§5.4 data), :func:`report_instances` (random networks with fresh or shared data), :func:`bounds_or_nan`
(the bound per network, NaN where balancedness fails), :func:`first_diverging_steps` (the doubling
experiment for many networks in one :func:`~dlnlib.dynamics.gradient_descent_batch`) and
:func:`descent_end_to_end_norms` (``L(W(k))`` and ``||W_{N:1}(k)||_2`` along one run).

**Convention.** The report's loss has no 1/2; a step ``η`` for the no-1/2 loss equals a step ``2η``
for the 1/2-loss (see the Mathematical notes, "Notation"). All step sizes here are for the loss *with* the 1/2, as in
:func:`dlnlib.dynamics.gradient_descent`; :attr:`StepSizeBound.eta_no_half` gives ``η/2``.

References
----------
[NRT] G. M. Nguegnang, H. Rauhut, U. Terstiege, *Convergence of gradient descent for learning linear
neural networks*, Adv. Contin. Discrete Models 2024:23 (arXiv:2108.02040), Theorem 2.4, as quoted in
the student report (§5.3, eqs. (28)-(30)).
[CLC] Y. Chitour, Z. Liao, R. Couillet, arXiv:1811.03568.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ._validation import as_finite_array, as_rng, as_weights, check_positive
from .dynamics import CONVERGED, DIVERGED, gradient_descent_batch
from .model import (
    _check_dims,
    _check_problem,
    _check_xy,
    _end_to_end,
    _gradient_from_e,
    _invariants_any,
    _loss_at,
    _prefix_products,
    random_weights,
)

__all__ = [
    "DivergenceSample",
    "DoublingResult",
    "StepSizeBound",
    "StepSizeBoundSample",
    "balancedness",
    "bounds_or_nan",
    "descent_end_to_end_norms",
    "first_diverging_step",
    "first_diverging_steps",
    "report_instances",
    "report_stepsize_data",
    "step_size_bound",
    "step_size_bounds",
]

M_VARIANTS = ("corrected", "report")


# --------------------------------------------------------------------------- balancedness


def _balancedness_trusted(ws: Sequence[np.ndarray]) -> float:
    if len(ws) < 2:
        return 0.0
    return max(float(np.linalg.norm(c, ord=2)) for c in _invariants_any(ws))


def balancedness(weights: Sequence) -> float:
    """Balancedness ``max_j ||W_{j+1}^T W_{j+1} - W_j W_j^T||_2`` (spectral norm), 0 when ``N = 1``.

    The largest spectral norm of the invariants ``C_j`` of Lemma 2.3 of [CLC] (see the Mathematical notes, "Invariants
    of the flow"); [NRT] (Theorem 2.4 as quoted in the student report) asks it to be at most ``αδ`` with ``α < 1``.

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.

    Returns
    -------
    float
        The balancedness.

    Examples
    --------
    >>> import numpy as np
    >>> balancedness([np.eye(2), 2 * np.eye(2)])
    3.0
    """
    return _balancedness_trusted(as_weights(weights))


# --------------------------------------------------------------------------- the bound


@dataclass(frozen=True)
class StepSizeBound:
    """The pieces of the step-size bound of [NRT] Theorem 2.4 (as quoted in the student report).

    All quantities refer to the loss with the 1/2 (see the Mathematical notes, "Notation"); see the module docstring.

    Attributes
    ----------
    eta : float
        The bound ``2(1-α)δ / (4 L(W(0)) + (1-α)δ B_δ)`` on the constant step size.
    M : float
        Bound on ``||W_{N:1}||_2`` (reading given by ``m_variant``).
    K_delta : float
        ``M^{2/N} + (N+1)^2 δ``.
    B_delta : float
        ``2eN K_δ^{N-1} ||X||_2^2 + sqrt(e) N K_δ^{N/2-1} ||X Y^T||_2``.
    delta : float
        The constant ``δ`` of the hypothesis.
    alpha : float
        The constant ``α`` of the hypothesis, in ``[0, 1)``.
    balancedness : float
        ``alpha * delta``, the balancedness constant of the hypothesis.
    measured_balancedness : float
        ``max_j ||W_{j+1}^T W_{j+1} - W_j W_j^T||_2`` of ``W(0)`` (``<= alpha*delta``).
    loss0 : float
        ``L(W(0))`` (with the 1/2).
    N : int
        Depth.
    m_variant : str
        ``"corrected"`` (default) or ``"report"`` (the garbled printed formula, for comparison).
    sigma_min_X : float
        ``σ_min(X)``.
    norm_X : float
        ``||X||_2``.
    norm_XYt : float
        ``||X Y^T||_2``.
    norm_Y : float
        ``||Y||_2``.
    """

    eta: float
    M: float
    K_delta: float
    B_delta: float
    delta: float
    alpha: float
    balancedness: float
    measured_balancedness: float
    loss0: float
    N: int
    m_variant: str
    sigma_min_X: float = field(repr=False)
    norm_X: float = field(repr=False)
    norm_XYt: float = field(repr=False)
    norm_Y: float = field(repr=False)

    @property
    def eta_no_half(self) -> float:
        """The same bound for the report's loss without the 1/2 (``η / 2``; see the Mathematical notes, "Notation")."""
        return 0.5 * self.eta


def _data_norms(X: np.ndarray, Y: np.ndarray) -> tuple[float, float, float, float]:
    sx = np.linalg.svd(X, compute_uv=False)
    smin = float(sx[-1]) if X.shape[0] <= X.shape[1] else 0.0
    if not smin > 1e-12 * float(sx[0]):
        raise ValueError(
            "[NRT] Theorem 2.4 assumes X X^T of full rank (X of full row rank d_x); "
            f"X has shape {X.shape} and smallest singular value {smin:.3e} (largest {float(sx[0]):.3e})"
        )
    return smin, float(sx[0]), float(np.linalg.norm(X @ Y.T, ord=2)), float(np.linalg.norm(Y, ord=2))


def _m_value(loss0, norm_y, smin, m_variant):
    """``M`` for arrays of ``loss0`` (with the 1/2); see the module docstring."""
    res = np.sqrt(2.0 * loss0)  # ||Y - W_{N:1}(0) X||_F
    if m_variant == "corrected":
        return (res + norm_y) / smin
    return np.sqrt(2.0 * res + norm_y) / smin


def _default_delta(M, n: int):
    """The student report's default ``δ = M^{2/N} / (N (N+1)^2)`` (its eq. (30)), also for arrays of ``M``."""
    return M ** (2.0 / n) / (n * (n + 1) ** 2)


def _bound_pieces(M, delta, alpha, loss0, n, norm_x, norm_xyt):
    k = M ** (2.0 / n) + (n + 1) ** 2 * delta
    b = 2.0 * np.e * n * k ** (n - 1) * norm_x**2 + np.sqrt(np.e) * n * k ** (n / 2.0 - 1.0) * norm_xyt
    eta = 2.0 * (1.0 - alpha) * delta / (4.0 * loss0 + (1.0 - alpha) * delta * b)
    return eta, k, b


def _check_variant(m_variant: str) -> str:
    if m_variant not in M_VARIANTS:
        raise ValueError(f"m_variant must be one of {M_VARIANTS}, got {m_variant!r}")
    return m_variant


def _nrt_inputs(ws: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray, m_variant: str) -> tuple[float, ...]:
    """``(σ_min(X), ||X||_2, ||X Y^T||_2, ||Y||_2, L(W(0)), M, balancedness)`` for trusted input.

    Raises
    ------
    ValueError
        If ``X`` is not of full row rank (:func:`_data_norms`).
    """
    smin, norm_x, norm_xyt, norm_y = _data_norms(X, Y)
    loss0 = _loss_at(_end_to_end(ws), X, Y)
    M = float(_m_value(loss0, norm_y, smin, m_variant))
    return smin, norm_x, norm_xyt, norm_y, loss0, M, _balancedness_trusted(ws)


def _eta_or_nan(ws: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray, m_variant: str) -> float:
    """:attr:`StepSizeBound.eta` of :func:`step_size_bound` with the defaults, NaN where ``α >= 1``.

    Trusted input (weights, ``X``, ``Y`` and ``m_variant`` already checked); the same numbers as
    :func:`step_size_bound`, computed once.
    """
    n = len(ws)
    _, norm_x, norm_xyt, _, loss0, M, bal = _nrt_inputs(ws, X, Y, m_variant)
    delta = _default_delta(M, n)
    if not bal < delta:  # alpha = bal / delta >= 1 (or delta = 0): the hypothesis fails
        return float("nan")
    return float(_bound_pieces(M, delta, bal / delta, loss0, n, norm_x, norm_xyt)[0])


def step_size_bound(
    weights0: Sequence,
    X,
    Y,
    *,
    alpha: float | None = None,
    delta: float | None = None,
    m_variant: str = "corrected",
) -> StepSizeBound:
    """Step-size bound of [NRT] Theorem 2.4 as quoted in the student report (see the Mathematical notes, "Step sizes for
    gradient descent").

    Parameters
    ----------
    weights0 : list of ndarray
        Initial weights ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    X : ndarray of shape (d_x, m)
        Data of full row rank.
    Y : ndarray of shape (d_y, m)
        Targets.
    alpha : float or None, optional
        Keyword-only, in ``[0, 1)``. Default: the smallest admissible value
        ``balancedness(W(0)) / delta`` (the bound decreases in ``alpha``). If given,
        ``alpha * delta`` must be at least the measured balancedness.
    delta : float or None, optional
        Keyword-only, positive. Default: the student report's choice
        ``δ = M^{2/N} / (N (N+1)^2)`` (its eq. (30)).
    m_variant : {"corrected", "report"}, optional
        Keyword-only. Reading of ``M``: the corrected bound
        ``(sqrt(2 L(W(0))) + ||Y||_2) / σ_min(X)``, or the report's garbled printed formula
        ``sqrt(2 ||Y - W(0) X||_F + ||Y||_2) / σ_min(X)``
        evaluated literally (for comparison; it is not a bound on ``||W_{N:1}||``).

    Returns
    -------
    StepSizeBound
        ``eta`` is a step for the loss with the 1/2 (``eta_no_half`` for the report's loss).

    Raises
    ------
    ValueError
        If ``X`` is not of full row rank, or if the initialization is not balanced enough for the
        hypothesis of [NRT] (balancedness constant ``αδ`` with ``α < 1``), with the numbers.

    Notes
    -----
    ``L(W(k))`` is non-increasing under the bound, so ``||W_{N:1}(k)||_2 <= M`` (corrected ``M``)
    along the iteration; the tests check this on the report's 5x5, ``N = 3`` instance.
    """
    ws, X, Y = _check_problem(weights0, X, Y, "weights0")
    m_variant = _check_variant(m_variant)
    n = len(ws)
    smin, norm_x, norm_xyt, norm_y, loss0, M, bal = _nrt_inputs(ws, X, Y, m_variant)
    if delta is None:
        delta = _default_delta(M, n)
        if not delta > 0:
            raise ValueError(
                f"the default delta = M^(2/N) / (N (N+1)^2) of the student report's eq. (30) is {delta:g}: "
                f"M = {M:g} (Y = 0 and W_(N:1)(0) X = Y?); pass delta explicitly"
            )
    else:
        delta = check_positive(delta, "delta")
    if alpha is None:
        alpha = bal / delta
        if alpha >= 1.0:
            raise ValueError(
                "the initialization is not balanced enough for the hypothesis of [NRT] Theorem 2.4 "
                f"(balancedness constant alpha*delta with alpha < 1): max_j ||W_(j+1)^T W_(j+1) - W_j W_j^T||_2 = "
                f"{bal:.6g} >= delta = {delta:.6g}, i.e. alpha = {alpha:.6g} >= 1 (M = {M:.6g}, N = {n}); "
                "use a smaller or more balanced initialization, or a larger delta"
            )
    else:
        try:
            alpha = float(alpha)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"alpha must be a number in [0, 1), got {alpha!r}") from exc
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"[NRT] Theorem 2.4 needs alpha in [0, 1), got alpha = {alpha!r}")
        if alpha * delta < bal * (1 - 1e-12):
            raise ValueError(
                f"alpha * delta = {alpha * delta:.6g} is below the balancedness {bal:.6g} of the initialization; "
                f"[NRT] Theorem 2.4 needs max_j ||W_(j+1)^T W_(j+1) - W_j W_j^T||_2 <= alpha*delta "
                f"(smallest admissible alpha: {bal / delta:.6g})"
            )
    eta, k, b = _bound_pieces(M, delta, alpha, loss0, n, norm_x, norm_xyt)
    return StepSizeBound(
        eta=float(eta),
        M=M,
        K_delta=float(k),
        B_delta=float(b),
        delta=float(delta),
        alpha=float(alpha),
        balancedness=float(alpha * delta),
        measured_balancedness=bal,
        loss0=loss0,
        N=n,
        m_variant=m_variant,
        sigma_min_X=smin,
        norm_X=norm_x,
        norm_XYt=norm_xyt,
        norm_Y=norm_y,
    )


# --------------------------------------------------------------------------- many networks


def _batch_losses(ws: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``L`` (with the 1/2) of each network of a batch ``W_i`` of shape ``(K, d_i, d_{i-1})``: shape ``(K,)``."""
    r = Y - _end_to_end(ws) @ X
    return 0.5 * np.einsum("kij,kij->k", r, r)


@dataclass(frozen=True)
class StepSizeBoundSample:
    """Bounds of [NRT] Theorem 2.4 for many random initializations (:func:`step_size_bounds`).

    Attributes
    ----------
    eta : ndarray of shape (n_networks,)
        Bounds; NaN where the hypothesis fails (``alpha >= 1``).
    alpha : ndarray of shape (n_networks,)
        ``α`` of each network.
    delta : ndarray of shape (n_networks,)
        ``δ`` of each network.
    M : ndarray of shape (n_networks,)
        ``M`` of each network.
    loss0 : ndarray of shape (n_networks,)
        ``L(W(0))`` of each network.
    balancedness : ndarray of shape (n_networks,)
        The measured balancedness ``max_j ||W_{j+1}^T W_{j+1} - W_j W_j^T||_2``.
    valid : ndarray of bool
        ``alpha < 1`` (the hypothesis of [NRT] holds with the default delta).
    dims : tuple of int
        Sampled widths.
    scale : float
        Initialization scale.
    m_variant : str
        Reading of ``M``.
    """

    eta: np.ndarray
    alpha: np.ndarray = field(repr=False)
    delta: np.ndarray = field(repr=False)
    M: np.ndarray = field(repr=False)
    loss0: np.ndarray = field(repr=False)
    balancedness: np.ndarray = field(repr=False)
    valid: np.ndarray = field(repr=False)
    dims: tuple[int, ...] = ()
    scale: float = 1.0
    m_variant: str = "corrected"

    @property
    def fraction_valid(self) -> float:
        """Fraction of networks satisfying the balancedness hypothesis ``alpha < 1``."""
        return float(np.mean(self.valid))


def step_size_bounds(
    dims,
    X,
    Y,
    rng,
    n_networks: int,
    *,
    scale: float = 1.0,
    m_variant: str = "corrected",
) -> StepSizeBoundSample:
    """Bounds of [NRT] Theorem 2.4 for ``n_networks`` Gaussian initializations (see the Mathematical notes, "Step sizes
    for gradient descent").

    Network ``j`` is drawn by :func:`dlnlib.model.random_weights` (``N(0, scale^2/d_{i-1})``
    entries) from the ``j``-th child of ``rng.spawn(n_networks)``, so a network does not depend on
    how many are drawn. The default ``δ`` of the report's eq. (30) and ``α = balancedness / δ`` are
    used; where ``α >= 1`` the hypothesis fails and ``eta`` is NaN (no exception, unlike
    :func:`step_size_bound`).

    Parameters
    ----------
    dims : sequence of int
        Widths ``(d_0, ..., d_N)``.
    X : ndarray of shape (d_x, m)
        Data of full row rank.
    Y : ndarray of shape (d_y, m)
        Targets.
    rng : numpy.random.Generator or int
        Source of randomness.
    n_networks : int
        Number of random initializations.
    scale : float, optional
        Keyword-only. Initialization scale.
    m_variant : {"corrected", "report"}, optional
        Keyword-only. Reading of ``M`` (see :func:`step_size_bound`).

    Returns
    -------
    StepSizeBoundSample
        The bounds of all networks.

    Raises
    ------
    ValueError
        Invalid data or parameters (e.g. ``X`` not of full row rank).
    """
    d = _check_dims(dims)
    X, Y = _check_xy(X, Y)
    if X.shape[0] != d[0] or Y.shape[0] != d[-1]:
        raise ValueError(f"dims = {d} expects X with {d[0]} rows and Y with {d[-1]} rows, got {X.shape} and {Y.shape}")
    n_networks = check_positive(n_networks, "n_networks", integer=True)
    scale = check_positive(scale, "scale")
    m_variant = _check_variant(m_variant)
    g = as_rng(rng)
    n = len(d) - 1
    nets = [random_weights(d, child, scale=scale) for child in g.spawn(n_networks)]
    ws = [np.stack([net[i] for net in nets]) for i in range(n)]  # (K, d_i, d_{i-1})
    smin, norm_x, norm_xyt, norm_y = _data_norms(X, Y)
    loss0 = _batch_losses(ws, X, Y)
    if n > 1:
        cs = _invariants_any(ws)
        bal = np.max([np.abs(np.linalg.eigvalsh(c)).max(axis=1) for c in cs], axis=0)  # C_j symmetric
    else:
        bal = np.zeros(n_networks)
    M = _m_value(loss0, norm_y, smin, m_variant)
    delta = _default_delta(M, n)
    alpha = bal / delta
    valid = alpha < 1.0
    eta, _, _ = _bound_pieces(M, delta, alpha, loss0, n, norm_x, norm_xyt)
    eta = np.where(valid, eta, np.nan)
    return StepSizeBoundSample(
        eta=eta,
        alpha=alpha,
        delta=delta,
        M=M,
        loss0=loss0,
        balancedness=bal,
        valid=valid,
        dims=d,
        scale=scale,
        m_variant=m_variant,
    )


# --------------------------------------------------------------------------- doubling experiment

STEP_STATUS = ("converged", "not_diverged", "diverged")  #: the statuses of :class:`DoublingResult`, in this order


@dataclass(frozen=True)
class DoublingResult:
    """The student report's step-doubling experiment (:func:`first_diverging_step`).

    Attributes
    ----------
    steps : ndarray of shape (n_tried,)
        Candidate steps ``eta0 * 2^k``, ``k = 0..max_doublings``.
    status : tuple of str
        Per step, ``"converged"`` (gradient norm fell below ``grad_tol``), ``"not_diverged"``
        (ran ``n_epochs`` steps without blowing up: *not* convergence, see the Mathematical notes, "Step sizes for
        gradient descent") or ``"diverged"`` (loss non-finite or beyond ``divergence_factor`` times its start).
    final_loss : ndarray of shape (n_tried,)
        Loss of the last finite iterate of each run.
    n_steps_done : ndarray of shape (n_tried,)
        Completed iterations per run.
    first_diverging_step : float or None
        ``eta0 * 2^k`` for the first diverging ``k``, or ``None``.
    k : int or None
        That index ``k`` (``None`` if no candidate diverged).
    eta0 : float
        The first step of the experiment.
    n_epochs : int
        GD iterations per candidate.
    """

    steps: np.ndarray
    status: tuple[str, ...] = field(repr=False)
    final_loss: np.ndarray = field(repr=False)
    n_steps_done: np.ndarray = field(repr=False)
    first_diverging_step: float | None = None
    k: int | None = None
    eta0: float = 0.0
    n_epochs: int = 0

    @property
    def last_stable_step(self) -> float | None:
        """Largest step before the first divergence (the last step the sequential procedure kept)."""
        if self.k is None:
            return float(self.steps[-1])
        return None if self.k == 0 else float(self.steps[self.k - 1])


def first_diverging_step(
    weights0: Sequence,
    X,
    Y,
    *,
    eta0: float,
    n_epochs: int = 5000,
    max_doublings: int = 30,
    grad_tol: float | None = 1e-10,
    divergence_factor: float = 1e8,
) -> DoublingResult:
    """First diverging step of the student report's doubling procedure (see Chen, Choi and Scialanga, Math 273A final
    project).

    The report starts at ``eta0`` (e.g. ``0.9`` times the bound of :func:`step_size_bound`), runs
    ``n_epochs`` GD steps, doubles the step after every run that did not diverge and stops at the
    first divergence. Here all candidates ``eta0 * 2^k``, ``k = 0..max_doublings``, are run at
    once from the same initialization with :func:`dlnlib.dynamics.gradient_descent_batch` (one
    batch row per candidate) and the first diverging ``k`` is read off. The runs are independent,
    so this gives exactly the sequential procedure's answer; the rows beyond the first divergence
    are extra information the sequential procedure would not have computed.

    Parameters
    ----------
    weights0 : list of ndarray
        Initial weights ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.
    eta0 : float
        Keyword-only. First step (for the loss with the 1/2).
    n_epochs : int, optional
        Keyword-only. GD iterations per candidate.
    max_doublings : int, optional
        Keyword-only. Largest ``k`` tried.
    grad_tol : float or None, optional
        Keyword-only. A run whose gradient norm falls below it stops as ``"converged"``
        (``None``: never).
    divergence_factor : float, optional
        Keyword-only. Passed to :func:`~dlnlib.dynamics.gradient_descent_batch`: a run diverges
        when its loss is non-finite or exceeds ``divergence_factor * max(L(W(0)), 1)``.

    Returns
    -------
    DoublingResult
        Divergence is a status, never NaN weights or losses.

    Raises
    ------
    ValueError
        Invalid weights, data or parameters.
    """
    ws, X, Y = _check_problem(weights0, X, Y, "weights0")
    eta0 = check_positive(eta0, "eta0")
    n_epochs = check_positive(n_epochs, "n_epochs", integer=True)
    if isinstance(max_doublings, bool) or not isinstance(max_doublings, (int, np.integer)) or max_doublings < 0:
        raise ValueError(f"max_doublings must be a non-negative integer, got {max_doublings!r}")
    k_max = int(np.floor(np.log2(np.finfo(float).max) - np.log2(eta0)))  # eta0 * 2^k stays finite
    if max_doublings > k_max:
        raise ValueError(
            f"max_doublings={max_doublings} makes the step eta0 * 2^max_doublings overflow (eta0={eta0:g}); "
            f"max_doublings must be at most {k_max}"
        )
    steps = np.ldexp(eta0, np.arange(int(max_doublings) + 1))  # eta0 * 2^k, exactly
    k_runs = steps.size
    batch = [np.broadcast_to(w, (k_runs, *w.shape)).copy() for w in ws]
    res = gradient_descent_batch(
        batch, X, Y, steps, n_epochs, grad_tol=grad_tol, record_every=n_epochs, divergence_factor=divergence_factor
    )
    # loss of the last finite iterate (a diverged run stops before its first non-finite step)
    final_loss = _batch_losses(res.final_weights, X, Y)
    converged, not_diverged, diverged = STEP_STATUS
    status = tuple(diverged if s == DIVERGED else (converged if s == CONVERGED else not_diverged) for s in res.status)
    div = np.flatnonzero(res.status == DIVERGED)
    k = int(div[0]) if div.size else None
    return DoublingResult(
        steps=steps,
        status=status,
        final_loss=final_loss,
        n_steps_done=np.asarray(res.n_steps_done),
        first_diverging_step=None if k is None else float(steps[k]),
        k=k,
        eta0=eta0,
        n_epochs=n_epochs,
    )


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
