"""Boundedness and convergence of gradient trajectories (Section 2 of [CLC]).

Invariants under gradient descent, Lemma 2.4, Proposition 2 and Remark 4.

See the Mathematical notes, "Invariants of the flow", "Rates of convergence" and "Reconstructed here — the rate of
Proposition 2".

* :func:`gd_invariant_increment` — the exact change of the invariants ``C_i`` of Lemma 2.3 under one
  gradient-descent step, ``η² (G_{i+1}^T G_{i+1} - G_i G_i^T)``.
* :func:`lemma24_terms`, :func:`lemma24_sandwich` — the terms of Lemma 2.4 (eq. (9)) of [CLC]: the
  principal term ``tr((W_1^T W_1)^N)``, the power-trace (Hölder) inequality, and an explicit
  two-sided bound of ``||W_{N:1}||_F^2`` by polynomials in ``ρ = ||W_1||_F^2`` whose coefficients
  depend only on the invariants.
* :func:`prop2_rate` — the exponential rate of Proposition 2 of [CLC] (as reconstructed in
  the Mathematical notes, "Reconstructed here — the rate of Proposition 2"), with each factor checked separately.
* :func:`flow_norm_bound` — the a priori bound on ``||W_i(t)||`` along a flow from Lemmas 2.3-2.4.
* :func:`remark4_weights` — initial weights satisfying Remark 4's sufficient condition for Proposition 2.

Measurements of rates (power-law and exponential fits) are in :mod:`dlnlib.rates`.

References
----------
[CLC] Y. Chitour, Z. Liao, R. Couillet, *A Geometric Approach of Gradient Descent Algorithms in
Linear Neural Networks*, Math. Control Relat. Fields 13(3), 2023 (arXiv:1811.03568).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ._validation import as_finite_array, as_rng, as_weight_batch, as_weights, check_positive, dims_of
from .model import _check_dims, _end_to_end, _invariants_any, gradient

__all__ = [
    "FlowNormBound",
    "Lemma24Sandwich",
    "Lemma24Terms",
    "Prop2Rate",
    "flow_norm_bound",
    "gd_invariant_increment",
    "lemma24_sandwich",
    "lemma24_terms",
    "prop2_rate",
    "remark4_weights",
]


# --------------------------------------------------------------------------- helpers


def _weights_any(weights, name: str = "weights") -> tuple[list[np.ndarray], bool]:
    """Validate single ``(d_i, d_{i-1})`` or batched ``(K, d_i, d_{i-1})`` weights; return (ws, batched)."""
    if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence) or len(weights) == 0:
        raise TypeError(f"{name} must be a non-empty list [W_1, ..., W_N] of arrays, got {type(weights).__name__}")
    ndim = np.ndim(weights[0])
    if ndim == 3:
        return as_weight_batch(weights, name), True
    return as_weights(weights, name), False


def _scalar_or_array(a: np.ndarray, batched: bool):
    return np.asarray(a) if batched else float(a)


# --------------------------------------------------------------------------- GD drift (see the Mathematical notes,
# "Invariants of the flow")


def gd_invariant_increment(weights: Sequence, X, Y, step: float) -> list[np.ndarray]:
    """Exact change of the invariants under one gradient-descent step.

    With ``W_i^+ = W_i - η G_i``, ``G_i = ∇_{W_i} L(W)``, the invariants of Lemma 2.3 of [CLC]
    (eq. (7)), ``C_i = W_{i+1}^T W_{i+1} - W_i W_i^T``, change by exactly

        C_i(W^+) - C_i(W) = η² (G_{i+1}^T G_{i+1} - G_i G_i^T),   i = 1..N-1

    (see the Mathematical notes, "Invariants of the flow").

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.
    step : float
        The step size ``η > 0``.

    Returns
    -------
    list of ndarray
        ``N - 1`` arrays ``C_i(W^+) - C_i(W)`` of shape ``(d_i, d_i)`` (empty for ``N = 1``).

    Notes
    -----
    The first-order terms cancel because ``W_{i+1}^T G_{i+1} = W_{N:i+1}^T E X^T W_{i:1}^T = G_i W_i^T``
    with ``E = W_{N:1} X - Y``: the same identity that makes ``C_i`` constant along the flow. Hence the
    drift is ``O(η²)`` per step and ``O(η)`` over a fixed time horizon ``T = kη``.
    """
    eta = check_positive(step, "step")
    g = gradient(weights, X, Y)  # validates weights, X, Y
    return [eta**2 * (g[i + 1].T @ g[i + 1] - g[i] @ g[i].T) for i in range(len(g) - 1)]


# --------------------------------------------------------------------------- Proposition 2 (see the Mathematical notes,
# "Rates of convergence")


@dataclass(frozen=True)
class Prop2Rate:
    """The rate of Proposition 2 of [CLC] at an initialization (see the Mathematical notes, "Reconstructed here — the
    rate of Proposition 2").

    Attributes
    ----------
    dims : tuple of int
        Widths ``(d_0, ..., d_N)``.
    pyramidal : bool
        Whether ``d_N <= d_{N-1} <= ... <= d_1``.
    factors : tuple of float
        ``λ_(d_{i-1} - d_i + 1)(C_{i-1})`` for ``i = 2..N`` (``k``-th smallest eigenvalue,
        i.e. the ``d_i``-th largest), one per invariant.
    n_positive : tuple of int
        Number of positive eigenvalues of each ``C_{i-1}``.
    required : tuple of int
        ``d_i``, the number of positive eigenvalues each ``C_{i-1}`` needs.
    hypothesis_holds : bool
        Pyramidal and **every** factor positive.
    kappa : float
        The guaranteed rate ``∏ factors`` when the hypothesis holds, else ``nan``.
    naive_product : float
        ``∏ factors`` regardless of signs (can be positive with two negative factors:
        the pitfall of the Mathematical notes, "Reconstructed here — the rate of Proposition 2", which gives no
        guarantee).
    message : str
        Which condition fails, or ``"hypothesis holds"``.
    """

    dims: tuple[int, ...]
    pyramidal: bool
    factors: tuple[float, ...]
    n_positive: tuple[int, ...]
    required: tuple[int, ...]
    hypothesis_holds: bool
    kappa: float
    naive_product: float
    message: str = field(default="")

    def bound(self, t, loss0: float) -> np.ndarray:
        """The bound ``L̄(0) exp(-2 κ t)`` of Proposition 2 at times ``t``.

        Parameters
        ----------
        t : array_like
            Times.
        loss0 : float
            ``L̄(0)``, the initial (reduced) loss.

        Returns
        -------
        ndarray
            The bound at each time.

        Raises
        ------
        ValueError
            If the hypothesis of Proposition 2 does not hold (then there is no guarantee).
        """
        if not self.hypothesis_holds:
            raise ValueError(f"Proposition 2 does not apply: {self.message}")
        return float(loss0) * np.exp(-2.0 * self.kappa * np.asarray(t, dtype=float))


def prop2_rate(weights0: Sequence, *, rtol: float = 1e-12) -> Prop2Rate:
    """The lower bound ``κ`` on the exponential rate of Proposition 2 of [CLC] (see the Mathematical notes, "Rates of
    convergence").

    Under the pyramidal condition ``d_y = d_N <= d_{N-1} <= ... <= d_1`` and if, at ``t = 0``,
    each ``C_{i-1} = W_i^T W_i - W_{i-1} W_{i-1}^T`` (``i = 2..N``) has at least ``d_i`` positive
    eigenvalues, then along the reduced gradient flow ``L̄(t) <= L̄(0) exp(-2 κ t)`` with

        κ = ∏_{i=2}^{N} λ_(d_{i-1} - d_i + 1)(C_{i-1})     (k-th smallest eigenvalue),

    the product of the ``d_i``-th largest eigenvalues, each of which must be positive.

    Parameters
    ----------
    weights0 : list of ndarray
        Initial weights ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    rtol : float, optional
        Keyword-only. An eigenvalue counts as positive when it exceeds
        ``rtol * max(1, max_j ||C_j||_2)``.

    Returns
    -------
    Prop2Rate
        ``hypothesis_holds`` is False (and ``kappa`` is NaN) when the widths are not pyramidal or
        some factor is not positive; ``message`` says which. For ``N = 1`` the product is empty
        and ``κ = 1`` (then ``dE/dt = -E``).

    Notes
    -----
    Proof chain (see the Mathematical notes, "Boundedness and convergence"):
    ``d/dt ||E||² = -2 Σ_i ||W_{N:i+1}^T E W_{i-1:1}^T||² <= -2 λ_min(W_{N:2} W_{N:2}^T) ||E||²``,
    ``λ_min(W_{N:2} W_{N:2}^T) >= ∏_{i>=2} λ_min(W_i W_i^T)``,
    and by Weyl's inequality applied to ``W_i^T W_i = W_{i-1} W_{i-1}^T + C_{i-1}`` (constant ``C``),
    ``λ_min(W_i W_i^T) = λ_(d_{i-1}-d_i+1)(W_i^T W_i) >= λ_(d_{i-1}-d_i+1)(C_{i-1})``. The last
    step bounds a nonnegative number from below, so a product of two negative factors is positive
    but proves nothing: each factor is checked separately.
    """
    ws = as_weights(weights0, "weights0")
    rtol = check_positive(rtol, "rtol")
    return _prop2(ws, rtol)


def _pyramidal(d: Sequence[int]) -> bool:
    """Whether the widths ``(d_0, ..., d_N)`` satisfy ``d_N <= d_{N-1} <= ... <= d_1``."""
    return all(d[i] <= d[i - 1] for i in range(2, len(d)))


def _prop2(ws: list[np.ndarray], rtol: float) -> Prop2Rate:
    """:func:`prop2_rate` for trusted input (weights and ``rtol`` already checked)."""
    d = dims_of(ws)
    n = len(ws)
    pyramidal = _pyramidal(d)
    cs = _invariants_any(ws)
    scale = max([1.0] + [float(np.linalg.norm(c, 2)) for c in cs])
    factors, n_pos, required = [], [], []
    for i in range(2, n + 1):
        eig = np.linalg.eigvalsh(cs[i - 2])  # ascending, size d_{i-1}
        k = d[i - 1] - d[i] + 1  # 1-based rank from below
        factors.append(float(eig[k - 1]) if k >= 1 else float("nan"))
        n_pos.append(int(np.sum(eig > rtol * scale)))
        required.append(d[i])
    problems = []
    if not pyramidal:
        problems.append(f"widths {d} are not pyramidal (need d_N <= ... <= d_1)")
    for j, (f, p, r) in enumerate(zip(factors, n_pos, required), start=2):
        if not (p >= r and f > rtol * scale):
            problems.append(f"C_{j - 1} has {p} positive eigenvalues, needs {r} (factor {f:.3g})")
    holds = not problems
    naive = float(np.prod(factors)) if factors else 1.0
    return Prop2Rate(
        dims=d,
        pyramidal=pyramidal,
        factors=tuple(factors),
        n_positive=tuple(n_pos),
        required=tuple(required),
        hypothesis_holds=holds,
        kappa=naive if holds else float("nan"),
        naive_product=naive,
        message="hypothesis holds" if holds else "; ".join(problems),
    )


def remark4_weights(dims, rng, *, scales, max_tries: int = 1000) -> list[np.ndarray]:
    """Random initial weights satisfying the hypothesis of Proposition 2 (Remark 4 of [CLC]).

    Remark 4: ``λ_(k)(C_{i-1}) >= λ_(k)(W_i^T W_i) - λ_max(W_{i-1} W_{i-1}^T)``, so the hypothesis
    holds on open sets where ``W_1`` is small and the later layers are large (and, for ``N >= 3``,
    increasingly so). We draw ``(W_i)_{kl} ~ N(0, scales[i-1]^2 / d_{i-1})`` and keep the first draw
    for which :func:`prop2_rate` reports that the hypothesis holds.

    Parameters
    ----------
    dims : sequence of int
        Pyramidal widths ``(d_0, ..., d_N)`` with ``d_N <= ... <= d_1``.
    rng : numpy.random.Generator or int
        Source of randomness.
    scales : sequence of float
        Keyword-only. ``N`` positive scales, one per layer (e.g. increasing: ``[0.1, 1, 2, 4]``).
    max_tries : int, optional
        Keyword-only. Number of draws before giving up.

    Returns
    -------
    list of ndarray
        ``[W_1, ..., W_N]`` for which :func:`prop2_rate` reports that the hypothesis holds.

    Raises
    ------
    ValueError
        If the widths are not pyramidal, ``scales`` has the wrong length, or no draw satisfied the
        hypothesis (the scales do not grow fast enough).
    """
    d = _check_dims(dims)
    g = as_rng(rng)
    n = len(d) - 1
    sc = as_finite_array(scales, "scales", ndim=1)
    if sc.shape[0] != n or np.any(sc <= 0):
        raise ValueError(f"scales must be {n} positive numbers (one per layer), got {list(scales)!r}")
    if not _pyramidal(d):
        raise ValueError(f"Proposition 2 needs pyramidal widths d_N <= ... <= d_1, got {d}")
    max_tries = check_positive(max_tries, "max_tries", integer=True)
    for _ in range(max_tries):
        ws = [g.standard_normal((d[i], d[i - 1])) * (sc[i - 1] / np.sqrt(d[i - 1])) for i in range(1, n + 1)]
        if not all(np.isfinite(w).all() for w in ws):
            as_weights(ws, "weights0")  # a draw overflowed (huge scales): the error of prop2_rate
        if _prop2(ws, 1e-12).hypothesis_holds:  # the default rtol of prop2_rate
            return ws
    raise ValueError(
        f"no draw out of {max_tries} satisfied the hypothesis of Proposition 2 with scales {list(sc)}; "
        "make W_1 smaller or the later layers larger (increasing with depth)"
    )


# --------------------------------------------------------------------------- Lemma 2.4 (see the Mathematical notes,
# "Boundedness and convergence")


@dataclass(frozen=True)
class Lemma24Sandwich:
    """Explicit polynomial bounds of Lemma 2.4 of [CLC] (:func:`lemma24_sandwich`).

    With ``ρ = ||W_1||_F^2``, ``r = min(d_0, d_1)`` and ``c_j^± = max(±λ_max/min(C_j), 0)``:

        lower(ρ) = ∏_{k=1}^{N} (ρ / r - Σ_{j<k} c_j^-)_+  <=  ||W_{N:1}||_F^2
                 <=  upper(ρ) = ρ ∏_{k=2}^{N} (ρ + Σ_{j<k} c_j^+).

    Attributes
    ----------
    depth : int
        ``N``.
    rank_bound : int
        ``r = min(d_0, d_1)``.
    c_plus : ndarray of shape (..., N-1)
        ``max(λ_max(C_j), 0)``.
    c_minus : ndarray of shape (..., N-1)
        ``max(-λ_min(C_j), 0)``.
    """

    depth: int
    rank_bound: int
    c_plus: np.ndarray = field(repr=False)
    c_minus: np.ndarray = field(repr=False)

    def lower(self, rho) -> np.ndarray:
        """Lower bound ``∏_{k=1}^{N} (ρ/r - Σ_{j<k} c_j^-)_+`` (leading term ``ρ^N / r^N``).

        Parameters
        ----------
        rho : float or array_like
            ``ρ = ||W_1||_F^2``.

        Returns
        -------
        ndarray
            The lower bound at ``rho``.
        """
        rho = np.asarray(rho, dtype=float)
        cm = np.concatenate([np.zeros(self.c_minus.shape[:-1] + (1,)), np.cumsum(self.c_minus, axis=-1)], axis=-1)
        return np.prod(np.maximum(rho[..., None] / self.rank_bound - cm, 0.0), axis=-1)

    def upper(self, rho) -> np.ndarray:
        """Upper bound ``ρ ∏_{k=2}^{N} (ρ + Σ_{j<k} c_j^+)`` (leading term ``ρ^N``).

        Parameters
        ----------
        rho : float or array_like
            ``ρ = ||W_1||_F^2``.

        Returns
        -------
        ndarray
            The upper bound at ``rho``.
        """
        rho = np.asarray(rho, dtype=float)
        return rho * np.prod(rho[..., None] + np.cumsum(self.c_plus, axis=-1), axis=-1)


def lemma24_sandwich(weights: Sequence) -> Lemma24Sandwich:
    """The bounds of Lemma 2.4 for the invariants of ``weights`` (single or batched).

    Lemma 2.4 of [CLC] (eq. (9)) states ``C_N^{-1} ρ^N - P_N(ρ) <= ||W_{N:1}||_F^2 <= C_N ρ^N +
    Q_N(ρ)`` with polynomials of degree ``<= N-1`` whose coefficients depend only on ``N``, the
    widths and the invariants ``C_i``; since the ``C_i`` are constant along the flow, so are the
    bounds as functions of ``ρ = ||W_1||_F^2``. The printed constants could not be recovered
    (see the Mathematical notes, "Reconstructed here — explicit constants for Lemma 2.4"); this function gives an
    explicit version, with ``C_N = r^N`` below and ``C_N = 1`` above (see :class:`Lemma24Sandwich`).

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, single (``W_i`` of shape ``(d_i, d_{i-1})``) or batched
        (``(K, d_i, d_{i-1})``).

    Returns
    -------
    Lemma24Sandwich
        The bounds as functions of ``ρ``.

    Notes
    -----
    *Upper:* ``||W_{N:1}||_F <= ||W_1||_F ∏_{i>=2} ||W_i||_2`` and, by Weyl's inequality on
    ``W_i^T W_i = W_{i-1} W_{i-1}^T + C_{i-1}``, ``||W_i||_2^2 <= ||W_{i-1}||_2^2 + c_{i-1}^+``, so
    ``||W_i||_2^2 <= ρ + Σ_{j<i} c_j^+``.

    *Lower:* let ``p_k = ||W_{k:1}||_2^2`` (``p_0 = 1``) and ``u`` a top left singular vector of
    ``W_{k-1:1}``. Then ``p_k >= p_{k-1} u^T W_k^T W_k u >= p_{k-1} (||W_{k-1}^T u||^2 - c_{k-1}^-)``
    and ``p_{k-1} <= p_{k-2} ||W_{k-1}^T u||^2``, so ``q_k = p_k / p_{k-1}`` satisfies
    ``q_k >= q_{k-1} - c_{k-1}^-`` with ``q_1 = ||W_1||_2^2 >= ρ / r``. Hence
    ``||W_{N:1}||_F^2 >= p_N >= ∏_k (ρ/r - Σ_{j<k} c_j^-)_+``.
    """
    ws, _ = _weights_any(weights)
    return _sandwich(ws)


def _sandwich(ws: list[np.ndarray]) -> Lemma24Sandwich:
    """:func:`lemma24_sandwich` for trusted (single or batched) weights."""
    d = dims_of(ws)
    n = len(ws)
    batch = ws[0].shape[:-2]
    if n == 1:
        empty = np.zeros(batch + (0,))
        return Lemma24Sandwich(depth=1, rank_bound=min(d[0], d[1]), c_plus=empty, c_minus=empty)
    eigs = [np.linalg.eigvalsh(c) for c in _invariants_any(ws)]
    c_plus = np.stack([np.maximum(e[..., -1], 0.0) for e in eigs], axis=-1)
    c_minus = np.stack([np.maximum(-e[..., 0], 0.0) for e in eigs], axis=-1)
    return Lemma24Sandwich(depth=n, rank_bound=min(d[0], d[1]), c_plus=c_plus, c_minus=c_minus)


@dataclass(frozen=True)
class Lemma24Terms:
    """Terms of Lemma 2.4 of [CLC] at given weights (:func:`lemma24_terms`).

    Floats for a single weights tuple, ``(K,)`` arrays for a batch.

    Attributes
    ----------
    rho : float or ndarray
        ``ρ = ||W_1||_F^2``.
    end_to_end_sq : float or ndarray
        ``||W_{N:1}||_F^2``.
    principal : float or ndarray
        ``tr((W_1^T W_1)^N)``, the principal term of the proof; equals ``end_to_end_sq``
        exactly for balanced weights (all ``C_i = 0``).
    power_trace_lower : float or ndarray
        ``(tr A)^N / r^{N-1}`` for ``A = W_1^T W_1`` (``tr A = ρ``, ``r = min(d_0, d_1) >= rank A``);
        by Hölder's inequality ``power_trace_lower <= principal <= power_trace_upper``.
    power_trace_upper : float or ndarray
        ``(tr A)^N``.
    lower : float or ndarray
        The lower bound of :func:`lemma24_sandwich` evaluated at ``ρ``.
    upper : float or ndarray
        The upper bound of :func:`lemma24_sandwich` evaluated at ``ρ``.
    """

    rho: float | np.ndarray
    end_to_end_sq: float | np.ndarray
    principal: float | np.ndarray
    power_trace_lower: float | np.ndarray
    power_trace_upper: float | np.ndarray
    lower: float | np.ndarray
    upper: float | np.ndarray


def lemma24_terms(weights: Sequence) -> Lemma24Terms:
    """Evaluate the terms of Lemma 2.4 of [CLC] (eq. (9); see the Mathematical notes, "Boundedness and convergence") at
    ``weights``.

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]`` with ``W_i`` of shape ``(d_i, d_{i-1})``, or a batch with
        ``W_i`` of shape ``(K, d_i, d_{i-1})``.

    Returns
    -------
    Lemma24Terms
        Floats for single weights, ``(K,)`` arrays for a batch.
    """
    ws, batched = _weights_any(weights)
    d = dims_of(ws)
    n = len(ws)
    r = min(d[0], d[1])
    prod = _end_to_end(ws)
    rho = np.sum(ws[0] ** 2, axis=(-2, -1))
    e2e = np.sum(prod**2, axis=(-2, -1))
    sv2 = np.linalg.svd(ws[0], compute_uv=False) ** 2
    principal = np.sum(sv2**n, axis=-1)
    sw = _sandwich(ws)

    def f(a):
        return _scalar_or_array(a, batched)

    return Lemma24Terms(
        rho=f(rho),
        end_to_end_sq=f(e2e),
        principal=f(principal),
        power_trace_lower=f(rho**n / r ** (n - 1)),
        power_trace_upper=f(rho**n),
        lower=f(sw.lower(rho)),
        upper=f(sw.upper(rho)),
    )


@dataclass(frozen=True)
class FlowNormBound:
    """A priori bound on the weights along a gradient flow (:func:`flow_norm_bound`).

    Floats for a single weights tuple, ``(K,)`` arrays for a batch.

    Attributes
    ----------
    end_to_end_sq_max : float or ndarray
        ``B = (||Y||_F + sqrt(2 L(W(0))))^2 / λ_min(X X^T)``, a bound on ``||W_{N:1}(t)||_F^2``
        for all ``t >= 0`` (the loss does not increase along the flow).
    rho_max : float or ndarray
        The largest ``ρ`` with ``lower(ρ) <= B`` (:class:`Lemma24Sandwich`): a bound on
        ``||W_1(t)||_F^2``.
    weights_norm_max : float or ndarray
        ``sqrt(N ρ_max + Σ_{i=2}^{N} Σ_{j<i} tr C_j)``, a bound on ``||W(t)||_F`` for all ``t >= 0``.
    weights_norm0 : float or ndarray
        ``||W(0)||_F``, for comparison.
    """

    end_to_end_sq_max: float | np.ndarray
    rho_max: float | np.ndarray
    weights_norm_max: float | np.ndarray
    weights_norm0: float | np.ndarray


def flow_norm_bound(weights0: Sequence, X, Y) -> FlowNormBound:
    """Bound ``sup_t ||W(t)||_F`` along the gradient flow of ``L`` from ``weights0`` (Prop. 1 of [CLC]).

    This is the boundedness argument of Proposition 1, made explicit with the constants of
    :func:`lemma24_sandwich` (see the Mathematical notes, Boundedness, and the reconstructed
    constants of Lemma 2.4). Three facts, each exact along the flow:

    1. ``L(W(t)) <= L(W(0))``, so ``||W_{N:1} X||_F <= ||Y||_F + sqrt(2 L(W(0)))`` and, with
       ``||P X||_F^2 >= λ_min(X X^T) ||P||_F^2``, ``||W_{N:1}(t)||_F^2 <= B``.
    2. The invariants ``C_j`` are constant (Lemma 2.3), so the lower bound of Lemma 2.4,
       ``lower(ρ) <= ||W_{N:1}||_F^2``, is the same function of ``ρ = ||W_1||_F^2`` at every time:
       ``lower(ρ(t)) <= B``, i.e. ``ρ(t) <= ρ_max``.
    3. ``||W_i||_F^2 = ρ + Σ_{j<i} tr C_j`` (eq. (8)), so ``||W(t)||_F^2 <= N ρ_max + Σ_i Σ_{j<i} tr C_j``.

    Parameters
    ----------
    weights0 : list of ndarray
        Initial weights ``[W_1, ..., W_N]`` (``W_i`` of shape ``(d_i, d_{i-1})``), or a batch
        (``(K, d_i, d_{i-1})``).
    X : ndarray of shape (d_x, m)
        Data of full row rank (Assumption 2).
    Y : ndarray of shape (d_y, m)
        Targets.

    Returns
    -------
    FlowNormBound
        The bounds, floats for single weights and ``(K,)`` arrays for a batch.

    Raises
    ------
    ValueError
        If ``X X^T`` is singular (then no such bound follows from the loss), or shapes disagree.
    """
    ws, batched = _weights_any(weights0, "weights0")
    X = as_finite_array(X, "X", ndim=2)
    Y = as_finite_array(Y, "Y", ndim=2)
    d = dims_of(ws)
    if X.shape[0] != d[0] or Y.shape[0] != d[-1] or X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"X must have shape (d_0={d[0]}, m) and Y shape (d_N={d[-1]}, m) with the same m; "
            f"got X {X.shape}, Y {Y.shape}"
        )
    lam_min = float(np.linalg.eigvalsh(X @ X.T)[0])
    if not lam_min > 1e-12 * max(float(np.sum(X * X)), 1e-300):
        raise ValueError(f"X X^T must be positive definite (Assumption 2); its smallest eigenvalue is {lam_min:.3e}")
    n = len(ws)
    resid = Y - _end_to_end(ws) @ X
    loss0 = 0.5 * np.sum(resid * resid, axis=(-2, -1))
    bound_e2e = (np.sqrt(np.sum(Y * Y)) + np.sqrt(2.0 * loss0)) ** 2 / lam_min
    sw = _sandwich(ws)
    cm_max = np.sum(sw.c_minus, axis=-1)
    lo = sw.rank_bound * cm_max  # lower(lo) = 0 <= B
    hi = sw.rank_bound * (cm_max + bound_e2e ** (1.0 / n)) * (1 + 1e-12) + 1e-300  # lower(hi) >= B
    for _ in range(200):  # bisection on the nondecreasing function lower(ρ) - B
        mid = 0.5 * (lo + hi)
        below = sw.lower(mid) <= bound_e2e
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    rho_max = hi
    tr_c = [np.sum(ws[j + 1] ** 2, axis=(-2, -1)) - np.sum(ws[j] ** 2, axis=(-2, -1)) for j in range(n - 1)]
    offsets = sum(sum(tr_c[:i]) for i in range(1, n)) if n > 1 else 0.0
    norm_max = np.sqrt(n * rho_max + offsets)
    norm0 = np.sqrt(sum(np.sum(w * w, axis=(-2, -1)) for w in ws))

    def f(a):
        return _scalar_or_array(a, batched)

    return FlowNormBound(
        end_to_end_sq_max=f(bound_e2e), rho_max=f(rho_max), weights_norm_max=f(norm_max), weights_norm0=f(norm0)
    )
