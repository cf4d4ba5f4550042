"""Stochastic and accelerated optimizers for deep linear networks (Remark 2 of [CLC]).

Remark 2 of [CLC] says that the convergence argument (boundedness from the invariants, then
Łojasiewicz) should extend to optimizers whose step is not exactly ``-∇L`` but satisfies an
*angle condition*, naming mini-batch SGD, SGD with momentum and Adam. This module runs those three
optimizers on ``L(W) = 1/2 ||Y - W_{N:1} X||_F^2`` for ``K`` initializations at once (weights
``W_i`` of shape ``(K, d_i, d_{i-1})``, batch axis first, as in :mod:`dlnlib.dynamics`) and
measures along each run what the remark is about (see the Mathematical notes, Remarks):

* the drift of the invariants ``C_i = W_{i+1}^T W_{i+1} - W_i W_i^T`` of Lemma 2.3;
* boundedness (the largest ``||W||_F`` met along the run);
* the loss and the full gradient norm at the recorded iterations;
* the cosine of the angle between the step actually taken, ``W^{k+1} - W^k``, and ``-∇L(W^k)``
  (the full-batch gradient): the angle condition asks for it to stay above a positive constant.

Updates (``g`` the mini-batch gradient at ``W^k``, scaled by ``m/b`` so that it is an unbiased
estimate of ``∇L``; ``η_k = η / (1 + decay k)``):

* :class:`SGD`: ``W^{k+1} = W^k - η_k g``;
* :class:`HeavyBall` (Polyak): ``V^{k+1} = μ V^k - η_k g``, ``W^{k+1} = W^k + V^{k+1}``, ``V^0 = 0``;
* :class:`Adam` (Kingma–Ba, entrywise): ``M = β_1 M + (1-β_1) g``, ``S = β_2 S + (1-β_2) g²``,
  ``W^{k+1} = W^k - η_k M̂ / (sqrt(Ŝ) + ε)`` with the bias corrections ``M̂ = M/(1-β_1^{k+1})``,
  ``Ŝ = S/(1-β_2^{k+1})``.

References
----------
[CLC] Y. Chitour, Z. Liao, R. Couillet, arXiv:1811.03568 (Remark 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ._validation import as_finite_array, as_rng, as_weight_batch, check_positive, dims_of
from .dynamics import _batch_data, _grad_loss_batch, _raw_drift
from .model import _flat, _gradient_from_e, _invariants_any, _prefix_products, _unflat

__all__ = ["SGD", "Adam", "HeavyBall", "OptimizerRun", "optimize_batch"]

DIVERGED = -2  #: the loss became non-finite or exceeded ``divergence_factor`` times its initial value


def _check_batch_size(batch_size) -> int | None:
    return None if batch_size is None else check_positive(batch_size, "batch_size", integer=True)


def _check_decay(decay) -> float:
    d = float(decay)
    if not np.isfinite(d) or d < 0:
        raise ValueError(f"decay must be a finite number >= 0, got {decay!r}")
    return d


@dataclass(frozen=True)
class SGD:
    """Mini-batch stochastic gradient descent ``W <- W - η_k g``.

    Attributes
    ----------
    step : float
        Base step size ``η > 0``.
    batch_size : int or None
        Samples per step, drawn without replacement (``None``: all samples, i.e. gradient descent).
    decay : float
        Step schedule ``η_k = η / (1 + decay k)`` (0: constant step).
    """

    step: float
    batch_size: int | None = None
    decay: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "step", check_positive(self.step, "step"))
        object.__setattr__(self, "batch_size", _check_batch_size(self.batch_size))
        object.__setattr__(self, "decay", _check_decay(self.decay))

    def _init_state(self, shape):
        return ()

    def _update(self, g, state, k, eta):
        return -eta * g, state


@dataclass(frozen=True)
class HeavyBall:
    """Polyak's heavy-ball momentum ``V <- μ V - η_k g``, ``W <- W + V`` (``V^0 = 0``).

    Attributes
    ----------
    step : float
        Base step size ``η > 0``.
    momentum : float
        ``μ`` in ``[0, 1)``.
    batch_size : int or None
        Samples per step (``None``: full batch).
    decay : float
        Step schedule ``η_k = η / (1 + decay k)``.
    """

    step: float
    momentum: float = 0.9
    batch_size: int | None = None
    decay: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "step", check_positive(self.step, "step"))
        if not (0.0 <= float(self.momentum) < 1.0):
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        object.__setattr__(self, "batch_size", _check_batch_size(self.batch_size))
        object.__setattr__(self, "decay", _check_decay(self.decay))

    def _init_state(self, shape):
        return (np.zeros(shape),)

    def _update(self, g, state, k, eta):
        v = self.momentum * state[0] - eta * g
        return v, (v,)


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma–Ba) with bias correction, entrywise on the flat weights.

    Attributes
    ----------
    step : float
        Base step size ``η > 0``.
    beta1, beta2 : float
        Decay rates of the first and second moment estimates, in ``[0, 1)``.
    eps : float
        Positive constant added to ``sqrt(Ŝ)``.
    batch_size : int or None
        Samples per step (``None``: full batch).
    decay : float
        Step schedule ``η_k = η / (1 + decay k)``.
    """

    step: float
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    batch_size: int | None = None
    decay: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "step", check_positive(self.step, "step"))
        for name in ("beta1", "beta2"):
            if not (0.0 <= float(getattr(self, name)) < 1.0):
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        object.__setattr__(self, "eps", check_positive(self.eps, "eps"))
        object.__setattr__(self, "batch_size", _check_batch_size(self.batch_size))
        object.__setattr__(self, "decay", _check_decay(self.decay))

    def _init_state(self, shape):
        return (np.zeros(shape), np.zeros(shape))

    def _update(self, g, state, k, eta):
        m = self.beta1 * state[0] + (1 - self.beta1) * g
        s = self.beta2 * state[1] + (1 - self.beta2) * g * g
        m_hat = m / (1 - self.beta1 ** (k + 1))
        s_hat = s / (1 - self.beta2 ** (k + 1))
        return -eta * m_hat / (np.sqrt(s_hat) + self.eps), (m, s)


@dataclass(frozen=True)
class OptimizerRun:
    """``K`` runs of one optimizer (:func:`optimize_batch`), with the measurements of Remark 2.

    Attributes
    ----------
    steps : ndarray of shape (n_rec,)
        Recorded iteration indices (0 = initial point).
    loss : ndarray of shape (K, n_rec)
        Full-batch loss ``L(W^k)`` (NaN after a run diverged).
    grad_norm : ndarray of shape (K, n_rec)
        Full-batch gradient norm ``||∇L(W^k)||_F``.
    invariant_drift : ndarray of shape (K, n_rec)
        ``max_i ||C_i(W^k) - C_i(W^0)||_F`` (Lemma 2.3).
    cos_angle : ndarray of shape (K, n_rec)
        Cosine of the angle between the step ``W^{k+1} - W^k`` and ``-∇L(W^k)`` (NaN at the last
        recorded iteration, where no step follows, and where the gradient vanishes).
    max_weight_norm : ndarray of shape (K,)
        ``max_k ||W^k||_F`` over every iteration (boundedness).
    final_weights : list of ndarray
        Last finite iterates, ``W_i`` of shape ``(K, d_i, d_{i-1})``.
    status : ndarray of shape (K,)
        0 completed, -2 diverged.
    """

    steps: np.ndarray
    loss: np.ndarray = field(repr=False)
    grad_norm: np.ndarray = field(repr=False)
    invariant_drift: np.ndarray = field(repr=False)
    cos_angle: np.ndarray = field(repr=False)
    max_weight_norm: np.ndarray = field(repr=False)
    final_weights: list[np.ndarray] = field(repr=False)
    status: np.ndarray = field(repr=False)

    @property
    def diverged(self) -> np.ndarray:
        """Boolean array ``(K,)``: whether each run diverged."""
        return self.status == DIVERGED

    @property
    def min_cos_angle(self) -> np.ndarray:
        """Smallest recorded cosine per run (NaN entries ignored), shape ``(K,)``."""
        with np.errstate(all="ignore"):
            return np.nanmin(np.where(np.isfinite(self.cos_angle), self.cos_angle, np.inf), axis=1)


def _minibatch_grad(y, dims, X, Y, idx, scale):
    """Flat mini-batch gradients ``(K, P)``: samples ``idx`` (K, b) of ``X``, ``Y``, times ``scale = m/b``."""
    ws = _unflat(y, dims)
    xb = np.swapaxes(X.T[idx], -1, -2)  # (K, d_x, b)
    yb = np.swapaxes(Y.T[idx], -1, -2)  # (K, d_y, b)
    prefix = _prefix_products(ws)
    e = scale * ((prefix[-1] @ xb - yb) @ np.swapaxes(xb, -1, -2))
    return _flat(_gradient_from_e(ws, e, prefix))


def optimize_batch(
    weights0: Sequence,
    X,
    Y,
    optimizer: SGD | HeavyBall | Adam,
    n_steps: int,
    *,
    rng=None,
    record_every: int = 1,
    divergence_factor: float = 1e8,
) -> OptimizerRun:
    """Run ``optimizer`` from ``K`` initializations on ``L = 1/2 ||Y - W_{N:1} X||_F^2``.

    Remark 2 of [CLC]; see the module docstring for the updates and the measurements.

    Parameters
    ----------
    weights0 : list of ndarray
        Initial weights, ``W_i`` of shape ``(K, d_i, d_{i-1})``.
    X : ndarray of shape (d_x, m)
        Data (full row rank), shared by the runs.
    Y : ndarray of shape (d_y, m)
        Targets.
    optimizer : SGD, HeavyBall or Adam
        The optimizer and its hyperparameters.
    n_steps : int
        Number of iterations.
    rng : numpy.random.Generator or int or None, optional
        Keyword-only. Draws the mini-batches (each run its own); required when
        ``optimizer.batch_size`` is smaller than ``m``.
    record_every : int, optional
        Keyword-only. Record every this many iterations (and the last one). Recording costs one
        full-batch gradient per run; the weight norm is tracked at every iteration.
    divergence_factor : float, optional
        Keyword-only. A run stops, flagged ``-2``, when its full loss at a recorded iteration is
        non-finite or exceeds ``divergence_factor * max(L(W^0), 1)``, or its weights become non-finite.

    Returns
    -------
    OptimizerRun
        The recorded measurements.

    Raises
    ------
    TypeError, ValueError
        Invalid weights, data, optimizer or parameters (e.g. ``batch_size > m`` or a missing ``rng``).
    """
    if not isinstance(optimizer, (SGD, HeavyBall, Adam)):
        raise TypeError(f"optimizer must be an SGD, HeavyBall or Adam instance, got {type(optimizer).__name__}")
    ws0 = as_weight_batch(weights0, "weights0")
    dims = dims_of(ws0)
    k_runs = ws0[0].shape[0]
    X = as_finite_array(X, "X", ndim=2)
    Y = as_finite_array(Y, "Y", ndim=2)
    mom = _batch_data(X, Y, k_runs, dims).batched()
    n_steps = check_positive(n_steps, "n_steps", integer=True)
    record_every = check_positive(record_every, "record_every", integer=True)
    dfac = check_positive(divergence_factor, "divergence_factor")
    m = X.shape[1]
    b = optimizer.batch_size or m
    if b > m:
        raise ValueError(f"batch_size must be <= m = {m} (the number of samples), got {b}")
    if b < m and rng is None:
        raise ValueError("rng is required for mini-batches (batch_size < m)")
    g_rng = as_rng(rng) if b < m else None

    y = _flat(ws0)
    state = optimizer._init_state(y.shape)
    c0 = _invariants_any(ws0)
    n_rec = n_steps // record_every + 2
    steps_rec = np.zeros(n_rec, dtype=np.int64)
    loss_rec, grad_rec, drift_rec, cos_rec = (np.full((k_runs, n_rec), np.nan) for _ in range(4))
    status = np.zeros(k_runs, dtype=np.int64)
    active = np.ones(k_runs, dtype=bool)
    max_norm = np.linalg.norm(y, axis=1)
    full_g, lossv = _grad_loss_batch(y, dims, mom)
    limit = dfac * np.maximum(lossv, 1.0)
    slot = 0
    pending = None  # (slot, full gradient) of the last recording, waiting for the next step

    def record(slot, it):
        g, lv = _grad_loss_batch(y, dims, mom)
        steps_rec[slot] = it
        a = active
        loss_rec[a, slot], grad_rec[a, slot] = lv[a], np.linalg.norm(g[a], axis=1)
        drift_rec[a, slot] = _raw_drift([c[a] for c in c0], _unflat(y[a], dims))
        bad = a & ~(np.isfinite(lv) & (lv <= limit))
        return g, bad

    with np.errstate(over="ignore", invalid="ignore"):
        full_g, bad = record(0, 0)
        pending = (0, full_g)
        for it in range(n_steps):
            if b < m:
                idx = np.argsort(g_rng.random((k_runs, m)), axis=1)[:, :b]
                g = _minibatch_grad(y, dims, X, Y, idx, m / b)
            else:
                g = _grad_loss_batch(y, dims, mom)[0]
            eta = optimizer.step / (1.0 + optimizer.decay * it)
            delta, state = optimizer._update(g, state, it, eta)
            delta[~active] = 0.0
            if pending is not None:
                s, gf = pending
                num = -np.einsum("kp,kp->k", delta, gf)
                den = np.linalg.norm(delta, axis=1) * np.linalg.norm(gf, axis=1)
                cos_rec[active, s] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)[active]
                pending = None
            y_new = y + delta
            fin = np.all(np.isfinite(y_new), axis=1)
            newly_bad = active & ~fin
            y = np.where(fin[:, None] & active[:, None], y_new, y)
            status[newly_bad] = DIVERGED
            active &= ~newly_bad
            max_norm = np.where(active, np.maximum(max_norm, np.linalg.norm(y, axis=1)), max_norm)
            if (it + 1) % record_every == 0 or it + 1 == n_steps:
                slot += 1
                gf, bad = record(slot, it + 1)
                status[bad] = DIVERGED
                active &= ~bad
                pending = (slot, gf)
            if not active.any():
                break
    n = slot + 1
    return OptimizerRun(
        steps=steps_rec[:n],
        loss=loss_rec[:, :n],
        grad_norm=grad_rec[:, :n],
        invariant_drift=drift_rec[:, :n],
        cos_angle=cos_rec[:, :n],
        max_weight_norm=max_norm,
        final_weights=[w.copy() for w in _unflat(y, dims)],
        status=status,
    )
