"""The loss landscape seen by the dynamics: plateaus, escape times, inertia tables.

Built on :mod:`dlnlib.critical` (Lemma 3.2 of [CLC]; see the Mathematical notes, "Critical points and critical values")
and :mod:`dlnlib.hessian` (Prop. 3-4 of [CLC], the second-order analysis of [AMG]; see the Mathematical notes, "The
Hessian and the landscape"). This module holds the
reusable pieces of the "Landscape" chapters (4 and 5):

* :func:`plateaus` segments a loss curve into the critical values it lingers at ("saddle to
  saddle", [SMG]); :func:`escape_times` measures when a run leaves a saddle value;
* :func:`balanced_critical_point` builds a balanced critical point (all layers of the same size),
  tight (non-strict for top ``S``, ``|S| < r_max``, depth ``>= 3``) or with extra rank in the
  middle layers (strict), e.g. the student-report example of the Mathematical notes, "The Hessian and the landscape";
* :func:`inertia_row`, :func:`inertia_table`, :func:`random_critical_points` and
  :func:`tight_inertia_formula` tabulate Hessian signatures over the strata of the critical set;
* :func:`drop_directions` puts reduced weights on the invariant set that never learns some
  output directions (the negative control of the Mathematical notes, "The overfitting conjecture"), so that the flow
  converges to a prescribed saddle.

Index sets are 0-based tuples into the decreasing singular values, as in :mod:`dlnlib.critical`.

References
----------
[CLC] Chitour, Liao, Couillet, arXiv:1811.03568.
[AMG] Achour, Malgouyres, Gerchinovitz, arXiv:2107.13289.
[SMG] Saxe, McClelland, Ganguli, *Exact solutions to the nonlinear dynamics of learning in deep
linear neural networks*, ICLR 2014.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ._validation import as_finite_array, as_rng, as_weights, check_positive
from .critical import (
    CriticalIndexSet,
    _critical_index_sets,
    _critical_point,
    _normalize_index_set,
    inversion_number,
)
from .hessian import _numerical_rank, classification
from .model import _chain, _check_and_reduce, _check_xy, _end_to_end, _loss_at, least_squares

__all__ = [
    "EscapeTimes",
    "InertiaRow",
    "Plateau",
    "balanced_critical_point",
    "drop_directions",
    "escape_times",
    "inertia_row",
    "inertia_table",
    "middle_rank",
    "next_lower_value",
    "perturbed_batch",
    "plateaus",
    "random_critical_points",
    "tight_inertia_formula",
]


# --------------------------------------------------------------------------- plateaus


@dataclass(frozen=True)
class Plateau:
    """A stretch of a loss curve spent at one critical value.

    Attributes
    ----------
    index_set : tuple of int
        0-based ``S`` whose critical value the loss sits at.
    value : float
        That critical value.
    start : float
        First recorded step (epoch or time) inside the band.
    stop : float
        Last recorded step inside the band.
    dwell : float
        ``stop - start``.
    """

    index_set: tuple[int, ...]
    value: float
    start: float
    stop: float
    dwell: float


def _gaps(values: np.ndarray) -> np.ndarray:
    """Distance from each (sorted, distinct) value to its nearest neighbour."""
    if values.size < 2:
        return np.full(values.size, np.inf)
    d = np.diff(values)
    return np.minimum(np.concatenate([[np.inf], d]), np.concatenate([d, [np.inf]]))


def plateaus(
    loss,
    index_sets: Sequence[CriticalIndexSet],
    *,
    steps=None,
    rtol: float = 0.02,
    min_length: int = 2,
) -> list[Plateau]:
    """Segment a loss curve into the critical values it visits (saddle-to-saddle dynamics).

    A recorded point belongs to the critical value ``c`` nearest to its loss when
    ``|L - c| <= rtol * gap(c)``, ``gap(c)`` being the distance from ``c`` to the nearest other
    critical value; a plateau is a maximal run of at least ``min_length`` consecutive recorded
    points at the same value. Critical values from Lemma 3.2 of [CLC] (see the Mathematical notes, "Critical points and
    critical values"); the picture of a small initialization stepping down from value to value is that of [SMG] (see the
    Mathematical notes, "The overfitting conjecture").

    Parameters
    ----------
    loss : ndarray of shape (n,)
        The loss along one run (NaN entries, e.g. after a stop, are ignored).
    index_sets : list of CriticalIndexSet
        The output of :func:`dlnlib.critical.critical_index_sets` (values and sets).
    steps : ndarray of shape (n,), optional
        Keyword-only. The epoch or time of each entry (default ``0, 1, ..., n-1``).
    rtol : float, optional
        Keyword-only. Half-width of the band around each value, as a fraction of its gap.
    min_length : int, optional
        Keyword-only. Minimal number of consecutive recorded points in a plateau.

    Returns
    -------
    list of Plateau
        In the order visited.

    Raises
    ------
    ValueError
        Invalid or inconsistent inputs.

    Notes
    -----
    The identification uses the loss only. Under Assumption 4 of [CLC] the critical values are
    distinct, so each value names one index set; when several sets share a value (to 1e-12
    relative) the one with the smallest ``|S|`` (the top one for ties) is reported.
    """
    y = np.asarray(loss, dtype=float)
    if y.ndim != 1:
        raise ValueError(f"loss must be a 1-D array (one run), got shape {y.shape}")
    t = np.arange(y.size, dtype=float) if steps is None else as_finite_array(steps, "steps", ndim=1)
    if t.shape != y.shape:
        raise ValueError(f"steps must have the shape of loss {y.shape}, got {t.shape}")
    check_positive(rtol, "rtol")
    min_length = check_positive(min_length, "min_length", integer=True)
    if len(index_sets) == 0:
        raise ValueError("index_sets is empty: pass the output of critical_index_sets")
    ordered = sorted(index_sets, key=lambda c: (c.value, len(c.index_set), c.index_set))
    vals = np.array([c.value for c in ordered])
    scale = max(float(np.max(np.abs(vals))), np.finfo(float).tiny)
    keep = np.concatenate([[True], np.diff(vals) > 1e-12 * scale])
    first_of = np.flatnonzero(keep)
    distinct = vals[keep]
    gaps = _gaps(distinct)
    nearest = np.clip(np.searchsorted(distinct, y), 1, max(distinct.size - 1, 1))
    if distinct.size == 1:
        label = np.zeros(y.size, dtype=np.intp)
    else:
        lo, hi = distinct[nearest - 1], distinct[nearest]
        label = np.where(np.abs(y - lo) <= np.abs(y - hi), nearest - 1, nearest)
    ok = np.isfinite(y) & (np.abs(y - distinct[label]) <= rtol * gaps[label])
    label = np.where(ok, label, -1)
    # runs of equal labels
    change = np.flatnonzero(np.diff(label) != 0) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [y.size]])
    out = []
    for a, b in zip(starts, stops, strict=True):
        k = int(label[a])
        if k < 0 or b - a < min_length:
            continue
        cs = ordered[int(first_of[k])]
        out.append(
            Plateau(
                index_set=cs.index_set,
                value=cs.value,
                start=float(t[a]),
                stop=float(t[b - 1]),
                dwell=float(t[b - 1] - t[a]),
            )
        )
    return out


# --------------------------------------------------------------------------- escape times


@dataclass(frozen=True)
class EscapeTimes:
    """When runs started near a saddle leave its critical value (:func:`escape_times`).

    Attributes
    ----------
    epochs : ndarray of shape (K,)
        First recorded step with ``L < threshold``; NaN when a run never got there.
    threshold : float
        ``saddle_value - fraction * (saddle_value - lower_value)``.
    saddle_value : float
        The saddle's critical value (input).
    lower_value : float
        The lower critical value (input).
    fraction : float
        The fraction of the gap (input).
    """

    epochs: np.ndarray
    threshold: float
    saddle_value: float
    lower_value: float = field(repr=False)
    fraction: float = field(repr=False)

    @property
    def escaped(self) -> np.ndarray:
        """Boolean array ``(K,)``: which runs crossed the threshold."""
        return np.isfinite(self.epochs)


def next_lower_value(values, value: float, *, rtol: float = 1e-9) -> float:
    """The largest critical value strictly below ``value`` (``value`` itself must be critical).

    Parameters
    ----------
    values : array_like
        Critical values (e.g. :func:`dlnlib.critical.critical_values`).
    value : float
        A critical value, matched to ``values`` up to ``rtol`` relative.
    rtol : float, optional
        Keyword-only. Relative tolerance of the match.

    Returns
    -------
    float
        The next critical value below ``value``.

    Raises
    ------
    ValueError
        If ``value`` is not among ``values`` or is the smallest (the global minimum).
    """
    v = np.sort(as_finite_array(values, "values", ndim=1))
    scale = max(abs(float(value)), np.finfo(float).tiny)
    hit = np.abs(v - value) <= rtol * scale
    if not np.any(hit):
        raise ValueError(f"value {value!r} is not a critical value (nearest {v[np.argmin(np.abs(v - value))]!r})")
    below = v[v < value - rtol * scale]
    if below.size == 0:
        raise ValueError(f"value {value!r} is the smallest critical value (the global minimum): nothing lies below")
    return float(below[-1])


def escape_times(losses, saddle_value: float, lower_value: float, *, fraction: float = 0.5, steps=None) -> EscapeTimes:
    """First step at which each run's loss drops below the saddle value minus a fraction of the gap.

    The escape threshold is ``saddle_value - fraction * (saddle_value - lower_value)``, with
    ``lower_value`` typically the next critical value below the saddle's
    (:func:`next_lower_value`): a run has escaped when it has covered ``fraction`` of the way
    to the next value down. Used for the strict vs non-strict escape experiment of the student
    report (see the Mathematical notes, "The Hessian and the landscape"; Chen, Choi and Scialanga, Math 273A final
    project).

    Parameters
    ----------
    losses : ndarray of shape (K, n) or (n,)
        Loss curves (one run if 1-D); NaN after a run stopped is ignored.
    saddle_value, lower_value : float
        Critical values with ``lower_value < saddle_value``.
    fraction : float, optional
        Keyword-only. In ``(0, 1]``.
    steps : ndarray of shape (n,), optional
        Keyword-only. Epochs (default ``0..n-1``; pass ``result.steps`` of
        :func:`dlnlib.dynamics.gradient_descent_batch` when recording every few steps).

    Returns
    -------
    EscapeTimes
        Escape epochs and threshold.

    Raises
    ------
    ValueError
        Invalid or inconsistent inputs.
    """
    y = np.asarray(losses, dtype=float)
    if y.ndim == 1:
        y = y[None]
    if y.ndim != 2:
        raise ValueError(f"losses must have shape (K, n) or (n,), got {np.shape(losses)}")
    if not lower_value < saddle_value:
        raise ValueError(f"lower_value must be below saddle_value, got {lower_value!r} >= {saddle_value!r}")
    if not (0 < fraction <= 1):
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    t = np.arange(y.shape[1], dtype=float) if steps is None else as_finite_array(steps, "steps", ndim=1)
    if t.size != y.shape[1]:
        raise ValueError(f"steps must have {y.shape[1]} entries (the columns of losses), got {t.size}")
    thr = float(saddle_value - fraction * (saddle_value - lower_value))
    with np.errstate(invalid="ignore"):
        below = y < thr
    hit = below.any(axis=1)
    epochs = np.where(hit, t[np.argmax(below, axis=1)], np.nan)
    return EscapeTimes(
        epochs=epochs,
        threshold=thr,
        saddle_value=float(saddle_value),
        lower_value=float(lower_value),
        fraction=float(fraction),
    )


def perturbed_batch(weights: Sequence, eps, n: int, *, rng, convention: str = "entry") -> list[np.ndarray]:
    """Batch of ``n`` copies of ``weights`` plus random perturbations of size ``eps``.

    Two conventions for the size: ``"entry"`` adds i.i.d. ``N(0, eps^2)`` entries (total norm
    about ``eps sqrt(P)`` for ``P`` parameters); ``"total"`` rescales each Gaussian direction so
    that the perturbation of all layers together has Frobenius norm exactly ``eps``.

    With an array ``eps`` the batch is ``K = len(eps) * n``, ordered size-major (the ``n``
    perturbations of ``eps[0]`` first). The directions are drawn once and shared by all sizes
    (only the scale changes), so the sizes are compared on the same directions.

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    eps : float or array_like
        Nonnegative perturbation size(s).
    n : int
        Number of perturbations per size.
    rng : numpy.random.Generator or int
        Keyword-only. Source of randomness.
    convention : {"entry", "total"}, optional
        Keyword-only. What ``eps`` measures: the standard deviation of each entry (default) or
        the Frobenius norm of the whole perturbation. The same draws are used in both.

    Returns
    -------
    list of ndarray
        ``W_i`` of shape ``(K, d_i, d_{i-1})``.

    Raises
    ------
    ValueError
        If ``eps`` is negative or not finite, ``n`` is not positive or ``convention`` is unknown.
    """
    ws = as_weights(weights)
    n = check_positive(n, "n", integer=True)
    if convention not in ("entry", "total"):
        raise ValueError(f"convention must be 'entry' or 'total', got {convention!r}")
    e = np.atleast_1d(as_finite_array(eps, "eps", ndim=(0, 1)))
    if np.any(e < 0):
        raise ValueError(f"eps must be nonnegative, got {e}")
    g = as_rng(rng)
    dirs = [g.standard_normal((n,) + w.shape) for w in ws]
    if convention == "total":
        norm = np.sqrt(sum(np.sum(d * d, axis=(1, 2)) for d in dirs))
        dirs = [d / norm[:, None, None] for d in dirs]
    return [(w[None, None] + e[:, None, None, None] * d[None]).reshape((-1,) + w.shape) for w, d in zip(ws, dirs)]


# --------------------------------------------------------------------------- critical points


def balanced_critical_point(X, Y, dims, S, *, middle: float = 0.0) -> list[np.ndarray]:
    """A balanced critical point with index set ``S``, tight or with extra rank in the middle layers.

    Let ``P = U_S U_S^T Σ_YX Σ_XX^{-1} = U D V^T`` (thin SVD, rank ``r = |S|``; see the Mathematical notes, "Critical
    points and critical values") and ``J = [I_r; 0]``. The point is ``W_1 = J D^{1/N} V^T``,
    ``W_h = J D^{1/N} J^T + middle * K_h``
    (``1 < h < N``), ``W_N = U D^{1/N} J^T``, where ``K_h`` is the identity on the last
    ``min(d_h, d_{h-1}) - r`` coordinates (zero on the first ``r``). With ``middle = 0`` every
    layer has rank ``r``, the invariants ``C_i`` of Lemma 2.3 vanish (balanced) and, for top ``S``
    with ``r < r_max`` and ``N >= 3``, the point is a non-strict saddle; ``middle != 0`` adds rank
    to ``W_{N-1:2}`` without changing the product (``W_N K = 0``, ``K W_1 = 0``), still critical,
    and then Prop. 4 (iii) of [CLC] makes it a strict saddle (see the Mathematical notes, "The Hessian and the
    landscape").

    Parameters
    ----------
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.
    dims : sequence of int
        Widths ``(d_0, ..., d_N)``.
    S : collection of int
        0-based index set, ``|S| <= r_max``.
    middle : float, optional
        Keyword-only. Entry of the complement blocks in the middle layers (ignored for ``N <= 2``).

    Returns
    -------
    list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.

    Examples
    --------
    The student-report point of the Mathematical notes, "The Hessian and the landscape" (dims 5-4-4-5,
    ``S = {1, 2, 3}``): ``middle=0`` gives inertia ``(21, 0, 35)``, ``middle=1`` gives ``(23, 2, 31)`` (both balanced on
    the ``A`` part).
    """
    summary, red, X, Y = _check_and_reduce(X, Y, dims, allow_non_filling=True)
    d = summary.dims
    n = len(d) - 1
    S = _normalize_index_set(S, d[-1], summary.r_max, depth=n)
    r = len(S)
    u_s = red.U_Y[:, list(S)]  # eigenvectors of Σ_YX Σ_XX^{-1} Σ_XY, decreasing
    p = u_s @ (u_s.T @ least_squares(X, Y))
    uu, dd, vt = np.linalg.svd(p)
    root = np.diag(dd[:r] ** (1.0 / n))
    if n == 1:
        return [p]
    ws = []
    for h in range(1, n + 1):
        w = np.zeros((d[h], d[h - 1]))
        if h == 1:
            w[:r] = root @ vt[:r]
        elif h == n:
            w[:, :r] = uu[:, :r] @ root
        else:
            w[:r, :r] = root
            k = min(d[h], d[h - 1])
            w[np.arange(r, k), np.arange(r, k)] = middle
        ws.append(w)
    return ws


def drop_directions(weights_reduced: Sequence, drop) -> list[np.ndarray]:
    """Zero row ``i`` of ``W̄_N`` and column ``i`` of ``W̄_1`` for each ``i`` in ``drop`` (reduced coordinates).

    In the reduced problem (``X = I``, ``Y = Σ̄``; see the Mathematical notes, "The reduction") this set is invariant
    under the gradient flow, exactly also in floating point (the products keep exact zeros): the
    network never learns the output directions ``drop``, and generically the flow converges to
    the best critical point with ``S`` disjoint from ``drop``, the saddle value of
    ``S =`` the first ``min(r_max, d_y - |drop|)`` indices outside ``drop``. This is the
    negative control of the Mathematical notes, "The overfitting conjecture" (there ``drop = {0}``).

    Parameters
    ----------
    weights_reduced : list of ndarray
        ``[W̄_1, ..., W̄_N]`` in reduced coordinates.
    drop : collection of int
        0-based output indices in ``[0, d_y)``.

    Returns
    -------
    list of ndarray
        Copies of the weights with those rows and columns set to zero.

    Raises
    ------
    ValueError
        If an index in ``drop`` is out of range.
    """
    ws = [w.copy() for w in as_weights(weights_reduced, "weights_reduced")]
    idx = sorted({int(i) for i in drop})
    d_y = ws[-1].shape[0]
    if any(not 0 <= i < d_y for i in idx):
        raise ValueError(f"drop must hold output indices in [0, {d_y - 1}], got {sorted(drop)}")
    ws[-1][idx, :] = 0.0
    ws[0][:, idx] = 0.0
    return ws


# --------------------------------------------------------------------------- inertia tables


@dataclass(frozen=True)
class InertiaRow:
    """Second-order data of one critical point (:func:`inertia_row`).

    Attributes
    ----------
    index_set : tuple of int
        0-based ``S``.
    value : float
        The loss.
    rank : int
        ``|S|``.
    middle_rank : int
        ``rank W_{N-1:2}`` (the ``r'`` of Prop. 4 (iii) of [CLC]).
    inertia : tuple of int
        ``(n_+, n_-, n_0)`` of the Hessian.
    kind : str
        ``"global_minimum"``, ``"strict_saddle"`` or ``"non_strict_saddle"`` (theory,
        cross-checked against the inertia by :func:`dlnlib.hessian.classification`).
    inversions : int
        ``inv(S)`` (see the Mathematical notes, "Notation").
    gap : float
        Eigenvalue gap of the inertia count (large = clean zero/nonzero separation).
    eigenvalues : ndarray
        Hessian eigenvalues, ascending.
    """

    index_set: tuple[int, ...]
    value: float
    rank: int
    middle_rank: int
    inertia: tuple[int, int, int]
    kind: str
    inversions: int
    gap: float = field(repr=False)
    eigenvalues: np.ndarray = field(repr=False)


def middle_rank(weights: Sequence, *, rank_tol: float = 1e-8) -> int:
    """Numerical rank of ``W_{N-1} ... W_2`` (identity of size ``d_1`` when ``N = 2``; Prop. 4 (iii) of [CLC]).

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    rank_tol : float, optional
        Keyword-only. Singular values above ``rank_tol`` times the largest count.

    Returns
    -------
    int
        The numerical rank.

    Raises
    ------
    ValueError
        If the depth is ``N < 2`` or the weights are invalid.
    """
    ws = as_weights(weights)
    n = len(ws)
    if n < 2:
        raise ValueError("middle_rank needs depth N >= 2")
    rank_tol = check_positive(rank_tol, "rank_tol")
    return _numerical_rank(_chain(ws, n - 1, 2, ws[0].shape[0]), rank_tol)


def inertia_row(weights: Sequence, X, Y) -> InertiaRow:
    """Index set, ranks, Hessian inertia and verdict at a critical point (see the Mathematical notes, "The Hessian and
    the landscape").

    Calls :func:`dlnlib.hessian.classification`, which raises if the point is not critical or if
    theory (``S`` not top => strict; top ``S`` with ``|S| < r_max``: the pairing criterion) and
    the Hessian inertia disagree.

    Parameters
    ----------
    weights : list of ndarray
        A critical point ``[W_1, ..., W_N]``.
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.

    Returns
    -------
    InertiaRow
        The second-order data of the point.

    Raises
    ------
    ValueError, RuntimeError
        As :func:`dlnlib.hessian.classification`.
    """
    ws = as_weights(weights)
    c = classification(ws, X, Y)
    if c.kind == "not_critical":
        raise ValueError(f"inertia_row needs a critical point; relative gradient {c.gradient_norm:.2e}")
    X, Y = _check_xy(X, Y)
    inert = c.inertia
    return InertiaRow(
        index_set=c.index_set,
        value=_loss_at(_end_to_end(ws), X, Y),
        rank=len(c.index_set),
        middle_rank=middle_rank(ws) if len(ws) >= 2 else 0,
        inertia=inert.as_tuple(),
        kind=c.kind,
        inversions=inversion_number(c.index_set, Y.shape[0]),
        gap=inert.gap,
        eigenvalues=inert.eigenvalues,
    )


def _middle_blocks(dims: tuple[int, ...], r: int, middle: float) -> list[np.ndarray | None]:
    n = len(dims) - 1
    blocks: list[np.ndarray | None] = [None] * n
    for h in range(2, n):
        shape = (dims[h] - r, dims[h - 1] - r)
        blocks[h - 1] = middle * np.eye(*shape) if min(shape) > 0 else None
    return blocks


def inertia_table(X, Y, dims, *, middle: float | None = None, rng=None) -> list[InertiaRow]:
    """One :class:`InertiaRow` per admissible index set ``S`` (every stratum of the critical set).

    The critical point is :func:`dlnlib.critical.critical_point` ``(X, Y, dims, S, rng=rng)``:
    with ``middle=None`` the tight point (all complement blocks zero); with a float, the
    complement blocks of the middle layers ``1 < h < N`` are ``middle`` times a rectangular
    identity (``B_1 = B_N = 0``, so the point stays critical; see the Mathematical notes, "Critical points and critical
    values"), which raises ``rank W_{N-1:2}`` above ``|S|``.

    Parameters
    ----------
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.
    dims : sequence of int
        Widths ``(d_0, ..., d_N)``.
    middle : float or None, optional
        Keyword-only. Entry of the middle complement blocks (``None``: tight points).
    rng : numpy.random.Generator or int or None, optional
        Keyword-only. Passed to :func:`dlnlib.critical.critical_point`.

    Returns
    -------
    list of InertiaRow
        Sorted by critical value.
    """
    summary, red, X, Y = _check_and_reduce(X, Y, dims, allow_non_filling=True)
    d = summary.dims
    rows = []
    for cs in _critical_index_sets(summary, red):
        comp = None if middle is None else _middle_blocks(d, cs.rank, float(middle))
        ws = _critical_point(summary, red, X, Y, cs.index_set, rng, comp)
        rows.append(inertia_row(ws, X, Y))
    return rows


def random_critical_points(X, Y, dims, n: int, *, rng) -> list[list[np.ndarray]]:
    """``n`` random critical points over random strata, for statistics on Hessian signatures.

    Each point: an index set ``S`` drawn uniformly among the admissible ones; for ``N >= 3``
    complement blocks that are, with probability 1/2, Gaussian in every middle layer
    (``B_1 = B_N = 0``: raises ``rank W_{N-1:2}``) and otherwise Gaussian in one layer drawn
    uniformly (a single nonzero block is always admissible; see the Mathematical notes, "Critical points and critical
    values"); then a random point of the same critical manifold (``rng`` passed to
    :func:`dlnlib.critical.critical_point`).
    For ``N <= 2`` the complement is zero.

    Parameters
    ----------
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.
    dims : sequence of int
        Widths ``(d_0, ..., d_N)``.
    n : int
        Number of points.
    rng : numpy.random.Generator or int
        Keyword-only. Source of randomness.

    Returns
    -------
    list of list of ndarray
        ``n`` critical points ``[W_1, ..., W_N]``.
    """
    summary, red, X, Y = _check_and_reduce(X, Y, dims, allow_non_filling=True)
    d = summary.dims
    depth = len(d) - 1
    n = check_positive(n, "n", integer=True)
    g = as_rng(rng)
    sets = [cs.index_set for cs in _critical_index_sets(summary, red)]
    out = []
    for child in g.spawn(n):
        S = sets[int(child.integers(len(sets)))]
        r = len(S)
        comp = None
        if depth >= 3:
            layers = range(2, depth) if child.random() < 0.5 else [int(child.integers(1, depth + 1))]
            comp = [None] * depth
            for h in layers:
                shape = (d[h] - r, d[h - 1] - r)
                comp[h - 1] = child.standard_normal(shape) if min(shape) > 0 else None
        out.append(_critical_point(summary, red, X, Y, S, child, comp))
    return out


def tight_inertia_formula(dims, S) -> tuple[int, int, int]:
    """Inertia ``(n_+, n_-, n_0)`` at a *tight* critical point (every ``W_h`` of rank ``|S|``).

    See the Mathematical notes, "The Hessian and the landscape": with ``r = |S|``,
    ``n_- = inv(S) + [N=2](d_y - r)(d_1 - r)`` and
    ``n_+ = r^2 + 2r(d_y - r) - inv(S) + r(d_x - d_y) + [N=2](d_y - r)(d_1 - r)``,
    ``n_0 = P - n_+ - n_-``. For ``|S| = r_max`` top (global minimum) it gives ``n_- = 0``.

    Parameters
    ----------
    dims : sequence of int
        Widths ``(d_0, ..., d_N)``.
    S : collection of int
        0-based index set, ``|S| <= r_max``.

    Returns
    -------
    tuple of int
        ``(n_+, n_-, n_0)``.

    Raises
    ------
    ValueError
        If the depth is ``N < 2`` (or ``dims`` or ``S`` is invalid).
    """
    d = tuple(int(x) for x in dims)
    n = len(d) - 1
    if n < 2:
        raise ValueError("tight_inertia_formula needs depth N >= 2")
    d_x, d_y = d[0], d[-1]
    S = _normalize_index_set(S, d_y, min(d), depth=n)
    r = len(S)
    inv = inversion_number(S, d_y)
    extra = (d_y - r) * (d[1] - r) if n == 2 else 0
    n_neg = inv + extra
    n_pos = r * r + 2 * r * (d_y - r) - inv + r * (d_x - d_y) + extra
    p = sum(d[i] * d[i - 1] for i in range(1, n + 1))
    return (n_pos, n_neg, p - n_pos - n_neg)


# --------------------------------------------------------------------------- rendering
