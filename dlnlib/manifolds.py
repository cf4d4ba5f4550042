"""Stable and unstable manifolds of the saddle strata of a single-hidden-layer network.

Section 4 of [CLC] (Proposition 5, eq. (28), Definition 4.1 and Theorem 4.2; see the Mathematical
notes, "One hidden layer" and "Normal count"). For ``N = 2`` and data satisfying Assumption 4 each
saddle stratum ``C_S`` is a manifold of equilibria whose tangent space is the Hessian kernel, and
``R^P = T C_S ⊕ E^s ⊕ E^u`` with ``dim E^u = n_- >= 1``. By Hirsch-Pugh-Shub (Theorem 4.2) the local
stable manifold ``W^s(C_S)`` has dimension ``dim C_S + n_+ = P - n_-``: codimension ``n_- >= 1``.

This module computes, at a point of a saddle stratum, everything that statement predicts and
measures it on the flow:

* :func:`saddle_splitting`: the splitting (tangent = Hessian kernel, stable and unstable normal
  eigenvectors with their eigenvalues) and the predicted dimensions;
* :func:`stable_manifold_points`: points of ``W^s(C_S)``, from the linearized stable bundle
  ``W* + eps v`` corrected in ``E^u`` by shooting (Newton on the unstable components of the flow at
  a horizon ``T``, with continuation in ``T``);
* :func:`stable_convergence`: forward trajectories from those points (:func:`dlnlib.dynamics.gradient_flow_batch`),
  their distance to ``C_S`` and the fitted exponential rates, compared with the eigenvalues;
* :func:`saddle_escape_times`: points pushed by ``δ`` along an unstable direction leave after a time
  ``≈ log(1/δ)/|λ_-|``; the fit of the escape time against ``log(1/δ)``;
* :func:`expanding_directions`: the number of expanding directions of the time-``T`` flow map
  (finite differences of the flow, no Hessian), an empirical ``n_-`` = codimension of ``W^s``;
* :func:`shooting_fraction`: the fraction of random starts within ``ρ`` of ``C_S`` that are still
  near ``C_S`` after a time ``T``; it scales like ``ρ^{-n_-}`` (the slope of a log-log fit);
* :func:`manifold_portrait`: the stratum, orbits of ``W^s`` and ``W^u`` and passing trajectories in
  the coordinates (tangent, stable, unstable) at ``W*`` (the paper's Figure 3, computed).

Parameters are flattened as in :mod:`dlnlib.hessian` (``concat(W_1.ravel(), W_2.ravel())``).

References
----------
[CLC] Y. Chitour, Z. Liao, R. Couillet, *A Geometric Approach of Gradient Descent Algorithms in
Linear Neural Networks*, Math. Control Relat. Fields 13(3), 2023 (arXiv:1811.03568).
[HPS] M. W. Hirsch, C. C. Pugh, M. Shub, *Invariant Manifolds*, Lecture Notes in Math. 583, 1977.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.integrate import solve_ivp

from ._validation import as_rng, check_positive, dims_of
from .critical import _critical_index_sets
from .dynamics import gradient_flow_batch
from .geometry import (
    _fd_step,
    _newton,
    critical_manifold_dimension,
    predicted_unstable_dimension,
    stable_unstable_dimensions,
    tangent_dimension,
)
from .hessian import _grad_batch, classification
from .model import _check_and_reduce, _check_problem, _flat, _unflat

__all__ = [
    "ConvergenceFit",
    "EscapeFit",
    "ExpandingDirections",
    "ManifoldPortrait",
    "SaddleSplitting",
    "ShootingFraction",
    "StableManifoldPoints",
    "distance_to_stratum",
    "expanding_directions",
    "manifold_portrait",
    "saddle_escape_times",
    "saddle_splitting",
    "shooting_fraction",
    "stable_convergence",
    "stable_manifold_points",
]


# --------------------------------------------------------------------------- the splitting


@dataclass(frozen=True)
class SaddleSplitting:
    """The splitting ``R^P = T C_S ⊕ E^s ⊕ E^u`` at a point of a saddle stratum (Prop. 5, eq. (28) of [CLC]).

    Attributes
    ----------
    dims : tuple of int
        Widths ``(d_0, d_1, d_2)``.
    index_set : tuple of int
        0-based index set ``S`` of the stratum (``r = |S|``).
    value : float
        The critical value ``c_S`` (loss on the stratum).
    lower_value : float
        The largest critical value below ``c_S`` (the next level the flow can reach).
    point : ndarray of shape (P,)
        The flat critical point ``W*``.
    eigenvalues : ndarray of shape (P,)
        Hessian eigenvalues at ``W*``, ascending.
    tangent : ndarray of shape (P, n_0)
        Orthonormal basis of the Hessian kernel (``T C_S`` by Prop. 5).
    stable : ndarray of shape (P, n₊)
        Eigenvectors of the positive eigenvalues (``E^s``), ascending eigenvalue (slowest first).
    unstable : ndarray of shape (P, n₋)
        Eigenvectors of the negative eigenvalues (``E^u``), most negative first.
    stable_eigenvalues : ndarray of shape (n₊,)
        Positive eigenvalues, ascending: the contraction rates of the flow along ``E^s``.
    unstable_eigenvalues : ndarray of shape (n₋,)
        Negative eigenvalues, most negative first: ``|λ|`` is the expansion rate along ``E^u``.
    n_plus, n_minus, n_zero : int
        Inertia of the Hessian.
    n_minus_predicted : int
        ``inv(S) + (d_2 - r)(d_1 - r)`` (Mathematical notes, "Normal count").
    dim_stratum : int
        ``dim C_S`` from the dimension formula (27) (Mathematical notes, "Dimension formula").
    tangent_numerical : int
        Dimension of the critical set at ``W*`` from Newton-projected perturbations
        (:func:`dlnlib.geometry.tangent_dimension`, no Hessian); ``-1`` when not computed.
    kernel_angle : float
        Sine of the largest principal angle between that numerical tangent space and the Hessian
        kernel (NaN when not computed or when the dimensions differ).
    dim_stable_manifold : int
        Predicted ``dim W^s(C_S) = dim C_S + n_+`` (Theorem 4.2 of [CLC]).
    codimension : int
        Predicted codimension of ``W^s(C_S)``: ``P - dim W^s = n_-``.
    """

    dims: tuple[int, ...]
    index_set: tuple[int, ...]
    value: float
    lower_value: float
    point: np.ndarray = field(repr=False)
    eigenvalues: np.ndarray = field(repr=False)
    tangent: np.ndarray = field(repr=False)
    stable: np.ndarray = field(repr=False)
    unstable: np.ndarray = field(repr=False)
    stable_eigenvalues: np.ndarray = field(repr=False)
    unstable_eigenvalues: np.ndarray = field(repr=False)
    n_plus: int
    n_minus: int
    n_zero: int
    n_minus_predicted: int
    dim_stratum: int
    tangent_numerical: int
    kernel_angle: float
    dim_stable_manifold: int
    codimension: int

    @property
    def n_params(self) -> int:
        """``P = d_1 (d_0 + d_2)``."""
        return int(self.point.size)

    @property
    def consistent(self) -> bool:
        """Whether ``n_0 = dim C_S`` (27), ``n_-`` matches its prediction, and (if computed) the tangent too."""
        ok = self.n_zero == self.dim_stratum and self.n_minus == self.n_minus_predicted
        if self.tangent_numerical >= 0:
            ok = ok and self.tangent_numerical == self.dim_stratum
        return bool(ok)


def _moments(X, Y):
    return X @ X.T, Y @ X.T


def _principal_sine(a: np.ndarray, b: np.ndarray) -> float:
    """Sine of the largest principal angle between the column spans of orthonormal ``a`` and ``b``."""
    if a.shape[1] != b.shape[1]:
        return float("nan")
    if a.shape[1] == 0:
        return 0.0
    s = np.linalg.svd(a.T @ b, compute_uv=False)
    return float(np.sqrt(max(0.0, 1.0 - float(np.min(s)) ** 2)))


def saddle_splitting(weights: Sequence, X, Y, *, check_tangent: bool = True, rng: np.random.Generator | int = 0):
    """The splitting of Proposition 5 of [CLC] at a point ``W*`` of a saddle stratum ``C_S`` (``N = 2``).

    The Hessian (closed form of Prop. 3) at ``W*`` gives ``T C_S = ker Hess`` and the normal stable
    and unstable eigenspaces ``E^s``, ``E^u`` with their eigenvalues; the predicted stable-manifold
    dimension is ``dim C_S + n_+`` and its codimension ``n_-`` (Theorem 4.2 of [CLC]; Mathematical
    notes, "One hidden layer"). With ``check_tangent`` the dimension of the critical set at ``W*`` is
    also measured without the Hessian (:func:`dlnlib.geometry.tangent_dimension`) and compared
    with the kernel (principal angle).

    Parameters
    ----------
    weights : list of ndarray
        A critical point ``[W_1, W_2]`` (e.g. :func:`dlnlib.critical.critical_point`) that is a saddle.
    X : ndarray of shape (d_x, m)
        Data; with ``Y``, satisfying Assumptions 1-3 of [CLC] (Assumption 4 for Prop. 5).
    Y : ndarray of shape (d_y, m)
        Targets.
    check_tangent : bool, optional
        Keyword-only. Also measure the numerical tangent dimension (``P + 10`` Newton projections).
    rng : numpy.random.Generator or int, optional
        Keyword-only. Random directions of the tangent measurement.

    Returns
    -------
    SaddleSplitting
        The splitting and the predicted dimensions.

    Raises
    ------
    ValueError
        If the network is not of depth 2, ``W*`` is not critical, or ``W*`` is a global minimum
        (no unstable direction: it has no stable manifold of positive codimension).
    """
    ws, X, Y = _check_problem(weights, X, Y)
    dims = dims_of(ws)
    if len(dims) != 3:
        raise ValueError(
            f"stable manifolds of saddle strata are computed for one hidden layer (dims = (d_0, d_1, d_2)); got "
            f"{len(dims) - 1} layers {dims} (Proposition 5 of [CLC] is an N = 2 statement)"
        )
    cl = classification(ws, X, Y)
    if cl.kind == "not_critical":
        raise ValueError(f"weights must be a critical point; relative gradient {cl.gradient_norm:.2e} > 1e-8")
    if cl.kind == "global_minimum":
        raise ValueError(f"weights are a global minimum (S={cl.index_set}): n_- = 0, there is no saddle stratum here")
    S = cl.index_set
    summary, red, _, _ = _check_and_reduce(X, Y, dims, allow_non_filling=True)
    sets = _critical_index_sets(summary, red)
    value = next(cs.value for cs in sets if cs.index_set == S)
    lower = max((cs.value for cs in sets if cs.value < value), default=float("nan"))
    nh = stable_unstable_dimensions(ws, X, Y)
    ev, vec = nh.eigenvalues, nh.eigenvectors
    n_minus, n_plus, n_zero = nh.n_unstable, nh.n_stable, nh.n_center
    order = np.argsort(ev)
    unstable = vec[:, order[:n_minus]]
    kernel = vec[:, order[n_minus : n_minus + n_zero]]
    stable = vec[:, order[n_minus + n_zero :]]
    dim = critical_manifold_dimension(dims, len(S))
    tnum, angle = -1, float("nan")
    if check_tangent:
        td = tangent_dimension(ws, X, Y, rng=rng)
        tnum = td.dimension
        angle = _principal_sine(td.basis, kernel)
    return SaddleSplitting(
        dims=dims,
        index_set=S,
        value=float(value),
        lower_value=float(lower),
        point=_flat(ws),
        eigenvalues=ev[order],
        tangent=kernel,
        stable=stable,
        unstable=unstable,
        stable_eigenvalues=ev[order[n_minus + n_zero :]],
        unstable_eigenvalues=ev[order[:n_minus]],
        n_plus=n_plus,
        n_minus=n_minus,
        n_zero=n_zero,
        n_minus_predicted=predicted_unstable_dimension(dims, S),
        dim_stratum=dim,
        tangent_numerical=tnum,
        kernel_angle=angle,
        dim_stable_manifold=dim + n_plus,
        codimension=int(ev.size - (dim + n_plus)),
    )


# --------------------------------------------------------------------------- distance to the stratum


def _distance(y: np.ndarray, split: SaddleSplitting, X, Y) -> np.ndarray:
    """Newton distance of flat points ``(K, P)`` to the stratum ``C_S`` itself (NaN if not resolved).

    Projects onto the critical manifolds of dimension ``dim C_S`` and keeps the distance only when
    the projection lies on ``C_S`` (loss ``c_S``, relative ``1e-9``): other strata of the same rank
    have the same dimension, and a trajectory that left ``C_S`` may approach one of them.
    """
    if y.shape[0] == 0:
        return np.zeros(0)
    sxx, syx = _moments(X, Y)
    codim = split.n_params - split.dim_stratum
    proj, rel, _ = _newton(y, split.dims, sxx, syx, codim, 1e-12, 30, _fd_step(y))
    w1, w2 = _unflat(proj, split.dims)
    resid = Y[None] - (w2 @ w1) @ X[None]
    loss = 0.5 * np.sum(resid * resid, axis=(1, 2))
    on_stratum = np.abs(loss - split.value) <= 1e-9 * max(1.0, abs(split.value))
    d = np.linalg.norm(proj - y, axis=1)
    # converged without moving (relative gradient already below 1e-12): distance unresolved, not zero
    return np.where((rel <= 1e-12) & (d > 0) & on_stratum, d, np.nan)


def distance_to_stratum(points, split: SaddleSplitting, X, Y) -> np.ndarray:
    """Distances of many points to the critical manifold through ``split``'s stratum (batched Newton).

    Minimal-norm Newton projection onto ``{∇L = 0}`` with a finite-difference Jacobian of the
    gradient (as :func:`dlnlib.geometry.project_to_critical_set`), on all points at once, with the
    number of free directions fixed to ``dim C_S``. Meaningful near ``C_S`` (the projection lands
    on the nearest critical manifold of that dimension).

    Parameters
    ----------
    points : ndarray of shape (K, P)
        Flat weights (the parameter order of :mod:`dlnlib.hessian`).
    split : SaddleSplitting
        The stratum (:func:`saddle_splitting`).
    X, Y : ndarray
        The data of ``split``.

    Returns
    -------
    ndarray of shape (K,)
        Distances; NaN where Newton did not converge, where it converged to another critical
        manifold of the same dimension (another stratum of the same rank), or where the point is
        already critical to the Newton tolerance (distance below resolution, ``~1e-12``).

    Raises
    ------
    ValueError
        If ``points`` is not a finite ``(K, P)`` array.
    """
    y = np.asarray(points, dtype=float)
    if y.ndim != 2 or y.shape[1] != split.n_params or not np.all(np.isfinite(y)):
        raise ValueError(f"points must be a finite array of shape (K, P={split.n_params}), got {np.shape(points)}")
    return _distance(y, split, np.asarray(X, float), np.asarray(Y, float))


# --------------------------------------------------------------------------- batched flows of several strata


def _as_splits(splits) -> tuple[list[SaddleSplitting], bool]:
    """``(list of splittings, single)``; all must share the widths (they are integrated together)."""
    single = isinstance(splits, SaddleSplitting)
    out = [splits] if single else list(splits)
    if not out or not all(isinstance(s, SaddleSplitting) for s in out):
        raise TypeError("splits must be a SaddleSplitting or a non-empty sequence of them (from saddle_splitting)")
    if len({s.dims for s in out}) != 1:
        raise ValueError(
            f"all splittings must have the same widths to be integrated together, got {[s.dims for s in out]}"
        )
    return out, single


def _scaled_flow(y0: np.ndarray, horizons: np.ndarray, dims, X, Y, *, rtol: float, n_rec: int = 2):
    """Flow each flat start ``y0[k]`` for its own time ``horizons[k]`` in one batched call.

    One :func:`dlnlib.dynamics.gradient_flow_batch` call for all starts.

    Uses ``∇L(W; a X, a Y) = a^2 ∇L(W; X, Y)``: with per-trajectory data ``sqrt(T_k) (X, Y)`` the flow
    over ``s in [0, 1]`` is the original flow over ``t = T_k s``. Returns the final flat states and
    the loss (original scale) at ``s`` on ``n_rec`` equally spaced times.
    """
    a = np.sqrt(np.asarray(horizons, float))
    xk = a[:, None, None] * X[None]
    yk = a[:, None, None] * Y[None]
    s = np.linspace(0.0, 1.0, n_rec)
    run = gradient_flow_batch(_unflat(y0, dims), xk, yk, 1.0, grad_tol=None, rtol=rtol, atol=_ATOL, t_eval=s)
    return _flat(run.final_weights), run.loss / a[:, None] ** 2


_ATOL = 1e-14
_SHOOT_RTOL = 1e-10


# --------------------------------------------------------------------------- points of W^s (shooting)


@dataclass(frozen=True)
class StableManifoldPoints:
    """Points of the stable manifold ``W^s(C_S)`` built by shooting (:func:`stable_manifold_points`).

    Attributes
    ----------
    points : ndarray of shape (K, P)
        ``W* + eps v_k + U c_k``: a stable direction plus the unstable correction found by shooting.
    modes : ndarray of shape (K,)
        Index of the stable eigenvector ``v_k`` in ``split.stable`` (0 = slowest).
    signs : ndarray of shape (K,)
        ``±1``: the side (``W* ± eps v_k``).
    rates : ndarray of shape (K,)
        Predicted late contraction rate: the smallest eigenvalue among the stable modes present
        in ``v_k`` (``λ_k``, or the slowest one when ``mix > 0``).
    directions : ndarray of shape (K, P)
        The unit stable directions ``v_k``.
    correction : ndarray of shape (K,)
        ``||U c_k|| / eps``: size of the unstable correction relative to the stable offset
        (``W^s`` is tangent to ``E^s ⊕ T C_S`` and bends away from it at higher order).
    residual : ndarray of shape (K,)
        ``||U^T ∇L(φ_T(W))|| / eps`` at the final horizon, before the last Newton step.
    horizon : float
        The final shooting horizon ``T`` (the flow amplifies ``E^u`` by ``growth`` over it).
    eps : float
        Size of the stable offset.
    """

    points: np.ndarray = field(repr=False)
    modes: np.ndarray
    signs: np.ndarray
    rates: np.ndarray
    directions: np.ndarray = field(repr=False)
    correction: np.ndarray
    residual: np.ndarray
    horizon: float
    eps: float


def _check_modes(modes, n_plus: int) -> np.ndarray:
    m = np.atleast_1d(np.asarray(modes))
    if m.size == 0 or m.dtype.kind not in "iu" or np.any(m < 0) or np.any(m >= n_plus):
        raise ValueError(
            f"modes must be indices of stable eigenvectors, integers in [0, n_+ = {n_plus}), got {modes!r}"
        )
    return m.astype(np.int64)


def stable_manifold_points(
    splits,
    X,
    Y,
    *,
    modes=(0,),
    eps: float = 1e-2,
    both_sides: bool = False,
    growth: float = 1e6,
    newton_steps: int = 2,
    mix: float = 0.0,
    rng: np.random.Generator | int = 0,
):
    """Points of ``W^s(C_S)`` at distance ``≈ eps`` from ``W*``, by shooting on the unstable components.

    Start on the linearized stable bundle, ``W* + eps v`` (``v`` a unit stable direction), and add a
    correction ``U c`` in ``E^u`` (``U`` the unstable eigenvectors at ``W*``) chosen so that the flow
    does not escape: ``F(c) = U^T ∇L(φ_T(W* + eps v + U c)) = 0`` (near ``C_S`` the gradient is
    ``Hess · (normal displacement)``, so ``F`` is the unstable part of the displacement at time ``T``
    times ``λ_-``, free of the small drift of the limit point along ``C_S``). ``F`` is solved by Newton with a
    finite-difference Jacobian (``n_- + 1`` trajectories per point), with continuation in the horizon
    ``T``: stages where the flow amplifies ``E^u`` by ``10^3, 10^6, ...`` up to ``growth``, each starting
    from the previous ``c``. Every trajectory of every stratum is integrated in one call of
    :func:`dlnlib.dynamics.gradient_flow_batch` per Newton step. Theorem 4.2 of [CLC] says such points form a
    manifold of codimension ``n_-``.

    Parameters
    ----------
    splits : SaddleSplitting or sequence of SaddleSplitting
        Strata of the same widths and data (:func:`saddle_splitting`).
    X, Y : ndarray
        The data.
    modes : sequence of int, optional
        Keyword-only. Indices of stable eigenvectors (0 = smallest positive eigenvalue), for every stratum.
    eps : float, optional
        Keyword-only. Size of the stable offset, in ``(0, 0.1]``.
    both_sides : bool, optional
        Keyword-only. Also ``W* - eps v``.
    growth : float, optional
        Keyword-only. Amplification of ``E^u`` (at the largest rate) over the final horizon, in ``[1e3, 1e12]``.
    newton_steps : int, optional
        Keyword-only. Newton steps at the final horizon (one at each earlier stage).
    mix : float, optional
        Keyword-only. Start along ``v_k + mix r`` (normalized), ``r`` a random unit combination of the
        other stable eigenvectors: a generic point of ``W^s``. With ``mix = 0`` the start may lie in a
        flow-invariant linear subspace (the reduced problem has many), where no correction is needed.
    rng : numpy.random.Generator or int, optional
        Keyword-only. Source of ``r``.

    Returns
    -------
    StableManifoldPoints or list of StableManifoldPoints
        One per stratum (a single one for a single ``splits``).

    Raises
    ------
    ValueError
        Invalid ``modes``, ``eps``, ``growth`` or ``mix``.
    """
    sp, single = _as_splits(splits)
    eps = check_positive(eps, "eps")
    if eps > 0.1:
        raise ValueError(f"eps must be in (0, 0.1] (a neighbourhood of the stratum), got {eps}")
    growth = check_positive(growth, "growth")
    if not 1e3 <= growth <= 1e12:
        raise ValueError(f"growth must be in [1e3, 1e12] (beyond, round-off off W^s dominates), got {growth}")
    steps = check_positive(newton_steps, "newton_steps", integer=True)
    mix = float(mix)
    if not (np.isfinite(mix) and mix >= 0):
        raise ValueError(f"mix must be a finite nonnegative number, got {mix!r}")
    g = as_rng(rng)
    X, Y = np.asarray(X, float), np.asarray(Y, float)
    sxx, syx = _moments(X, Y)
    p, dims = sp[0].n_params, sp[0].dims
    setup = []
    for s in sp:
        m = _check_modes(modes, s.n_plus)
        signs = np.ones(m.size)
        if both_sides:
            m, signs = np.concatenate([m, m]), np.concatenate([signs, -signs])
        coef = np.eye(s.n_plus)[m]
        if mix > 0:
            r = g.standard_normal((m.size, s.n_plus))
            r[np.arange(m.size), m] = 0.0
            coef = coef + mix * r / np.linalg.norm(r, axis=1, keepdims=True)
        v = coef @ s.stable.T
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        rates = np.array([s.stable_eigenvalues[np.flatnonzero(np.abs(c) > 0)].min() for c in coef])
        setup.append((m, signs, v, rates, s.point[None, :] + eps * signs[:, None] * v))
    cs = [np.zeros((st[4].shape[0], s.n_minus)) for s, st in zip(sp, setup, strict=True)]
    res = [np.zeros(c.shape[0]) for c in cs]
    stages = np.unique(np.append(10.0 ** np.arange(3, np.log10(growth), 3), growth))
    for gr in stages:
        t_end = [float(np.log(gr) / abs(s.unstable_eigenvalues[0])) for s in sp]
        n_it = steps if gr == stages[-1] else 1
        for it in range(n_it):
            starts, hors, hs = [], [], []
            for s, st, c, te in zip(sp, setup, cs, t_end, strict=True):
                y = st[4] + c @ s.unstable.T
                h = 1e-3 * eps * np.exp(-np.abs(s.unstable_eigenvalues) * te)  # 1e-3 eps along u_j at time T
                pert = (y[:, None, :] + (h[:, None] * s.unstable.T)[None]).reshape(-1, p)
                starts.append(np.concatenate([y, pert]))
                hors.append(np.full(starts[-1].shape[0], te))
                hs.append(h)
            final, _ = _scaled_flow(np.concatenate(starts), np.concatenate(hors), dims, X, Y, rtol=_SHOOT_RTOL)
            pos = 0
            for i, s in enumerate(sp):
                k, nu = cs[i].shape
                f = _grad_batch(final[pos : pos + k * (nu + 1)], dims, sxx, syx) @ s.unstable
                pos += k * (nu + 1)
                f0, fp = f[:k], f[k:].reshape(k, nu, nu)
                jac = np.swapaxes((fp - f0[:, None, :]) / hs[i][None, :, None], 1, 2)  # dF_a / dc_b
                if it == n_it - 1:
                    res[i] = np.linalg.norm(f0, axis=1) / eps
                cs[i] = cs[i] - np.linalg.solve(jac, f0[:, :, None])[:, :, 0]
    out = [
        StableManifoldPoints(
            points=st[4] + c @ s.unstable.T,
            modes=st[0],
            signs=st[1],
            rates=st[3],
            directions=st[2],
            correction=np.linalg.norm(c @ s.unstable.T, axis=1) / eps,
            residual=r,
            horizon=float(np.log(growth) / abs(s.unstable_eigenvalues[0])),
            eps=eps,
        )
        for s, st, c, r in zip(sp, setup, cs, res, strict=True)
    ]
    return out[0] if single else out


# --------------------------------------------------------------------------- forward convergence on W^s


@dataclass(frozen=True)
class ConvergenceFit:
    """Forward trajectories from points of ``W^s(C_S)`` and their fitted rates (:func:`stable_convergence`).

    Attributes
    ----------
    t : ndarray of shape (K, n_t)
        Recording times of each run.
    distance : ndarray of shape (K, n_t)
        Distance to ``C_S`` (batched Newton projection) along the runs of :func:`dlnlib.dynamics.gradient_flow_batch`
        (NaN below the resolution of the projection, ``~1e-12``).
    predicted : ndarray of shape (K,)
        The predicted late rate of each start (:attr:`StableManifoldPoints.rates`).
    rate : ndarray of shape (K,)
        Fitted ``-d log dist / dt`` over the convergence window (NaN with fewer than 4 points).
    rel_error : ndarray of shape (K,)
        ``|rate / predicted - 1|``.
    window : ndarray of shape (K, 2)
        First and last time of the fitted window: distances at most ``eps / 3``, up to the
        closest approach, and, when the run turns back before its end, at least ``10`` times the
        closest distance.
    decades : ndarray of shape (K,)
        ``log10`` of the distance ratio across the window.
    min_distance : ndarray of shape (K,)
        Closest approach to ``C_S``; afterwards a run may leave (round-off and the residual unstable
        part of the start grow like ``e^{|λ_-| t}``).
    """

    t: np.ndarray = field(repr=False)
    distance: np.ndarray = field(repr=False)
    predicted: np.ndarray
    rate: np.ndarray
    rel_error: np.ndarray
    window: np.ndarray = field(repr=False)
    decades: np.ndarray
    min_distance: np.ndarray


def _fit_window(t: np.ndarray, di: np.ndarray, eps: float):
    """Rate, window and decades of one distance curve (see :class:`ConvergenceFit`)."""
    if not np.any(np.isfinite(di)):
        return np.nan, (np.nan, np.nan), np.nan, np.nan
    j_min = int(np.nanargmin(di))
    dmin = float(di[j_min])
    floor = 10 * dmin if j_min < t.size - 1 else 0.0  # a run that turned back: drop its curved bottom
    with np.errstate(invalid="ignore"):
        sel = np.flatnonzero((np.arange(t.size) <= j_min) & (di <= eps / 3) & (di >= floor))
    if sel.size < 4:
        return np.nan, (np.nan, np.nan), np.nan, dmin
    rate = -float(np.polyfit(t[sel], np.log(di[sel]), 1)[0])
    return rate, (t[sel[0]], t[sel[-1]]), float(np.log10(di[sel[0]] / di[sel[-1]])), dmin


def _run_length(split: SaddleSplitting, starts: StableManifoldPoints, decades: float) -> np.ndarray:
    """Run length per start: ``decades`` of predicted decay, capped at 1.5 times the round-off departure time.

    A start is on ``W^s`` up to ``~1e-16``; that error grows like ``e^{|λ_-| t}`` while the distance
    decays like ``eps e^{-λ t}``, so the run leaves ``C_S`` near ``t = log(1e16 eps) / (|λ_-| + λ)``.
    """
    lam_u = abs(float(split.unstable_eigenvalues[0]))
    t_dep = np.log(1e16 * starts.eps) / (lam_u + starts.rates)
    return np.minimum(decades * np.log(10.0) / starts.rates, 1.5 * t_dep)


def stable_convergence(splits, starts, X, Y, *, decades: float = 6.0, n_t: int = 31):
    """Run the flow from points of ``W^s(C_S)`` and fit the exponential rate of convergence to ``C_S``.

    The paper's Figure 4 (Section 4.2.2 of [CLC]): a trajectory on ``W^s(C_S)`` approaches ``C_S`` at
    an exponential rate; near ``C_S`` the distance decays like ``e^{-λ t}``, ``λ`` the smallest
    stable eigenvalue present in the start. The distances (batched Newton projection onto the
    critical set) are recorded along :func:`dlnlib.dynamics.gradient_flow_batch` runs (restarted at every
    recording time, all strata together) and fitted on the window where they decrease (see
    :class:`ConvergenceFit`). A computed point is on ``W^s`` only up to round-off and the shooting
    residual, which the flow amplifies like ``e^{|λ_-| t}``: the runs eventually leave ``C_S``.

    Parameters
    ----------
    splits : SaddleSplitting or sequence of SaddleSplitting
        The strata.
    starts : StableManifoldPoints or sequence of StableManifoldPoints
        From :func:`stable_manifold_points` (one per stratum).
    X, Y : ndarray
        The data.
    decades : float, optional
        Keyword-only. Run each start for ``decades ln(10) / λ`` (the time the linearization needs to
        bring its distance down by that many decades), or for 1.5 times the time at which round-off
        is expected to push it off ``W^s`` if that is shorter.
    n_t : int, optional
        Keyword-only. Recording times, at least 8.

    Returns
    -------
    ConvergenceFit or list of ConvergenceFit
        One per stratum.
    """
    sp, single = _as_splits(splits)
    st = [starts] if isinstance(starts, StableManifoldPoints) else list(starts)
    if len(st) != len(sp) or not all(isinstance(a, StableManifoldPoints) for a in st):
        raise ValueError("starts must hold one StableManifoldPoints per splitting")
    n_t = check_positive(n_t, "n_t", integer=True)
    if n_t < 8:
        raise ValueError(f"n_t must be at least 8 recording times, got {n_t}")
    dec_run = check_positive(decades, "decades")
    X, Y = np.asarray(X, float), np.asarray(Y, float)
    p, dims = sp[0].n_params, sp[0].dims
    y = np.concatenate([a.points for a in st])
    t_max = np.concatenate([_run_length(s, a, dec_run) for s, a in zip(sp, st, strict=True)])
    states = np.empty((y.shape[0], n_t, p))
    states[:, 0] = y
    for j in range(1, n_t):
        y, _ = _scaled_flow(y, t_max / (n_t - 1), dims, X, Y, rtol=_SHOOT_RTOL)
        states[:, j] = y
    out, pos = [], 0
    for s, a in zip(sp, st, strict=True):
        k = a.points.shape[0]
        dist = _distance(states[pos : pos + k].reshape(-1, p), s, X, Y).reshape(k, n_t)
        t = np.linspace(0.0, 1.0, n_t)[None, :] * _run_length(s, a, dec_run)[:, None]
        fits = [_fit_window(t[i], dist[i], a.eps) for i in range(k)]
        rate = np.array([f[0] for f in fits])
        out.append(
            ConvergenceFit(
                t=t,
                distance=dist,
                predicted=a.rates,
                rate=rate,
                rel_error=np.abs(rate / a.rates - 1),
                window=np.array([f[1] for f in fits]),
                decades=np.array([f[2] for f in fits]),
                min_distance=np.array([f[3] for f in fits]),
            )
        )
        pos += k
    return out[0] if single else out


# --------------------------------------------------------------------------- escape along E^u


@dataclass(frozen=True)
class EscapeFit:
    """Escape times of points pushed by ``δ`` along an unstable direction (:func:`saddle_escape_times`).

    Attributes
    ----------
    deltas : ndarray of shape (n,)
        Push sizes ``δ``.
    times : ndarray of shape (n,)
        Time at which the loss first falls below ``c_S - loss_drop`` (interpolated on the recording grid).
    slope : float
        Fitted ``d t_esc / d log(1/δ)``.
    intercept : float
        Fitted intercept.
    rate : float
        ``1 / slope``: the fitted expansion rate.
    predicted_rate : float
        ``|λ_-|`` of the pushed direction.
    rel_error : float
        ``|rate / |λ_-| - 1|``.
    loss_drop : float
        The loss decrease that defines the escape.
    """

    deltas: np.ndarray
    times: np.ndarray
    slope: float
    intercept: float
    rate: float
    predicted_rate: float
    rel_error: float
    loss_drop: float


def _first_crossing(t: np.ndarray, loss: np.ndarray, value, drop) -> np.ndarray:
    """First time each row of ``loss`` (on the grid ``t[k]``) goes below ``value[k] - drop[k]`` (NaN if never).

    Interpolated linearly in ``log(value - loss)``, which is linear in ``t`` while the escape is
    driven by one unstable mode (``value - loss ∝ e^{2|λ_-| t}``).
    """
    out = np.full(loss.shape[0], np.nan)
    value = np.broadcast_to(np.asarray(value, float), (loss.shape[0],))
    drop = np.broadcast_to(np.asarray(drop, float), (loss.shape[0],))
    t = np.broadcast_to(t, loss.shape)
    for i in range(loss.shape[0]):
        j = np.flatnonzero(loss[i] < value[i] - drop[i])
        if j.size == 0 or j[0] == 0:
            continue
        j = j[0]
        a, b = value[i] - loss[i, j - 1], value[i] - loss[i, j]
        if a > 0:
            frac = np.log(drop[i] / a) / np.log(b / a)
        else:
            frac = (drop[i] - a) / (b - a)
        out[i] = t[i, j - 1] + (t[i, j] - t[i, j - 1]) * frac
    return out


def _default_drop(split: SaddleSplitting) -> float:
    gap = split.value - split.lower_value
    return 1e-2 * gap if np.isfinite(gap) and gap > 0 else 1e-4 * max(abs(split.value), 1.0)


def saddle_escape_times(
    splits,
    X,
    Y,
    *,
    deltas=None,
    bases=None,
    direction: int = 0,
    loss_drop: float | None = None,
    n_t: int = 201,
):
    """Escape time from a saddle stratum of points pushed by ``δ`` along an unstable eigenvector.

    Linearized at ``W*``, the unstable component grows like ``δ e^{|λ_-| t}``, so the loss falls to
    ``c_S - loss_drop`` after ``t_esc ≈ (log(1/δ) + const)/|λ_-|``: a straight line in ``log(1/δ)`` of
    slope ``1/|λ_-|``, the expansion rate of ``E^u`` in Proposition 5 of [CLC]. All pushes of all
    strata are integrated in one call of :func:`dlnlib.dynamics.gradient_flow_batch`.

    Parameters
    ----------
    splits : SaddleSplitting or sequence of SaddleSplitting
        The strata.
    X, Y : ndarray
        The data.
    deltas : array_like or None, optional
        Keyword-only. Push sizes in ``(0, 0.1]`` (default ``10^-2, 10^-4, ..., 10^-10``).
    bases : ndarray of shape (P,), sequence of them, or None, optional
        Keyword-only. The pushed point of each stratum (default ``W*``; e.g. a point of
        :func:`stable_manifold_points`).
    direction : int, optional
        Keyword-only. Index of the unstable eigenvector (0 = most negative eigenvalue).
    loss_drop : float or None, optional
        Keyword-only. Escape threshold below ``c_S`` (default 1 % of the gap to the next lower
        critical value).
    n_t : int, optional
        Keyword-only. Recording times per run.

    Returns
    -------
    EscapeFit or list of EscapeFit
        One per stratum.

    Raises
    ------
    ValueError
        Invalid ``deltas``, ``direction`` or ``bases``.
    RuntimeError
        If a push never escapes.
    """
    sp, single = _as_splits(splits)
    dl = np.logspace(-2, -10, 5) if deltas is None else np.asarray(deltas, float).ravel()
    if dl.size < 2 or not np.all(np.isfinite(dl)) or np.any(dl <= 0) or np.any(dl > 0.1):
        raise ValueError(f"deltas must hold at least two push sizes in (0, 0.1], got {deltas!r}")
    if isinstance(direction, bool) or not isinstance(direction, (int, np.integer)):
        raise ValueError(f"direction must be an integer, got {direction!r}")
    if any(not 0 <= direction < s.n_minus for s in sp):
        raise ValueError(
            f"direction must be in [0, n_-) for every stratum (n_- = {[s.n_minus for s in sp]}), got {direction}"
        )
    if bases is None:
        bs = [s.point for s in sp]
    else:
        bs = [np.asarray(bases, float)] if single or np.ndim(bases) == 1 else [np.asarray(b, float) for b in bases]
    if len(bs) != len(sp) or any(
        b.shape != s.point.shape or not np.all(np.isfinite(b)) for b, s in zip(bs, sp, strict=False)
    ):
        raise ValueError(f"bases must give one finite flat point of length P = {sp[0].n_params} per stratum")
    drops = [_default_drop(s) if loss_drop is None else check_positive(loss_drop, "loss_drop") for s in sp]
    n_t = check_positive(n_t, "n_t", integer=True)
    lams = [abs(float(s.unstable_eigenvalues[direction])) for s in sp]
    t_max = [1.5 * (np.log(1.0 / dl.min()) + 5.0) / lam for lam in lams]
    y0 = np.concatenate(
        [b[None, :] + dl[:, None] * s.unstable[:, direction][None, :] for b, s in zip(bs, sp, strict=True)]
    )
    hor = np.repeat(t_max, dl.size)
    _, loss = _scaled_flow(y0, hor, sp[0].dims, np.asarray(X, float), np.asarray(Y, float), rtol=1e-9, n_rec=n_t)
    s_grid = np.linspace(0.0, 1.0, n_t)
    times = _first_crossing(
        hor[:, None] * s_grid[None, :], loss, np.repeat([s.value for s in sp], dl.size), np.repeat(drops, dl.size)
    )
    if np.any(np.isnan(times)):
        raise RuntimeError(f"{int(np.sum(np.isnan(times)))} pushes did not escape within the horizon")
    out = []
    for i in range(len(sp)):
        ti = times[i * dl.size : (i + 1) * dl.size]
        slope, intercept = np.polyfit(np.log(1.0 / dl), ti, 1)
        out.append(
            EscapeFit(
                deltas=dl,
                times=ti,
                slope=float(slope),
                intercept=float(intercept),
                rate=float(1.0 / slope),
                predicted_rate=lams[i],
                rel_error=float(abs(1.0 / slope / lams[i] - 1.0)),
                loss_drop=float(drops[i]),
            )
        )
    return out[0] if single else out


# --------------------------------------------------------------------------- empirical codimension


@dataclass(frozen=True)
class ExpandingDirections:
    """Expanding, neutral and contracting directions of the time-``T`` flow map at ``W*``.

    Attributes
    ----------
    time : float
        ``T``.
    singular_values : ndarray of shape (P,)
        Singular values of the finite-difference derivative ``Dφ_T(W*)``, descending.
    exponents : ndarray of shape (P,)
        ``log(σ) / T`` (finite-time Lyapunov exponents), descending.
    n_expanding, n_neutral, n_contracting : int
        Counts of ``σ > 1 + tol``, ``|σ - 1| <= tol``, ``σ < 1 - tol``: empirical ``n_-`` (codimension
        of ``W^s``), ``dim C_S`` and ``n_+``.
    dim_converging : int
        ``n_neutral + n_contracting``: the directions that do not leave (empirical ``dim W^s``).
    rate_error : float
        Largest ``|exponent / |λ_k| - 1|`` over the expanding directions, paired in order with the
        Hessian's unstable eigenvalues (NaN if the counts differ).
    tol : float
        The threshold on ``|σ - 1|``.
    """

    time: float
    singular_values: np.ndarray = field(repr=False)
    exponents: np.ndarray = field(repr=False)
    n_expanding: int
    n_neutral: int
    n_contracting: int
    dim_converging: int
    rate_error: float
    tol: float


def expanding_directions(splits, X, Y, *, growth: float = 1e3, h: float = 1e-6, tol: float = 1e-2):
    """Count the directions the flow expands at ``W*``: an empirical codimension of ``W^s(C_S)``.

    The derivative of the time-``T`` flow map at the equilibrium ``W*`` is obtained by central
    finite differences of ``2P`` trajectories (:func:`dlnlib.dynamics.gradient_flow_batch`, all strata in one
    call; the Hessian is not used to count): columns ``(φ_T(W* + h e_j) - φ_T(W* - h e_j)) / 2h``. Its
    singular values above ``1`` are the directions a start must avoid to converge: their number is
    the codimension of the stable manifold, predicted to be ``n_-`` (Theorem 4.2 of [CLC]); the
    neutral ones span ``T C_S`` (equilibria) and the contracting ones ``E^s``. At an equilibrium
    ``Dφ_T = exp(-T Hess)``, so the exponents ``log σ / T`` are also compared with the eigenvalues.

    Parameters
    ----------
    splits : SaddleSplitting or sequence of SaddleSplitting
        The strata.
    X, Y : ndarray
        The data.
    growth : float, optional
        Keyword-only. ``T = log(growth) / |λ_-|_max`` (the largest expansion over ``T``), ``> 1``.
    h : float, optional
        Keyword-only. Finite-difference step.
    tol : float, optional
        Keyword-only. ``σ`` within ``1 ± tol`` counts as neutral.

    Returns
    -------
    ExpandingDirections or list of ExpandingDirections
        One per stratum.
    """
    sp, single = _as_splits(splits)
    h = check_positive(h, "h")
    tol = check_positive(tol, "tol")
    growth = check_positive(growth, "growth")
    if growth <= 1:
        raise ValueError(f"growth must exceed 1, got {growth}")
    p = sp[0].n_params
    pert = np.concatenate([np.eye(p), -np.eye(p)]) * h
    y0 = np.concatenate([s.point[None, :] + pert for s in sp])
    times = [float(np.log(growth) / abs(s.unstable_eigenvalues[0])) for s in sp]
    final, _ = _scaled_flow(
        y0, np.repeat(times, 2 * p), sp[0].dims, np.asarray(X, float), np.asarray(Y, float), rtol=1e-11
    )
    out = []
    for i, s in enumerate(sp):
        y = final[2 * p * i : 2 * p * (i + 1)]
        sv = np.linalg.svd(((y[:p] - y[p:]) / (2 * h)).T, compute_uv=False)
        expo = np.log(sv) / times[i]
        n_exp = int(np.sum(sv > 1 + tol))
        n_con = int(np.sum(sv < 1 - tol))
        rate_error = float("nan")
        if n_exp == s.n_minus:
            lam = np.abs(s.unstable_eigenvalues)  # most negative first = largest rate first
            rate_error = float(np.max(np.abs(expo[:n_exp] / lam - 1))) if n_exp else 0.0
        out.append(
            ExpandingDirections(
                time=times[i],
                singular_values=sv,
                exponents=expo,
                n_expanding=n_exp,
                n_neutral=p - n_exp - n_con,
                n_contracting=n_con,
                dim_converging=p - n_exp,
                rate_error=rate_error,
                tol=tol,
            )
        )
    return out[0] if single else out


@dataclass(frozen=True)
class ShootingFraction:
    """Fraction of random starts near ``W*`` still near the stratum after a time ``T`` (:func:`shooting_fraction`).

    Attributes
    ----------
    radii : ndarray of shape (n,)
        Scales ``ρ`` of the random starts ``W* + ρ z``, ``z ~ N(0, I_P / P)``.
    fractions : ndarray of shape (n,)
        Fraction with ``L(T) >= c_S - loss_drop``.
    n_samples : int
        Starts per radius.
    fit_mask : ndarray of shape (n,)
        Radii used in the log-log fit (fraction within ``f_range``).
    slope : float
        Fitted ``d log(fraction) / d log(ρ)``, weighted by the square root of the number of starts
        that stay (NaN with fewer than 3 usable radii).
    codimension : float
        ``-slope``: predicted ``n_-`` (a tube of codimension ``n_-`` around ``W^s``).
    time : float
        ``T``.
    loss_drop : float
        The escape threshold.
    """

    radii: np.ndarray
    fractions: np.ndarray
    n_samples: int
    fit_mask: np.ndarray = field(repr=False)
    slope: float
    codimension: float
    time: float
    loss_drop: float


def shooting_fraction(
    splits,
    X,
    Y,
    *,
    rng: np.random.Generator | int,
    radii=None,
    n_samples: int = 300,
    growth: float = 1000.0,
    loss_drop: float | None = None,
    f_range: tuple[float, float] = (0.02, 0.3),
):
    """Shooting experiment: how the chance of staying near a saddle stratum scales with the start radius.

    Starts ``W* + ρ z`` with ``z ~ N(0, I_P/P)`` are integrated for a time ``T``
    (:func:`dlnlib.dynamics.gradient_flow_batch`, every start of every stratum in one call); a start "stays"
    if ``L(T) >= c_S - loss_drop``. The starts that stay are those within a thin tube around
    ``W^s(C_S)`` whose width does not depend on ``ρ``; for ``ρ`` large compared with that width the
    fraction scales like ``ρ^{-codim}``. The fitted log-log slope therefore measures the
    codimension of ``W^s``, predicted ``n_-`` (Theorem 4.2 of [CLC]). Practical for small ``n_-`` only.

    Parameters
    ----------
    splits : SaddleSplitting or sequence of SaddleSplitting
        The strata.
    X, Y : ndarray
        The data.
    rng : numpy.random.Generator or int
        Keyword-only. Source of the random starts.
    radii : array_like or None, optional
        Keyword-only. Radii in ``(0, 0.1]`` (default 10 radii from ``10^-4.5`` to ``10^-1.5``).
    n_samples : int, optional
        Keyword-only. Starts per radius.
    growth : float, optional
        Keyword-only. ``T = log(growth) / |λ_-|_min`` (the weakest expansion over ``T``), ``> 1``.
    loss_drop : float or None, optional
        Keyword-only. Threshold (default as in :func:`saddle_escape_times`).
    f_range : tuple of float, optional
        Keyword-only. Fractions used in the fit (the asymptotic regime, with enough hits).

    Returns
    -------
    ShootingFraction or list of ShootingFraction
        One per stratum.
    """
    sp, single = _as_splits(splits)
    g = as_rng(rng)
    rr = np.logspace(-4.5, -1.5, 10) if radii is None else np.asarray(radii, float).ravel()
    if rr.size < 3 or not np.all(np.isfinite(rr)) or np.any(rr <= 0) or np.any(rr > 0.1):
        raise ValueError(f"radii must hold at least three radii in (0, 0.1], got {radii!r}")
    n = check_positive(n_samples, "n_samples", integer=True)
    lo, hi = f_range
    if not 0 < lo < hi < 1:
        raise ValueError(f"f_range must satisfy 0 < f_min < f_max < 1, got {f_range!r}")
    growth = check_positive(growth, "growth")
    if growth <= 1:
        raise ValueError(f"growth must exceed 1, got {growth}")
    p = sp[0].n_params
    drops = [_default_drop(s) if loss_drop is None else check_positive(loss_drop, "loss_drop") for s in sp]
    times = [float(np.log(growth) / np.min(np.abs(s.unstable_eigenvalues))) for s in sp]
    z = g.standard_normal((len(sp), rr.size, n, p)) / np.sqrt(p)
    y0 = np.concatenate([(s.point[None, None, :] + rr[:, None, None] * z[i]).reshape(-1, p) for i, s in enumerate(sp)])
    _, loss = _scaled_flow(
        y0, np.repeat(times, rr.size * n), sp[0].dims, np.asarray(X, float), np.asarray(Y, float), rtol=1e-6
    )
    out = []
    for i, s in enumerate(sp):
        lf = loss[i * rr.size * n : (i + 1) * rr.size * n, -1]
        frac = (lf >= s.value - drops[i]).reshape(rr.size, n).mean(axis=1)
        mask = (frac >= lo) & (frac <= hi)
        # weighted least squares: the standard error of log(fraction) is about 1 / sqrt(hits)
        w = np.sqrt(n * frac[mask])
        slope = (
            float(np.polyfit(np.log(rr[mask]), np.log(frac[mask]), 1, w=w)[0]) if np.sum(mask) >= 3 else float("nan")
        )
        out.append(
            ShootingFraction(
                radii=rr,
                fractions=frac,
                n_samples=n,
                fit_mask=mask,
                slope=slope,
                codimension=-slope,
                time=times[i],
                loss_drop=float(drops[i]),
            )
        )
    return out[0] if single else out


# --------------------------------------------------------------------------- orbits for Figure 3


def _flow_paths(y0: np.ndarray, times: np.ndarray, dims, sxx, syx, *, sign: float) -> np.ndarray:
    """Flat states ``(K, n_t, P)`` of ``dW/ds = sign T_k (-∇L)`` at ``s`` in ``[0, 1]``, ``times[k] = T_k``.

    ``sign = -1`` integrates the flow backward in time (not available in :func:`dlnlib.dynamics.gradient_flow_batch`).
    One DOP853 run on the stacked system (``K P`` unknowns), each trajectory rescaled to its own horizon.
    """
    k, p = y0.shape
    tk = np.asarray(times, float)[:, None]

    def rhs(_s, v):
        y = v.reshape(k, p)
        return (-sign * tk * _grad_batch(y, dims, sxx, syx)).ravel()

    s_eval = np.linspace(0.0, 1.0, _N_PATH)
    with np.errstate(over="raise", invalid="raise"):
        try:
            sol = solve_ivp(rhs, (0.0, 1.0), y0.ravel(), method="DOP853", t_eval=s_eval, rtol=1e-9, atol=1e-13)
        except FloatingPointError as exc:  # pragma: no cover - only for absurd horizons
            raise RuntimeError(f"flow integration overflowed ({exc}); reduce the horizon") from exc
    if sol.status != 0:  # pragma: no cover
        raise RuntimeError(f"flow integration failed: {sol.message}")
    return np.moveaxis(sol.y.reshape(k, p, -1), 2, 1)


_N_PATH = 121


# --------------------------------------------------------------------------- Figure 3


@dataclass(frozen=True)
class ManifoldPortrait:
    """Computed stable and unstable manifolds near a stratum, in coordinates at ``W*`` (:func:`manifold_portrait`).

    Every array holds coordinates ``(τ, s, u)``: the components of ``W - W*`` along a unit tangent
    vector of ``C_S``, along the stable eigenvector ``v_k`` whose eigenvalue is closest to the
    largest expansion rate ``|λ_-|`` (so that passing trajectories look like hyperbolas, not
    corners), and along the most unstable eigenvector ``u``.

    Attributes
    ----------
    stratum : ndarray of shape (n_tau, 3)
        Critical points of ``C_S`` (Newton projections of ``W* + τ t``).
    stable_orbits : ndarray of shape (n_tau, 2, n_t, 3)
        Orbits on ``W^s`` toward each stratum point, from both sides: forward trajectories from the
        points ``π(τ) ± radius v_k`` corrected by shooting (:func:`stable_manifold_points`), until their
        distance has dropped a thousandfold.
    unstable_orbits : ndarray of shape (n_tau, 2, n_t, 3)
        Forward orbits from each stratum point pushed by ``±d`` along ``u`` (on ``W^u``, leaving).
    passing : ndarray of shape (4 n_offsets, n_t, 3)
        Trajectories from the two ``W^s`` points at ``τ = 0`` pushed by small unstable offsets: they
        pass near ``C_S`` and leave along ``W^u`` (they may go far: clip them to the region of interest).
    stable_mode : int
        Index ``k`` of ``v_k`` in ``split.stable``.
    unstable_curvature : float
        Largest ``|u|`` along the stable orbits relative to ``radius``: ``W^s`` is tangent to
        ``T C_S ⊕ E^s`` and bends away from it only at higher order.
    """

    stratum: np.ndarray = field(repr=False)
    stable_orbits: np.ndarray = field(repr=False)
    unstable_orbits: np.ndarray = field(repr=False)
    passing: np.ndarray = field(repr=False)
    stable_mode: int
    unstable_curvature: float


def manifold_portrait(
    split: SaddleSplitting,
    X,
    Y,
    *,
    n_tau: int = 5,
    tau_max: float = 0.2,
    radius: float = 0.05,
    d: float = 1e-7,
    offsets=(1e-1, 1e-2, 1e-3),
) -> ManifoldPortrait:
    """Stratum, stable and unstable manifolds near ``W*`` from computed orbits (the paper's Figure 3, [CLC] §4.2.1).

    * the stratum: Newton projections onto ``{∇L = 0}`` of ``W* + τ t`` (``t`` a unit kernel vector);
    * ``W^s``: for each stratum point ``π(τ)``, the points ``π(τ) ± radius v_k`` corrected in ``E^u`` by
      shooting (:func:`stable_manifold_points`) and the forward trajectories from them;
    * ``W^u``: forward orbits from ``π(τ) ± d u``, out to distance ``radius``;
    * passing trajectories: from the two ``W^s`` points at ``τ = 0`` pushed by ``± radius * offsets``
      along ``u``.

    Parameters
    ----------
    split : SaddleSplitting
        The stratum.
    X, Y : ndarray
        The data.
    n_tau : int, optional
        Keyword-only. Points along the stratum.
    tau_max : float, optional
        Keyword-only. Extent along the stratum.
    radius : float, optional
        Keyword-only. Extent of the orbits (distance from ``C_S``), in ``(d, 0.1]``.
    d : float, optional
        Keyword-only. Distance of the seeds of the ``W^u`` orbits from the stratum.
    offsets : sequence of float, optional
        Keyword-only. Unstable offsets of the passing trajectories, relative to ``radius``, in ``(0, 1)``.

    Returns
    -------
    ManifoldPortrait
        Coordinates of the computed objects.

    Raises
    ------
    ValueError
        Invalid sizes or offsets.
    RuntimeError
        If the Newton projection of ``W* + τ t`` fails (``tau_max`` too large).
    """
    n_tau = check_positive(n_tau, "n_tau", integer=True)
    tau_max = check_positive(tau_max, "tau_max")
    radius = check_positive(radius, "radius")
    d = check_positive(d, "d")
    if not d < radius <= 0.1:
        raise ValueError(f"need 0 < d < radius <= 0.1, got d={d}, radius={radius}")
    rel = np.asarray(offsets, float).ravel()
    if rel.size == 0 or not np.all((rel > 0) & (rel < 1)):
        raise ValueError(f"offsets must be relative sizes in (0, 1), got {offsets!r}")
    X, Y = np.asarray(X, float), np.asarray(Y, float)
    sxx, syx = _moments(X, Y)
    dims, p = split.dims, split.n_params
    lam_u = abs(float(split.unstable_eigenvalues[0]))
    k = int(np.argmin(np.abs(split.stable_eigenvalues - lam_u)))
    lam_s = float(split.stable_eigenvalues[k])
    tvec, svec, uvec = split.tangent[:, 0], split.stable[:, k], split.unstable[:, 0]
    basis = np.stack([tvec, svec, uvec], axis=1)
    taus = np.linspace(-tau_max, tau_max, n_tau)
    seeds = split.point[None, :] + taus[:, None] * tvec[None, :]
    strat, rel_g, _ = _newton(seeds, dims, sxx, syx, p - split.dim_stratum, 1e-12, 30, _fd_step(seeds))
    if np.any(rel_g > 1e-10):
        raise RuntimeError("Newton projection onto the stratum failed; reduce tau_max")
    # W^s: shooting from pi(tau) +- radius v_k (the eigen-data of W* serve at the nearby pi(tau))
    shifted = [replace(split, point=q) for q in strat]
    pts = stable_manifold_points(shifted, X, Y, modes=[k], eps=radius, both_sides=True, growth=1e4)
    ys = np.concatenate([a.points for a in pts])
    stab = _flow_paths(ys, np.full(ys.shape[0], np.log(1e3) / lam_s), dims, sxx, syx, sign=1.0)
    yu = (strat[:, None, :] + d * np.array([1.0, -1.0])[None, :, None] * uvec[None, None, :]).reshape(-1, p)
    fwd = _flow_paths(yu, np.full(yu.shape[0], np.log(radius / d) / lam_u), dims, sxx, syx, sign=1.0)
    mid = n_tau // 2
    off = radius * np.concatenate([rel, -rel])
    yp = (pts[mid].points[:, None, :] + off[None, :, None] * uvec[None, None, :]).reshape(-1, p)
    t_pass = np.log(1e3) / lam_s + np.log(1.0 / np.min(rel)) / lam_u
    passing = _flow_paths(yp, np.full(yp.shape[0], t_pass), dims, sxx, syx, sign=1.0)

    def coords(a):
        return (a - split.point) @ basis

    so = coords(stab).reshape(n_tau, 2, -1, 3)
    return ManifoldPortrait(
        stratum=coords(strat),
        stable_orbits=so,
        unstable_orbits=coords(fwd).reshape(n_tau, 2, -1, 3),
        passing=coords(passing),
        stable_mode=k,
        unstable_curvature=float(np.max(np.abs(so[..., 2]))) / radius,
    )
