"""Geometry of the critical set for one hidden layer: stratification, Proposition 5, normal hyperbolicity.

See the Mathematical notes, "One hidden layer and normal hyperbolicity" and "Reconstructed here — the normal count
``n_-``, ``n_+`` for N = 2" ([CLC] §4, eqs. (24)-(28), Proposition 5). For ``N = 2`` and data
satisfying Assumptions 1-4 the critical set splits into submanifolds ``C_{r,S}`` (one per index set ``S``,
``|S| = r``), each exactly the critical set at one critical value; the tangent space of
``C_{r,S}`` is the kernel of the Hessian and ``R^P = T C ⊕ E^s ⊕ E^u`` (normal hyperbolicity).

This module provides

* :func:`critical_manifold_dimension`: the dimension formula (27) as derived in the Mathematical notes, "Reconstructed
  here — the dimension formula (27)";
* :func:`project_to_critical_set` / :func:`distance_to_critical_set`: minimal-norm Newton
  projection onto ``{∇L = 0}`` with a Jacobian obtained by finite differences of the gradient
  (independent of the closed-form Hessian of :mod:`dlnlib.hessian`);
* :func:`tangent_dimension`: the numerical dimension of the critical set at a critical point, from
  the singular values of Newton-projected displacements;
* :func:`stable_unstable_dimensions`: the splitting ``(n_-, n_+, n_0)`` of Prop. 5 from the Hessian
  inertia, with the predicted ``n_- = inv(S) + (d_y - r)(d_1 - r)``.

References
----------
[CLC] Y. Chitour, Z. Liao, R. Couillet, *A Geometric Approach of Gradient Descent Algorithms in
Linear Neural Networks*, Math. Control Relat. Fields 13(3), 2023 (arXiv:1811.03568).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from . import memory
from ._validation import as_rng, check_positive, dims_of
from .critical import inversion_number
from .hessian import _assemble, _grad_batch, _hessian_scale, _inertia_from_eigs
from .model import _check_dims, _check_problem, _flat, _gradient_scale, _norm2, _products, _unflat

__all__ = [
    "NormalHyperbolicity",
    "Projection",
    "TangentDimension",
    "critical_manifold_dimension",
    "distance_to_critical_set",
    "predicted_unstable_dimension",
    "project_to_critical_set",
    "scalar_flow_limit",
    "stable_unstable_dimensions",
    "tangent_dimension",
]


# --------------------------------------------------------------------------- dimension formula (27)


def critical_manifold_dimension(dims, r: int) -> int:
    """Dimension of the critical manifold ``C_{r,S}`` of a single-hidden-layer network (eq. (27) of [CLC]).

    ``dim C_{r,S} = r (2 d_1 - r) + (d_1 - r)(d_0 - d_2)``, independent of ``S`` (``|S| = r``).

    The printed formula (27) of [CLC] could not be recovered; this is the form *derived* in the Mathematical notes,
    "Reconstructed here — the dimension formula (27)", and verified numerically in ``tests/test_geometry.py``
    (equal to the numerical tangent dimension and to ``dim ker Hess``). Derivation: in reduced
    coordinates a critical point with index set ``S`` is ``W_2 = [A; 0]`` (rows ``S`` first) with
    ``A`` of shape ``(r, d_1)`` and rank ``r``, and ``W_1 = [B_S, 0, B_extra]`` with ``A B_S = Σ_S``
    (``r^2`` equations) and ``A B_extra = 0`` (``(d_1 - r)`` free rows per extra input column):
    ``r d_1 + (d_1 r - r^2) + (d_1 - r)(d_0 - d_2)``. Equivalently (see the Mathematical notes, "One hidden layer and
    normal hyperbolicity") ``r d_1 + (d_1 - r)(d_0 - d_2 + r)``; for ``d_0 = d_2`` it reduces to ``r (2 d_1 - r)``.

    Parameters
    ----------
    dims : sequence of int
        Widths ``(d_0, d_1, d_2)`` (depth ``N = 2`` only), ``d_0 = d_x >= d_2 = d_y``.
    r : int
        Rank of the end-to-end map, ``0 <= r <= min(d_1, d_2)``.

    Returns
    -------
    int
        ``dim C_{r,S}``.

    Raises
    ------
    ValueError
        If ``len(dims) != 3`` (Proposition 5 is a statement about one hidden layer; for ``N >= 3``
        the critical set is not a manifold at non-strict saddles, see the Mathematical notes, "One hidden layer and
        normal hyperbolicity"), if ``d_0 < d_2`` (Assumption 1 of [CLC]), or if ``r`` is outside ``[0, min(d_1, d_2)]``
        (``rank W_2 W_1 <= min(d_1, d_2)``).
    """
    d = _check_dims(dims)
    if len(d) != 3:
        raise ValueError(
            f"the dimension formula (27) of [CLC] is for one hidden layer, dims = (d_0, d_1, d_2); got "
            f"{len(d) - 1} layers {d} (for N >= 3 the critical set is not a manifold at non-strict saddles)"
        )
    d0, d1, d2 = d
    if d0 < d2:
        raise ValueError(f"Assumption 1 of [CLC] requires d_0 = d_x >= d_2 = d_y, got dims {d}")
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)):
        raise TypeError(f"r must be an integer, got {r!r}")
    r = int(r)
    if not 0 <= r <= min(d1, d2):
        raise ValueError(
            f"r = |S| = rank(W_2 W_1) must satisfy 0 <= r <= min(d_1, d_2) = {min(d1, d2)} for dims {d}, got r={r}"
        )
    return r * (2 * d1 - r) + (d1 - r) * (d0 - d2)


def predicted_unstable_dimension(dims, S) -> int:
    """Predicted ``n_- = inv(S) + (d_2 - r)(d_1 - r)`` for one hidden layer (see the Mathematical notes, "Reconstructed
    here — the normal count ``n_-``, ``n_+`` for N = 2"; eq. (28) is the splitting it refines).

    The number of negative Hessian eigenvalues at every point of ``C_{r,S}`` (the dimension of
    the unstable bundle ``E^u``); zero exactly at the global minima (``S`` top, ``r = min(d_1, d_2)``).

    Parameters
    ----------
    dims : sequence of int
        Widths ``(d_0, d_1, d_2)``.
    S : collection of int
        0-based index set into the decreasing singular values, ``r = |S|``.

    Returns
    -------
    int
        The predicted number of negative Hessian eigenvalues.

    Raises
    ------
    ValueError
        Invalid ``dims`` or ``S``.
    """
    d = _check_dims(dims)
    r = len(tuple(S))
    critical_manifold_dimension(d, r)  # validates depth and r
    return inversion_number(S, d[2]) + (d[2] - r) * (d[1] - r)


# --------------------------------------------------------------------------- the scalar network


def scalar_flow_limit(w1: float, w2: float, x: float, y: float) -> tuple[float, float]:
    """Limit of the gradient flow of ``L(w_1, w_2) = 1/2 (y - w_2 w_1 x)^2`` from ``(w_1, w_2)`` (see the Mathematical
    notes, "Reconstructed here — the limit of the scalar flow").

    The invariant ``c = w_2^2 - w_1^2`` (Lemma 2.3 of [CLC]) and the invariant signs of ``w_1 + w_2``
    and ``w_1 - w_2`` (``d/dt (w_1 ± w_2) = ± x e (w_1 ± w_2)``, ``e = y - x w_1 w_2``) fix the limit:
    the point of the hyperbola ``w_1 w_2 = p = y/x`` on ``w_2^2 - w_1^2 = c``, i.e.
    ``w_1^2 = (-c + sqrt(c^2 + 4 p^2)) / 2``, ``w_2 = p / w_1``, with ``sign(w_1) = sign(w_1 + w_2)``
    when ``p > 0`` and ``sign(w_1 - w_2)`` when ``p < 0``. On the stable manifold of the saddle (the
    line ``w_2 = -w_1`` for ``p > 0``, ``w_2 = w_1`` for ``p < 0``) the limit is the origin.

    Parameters
    ----------
    w1, w2 : float
        Initial weights.
    x, y : float
        The single sample and target; ``x != 0`` and ``y != 0`` (otherwise the minimum set is not a hyperbola).

    Returns
    -------
    tuple of float
        The limit ``(w_1, w_2)``.

    Raises
    ------
    ValueError
        A non-finite input, ``x = 0`` (Assumption 1: ``X`` of full row rank) or ``y = 0`` (the global minima
        ``w_1 w_2 = 0`` are not a hyperbola).
    """
    w1, w2, x, y = (float(v) for v in (w1, w2, x, y))
    if not np.all(np.isfinite([w1, w2, x, y])):
        raise ValueError(f"scalar_flow_limit needs finite inputs, got w=({w1}, {w2}), x={x}, y={y}")
    if x == 0:
        raise ValueError("x = 0: X is not of full row rank (Assumption 1 of [CLC])")
    if y == 0:
        raise ValueError(
            "y = 0: the global minima w_1 w_2 = 0 are two lines, not the hyperbola of the Mathematical "
            "notes, 'One hidden layer and normal hyperbolicity'"
        )
    p = y / x
    side = w1 + w2 if p > 0 else w1 - w2
    if side == 0:
        return 0.0, 0.0
    c = w2 * w2 - w1 * w1
    a = np.sqrt((-c + np.hypot(c, 2 * p)) / 2)
    lim1 = float(np.copysign(a, side))
    return lim1, p / lim1


# --------------------------------------------------------------------------- Newton projection


@dataclass(frozen=True)
class Projection:
    """A point of ``{∇L = 0}`` reached by minimal-norm Newton (:func:`project_to_critical_set`).

    Attributes
    ----------
    weights : list of ndarray
        The projected weights ``[W_1, ..., W_N]``.
    distance : float
        ``||W_proj - W||`` (Euclidean norm of the flat parameter displacement).
    gradient_norm : float
        Relative gradient at the projected point (gradient over its cancellation-free
        scale, as in :func:`dlnlib.hessian.classify`).
    n_iter : int
        Newton iterations used.
    converged : bool
        Whether the relative gradient fell under ``gtol``.
    codimension : int
        Number of singular directions of the Jacobian inverted at each step (``P - dim``).
    """

    weights: list[np.ndarray] = field(repr=False)
    distance: float
    gradient_norm: float
    n_iter: int
    converged: bool
    codimension: int


def _fd_jacobian(y: np.ndarray, dims, sxx, syx, h: float) -> np.ndarray:
    """Jacobians of the gradient map by central differences, ``y`` of shape ``(K, P)`` -> ``(K, P, P)``.

    ``2P`` batched gradient evaluations per point; ``J[k, :, j] = d g / d y_j`` at ``y[k]``.
    """
    k, p = y.shape
    pert = np.eye(p) * h
    ys = np.concatenate([(y[:, None, :] + pert).reshape(-1, p), (y[:, None, :] - pert).reshape(-1, p)])
    g = _grad_batch(ys, dims, sxx, syx)
    gp, gm = g[: k * p].reshape(k, p, p), g[k * p :].reshape(k, p, p)
    return np.swapaxes((gp - gm) / (2 * h), 1, 2)


def _rel_grad(y: np.ndarray, dims, sxx, syx) -> tuple[np.ndarray, np.ndarray]:
    """Gradients ``(K, P)`` and relative gradient norms ``(K,)`` at flat weights ``(K, P)``."""
    g = _grad_batch(y, dims, sxx, syx)
    wsb = _unflat(y, dims)
    n_sxx, n_syx = _norm2(sxx), _norm2(syx)  # once per call, not once per point
    scale = np.array([_gradient_scale(_products([w[k] for w in wsb]), n_sxx, n_syx) for k in range(y.shape[0])])
    gn = np.linalg.norm(g, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(scale > 0, gn / np.where(scale > 0, scale, 1.0), np.where(gn == 0, 0.0, np.inf))
    return g, rel


def _jacobian_rank(sv: np.ndarray) -> int:
    """Numerical rank from the largest ratio gap of ``sv`` (descending) extended by a noise floor.

    The floor ``1e-8 * sv[0]`` sits above the finite-difference noise (``~1e-10`` relative) and
    below the nonzero eigenvalues of well-separated data, so a Jacobian without kernel gets full rank.
    """
    if sv.size == 0 or sv[0] == 0:
        return 0
    s = np.maximum(np.append(sv, 1e-8 * sv[0]), np.finfo(float).tiny)
    return int(np.argmax(s[:-1] / s[1:])) + 1


def _newton(y0: np.ndarray, dims, sxx, syx, codim: int, gtol: float, max_iter: int, h: float):
    """Minimal-norm Newton on ``K`` points at once (``y0`` of shape ``(K, P)``)."""
    y = y0.copy()
    g, rel = _rel_grad(y, dims, sxx, syx)
    iters = np.zeros(y.shape[0], dtype=np.int64)
    for _ in range(max_iter):
        act = np.flatnonzero((rel > gtol) & np.isfinite(rel))
        if act.size == 0 or codim == 0:
            break
        u, s, vt = np.linalg.svd(_fd_jacobian(y[act], dims, sxx, syx, h))
        coef = np.einsum("kpc,kp->kc", u[:, :, :codim], g[act]) / s[:, :codim]
        y[act] -= np.einsum("kcp,kc->kp", vt[:, :codim, :], coef)
        iters[act] += 1
        g[act], rel[act] = _rel_grad(y[act], dims, sxx, syx)
    return y, rel, iters


def _setup(weights, X, Y):
    ws, X, Y = _check_problem(weights, X, Y)
    return ws, dims_of(ws), X @ X.T, Y @ X.T


_JACOBIAN_COPIES = 7.0  # per point: perturbed weights and gradients (2P x P each), difference, SVD factors


def _guard_jacobians(what: str, n_par: int, n_points: int) -> None:
    """Refuse finite-difference Jacobians of ``n_points`` points that cannot fit (see :mod:`dlnlib.memory`)."""
    memory.check_dense_memory(
        what,
        n_par,
        nbytes=memory.dense_bytes(n_par, copies=_JACOBIAN_COPIES * n_points),
        alternative=(
            "critical_manifold_dimension (eq. (27), N = 2) or dlnlib.hessian.inertia(..., method='matrix-free') "
            "(kernel dimension where the theory gives it)"
        ),
    )


def _fd_step(y: np.ndarray) -> float:
    return 1e-5 * (1.0 + float(np.max(np.abs(y))))


def project_to_critical_set(
    weights: Sequence,
    X,
    Y,
    *,
    dimension: int | None = None,
    gtol: float = 1e-12,
    max_iter: int = 30,
) -> Projection:
    """Project ``W`` onto the critical set ``{∇L = 0}`` by minimal-norm (Gauss-)Newton steps.

    Each step solves ``J δ = -∇L`` in the least-squares, minimal-norm sense on the top
    ``P - dimension`` singular directions of ``J``, the Jacobian of the gradient map obtained by
    central finite differences of the gradient (so independent of :func:`dlnlib.hessian.hessian`).
    For a point at distance ``δ`` of a clean critical manifold the result is the orthogonal
    projection up to ``O(δ^2)``: the distance to the manifold is ``||W_proj - W|| (1 + O(δ))``.

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.
    dimension : int or None, optional
        Keyword-only. Dimension of the critical manifold to project on (e.g. :func:`critical_manifold_dimension`).
        ``None``: decided at the starting point from the largest ratio gap in the singular values of
        the Jacobian, which is reliable only at a critical point (elsewhere the near-kernel singular
        values are of the order of the distance and may not stand out): pass it for other points.
    gtol : float, optional
        Keyword-only. Stop when the relative gradient (see :class:`Projection`) is below ``gtol``.
    max_iter : int, optional
        Keyword-only. Newton iterations at most.

    Returns
    -------
    Projection
        ``converged=False`` when Newton did not reach ``gtol`` (the point is too far from the
        manifold, or ``dimension`` is wrong); the distance is then not meaningful.

    Raises
    ------
    ValueError
        Invalid weights, data or ``dimension``.

    Notes
    -----
    See the Mathematical notes, "One hidden layer and normal hyperbolicity" (numerical tangent). At non-strict saddles
    of depth ``N >= 3`` the gradient is quadratic in some transverse directions and Newton is unreliable there.
    """
    ws, dims, sxx, syx = _setup(weights, X, Y)
    gtol = check_positive(gtol, "gtol")
    max_iter = check_positive(max_iter, "max_iter", integer=True)
    y0 = _flat(ws)
    p = y0.size
    h = _fd_step(y0)
    _guard_jacobians("project_to_critical_set", p, 1)
    if dimension is None:
        sv = np.linalg.svd(_fd_jacobian(y0[None], dims, sxx, syx, h)[0], compute_uv=False)
        codim = _jacobian_rank(sv)
    else:
        if not (isinstance(dimension, (int, np.integer)) and 0 <= dimension <= p):
            raise ValueError(f"dimension must be an integer in [0, P={p}], got {dimension!r}")
        codim = p - int(dimension)
    y, rel, it = _newton(y0[None], dims, sxx, syx, codim, gtol, max_iter, h)
    out = [w[0].copy() for w in _unflat(y, dims)]
    return Projection(
        weights=out,
        distance=float(np.linalg.norm(y[0] - y0)),
        gradient_norm=float(rel[0]),
        n_iter=int(it[0]),
        converged=bool(rel[0] <= gtol),
        codimension=codim,
    )


def distance_to_critical_set(weights: Sequence, X, Y, *, dimension: int | None = None, gtol: float = 1e-12) -> float:
    """Distance from ``W`` to the critical manifold of the given ``dimension`` (NaN if Newton fails).

    Thin wrapper around :func:`project_to_critical_set` for the "trajectories near a saddle
    manifold" experiment of chapter 6 (see the Mathematical notes, "One hidden layer and normal hyperbolicity": normal
    hyperbolicity).

    Parameters
    ----------
    weights, X, Y, dimension, gtol
        As in :func:`project_to_critical_set` (``dimension`` and ``gtol`` keyword-only).

    Returns
    -------
    float
        :attr:`Projection.distance`, or NaN if the projection did not converge.
    """
    proj = project_to_critical_set(weights, X, Y, dimension=dimension, gtol=gtol)
    return proj.distance if proj.converged else float("nan")


# --------------------------------------------------------------------------- tangent dimension


@dataclass(frozen=True)
class TangentDimension:
    """Numerical dimension of the critical set at a critical point (:func:`tangent_dimension`).

    Attributes
    ----------
    dimension : int
        Number of normalized displacement singular values above ``tol``.
    singular_values : ndarray
        Singular values of the displacement matrix ``D / (eps sqrt(n_samples / P))``,
        descending: ``O(1)`` for tangent directions, ``O(eps)`` (curvature) for normal ones.
    gap : float
        ``min(tangent singular values) / max(normal singular values)`` (``inf`` if either is
        empty): how cleanly the decision separates; trust ``dimension`` when it is large.
    tol : float
        The threshold used.
    max_gradient : float
        Largest relative gradient at the projected points (all should be ``<~ 1e-12``).
    all_converged : bool
        Whether every Newton projection converged.
    basis : ndarray of shape (P, dimension)
        Orthonormal basis of the numerical tangent space.
    """

    dimension: int
    singular_values: np.ndarray = field(repr=False)
    gap: float
    tol: float = field(repr=False)
    max_gradient: float
    all_converged: bool
    basis: np.ndarray = field(repr=False)

    def __int__(self) -> int:
        return self.dimension

    def __index__(self) -> int:
        return self.dimension


def tangent_dimension(
    weights: Sequence,
    X,
    Y,
    *,
    tol: float | None = None,
    eps: float = 1e-4,
    n_samples: int | None = None,
    rng: np.random.Generator | int = 0,
) -> TangentDimension:
    """Dimension of the critical set at a critical point ``W``, measured without the Hessian formula.

    Procedure (see the Mathematical notes, "One hidden layer and normal hyperbolicity"): draw ``n_samples`` random unit
    directions ``v_k``, project ``W + eps v_k`` back onto ``{∇L = 0}`` with :func:`project_to_critical_set`
    (finite-difference
    Jacobian of the gradient, minimal-norm Newton), and take the SVD of the displacements
    ``D = [W_k' - W]``. On a clean critical manifold of dimension ``k`` the displacements are
    ``eps P_T v_k + O(eps^2)``: ``k`` singular values of order ``eps sqrt(n_samples / P)`` and the
    others ``O(eps^2)``. After normalization the decision is ``#{σ > tol}``.

    What this adds to ``dim ker Hess``: the projected points are verified critical to machine
    precision (``max_gradient``), so every counted direction is realized by nearby critical points.
    The number of directions the Newton step leaves free is decided at ``W`` from the largest
    ratio gap of the finite-difference Jacobian (not from :func:`dlnlib.hessian.inertia`).

    Parameters
    ----------
    weights : list of ndarray
        A critical point ``[W_1, ..., W_N]``.
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.
    tol : float or None, optional
        Keyword-only. Threshold on the normalized singular values; default ``sqrt(eps)``
        (geometric middle between ``O(1)`` and ``O(eps)``).
    eps : float, optional
        Keyword-only. Perturbation size, relative to ``1 + max|W|``.
    n_samples : int or None, optional
        Keyword-only. Number of directions (default ``P + 10``; at least the expected dimension).
    rng : numpy.random.Generator or int, optional
        Keyword-only. Source of the random directions.

    Returns
    -------
    TangentDimension
        ``int(result)`` is the dimension.

    Raises
    ------
    ValueError
        If ``W`` is not critical (relative gradient above ``1e-8``).
    """
    ws, dims, sxx, syx = _setup(weights, X, Y)
    eps = check_positive(eps, "eps")
    g = as_rng(rng)
    y0 = _flat(ws)
    p = y0.size
    rel0 = float(_rel_grad(y0[None], dims, sxx, syx)[1][0])
    if rel0 > 1e-8:
        raise ValueError(f"tangent_dimension needs a critical point; relative gradient {rel0:.2e} > 1e-8")
    n = p + 10 if n_samples is None else check_positive(n_samples, "n_samples", integer=True)
    _guard_jacobians("tangent_dimension", p, n)
    tol = float(np.sqrt(eps)) if tol is None else check_positive(tol, "tol")
    h = _fd_step(y0)
    sv0 = np.linalg.svd(_fd_jacobian(y0[None], dims, sxx, syx, h)[0], compute_uv=False)
    codim = _jacobian_rank(sv0)
    step = eps * (1.0 + float(np.max(np.abs(y0))))
    dirs = g.standard_normal((n, p))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    y, rel, _ = _newton(y0[None] + step * dirs, dims, sxx, syx, codim, 1e-12, 30, h)
    disp = y - y0[None]
    worst, ok = float(np.max(rel)), bool(np.all(rel <= 1e-12))
    _, s, vt = np.linalg.svd(disp / (step * np.sqrt(n / p)), full_matrices=False)
    dim = int(np.sum(s > tol))
    above, below = s[:dim], s[dim:]
    gap = float(above.min() / below.max()) if above.size and below.size and below.max() > 0 else np.inf
    return TangentDimension(
        dimension=dim,
        singular_values=s,
        gap=gap,
        tol=tol,
        max_gradient=worst,
        all_converged=ok,
        basis=vt[:dim].T.copy(),
    )


# --------------------------------------------------------------------------- stable / unstable splitting


@dataclass(frozen=True)
class NormalHyperbolicity:
    """The splitting ``R^P = T C ⊕ E^s ⊕ E^u`` at a critical point (Prop. 5, eq. (28) of [CLC]).

    Attributes
    ----------
    n_unstable : int
        ``n_- = dim E^u`` (negative Hessian eigenvalues).
    n_stable : int
        ``n_+ = dim E^s`` (positive eigenvalues).
    n_center : int
        ``n_0 = dim ker Hess`` (equal to ``dim T C`` by Prop. 5 for ``N = 2``).
    n_params : int
        ``P``.
    gap : float
        The inertia gap of :class:`dlnlib.hessian.Inertia`.
    eigenvalues : ndarray of shape (P,)
        Hessian eigenvalues, ascending.
    eigenvectors : ndarray of shape (P, P)
        Matching orthonormal eigenvectors (columns).
    """

    n_unstable: int
    n_stable: int
    n_center: int
    n_params: int
    gap: float
    eigenvalues: np.ndarray = field(repr=False)
    eigenvectors: np.ndarray = field(repr=False)


def stable_unstable_dimensions(weights: Sequence, X, Y, *, tol: float | None = None) -> NormalHyperbolicity:
    """Dimensions ``(n_-, n_+, n_0)`` at a critical point, with eigenvectors spanning ``E^u``, ``E^s``, ``ker``.

    Uses :func:`dlnlib.hessian.inertia` (closed-form Hessian of Prop. 3, scale-aware zero
    tolerance ``tol``); for ``N = 2`` compare ``n_unstable`` with :func:`predicted_unstable_dimension`
    and ``n_center`` with :func:`critical_manifold_dimension` (Prop. 5; see the Mathematical notes, "One hidden layer
    and normal hyperbolicity").

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.
    tol : float or None, optional
        Keyword-only. Zero tolerance, as in :func:`dlnlib.hessian.inertia`.

    Returns
    -------
    NormalHyperbolicity
        Dimensions, eigenvalues and eigenvectors.
    """
    ws, _, sxx, syx = _setup(weights, X, Y)
    memory.check_dense_memory(
        "stable_unstable_dimensions",
        sum(w.size for w in ws),
        nbytes=memory.dense_bytes(sum(w.size for w in ws), "eigh"),
        alternative="dlnlib.hessian.inertia(..., method='matrix-free') for the counts",
    )
    h = _assemble(ws, sxx, syx)
    # the counts from eigvalsh, exactly as inertia() computes them; eigh only for the eigenvectors
    inert = _inertia_from_eigs(np.linalg.eigvalsh(h), tol, _hessian_scale(ws, sxx, syx))
    evals, evecs = np.linalg.eigh(h)
    return NormalHyperbolicity(
        n_unstable=inert.n_neg,
        n_stable=inert.n_pos,
        n_center=inert.n_zero,
        n_params=int(evals.size),
        gap=inert.gap,
        eigenvalues=evals,
        eigenvectors=evecs,
    )
