"""ReLU and leaky-ReLU networks: the per-neuron conservation law of Remark 3 of [CLC].

Network ``f(x) = W_N σ(W_{N-1} ... σ(W_1 x))`` without biases, ``σ(z) = max(z, α z)`` entrywise
(``α = 0``: ReLU; ``0 < α < 1``: leaky ReLU), square loss ``L = 1/2 ||Y - f(X)||_F^2``. Because
``σ(z) = σ'(z) z`` (positive homogeneity), for every hidden neuron ``k`` of layer ``i`` the gradient
satisfies ``<W_i[k, :], ∇_{W_i}[k, :]> = <W_{i+1}[:, k], ∇_{W_{i+1}}[:, k]>``, so along the gradient
flow the *balance*

    ``b_{i,k} = ||W_i[k, :]||² - ||W_{i+1}[:, k]||²``     (incoming minus outgoing weights)

is constant (Remark 3 of [CLC], after Du, Hu and Lee 2018; the diagonal of ``-C_i`` of Lemma 2.3 in
the linear case ``α = 1``). Under gradient descent with step ``η`` the first-order terms cancel by the same
identity and each step changes ``b_{i,k}`` by exactly ``η² (||G_i[k, :]||² - ||G_{i+1}[:, k]||²)``
(:func:`gd_balance_increment`): the identity only involves the gradient at the current point, so this is
exact at every step, whatever the activation pattern does.

See the Mathematical notes, Remarks.

References
----------
[CLC] Y. Chitour, Z. Liao, R. Couillet, arXiv:1811.03568 (Remark 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ._validation import as_finite_array, as_weights, check_positive

__all__ = [
    "ReluDescent",
    "balance_rates",
    "gd_balance_increment",
    "neuron_balances",
    "relu_gradient",
    "relu_gradient_descent",
    "relu_loss",
]


def _check_slope(slope) -> float:
    a = float(slope)
    if not (0.0 <= a < 1.0):
        raise ValueError(f"slope (of the leaky ReLU for z < 0) must be in [0, 1), got {slope!r}")
    return a


def _check(weights, X, Y, slope):
    ws = as_weights(weights)
    if len(ws) < 2:
        raise ValueError(f"a ReLU network needs at least two layers (one hidden layer), got N = {len(ws)}")
    X = as_finite_array(X, "X", ndim=2)
    Y = as_finite_array(Y, "Y", ndim=2)
    if ws[0].shape[1] != X.shape[0] or ws[-1].shape[0] != Y.shape[0] or X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"shapes do not match: W_1 {ws[0].shape}, W_N {ws[-1].shape}, X {X.shape}, Y {Y.shape} "
            "(X is (d_0, m), Y is (d_N, m))"
        )
    return ws, X, Y, _check_slope(slope)


def _forward(ws, X, a):
    """Pre-activations ``z_i`` (i = 1..N-1) and the activations ``h_0 = X, ..., h_{N-1}`` and output."""
    hs, zs = [X], []
    for w in ws[:-1]:
        z = w @ hs[-1]
        zs.append(z)
        hs.append(np.where(z > 0, z, a * z))
    return zs, hs, ws[-1] @ hs[-1]


def _grad(ws, X, Y, a):
    zs, hs, out = _forward(ws, X, a)
    delta = out - Y  # dL/d(output)
    grads = [None] * len(ws)
    for i in range(len(ws) - 1, -1, -1):
        grads[i] = delta @ hs[i].T
        if i > 0:
            delta = (ws[i].T @ delta) * np.where(zs[i - 1] > 0, 1.0, a)
    r = out - Y
    return grads, 0.5 * float(np.sum(r * r))


def relu_loss(weights: Sequence, X, Y, *, slope: float = 0.0) -> float:
    """``L = 1/2 ||Y - W_N σ(... σ(W_1 X))||_F^2``.

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``N >= 2``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    X : ndarray of shape (d_0, m)
        Data.
    Y : ndarray of shape (d_N, m)
        Targets.
    slope : float, optional
        Keyword-only. Leaky-ReLU slope ``α`` in ``[0, 1)`` (0: ReLU).

    Returns
    -------
    float
        The loss.
    """
    ws, X, Y, a = _check(weights, X, Y, slope)
    return _grad(ws, X, Y, a)[1]


def relu_gradient(weights: Sequence, X, Y, *, slope: float = 0.0) -> list[np.ndarray]:
    """Gradient of :func:`relu_loss` by back-propagation (``σ'(0) := α``).

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``N >= 2``.
    X : ndarray of shape (d_0, m)
        Data.
    Y : ndarray of shape (d_N, m)
        Targets.
    slope : float, optional
        Keyword-only. Leaky-ReLU slope ``α`` in ``[0, 1)``.

    Returns
    -------
    list of ndarray
        ``[∇_{W_1} L, ..., ∇_{W_N} L]``.
    """
    ws, X, Y, a = _check(weights, X, Y, slope)
    return _grad(ws, X, Y, a)[0]


def neuron_balances(weights: Sequence) -> list[np.ndarray]:
    """Per-neuron balances ``b_{i,k} = ||W_i[k, :]||² - ||W_{i+1}[:, k]||²``, ``i = 1..N-1``.

    Works on single weights ``(d_i, d_{i-1})`` and on weights stacked along a leading axis.

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]`` (optionally with a leading axis).

    Returns
    -------
    list of ndarray
        ``N - 1`` arrays of shape ``(..., d_i)``.
    """
    if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence) or len(weights) < 2:
        raise TypeError("weights must be a list [W_1, ..., W_N] of at least two arrays")
    ws = [as_finite_array(w, f"weights[{i}]", ndim=(2, 3)) for i, w in enumerate(weights)]
    return [np.sum(ws[i] ** 2, axis=-1) - np.sum(ws[i + 1] ** 2, axis=-2) for i in range(len(ws) - 1)]


def gd_balance_increment(weights: Sequence, X, Y, step: float, *, slope: float = 0.0) -> list[np.ndarray]:
    """Exact change of the balances under one gradient-descent step ``W_i <- W_i - η G_i``.

    ``b_{i,k}(W^+) - b_{i,k}(W) = η² (||G_i[k, :]||² - ||G_{i+1}[:, k]||²)``: the first-order terms cancel
    because ``<W_i[k, :], G_i[k, :]> = <W_{i+1}[:, k], G_{i+1}[:, k]>`` (positive homogeneity of ``σ``).

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``.
    X, Y : ndarray
        Data and targets.
    step : float
        ``η > 0``.
    slope : float, optional
        Keyword-only. Leaky-ReLU slope.

    Returns
    -------
    list of ndarray
        ``N - 1`` arrays of shape ``(d_i,)``.
    """
    eta = check_positive(step, "step")
    g = relu_gradient(weights, X, Y, slope=slope)
    return [eta**2 * (np.sum(g[i] ** 2, axis=1) - np.sum(g[i + 1] ** 2, axis=0)) for i in range(len(g) - 1)]


def balance_rates(weights: Sequence, X, Y, *, slope: float = 0.0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Time derivative of the balances along the gradient flow, and its natural scale.

    Along ``dW/dt = -∇L``, ``d b_{i,k}/dt = -2 (<W_i[k, :], G_i[k, :]> - <W_{i+1}[:, k], G_{i+1}[:, k]>)``,
    which vanishes identically by positive homogeneity (Remark 3 of [CLC]). The flow of a ReLU network
    has a discontinuous right-hand side (``σ'`` jumps), on which adaptive integrators stall when a
    pre-activation slides along ``0``; this pointwise identity is the conservation law itself.

    Parameters
    ----------
    weights : list of ndarray
        ``[W_1, ..., W_N]``, ``N >= 2``.
    X, Y : ndarray
        Data ``(d_0, m)`` and targets ``(d_N, m)``.
    slope : float, optional
        Keyword-only. Leaky-ReLU slope in ``[0, 1)``.

    Returns
    -------
    rates, scales : list of ndarray
        ``d b_{i,k}/dt`` and ``2 (|<W_i[k, :], G_i[k, :]>| + |<W_{i+1}[:, k], G_{i+1}[:, k]>|)`` (the size of
        the two terms that cancel), ``N - 1`` arrays of shape ``(d_i,)`` each.
    """
    ws, X, Y, a = _check(weights, X, Y, slope)
    g = _grad(ws, X, Y, a)[0]
    rates, scales = [], []
    for i in range(len(ws) - 1):
        inc = np.sum(ws[i] * g[i], axis=1)
        out = np.sum(ws[i + 1] * g[i + 1], axis=0)
        rates.append(-2.0 * (inc - out))
        scales.append(2.0 * (np.abs(inc) + np.abs(out)))
    return rates, scales


@dataclass(frozen=True)
class ReluDescent:
    """Gradient descent on a (leaky) ReLU network (:func:`relu_gradient_descent`).

    Attributes
    ----------
    loss : ndarray of shape (n_steps + 1,)
        Loss at every iterate.
    balance_drift : ndarray of shape (n_steps + 1,)
        ``max_{i,k} |b_{i,k}(W^k) - b_{i,k}(W^0)|``.
    max_step_change : float
        Largest one-step change ``max_{i,k} |b_{i,k}(W^{k+1}) - b_{i,k}(W^k)|`` over the run.
    identity_error : float
        Largest deviation of a one-step change from :func:`gd_balance_increment`, relative to the
        largest one-step change (round-off if the identity holds).
    final_weights : list of ndarray
        Last iterate.
    """

    loss: np.ndarray = field(repr=False)
    balance_drift: np.ndarray = field(repr=False)
    max_step_change: float
    identity_error: float
    final_weights: list[np.ndarray] = field(repr=False)


def relu_gradient_descent(weights0: Sequence, X, Y, step: float, n_steps: int, *, slope: float = 0.0) -> ReluDescent:
    """Gradient descent ``W_i <- W_i - η ∇_{W_i} L`` with the per-neuron balances tracked at every step.

    Parameters
    ----------
    weights0 : list of ndarray
        Initial weights, ``N >= 2``.
    X, Y : ndarray
        Data and targets.
    step : float
        ``η > 0``.
    n_steps : int
        Number of steps.
    slope : float, optional
        Keyword-only. Leaky-ReLU slope in ``[0, 1)``.

    Returns
    -------
    ReluDescent
        Loss, drift and the check of the one-step identity.
    """
    ws, X, Y, a = _check(weights0, X, Y, slope)
    eta = check_positive(step, "step")
    n_steps = check_positive(n_steps, "n_steps", integer=True)
    b0 = neuron_balances(ws)
    b_prev = b0
    losses, drift = np.empty(n_steps + 1), np.zeros(n_steps + 1)
    max_change, id_err = 0.0, 0.0
    for k in range(n_steps + 1):
        g, lv = _grad(ws, X, Y, a)
        losses[k] = lv
        if k == n_steps:
            break
        pred = [eta**2 * (np.sum(g[i] ** 2, axis=1) - np.sum(g[i + 1] ** 2, axis=0)) for i in range(len(g) - 1)]
        ws = [w - eta * gi for w, gi in zip(ws, g, strict=True)]
        b = neuron_balances(ws)
        change = max(float(np.max(np.abs(x - y))) for x, y in zip(b, b_prev, strict=True))
        max_change = max(max_change, change)
        id_err = max(id_err, max(float(np.max(np.abs(x - y - p))) for x, y, p in zip(b, b_prev, pred, strict=True)))
        drift[k + 1] = max(float(np.max(np.abs(x - y))) for x, y in zip(b, b0, strict=True))
        b_prev = b
    rel = id_err / max_change if max_change > 0 else 0.0
    return ReluDescent(
        loss=losses, balance_drift=drift, max_step_change=max_change, identity_error=rel, final_weights=ws
    )
