"""The deep linear network, its loss and gradient, invariants, initializations, data checks
and the SVD reduction of [CLC] Section 2.1.

Notation (see the Mathematical notes, "Notation"): weights ``[W_1, ..., W_N]`` with ``W_i`` of shape ``(d_i, d_{i-1})``;
data ``X`` of shape ``(d_x, m)``, targets ``Y`` of shape ``(d_y, m)``; partial products
``W_{j:i} = W_j ... W_i`` (identity when ``j < i``); loss ``L = 1/2 ||Y - W_{N:1} X||_F^2``.

References
----------
[CLC] Y. Chitour, Z. Liao, R. Couillet, *A Geometric Approach of Gradient Descent Algorithms in
Linear Neural Networks*, Math. Control Relat. Fields 13(3), 2023 (arXiv:1811.03568).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ._validation import as_finite_array, as_rng, as_weights, check_positive, dims_of

__all__ = [
    "DataSummary",
    "RankReduction",
    "Reduction",
    "balanced_weights",
    "check_data",
    "end_to_end",
    "gradient",
    "invariants",
    "least_squares",
    "loss",
    "partial_product",
    "random_weights",
    "reduce_data",
    "reduce_rank_deficient",
]


# --------------------------------------------------------------------------- products


def _chain(weights: Sequence[np.ndarray], j: int, i: int, d: int) -> np.ndarray:
    """``W_{j:i}`` (1-based, inclusive) for trusted input; ``I_d`` when ``j < i``."""
    if j < i:
        return np.eye(d)
    out = weights[i - 1]
    for w in weights[i:j]:
        out = w @ out
    return out


def partial_product(weights: Sequence, j: int, i: int) -> np.ndarray:
    """Partial product ``W_{j:i} = W_j W_{j-1} ... W_i`` (1-based, see the Mathematical notes, "Notation").

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``W_k`` of shape ``(d_k, d_{k-1})``.
    j, i : int
        ``1 <= i <= N`` and ``0 <= j <= N``; when ``j < i`` the identity of size ``d_{i-1}``
        is returned (empty product), as in the paper.

    Returns
    -------
    ndarray of shape (d_j, d_{i-1})
        The product ``W_{j:i}``.

    Raises
    ------
    ValueError
        If ``i`` or ``j`` is out of range.
    """
    ws = as_weights(weights)
    n = len(ws)
    if not (1 <= i <= n + 1 and 0 <= j <= n):
        raise ValueError(f"partial_product: need 1 <= i <= N+1 and 0 <= j <= N with N={n}, got j={j}, i={i}")
    d = dims_of(ws)
    return _chain(ws, j, i, d[i - 1])


def end_to_end(weights: Sequence) -> np.ndarray:
    """End-to-end map ``W_{N:1} = W_N ... W_1`` (see the Mathematical notes, "Notation").

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.

    Returns
    -------
    ndarray of shape (d_N, d_0)
        The product ``W_{N:1}``.
    """
    ws = as_weights(weights)
    return _end_to_end(ws)


# --------------------------------------------------------------------------- data checks


def _check_xy(X, Y) -> tuple[np.ndarray, np.ndarray]:
    X = as_finite_array(X, "X", ndim=2)
    Y = as_finite_array(Y, "Y", ndim=2)
    if X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"X and Y must have the same number of samples (columns): X is {X.shape}, Y is {Y.shape} "
            "(X is (d_x, m), Y is (d_y, m))"
        )
    return X, Y


def _check_problem(weights, X, Y, name: str = "weights") -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Validated ``(weights, X, Y)`` of one problem: each checked alone, then against each other."""
    ws = as_weights(weights, name)
    X, Y = _check_xy(X, Y)
    _check_weights_data(ws, X, Y)
    return ws, X, Y


def _check_weights_data(ws: list[np.ndarray], X: np.ndarray, Y: np.ndarray) -> None:
    if ws[0].shape[1] != X.shape[0]:
        raise ValueError(
            f"W_1 has shape {ws[0].shape}, so it expects X with {ws[0].shape[1]} rows (d_x), got X of shape {X.shape}"
        )
    if ws[-1].shape[0] != Y.shape[0]:
        raise ValueError(
            f"W_N has shape {ws[-1].shape}, so it produces {ws[-1].shape[0]} outputs (d_y), got Y of shape {Y.shape}"
        )


def loss(weights: Sequence, X, Y) -> float:
    """Square loss ``L(W) = 1/2 ||Y - W_N ... W_1 X||_F^2`` ([CLC] eq. (1); see the Mathematical notes, "Notation").

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.

    Returns
    -------
    float
        The loss value.

    Raises
    ------
    ValueError
        If the shapes of ``weights``, ``X`` and ``Y`` are inconsistent or entries are not finite.

    Examples
    --------
    >>> import numpy as np, dlnlib
    >>> X, Y = np.eye(2), np.eye(2)
    >>> dlnlib.loss([np.eye(2), 2 * np.eye(2)], X, Y)
    1.0
    """
    ws, X, Y = _check_problem(weights, X, Y)
    return _loss_at(_end_to_end(ws), X, Y)


def _loss_at(product: np.ndarray, X: np.ndarray, Y: np.ndarray) -> float:
    """``1/2 ||Y - P X||_F^2`` for the end-to-end map ``P = W_{N:1}`` (trusted input)."""
    r = Y - product @ X
    return 0.5 * float(np.sum(r * r))


def _end_to_end(ws: Sequence[np.ndarray]) -> np.ndarray:
    """``W_{N:1}`` for trusted input (weights may carry a leading batch axis)."""
    return _chain(ws, len(ws), 1, ws[0].shape[-1])


def _offsets(dims: Sequence[int]) -> np.ndarray:
    """Start of each ``W_i`` in the flat parameter vector: ``[0, d_1 d_0, d_1 d_0 + d_2 d_1, ..., P]`` (read-only)."""
    return _offsets_of(tuple(dims))


@functools.lru_cache(maxsize=64)
def _offsets_of(dims: tuple[int, ...]) -> np.ndarray:
    # cached: _unflat runs at every gradient evaluation of the integrators
    off = np.concatenate([[0], np.cumsum([dims[i] * dims[i - 1] for i in range(1, len(dims))])]).astype(int)
    off.flags.writeable = False
    return off


def _unflat(x: np.ndarray, dims: Sequence[int]) -> list[np.ndarray]:
    """Views ``W_i`` of shape ``(..., d_i, d_{i-1})`` into ``x`` of shape ``(..., P)`` (inverse of :func:`_flat`)."""
    off = _offsets(dims)
    lead = x.shape[:-1]
    return [x[..., off[i - 1] : off[i]].reshape(*lead, dims[i], dims[i - 1]) for i in range(1, len(dims))]


def _flat(ws: Sequence[np.ndarray]) -> np.ndarray:
    """``concat(W_1.ravel(), ..., W_N.ravel())``: the parameter vector of length ``P`` (C order).

    Leading batch axes are kept: ``W_i`` of shape ``(..., d_i, d_{i-1})`` give ``(..., P)``
    (the inverse of :func:`_unflat`).
    """
    return np.concatenate([w.reshape(*w.shape[:-2], -1) for w in ws], axis=-1)


def _invariants_any(ws: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``C_i = W_{i+1}^T W_{i+1} - W_i W_i^T`` for trusted input, with or without batch axes."""
    return [np.swapaxes(ws[i + 1], -1, -2) @ ws[i + 1] - ws[i] @ np.swapaxes(ws[i], -1, -2) for i in range(len(ws) - 1)]


def _prefix_products(ws: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``[I, W_1, W_2 W_1, ..., W_{N:1}]`` (trusted input; weights may carry a leading batch axis)."""
    prefix = [np.eye(ws[0].shape[-1])]
    for i, w in enumerate(ws):
        prefix.append(w if i == 0 else w @ prefix[-1])
    return prefix


@dataclass(frozen=True)
class _Products:
    """Prefix ``pre[i] = W_{i:1}`` (i = 0..N) and suffix ``suf[i] = W_{N:i+1}`` (i = 0..N) products."""

    pre: list[np.ndarray]
    suf: list[np.ndarray]


def _products(ws: Sequence[np.ndarray]) -> _Products:
    pre = _prefix_products(ws)
    suf = [np.eye(ws[-1].shape[0])]
    for w in reversed(ws):
        suf.append(suf[-1] @ w)
    return _Products(pre=pre, suf=suf[::-1])


def _residual_moment(prod: _Products, sxx: np.ndarray, syx: np.ndarray) -> np.ndarray:
    """``E = (W_{N:1} X - Y) X^T = W_{N:1} Σ_XX - Σ_YX`` of shape ``(d_y, d_x)``."""
    return prod.pre[-1] @ sxx - syx


def _norm2(a: np.ndarray) -> float:
    """Spectral norm (0 for an empty matrix)."""
    return float(np.linalg.norm(a, 2)) if a.size else 0.0


def _gradient_scale(prod: _Products, norm_sxx: float, norm_syx: float) -> float:
    """Size of the gradient without cancellations: ``sqrt(sum_i (||W_{N:i+1}|| ||W_{i-1:1}|| e_scale)^2)``.

    ``e_scale = ||W_{N:1}|| ||Σ_XX|| + ||Σ_YX||`` bounds ``||(W_{N:1} X - Y) X^T||`` (spectral norms,
    ``norm_sxx = ||Σ_XX||``, ``norm_syx = ||Σ_YX||``).
    """
    n = len(prod.pre) - 1
    e_scale = _norm2(prod.pre[-1]) * norm_sxx + norm_syx
    terms = [(_norm2(prod.suf[i]) * _norm2(prod.pre[i - 1]) * e_scale) ** 2 for i in range(1, n + 1)]
    return float(np.sqrt(sum(terms)))


def _relative_gradient(prod: _Products, sxx: np.ndarray, syx: np.ndarray) -> float:
    """``||∇L|| / scale`` with the scale of :func:`_gradient_scale` (0 when both vanish; see the Mathematical notes,
    "Notation").

    The criticality test of :func:`dlnlib.critical.critical_point` and :func:`dlnlib.hessian.classification`.
    """
    e = _residual_moment(prod, sxx, syx)
    n = len(prod.pre) - 1
    grads = [prod.suf[i].T @ e @ prod.pre[i - 1].T for i in range(1, n + 1)]
    gnorm = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads)))
    scale = _gradient_scale(prod, _norm2(sxx), _norm2(syx))
    return gnorm / scale if scale > 0 else (0.0 if gnorm == 0 else np.inf)


def _gradient_from_e(
    ws: Sequence[np.ndarray], e: np.ndarray, prefix: list[np.ndarray] | None = None
) -> list[np.ndarray]:
    """``grad_i = W_{N:i+1}^T e W_{i-1:1}^T`` for ``e = (W_{N:1} X - Y) X^T`` (trusted input).

    Works on single weights ``(d_i, d_{i-1})`` and on batches ``(K, d_i, d_{i-1})`` (with ``e`` of
    shape ``(K, d_y, d_x)``). Prefix products are computed once (or passed in), so the cost is
    O(N) matrix products.
    """
    if prefix is None:
        prefix = _prefix_products(ws)
    grads: list[np.ndarray] = [None] * len(ws)  # type: ignore[list-item]
    left = e  # W_{N:i+1}^T e, starting at i = N
    for i in range(len(ws) - 1, -1, -1):
        grads[i] = left if i == 0 else left @ np.swapaxes(prefix[i], -1, -2)
        if i > 0:
            left = np.swapaxes(ws[i], -1, -2) @ left
    return grads


def gradient(weights: Sequence, X, Y) -> list[np.ndarray]:
    """Gradient of the loss, ``∇_{W_i} L = W_{N:i+1}^T (W_{N:1} X - Y) X^T W_{i-1:1}^T``.

    [CLC] eq. (5)-(6); see the Mathematical notes, "Notation".

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.

    Returns
    -------
    list of ndarray
        ``[∇_{W_1} L, ..., ∇_{W_N} L]``, shaped like ``weights``.

    Raises
    ------
    ValueError
        If the shapes of ``weights``, ``X`` and ``Y`` are inconsistent or entries are not finite.
    """
    ws, X, Y = _check_problem(weights, X, Y)
    e = (_chain(ws, len(ws), 1, X.shape[0]) @ X - Y) @ X.T
    return _gradient_from_e(ws, e)


def invariants(weights: Sequence) -> list[np.ndarray]:
    """The conserved quantities ``C_i = W_{i+1}^T W_{i+1} - W_i W_i^T``, ``i = 1..N-1``.

    Lemma 2.3 of [CLC] (eq. (7)); see the Mathematical notes, "Invariants of the flow". Each ``C_i`` is constant along
    the gradient flow; their traces give (8).

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.

    Returns
    -------
    list of ndarray
        ``[C_1, ..., C_{N-1}]``, ``C_i`` of shape ``(d_i, d_i)`` (empty for ``N = 1``).
    """
    ws = as_weights(weights)
    return _invariants_any(ws)


# --------------------------------------------------------------------------- initializations


def _check_dims(dims) -> tuple[int, ...]:
    what = "dims must be a sequence of positive integers (d_0, ..., d_N)"
    if isinstance(dims, (str, bytes)):
        raise TypeError(f"{what}, got {dims!r}")
    try:
        items = list(dims)
    except TypeError as exc:
        raise TypeError(f"{what}, got {dims!r}") from exc
    for x in items:
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
            raise TypeError(f"{what}, got {dims!r} (entry {x!r} is not a number)")
        if not np.isfinite(x):
            raise ValueError(f"{what}, got {dims!r} (entry {x!r} is not finite)")
    d = tuple(int(x) for x in items)
    if len(d) < 2:
        raise ValueError(f"dims must have at least two entries (d_0, d_1), got {dims!r}")
    if any(x < 1 for x in d) or any(float(x) != float(y) for x, y in zip(d, dims)):
        raise ValueError(f"dims must be positive integers, got {dims!r}")
    return d


def random_weights(dims, rng, *, scale: float = 1.0) -> list[np.ndarray]:
    """Gaussian weights ``(W_i)_{kl} ~ N(0, scale^2 / d_{i-1})`` for ``dims = (d_0, ..., d_N)``.

    Parameters
    ----------
    dims : sequence of int
        Widths ``(d_0, ..., d_N)``.
    rng : numpy.random.Generator or int
        Source of randomness (required).
    scale : float, optional
        Keyword-only. Overall scale; ``scale=1`` is the LeCun/Glorot-type normalization.

    Returns
    -------
    list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.

    Raises
    ------
    TypeError, ValueError
        If ``dims`` is not a sequence of at least two positive integers, or ``scale`` is not positive.
    """
    d = _check_dims(dims)
    g = as_rng(rng)
    s = check_positive(scale, "scale")
    return [g.standard_normal((d[i], d[i - 1])) * (s / np.sqrt(d[i - 1])) for i in range(1, len(d))]


def _haar_orthogonal(g: np.random.Generator, n: int) -> np.ndarray:
    q, r = np.linalg.qr(g.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def balanced_weights(dims, rng, *, scale: float = 1.0) -> list[np.ndarray]:
    """Random *balanced* weights: every invariant ``C_i`` of Lemma 2.3 vanishes (see the Mathematical notes, "Invariants
    of the flow").

    Construction: draw a Gaussian end-to-end target ``A`` of shape ``(d_N, d_0)`` with
    entries ``N(0, scale^2/d_0)``, keep its top ``r = min(dims)`` singular triplets
    ``A_r = U S V^T``, and set ``W_1 = Q_1 J S^{1/N} V^T``, ``W_i = Q_i J S^{1/N} J^T Q_{i-1}^T``,
    ``W_N = U S^{1/N} J^T Q_{N-1}^T`` with ``J = [I_r; 0]`` and Haar orthogonal ``Q_i``.
    Then ``W_{i+1}^T W_{i+1} = W_i W_i^T = Q_i J S^{2/N} J^T Q_i^T`` and ``W_{N:1} = A_r``.

    Parameters
    ----------
    dims : sequence of int
        Widths ``(d_0, ..., d_N)``.
    rng : numpy.random.Generator or int
        Source of randomness (required).
    scale : float, optional
        Keyword-only. Scale of the Gaussian end-to-end target ``A``.

    Returns
    -------
    list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``, with every ``C_i = 0``.

    Raises
    ------
    TypeError, ValueError
        If ``dims`` is not a sequence of at least two positive integers, or ``scale`` is not positive.
    """
    d = _check_dims(dims)
    g = as_rng(rng)
    s = check_positive(scale, "scale")
    n = len(d) - 1
    r = min(d)
    a = g.standard_normal((d[-1], d[0])) * (s / np.sqrt(d[0]))
    u, sv, vt = np.linalg.svd(a, full_matrices=False)
    root = np.diag(sv[:r] ** (1.0 / n))
    if n == 1:
        return [a]
    qs = [_haar_orthogonal(g, d[i])[:, :r] for i in range(1, n)]  # Q_i J, orthonormal columns
    ws = [qs[0] @ root @ vt[:r]]
    ws += [qs[i] @ root @ qs[i - 1].T for i in range(1, n - 1)]
    ws.append(u[:, :r] @ root @ qs[-1].T)
    return ws


# --------------------------------------------------------------------------- data: assumptions


@dataclass(frozen=True)
class DataSummary:
    """What :func:`check_data` verified (Assumptions 1-3 of [CLC]; see the Mathematical notes, "Assumptions").

    Attributes
    ----------
    dims : tuple of int
        Widths ``(d_0, ..., d_N)``.
    m : int
        Number of samples.
    singular_values : ndarray of shape (d_y,)
        ``s_1 > ... > s_{d_y} > 0``, singular values of the reduced target.
    min_relative_gap : float
        ``min_i (s_i - s_{i+1}) / s_1`` (Assumption 3 needs it > 0).
    r_max : int
        Thinnest width ``min(dims)``.
    filling : bool
        Whether ``r_max >= d_y`` (width part of Assumption 1).
    """

    dims: tuple[int, ...]
    m: int
    singular_values: np.ndarray = field(repr=False)
    min_relative_gap: float
    r_max: int
    filling: bool


def check_data(X, Y, dims, *, allow_non_filling: bool = False, rtol: float = 1e-10) -> DataSummary:
    """Validate data and widths against Assumptions 1-3 of [CLC] (see the Mathematical notes, "Assumptions").

    Parameters
    ----------
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.
    dims : sequence of int
        Widths ``(d_0, ..., d_N)`` with ``d_0 = d_x`` and ``d_N = d_y``.
    allow_non_filling : bool, optional
        Keyword-only. Accept hidden widths below ``d_y`` (the non-filling setting of
        [AMG]/[TKB]), which the width part of Assumption 1 excludes.
    rtol : float, optional
        Keyword-only. Relative tolerance for numerical rank (Assumption 2) and for distinctness
        of singular values (Assumption 3), relative to the largest singular value.

    Returns
    -------
    DataSummary
        What was verified.

    Raises
    ------
    ValueError
        Naming the violated assumption and the offending numbers: shapes inconsistent with
        ``dims``, NaN/inf entries, ``m < d_x`` or ``d_x < d_y`` or a hidden width ``< d_y``
        (Assumption 1), rank-deficient ``X`` or ``Y`` (Assumption 2), repeated singular
        values of the reduced target (Assumption 3).
    """
    rtol = check_positive(rtol, "rtol")
    return _check_and_reduce(X, Y, dims, allow_non_filling=allow_non_filling, rtol=rtol)[0]


def _check_and_reduce(
    X, Y, dims, *, allow_non_filling: bool = False, rtol: float = 1e-10
) -> tuple[DataSummary, Reduction, np.ndarray, np.ndarray]:
    """:func:`check_data` and the reduction it builds on the way, with the checked ``X``, ``Y``.

    For callers that need both: :func:`reduce_data` after :func:`check_data` would check ``X``
    and ``Y`` again and repeat the SVDs (its checks are implied by :func:`check_data`'s).
    """
    X, Y = _check_xy(X, Y)
    d = _check_dims(dims)
    dx, m = X.shape
    dy = Y.shape[0]
    if d[0] != dx:
        raise ValueError(f"dims[0] = d_x must equal the number of rows of X: dims[0]={d[0]}, X has shape {X.shape}")
    if d[-1] != dy:
        raise ValueError(f"dims[-1] = d_y must equal the number of rows of Y: dims[-1]={d[-1]}, Y has shape {Y.shape}")
    if not (m >= dx >= dy):
        raise ValueError(f"Assumption 1 of [CLC] requires m >= d_x >= d_y, got m={m}, d_x={dx}, d_y={dy}")
    hidden = d[1:-1]
    r_max = min(d)
    if hidden and min(hidden) < dy and not allow_non_filling:
        raise ValueError(
            f"Assumption 1 of [CLC] requires every hidden width >= d_y = {dy}, got hidden widths {hidden} "
            "(pass allow_non_filling=True for the non-filling setting of Achour et al. / Trager et al.)"
        )
    sx = np.linalg.svd(X, compute_uv=False)
    if sx[-1] <= rtol * sx[0]:
        raise ValueError(
            f"Assumption 2 of [CLC]: X must have full row rank d_x={dx}; its smallest singular value is "
            f"{sx[-1]:.3e} vs largest {sx[0]:.3e} (relative {sx[-1] / sx[0]:.1e} <= rtol={rtol:g})"
        )
    sy = np.linalg.svd(Y, compute_uv=False)
    if sy[0] == 0 or sy[-1] <= rtol * sy[0]:
        raise ValueError(
            f"Assumption 2 of [CLC]: Y must have full row rank d_y={dy}; its singular values are "
            f"{np.array2string(sy, precision=3)}"
        )
    red = _reduce(X, Y)
    s = red.singular_values
    if s[-1] <= rtol * s[0]:
        raise ValueError(
            "Assumption 2/3 of [CLC]: the reduced target Y V_1 (projection of Y on the row space of X) must have "
            f"d_y={dy} positive singular values, got {np.array2string(s, precision=3)}"
        )
    gaps = -np.diff(s) / s[0] if dy > 1 else np.array([np.inf])
    min_gap = float(np.min(gaps))
    if min_gap <= rtol:
        k = int(np.argmin(gaps))
        raise ValueError(
            "Assumption 3 of [CLC]: the reduced target must have distinct singular values, but "
            f"s_{k + 1} = {s[k]:.12g} and s_{k + 2} = {s[k + 1]:.12g} coincide "
            f"(relative gap {min_gap:.1e} <= rtol={rtol:g})"
        )
    summary = DataSummary(dims=d, m=m, singular_values=s, min_relative_gap=min_gap, r_max=r_max, filling=r_max >= dy)
    return summary, red, X, Y


# --------------------------------------------------------------------------- reduction


@dataclass(frozen=True)
class Reduction:
    """The canonical reduced problem of [CLC] §2.1, eqs. (2)-(3) (see the Mathematical notes, "The reduction").

    With ``X = U_X Σ_X V_1^T`` (thin SVD) and ``Y V_1 = U_Y [diag(s) 0] V_Y^T``, the change of
    variables ``W̄_1 = W_1 U_X Σ_X V_Y`` (first layer), ``W̄_N = U_Y^T W_N`` (last layer), others
    unchanged, gives ``L(W) = 1/2 ||Σ̄ - W̄_{N:1}||_F^2 + c`` with ``Σ̄ = [diag(s) 0]``.

    The substitution is linear but not orthogonal unless ``X X^T ∝ I``: critical points,
    critical values and Hessian inertia transfer exactly; gradient-flow trajectories transfer
    only for whitened data.

    Attributes
    ----------
    singular_values : ndarray of shape (d_y,)
        ``s``, decreasing.
    constant : float
        ``c = 1/2 (||Y||_F^2 - sum s_i^2)``, the part of the loss no network removes
        (``c_0`` of Remark 5).
    U_X : ndarray of shape (d_x, d_x)
        Left singular vectors of ``X``.
    sigma_X : ndarray of shape (d_x,)
        Singular values of ``X``.
    U_Y : ndarray of shape (d_y, d_y)
        Orthogonal change of basis of the output space.
    V_Y : ndarray of shape (d_x, d_x)
        Orthogonal change of basis of the input space.
    """

    singular_values: np.ndarray
    constant: float
    U_X: np.ndarray = field(repr=False)
    sigma_X: np.ndarray = field(repr=False)
    U_Y: np.ndarray = field(repr=False)
    V_Y: np.ndarray = field(repr=False)

    @property
    def sigma_bar(self) -> np.ndarray:
        """The reduced target ``Σ̄ = [diag(s) 0]`` of shape ``(d_y, d_x)``."""
        dy, dx = self.U_Y.shape[0], self.U_X.shape[0]
        out = np.zeros((dy, dx))
        out[np.arange(dy), np.arange(dy)] = self.singular_values
        return out

    def _first(self) -> np.ndarray:
        return self.U_X * self.sigma_X @ self.V_Y  # U_X Σ_X V_Y

    def to_reduced(self, weights: Sequence) -> list[np.ndarray]:
        """Map weights of the original problem to the reduced problem.

        Parameters
        ----------
        weights : list of ndarray
            ``[W_1, ..., W_N]`` in the original coordinates.

        Returns
        -------
        list of ndarray
            ``[W̄_1, ..., W̄_N]`` (new arrays; the input is not modified).
        """
        ws = [w.copy() for w in as_weights(weights)]
        ws[0] = ws[0] @ self._first()
        ws[-1] = self.U_Y.T @ ws[-1]
        return ws

    def from_reduced(self, weights: Sequence) -> list[np.ndarray]:
        """Inverse of :meth:`to_reduced`.

        Parameters
        ----------
        weights : list of ndarray
            ``[W̄_1, ..., W̄_N]`` in the reduced coordinates.

        Returns
        -------
        list of ndarray
            ``[W_1, ..., W_N]`` in the original coordinates (new arrays).
        """
        ws = [w.copy() for w in as_weights(weights)]
        ws[-1] = self.U_Y @ ws[-1]
        ws[0] = ws[0] @ (self.V_Y.T / self.sigma_X[None, :]) @ self.U_X.T
        return ws

    def reduced_loss(self, weights_reduced: Sequence) -> float:
        """Effective loss ``1/2 ||Σ̄ - W̄_{N:1}||_F^2`` (without the constant).

        Parameters
        ----------
        weights_reduced : list of ndarray
            ``[W̄_1, ..., W̄_N]`` in the reduced coordinates.

        Returns
        -------
        float
            ``L(W) - constant``.
        """
        r = self.sigma_bar - end_to_end(weights_reduced)
        return 0.5 * float(np.sum(r * r))


def _reduce(X: np.ndarray, Y: np.ndarray) -> Reduction:
    u_x, s_x, v1t = np.linalg.svd(X, full_matrices=False)
    yt = Y @ v1t.T  # (d_y, d_x)
    u_y, s, v_yt = np.linalg.svd(yt, full_matrices=True)
    const = 0.5 * max(float(np.sum(Y * Y)) - float(np.sum(s * s)), 0.0)
    return Reduction(singular_values=s, constant=const, U_X=u_x, sigma_X=s_x, U_Y=u_y, V_Y=v_yt.T)


def reduce_data(X, Y) -> Reduction:
    """Canonical reduced problem of [CLC] §2.1 (eqs. (2)-(3); see the Mathematical notes, "The reduction").

    See :class:`Reduction` for the change of variables.

    Parameters
    ----------
    X : ndarray of shape (d_x, m)
        Data of full row rank (Assumption 2).
    Y : ndarray of shape (d_y, m)
        Targets, with ``m >= d_x >= d_y`` (Assumption 1).

    Returns
    -------
    Reduction
        The reduced problem and its change of variables.

    Raises
    ------
    ValueError
        If ``m >= d_x >= d_y`` fails or ``X`` is not of full row rank.
    """
    X, Y = _check_xy(X, Y)
    if not (X.shape[1] >= X.shape[0] >= Y.shape[0]):
        raise ValueError(
            f"Assumption 1 of [CLC] requires m >= d_x >= d_y, got m={X.shape[1]}, d_x={X.shape[0]}, d_y={Y.shape[0]}"
        )
    sx = np.linalg.svd(X, compute_uv=False)
    if sx[-1] <= 1e-12 * sx[0]:
        raise ValueError(f"Assumption 2 of [CLC]: X must have full row rank, smallest singular value {sx[-1]:.3e}")
    return _reduce(X, Y)


def least_squares(X, Y) -> np.ndarray:
    """Least-squares map ``W_LS = Σ_YX Σ_XX^{-1}`` (Remark 5 of [CLC]; see the Mathematical notes, "Notation").

    ``L(W) = c_0 + 1/2 ||(W_{N:1} - W_LS) X||_F^2`` with ``c_0 = 1/2 ||Y - W_LS X||_F^2``.

    Parameters
    ----------
    X : ndarray of shape (d_x, m)
        Data of full row rank.
    Y : ndarray of shape (d_y, m)
        Targets.

    Returns
    -------
    ndarray of shape (d_y, d_x)
        ``W_LS``.

    Raises
    ------
    ValueError
        If ``X`` is not of full row rank.
    """
    X, Y = _check_xy(X, Y)
    sx = np.linalg.svd(X, compute_uv=False)
    if X.shape[0] > X.shape[1] or sx[-1] <= 1e-12 * sx[0]:
        raise ValueError(
            f"least_squares needs X of full row rank (Assumption 2 of [CLC]); X has shape {X.shape} and "
            f"smallest singular value {sx[-1]:.3e}"
        )
    return np.linalg.lstsq(X.T, Y.T, rcond=None)[0].T


# --------------------------------------------------------------------------- rank-deficient data (Remark 1)


@dataclass(frozen=True)
class RankReduction:
    """Rank-deficient data reduced to full-rank data (Remark 1 of [CLC]; see the Mathematical notes, Reduction).

    With ``X = U_k Σ_k V_k^T`` (the ``k = rank X`` nonzero singular triplets), the reduced data is
    ``X' = U_k^T X = Σ_k V_k^T`` of shape ``(k, m)`` and full row rank, and the reduced first layer is
    ``W_1' = W_1 U_k``. Then ``W_{N:1} X = W'_{N:1} X'`` for all weights, so the loss is the same; the
    gradient of ``W_1`` lies in the row space ``U_k^T`` (``∇_{W_1} L = (...) X^T = (...) X'^T U_k^T``), hence
    along the flow ``W_1 (I - U_k U_k^T)`` stays constant and ``(W_1 U_k, W_2, ..., W_N)`` follows the
    flow of the reduced problem exactly: the end-to-end map on the data, ``W_{N:1} X``, has the same
    trajectory.

    Attributes
    ----------
    X_reduced : ndarray of shape (k, m)
        ``X' = U_k^T X``.
    basis : ndarray of shape (d_x, k)
        ``U_k``, orthonormal columns spanning the column space of ``X``.
    rank : int
        ``k``.
    """

    X_reduced: np.ndarray = field(repr=False)
    basis: np.ndarray = field(repr=False)
    rank: int

    def to_reduced(self, weights: Sequence) -> list[np.ndarray]:
        """``(W_1 U_k, W_2, ..., W_N)``.

        Parameters
        ----------
        weights : list of ndarray
            Weights of the original problem (``W_1`` of shape ``(d_1, d_x)``).

        Returns
        -------
        list of ndarray
            Weights of the reduced problem (``W_1'`` of shape ``(d_1, k)``).
        """
        ws = [w.copy() for w in as_weights(weights)]
        if ws[0].shape[1] != self.basis.shape[0]:
            raise ValueError(f"W_1 must have {self.basis.shape[0]} columns (d_x), got shape {ws[0].shape}")
        ws[0] = ws[0] @ self.basis
        return ws

    def from_reduced(self, weights_reduced: Sequence, weights0: Sequence) -> list[np.ndarray]:
        """Lift reduced weights back: ``W_1 = W_1' U_k^T + W_1^0 (I - U_k U_k^T)``, others unchanged.

        Parameters
        ----------
        weights_reduced : list of ndarray
            Weights of the reduced problem.
        weights0 : list of ndarray
            Original weights whose component orthogonal to the data (constant along the flow) is kept.

        Returns
        -------
        list of ndarray
            Weights of the original problem.
        """
        wr = [w.copy() for w in as_weights(weights_reduced, "weights_reduced")]
        w0 = as_weights(weights0, "weights0")
        u = self.basis
        wr[0] = wr[0] @ u.T + w0[0] - (w0[0] @ u) @ u.T
        return wr


def reduce_rank_deficient(X, *, rtol: float = 1e-10) -> RankReduction:
    """Reduce rank-deficient data to full-rank data with the same flow of the end-to-end map (Remark 1 of [CLC]).

    Parameters
    ----------
    X : ndarray of shape (d_x, m)
        Data, possibly of rank ``k < d_x``.
    rtol : float, optional
        Keyword-only. Singular values below ``rtol`` times the largest count as zero.

    Returns
    -------
    RankReduction
        The reduced data ``X' = U_k^T X`` and the basis ``U_k``.

    Raises
    ------
    ValueError
        If ``X`` is zero or not finite.
    """
    X = as_finite_array(X, "X", ndim=2)
    rtol = check_positive(rtol, "rtol")
    u, s, _ = np.linalg.svd(X, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        raise ValueError("X must not be zero (Remark 1 of [CLC] reduces to its nonzero singular directions)")
    k = int(np.sum(s > rtol * s[0]))
    basis = u[:, :k]
    return RankReduction(X_reduced=basis.T @ X, basis=basis, rank=k)
