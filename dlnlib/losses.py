"""Convex losses of the end-to-end matrix, pure and spurious critical points, bad local minima.

See the Mathematical notes, "Pure and spurious critical points" ([TKB]). The network loss is the composite ``L = ℓ ∘ μ``
with ``μ(W) = W_{N:1} = W_N ... W_1`` (the "functional" form: data whitened, ``X = I``) and ``ℓ`` a
smooth convex function of the end-to-end matrix ``A`` of shape ``(d_y, d_x)``.

* :class:`SquareLoss` ``1/2 ||A - U||_F^2`` (with ``X = I`` this is the loss of [CLC], see the Mathematical notes,
  "Notation");
* :class:`WeightedLogCoshLoss` ``Σ Λ_ij log cosh(A_ij - U_ij)`` (smooth, convex, not quadratic);
* :class:`HuberLoss` (convex, ``C^1`` with a piecewise-constant Hessian).

Each loss has ``value(A)``, ``grad(A)`` (shape ``(d_y, d_x)``) and ``hess(A)`` (shape
``(d_y d_x, d_y d_x)``, C-order ``vec``). The composite gradient is
``∇_{W_i} L = W_{N:i+1}^T G W_{i-1:1}^T`` with ``G = ℓ'(W_{N:1})`` and the composite Hessian has the
block structure of the Mathematical notes, "The Hessian and the landscape" with ``X = I`` and the residual ``R``
replaced by ``G``.

* :func:`pure_spurious_table` — pure/spurious and strict/non-strict verdicts of square-loss critical points;
* :func:`rank_one_profile` — ``min_σ ℓ(σ u_θ v_φ^T)`` over rank-one ``2 x 2`` matrices, the functional-space
  landscape of the non-filling widths ``(2, 1, 2)``.

Functional space ([TKB]): ``M_r = {A : rank A <= r}``, ``r = r_max = min(d_0, ..., d_N)``; the
architecture is *filling* if ``r_max = min(d_x, d_y)`` (then ``M_r`` is the whole matrix space).

References
----------
[TKB] M. Trager, K. Kohn, J. Bruna, *Pure and Spurious Critical Points: a Geometric Study of Linear
Networks*, ICLR 2020 (arXiv:1910.01671).
[CLC] Y. Chitour, Z. Liao, R. Couillet, arXiv:1811.03568.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from scipy.optimize import minimize

from . import memory
from ._validation import as_finite_array, as_rng, as_weights, check_positive, dims_of
from .hessian import _second_order_block
from .model import _check_dims, _end_to_end, _flat, _gradient_from_e, _offsets, _products, _unflat, random_weights

__all__ = [
    "CompositeFlow",
    "DataSquareLoss",
    "EndToEndLoss",
    "HuberLoss",
    "LocalMinimaSearch",
    "LocalMinimumCertificate",
    "SoftmaxCrossEntropyLoss",
    "SquareLoss",
    "VarietyStationarity",
    "WeightedLogCoshLoss",
    "certify_local_minimum",
    "classify_pure_spurious",
    "composite_flow",
    "composite_gradient",
    "composite_hessian",
    "composite_loss",
    "is_filling",
    "local_minima_search",
    "pure_spurious_table",
    "rank_one_profile",
    "symmetry_tangent_space",
    "variety_stationarity",
]


# --------------------------------------------------------------------------- losses of A


@runtime_checkable
class EndToEndLoss(Protocol):
    """A smooth convex loss ``ℓ`` of the end-to-end matrix ``A`` of shape ``target.shape``.

    Any object with these members qualifies (a runtime-checkable protocol).

    Attributes
    ----------
    target : ndarray of shape (d_y, d_x)
        The target ``U``; ``A`` must have the same shape.
    """

    target: np.ndarray

    def value(self, A) -> float:
        """The loss ``ℓ(A)``.

        Parameters
        ----------
        A : ndarray of shape (d_y, d_x)
            End-to-end matrix.

        Returns
        -------
        float
            ``ℓ(A)``.
        """
        ...

    def grad(self, A) -> np.ndarray:
        """The gradient ``ℓ'(A)``.

        Parameters
        ----------
        A : ndarray of shape (d_y, d_x)
            End-to-end matrix.

        Returns
        -------
        ndarray of shape (d_y, d_x)
            ``ℓ'(A)``.
        """
        ...

    def hess(self, A) -> np.ndarray:
        """The Hessian ``∇²ℓ(A)`` in the C-order ``vec`` of ``A``.

        Parameters
        ----------
        A : ndarray of shape (d_y, d_x)
            End-to-end matrix.

        Returns
        -------
        ndarray of shape (d_y d_x, d_y d_x)
            ``∇²ℓ(A)``.
        """
        ...


def _as_target(target) -> np.ndarray:
    t = as_finite_array(target, "target", ndim=2)
    t = t.copy()
    t.setflags(write=False)
    return t


class _ElementwiseLoss:
    """Shared checks for losses ``Σ_ij f_ij(A_ij - U_ij)``."""

    target: np.ndarray

    def _residual(self, A) -> np.ndarray:
        A = as_finite_array(A, "A", ndim=2)
        if A.shape != self.target.shape:
            raise ValueError(f"A must have the target's shape {self.target.shape} (d_y, d_x), got {A.shape}")
        return A - self.target

    @property
    def shape(self) -> tuple[int, int]:
        """``(d_y, d_x)``."""
        return self.target.shape  # type: ignore[return-value]


@dataclass(frozen=True, eq=False)
class SquareLoss(_ElementwiseLoss):
    """``ℓ(A) = 1/2 ||A - U||_F^2`` (``U = target``): the loss of [CLC] with ``X = I`` (see the Mathematical notes,
    "Notation").

    ``grad = A - U``; ``hess = I``. With whitened data ``X = I`` the composite loss is
    :func:`dlnlib.model.loss` with ``Y = U``. Implements :class:`EndToEndLoss`.

    Attributes
    ----------
    target : ndarray of shape (d_y, d_x)
        ``U`` (stored as a read-only copy).
    """

    target: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "target", _as_target(self.target))

    def __repr__(self) -> str:
        return f"SquareLoss(target shape={self.target.shape})"

    def value(self, A) -> float:
        """The loss ``1/2 ||A - U||_F^2`` (see :meth:`EndToEndLoss.value`)."""
        r = self._residual(A)
        return 0.5 * float(np.sum(r * r))

    def grad(self, A) -> np.ndarray:
        """The gradient ``A - U`` (see :meth:`EndToEndLoss.grad`)."""
        return self._residual(A)

    def hess(self, A) -> np.ndarray:
        """The Hessian: the identity of size ``d_y d_x`` (see :meth:`EndToEndLoss.hess`)."""
        self._residual(A)
        return np.eye(self.target.size)


def _log_cosh(x: np.ndarray) -> np.ndarray:
    """``log cosh x = |x| + log1p(exp(-2|x|)) - log 2``, without overflow."""
    a = np.abs(x)
    return a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0)


@dataclass(frozen=True, eq=False)
class WeightedLogCoshLoss(_ElementwiseLoss):
    """``ℓ(A) = Σ_ij Λ_ij log cosh(A_ij - U_ij)`` with ``U = target``, ``Λ = weights >= 0``.

    Smooth and convex, not quadratic ([TKB]'s setting for bad minima of non-filling networks,
    see the Mathematical notes, "Pure and spurious critical points"): ``grad = Λ ⊙ tanh(A - U)``,
    ``hess = diag(vec(Λ ⊙ sech²(A - U)))``. Implements :class:`EndToEndLoss`.

    Attributes
    ----------
    target : ndarray of shape (d_y, d_x)
        ``U`` (stored as a read-only copy).
    weights : ndarray of shape (d_y, d_x)
        ``Λ``, non-negative (stored as a read-only copy).

    Raises
    ------
    ValueError
        If ``weights`` does not have the target's shape or has negative entries.
    """

    target: np.ndarray
    weights: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "target", _as_target(self.target))
        lam = as_finite_array(self.weights, "weights (Lambda)", ndim=2)
        if lam.shape != self.target.shape:
            raise ValueError(f"weights (Lambda) must have the target's shape {self.target.shape}, got {lam.shape}")
        if np.any(lam < 0):
            raise ValueError(f"weights (Lambda) must be non-negative (for convexity), got min {lam.min():g}")
        lam = lam.copy()
        lam.setflags(write=False)
        object.__setattr__(self, "weights", lam)

    def __repr__(self) -> str:
        lo, hi = self.weights.min(), self.weights.max()
        return f"WeightedLogCoshLoss(target shape={self.target.shape}, weights range=[{lo:g}, {hi:g}])"

    def value(self, A) -> float:
        """The loss ``Σ_ij Λ_ij log cosh(A_ij - U_ij)`` (see :meth:`EndToEndLoss.value`)."""
        return float(np.sum(self.weights * _log_cosh(self._residual(A))))

    def grad(self, A) -> np.ndarray:
        """The gradient ``Λ ⊙ tanh(A - U)`` (see :meth:`EndToEndLoss.grad`)."""
        return self.weights * np.tanh(self._residual(A))

    def hess(self, A) -> np.ndarray:
        """The Hessian ``diag(vec(Λ ⊙ sech²(A - U)))`` (see :meth:`EndToEndLoss.hess`)."""
        t = np.tanh(self._residual(A))
        return np.diag((self.weights * (1.0 - t * t)).ravel())


@dataclass(frozen=True, eq=False)
class HuberLoss(_ElementwiseLoss):
    """Huber loss ``Σ_ij h(A_ij - U_ij)``, ``h(r) = r²/2`` if ``|r| <= delta`` else ``delta (|r| - delta/2)``.

    Convex and ``C^1`` but not ``C^2``: ``hess`` returns ``diag(1{|r| < delta})``, the Hessian
    wherever it exists (everywhere except ``|r_ij| = delta``). Implements :class:`EndToEndLoss`.

    Attributes
    ----------
    target : ndarray of shape (d_y, d_x)
        ``U`` (stored as a read-only copy).
    delta : float
        Positive threshold between the quadratic and linear parts.
    """

    target: np.ndarray
    delta: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "target", _as_target(self.target))
        object.__setattr__(self, "delta", check_positive(self.delta, "delta"))

    def __repr__(self) -> str:
        return f"HuberLoss(target shape={self.target.shape}, delta={self.delta:g})"

    def value(self, A) -> float:
        """The loss ``Σ_ij h(A_ij - U_ij)`` (see :meth:`EndToEndLoss.value`)."""
        r = np.abs(self._residual(A))
        d = self.delta
        return float(np.sum(np.where(r <= d, 0.5 * r * r, d * (r - 0.5 * d))))

    def grad(self, A) -> np.ndarray:
        """The gradient ``clip(A - U, -delta, delta)`` (see :meth:`EndToEndLoss.grad`)."""
        return np.clip(self._residual(A), -self.delta, self.delta)

    def hess(self, A) -> np.ndarray:
        """The Hessian ``diag(1{|r| < delta})``, ``r = A - U`` (see :meth:`EndToEndLoss.hess`)."""
        r = self._residual(A)
        return np.diag((np.abs(r) < self.delta).astype(float).ravel())


def _check_samples(X) -> np.ndarray:
    X = as_finite_array(X, "X", ndim=2)
    if X.shape[1] < 1:
        raise ValueError(f"X must have at least one sample (column), got shape {X.shape}")
    return X


def _placeholder_target(shape: tuple[int, int]) -> np.ndarray:
    t = np.zeros(shape)
    t.setflags(write=False)
    return t


@dataclass(frozen=True, eq=False)
class DataSquareLoss:
    """``ℓ(A) = 1/2 ||Y - A X||_F^2``: the square loss of [CLC] eq. (1) as a loss of the end-to-end map.

    Unlike :class:`SquareLoss` (whitened data) ``X`` is arbitrary, possibly rank-deficient (Remark 1
    of [CLC]). ``grad = (A X - Y) X^T``, ``hess = I ⊗ X X^T`` (C-order ``vec``). Implements
    :class:`EndToEndLoss`; ``target`` is a zero array that only fixes the shape ``(d_y, d_x)``.

    Attributes
    ----------
    X : ndarray of shape (d_x, m)
        Data.
    Y : ndarray of shape (d_y, m)
        Targets.
    """

    X: np.ndarray
    Y: np.ndarray

    def __post_init__(self):
        X = _check_samples(self.X)
        Y = as_finite_array(self.Y, "Y", ndim=2)
        if Y.shape[1] != X.shape[1]:
            raise ValueError(f"X and Y must have the same number of samples, got {X.shape} and {Y.shape}")
        object.__setattr__(self, "X", X.copy())
        object.__setattr__(self, "Y", Y.copy())
        object.__setattr__(self, "target", _placeholder_target((Y.shape[0], X.shape[0])))

    def __repr__(self) -> str:
        return f"DataSquareLoss(d_x={self.X.shape[0]}, d_y={self.Y.shape[0]}, m={self.X.shape[1]})"

    def _check(self, A) -> np.ndarray:
        A = as_finite_array(A, "A", ndim=2)
        if A.shape != self.target.shape:
            raise ValueError(f"A must have shape (d_y, d_x) = {self.target.shape}, got {A.shape}")
        return A

    def value(self, A) -> float:
        """The loss ``1/2 ||Y - A X||_F^2`` (see :meth:`EndToEndLoss.value`)."""
        r = self.Y - self._check(A) @ self.X
        return 0.5 * float(np.sum(r * r))

    def grad(self, A) -> np.ndarray:
        """The gradient ``(A X - Y) X^T`` (see :meth:`EndToEndLoss.grad`)."""
        return (self._check(A) @ self.X - self.Y) @ self.X.T

    def hess(self, A) -> np.ndarray:
        """The Hessian ``I_{d_y} ⊗ X X^T`` (see :meth:`EndToEndLoss.hess`)."""
        self._check(A)
        return np.kron(np.eye(self.Y.shape[0]), self.X @ self.X.T)


@dataclass(frozen=True, eq=False)
class SoftmaxCrossEntropyLoss:
    """Softmax cross-entropy with one-hot targets, optionally with weight decay on the end-to-end map.

    ``ℓ(A) = Σ_j [log Σ_c exp((A x_j)_c) - (A x_j)_{y_j}] + λ/2 ||A||_F^2`` for samples ``x_j`` (columns
    of ``X``) with labels ``y_j``; ``grad = (softmax(A X) - Y_onehot) X^T + λ A`` and
    ``hess = Σ_j (diag(p_j) - p_j p_j^T) ⊗ x_j x_j^T + λ I``. Remark 3 of [CLC]: the invariants of
    Lemma 2.3 are conserved by the gradient flow of ``ℓ ∘ μ`` for any such ``ℓ``. Implements
    :class:`EndToEndLoss`; ``target`` is a zero array that only fixes the shape ``(n_classes, d_x)``.

    Attributes
    ----------
    X : ndarray of shape (d_x, m)
        Data.
    labels : ndarray of shape (m,)
        Integer labels in ``0 .. n_classes - 1``.
    n_classes : int
        Number of classes ``d_y >= 2``.
    weight_decay : float
        ``λ >= 0``.
    """

    X: np.ndarray
    labels: np.ndarray
    n_classes: int
    weight_decay: float = 0.0

    def __post_init__(self):
        X = _check_samples(self.X)
        lab = np.asarray(self.labels)
        k = check_positive(self.n_classes, "n_classes", integer=True)
        if k < 2:
            raise ValueError(f"n_classes must be >= 2, got {k}")
        if lab.shape != (X.shape[1],) or not np.issubdtype(lab.dtype, np.integer):
            raise ValueError(f"labels must be {X.shape[1]} integers (one per column of X), got {lab.shape} {lab.dtype}")
        if lab.min() < 0 or lab.max() >= k:
            raise ValueError(f"labels must lie in 0..{k - 1}, got range [{lab.min()}, {lab.max()}]")
        lam = float(self.weight_decay)
        if not np.isfinite(lam) or lam < 0:
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        object.__setattr__(self, "X", X.copy())
        object.__setattr__(self, "labels", lab.astype(int).copy())
        object.__setattr__(self, "n_classes", k)
        object.__setattr__(self, "weight_decay", lam)
        object.__setattr__(self, "target", _placeholder_target((k, X.shape[0])))

    def __repr__(self) -> str:
        return (
            f"SoftmaxCrossEntropyLoss(d_x={self.X.shape[0]}, n_classes={self.n_classes}, m={self.X.shape[1]}, "
            f"weight_decay={self.weight_decay:g})"
        )

    @property
    def onehot(self) -> np.ndarray:
        """One-hot targets of shape ``(n_classes, m)``."""
        out = np.zeros((self.n_classes, self.X.shape[1]))
        out[self.labels, np.arange(self.X.shape[1])] = 1.0
        return out

    def _logits(self, A) -> np.ndarray:
        A = as_finite_array(A, "A", ndim=2)
        if A.shape != self.target.shape:
            raise ValueError(f"A must have shape (n_classes, d_x) = {self.target.shape}, got {A.shape}")
        return A @ self.X

    def _probs(self, z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=0, keepdims=True))
        return e / e.sum(axis=0, keepdims=True)

    def value(self, A) -> float:
        """The loss (see :meth:`EndToEndLoss.value`)."""
        z = self._logits(A)
        zmax = z.max(axis=0)
        lse = zmax + np.log(np.sum(np.exp(z - zmax), axis=0))
        ce = float(np.sum(lse - z[self.labels, np.arange(z.shape[1])]))
        return ce + 0.5 * self.weight_decay * float(np.sum(np.asarray(A) ** 2))

    def grad(self, A) -> np.ndarray:
        """The gradient ``(softmax(A X) - Y) X^T + λ A`` (see :meth:`EndToEndLoss.grad`)."""
        z = self._logits(A)
        return (self._probs(z) - self.onehot) @ self.X.T + self.weight_decay * np.asarray(A, dtype=float)

    def hess(self, A) -> np.ndarray:
        """The Hessian ``Σ_j (diag p_j - p_j p_j^T) ⊗ x_j x_j^T + λ I`` (see :meth:`EndToEndLoss.hess`)."""
        p = self._probs(self._logits(A))  # (k, m)
        k, dx = self.target.shape
        cov = np.einsum("cj,ce->jce", p, np.eye(k)) - np.einsum("cj,ej->jce", p, p)  # (m, k, k)
        xx = np.einsum("aj,bj->jab", self.X, self.X)  # (m, d_x, d_x)
        h = np.einsum("jce,jab->caeb", cov, xx).reshape(k * dx, k * dx)
        return h + self.weight_decay * np.eye(k * dx)


# --------------------------------------------------------------------------- composite functions


def _check_loss(ws: list[np.ndarray], ell) -> None:
    if not isinstance(ell, EndToEndLoss):
        raise TypeError(
            f"ell must have value/grad/hess methods and a target (an EndToEndLoss), got {type(ell).__name__}"
        )
    shape = (ws[-1].shape[0], ws[0].shape[1])
    if tuple(ell.target.shape) != shape:
        raise ValueError(
            f"the network maps R^{shape[1]} to R^{shape[0]}, so ell needs a target of shape {shape} (d_y, d_x), "
            f"got {tuple(ell.target.shape)}"
        )


def _validated(weights, ell) -> list[np.ndarray]:
    ws = as_weights(weights)
    _check_loss(ws, ell)
    return ws


def composite_loss(weights: Sequence, ell: EndToEndLoss) -> float:
    """Composite loss ``L(W) = ℓ(W_{N:1})`` ([TKB]; see the Mathematical notes, "Pure and spurious critical points").

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    ell : EndToEndLoss
        The loss of the end-to-end matrix, with target of shape ``(d_N, d_0)``.

    Returns
    -------
    float
        ``L(W)``.

    Raises
    ------
    TypeError, ValueError
        Invalid weights, or ``ell`` not an :class:`EndToEndLoss` with a target of shape ``(d_N, d_0)``.
    """
    ws = _validated(weights, ell)
    return float(ell.value(_end_to_end(ws)))


def composite_gradient(weights: Sequence, ell: EndToEndLoss) -> list[np.ndarray]:
    """Gradient of ``ℓ ∘ μ``: ``∇_{W_i} L = W_{N:i+1}^T G W_{i-1:1}^T``, ``G = ℓ'(W_{N:1})``.

    The chain rule with ``dμ(W)[Δ] = Σ_i W_{N:i+1} Δ_i W_{i-1:1}``; for :class:`SquareLoss` it is
    :func:`dlnlib.model.gradient` with ``X = I``, ``Y = U`` (see the Mathematical notes, "Notation").

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    ell : EndToEndLoss
        The loss of the end-to-end matrix, with target of shape ``(d_N, d_0)``.

    Returns
    -------
    list of ndarray
        ``[∇_{W_1} L, ..., ∇_{W_N} L]``, shaped like ``weights``.

    Raises
    ------
    TypeError, ValueError
        Invalid weights, or ``ell`` not an :class:`EndToEndLoss` with a target of shape ``(d_N, d_0)``.
    """
    ws = _validated(weights, ell)
    return _gradient_from_e(ws, ell.grad(_end_to_end(ws)))


def _hessian_trusted(ws: list[np.ndarray], ell) -> np.ndarray:
    n = len(ws)
    d = dims_of(ws)
    off = _offsets(d)
    prod = _products(ws)
    pre, suf = prod.pre, prod.suf  # pre[i] = W_{i:1}, suf[i] = W_{N:i+1}
    A = pre[-1]
    G = ell.grad(A)
    H = ell.hess(A)
    # Gauss-Newton part J^T H_ell J, J_i = W_{N:i+1} ⊗ W_{i-1:1}^T (C-order vec of W_{N:i+1} Δ_i W_{i-1:1})
    J = np.concatenate([np.kron(suf[i + 1], pre[i].T) for i in range(n)], axis=1)
    hess = J.T @ H @ J
    # second-order part <G, d²μ[Δ, Δ]>: the residual blocks of the Mathematical notes, "The Hessian and the landscape"
    # with X = I and R -> G
    for j in range(2, n + 1):  # 1-based layer indices, i < j
        for i in range(1, j):
            blk = _second_order_block(ws, prod, G.T, i, j).reshape(d[j] * d[j - 1], d[i] * d[i - 1])
            hess[off[j - 1] : off[j], off[i - 1] : off[i]] += blk
            hess[off[i - 1] : off[i], off[j - 1] : off[j]] += blk.T
    return hess


def composite_hessian(weights: Sequence, ell: EndToEndLoss) -> np.ndarray:
    """Exact Hessian of ``L = ℓ ∘ μ`` in the flat parameterization ``concat(W_1.ravel(), ...)``.

    ``D²L[Δ, Δ] = D²ℓ(A)[F_1, F_1] + 2 <G, F_2>`` with ``A = W_{N:1}``, ``G = ℓ'(A)``,
    ``F_1 = Σ_i W_{N:i+1} Δ_i W_{i-1:1}`` and ``F_2 = Σ_{i<j} W_{N:j+1} Δ_j W_{j-1:i+1} Δ_i W_{i-1:1}``:
    the Gauss–Newton part ``J^T ∇²ℓ(A) J`` with ``J_i = W_{N:i+1} ⊗ W_{i-1:1}^T``, plus, for ``i < j``,
    the block ``H_{ji}[(b,c),(e,a)] = M_{ab} B_{ce}``, ``M = W_{i-1:1} G^T W_{N:j+1}``,
    ``B = W_{j-1:i+1}`` (and ``H_{ij} = H_{ji}^T``). This is the Mathematical notes, "The Hessian and the landscape"
    with ``X = I`` and the residual ``R = W_{N:1} X - Y`` (the gradient of the square loss, same sign) replaced by
    ``G``.

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    ell : EndToEndLoss
        The loss of the end-to-end matrix, with target of shape ``(d_N, d_0)``.

    Returns
    -------
    ndarray of shape (P, P)
        Symmetric, ``P = Σ d_i d_{i-1}``.

    Raises
    ------
    TypeError, ValueError
        Invalid weights, or ``ell`` not an :class:`EndToEndLoss` with a target of shape ``(d_N, d_0)``.
    dlnlib.memory.DenseMemoryError
        When the ``P x P`` result does not fit in the memory budget (:mod:`dlnlib.memory`).
    """
    ws = _validated(weights, ell)
    memory.check_dense_memory(
        "composite_hessian", sum(w.size for w in ws), nbytes=memory.dense_bytes(sum(w.size for w in ws), "hessian")
    )
    return _hessian_trusted(ws, ell)


@dataclass(frozen=True)
class CompositeFlow:
    """A gradient-flow trajectory of ``ℓ ∘ μ`` (+ layer-wise weight decay) (:func:`composite_flow`).

    Attributes
    ----------
    t : ndarray of shape (n_t,)
        Recorded times.
    weights : list of ndarray
        ``W_i(t)`` stacked over time: shape ``(n_t, d_i, d_{i-1})``.
    loss : ndarray of shape (n_t,)
        ``ℓ(W_{N:1}(t)) + layer_decay/2 Σ_i ||W_i(t)||^2``.
    invariants : list of ndarray
        ``C_i(t) = W_{i+1}^T W_{i+1} - W_i W_i^T`` stacked over time, shape ``(n_t, d_i, d_i)``.
    status : int
        ``solve_ivp`` status (0: reached ``t_max``).
    """

    t: np.ndarray
    weights: list[np.ndarray] = field(repr=False)
    loss: np.ndarray = field(repr=False)
    invariants: list[np.ndarray] = field(repr=False)
    status: int = 0

    def invariant_drift(self) -> np.ndarray:
        """``max_i ||C_i(t) - C_i(0)||_F`` at each recorded time, shape ``(n_t,)``."""
        if not self.invariants:
            return np.zeros(self.t.size)
        return np.max([np.linalg.norm(c - c[:1], axis=(1, 2)) for c in self.invariants], axis=0)


def composite_flow(
    weights0: Sequence,
    ell: EndToEndLoss,
    t_max: float,
    *,
    layer_decay: float = 0.0,
    t_eval=None,
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> CompositeFlow:
    """Gradient flow of ``L(W) = ℓ(W_{N:1}) + layer_decay/2 Σ_i ||W_i||_F^2`` (``solve_ivp``, DOP853).

    Remark 3 of [CLC]: for any differentiable ``ℓ`` the identity ``W_{i+1}^T ∇_{W_{i+1}} = ∇_{W_i} W_i^T``
    holds, so the invariants ``C_i`` of Lemma 2.3 are conserved when ``layer_decay = 0``; weight decay on
    the *layers* adds ``-2 layer_decay C_i`` to ``dC_i/dt``, so ``C_i(t) = exp(-2 layer_decay t) C_i(0)``
    (weight decay on the end-to-end map belongs to ``ℓ`` and keeps the ``C_i``).

    Parameters
    ----------
    weights0 : list of ndarray
        ``[W_1, ..., W_N]``.
    ell : EndToEndLoss
        Loss of the end-to-end map (e.g. :class:`SoftmaxCrossEntropyLoss`, :class:`DataSquareLoss`).
    t_max : float
        Positive horizon.
    layer_decay : float, optional
        Keyword-only. Weight decay ``>= 0`` on every layer.
    t_eval : array_like or None, optional
        Keyword-only. Increasing recording times in ``[0, t_max]`` (default: 101 equally spaced).
    rtol, atol : float, optional
        Keyword-only. Tolerances of ``solve_ivp``.

    Returns
    -------
    CompositeFlow
        The trajectory.

    Raises
    ------
    TypeError, ValueError
        Invalid weights, loss or parameters.
    RuntimeError
        If the integration fails.
    """
    from scipy.integrate import solve_ivp

    ws0 = _validated(weights0, ell)
    t_max = check_positive(t_max, "t_max")
    lam = float(layer_decay)
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"layer_decay must be a finite number >= 0, got {layer_decay!r}")
    if t_eval is None:
        t_eval = np.linspace(0.0, t_max, 101)
    t_eval = as_finite_array(t_eval, "t_eval", ndim=1)
    if t_eval.size == 0 or t_eval[0] < 0 or t_eval[-1] > t_max or np.any(np.diff(t_eval) <= 0):
        raise ValueError(f"t_eval must be increasing within [0, t_max={t_max}]")
    d = dims_of(ws0)

    def rhs(_t, y):
        ws = _unflat(y, d)
        return -_flat(_gradient_from_e(ws, ell.grad(_end_to_end(ws)))) - lam * y

    sol = solve_ivp(rhs, (0.0, t_max), _flat(ws0), method="DOP853", t_eval=t_eval, rtol=rtol, atol=atol)
    if sol.status < 0:
        raise RuntimeError(f"composite_flow: solve_ivp failed: {sol.message}")
    wst = _unflat(np.ascontiguousarray(sol.y.T), d)
    lossv = np.array([ell.value(_end_to_end([w[k] for w in wst])) for k in range(sol.t.size)])
    lossv = lossv + 0.5 * lam * np.sum(sol.y * sol.y, axis=0)
    invs = [np.swapaxes(wst[i + 1], 1, 2) @ wst[i + 1] - wst[i] @ np.swapaxes(wst[i], 1, 2) for i in range(len(d) - 2)]
    return CompositeFlow(t=sol.t, weights=[w.copy() for w in wst], loss=lossv, invariants=invs, status=int(sol.status))


# --------------------------------------------------------------------------- pure / spurious


def is_filling(dims) -> bool:
    """Whether the widths ``(d_0, ..., d_N)`` are *filling* ([TKB]; see the Mathematical notes, "Pure and spurious
    critical points").

    Filling: ``r_max = min(d_0, ..., d_N)`` equals ``min(d_x, d_y)``, so every ``d_y x d_x``
    matrix is some ``W_{N:1}``; otherwise the functional space is the determinantal variety
    ``{rank <= r_max}``.

    Parameters
    ----------
    dims : sequence of int
        Widths ``(d_0, ..., d_N)``.

    Returns
    -------
    bool
        Whether the widths are filling.
    """
    d = _check_dims(dims)
    return min(d) == min(d[0], d[-1])


def _rank_and_bases(A: np.ndarray, rank_tol: float) -> tuple[int, np.ndarray, np.ndarray]:
    u, s, vt = np.linalg.svd(A)
    k = int(np.sum(s > rank_tol * max(1.0, float(s[0]) if s.size else 0.0)))
    return k, u[:, :k], vt[:k].T


def _end_to_end_and_grad_norm(ws: list[np.ndarray], ell) -> tuple[np.ndarray, np.ndarray, float]:
    """``A = W_{N:1}``, ``G = ℓ'(A)`` and ``||∇L||_F`` of ``L = ℓ ∘ μ`` (trusted input)."""
    A = _end_to_end(ws)
    G = ell.grad(A)
    return A, G, float(np.linalg.norm(_flat(_gradient_from_e(ws, G))))


def classify_pure_spurious(
    weights: Sequence,
    ell: EndToEndLoss,
    *,
    tol: float = 1e-6,
    rank_tol: float = 1e-6,
) -> str:
    """Classify a critical point of ``L = ℓ ∘ μ`` as ``"pure"`` or ``"spurious"`` ([TKB]; see the Mathematical notes,
    "Pure and spurious critical points").

    **Definition used.** ``W`` is *pure* if ``A = μ(W) = W_{N:1}`` is a critical point of ``ℓ``
    restricted to the functional space ``M_r = {rank <= r_max}``, in the sense that the derivative
    of ``ℓ`` vanishes along every smooth curve in ``M_r`` through ``A``, i.e. ``G = ℓ'(A)`` is
    orthogonal to the tangent cone of ``M_r`` at ``A``; *spurious* otherwise. Concretely, with
    ``k = rank A`` and ``P_U``, ``P_V`` the projectors on the column and row spaces of ``A``:

    * ``k = r_max``: ``A`` is a smooth point of ``M_r`` (or an interior point when filling), with
      tangent space ``{Z : (I - P_U) Z (I - P_V) = 0}``; pure iff ``P_U G = 0`` and ``G P_V = 0``.
      This always holds at a critical point of ``L`` (see the Mathematical notes, "Pure and spurious critical points":
      ``∇_{W_1} L`` and ``∇_{W_N} L`` alone force it), so critical points of maximal rank are pure.
    * ``k < r_max``: the curves ``A + tZ``, ``rank Z <= r_max - k``, stay in ``M_r`` and rank-one
      ``Z`` span everything, so pure iff ``G = 0`` (``A`` is an unconstrained critical point of
      ``ℓ``). For the square loss this gives the Mathematical notes, "Pure and spurious critical points":
      ``|S| = r_max`` pure, ``|S| < r_max`` spurious (the rank can still be increased).

    The weaker reading "``A`` critical for ``ℓ`` on the manifold of matrices of its *own* rank
    ``k``" would make *every* critical point pure (``P_U G = 0`` and ``G P_V = 0`` follow from
    ``∇_{W_1} L = ∇_{W_N} L = 0`` whatever ``k``), so it is not the definition used.

    Parameters
    ----------
    weights : list of ndarray
        A critical point ``[W_1, ..., W_N]`` of ``ℓ ∘ μ``.
    ell : EndToEndLoss
        The loss of the end-to-end matrix.
    tol : float, optional
        Keyword-only. ``W`` must satisfy ``||∇L||_F <= tol`` and the test above is
        ``||part of G that must vanish||_F <= tol``.
    rank_tol : float, optional
        Keyword-only. Singular values above ``rank_tol * max(1, s_1)`` count for ``rank A``.

    Returns
    -------
    str
        ``"pure"`` or ``"spurious"``.

    Raises
    ------
    ValueError
        If ``W`` is not a critical point (``||∇L||_F > tol``).
    """
    ws = _validated(weights, ell)
    tol = check_positive(tol, "tol")
    rank_tol = check_positive(rank_tol, "rank_tol")
    A, G, gnorm = _end_to_end_and_grad_norm(ws, ell)
    if gnorm > tol:
        raise ValueError(
            f"pure/spurious is defined for critical points of L = ell(W_N...W_1) only; "
            f"expected ||grad L||_F <= tol = {tol:g}, got {gnorm:.3e}"
        )
    r_max = min(dims_of(ws))
    k, U, V = _rank_and_bases(A, rank_tol)
    if k >= r_max:
        tangent_part = U @ (U.T @ G) + (G @ V) @ V.T - U @ (U.T @ G @ V) @ V.T
    else:
        tangent_part = G
    return "pure" if float(np.linalg.norm(tangent_part)) <= tol else "spurious"


@dataclass(frozen=True)
class VarietyStationarity:
    """First-order stationarity of ``ℓ`` on ``M_r = {rank <= r_max}`` at ``A`` (:func:`variety_stationarity`).

    Attributes
    ----------
    rank : int
        ``k = rank A``.
    r_max : int
        The rank bound of the variety.
    tangent_norm : float
        ``||P_T(G)||_F``, ``P_T(G) = P_U G + G P_V - P_U G P_V``: the part of ``G = ℓ'(A)`` in the
        tangent space at ``A`` of the manifold of rank-``k`` matrices.
    normal_norm : float
        Frobenius norm of the best rank-``(r_max - k)`` approximation of the normal part
        ``(I - P_U) G (I - P_V)`` (the square root of the sum of its ``r_max - k`` largest squared
        singular values; 0 when ``k = r_max``).
    projected_norm : float
        ``sqrt(tangent_norm^2 + normal_norm^2)``: the norm of the projection of ``-G`` onto the
        tangent cone of ``M_r`` at ``A``, i.e. the steepest first-order rate of decrease of ``ℓ``
        along curves in ``M_r`` through ``A``. Zero iff ``A`` is first-order critical for
        ``ℓ|_{M_r}``.
    direction : ndarray of shape A.shape
        A unit tangent-cone direction ``Z`` with ``<G, Z> = -projected_norm`` (zeros if
        ``projected_norm == 0``). When the tangent part vanishes (as at every critical point of
        ``ℓ ∘ μ``), ``Z`` has rank ``<= r_max - k`` and the straight line ``A + t Z`` stays in
        ``M_r``; otherwise follow ``Z`` with a retraction.
    """

    rank: int
    r_max: int
    tangent_norm: float
    normal_norm: float
    projected_norm: float
    direction: np.ndarray = field(repr=False)


def variety_stationarity(A, G, r_max: int, *, rank_tol: float = 1e-6) -> VarietyStationarity:
    """Project the gradient ``G = ℓ'(A)`` onto the tangent cone of ``M_r = {rank <= r_max}`` at ``A``.

    A check of "pure / spurious" ([TKB]; see the Mathematical notes, Pure and spurious critical
    points) that works on the end-to-end matrix alone, without the weights: ``A`` is a critical
    point of ``ℓ`` restricted to the determinantal variety iff this projection vanishes. With
    ``A = U S V^T`` of rank ``k`` and ``P_U = U U^T``, ``P_V = V V^T``, the tangent cone of ``M_r``
    at ``A`` is ``T_A M_k ⊕ {N : P_U N = 0, N P_V = 0, rank N <= r_max - k}`` (Schneider and
    Uschmajew, SIAM J. Optim. 2015), where ``T_A M_k = {U B + C V^T}`` has the orthogonal
    projection ``P_T(G) = P_U G + G P_V - P_U G P_V``. The projection of ``G`` onto the cone is
    ``P_T(G)`` plus the best rank-``(r_max - k)`` approximation of ``(I - P_U) G (I - P_V)``.

    Parameters
    ----------
    A : ndarray of shape (d_y, d_x)
        The end-to-end matrix, of rank ``<= r_max``.
    G : ndarray of shape (d_y, d_x)
        The gradient ``ℓ'(A)``.
    r_max : int
        The rank bound, ``1 <= r_max``.
    rank_tol : float, optional
        Keyword-only. Singular values of ``A`` above ``rank_tol * max(1, s_1)`` count for its rank.

    Returns
    -------
    VarietyStationarity
        The norms of the tangent and normal parts and a steepest-descent cone direction.

    Raises
    ------
    ValueError
        If shapes differ, ``r_max < 1`` or ``rank A > r_max``.
    """
    A = as_finite_array(A, "A", ndim=2)
    G = as_finite_array(G, "G", ndim=2)
    if G.shape != A.shape:
        raise ValueError(f"G must have the shape of A, {A.shape}; got {G.shape}")
    if isinstance(r_max, bool) or not isinstance(r_max, (int, np.integer)) or r_max < 1:
        raise ValueError(f"r_max must be an integer >= 1, got {r_max!r}")
    rank_tol = check_positive(rank_tol, "rank_tol")
    k, U, V = _rank_and_bases(A, rank_tol)
    if k > r_max:
        raise ValueError(f"A must have rank <= r_max = {r_max}; its numerical rank is {k}")
    tangent = U @ (U.T @ G) + (G @ V) @ V.T - U @ (U.T @ G @ V) @ V.T
    normal = G - tangent
    u, s, vt = np.linalg.svd(normal)
    m = min(r_max - k, s.size)
    normal_part = (u[:, :m] * s[:m]) @ vt[:m]
    proj = tangent + normal_part
    pn = float(np.linalg.norm(proj))
    direction = -proj / pn if pn > 0 else np.zeros_like(A)
    return VarietyStationarity(
        rank=k,
        r_max=int(r_max),
        tangent_norm=float(np.linalg.norm(tangent)),
        normal_norm=float(np.linalg.norm(normal_part)),
        projected_norm=pn,
        direction=direction,
    )


# --------------------------------------------------------------------------- local minima


def symmetry_tangent_space(weights: Sequence) -> np.ndarray:
    """Orthonormal basis of the tangent space at ``W`` of its orbit under the rescaling symmetry.

    The group ``Π_{i=1}^{N-1} GL(d_i)`` acts by ``W_i -> G_i W_i``, ``W_{i+1} -> W_{i+1} G_i^{-1}``
    and leaves ``W_{N:1}``, hence any ``ℓ ∘ μ``, invariant (see the Mathematical notes, "Critical points and critical
    values"). The orbit's tangent vectors are ``δW_i = ξ_i W_i - W_i ξ_{i-1}`` for ``ξ_i ∈ gl(d_i)``
    (``ξ_0 = ξ_N = 0``).

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.

    Returns
    -------
    ndarray of shape (P, s)
        Orthonormal columns, ``s`` = dimension of the orbit at ``W``.
    """
    ws = as_weights(weights)
    d = dims_of(ws)
    n = len(ws)
    cols = []
    for h in range(1, n):  # hidden layer h, between W_h and W_{h+1} (1-based)
        for a in range(d[h]):
            for b in range(d[h]):
                vs = [np.zeros_like(w) for w in ws]
                vs[h - 1][a, :] += ws[h - 1][b, :]  # E_ab W_h
                vs[h][:, b] -= ws[h][:, a]  # - W_{h+1} E_ab
                cols.append(_flat(vs))
    p = sum(w.size for w in ws)
    if not cols:
        return np.zeros((p, 0))
    T = np.array(cols).T
    u, s, _ = np.linalg.svd(T, full_matrices=False)
    scale = max(1.0, float(s[0]) if s.size else 0.0)
    k = int(np.sum(s > 1e-10 * scale))
    return u[:, :k]


@dataclass(frozen=True)
class LocalMinimumCertificate:
    """Second-order certificate of a local minimum modulo the rescaling symmetry (see the Mathematical notes, "Pure and
    spurious critical points").

    Attributes
    ----------
    value : float
        ``L(W) = ℓ(W_{N:1})``.
    grad_norm : float
        ``||∇L(W)||_F``.
    hessian_eigenvalues : ndarray of shape (P,)
        Eigenvalues of the exact Hessian (ascending).
    kernel_dimension : int
        Number of eigenvalues with ``|λ| <= eig_tol``.
    symmetry_dimension : int
        Dimension of the tangent space of the ``GL`` orbit (the kernel directions
        explained by the symmetry ``(W_i, W_{i+1}) -> (G W_i, W_{i+1} G^{-1})``).
    min_normal_eigenvalue : float
        Smallest eigenvalue of the Hessian restricted to the orthogonal
        complement of the orbit tangent (``+inf`` if that complement is ``{0}``).
    eig_tol : float
        Tolerance used for eigenvalues (``tol * max(1, max |λ|)``).
    is_strict_local_min_modulo_symmetry : bool
        ``grad_norm <= tol`` and ``min_normal_eigenvalue > eig_tol``.
    """

    value: float
    grad_norm: float
    hessian_eigenvalues: np.ndarray = field(repr=False)
    kernel_dimension: int
    symmetry_dimension: int
    min_normal_eigenvalue: float
    eig_tol: float
    is_strict_local_min_modulo_symmetry: bool


def certify_local_minimum(weights: Sequence, ell: EndToEndLoss, *, tol: float = 1e-6) -> LocalMinimumCertificate:
    """Certify ``W`` as a local minimum of ``ℓ ∘ μ`` modulo the ``GL`` rescaling symmetry.

    At a critical point the Hessian vanishes on the tangent ``T`` of the symmetry orbit (the
    gradient is equivariant and zero along the orbit). If it is positive definite on ``T^⊥``, the
    critical set is, near ``W``, the orbit itself and is non-degenerate in the Morse–Bott sense,
    so ``W`` is a local minimum, strict transversally to the orbit. This is how the bad minimum of
    the Mathematical notes, "Pure and spurious critical points" ([TKB], non-filling widths, log-cosh loss) is certified.

    Parameters
    ----------
    weights : list of ndarray
        Candidate ``[W_1, ..., W_N]``.
    ell : EndToEndLoss
        The loss of the end-to-end matrix.
    tol : float, optional
        Keyword-only. Gradient tolerance and relative eigenvalue tolerance.

    Returns
    -------
    LocalMinimumCertificate
        The second-order certificate.

    Raises
    ------
    TypeError, ValueError
        Invalid weights, or ``ell`` not an :class:`EndToEndLoss` with a target of shape ``(d_N, d_0)``.
    """
    ws = _validated(weights, ell)
    tol = check_positive(tol, "tol")
    A, _, gnorm = _end_to_end_and_grad_norm(ws, ell)
    H = _hessian_trusted(ws, ell)
    eigs = np.linalg.eigvalsh(H)
    eig_tol = tol * max(1.0, float(np.max(np.abs(eigs))))
    T = symmetry_tangent_space(ws)
    # orthonormal basis of T^⊥
    if T.shape[1]:
        q, _ = np.linalg.qr(np.concatenate([T, np.eye(H.shape[0])], axis=1))
        Q = q[:, T.shape[1] : H.shape[0]]
    else:
        Q = np.eye(H.shape[0])
    min_normal = float(np.linalg.eigvalsh(Q.T @ H @ Q)[0]) if Q.shape[1] else float("inf")
    return LocalMinimumCertificate(
        value=float(ell.value(A)),
        grad_norm=gnorm,
        hessian_eigenvalues=eigs,
        kernel_dimension=int(np.sum(np.abs(eigs) <= eig_tol)),
        symmetry_dimension=int(T.shape[1]),
        min_normal_eigenvalue=min_normal,
        eig_tol=eig_tol,
        is_strict_local_min_modulo_symmetry=bool(gnorm <= tol and min_normal > eig_tol),
    )


@dataclass(frozen=True)
class LocalMinimaSearch:
    """Distinct local-minimum values found by multistart quasi-Newton (:func:`local_minima_search`).

    Attributes
    ----------
    values : ndarray
        Distinct values of the certified local minima, ascending.
    counts : ndarray of int
        Number of starts ending at each value.
    minima : list of list of ndarray
        One representative ``[W_1, ..., W_N]`` per value (the first start that reached it).
    seeds : ndarray of int
        Index of the start (child ``j`` of ``rng.spawn(n_starts)``) of each representative.
    certificates : list of LocalMinimumCertificate
        Certificate of each representative.
    kinds : tuple of str
        ``"pure"`` / ``"spurious"`` for each representative (:func:`classify_pure_spurious`).
    final_values : ndarray of shape (n_starts,)
        Final value of every start.
    certified : ndarray of bool, shape (n_starts,)
        Whether that endpoint was certified a local minimum modulo symmetry.
    n_uncertified : int
        Starts whose endpoint was not certified (saddle, or not converged).
    filling : bool
        Whether the widths are filling.
    """

    values: np.ndarray
    counts: np.ndarray
    minima: list[list[np.ndarray]] = field(repr=False)
    seeds: np.ndarray = field(repr=False)
    certificates: list[LocalMinimumCertificate] = field(repr=False)
    kinds: tuple[str, ...]
    final_values: np.ndarray = field(repr=False)
    certified: np.ndarray = field(repr=False)
    n_uncertified: int
    filling: bool

    @property
    def global_value(self) -> float:
        """Smallest value found."""
        return float(self.values[0])

    @property
    def bad_values(self) -> np.ndarray:
        """Values of the non-global local minima found."""
        return self.values[1:]


def _rescale_layers(ws: list[np.ndarray]) -> list[np.ndarray]:
    """``W_i -> c_i W_i`` with ``Π c_i = 1`` and equal Frobenius norms (``W_{N:1}`` unchanged)."""
    norms = np.array([np.linalg.norm(w) for w in ws])
    if np.any(norms == 0):
        return ws
    target = np.exp(np.mean(np.log(norms)))
    return [w * (target / nw) for w, nw in zip(ws, norms)]


def _minimize(x0, dims, ell, method, gtol, maxiter):
    def fun(x):
        ws = _unflat(x, dims)
        A = _end_to_end(ws)
        return float(ell.value(A)), _flat(_gradient_from_e(ws, ell.grad(A)))

    opts = {"gtol": gtol, "maxiter": maxiter}
    return minimize(fun, x0, jac=True, method=method, options=opts)


def _newton_polish(x: np.ndarray, dims, ell, n_steps: int = 4) -> np.ndarray:
    """A few Newton steps on the flattened weights, each kept only if it lowers the gradient norm.

    BFGS stops once its line search loses precision, with gradients of about ``1e-8`` whose exact
    size depends on the floating-point details of the machine; Newton's method with the exact
    Hessian converges quadratically from there. The Hessian is singular along the symmetry orbit,
    so the step is the least-squares (minimum-norm) solution, which moves transversally to the orbit.
    """

    def grad(xx):
        ws = _unflat(xx, dims)
        return _flat(_gradient_from_e(ws, ell.grad(_end_to_end(ws))))

    g = grad(x)
    for _ in range(n_steps):
        H = _hessian_trusted(_unflat(x, dims), ell)
        x_new = x - np.linalg.lstsq(H, g, rcond=1e-12)[0]
        g_new = grad(x_new)
        if not np.linalg.norm(g_new) < np.linalg.norm(g):
            break
        x, g = x_new, g_new
    return x


def local_minima_search(
    dims,
    ell: EndToEndLoss,
    rng,
    n_starts: int,
    *,
    scale: float = 1.0,
    method: str = "BFGS",
    gtol: float = 1e-10,
    maxiter: int = 10_000,
    value_tol: float = 1e-7,
    tol: float = 1e-6,
) -> LocalMinimaSearch:
    """Multistart search for the local minima of ``ℓ ∘ μ`` (see the Mathematical notes, "Pure and spurious critical
    points"; [TKB]).

    Start ``j`` is :func:`dlnlib.model.random_weights` ``(dims, child_j, scale=scale)`` with
    ``child_j`` the ``j``-th child of ``rng.spawn(n_starts)`` (so start ``j`` does not depend on
    ``n_starts``); each is minimized by :func:`scipy.optimize.minimize` on the flattened weights
    with the exact gradient (:func:`composite_gradient`), then the layers are rescaled to equal
    norms (``W_i -> c_i W_i``, ``Π c_i = 1``, a symmetry) and the minimization is polished once, since
    runs can drift along the non-compact symmetry orbit to badly scaled weights, then refined by a few Newton
    steps with the exact Hessian (BFGS alone stops at gradients of about ``1e-8``). Endpoints are certified with
    :func:`certify_local_minimum` (saddles and unconverged runs are discarded) and their values
    clustered: two values belong to the same minimum if they differ by at most
    ``value_tol * max(1, |v|)``.

    Parameters
    ----------
    dims : sequence of int
        Widths ``(d_0, ..., d_N)``.
    ell : EndToEndLoss
        Loss with target of shape ``(d_N, d_0)``.
    rng : numpy.random.Generator or int
        Source of randomness.
    n_starts : int
        Number of random starts.
    scale : float, optional
        Keyword-only. Initialization scale.
    method : {"BFGS", "L-BFGS-B"}, optional
        Keyword-only. Passed to :func:`scipy.optimize.minimize`.
    gtol : float, optional
        Keyword-only. Gradient tolerance passed to :func:`scipy.optimize.minimize`.
    maxiter : int, optional
        Keyword-only. Iteration cap passed to :func:`scipy.optimize.minimize`.
    value_tol : float, optional
        Keyword-only. Relative tolerance for merging minimum values.
    tol : float, optional
        Keyword-only. Certification tolerance (:func:`certify_local_minimum`).

    Returns
    -------
    LocalMinimaSearch
        The distinct minima found.

    Raises
    ------
    TypeError, ValueError
        Invalid ``dims``, ``ell`` (target shape) or parameters.

    Examples
    --------
    The bad minimum of the Mathematical notes, "Pure and spurious critical points" (widths (2,1,2),
    ``U = diag(1, 0.8)``, ``Λ = [[1, 20], [20, 1]]``): values ``log cosh 0.8`` (global) and ``log cosh 1`` (bad, pure).

    >>> import numpy as np
    >>> ell = WeightedLogCoshLoss(np.diag([1.0, 0.8]), np.array([[1.0, 20.0], [20.0, 1.0]]))
    >>> res = local_minima_search((2, 1, 2), ell, 0, 20)
    >>> np.round(res.values, 6).tolist(), res.kinds
    ([0.290754, 0.433781], ('pure', 'pure'))
    """
    d = _check_dims(dims)
    if not isinstance(ell, EndToEndLoss):
        raise TypeError(f"ell must be an EndToEndLoss (value/grad/hess and target), got {type(ell).__name__}")
    if tuple(ell.target.shape) != (d[-1], d[0]):
        raise ValueError(f"dims = {d} need a target of shape {(d[-1], d[0])} (d_N, d_0), got {tuple(ell.target.shape)}")
    n_starts = check_positive(n_starts, "n_starts", integer=True)
    scale = check_positive(scale, "scale")
    gtol = check_positive(gtol, "gtol")
    maxiter = check_positive(maxiter, "maxiter", integer=True)
    value_tol = check_positive(value_tol, "value_tol")
    tol = check_positive(tol, "tol")
    if method not in ("BFGS", "L-BFGS-B"):
        raise ValueError(f"method must be 'BFGS' or 'L-BFGS-B', got {method!r}")
    g = as_rng(rng)
    finals, certs, points = [], [], []
    for child in g.spawn(n_starts):
        x0 = _flat(random_weights(d, child, scale=scale))
        res = _minimize(x0, d, ell, method, gtol, maxiter)
        # the runs can drift along the (non-compact) symmetry orbit to badly scaled weights:
        # rescale the layers to equal norms (same product) and polish
        res = _minimize(_flat(_rescale_layers(_unflat(res.x, d))), d, ell, method, gtol, maxiter)
        ws = _unflat(_newton_polish(res.x, d, ell), d)
        cert = certify_local_minimum(ws, ell, tol=tol)
        finals.append(cert.value)
        certs.append(cert)
        points.append(ws)
    finals_a = np.array(finals)
    ok = np.array([c.is_strict_local_min_modulo_symmetry for c in certs])
    values: list[float] = []
    counts: list[int] = []
    reps: list[int] = []
    for j in np.flatnonzero(ok)[np.argsort(finals_a[ok], kind="stable")]:
        v = finals_a[j]
        if values and abs(v - values[-1]) <= value_tol * max(1.0, abs(values[-1])):
            counts[-1] += 1
            reps[-1] = min(reps[-1], int(j))
        else:
            values.append(float(v))
            counts.append(1)
            reps.append(int(j))
    kinds = tuple(classify_pure_spurious(points[j], ell, tol=tol) for j in reps)
    return LocalMinimaSearch(
        values=np.array(values),
        counts=np.array(counts, dtype=int),
        minima=[points[j] for j in reps],
        seeds=np.array(reps, dtype=int),
        certificates=[certs[j] for j in reps],
        kinds=kinds,
        final_values=finals_a,
        certified=ok,
        n_uncertified=int(np.sum(~ok)),
        filling=is_filling(d),
    )


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
