"""Exact Hessian of the square loss, its inertia, and the classification of critical points.

Proposition 3 of [CLC] (second variation; see the Mathematical notes, "The Hessian and the landscape"): for a variation
``Δ = (Δ_1, ..., Δ_N)``

    D²L[Δ, Δ] = ||F_1||² + 2 <R, F_2>,   R = W_{N:1} X - Y,
    F_1 = sum_i W_{N:i+1} Δ_i W_{i-1:1} X,
    F_2 = sum_{i<j} W_{N:j+1} Δ_j W_{j-1:i+1} Δ_i W_{i-1:1} X.

Parameters are flattened as ``concat(W_1.ravel(), ..., W_N.ravel())`` (C order), so entry
``(b, c)`` of ``W_i`` has flat index ``offset_i + b d_{i-1} + c``. The Hessian is assembled
block by block from Kronecker products of small matrices that depend on the data only through
``Σ_XX = X X^T`` and ``Σ_YX = Y X^T``:

* Gauss-Newton block ``(i, j)``: ``(W_{N:i+1}^T W_{N:j+1}) ⊗ (W_{i-1:1} Σ_XX W_{j-1:1}^T)``;
* residual block ``(j, i)``, ``i < j``: ``H_{ji}[(b,c),(e,a)] = M_{ab} B_{ce}`` with
  ``M = W_{i-1:1} X R^T W_{N:j+1}`` and ``B = W_{j-1:i+1}``; ``H_{ij} = H_{ji}^T``.

Wide networks. :func:`hessian`, :func:`hessian_fd` and ``inertia(method="dense")`` hold ``P x P``
matrices and refuse, with :class:`dlnlib.memory.DenseMemoryError`, what does not fit the memory
budget. :func:`inertia` and :func:`classify` default to ``method="auto"``: dense while it fits
comfortably (:func:`dlnlib.memory.prefer_dense`), else matrix-free (Lanczos on Hessian-vector
products, :mod:`dlnlib.spectrum`), which handles ``P = 10^5 - 10^6``. Their Hessian cross-checks
run at :func:`balanced_representative` (same inertia by Sylvester's law).

References
----------
[CLC] Y. Chitour, Z. Liao, R. Couillet, *A Geometric Approach of Gradient Descent Algorithms in
Linear Neural Networks*, Math. Control Relat. Fields 13(3), 2023 (arXiv:1811.03568).
[AMG] E. M. Achour, F. Malgouyres, S. Gerchinovitz, *The loss landscape of deep linear neural
networks: a second-order analysis* (arXiv:2107.13289).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from . import memory
from ._validation import as_finite_array, as_rng, as_weights, check_positive, dims_of
from .critical import _reduced_product, identify_index_set, inversion_number
from .model import (
    _chain,
    _check_and_reduce,
    _check_problem,
    _flat,
    _gradient_from_e,
    _norm2,
    _offsets,
    _prefix_products,
    _Products,
    _products,
    _relative_gradient,
    _residual_moment,
    _unflat,
)
from .spectrum import ExtremeEigenvalues, HessianOperator, _extreme, _negative_eigenpairs

__all__ = [
    "Classification",
    "Inertia",
    "balanced_representative",
    "classification",
    "classify",
    "hessian",
    "hessian_fd",
    "hessian_vector_product",
    "inertia",
    "line_polynomial",
    "pairing_criterion",
    "second_variation",
]

KINDS = ("global_minimum", "strict_saddle", "non_strict_saddle", "not_critical")


# --------------------------------------------------------------------------- shared pieces


# --------------------------------------------------------------------------- Hessian


def _block_view(h: np.ndarray, off: np.ndarray, j: int, i: int, d: tuple[int, ...]) -> np.ndarray:
    """Block ``(j, i)`` of ``h`` as a writable 4-D view ``(d_j, d_{j-1}, d_i, d_{i-1})`` (never a copy)."""
    view = h[off[j - 1] : off[j], off[i - 1] : off[i]].reshape(d[j], d[j - 1], d[i], d[i - 1])
    if view.flags.owndata:  # splitting axes of a strided view is always a view; guard anyway
        raise RuntimeError("internal error: Hessian block reshape returned a copy")
    return view


def _second_order_block(ws: list[np.ndarray], prod: _Products, e_t: np.ndarray, i: int, j: int) -> np.ndarray:
    """Residual block ``(j, i)``, ``i < j`` (1-based), of the Hessian as a 4-D array ``(d_j, d_{j-1}, d_i, d_{i-1})``.

    ``H_{ji}[(b,c),(e,a)] = M_{ab} B_{ce}`` with ``M = W_{i-1:1} E^T W_{N:j+1}``, ``B = W_{j-1:i+1}``
    (see the Mathematical notes, "The Hessian and the landscape"), where ``E`` is the gradient of the end-to-end loss at
    ``W_{N:1}``: ``R X^T`` for the square loss, ``ℓ'(A)`` for a general one (:func:`dlnlib.losses.composite_hessian`).
    Shared by both.
    """
    d = dims_of(ws)
    m = prod.pre[i - 1] @ e_t @ prod.suf[j]  # (d_{i-1}, d_j)
    b = _chain(ws, j - 1, i + 1, d[i])  # (d_{j-1}, d_i)
    return m.T[:, None, None, :] * b[None, :, :, None]


def _assemble(ws: list[np.ndarray], sxx: np.ndarray, syx: np.ndarray) -> np.ndarray:
    """Closed-form Hessian of Prop. 3 (trusted input, moments ``Σ_XX``, ``Σ_YX``)."""
    n = len(ws)
    d = dims_of(ws)
    prod = _products(ws)
    off = _offsets(dims_of(ws))
    e_t = _residual_moment(prod, sxx, syx).T  # X R^T, shape (d_x, d_y)
    h = np.empty((off[-1], off[-1]))
    # z[i] = W_{i-1:1} Σ_XX (row factor of the Gauss-Newton blocks); lt[i] = W_{N:i+1}^T.
    z = [prod.pre[i - 1] @ sxx for i in range(1, n + 1)]
    for j in range(1, n + 1):
        lj = prod.suf[j]
        pre_j = prod.pre[j - 1]
        for i in range(1, j + 1):
            a = prod.suf[i].T @ lj  # (d_i, d_j)
            c = z[i - 1] @ pre_j.T  # (d_{i-1}, d_{j-1})
            # block (j, i): rows (b, c') of W_j, columns (e, a') of W_i
            view = _block_view(h, off, j, i, d)
            np.multiply(a.T[:, None, :, None], c.T[None, :, None, :], out=view)
            if i < j:
                view += _second_order_block(ws, prod, e_t, i, j)
                h[off[i - 1] : off[i], off[j - 1] : off[j]] = h[off[j - 1] : off[j], off[i - 1] : off[i]].T
    return h


def hessian(weights: Sequence, X, Y) -> np.ndarray:
    """Exact Hessian of ``L(W) = 1/2 ||Y - W_{N:1} X||_F^2``, from the closed form of Prop. 3 of [CLC].

    See the Mathematical notes, "The Hessian and the landscape". No finite differences, no automatic
    differentiation: each of the ``N(N+1)/2`` blocks is a Kronecker-type outer product of small
    matrices (see the module docstring), written in place into the output.

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
    ndarray of shape (P, P)
        Symmetric, ``P = sum_i d_i d_{i-1}``, in the parameter order
        ``concat(W_1.ravel(), ..., W_N.ravel())`` (C order).

    Notes
    -----
    Cost: ``O(P^2)`` memory writes plus ``O(N^2)`` small matrix products; the data enter only
    through ``X X^T`` and ``Y X^T``. ``P = 10^4`` assembles in about a second (see
    ``benchmarks/bench_hessian.py``).
    """
    ws, X, Y = _check_problem(weights, X, Y)
    _guard(ws, "hessian")
    return _assemble(ws, X @ X.T, Y @ X.T)


_MATFREE_HINT = {
    "hessian": "hessian_vector_product or dlnlib.spectrum.hessian_operator (matrix-free products)",
    "hessian_fd": "hessian_vector_product or dlnlib.spectrum.hessian_operator (matrix-free products)",
    "inertia": "inertia(..., method='matrix-free') or dlnlib.spectrum.extreme_eigenvalues",
}


def _guard(ws: list[np.ndarray], what: str) -> None:
    """Refuse a dense path whose memory estimate exceeds :func:`dlnlib.memory.memory_budget`."""
    memory.check_dense_memory(what, sum(w.size for w in ws), alternative=_MATFREE_HINT[what])


def _as_direction(v, ws: list[np.ndarray]) -> list[np.ndarray]:
    n_par = sum(w.size for w in ws)
    if isinstance(v, np.ndarray) or not isinstance(v, Sequence):
        flat = as_finite_array(v, "v", ndim=1)
        if flat.size != n_par:
            raise ValueError(f"v must have length P = sum d_i d_(i-1) = {n_par}, got shape {flat.shape}")
        return _unflat(flat, dims_of(ws))
    vs = as_weights(v, "v")
    if len(vs) != len(ws) or any(a.shape != w.shape for a, w in zip(vs, ws, strict=True)):
        raise ValueError(f"v must be shaped like the weights {[w.shape for w in ws]}, got {[a.shape for a in vs]}")
    return vs


def hessian_vector_product(weights: Sequence, X, Y, v) -> np.ndarray | list[np.ndarray]:
    """Hessian-vector product ``∇²L(W) v`` without forming the Hessian (Prop. 3 of [CLC]; see the Mathematical notes,
    "The Hessian and the landscape").

    Computed in closed form as the directional derivative of the gradient
    ``∇_{W_i} L = W_{N:i+1}^T (W_{N:1} X - Y) X^T W_{i-1:1}^T`` (see the Mathematical notes, "Notation") along ``v``,
    with forward-mode prefix/suffix products: ``O(N)`` matrix products, no ``P x P`` matrix (the
    computation of :class:`dlnlib.spectrum.HessianOperator`; for many products at the same point
    build the operator once with :func:`dlnlib.spectrum.hessian_operator`).

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.
    v : ndarray of shape (P,) or list of ndarray
        Flat direction (parameter order of :func:`hessian`) or a list shaped like ``weights``.

    Returns
    -------
    ndarray of shape (P,) or list of ndarray
        ``∇²L(W) v``, in the same form as ``v``.
    """
    ws, X, Y = _check_problem(weights, X, Y)
    flat_in = isinstance(v, np.ndarray) or not isinstance(v, Sequence)
    vs = _as_direction(v, ws)
    flat = HessianOperator(ws, X @ X.T, Y @ X.T)._apply(np.concatenate([a.ravel() for a in vs])[None, :])[0]
    return flat if flat_in else [w.copy() for w in _unflat(flat, dims_of(ws))]


def _batched_gradient(ws: list[np.ndarray], sxx: np.ndarray, syx: np.ndarray) -> list[np.ndarray]:
    """Gradient for a batch of weights ``(K, d_i, d_{i-1})`` (moments only)."""
    prefix = _prefix_products(ws)
    return _gradient_from_e(ws, prefix[-1] @ sxx - syx, prefix)


def _grad_batch(y: np.ndarray, dims: tuple[int, ...], sxx: np.ndarray, syx: np.ndarray) -> np.ndarray:
    """Flat gradients ``(K, P)`` at flat weights ``(K, P)`` (see the Mathematical notes, "Notation")."""
    return _flat(_batched_gradient(_unflat(y, dims), sxx, syx))


def hessian_fd(weights: Sequence, X, Y, *, eps: float = 1e-5, chunk: int = 256) -> np.ndarray:
    """**Reference only**: central finite differences of the gradient, ``(g(W + εe_k) - g(W - εe_k)) / 2ε``.

    For tests and benchmarks; :func:`hessian` never uses it. Costs ``2P`` gradient evaluations
    (batched ``chunk`` directions at a time) and has error ``O(ε²)`` plus ``O(u/ε)`` round-off.
    The result is symmetrized.

    Parameters
    ----------
    weights, X, Y
        As in :func:`hessian`.
    eps : float, optional
        Keyword-only. Step; the default suits weights and data of order one.
    chunk : int, optional
        Keyword-only. Number of directions per batched gradient evaluation (memory ``~ chunk * P``).

    Returns
    -------
    ndarray of shape (P, P)
        Symmetrized finite-difference Hessian.

    Raises
    ------
    ValueError
        Invalid weights, data or parameters.
    dlnlib.memory.DenseMemoryError
        When the ``P x P`` result does not fit in the memory budget.
    """
    ws, X, Y = _check_problem(weights, X, Y)
    eps = check_positive(eps, "eps")
    chunk = check_positive(chunk, "chunk", integer=True)
    _guard(ws, "hessian_fd")
    sxx, syx = X @ X.T, Y @ X.T
    dims = dims_of(ws)
    flat = _flat(ws)
    n_par = flat.size
    cols = []
    for start in range(0, n_par, chunk):
        idx = np.arange(start, min(start + chunk, n_par))
        pert = np.zeros((idx.size, n_par))
        pert[np.arange(idx.size), idx] = eps
        plus, minus = (_grad_batch(flat[None, :] + sign * pert, dims, sxx, syx) for sign in (1.0, -1.0))
        cols.append((plus - minus) / (2 * eps))
    h = np.concatenate(cols, axis=0).T
    return 0.5 * (h + h.T)


# --------------------------------------------------------------------------- inertia


@dataclass(frozen=True)
class Inertia:
    """Numbers of positive, negative and zero eigenvalues of the Hessian (see the Mathematical notes, "Notation").

    Attributes
    ----------
    n_pos : int or None
        Number of positive eigenvalues (``None``: unknown, matrix-free without a formula for ``n_0``).
    n_neg : int
        Number of negative eigenvalues (a lower bound when ``n_neg_exact`` is False).
    n_zero : int or None
        Number of zero eigenvalues; ``n_pos + n_neg + n_zero = P``. Matrix-free: from the dimension
        formulas where the theory gives them (see :func:`inertia`), else ``None``.
    tol : float
        Eigenvalues with ``|λ| <= tol`` count as zero.
    gap : float
        ``min{|λ| : |λ| > tol} / max{|λ| : |λ| <= tol}`` over the computed eigenvalues (``inf`` if
        either set is empty): how cleanly the zero eigenvalues separate from the rest; trust the
        counts when it is large (at points critical to machine precision it is typically ``> 1e8``).
    eigenvalues : ndarray
        The computed eigenvalues, ascending: all ``P`` (dense) or the ``k`` smallest (matrix-free).
    method : str
        ``"dense"`` or ``"matrix-free"``.
    n_neg_exact : bool
        Whether ``n_neg`` is the count (dense: always; matrix-free: when fewer than ``k`` computed
        eigenvalues are below ``-tol``, the next one certifying the count) or only a lower bound.
    zero_source : str
        Where ``n_zero`` comes from: ``"eigenvalues"`` (dense), a formula, or ``"unknown"``.
    spectrum : ExtremeEigenvalues or None
        Matrix-free: the Lanczos result (residual norms, convergence, number of products).
    balanced : bool
        Whether the eigenvalues are those of a balanced representative of the orbit
        (:func:`balanced_representative`; the inertia is the same by Sylvester's law).
    """

    n_pos: int | None
    n_neg: int
    n_zero: int | None
    tol: float = field(repr=False)
    gap: float
    eigenvalues: np.ndarray = field(repr=False)
    method: str = "dense"
    n_neg_exact: bool = True
    zero_source: str = field(default="eigenvalues", repr=False)
    spectrum: ExtremeEigenvalues | None = field(default=None, repr=False)
    balanced: bool = field(default=False, repr=False)

    def as_tuple(self) -> tuple[int | None, int, int | None]:
        """The counts as a tuple ``(n_pos, n_neg, n_zero)`` (``None`` for unknown counts)."""
        return (self.n_pos, self.n_neg, self.n_zero)


def _hessian_scale(ws: Sequence[np.ndarray], sxx: np.ndarray, syx: np.ndarray) -> float:
    """Size of the Hessian blocks without cancellations (Frobenius norms of their factors).

    ``max_{i<=j} ||W_{N:i+1}|| ||W_{N:j+1}|| ||W_{i-1:1} Σ_XX W_{j-1:1}^T||
    + [i<j] ||W_{i-1:1}|| ||E|| ||W_{N:j+1}|| ||W_{j-1:i+1}||``: round-off in the assembled
    Hessian is a small multiple of ``eps`` times this, even where the Hessian itself vanishes.
    """
    n = len(ws)
    prod = _products(ws)
    e_norm = float(np.linalg.norm(_residual_moment(prod, sxx, syx)))
    fro = np.linalg.norm
    pre = [float(fro(p)) for p in prod.pre]
    suf = [float(fro(p)) for p in prod.suf]
    s_norm = float(fro(sxx))
    best = 0.0
    for j in range(1, n + 1):
        for i in range(1, j + 1):
            v = suf[i] * suf[j] * pre[i - 1] * s_norm * pre[j - 1]
            if i < j:
                v += pre[i - 1] * e_norm * suf[j] * float(fro(_chain(ws, j - 1, i + 1, ws[i - 1].shape[0])))
            best = max(best, v)
    return best


def _default_tol(eigs: np.ndarray, scale: float) -> float:
    top = float(np.max(np.abs(eigs))) if eigs.size else 0.0
    return 1e3 * eigs.size * np.finfo(float).eps * max(top, scale)


def _inertia_from_eigs(eigs: np.ndarray, tol: float | None, scale: float) -> Inertia:
    t = _default_tol(eigs, scale) if tol is None else float(tol)
    if not (np.isfinite(t) and t >= 0):
        raise ValueError(f"tol must be a finite nonnegative number, got {tol!r}")
    a = np.abs(eigs)
    small, big = a[a <= t], a[a > t]
    if small.size == 0 or big.size == 0 or float(np.max(small)) == 0.0:
        gap = np.inf
    else:
        gap = float(np.min(big)) / float(np.max(small))
    return Inertia(
        n_pos=int(np.sum(eigs > t)),
        n_neg=int(np.sum(eigs < -t)),
        n_zero=int(small.size),
        tol=t,
        gap=gap,
        eigenvalues=eigs,
    )


_METHODS = ("auto", "dense", "matrix-free")


def _resolve_method(method: str, n_par: int) -> str:
    """``"auto"`` -> dense while :func:`dlnlib.memory.prefer_dense` says it fits comfortably."""
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if method == "auto":
        return "dense" if memory.prefer_dense(n_par, "inertia") else "matrix-free"
    return method


def _balance_step(upper: np.ndarray, lower: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """One congruence ``W_{i+1} G^{-1}``, ``G W_i`` equalizing ``W_{i+1}^T W_{i+1}`` and ``W_i W_i^T`` on a basis.

    ``G = V diag(s) V^T`` with ``V`` the eigenvectors of ``W_{i+1}^T W_{i+1} + W_i W_i^T`` and
    ``s = (a / b)^{1/4}`` from the diagonals ``a``, ``b`` of the two Gram matrices in that basis
    where both exceed ``1e-8`` of the largest; a direction seen by one factor only is scaled so that
    its Gram entry takes the typical size ``sqrt(max a max b)`` (driving it to the other side's zero
    would approach a limit point outside the orbit, e.g. turn a strict saddle into a tight one). Returns the
    new pair and ``max |4 log s|`` (``|log(a/b)|`` on the two-sided directions).
    """
    p, q = upper.T @ upper, lower @ lower.T
    _, v = np.linalg.eigh(p + q)
    a = np.einsum("ki,kl,li->i", v, p, v)
    b = np.einsum("ki,kl,li->i", v, q, v)
    floor = 1e-8 * max(float(np.max(a + b)), np.finfo(float).tiny)
    ok = (a > floor) & (b > floor)
    s = np.ones_like(a)
    s[ok] = (a[ok] / b[ok]) ** 0.25
    # one-sided directions (seen by one factor only): bring that factor to the typical size
    target = float(np.sqrt(np.max(a) * np.max(b)))
    only_a, only_b = (a > floor) & ~ok, (b > floor) & ~ok
    if target > 0:
        s[only_a] = np.sqrt(a[only_a] / target)
        s[only_b] = np.sqrt(target / b[only_b])
    worst = float(np.max(np.abs(4.0 * np.log(s))))
    return (upper @ v) / s[None, :] @ v.T, v @ (s[:, None] * (v.T @ lower)), worst


def _balanced(ws: list[np.ndarray], sweeps: int = 12) -> list[np.ndarray]:
    ws = [w.copy() for w in ws]
    for _ in range(sweeps):
        worst = 0.0
        for i in range(len(ws) - 1):
            ws[i + 1], ws[i], w = _balance_step(ws[i + 1], ws[i])
            worst = max(worst, w)
        if worst < 0.1:
            break
    norms = np.array([float(np.linalg.norm(w)) for w in ws])
    if np.all(norms > 0):
        target = float(np.exp(np.mean(np.log(norms))))
        ws = [w * (target / nw) for w, nw in zip(ws, norms, strict=True)]
    return ws


def balanced_representative(weights: Sequence) -> list[np.ndarray]:
    """A better balanced point of the orbit ``W_{i+1} G_i^{-1}``, ``G_i W_i`` (same product, same loss).

    For invertible ``G_i`` the map ``W -> (..., W_{i+1} G_i^{-1}, G_i W_i, ...)`` is linear and leaves
    ``L`` unchanged, so ``∇²L(W) = Φ^T ∇²L(Φ W) Φ``: the Hessians are congruent and have the same
    inertia (Sylvester's law of inertia), at every point, critical or not. A badly balanced factorization
    (e.g. an exact critical point followed by a random change of basis between layers) shrinks
    the nonzero eigenvalues on one side to round-off level relative to the others; at the balanced
    representative they are back to their natural size. The balancing: sweeps over consecutive pairs
    of the symmetric congruence of ``_balance_step`` (equalizing ``W_{i+1}^T W_{i+1}`` and
    ``W_i W_i^T`` along the eigenvectors of their sum, i.e. driving the invariants ``C_i`` of Lemma 2.3
    of [CLC] towards 0 where the ranks allow), then scalars ``c_i`` with ``prod c_i = 1`` that equalize
    the norms ``||c_i W_i||_F``.

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.

    Returns
    -------
    list of ndarray
        The balanced weights (new arrays), with ``W_{N:1}`` unchanged up to round-off.
    """
    return _balanced(as_weights(weights))


def _counts_from_theory(ws: list[np.ndarray], X, Y, sxx, syx) -> tuple[int | None, int | None, str]:
    """``(predicted n_-, n_0, source)`` at a critical point where the theory gives them, else ``None``.

    * ``N = 2``: ``n_0 = dim C_{r,S}`` (eq. (27) of [CLC]: the tangent space of the critical manifold
      is the kernel of the Hessian, Prop. 5) and ``n_- = inv(S) + (d_2 - r)(d_1 - r)`` (eq. (28));
    * tight points (every ``W_h`` of rank ``r``), ``N >= 3``: :func:`dlnlib.landscape.tight_inertia_formula`;
    * a global minimum of a filling network (``r = d_y``, so the residual moment ``E = 0``): the
      Hessian is the Gauss-Newton form ``||D μ[Δ] X||^2`` and ``D μ`` is onto (``rank W_{N:2} >= d_y``),
      so ``n_+ = d_x d_y``, ``n_- = 0``, ``n_0 = P - d_x d_y``.

    See the Mathematical notes, sections second-order analysis and one hidden layer.
    """
    from .geometry import critical_manifold_dimension  # geometry imports this module
    from .landscape import tight_inertia_formula

    summary, red, _, _ = _check_and_reduce(X, Y, dims_of(ws), allow_non_filling=True)
    prod = _products(ws)
    g_rel = _relative_gradient(prod, sxx, syx)
    if g_rel > 1e-8:
        return None, None, "unknown (not a critical point)"
    S, perr = identify_index_set(_reduced_product(ws, red), red.singular_values)
    if perr > 1e-6 or len(S) > summary.r_max:
        return None, None, "unknown (no index set)"
    d, n, r = summary.dims, len(ws), len(S)
    n_par = sum(w.size for w in ws)
    d_y = d[-1]
    if n == 2 and d[0] >= d_y:
        n0 = critical_manifold_dimension(d, r)
        return inversion_number(S, d_y) + (d_y - r) * (d[1] - r), n0, "eq. (27) of [CLC] (N = 2)"
    loose = max(1e-8, float(np.sqrt(g_rel)))
    if n >= 2 and all(_numerical_rank(w, loose) == r for w in ws):
        _, n_neg, n0 = tight_inertia_formula(d, S)
        return n_neg, n0, "tight-point inertia formula"
    if r == d_y and S == tuple(range(r)) and d[0] >= d_y:
        return 0, n_par - d[0] * d_y, "filling global minimum (Gauss-Newton rank d_x d_y)"
    return None, None, "unknown (no formula for this critical point)"


def _matfree_inertia(
    ws: list[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    sxx: np.ndarray,
    syx: np.ndarray,
    *,
    tol: float | None,
    k: int | None,
    rng,
    g_rel: float = 0.0,
    balanced: bool = False,
    theory: tuple | None = None,
) -> Inertia:
    n_par = sum(w.size for w in ws)
    pred_neg, n0, source = _counts_from_theory(ws, X, Y, sxx, syx) if theory is None else theory
    if k is None:
        k = 6 if pred_neg is None else max(6, min(pred_neg + 2, 64))
    k = min(check_positive(k, "k", integer=True), n_par)
    op = HessianOperator(ws, sxx, syx)
    h_scale = _hessian_scale(ws, sxx, syx)
    if tol is not None:
        t_user = float(tol)
        if not (np.isfinite(t_user) and t_user >= 0):
            raise ValueError(f"tol must be a finite nonnegative number, got {tol!r}")

    def tol_of(scale: float) -> float:
        if tol is not None:
            return t_user
        top = scale if scale > 0 else h_scale  # h (Frobenius products) is pessimistic for wide layers
        return max(1e3 * n_par * np.finfo(float).eps * top, np.sqrt(g_rel) * top)

    if n_par <= 3:
        vals, vecs, res, scale = _extreme(op, n_par, "smallest", 1e-10, None, as_rng(rng), None)
        t = tol_of(scale)
        exact_all = True
    else:
        vals, vecs, res, scale, t, exact_all = _negative_eigenpairs(op, tol_of, max(k - 1, 1), 1e-10, as_rng(rng))
    spec = ExtremeEigenvalues(
        values=vals,
        residuals=res,
        converged=res <= 10 * 1e-10 * max(scale, np.finfo(float).tiny),
        n_products=int(op.n_products),
        scale=float(scale),
        rtol=1e-10,
        which="smallest",
        n_params=n_par,
        vectors=vecs,
    )
    n_neg = int(np.sum(vals < -t))
    exact = bool(exact_all and (n_neg < vals.size or vals.size == n_par))
    a = np.abs(vals)
    small, big = a[a <= t], a[a > t]
    gap = float(np.min(big)) / float(np.max(small)) if small.size and big.size and np.max(small) > 0 else np.inf
    n_zero = n0 if exact else None
    n_pos = n_par - n_neg - n_zero if (exact and n_zero is not None) else None
    return Inertia(
        n_pos=n_pos,
        n_neg=n_neg,
        n_zero=n_zero,
        tol=t,
        gap=gap,
        eigenvalues=vals,
        method="matrix-free",
        n_neg_exact=exact,
        zero_source=source if n_zero is not None else "unknown",
        spectrum=spec,
        balanced=balanced,
    )


def inertia(
    weights: Sequence,
    X,
    Y,
    *,
    tol: float | None = None,
    method: str = "auto",
    k: int | None = None,
    balance: bool = False,
    rng: np.random.Generator | int = 0,
) -> Inertia:
    """Inertia ``(n_+, n_-, n_0)`` of the Hessian of the loss (see the Mathematical notes, "The Hessian and the
    landscape"; Prop. 3-5 of [CLC]).

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.
    tol : float or None, optional
        Keyword-only. Eigenvalues with ``|λ| <= tol`` count as zero. Default (scale-aware):
        ``tol = 1e3 * P * eps * max(max|λ|, h)`` with ``eps`` the float64 machine epsilon and
        ``h`` the size of the Hessian blocks computed without cancellations (products of the
        norms of their factors): a safety factor of 1000 over the round-off of the assembly and
        the backward error ``~ P eps ||H||`` of the symmetric eigensolver. The ``h`` term matters
        where the Hessian vanishes in exact arithmetic (e.g. ``W = 0`` for ``N >= 3``): there
        ``max|λ|`` is itself round-off. At points that are critical to machine precision the
        zero eigenvalues are ``~1e-13`` relative; at numerically converged points (gradient
        ``g``) they are perturbed by ``O(g)``, so pass a larger ``tol`` and look at
        :attr:`Inertia.gap`. Matrix-free: the same formula with ``max|λ|`` estimated by Lanczos,
        widened by ``sqrt(g_rel) max|λ|`` (``g_rel`` the relative gradient) as in :func:`classify`.
    method : {"auto", "dense", "matrix-free"}, optional
        Keyword-only. ``"dense"``: all ``P`` eigenvalues of the assembled Hessian (``eigvalsh``,
        ``16 P^2`` bytes, refused with :class:`dlnlib.memory.DenseMemoryError` above the budget).
        ``"matrix-free"``: the smallest eigenvalues by Lanczos on Hessian-vector products
        (:mod:`dlnlib.spectrum`); ``n_-`` is exact when fewer than ``k`` of them are below
        ``-tol`` (the next computed one certifies the count) and a lower bound otherwise
        (:attr:`Inertia.n_neg_exact`); ``n_0`` comes from the dimension formulas where the theory
        gives them (eq. (27) for ``N = 2``, tight points, filling global minima) and is ``None``
        elsewhere, as is ``n_+``. ``"auto"`` (default): dense while its memory estimate is below
        ``min(1 GiB, budget / 2)`` (:func:`dlnlib.memory.prefer_dense`, about ``P <= 8000``), else
        matrix-free.
    k : int or None, optional
        Keyword-only. Matrix-free: at most ``k - 1`` negative eigenvalues are resolved (one Lanczos
        run each, deflating those found, so that multiple eigenvalues are counted with their
        multiplicity), then one more run certifies that nothing below ``-tol`` is left; with ``k - 1``
        negative eigenvalues found ``n_-`` is only a lower bound. Default: the theory's predicted
        ``n_- + 2`` when it has one, between 6 and 64; else 6.
    balance : bool, optional
        Keyword-only. Compute the eigenvalues at :func:`balanced_representative` ``(weights)``
        (same inertia by Sylvester's law; better conditioned when the factors are badly balanced).
    rng : numpy.random.Generator or int, optional
        Keyword-only. Matrix-free: seed of the Lanczos start vector.

    Returns
    -------
    Inertia
        Counts, tolerance, gap, eigenvalues and how they were obtained.

    Raises
    ------
    ValueError, TypeError
        Invalid weights, data, ``tol``, ``method`` or ``k``.
    dlnlib.memory.DenseMemoryError
        ``method="dense"`` beyond the memory budget.
    """
    ws, X, Y = _check_problem(weights, X, Y)
    n_par = sum(w.size for w in ws)
    method = _resolve_method(method, n_par)
    if not isinstance(balance, (bool, np.bool_)):
        raise TypeError(f"balance must be a bool, got {balance!r}")
    wb = _balanced(ws) if balance else ws
    sxx, syx = X @ X.T, Y @ X.T
    if method == "dense":
        _guard(ws, "inertia")
        eigs = np.linalg.eigvalsh(_assemble(wb, sxx, syx))
        out = _inertia_from_eigs(eigs, tol, _hessian_scale(wb, sxx, syx))
        return out if not balance else Inertia(**{**out.__dict__, "balanced": True})
    theory = _counts_from_theory(ws, X, Y, sxx, syx)
    return _matfree_inertia(wb, X, Y, sxx, syx, tol=tol, k=k, rng=rng, balanced=bool(balance), theory=theory)


# --------------------------------------------------------------------------- classification


def _numerical_rank(a: np.ndarray, rank_tol: float) -> int:
    if a.size == 0:
        return 0
    sv = np.linalg.svd(a, compute_uv=False)
    return int(np.sum(sv > rank_tol * sv[0])) if sv[0] > 0 else 0


def pairing_criterion(
    weights: Sequence, X, Y, r: int, *, rank_tol: float = 1e-8, zero_tol: float = 1e-8
) -> tuple[int, int] | None:
    """The pairing criterion of the Mathematical notes, "Reconstructed here — the pairing criterion for strict saddles"
    for top-``S`` saddles with ``r < r_max``.

    Returns the first pair ``(h, k)``, ``1 <= h < k <= N``, with ``rank W_{k-1:h+1} > r`` and
    ``W_{h-1:1} X R^T W_{N:k+1} != 0`` (``R = W_{N:1} X - Y``, empty products are identities),
    or ``None`` when there is no such pair. The criterion says the critical point is a strict
    saddle iff a pair exists (verified numerically in the Mathematical notes, "The Hessian and the landscape", not fully
    proved).

    Parameters
    ----------
    weights, X, Y
        As in :func:`hessian`.
    r : int
        ``|S|`` = rank of the end-to-end map.
    rank_tol : float, optional
        Keyword-only. Singular values ``> rank_tol * sigma_max`` count towards the rank.
    zero_tol : float, optional
        Keyword-only. ``W_{h-1:1} X R^T W_{N:k+1}`` counts as nonzero when its Frobenius norm
        exceeds ``zero_tol * ||W_{h-1:1}|| ||X R^T|| ||W_{N:k+1}||`` (spectral norms; no
        cancellation scale).

    Returns
    -------
    tuple of int or None
        The first pair ``(h, k)`` (1-based), or ``None`` when there is no such pair.
    """
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 0:
        raise ValueError(f"r must be a non-negative integer (the rank |S| of the critical point), got {r!r}")
    ws, X, Y = _check_problem(weights, X, Y)
    prod = _products(ws)
    e_t = _residual_moment(prod, X @ X.T, Y @ X.T).T
    n = len(ws)
    d = dims_of(ws)
    e_norm = _norm2(e_t)
    for h in range(1, n + 1):
        for k in range(h + 1, n + 1):
            if _numerical_rank(_chain(ws, k - 1, h + 1, d[h]), rank_tol) <= r:
                continue
            left, right = prod.pre[h - 1], prod.suf[k]
            m = left @ e_t @ right
            scale = _norm2(left) * e_norm * _norm2(right)
            if m.size and scale > 0 and float(np.linalg.norm(m)) > zero_tol * scale:
                return (h, k)
    return None


@dataclass(frozen=True)
class Classification:
    """Verdict of :func:`classification`.

    Attributes
    ----------
    kind : str
        ``"global_minimum"``, ``"strict_saddle"``, ``"non_strict_saddle"`` or ``"not_critical"``.
    gradient_norm : float
        ``||∇L|| / scale`` (relative, see :func:`classify`).
    index_set : tuple of int
        0-based ``S`` (empty tuple when not critical).
    rule : str
        Which theoretical rule decided (see the Mathematical notes, "The Hessian and the landscape").
    inertia : Inertia or None
        Hessian inertia used for the cross-check, at the balanced representative of the orbit
        (:func:`balanced_representative`; None if not computed).
    """

    kind: str
    gradient_norm: float
    index_set: tuple[int, ...] = ()
    rule: str = ""
    inertia: Inertia | None = field(default=None, repr=False)


def _theory_verdict(ws, X, Y, S: tuple[int, ...], r_max: int, d_y: int, rank_tol: float, zero_tol: float):
    r = len(S)
    top = S == tuple(range(r))
    if top and r == min(r_max, d_y):
        return "global_minimum", (
            "|S| = r_max and S top => global minimum ([AMG]; see the Mathematical notes, 'The "
            "Hessian and the landscape')"
        )
    if not top:
        return "strict_saddle", (
            f"S not top (inv(S) = {inversion_number(S, d_y)}) => strict saddle (see the "
            f"Mathematical notes, 'The Hessian and the landscape')"
        )
    pair = pairing_criterion(ws, X, Y, r, rank_tol=rank_tol, zero_tol=zero_tol)
    if pair is None:
        return "non_strict_saddle", "top S, r < r_max, no (h, k) pair in the pairing criterion => non-strict"
    return "strict_saddle", f"top S, r < r_max, pairing criterion holds at (h, k) = {pair} => strict"


def _cross_check(ws, X, Y, sxx, syx, tol, method: str) -> Inertia:
    """Hessian inertia for the cross-check of :func:`classification`, at the balanced representative.

    Balancing is a congruence (same inertia, Sylvester's law); it keeps a badly balanced but
    legitimate critical point from hiding its negative eigenvalue under the tolerance. The
    tolerance is widened with ``sqrt(g_rel)`` of the balanced point (see :func:`classify`).
    """
    wb = _balanced(ws)
    g_rel = _relative_gradient(_products(wb), sxx, syx)
    h_scale = _hessian_scale(wb, sxx, syx)
    if method == "dense":
        _guard(wb, "inertia")
        eigs = np.linalg.eigvalsh(_assemble(wb, sxx, syx))
        if tol is None:  # machine tolerance, widened for points that are only approximately critical
            top = max(float(np.max(np.abs(eigs))), h_scale)
            tol = max(_default_tol(eigs, h_scale), np.sqrt(g_rel) * top)
        return Inertia(**{**_inertia_from_eigs(eigs, tol, h_scale).__dict__, "balanced": True})
    # matrix-free: the two smallest eigenvalues decide the sign (a Ritz value below -tol proves n- > 0)
    return _matfree_inertia(wb, X, Y, sxx, syx, tol=tol, k=2, rng=0, g_rel=g_rel, balanced=True)


def classification(
    weights: Sequence,
    X,
    Y,
    *,
    tol: float | None = None,
    gtol: float = 1e-8,
    ptol: float = 1e-6,
    rank_tol: float | None = None,
    zero_tol: float | None = None,
    check_hessian: bool = True,
    method: str = "auto",
) -> Classification:
    """Classify a point as global minimum, strict or non-strict saddle, or not critical.

    See :func:`classify` (which returns only the ``kind``) for the procedure.

    Parameters
    ----------
    weights, X, Y, tol, gtol, ptol, rank_tol, zero_tol, check_hessian, method
        As in :func:`classify` (all but ``weights``, ``X``, ``Y`` keyword-only).

    Returns
    -------
    Classification
        The verdict with its evidence.

    Raises
    ------
    ValueError, TypeError
        Invalid weights or data.
    RuntimeError
        Theory and Hessian disagree, or a critical point matches no index set.
    """
    ws, X, Y = _check_problem(weights, X, Y)
    method = _resolve_method(method, sum(w.size for w in ws))
    for name, val in (("gtol", gtol), ("ptol", ptol), ("rank_tol", rank_tol), ("zero_tol", zero_tol)):
        if val is not None:
            check_positive(val, name)
    summary, red, _, _ = _check_and_reduce(X, Y, dims_of(ws), allow_non_filling=True)
    sxx, syx = X @ X.T, Y @ X.T
    prod = _products(ws)
    g_rel = _relative_gradient(prod, sxx, syx)
    if g_rel > gtol:
        return Classification(kind="not_critical", gradient_norm=g_rel, rule=f"relative gradient {g_rel:.2e} > gtol")
    S, perr = identify_index_set(_reduced_product(ws, red), red.singular_values)
    if perr > ptol or len(S) > summary.r_max:
        raise RuntimeError(
            f"the gradient is small (relative {g_rel:.1e} <= gtol={gtol:g}) but the end-to-end map matches no "
            f"critical index set: nearest S={S} with product error {perr:.2e} > ptol={ptol:g} (relative to s_1); "
            "Assumption 3/4 of [CLC] may be nearly violated, or the point is only approximately critical"
        )
    loose = max(1e-8, float(np.sqrt(g_rel)))  # relative tolerances widened for approximately critical points
    rank_tol = loose if rank_tol is None else rank_tol
    zero_tol = loose if zero_tol is None else zero_tol
    kind, rule = _theory_verdict(ws, X, Y, S, summary.r_max, red.singular_values.size, rank_tol, zero_tol)
    inert = None
    if check_hessian:
        inert = _cross_check(ws, X, Y, sxx, syx, tol, method)
        hess_kind = "strict_saddle" if inert.n_neg > 0 else "psd"
        consistent = (kind == "strict_saddle") == (hess_kind == "strict_saddle")
        if not consistent:
            raise RuntimeError(
                f"theory and Hessian disagree at S={S}: theory says {kind!r} ({rule}); the Hessian inertia "
                f"(n+, n-, n0) = {inert.as_tuple()} ({inert.method}, at the balanced representative of the orbit) "
                f"with tol={inert.tol:.2e} (gap {inert.gap:.1e}) says "
                f"{'strict saddle (n- > 0)' if hess_kind == 'strict_saddle' else 'positive semidefinite (n- = 0)'}. "
                "Increase tol if the point is only approximately critical, or adjust rank_tol/zero_tol."
            )
    return Classification(kind=kind, gradient_norm=g_rel, index_set=S, rule=rule, inertia=inert)


def classify(
    weights: Sequence,
    X,
    Y,
    *,
    tol: float | None = None,
    gtol: float = 1e-8,
    ptol: float = 1e-6,
    rank_tol: float | None = None,
    zero_tol: float | None = None,
    check_hessian: bool = True,
    method: str = "auto",
) -> str:
    """Classify a point: ``"global_minimum"``, ``"strict_saddle"``, ``"non_strict_saddle"`` or ``"not_critical"``.

    Prop. 4 of [CLC], the second-order analysis of [AMG] and the pairing criterion
    (see the Mathematical notes, "Reconstructed here — the pairing criterion for strict saddles"). Procedure:

    1. **Criticality.** ``g_rel = ||∇L|| / sqrt(sum_i (||W_{N:i+1}|| ||W_{i-1:1}|| e)^2)`` with
       ``e = ||W_{N:1}|| ||Σ_XX|| + ||Σ_YX||`` (spectral norms): the gradient relative to the
       size its terms would have without cancellation. If ``g_rel > gtol`` the point is
       ``"not_critical"``. (Hence tiny nonzero weights near the critical point 0 are not
       critical: the test is scale-invariant.)
    2. **Index set.** ``S`` from the reduced end-to-end map (:func:`dlnlib.critical.identify_index_set`),
       required to match ``I_S Σ̄`` to ``ptol`` relative to ``s_1``, else ``RuntimeError``.
    3. **Theory.** ``|S| = r_max`` and ``S`` top: global minimum; ``S`` not top: strict saddle;
       ``S`` top with ``|S| < r_max``: strict iff the :func:`pairing_criterion` finds a pair
       (numerical rank with ``rank_tol``, zero test with ``zero_tol``, both relative; default
       ``max(1e-8, sqrt(g_rel))`` for the same reason as ``tol`` below). A rule based on ranks
       of partial products alone cannot decide this (see the Mathematical notes, "Reconstructed here — the pairing
       criterion for strict saddles").
    4. **Cross-check** (``check_hessian=True``): Hessian inertia with tolerance ``tol``;
       strict saddle iff ``n_- > 0``. A disagreement raises ``RuntimeError`` describing both
       verdicts (never a silent pick). The inertia is computed at the balanced representative of
       the orbit of ``W`` (:func:`balanced_representative`): the Hessians are congruent, so the
       inertia is the same (Sylvester's law), but a badly balanced factorization would push its
       negative eigenvalues under the tolerance. With ``method="matrix-free"`` (``"auto"``
       beyond about ``P = 8000``, see :func:`inertia`) only the two smallest eigenvalues are
       computed, by Lanczos on Hessian-vector products: a Ritz value below ``-tol`` proves
       ``n_- > 0``; its absence is the converged Lanczos estimate of ``λ_min >= -tol``.
       Default ``tol = max(t_machine, sqrt(g_rel) * s)`` where
       ``t_machine`` is the default of :func:`inertia` and ``s = max(max|λ|, h)`` its scale: at a
       distance ``δ`` from the critical set the zero eigenvalues move by ``O(δ)`` and
       ``δ = O(g_rel κ)``, so the ``sqrt`` term covers condition numbers ``κ`` up to
       ``g_rel^{-1/2}`` (a heuristic; at points critical to machine precision it is ``~1e-8 s``).

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    X : ndarray of shape (d_x, m)
        Data; with ``Y``, satisfying Assumptions 1-3 of [CLC] (non-filling widths allowed).
    Y : ndarray of shape (d_y, m)
        Targets.
    tol, gtol, ptol, rank_tol, zero_tol : float, optional
        Keyword-only. Tolerances described above (``tol``, ``rank_tol``, ``zero_tol``: ``None``
        for the defaults described above).
    check_hessian : bool, optional
        Keyword-only. Compute the Hessian inertia and cross-check (dense: one ``P x P``
        eigendecomposition; matrix-free: a few hundred Hessian-vector products).
    method : {"auto", "dense", "matrix-free"}, optional
        Keyword-only. How the cross-check computes the inertia (see :func:`inertia`).

    Returns
    -------
    str
        The ``kind`` (see :class:`Classification`).

    Raises
    ------
    ValueError, TypeError
        Invalid weights or data.
    RuntimeError
        Theory and Hessian disagree, or a critical point matches no index set.

    Examples
    --------
    The report example of the Mathematical notes, "The Hessian and the landscape" (dims 5-4-4-5, ``S = {1, 2, 3}``):

    >>> import numpy as np
    >>> from dlnlib.critical import critical_point
    >>> from dlnlib.hessian import classify, inertia
    >>> g = np.random.default_rng(0)
    >>> X = g.standard_normal((5, 1000))
    >>> Y = np.diag([5.0, 4, 3, 2, 1]) @ X + 0.1 * g.standard_normal((5, 1000))
    >>> tight = critical_point(X, Y, (5, 4, 4, 5), (0, 1, 2))
    >>> inertia(tight, X, Y).as_tuple(), classify(tight, X, Y)
    ((21, 0, 35), 'non_strict_saddle')
    >>> strict = critical_point(X, Y, (5, 4, 4, 5), (0, 1, 2), complement=[None, np.ones((1, 1)), None])
    >>> inertia(strict, X, Y).as_tuple(), classify(strict, X, Y)
    ((23, 2, 31), 'strict_saddle')
    """
    return classification(
        weights,
        X,
        Y,
        tol=tol,
        gtol=gtol,
        ptol=ptol,
        rank_tol=rank_tol,
        zero_tol=zero_tol,
        check_hessian=check_hessian,
        method=method,
    ).kind


# --------------------------------------------------------------------------- Proposition 3 along a line


def second_variation(weights: Sequence, X, Y, delta) -> float:
    """The second variation of Proposition 3 of [CLC], evaluated directly from its formula.

    ``D²L(W)[Δ, Δ] = ||F_1||_F^2 + 2 <R, F_2>`` with ``R = W_{N:1} X - Y``,
    ``F_1 = Σ_i W_{N:i+1} Δ_i W_{i-1:1} X`` and ``F_2 = Σ_{i<j} W_{N:j+1} Δ_j W_{j-1:i+1} Δ_i W_{i-1:1} X``
    (see the Mathematical notes, Second order). Independent of :func:`hessian`, which assembles the
    same form block by block.

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``.
    X : ndarray of shape (d_x, m)
        Data.
    Y : ndarray of shape (d_y, m)
        Targets.
    delta : ndarray of shape (P,) or list of ndarray
        The variation ``Δ`` (flat, in the order of :func:`hessian`, or shaped like ``weights``).

    Returns
    -------
    float
        ``D²L(W)[Δ, Δ]``.
    """
    ws, X, Y = _check_problem(weights, X, Y)
    ds = _as_direction(delta, ws)
    n = len(ws)
    d = dims_of(ws)

    def chain(j, i):  # W_{j:i} (1-based, identity if j < i)
        out = np.eye(d[i - 1])
        for k in range(i, j + 1):
            out = ws[k - 1] @ out
        return out

    R = chain(n, 1) @ X - Y
    F1 = sum(chain(n, i + 1) @ ds[i - 1] @ chain(i - 1, 1) @ X for i in range(1, n + 1))
    F2 = sum(
        chain(n, j + 1) @ ds[j - 1] @ chain(j - 1, i + 1) @ ds[i - 1] @ chain(i - 1, 1) @ X
        for j in range(2, n + 1)
        for i in range(1, j)
    )
    return float(np.sum(F1 * F1) + (2.0 * np.sum(R * F2) if n > 1 else 0.0))


def line_polynomial(weights: Sequence, X, Y, delta) -> np.ndarray:
    """Exact coefficients of the polynomial ``t -> L(W + t Δ)``, of degree ``2N``.

    ``W_{N:1}(t) = Π_i (W_i + t Δ_i) = Σ_k t^k P_k`` is expanded exactly, so
    ``L(W + tΔ) = 1/2 ||Σ_k t^k P_k X - Y||_F^2 = Σ_k c_k t^k``. In particular ``c_1 = <∇L, Δ>``,
    ``c_2 = 1/2 D²L[Δ, Δ]`` (Proposition 3 of [CLC]) and, where both vanish (a critical point and a
    direction of the Hessian kernel), ``c_3 = lim (L(W + tΔ) - L(W)) / t^3``: the cubic descent rate
    along a non-strict direction.

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``.
    X : ndarray of shape (d_x, m)
        Data.
    Y : ndarray of shape (d_y, m)
        Targets.
    delta : ndarray of shape (P,) or list of ndarray
        The direction ``Δ``.

    Returns
    -------
    ndarray of shape (2N + 1,)
        ``c_0, ..., c_{2N}`` (``c_0 = L(W)``).
    """
    ws, X, Y = _check_problem(weights, X, Y)
    ds = _as_direction(delta, ws)
    coef = [ws[0], ds[0]]
    for w, dd in zip(ws[1:], ds[1:], strict=True):
        nxt = [w @ coef[0]]
        nxt += [w @ coef[k] + dd @ coef[k - 1] for k in range(1, len(coef))]
        nxt.append(dd @ coef[-1])
        coef = nxt
    res = [c @ X for c in coef]
    res[0] = res[0] - Y
    n_c = len(res)
    out = np.zeros(2 * n_c - 1)
    for a in range(n_c):
        for b in range(n_c):
            out[a + b] += 0.5 * float(np.sum(res[a] * res[b]))
    return out
