"""Extreme Hessian eigenvalues without the Hessian matrix (Lanczos on Hessian-vector products).

The second variation of Prop. 3 of [CLC] (see the Mathematical notes, second-order analysis) is
available as a product ``v -> ∇²L(W) v`` at the cost of ``O(N)`` small matrix products
(:func:`dlnlib.hessian.hessian_vector_product`). This module wraps it in a
:class:`scipy.sparse.linalg.LinearOperator` whose prefix/suffix products and residual moment are
computed once (:func:`hessian_operator`), and computes a few extreme eigenvalues with ARPACK's
implicitly restarted Lanczos (:func:`extreme_eigenvalues`). No ``P x P`` array is ever formed:
memory is ``O(k P)`` for ``k`` eigenvalues, so ``P = 10^5 - 10^6`` parameters are routine.

Smallest eigenvalues. Shift-invert would need a factorization of the matrix, so it is out. ARPACK
measures convergence relative to the Ritz value, ``||r|| <= tol |θ|``, which is hopeless for the
(usually huge) cluster of zero eigenvalues at a critical point; the smallest eigenvalues are
therefore computed as the largest of ``σ I - H``, with ``σ`` the largest eigenvalue estimated first
(a short Lanczos run): the Krylov spaces are the same, and the test becomes
``||r|| <= tol (σ - λ)``, an absolute residual ``~ tol ||H||``. Measured on the critical points of
``tests/test_matfree.py`` and ``benchmarks/bench_hessian.py`` this converged in every case, in a few
hundred products; LOBPCG without a preconditioner needed several times more products at ``P >= 10^4``
(see the benchmark).

Certificates. For a symmetric ``H`` every unit vector has ``v^T H v >= λ_min``, and by Cauchy
interlacing the ``i``-th smallest Ritz value is ``>= λ_i``: a Ritz value below ``-tol`` *proves* a
negative eigenvalue (a strict saddle) whatever the convergence, and the number of Ritz values below
``-tol`` is a certified lower bound on ``n_-``. That the next one is ``>= -tol`` makes the count
exact only up to what Lanczos can miss (an eigenvalue whose eigenvector is orthogonal to the random
start, probability zero; the residual norms returned bound the distance of each Ritz value to the
spectrum).

References
----------
[CLC] Y. Chitour, Z. Liao, R. Couillet, *A Geometric Approach of Gradient Descent Algorithms in
Linear Neural Networks*, Math. Control Relat. Fields 13(3), 2023 (arXiv:1811.03568).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from ._validation import as_rng, check_positive, dims_of
from .model import _check_dims, _check_problem, _products, _residual_moment, _unflat

__all__ = [
    "ExtremeEigenvalues",
    "HessianOperator",
    "extreme_eigenvalues",
    "hessian_operator",
    "spread_reduced_data",
]


class HessianOperator(LinearOperator):
    """``∇²L(W)`` as a :class:`scipy.sparse.linalg.LinearOperator` (Prop. 3 of [CLC]), matrix-free.

    The products ``W_{i:1}``, ``W_{N:i+1}``, the residual moment ``E = W_{N:1} Σ_XX - Σ_YX`` and
    ``E W_{i-1:1}^T``, ``W_{N:i+1}^T E`` are computed once; one product ``H v`` is then the
    directional derivative of the gradient ``G_i = W_{N:i+1}^T E W_{i-1:1}^T`` along ``v``
    (forward-mode prefix/suffix products), ``4N + 1`` matrix products, and ``H V`` for a block of
    ``K`` vectors is the same computation batched (``matmat``). ``n_products`` counts the
    Hessian-vector products done so far (a block of ``K`` counts ``K``).
    """

    def __init__(self, ws: list[np.ndarray], sxx: np.ndarray, syx: np.ndarray):
        self.ws = ws
        self.dims = dims_of(ws)
        self.sxx = sxx
        n_par = sum(w.size for w in ws)
        super().__init__(dtype=np.float64, shape=(n_par, n_par))
        prod = _products(ws)
        self.pre, self.suf = prod.pre, prod.suf
        e = _residual_moment(prod, sxx, syx)
        n = len(ws)
        # ep[i] = E W_{i-1:1}^T (d_y, d_{i-1}); se[i] = W_{N:i+1}^T E (d_i, d_x), i = 1..N
        self.ep = [None] + [e @ self.pre[i - 1].T for i in range(1, n + 1)]
        self.se = [None] + [self.suf[i].T @ e for i in range(1, n + 1)]
        self.n_products = 0

    def _apply(self, v: np.ndarray) -> np.ndarray:
        """``H v`` for ``v`` of shape ``(K, P)`` -> ``(K, P)``."""
        ws, pre, suf, n = self.ws, self.pre, self.suf, len(self.ws)
        vs = _unflat(v, self.dims)  # (K, d_i, d_{i-1}) views
        dpre = [None, vs[0]]  # d W_{i:1}, i = 0 (zero, None) .. N
        for k in range(1, n):
            dpre.append(ws[k] @ dpre[-1] + vs[k] @ pre[k])
        dsuf = [None] * (n + 1)  # d W_{N:i+1}, i = N (zero, None) .. 0
        if n >= 2:
            dsuf[n - 1] = vs[n - 1]
            for k in range(n - 2, 0, -1):
                dsuf[k] = dsuf[k + 1] @ ws[k] + suf[k + 1] @ vs[k]
        left = dpre[n] @ self.sxx  # dE, then W_{N:i+1}^T dE going down
        out = [None] * n
        for i in range(n, 0, -1):
            g = left if i == 1 else left @ pre[i - 1].T
            if i < n:
                g = g + np.swapaxes(dsuf[i], -1, -2) @ self.ep[i]
            if i > 1:
                g = g + self.se[i] @ np.swapaxes(dpre[i - 1], -1, -2)
            out[i - 1] = g.reshape(v.shape[0], -1)
            if i > 1:
                left = ws[i - 1].T @ left
        self.n_products += v.shape[0]
        return np.concatenate(out, axis=1)

    def _matvec(self, v):
        return self._apply(np.asarray(v, dtype=float).reshape(1, -1))[0]

    def _matmat(self, v):
        return self._apply(np.ascontiguousarray(np.asarray(v, dtype=float).T)).T

    def _adjoint(self):
        return self


def hessian_operator(weights: Sequence, X, Y) -> HessianOperator:
    """The Hessian of ``L(W) = 1/2 ||Y - W_{N:1} X||_F^2`` as a matrix-free ``LinearOperator``.

    Prop. 3 of [CLC] (second variation); parameters flattened as in :func:`dlnlib.hessian.hessian`.

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
    HessianOperator
        ``op @ v`` (``v`` of shape ``(P,)``) or ``op @ V`` (``(P, K)``); symmetric.
    """
    ws, X, Y = _check_problem(weights, X, Y)
    return HessianOperator(ws, X @ X.T, Y @ X.T)


@dataclass(frozen=True)
class ExtremeEigenvalues:
    """A few extreme Hessian eigenvalues computed matrix-free (:func:`extreme_eigenvalues`).

    Attributes
    ----------
    values : ndarray of shape (k,)
        Ritz values, ascending.
    residuals : ndarray of shape (k,)
        ``||H v_i - λ_i v_i||`` for the unit Ritz vectors (recomputed with fresh products): each
        ``λ_i`` lies within ``residuals[i]`` of an eigenvalue of ``H``.
    converged : ndarray of bool, shape (k,)
        ``residuals <= rtol * scale``.
    n_products : int
        Hessian-vector products used (including the estimate of ``scale`` and the residual check).
    scale : float
        Estimate of the largest eigenvalue magnitude (the shift ``σ`` for the smallest ones).
    rtol : float
        The relative residual tolerance asked for.
    which : str
        ``"smallest"`` or ``"largest"``.
    n_params : int
        ``P``.
    vectors : ndarray of shape (P, k)
        Ritz vectors (orthonormal columns).
    """

    values: np.ndarray
    residuals: np.ndarray
    converged: np.ndarray
    n_products: int
    scale: float
    rtol: float = field(repr=False)
    which: str = "smallest"
    n_params: int = 0
    vectors: np.ndarray = field(default=None, repr=False)

    @property
    def all_converged(self) -> bool:
        """Whether every Ritz pair met the residual tolerance."""
        return bool(np.all(self.converged))


def _eigsh(op, k: int, which: str, rtol: float, maxiter: int, v0: np.ndarray, ncv: int | None):
    try:
        vals, vecs = eigsh(op, k=k, which=which, tol=rtol, maxiter=maxiter, v0=v0, ncv=ncv)
    except ArpackNoConvergence as exc:  # keep what converged; the residuals tell the rest
        vals, vecs = exc.eigenvalues, exc.eigenvectors
    return vals, vecs


def _largest(op: HessianOperator, v0: np.ndarray, rtol: float, maxiter: int) -> float:
    """A quick estimate of ``max λ`` (one Ritz value, relative accuracy ``~rtol``)."""
    n = op.shape[0]
    if n <= 2:
        return float(np.max(np.linalg.eigvalsh(op @ np.eye(n)))) if n else 0.0
    vals, _ = _eigsh(op, 1, "LA", rtol, maxiter, v0, min(n, 20))
    return float(vals[-1]) if len(vals) else 0.0


def _extreme(op: HessianOperator, k: int, which: str, rtol: float, maxiter: int, g: np.random.Generator, ncv):
    n = op.shape[0]
    v0 = g.standard_normal(n)
    top = _largest(op, v0, 1e-3, maxiter)
    if n <= k + 1:  # tiny problems: ARPACK needs k < n - 1; use the dense matrix (n <= k + 1 columns)
        h = op @ np.eye(n)
        vals, vecs = np.linalg.eigh(0.5 * (h + h.T))
        pick = slice(0, k) if which == "smallest" else slice(n - k, n)
        vals, vecs = vals[pick], vecs[:, pick]
        scale = max(abs(float(vals[-1])), abs(float(vals[0])), 0.0) if vals.size else 0.0
    elif which == "largest":
        vals, vecs = _eigsh(op, k, "LA", rtol, maxiter, v0, ncv)
        scale = max(top, float(np.max(np.abs(vals))) if len(vals) else 0.0)
    else:
        shift = top if top > 0 else 1.0
        shifted = LinearOperator(op.shape, matvec=lambda v: shift * v - op @ v, dtype=float)
        mu, vecs = _eigsh(shifted, k, "LA", rtol, maxiter, v0, ncv)
        vals = shift - mu
        scale = max(shift, float(np.max(np.abs(vals))) if len(vals) else 0.0)
    order = np.argsort(vals)
    vals, vecs = np.asarray(vals)[order], np.asarray(vecs)[:, order]
    if vals.size:
        res = np.linalg.norm(op.matmat(vecs) - vecs * vals[None, :], axis=0)
    else:
        res = np.zeros(0)
    return vals, vecs, res, scale


def _negative_eigenpairs(op: HessianOperator, tol_of, k_max: int, rtol: float, g: np.random.Generator):
    """Negative eigenpairs with multiplicity by Lanczos with deflation, and the first value ``>= -tol`` after them.

    Lanczos from one start vector sees one copy of a multiple eigenvalue (in exact arithmetic), so
    it may skip copies. Each round asks ARPACK for the smallest eigenvalue (one at a time: asking for
    more makes ARPACK converge copies inside the zero cluster, measured several times slower) of
    ``H + c V V^T`` (``V`` the eigenvectors found so far, ``c = 2σ``: their eigenvalues move above
    the spectrum) and keeps those below ``-tol``; it stops when a round's smallest value is ``>= -tol``
    (the count is then exact up to Lanczos convergence: ``exact=True``) or when ``k_max`` negative
    eigenvalues are found (``exact=False``: a lower bound). Returns
    ``(values, vectors, residuals, scale, tol, exact)``, values ascending.
    """
    n = op.shape[0]
    top = _largest(op, g.standard_normal(n), 1e-3, None)
    shift = top if top > 0 else 1.0
    t = tol_of(shift)
    c = 2.0 * shift
    neg_v = np.zeros((n, 0))
    neg_l: list[float] = []
    rest_l, rest_v, exact = np.zeros(0), np.zeros((n, 0)), False
    while True:
        kr = min(1, n - neg_v.shape[1] - 2)
        if kr < 1:
            break

        def mv(v, vv=neg_v):
            v = np.asarray(v, dtype=float).reshape(-1)
            return shift * v - (op @ v + c * (vv @ (vv.T @ v)))

        mu, vecs = _eigsh(
            LinearOperator(op.shape, matvec=mv, dtype=float), kr, "LA", rtol, None, g.standard_normal(n), None
        )
        vals = shift - np.asarray(mu)
        order = np.argsort(vals)
        vals, vecs = vals[order], np.asarray(vecs)[:, order]
        is_neg = vals < -t
        if is_neg.any():
            new = vecs[:, is_neg]
            new -= neg_v @ (neg_v.T @ new)
            q, _ = np.linalg.qr(new)
            neg_v = np.concatenate([neg_v, q], axis=1)
            neg_l.extend(vals[is_neg].tolist())
        if not is_neg[0] if vals.size else True:
            rest_l, rest_v, exact = vals[~is_neg], vecs[:, ~is_neg], True
            break
        if len(neg_l) >= k_max:
            break
    vals = np.concatenate([np.array(neg_l), rest_l])
    vecs = np.concatenate([neg_v, rest_v], axis=1)
    if neg_v.shape[1]:  # Rayleigh-Ritz on the negative block (orthonormalized above)
        hv = op.matmat(neg_v)
        small, rot = np.linalg.eigh(0.5 * (neg_v.T @ hv + hv.T @ neg_v))
        vecs[:, : neg_v.shape[1]] = neg_v @ rot
        vals[: neg_v.shape[1]] = small
    order = np.argsort(vals)
    vals, vecs = vals[order], vecs[:, order]
    res = np.linalg.norm(op.matmat(vecs) - vecs * vals[None, :], axis=0) if vals.size else np.zeros(0)
    scale = max(shift, float(np.max(np.abs(vals))) if vals.size else 0.0)
    return vals, vecs, res, scale, t, exact


def extreme_eigenvalues(
    weights: Sequence,
    X,
    Y,
    *,
    k: int = 6,
    which: str = "smallest",
    rtol: float = 1e-10,
    maxiter: int | None = None,
    ncv: int | None = None,
    rng: np.random.Generator | int = 0,
) -> ExtremeEigenvalues:
    """The ``k`` smallest (or largest) eigenvalues of the Hessian, matrix-free.

    Implicitly restarted Lanczos (ARPACK, :func:`scipy.sparse.linalg.eigsh`) on
    :func:`hessian_operator`; the smallest eigenvalues as the largest of ``σ I - H`` with ``σ`` a
    first estimate of ``max λ`` (see the module docstring: the residual test is then absolute,
    ``~ rtol σ``, which the zero cluster at a critical point needs). Memory ``O((k + ncv) P)``; no
    ``P x P`` array. The Hessian is that of Prop. 3 of [CLC] (see the Mathematical notes,
    second-order analysis). Lanczos from one start vector may skip copies of a multiple eigenvalue
    (e.g. inside the zero cluster at a critical point): for *counts* use
    ``dlnlib.inertia(..., method="matrix-free")``, which finds negative eigenvalues one at a time
    with deflation.

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.
    k : int, optional
        Keyword-only. Number of eigenvalues (``1 <= k <= P``).
    which : {"smallest", "largest"}, optional
        Keyword-only. Which end of the spectrum.
    rtol : float, optional
        Keyword-only. Residual tolerance relative to the spectral scale ``σ``.
    maxiter : int or None, optional
        Keyword-only. ARPACK restarts at most (default ``max(1000, 10 P)`` as in scipy).
    ncv : int or None, optional
        Keyword-only. Lanczos basis size (default scipy's ``max(2k + 1, 20)``).
    rng : numpy.random.Generator or int, optional
        Keyword-only. Source of the random start vector (results are reproducible for a seed).

    Returns
    -------
    ExtremeEigenvalues
        Values (ascending), residual norms, convergence flags, number of Hessian-vector products.

    Raises
    ------
    ValueError, TypeError
        Invalid weights, data, ``k``, ``which`` or tolerances.
    """
    ws, X, Y = _check_problem(weights, X, Y)
    op = HessianOperator(ws, X @ X.T, Y @ X.T)
    n = op.shape[0]
    k = check_positive(k, "k", integer=True)
    if k > n:
        raise ValueError(f"k must be at most P = {n}, got {k}")
    if which not in ("smallest", "largest"):
        raise ValueError(f"which must be 'smallest' or 'largest', got {which!r}")
    rtol = check_positive(rtol, "rtol")
    if maxiter is not None:
        maxiter = check_positive(maxiter, "maxiter", integer=True)
    if ncv is not None:
        ncv = check_positive(ncv, "ncv", integer=True)
        if not k < ncv <= n:
            raise ValueError(f"ncv must satisfy k < ncv <= P = {n}, got ncv={ncv} with k={k}")
    g = as_rng(rng)
    vals, vecs, res, scale = _extreme(op, k, which, rtol, maxiter, g, ncv)
    return ExtremeEigenvalues(
        values=vals,
        residuals=res,
        converged=res <= rtol * max(scale, np.finfo(float).tiny) * 10,
        n_products=int(op.n_products),
        scale=float(scale),
        rtol=rtol,
        which=which,
        n_params=n,
        vectors=vecs,
    )


def spread_reduced_data(dims, *, rng, low: float = 1.0, high: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """A reduced problem ``X = I``, ``Y = [diag(s) 0]`` with singular values spread evenly in ``[low, high]``.

    ``s_i = high - (high - low) (i + u_i) / d_y`` with ``u_i`` uniform in ``[0, 1)``: distinct, decreasing
    and generic (Assumptions 1-4 of [CLC] hold almost surely), and bounded away from zero, so that
    the Hessian at the critical points is well conditioned apart from its zero eigenvalues. The
    wide-network examples (chapter 5, ``benchmarks/bench_hessian.py``) use it: the reduced problem
    is the general one up to the change of coordinates of the reduction (see the Mathematical notes,
    reduction), which preserves critical points and Hessian inertia.

    Parameters
    ----------
    dims : sequence of int
        Widths ``(d_0, ..., d_N)`` with ``d_0 >= d_N``.
    rng : numpy.random.Generator or int
        Keyword-only. Source of the jitter ``u``.
    low, high : float, optional
        Keyword-only. ``0 < low < high``.

    Returns
    -------
    X : ndarray of shape (d_0, d_0)
        The identity.
    Y : ndarray of shape (d_N, d_0)
        ``[diag(s) 0]``.
    """
    d = _check_dims(dims)
    low, high = check_positive(low, "low"), check_positive(high, "high")
    if not low < high:
        raise ValueError(f"low must be below high, got low={low!r}, high={high!r}")
    d_x, d_y = d[0], d[-1]
    if d_x < d_y:
        raise ValueError(f"Assumption 1 of [CLC] needs d_0 >= d_N, got dims {d}")
    u = as_rng(rng).random(d_y)
    s = high - (high - low) * (np.arange(d_y) + u) / d_y
    Y = np.zeros((d_y, d_x))
    Y[np.arange(d_y), np.arange(d_y)] = s
    return np.eye(d_x), Y
