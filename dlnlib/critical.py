"""Critical points and critical values of the square loss of a deep linear network.

Lemma 3.1 and Lemma 3.2 of [CLC] (see the Mathematical notes, "Critical points and critical values"): every critical
point has end-to-end map ``W_{N:1} = U_S U_S^T Σ_YX Σ_XX^{-1}`` for an index set ``S`` of the singular
values ``s_1 > ... > s_{d_y}`` of the reduced target, ``|S| <= r_max = min(dims)``, and loss
``c + 1/2 sum_{i not in S} s_i^2``. This module enumerates those values, builds explicit
critical points for every admissible ``S`` (tight or with complement blocks, canonical or on a
random point of the same critical manifold), and identifies the critical value a trajectory
converged to (the robust procedure of the Mathematical notes, "The overfitting conjecture").

Index sets are **0-based** tuples of indices into the singular values sorted decreasingly:
``S = (0, 1)`` is the paper's ``{1, 2}``, the "top" set of size 2.

References
----------
[CLC] Y. Chitour, Z. Liao, R. Couillet, *A Geometric Approach of Gradient Descent Algorithms in
Linear Neural Networks*, Math. Control Relat. Fields 13(3), 2023 (arXiv:1811.03568).
[AMG] E. M. Achour, F. Malgouyres, S. Gerchinovitz, *The loss landscape of deep linear neural
networks: a second-order analysis* (arXiv:2107.13289).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ._validation import as_rng, check_positive, dims_of
from .model import (
    DataSummary,
    Reduction,
    _chain,
    _check_and_reduce,
    _check_problem,
    _end_to_end,
    _loss_at,
    _norm2,
    _products,
    _relative_gradient,
    reduce_data,
)

_MAX_SETS = 10**6  # default bound on the number of index sets enumerated
_LIMIT_RTOL = 1e-3  # limit_critical_value: loss within this fraction of the smallest gap
_LIMIT_PTOL = 1e-4  # limit_critical_value: product error relative to s_1

__all__ = [
    "CriticalIndexSet",
    "Lemma32Structure",
    "LimitCriticalValue",
    "critical_index_sets",
    "critical_point",
    "critical_value_of",
    "critical_values",
    "identify_index_set",
    "inversion_number",
    "lemma32_structure",
    "limit_critical_value",
]

_MERGE_RTOL = 1e-12


# --------------------------------------------------------------------------- index sets


def _normalize_index_set(S, d_y: int, r_max: int, *, depth: int | None = None) -> tuple[int, ...]:
    """Validate an index set (0-based, into the decreasing singular values) and sort it."""
    if isinstance(S, (str, bytes)) or np.ndim(S) > 1:
        raise TypeError(f"S must be a collection of integer indices, got {S!r}")
    try:
        items = [int(i) for i in S]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"S must be a collection of integer indices (0-based), got {S!r}") from exc
    if any(float(a) != float(b) for a, b in zip(items, S, strict=True)):
        raise TypeError(f"S must contain integers, got {S!r}")
    if len(set(items)) != len(items):
        raise ValueError(f"S must not contain duplicate indices, got {S!r}")
    bad = [i for i in items if not 0 <= i < d_y]
    if bad:
        raise ValueError(
            f"S holds 0-based indices into the d_y={d_y} singular values of the reduced target, so each must be "
            f"in [0, {d_y - 1}]; got out-of-range indices {bad}"
        )
    if len(items) > r_max:
        raise ValueError(
            f"|S| = {len(items)} exceeds r_max = min(dims) = {r_max}: the rank of W_(N:1) at a critical point "
            "is |S| and cannot exceed the thinnest width (Lemma 3.2 of [CLC])"
        )
    if depth == 1 and len(items) != d_y:
        raise ValueError(
            f"for depth N = 1 the only critical point is the least-squares map, whose index set is all of "
            f"range(d_y) = range({d_y}); got S={tuple(sorted(items))}"
        )
    return tuple(sorted(items))


def inversion_number(S, d_y: int) -> int:
    """Inversion number ``inv(S) = #{(i, j): i in S, j not in S, s_j > s_i}`` (see the Mathematical notes, "Notation"
    and "The Hessian and the landscape").

    With 0-based indices into decreasing singular values, ``s_j > s_i`` iff ``j < i``.
    ``inv(S) = 0`` iff ``S`` is the top set ``(0, ..., |S|-1)``.

    Parameters
    ----------
    S : collection of int
        0-based index set.
    d_y : int
        Number of singular values (output dimension).

    Returns
    -------
    int
        ``inv(S)``.
    """
    d_y = check_positive(d_y, "d_y", integer=True)
    S = _normalize_index_set(S, d_y, d_y)
    in_s = np.zeros(d_y, dtype=bool)
    in_s[list(S)] = True
    below = np.cumsum(~in_s) - (~in_s)  # number of j not in S with j < i
    return int(np.sum(below[in_s]))


def _value_from_mask(s2: np.ndarray, const: float, mask: np.ndarray) -> np.ndarray:
    """``c + 1/2 sum_{i not in S} s_i^2`` for boolean masks of shape ``(..., d_y)``."""
    return const + 0.5 * (float(np.sum(s2)) - mask.astype(float) @ s2)


def critical_value_of(X, Y, S) -> float:
    """Loss at any critical point with index set ``S``: ``c + 1/2 sum_{i not in S} s_i^2``.

    Lemma 3.2 (iv) of [CLC]; see the Mathematical notes, "Critical points and critical values". Equivalently
    ``1/2 (tr Σ_YY - sum_{i in S} λ_i)``.

    Parameters
    ----------
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.
    S : collection of int
        0-based indices into the singular values ``s`` of the reduced target (decreasing).

    Returns
    -------
    float
        The critical value.

    Raises
    ------
    ValueError
        If ``S`` is not a valid index set for ``d_y``, or the data are invalid.

    Notes
    -----
    Critical points with index set ``S`` exist only when ``|S| <= r_max`` for the widths at hand
    (and ``S`` = all indices when ``N = 1``); this function does not know the widths and only
    checks ``S`` against ``d_y``.
    """
    red = reduce_data(X, Y)
    d_y = red.singular_values.size
    S = _normalize_index_set(S, d_y, d_y)
    mask = np.zeros(d_y, dtype=bool)
    mask[list(S)] = True
    return float(_value_from_mask(red.singular_values**2, red.constant, mask))


@dataclass(frozen=True)
class CriticalIndexSet:
    """One admissible index set and its critical value.

    Attributes
    ----------
    index_set : tuple of int
        0-based ``S``, ``|S| <= r_max``.
    value : float
        The loss ``c + 1/2 sum_{i not in S} s_i^2`` at every critical point with this ``S``.
    rank : int
        ``|S|``, the rank of the end-to-end map.
    is_top : bool
        Whether ``S = (0, ..., r-1)``.
    is_global_minimum : bool
        Whether ``S`` is the top set of size ``r_max`` (see the Mathematical notes, "The Hessian and the landscape").
    """

    index_set: tuple[int, ...]
    value: float
    rank: int
    is_top: bool
    is_global_minimum: bool


def _admissible_masks(d_y: int, r_max: int, depth: int, max_sets: int) -> np.ndarray:
    """Boolean masks ``(n_sets, d_y)`` of every admissible ``S`` (all ``|S| <= r_max``; only the full set if N = 1)."""
    sizes = [d_y] if depth == 1 else range(min(r_max, d_y) + 1)
    count = sum(math.comb(d_y, k) for k in sizes)
    if count > max_sets:
        raise ValueError(
            f"there are {count} admissible index sets (|S| <= r_max={r_max} out of d_y={d_y}), more than "
            f"max_sets={max_sets}; raise max_sets if you really want to enumerate them"
        )
    rows = [idx for k in sizes for idx in itertools.combinations(range(d_y), k)]
    masks = np.zeros((len(rows), d_y), dtype=bool)
    lengths = np.fromiter((len(idx) for idx in rows), dtype=np.intp, count=len(rows))
    flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.intp, count=int(lengths.sum()))
    masks[np.repeat(np.arange(len(rows)), lengths), flat] = True
    return masks


def _merge_sorted(values: np.ndarray) -> np.ndarray:
    """Distinct values of a sorted array, merging neighbours equal up to a relative 1e-12."""
    if values.size == 0:
        return values
    scale = max(float(np.max(np.abs(values))), np.finfo(float).tiny)
    keep = np.concatenate([[True], np.diff(values) > _MERGE_RTOL * scale])
    return values[keep]


def critical_index_sets(X, Y, dims, *, max_sets: int = _MAX_SETS) -> list[CriticalIndexSet]:
    """Every admissible index set ``S`` (``|S| <= r_max``) with its critical value, sorted by value.

    Lemma 3.2 of [CLC]; see the Mathematical notes, "Critical points and critical values" (non-filling widths allowed,
    as in [AMG]). For depth ``N = 1`` the only critical point is the least-squares map (``S`` = all indices).

    Parameters
    ----------
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.
    dims : sequence of int
        Widths ``(d_0, ..., d_N)``.
    max_sets : int, optional
        Keyword-only. Refuse to enumerate more index sets than this (their number is
        ``sum_k C(d_y, k)``).

    Returns
    -------
    list of CriticalIndexSet
        Sorted by increasing value (ties by ``S``).

    Raises
    ------
    ValueError
        If the data violate Assumptions 1-3 of [CLC] (see :func:`dlnlib.model.check_data`;
        hidden widths below ``d_y`` are allowed) or there are more than ``max_sets`` sets.
    """
    summary, red, _, _ = _check_and_reduce(X, Y, dims, allow_non_filling=True)
    return _critical_index_sets(summary, red, max_sets)


def _critical_index_sets(summary: DataSummary, red: Reduction, max_sets: int = _MAX_SETS) -> list[CriticalIndexSet]:
    """:func:`critical_index_sets` for data already checked and reduced (:func:`dlnlib.model._check_and_reduce`)."""
    d_y, depth = red.singular_values.size, len(summary.dims) - 1
    masks = _admissible_masks(d_y, summary.r_max, depth, max_sets)
    values = _value_from_mask(red.singular_values**2, red.constant, masks)
    sets = [tuple(np.flatnonzero(m).tolist()) for m in masks]
    order = sorted(range(len(sets)), key=lambda k: (values[k], sets[k]))
    r_glob = min(summary.r_max, d_y)
    return [
        CriticalIndexSet(
            index_set=sets[k],
            value=float(values[k]),
            rank=len(sets[k]),
            is_top=sets[k] == tuple(range(len(sets[k]))),
            is_global_minimum=sets[k] == tuple(range(r_glob)),
        )
        for k in order
    ]


def critical_values(X, Y, dims, *, max_sets: int = _MAX_SETS) -> np.ndarray:
    """Distinct critical values of the loss ``L = 1/2 ||Y - W_{N:1} X||_F^2``, ascending.

    Lemma 3.2 (iv) of [CLC]; see the Mathematical notes, "Critical points and critical values": the values
    ``c + 1/2 sum_{i not in S} s_i^2`` over all ``S`` with ``|S| <= r_max = min(dims)``, where ``s`` are the singular
    values of the reduced
    target and ``c`` the constant of :func:`dlnlib.model.reduce_data`. Values equal up to a
    relative ``1e-12`` are merged (Assumption 4 of [CLC] says they are all distinct).

    Parameters
    ----------
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.
    dims : sequence of int
        Widths ``(d_0, ..., d_N)`` (non-filling widths, hidden ``d_i < d_y``, are allowed).
    max_sets : int, optional
        Keyword-only. Refuse to enumerate more index sets than this.

    Returns
    -------
    ndarray of shape (n_values,)
        The distinct values; the first entry is the global minimum.

    Raises
    ------
    ValueError
        As in :func:`critical_index_sets`.

    Examples
    --------
    >>> import numpy as np
    >>> from dlnlib.critical import critical_values
    >>> X = np.eye(2); Y = np.diag([2.0, 1.0])
    >>> critical_values(X, Y, (2, 2, 2))
    array([0. , 0.5, 2. , 2.5])
    """
    sets = critical_index_sets(X, Y, dims, max_sets=max_sets)
    return _merge_sorted(np.array([cs.value for cs in sets]))


# --------------------------------------------------------------------------- construction


def _well_conditioned(g: np.random.Generator, n: int) -> np.ndarray:
    """``Q diag(u)``, ``Q`` Haar orthogonal and ``u`` uniform in [0.5, 2] (condition number <= 4)."""
    q, r = np.linalg.qr(g.standard_normal((n, n)))
    return (q * np.sign(np.diag(r))) * g.uniform(0.5, 2.0, size=n)


def _complement_blocks(complement, dims: tuple[int, ...], r: int) -> list[np.ndarray]:
    """Validate the shapes of the complement blocks ``B_h`` of shape ``(d_h - r, d_{h-1} - r)``."""
    n = len(dims) - 1
    shapes = [(dims[h] - r, dims[h - 1] - r) for h in range(1, n + 1)]
    if complement is None:
        return [np.zeros(s) for s in shapes]
    if isinstance(complement, np.ndarray) or not isinstance(complement, Sequence) or len(complement) != n:
        raise TypeError(
            f"complement must be a list of N={n} blocks B_1..B_N (arrays or None for a zero block), got "
            f"{type(complement).__name__}"
            + (f" of length {len(complement)}" if isinstance(complement, Sequence) else "")
        )
    blocks = []
    for h, (b, shape) in enumerate(zip(complement, shapes, strict=True), start=1):
        arr = np.zeros(shape) if b is None else np.asarray(b, dtype=float)
        if arr.shape != shape:
            raise ValueError(
                f"complement block B_{h} must have shape (d_{h} - r, d_{h - 1} - r) = {shape} with r=|S|={r}, "
                f"got {arr.shape}"
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"complement block B_{h} contains NaN or infinite entries")
        blocks.append(arr)
    return blocks


def _complement_violation(blocks: list[np.ndarray], sigma_tilde: np.ndarray) -> tuple[float, str]:
    """Largest relative violation of the complement-network conditions (see the Mathematical notes, "Critical points and
    critical values").

    ``B_{N:1} = 0`` and ``B_{N:h+1}^T Σ̃ B_{h-1:1}^T = 0`` for ``h = 1..N``.
    """
    n = len(blocks)
    d_in = sigma_tilde.shape[1]
    norms = [np.linalg.norm(b, 2) if b.size else 0.0 for b in blocks]
    prod = _chain(blocks, n, 1, d_in)
    worst, where = 0.0, ""
    scale = max(float(np.prod(norms)), np.finfo(float).tiny)
    v = float(np.linalg.norm(prod)) / scale if prod.size else 0.0
    if v > worst:
        worst, where = v, "B_N ... B_1 != 0"
    s_norm = float(np.max(sigma_tilde)) if sigma_tilde.size else 0.0
    for h in range(1, n + 1):
        left = _chain(blocks, n, h + 1, blocks[h - 1].shape[0])  # B_{N:h+1}
        right = _chain(blocks, h - 1, 1, d_in)  # B_{h-1:1}
        term = left.T @ sigma_tilde @ right.T
        if term.size == 0:
            continue
        denom = max(_norm2(left) * s_norm * _norm2(right), np.finfo(float).tiny)
        v = float(np.linalg.norm(term)) / denom
        if v > worst:
            worst, where = (
                v,
                f"B_(N:{h + 1})^T Σ̃ B_({h - 1}:1)^T != 0 (gradient of the complement network at layer {h})",
            )
    return worst, where


def _reduced_critical_point(
    s: np.ndarray, dims: tuple[int, ...], S: tuple[int, ...], blocks: list[np.ndarray]
) -> list[np.ndarray]:
    """Adapted block-diagonal critical point ``W̄_h = blockdiag(A_h, B_h)`` in reduced coordinates.

    ``A_1 = diag(s_S)``, ``A_h = I_r`` (h >= 2); coordinates of ``R^{d_x}`` ordered (S, S^c, extra),
    of ``R^{d_y}`` ordered (S, S^c), hidden layers (A part first).
    """
    n, r = len(dims) - 1, len(S)
    d_x, d_y = dims[0], dims[-1]
    s_c = [i for i in range(d_y) if i not in S]
    order_in = list(S) + s_c + list(range(d_y, d_x))
    order_out = list(S) + s_c
    ws = []
    for h in range(1, n + 1):
        w = np.zeros((dims[h], dims[h - 1]))
        w[:r, :r] = np.diag(s[list(S)]) if h == 1 else np.eye(r)
        w[r:, r:] = blocks[h - 1]
        ws.append(w)
    first = np.empty_like(ws[0])
    first[:, order_in] = ws[0]
    ws[0] = first
    last = np.empty_like(ws[-1])
    last[order_out, :] = ws[-1]
    ws[-1] = last
    return ws


def critical_point(
    X,
    Y,
    dims,
    S,
    *,
    rng: np.random.Generator | int | None = None,
    complement: Sequence | None = None,
) -> list[np.ndarray]:
    """An explicit critical point of the loss with index set ``S``.

    See the Mathematical notes, "Critical points and critical values" (structure of every critical
    point); Lemma 3.2 of [CLC]. In the reduced coordinates of :func:`dlnlib.model.reduce_data`
    (input coordinates ordered ``(S, S^c, extra)``, output ``(S, S^c)``, hidden layers with the
    first ``r = |S|`` coordinates for the ``A`` part) the point is
    ``W̄_h = G_h blockdiag(A_h, B_h) G_{h-1}^{-1}`` with ``A_1 = diag(s_S)``, ``A_h = I_r``
    (``h >= 2``), complement blocks ``B_h`` and ``G_0 = G_N = I``; it is mapped back with
    :meth:`dlnlib.model.Reduction.from_reduced`. Its end-to-end map is
    ``U_S U_S^T Σ_YX Σ_XX^{-1}`` and its loss is :func:`critical_value_of` ``(X, Y, S)``.

    Parameters
    ----------
    X : ndarray of shape (d_x, m)
        Data satisfying Assumptions 1-3 of [CLC] with ``Y`` (hidden widths below ``d_y`` are allowed).
    Y : ndarray of shape (d_y, m)
        Targets.
    dims : sequence of int
        Widths ``(d_0, ..., d_N)`` with ``d_0 = d_x``, ``d_N = d_y``.
    S : collection of int
        0-based indices into the decreasing singular values of the reduced target, no
        duplicates, ``|S| <= r_max = min(dims)``. For ``N = 1`` only ``S = range(d_y)``.
    rng : numpy.random.Generator or int or None, optional
        Keyword-only. ``None``: the canonical point (``G_h = I``); with ``complement=None`` this is the
        "tight" point of the Mathematical notes, "Critical points and critical values" (every ``W_h`` of rank ``r``),
        the explicit construction of the notes with ``J_h = [I_r; 0]``. Otherwise a random point of the same critical
        manifold:
        ``G_h = Q_h diag(u_h)`` with ``Q_h`` Haar orthogonal and ``u_h`` uniform in [0.5, 2].
    complement : list of N (ndarray or None), or None, optional
        Keyword-only. The complement blocks ``B_h`` of shape ``(d_h - r, d_{h-1} - r)`` in adapted reduced
        coordinates (``None`` entries are zero blocks; for ``h = 1`` the columns are ordered
        ``(S^c, extra)``, for ``h = N`` the rows are ``S^c``). They must form a zero-product
        critical point of the complement network with target ``Σ̃ = [diag(s_{S^c}) 0]``:
        ``B_{N:1} = 0`` and ``B_{N:h+1}^T Σ̃ B_{h-1:1}^T = 0`` for ``h = 1..N`` (see the Mathematical notes, "Critical
        points and critical values"). Choices that always qualify: (i) all blocks zero (the tight point, the default);
        (ii) at least two zero blocks, the others arbitrary; (iii) for ``N >= 3`` a single
        nonzero block; for ``N = 2``, ``B_2 = 0`` and ``B_1`` supported on the extra input
        columns (its first ``d_y - r`` columns zero). Other choices are checked numerically.

    Returns
    -------
    list of ndarray
        ``[W_1, ..., W_N]``, ``W_h`` of shape ``(d_h, d_{h-1})``.

    Raises
    ------
    ValueError
        Inadmissible ``S`` (duplicates, out of range, ``|S| > r_max``), complement blocks of the
        wrong shape or violating the conditions above, or data violating Assumptions 1-3.
    RuntimeError
        If the constructed point is not critical to ``1e-8`` relative (should not happen).

    Examples
    --------
    The report example (see the Mathematical notes, "The Hessian and the landscape"): dims 5-4-4-5, ``S = (0, 1, 2)``;
    the tight point is a non-strict saddle, ``complement=[None, np.ones((1, 1)), None]`` (``(W_2)_{44} = 1`` in
    adapted coordinates) gives a strict saddle on the same critical value.
    """
    summary, red, X, Y = _check_and_reduce(X, Y, dims, allow_non_filling=True)
    return _critical_point(summary, red, X, Y, S, rng, complement)


def _critical_point(summary: DataSummary, red: Reduction, X, Y, S, rng, complement) -> list[np.ndarray]:
    """:func:`critical_point` for data already checked and reduced (:func:`dlnlib.model._check_and_reduce`)."""
    d = summary.dims
    s = red.singular_values
    S = _normalize_index_set(S, d[-1], summary.r_max, depth=len(d) - 1)
    r = len(S)
    blocks = _complement_blocks(complement, d, r)
    s_c = [i for i in range(d[-1]) if i not in S]
    sigma_tilde = np.zeros((d[-1] - r, d[0] - r))
    sigma_tilde[np.arange(len(s_c)), np.arange(len(s_c))] = s[s_c]
    violation, where = _complement_violation(blocks, sigma_tilde)
    if violation > 1e-10:
        raise ValueError(
            f"inadmissible complement blocks for S={S}: {where} (relative size {violation:.2e}); the blocks must "
            "be a zero-product critical point of the complement network (see the Mathematical notes, 'Critical points "
            "and critical values'): e.g. all zero, "
            "at least two zero blocks, or (N >= 3) a single nonzero block"
        )
    ws = _reduced_critical_point(s, d, S, blocks)
    if rng is not None:
        g = as_rng(rng)
        gs = [np.eye(d[0])] + [_well_conditioned(g, d[h]) for h in range(1, len(d) - 1)] + [np.eye(d[-1])]
        ws = [gs[h] @ ws[h - 1] @ np.linalg.inv(gs[h - 1]) for h in range(1, len(d))]
    out = red.from_reduced(ws)
    rel = _relative_gradient(_products(out), X @ X.T, Y @ X.T)
    if rel > 1e-8:
        raise RuntimeError(f"constructed point for S={S} is not critical: relative gradient {rel:.2e} (a bug)")
    return out


# --------------------------------------------------------------------------- limits


@dataclass(frozen=True)
class LimitCriticalValue:
    """Which critical value a (converged) point sits at (see the Mathematical notes, "The overfitting conjecture").

    Attributes
    ----------
    resolved : bool
        Whether the identification passed both checks (product and loss); when False,
        ``index_set``/``value`` are the best candidate but must not be trusted.
    index_set : tuple of int
        0-based ``Ŝ = {i : ||u_i^T W_{N:1} X|| > sqrt(λ_i) / 2}``.
    value : float
        The critical value ``c_Ŝ`` predicted for ``Ŝ``.
    loss : float
        The loss at the point.
    is_global_minimum : bool
        ``resolved`` and ``Ŝ`` is the top set of size ``r_max``.
    distance : float
        ``|loss - c_Ŝ| / min_gap``.
    min_gap : float
        Smallest gap between distinct critical values (or, when there are too many index
        sets to enumerate, the smallest gap to a value differing by one element of ``S``).
    product_error : float
        ``||W̄_{N:1} - I_Ŝ Σ̄||_F / s_1`` in reduced coordinates.
    message : str
        Human-readable verdict.
    """

    resolved: bool
    index_set: tuple[int, ...]
    value: float
    loss: float = field(repr=False)
    is_global_minimum: bool
    distance: float
    min_gap: float = field(repr=False)
    product_error: float = field(repr=False)
    message: str = field(repr=False)


def _reduced_product(ws: list[np.ndarray], red: Reduction) -> np.ndarray:
    return _chain(red.to_reduced(ws), len(ws), 1, ws[0].shape[1])


def identify_index_set(product_reduced: np.ndarray, s: np.ndarray) -> tuple[tuple[int, ...], float]:
    """Index set ``Ŝ = {i : ||row_i(W̄_{N:1})|| > s_i / 2}`` and error ``||W̄_{N:1} - I_Ŝ Σ̄||_F / s_1``.

    In reduced coordinates a critical point has ``W̄_{N:1} = I_S Σ̄`` (Lemma 3.2 (i) of [CLC]),
    whose row ``i`` has norm ``s_i`` for ``i in S`` and 0 otherwise; the row norm equals
    ``||u_i^T W_{N:1} X||`` in original coordinates (see the Mathematical notes, "The overfitting conjecture", step 2).

    Parameters
    ----------
    product_reduced : ndarray of shape (d_y, d_x)
        The reduced end-to-end map ``W̄_{N:1}``.
    s : ndarray of shape (d_y,)
        Decreasing singular values of the reduced target.

    Returns
    -------
    S : tuple of int
        0-based ``Ŝ``.
    product_error : float
        ``||W̄_{N:1} - I_Ŝ Σ̄||_F / s_1``.
    """
    rows = np.linalg.norm(product_reduced, axis=1)
    S = tuple(np.flatnonzero(rows > s / 2).tolist())
    target = np.zeros_like(product_reduced)
    target[list(S), list(S)] = s[list(S)]
    return S, float(np.linalg.norm(product_reduced - target) / s[0])


def _min_gap(s2: np.ndarray, const: float, r_max: int, depth: int, max_sets: int) -> float:
    d_y = s2.size
    try:
        masks = _admissible_masks(d_y, r_max, depth, max_sets)
    except ValueError:
        # too many sets: gaps to values differing by one element (add/remove or swap a neighbour)
        swaps = 0.5 * np.abs(np.diff(s2)) if d_y > 1 else np.array([np.inf])
        return float(min(np.min(0.5 * s2), np.min(swaps)))
    vals = _merge_sorted(np.sort(_value_from_mask(s2, const, masks)))
    return float(np.min(np.diff(vals))) if vals.size > 1 else np.inf


def limit_critical_value(
    trajectory_or_weights, X, Y, *, rtol: float = _LIMIT_RTOL, ptol: float = _LIMIT_PTOL, max_sets: int = _MAX_SETS
) -> LimitCriticalValue:
    """Identify the critical value (and index set) a converged point sits at.

    The robust procedure of the Mathematical notes, "The overfitting conjecture", built on Lemma 3.2 of [CLC]:

    1. ``Ŝ = {i : ||u_i^T W_{N:1} X|| > sqrt(λ_i)/2}`` (row norms of the reduced product);
    2. accept only if ``||W̄_{N:1} - I_Ŝ Σ̄||_F <= ptol * s_1`` **and**
       ``|L - c_Ŝ| <= rtol * min_gap`` (``min_gap`` the smallest gap between critical values).

    Otherwise ``resolved=False``: the point is not (yet) at a critical value, and no guess is made.
    The gradient is not checked here (see :func:`dlnlib.hessian.classify`).

    Parameters
    ----------
    trajectory_or_weights : list of ndarray or object
        ``[W_1, ..., W_N]``, or an object with a ``final_weights`` attribute (e.g. a
        ``dlnlib.dynamics`` trajectory).
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.
    rtol : float, optional
        Keyword-only. Tolerance on the loss, as a fraction of the minimal gap between critical values.
    ptol : float, optional
        Keyword-only. Tolerance on the end-to-end map, relative to ``s_1``.
    max_sets : int, optional
        Keyword-only. Above this many index sets the gap is computed only between values
        differing by one element (documented in ``min_gap``).

    Returns
    -------
    LimitCriticalValue
        The verdict.

    Raises
    ------
    TypeError, ValueError
        Invalid weights or data (Assumptions 1-3 of [CLC]; non-filling widths allowed).
    """
    weights = getattr(trajectory_or_weights, "final_weights", trajectory_or_weights)
    ws, X, Y = _check_problem(weights, X, Y)
    for name, tol in (("rtol", rtol), ("ptol", ptol)):
        if not (np.isfinite(tol) and tol > 0):
            raise ValueError(f"{name} must be a finite positive number, got {tol!r}")
    d = dims_of(ws)
    summary, red, _, _ = _check_and_reduce(X, Y, d, allow_non_filling=True)
    gap = _min_gap(red.singular_values**2, red.constant, summary.r_max, len(d) - 1, max_sets)
    return _limit_critical_value(ws, _end_to_end(ws), X, Y, summary, red, gap, rtol, ptol)


def _limit_critical_value(
    ws: list[np.ndarray],
    product: np.ndarray,
    X: np.ndarray,
    Y: np.ndarray,
    summary: DataSummary,
    red: Reduction,
    gap: float,
    rtol: float,
    ptol: float,
) -> LimitCriticalValue:
    """:func:`limit_critical_value` for checked input, with ``W_{N:1}`` and the per-data work done by the caller.

    ``summary`` and ``red`` come from :func:`dlnlib.model._check_and_reduce` and ``gap`` from
    :func:`_min_gap`; they depend on the data only, so a caller identifying many limits on the same
    data (the OVF runner) computes them once.
    """
    s = red.singular_values
    S, perr = identify_index_set(_reduced_product(ws, red), s)
    value = red.constant + 0.5 * float(np.sum(np.delete(s, list(S)) ** 2))
    loss_value = _loss_at(product, X, Y)
    distance = abs(loss_value - value) / gap if gap > 0 else np.inf
    top = S == tuple(range(len(S)))
    checks = []
    if len(S) > summary.r_max:
        checks.append(f"|Ŝ|={len(S)} exceeds r_max={summary.r_max}")
    if perr > ptol:
        checks.append(f"product differs from I_Ŝ Σ̄ by {perr:.2e} (relative to s_1) > ptol={ptol:g}")
    if distance > rtol:
        checks.append(f"|loss - c_Ŝ| = {distance:.2e} gaps > rtol={rtol:g}")
    resolved = not checks
    is_min = resolved and top and len(S) == min(summary.r_max, s.size)
    if resolved:
        kind = "the global minimum" if is_min else "a saddle value"
        msg = f"resolved: index set {S}, {kind}, loss within {distance:.1e} gaps of c_S={value:.6g}"
    else:
        msg = "unresolved: " + "; ".join(checks)
    return LimitCriticalValue(
        resolved=resolved,
        index_set=S,
        value=value,
        loss=loss_value,
        is_global_minimum=is_min,
        distance=float(distance),
        min_gap=gap,
        product_error=perr,
        message=msg,
    )


# --------------------------------------------------------------------------- Lemma 3.2 (ii)-(iii)


@dataclass(frozen=True)
class Lemma32Structure:
    """Block structure of a critical point in reduced coordinates (Lemma 3.2 (i)-(iii) of [CLC]).

    See :func:`lemma32_structure`. Deviations are relative (Frobenius norms); ranks are numerical.

    Attributes
    ----------
    index_set : tuple of int
        ``S`` read off the end-to-end map (0-based).
    rank : int
        ``r = |S|``.
    product_deviation : float
        ``||W̄_{N:1} - I_S Σ̄||_F / s_1`` (item (i): the product, and with it the residual
        ``Σ̄ - W̄_{N:1} = I_{S^c} Σ̄``, is block diagonal after the permutation putting ``S`` first).
    left_deviation : float
        ``||I_{S^c} W̄_{N:2}||_F / ||W̄_{N:2}||_F``: the rows of ``W̄_{N:2}`` outside ``S`` vanish, so
        ``Π W̄_{N:2} = [Z; 0]``.
    right_deviation : float
        ``||W̄_{N-1:1} J_{S^c}||_F / ||W̄_{N-1:1}||_F``: the columns of ``W̄_{N-1:1}`` at the input
        coordinates ``S^c`` (among the first ``d_y``) vanish, so ``W̄_{N-1:1} Π'^T = [Z', 0, *]``.
    left_rank : int
        Rank of ``Z`` (the rows ``S`` of ``W̄_{N:2}``); the lemma gives ``r``.
    right_rank : int
        Rank of ``Z'`` (the columns ``S`` of ``W̄_{N-1:1}``); the lemma gives ``r``.
    middle_rank : int
        ``r' = rank W̄_{N-1:2}`` (identity for ``N = 2``); the lemma gives ``r' >= r``.
    """

    index_set: tuple[int, ...]
    rank: int
    product_deviation: float
    left_deviation: float
    right_deviation: float
    left_rank: int
    right_rank: int
    middle_rank: int

    @property
    def max_deviation(self) -> float:
        """Largest of the three relative deviations."""
        return max(self.product_deviation, self.left_deviation, self.right_deviation)

    def holds(self, tol: float = 1e-10) -> bool:
        """Whether every block vanishes to ``tol`` and the ranks are as stated.

        Parameters
        ----------
        tol : float, optional
            Tolerance on the relative deviations.

        Returns
        -------
        bool
            ``max_deviation <= tol``, ``left_rank == right_rank == rank <= middle_rank``.
        """
        return bool(
            self.max_deviation <= tol
            and self.left_rank == self.rank
            and self.right_rank == self.rank
            and self.middle_rank >= self.rank
        )


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    nb = float(np.linalg.norm(b))
    return float(np.linalg.norm(a)) / nb if nb > 0 else 0.0


def lemma32_structure(weights: Sequence, X, Y, *, rank_tol: float = 1e-8) -> Lemma32Structure:
    """Measure the block structure that Lemma 3.2 (i)-(iii) of [CLC] gives every critical point.

    In the reduced coordinates of :func:`dlnlib.model.reduce_data` (``X = I``, ``Y = Σ̄``), the
    criticality equations for the first and last layers, ``W̄_{N:2}^T E = 0`` and
    ``E W̄_{N-1:1}^T = 0`` with ``E = Σ̄ - W̄_{N:1}``, together with ``W̄_{N:1} = I_S Σ̄`` (item (i)), give
    the block form of the proof of Lemma 3.2: after a permutation putting ``S`` first, the rows of
    ``W̄_{N:2}`` outside ``S`` vanish and its rows in ``S`` have rank ``r``; the columns of ``W̄_{N-1:1}``
    at ``S^c`` vanish and its columns at ``S`` have rank ``r``; and ``r' = rank W̄_{N-1:2} >= r``.
    See the Mathematical notes, Critical points. The displayed formulas of items (ii)-(iii) are not
    in our copy of the paper; this is the structure their proof derives.

    Parameters
    ----------
    weights : list of ndarray
        A critical point ``[W_1, ..., W_N]`` (``N >= 2``) in original coordinates.
    X : ndarray of shape (d_x, m)
        Data (Assumptions 1-3; hidden widths below ``d_y`` allowed).
    Y : ndarray of shape (d_y, m)
        Targets.
    rank_tol : float, optional
        Keyword-only. Relative threshold of the numerical ranks.

    Returns
    -------
    Lemma32Structure
        Deviations and ranks.

    Raises
    ------
    ValueError
        Inconsistent shapes, or depth ``N < 2``.
    """
    ws, X, Y = _check_problem(weights, X, Y)
    n = len(ws)
    if n < 2:
        raise ValueError(f"Lemma 3.2 (ii)-(iii) concern depth N >= 2, got N = {n}")
    red = reduce_data(X, Y)
    s = red.singular_values
    wr = red.to_reduced(ws)
    d = dims_of(wr)
    P = _chain(wr, n, 1, d[0])
    S, prod_dev = identify_index_set(P, s)
    sc = [i for i in range(d[-1]) if i not in S]
    left = _chain(wr, n, 2, d[1])  # W_{N:2}, (d_y, d_1)
    right = _chain(wr, n - 1, 1, d[0])  # W_{N-1:1}, (d_{N-1}, d_x)
    middle = _chain(wr, n - 1, 2, d[1])  # W_{N-1:2}, identity for N = 2
    return Lemma32Structure(
        index_set=S,
        rank=len(S),
        product_deviation=prod_dev,
        left_deviation=_rel(left[sc], left),
        right_deviation=_rel(right[:, sc], right),
        left_rank=_rank(left[list(S)], rank_tol),
        right_rank=_rank(right[:, list(S)], rank_tol),
        middle_rank=_rank(middle, rank_tol),
    )


def _rank(a: np.ndarray, rank_tol: float) -> int:
    if a.size == 0:
        return 0
    sv = np.linalg.svd(a, compute_uv=False)
    return int(np.sum(sv > rank_tol * sv[0])) if sv[0] > 0 else 0
