"""Gradient flow (the GDD of [CLC] Definition 2.1) and gradient descent, single and batched.

See the Mathematical notes, "Notation", "Invariants of the flow" and "Boundedness and convergence".

The batched integrators work on ``K`` trajectories at once: weights carry a leading batch axis,
``W_i`` of shape ``(K, d_i, d_{i-1})``, and every step is a handful of batched ``matmul`` calls (or, for the flow, a
compiled loop when numba is installed; see ``dlnlib._dopri_jit``).
:func:`gradient_flow_batch` is an embedded Dormand–Prince 5(4) scheme (the tableau of
``scipy.integrate.RK45``) with a *separate* adaptive step size and stopping rule per trajectory,
so a stiff or slow trajectory does not slow down the others and a converged one stops.

References
----------
[CLC] Chitour, Liao, Couillet, arXiv:1811.03568.
J. R. Dormand, P. J. Prince, "A family of embedded Runge-Kutta formulae", J. Comput. Appl. Math. 6, 1980.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.integrate import solve_ivp

from ._validation import as_finite_array, as_weight_batch, check_positive, check_tolerances, dims_of
from .model import (
    _check_problem,
    _flat,
    _gradient_from_e,
    _invariants_any,
    _offsets,
    _prefix_products,
    _unflat,
)

__all__ = [
    "BatchDescentResult",
    "BatchTrajectory",
    "DescentResult",
    "Trajectory",
    "gradient_descent",
    "gradient_descent_batch",
    "gradient_flow",
    "gradient_flow_batch",
]

# status codes (as in scipy's OdeResult: >= 0 is success)
CONVERGED = 1  #: the gradient norm fell under ``grad_tol``
REACHED_T_MAX = 0  #: the horizon ``t_max`` (or ``n_steps``) was reached
FAILED = -1  #: the integrator failed (step size underflow, non-finite state)
DIVERGED = -2  #: gradient descent diverged (loss blew up or became non-finite)

_STATUS_TEXT = {
    CONVERGED: "gradient norm below grad_tol",
    REACHED_T_MAX: "horizon reached",
    FAILED: "integration failed",
    DIVERGED: "diverged",
}


# --------------------------------------------------------------------------- data moments


@dataclass(frozen=True)
class _Moments:
    """``Σ_XX``, ``W_LS`` and ``c_0`` (Remark 5): all the dynamics needs from the data.

    ``L = c_0 + 1/2 tr((P - W_LS) Σ_XX (P - W_LS)^T)`` and ``(P X - Y) X^T = (P - W_LS) Σ_XX``;
    this form is free of the cancellation of ``1/2 ||Y - P X||^2`` near the minimum. Arrays may
    carry a leading batch axis (per-trajectory data).
    """

    sxx: np.ndarray
    wls: np.ndarray
    c0: np.ndarray

    def batched(self) -> _Moments:
        """With a leading batch axis (of length 1 for data shared by every trajectory)."""
        if self.sxx.ndim == 3:
            return self
        return _Moments(self.sxx[None], self.wls[None], np.atleast_1d(self.c0))

    def rows(self, idx) -> _Moments:
        """The moments of trajectories ``idx`` (all of them share a batch of length 1)."""
        return self if self.sxx.shape[0] == 1 else _Moments(self.sxx[idx], self.wls[idx], self.c0[idx])


def _moments(X: np.ndarray, Y: np.ndarray) -> _Moments:
    sxx = X @ np.swapaxes(X, -1, -2)
    syx = Y @ np.swapaxes(X, -1, -2)
    try:
        wls = np.swapaxes(np.linalg.solve(sxx, np.swapaxes(syx, -1, -2)), -1, -2)
    except np.linalg.LinAlgError as exc:
        raise ValueError("Assumption 2 of [CLC]: X X^T is singular (X must have full row rank)") from exc
    cond = np.linalg.cond(sxx)
    if np.any(cond > 1e14):
        raise ValueError(f"Assumption 2 of [CLC]: X must have full row rank; cond(X X^T) = {np.max(cond):.2e}")
    r = Y - wls @ X
    c0 = 0.5 * np.sum(r * r, axis=(-2, -1))
    return _Moments(sxx=sxx, wls=wls, c0=np.asarray(c0))


def _batch_data(X, Y, k: int, dims: tuple[int, ...]) -> _Moments:
    X = as_finite_array(X, "X", ndim=(2, 3))
    Y = as_finite_array(Y, "Y", ndim=(2, 3))
    if X.shape[-1] != Y.shape[-1]:
        raise ValueError(f"X and Y must have the same number of samples: X is {X.shape}, Y is {Y.shape}")
    for name, a in (("X", X), ("Y", Y)):
        if a.ndim == 3 and a.shape[0] != k:
            raise ValueError(f"batched {name} must have leading axis K={k} (the weights' batch), got {a.shape}")
    if X.shape[-2] != dims[0]:
        raise ValueError(f"W_1 expects X with {dims[0]} rows (d_x), got X of shape {X.shape}")
    if Y.shape[-2] != dims[-1]:
        raise ValueError(f"W_N produces {dims[-1]} outputs (d_y), got Y of shape {Y.shape}")
    return _moments(X, Y)


# --------------------------------------------------------------------------- batched kernels


def _grad_loss_batch(y: np.ndarray, dims: tuple[int, ...], mom: _Moments) -> tuple[np.ndarray, np.ndarray]:
    """Flat gradients ``(K, P)`` and losses ``(K,)`` of K weight tuples (see the Mathematical notes, "Notation")."""
    ws = _unflat(y, dims)
    prefix = _prefix_products(ws)
    diff = prefix[-1] - mom.wls  # (K, d_y, d_x)
    e = diff @ mom.sxx
    lossv = mom.c0 + 0.5 * np.einsum("kij,kij->k", diff, e)
    grads = _gradient_from_e(ws, e, prefix)
    return _flat(grads), lossv


def _invariant_drift_batch(ws0: Sequence[np.ndarray], ws: Sequence[np.ndarray]) -> np.ndarray:
    """``max_i ||C_i(W) - C_i(W0)||_F / (1 + max_j ||W0_j||_F^2)`` per trajectory (Lemma 2.3)."""
    scale = 1.0 + max(np.sum(w * w, axis=(1, 2)).max() for w in ws0)
    return _raw_drift(_invariants_any(ws0), ws) / scale


# Dormand–Prince 5(4) tableau (as in scipy.integrate.RK45)
_C = np.array([0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1])
_A = [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
]
_B = np.array([35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84])
_E = np.array([-71 / 57600, 0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40])


# --------------------------------------------------------------------------- lean batched kernels


def _layer_views(buf: np.ndarray, dims: tuple[int, ...]) -> list[np.ndarray]:
    """Views ``W_i`` of shape ``(n, d_i, d_{i-1})`` into the rows of a flat ``(n, P)`` buffer (never copies)."""
    off, n = _offsets(dims), buf.shape[0]
    return [buf[:, off[i] : off[i + 1]].reshape(n, dims[i + 1], dims[i]) for i in range(len(dims) - 1)]


class _GradPlan:
    """Preallocated gradient evaluation for a fixed set of ``n`` rows (the lean kernel of :func:`_dopri_slots`).

    Every operation acts row by row (batched ``matmul`` with ``out=``, element-wise arithmetic), so
    a row's result never depends on the other rows: the basis of bit-identical continuous batching.
    After :meth:`grad`, ``diff = W_{N:1} - W_LS`` and ``e = diff Σ_XX`` hold the values needed for
    the loss ``c_0 + 1/2 <diff, e>`` (:meth:`loss`), computed only where it is used.
    """

    def __init__(self, dims: tuple[int, ...], n: int, sxx: np.ndarray, wls: np.ndarray, c0: np.ndarray):
        self.dims, self.nl = dims, len(dims) - 1
        self.sxx, self.wls, self.c0 = sxx, wls, c0
        d_x, d_y = dims[0], dims[-1]
        self.pre = [np.empty((n, dims[i + 1], d_x)) for i in range(1, self.nl)]  # W_{i+1:1}, i >= 1
        self.pre_t = [np.swapaxes(p, -1, -2) for p in self.pre]
        self.left = [np.empty((n, dims[i], d_x)) for i in range(self.nl)]  # W_{N:i+1}^T e
        self.diff = np.empty((n, d_y, d_x))
        self.e = np.empty((n, d_y, d_x))

    def bind(self, buf: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Layer views of ``buf`` and their transposes (computed once per buffer)."""
        ws = _layer_views(buf, self.dims)
        return ws, [np.swapaxes(w, -1, -2) for w in ws]

    def grad(self, ws, ws_t, gs) -> None:
        """``gs[i] = W_{N:i+2}^T (W_{N:1} - W_LS) Σ_XX W_{i:1}^T`` (see the Mathematical notes, "Notation") for the
        weights ``ws``."""
        nl = self.nl
        prod = ws[0]
        for i in range(1, nl):
            prod = np.matmul(ws[i], prod, out=self.pre[i - 1])
        np.subtract(prod, self.wls, out=self.diff)
        left = np.matmul(self.diff, self.sxx, out=self.e)
        for i in range(nl - 1, 0, -1):
            np.matmul(left, ws_t[0] if i == 1 else self.pre_t[i - 2], out=gs[i])
            left = np.matmul(ws_t[i], left, out=self.left[i])
        np.copyto(gs[0], left)

    def loss(self, rows=None) -> np.ndarray:
        """Loss of the rows ``rows`` (all if ``None``) at the point of the last :meth:`grad`."""
        if rows is None:
            return _loss_rows(self.c0, self.diff, self.e)
        c0 = self.c0 if self.c0.shape[0] == 1 else self.c0[rows]
        return _loss_rows(c0, self.diff[rows], self.e[rows])


def _grad_into(y: np.ndarray, dims: tuple[int, ...], sxx: np.ndarray, wls: np.ndarray, c0: np.ndarray, out):
    """Gradients of the rows of ``y`` into ``out`` (both ``(n, P)``); returns the losses."""
    plan = _GradPlan(dims, y.shape[0], sxx, wls, c0)
    ws, ws_t = plan.bind(y)
    plan.grad(ws, ws_t, _layer_views(out, dims))
    return plan.loss()


def _loss_rows(c0: np.ndarray, diff: np.ndarray, e: np.ndarray) -> np.ndarray:
    """``c_0 + 1/2 <diff, e>`` row by row (the loss in the moment form of :class:`_Moments`)."""
    return c0 + 0.5 * np.einsum("kij,kij->k", diff, e)


def _row_norm(a: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("kp,kp->k", a, a))


# Dormand–Prince combinations without the zero coefficients: (stage index, coefficient) pairs
_A_TERMS = [[(j, float(a)) for j, a in enumerate(row) if a != 0] for row in _A]
_B_TERMS = [(j, float(b)) for j, b in enumerate(_B) if b != 0]
_E_TERMS = [(j, float(c)) for j, c in enumerate(_E) if c != 0]


def _combine(kk: np.ndarray, terms, out: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """``out = sum_j c_j kk[j]`` element by element (no BLAS: the result of a row never depends on the others)."""
    j0, c0 = terms[0]
    np.multiply(kk[j0], c0, out=out)
    for j, c in terms[1:]:
        np.multiply(kk[j], c, out=scratch)
        out += scratch
    return out


class _Slots:
    """The active trajectories of :func:`_dopri_slots`: contiguous arrays, one row per trajectory."""

    def __init__(self, n_par: int):
        self.n_par = n_par
        self.trial = np.zeros(0, dtype=np.int64)
        self.y = np.zeros((0, n_par))
        self.f = np.zeros((0, n_par))  # gradient at y (positive sign: dy/dt = -f)
        self.t = np.zeros(0)
        self.h = np.zeros(0)
        self.gnorm = np.zeros(0)
        self.next_rec = np.zeros(0, dtype=np.int64)
        self.n_steps = np.zeros(0, dtype=np.int64)
        self.n_rej = np.zeros(0, dtype=np.int64)

    _FIELDS = ("trial", "y", "f", "t", "h", "gnorm", "next_rec", "n_steps", "n_rej")

    @property
    def size(self) -> int:
        return int(self.trial.size)

    def keep(self, rows: np.ndarray) -> None:
        for name in self._FIELDS:
            setattr(self, name, getattr(self, name)[rows])

    def append(self, other: dict) -> None:
        for name in self._FIELDS:
            setattr(self, name, np.concatenate([getattr(self, name), other[name]]))


def _dopri_slots(
    y0: np.ndarray,
    dims: tuple[int, ...],
    mom: _Moments,
    t_max: float,
    t_eval: np.ndarray,
    rtol: float,
    atol: float,
    gtol: float,
    max_steps: int,
    first_step: float | None,
    slots: int,
) -> dict:
    """Dormand–Prince 5(4) on ``K`` trajectories with at most ``slots`` integrated at once.

    Continuous batching: trajectories enter in index order; when one stops (converged, horizon,
    failure), the next pending one takes its slot, so a batch never waits on its slowest member.
    Each trajectory has its own step size, step count (``max_steps`` attempts at most) and
    stopping rule, and every operation acts row by row: a trajectory's result is bit-identical
    whatever ``slots`` and whatever else is in the batch.
    """
    k_total, n_par = y0.shape
    shared = mom.sxx.shape[0] == 1
    n_t = t_eval.size
    out = {
        "y": np.empty((k_total, n_par)),
        "t": np.zeros(k_total),
        "status": np.full(k_total, REACHED_T_MAX),
        "n_steps": np.zeros(k_total, dtype=np.int64),
        "n_rej": np.zeros(k_total, dtype=np.int64),
        "loss_rec": np.empty((k_total, n_t)),
        "grad_rec": np.empty((k_total, n_t)),
    }
    loss_rec, grad_rec = out["loss_rec"], out["grad_rec"]
    at0 = t_eval[0] == 0.0
    t_tol = 1e-12 * max(t_max, 1.0)

    def rows_mom(trial):
        if shared:
            return mom.sxx, mom.wls, mom.c0
        return mom.sxx[trial], mom.wls[trial], mom.c0[trial]

    def finish(trial, y, t, status, n_steps, n_rej, next_rec, gnorm):
        """Store stopped trajectories; fill their remaining recording slots with the last values."""
        sxx, wls, c0 = rows_mom(trial)
        lossv = _grad_into(y, dims, sxx, wls, c0, np.empty_like(y))
        out["y"][trial], out["t"][trial], out["status"][trial] = y, t, status
        out["n_steps"][trial], out["n_rej"][trial] = n_steps, n_rej
        pending = np.arange(n_t)[None, :] >= next_rec[:, None]
        loss_rec[trial] = np.where(pending, lossv[:, None], loss_rec[trial])
        grad_rec[trial] = np.where(pending, gnorm[:, None], grad_rec[trial])

    def admit(trial):
        """Initial gradient, recording at t = 0, first step size; returns the rows that must be integrated."""
        y = y0[trial].copy()
        f = np.empty_like(y)
        sxx, wls, c0 = rows_mom(trial)
        lossv = _grad_into(y, dims, sxx, wls, c0, f)
        gnorm = _row_norm(f)
        next_rec = np.zeros(trial.size, dtype=np.int64)
        if at0:
            loss_rec[trial, 0], grad_rec[trial, 0] = lossv, gnorm
            next_rec[:] = 1
        # initial step (Hairer's heuristic, simplified): h = 0.01 * ||y|| / ||f||
        scale = atol + rtol * np.abs(y)
        d0 = np.sqrt(np.mean((y / scale) ** 2, axis=1))
        d1 = np.sqrt(np.mean((f / scale) ** 2, axis=1))
        h = np.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / np.maximum(d1, 1e-300))
        if first_step is not None:
            h[:] = first_step
        h = np.minimum(h, t_max)
        zeros = np.zeros(trial.size, dtype=np.int64)
        done = gnorm < gtol if gtol > 0 else np.zeros(trial.size, bool)
        if np.any(done):
            finish(trial[done], y[done], np.zeros(done.sum()), CONVERGED, 0, 0, next_rec[done], gnorm[done])
        go = ~done
        return {
            "trial": trial[go],
            "y": y[go],
            "f": f[go],
            "t": np.zeros(go.sum()),
            "h": h[go],
            "gnorm": gnorm[go],
            "next_rec": next_rec[go],
            "n_steps": zeros[go],
            "n_rej": zeros[go],
        }

    st = _Slots(n_par)
    next_trial = 0

    def refill():
        nonlocal next_trial
        while st.size < slots and next_trial < k_total:
            take = min(slots - st.size, k_total - next_trial)
            st.append(admit(np.arange(next_trial, next_trial + take)))
            next_trial += take

    refill()
    while st.size:
        n = st.size
        plan = _GradPlan(dims, n, *rows_mom(st.trial))
        kk = np.empty((7, n, n_par))
        kk[0] = st.f
        y, ys, y_new = st.y.copy(), np.empty((n, n_par)), np.empty((n, n_par))
        scratch, comb = np.empty((n, n_par)), np.empty((n, n_par))
        v_ys, v_new = plan.bind(ys), plan.bind(y_new)
        v_k = [_layer_views(kk[s], dims) for s in range(7)]
        target = np.where(st.next_rec < n_t, t_eval[np.minimum(st.next_rec, n_t - 1)], t_max)
        attempts = st.n_steps + st.n_rej
        t, h = st.t, st.h
        while True:
            hi = np.minimum(h, target - t)
            mh = -hi[:, None]
            for s in range(1, 6):
                np.multiply(_combine(kk, _A_TERMS[s], comb, scratch), mh, out=ys)
                ys += y
                plan.grad(*v_ys, v_k[s])
            np.multiply(_combine(kk, _B_TERMS, comb, scratch), mh, out=y_new)
            y_new += y
            plan.grad(*v_new, v_k[6])
            err = np.multiply(_combine(kk, _E_TERMS, comb, scratch), hi[:, None], out=ys)
            sc = np.maximum(np.abs(y), np.abs(y_new), out=scratch)
            sc *= rtol
            sc += atol
            err /= sc
            en = np.sqrt(np.einsum("kp,kp->k", err, err) / n_par)
            finite = np.isfinite(en) & np.isfinite(y_new).all(axis=1)
            acc = finite & (en <= 1.0)
            fac = np.where(en == 0, 10.0, np.clip(0.9 * np.power(np.maximum(en, 1e-300), -0.2), 0.2, 10.0))
            fac = np.where(finite, np.where(acc, fac, np.minimum(fac, 1.0)), 0.2)
            h_next = hi * fac
            # keep the controller's step when we only shortened it to hit a recording time
            h = np.where(acc & (hi < h), np.maximum(h, h_next), h_next)
            attempts += 1
            gn_new = _row_norm(kk[6])
            if acc.all():
                np.copyto(y, y_new)
                np.copyto(kk[0], kk[6])
                t = t + hi
                st.n_steps += 1
                st.gnorm = gn_new
            else:
                np.copyto(y, y_new, where=acc[:, None])
                np.copyto(kk[0], kk[6], where=acc[:, None])
                t = np.where(acc, t + hi, t)
                st.n_steps += acc
                st.n_rej += ~acc
                st.gnorm = np.where(acc, gn_new, st.gnorm)
            # recordings at exact grid times
            hit = acc & (np.abs(t - target) <= t_tol)
            if hit.any():
                rows = np.flatnonzero(hit)
                ri = st.next_rec[rows]
                ok = ri < n_t
                rows, ri = rows[ok], ri[ok]
                loss_rec[st.trial[rows], ri] = plan.loss(rows)
                grad_rec[st.trial[rows], ri] = gn_new[rows]
                st.next_rec[rows] += 1
                target = np.where(st.next_rec < n_t, t_eval[np.minimum(st.next_rec, n_t - 1)], t_max)
            conv = acc & (gn_new < gtol) if gtol > 0 else np.zeros(n, bool)
            at_end = acc & (t >= t_max * (1 - 1e-14))
            tiny = h < 1e-14 * np.maximum(1.0, t)
            capped = attempts >= max_steps
            stop = at_end | conv | tiny | capped
            if stop.any():
                status = np.where(conv, CONVERGED, REACHED_T_MAX)
                status = np.where(tiny | (capped & ~(conv | at_end)), FAILED, status)
                break
        st.y, st.f, st.t, st.h = y, kk[0].copy(), t, h
        rows = np.flatnonzero(stop)
        finish(
            st.trial[rows],
            y[rows],
            t[rows],
            status[rows],
            st.n_steps[rows],
            st.n_rej[rows],
            st.next_rec[rows],
            st.gnorm[rows],
        )
        st.keep(np.flatnonzero(~stop))
        refill()
    return out


def _integrate(y0, dims, mom, t_max, t_eval, rtol, atol, gtol, max_steps, first_step, slots) -> dict:
    """The compiled engine (``dlnlib._dopri_jit``, one trajectory at a time) when numba is installed, else the
    numpy engine :func:`_dopri_slots` (continuous batching over ``slots`` rows). Each is bit-identical whatever
    ``slots``, the executor or the number of workers; they agree with each other to the integration tolerance."""
    from . import _dopri_jit

    if _dopri_jit.available():
        return _dopri_jit.run(
            y0, dims, mom.sxx, mom.wls, mom.c0, t_max, t_eval, rtol, atol, gtol, max_steps, first_step
        )
    return _dopri_slots(y0, dims, mom, t_max, t_eval, rtol, atol, gtol, max_steps, first_step, slots)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Trajectory:
    """A gradient-flow trajectory (result of :func:`gradient_flow`).

    Attributes
    ----------
    t : ndarray of shape (n_t,)
        Times at which the trajectory was recorded.
    loss : ndarray of shape (n_t,)
        Loss values.
    grad_norm : ndarray of shape (n_t,)
        Frobenius norm of the full gradient.
    final_weights : list of ndarray
        Weights at ``t[-1]``.
    invariant_drift : ndarray of shape (n_t,)
        ``max_i ||C_i(t) - C_i(0)||_F`` at each recorded time (Lemma 2.3).
    status : int
        1 converged (gradient under ``grad_tol``), 0 reached ``t_max``, -1 integrator failure.
    message : str
        Human-readable status.
    nfev : int
        Number of gradient evaluations.
    weights : list of list of ndarray or None
        Weights at every recorded time, if ``store_weights=True`` (else ``None``).
    """

    t: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    final_weights: list[np.ndarray] = field(repr=False)
    invariant_drift: np.ndarray = field(repr=False)
    status: int
    message: str
    nfev: int = 0
    weights: list[list[np.ndarray]] | None = field(default=None, repr=False)

    @property
    def success(self) -> bool:
        """Whether the integration succeeded (``status >= 0``)."""
        return self.status >= 0

    @property
    def converged(self) -> bool:
        """Whether the gradient norm fell under ``grad_tol`` (``status == 1``)."""
        return self.status == CONVERGED


@dataclass(frozen=True)
class BatchTrajectory:
    """K gradient-flow trajectories integrated together (:func:`gradient_flow_batch`).

    Attributes
    ----------
    t : ndarray of shape (n_t,)
        Recording grid, shared by all trajectories.
    loss : ndarray of shape (K, n_t)
        Loss values; after a trajectory stops, its last values are repeated.
    grad_norm : ndarray of shape (K, n_t)
        Gradient norms, repeated after a stop as ``loss``.
    final_weights : list of ndarray
        ``W_i`` of shape ``(K, d_i, d_{i-1})``.
    t_final : ndarray of shape (K,)
        Time at which each trajectory stopped.
    status : ndarray of shape (K,)
        Per-trajectory status codes (as in :class:`Trajectory`).
    invariant_drift : ndarray of shape (K,)
        Relative invariant drift at the end, per trajectory.
    n_steps : ndarray of shape (K,)
        Accepted steps per trajectory.
    n_rejected : ndarray of shape (K,)
        Rejected steps per trajectory.
    message : str
        Human-readable summary.
    """

    t: np.ndarray
    loss: np.ndarray = field(repr=False)
    grad_norm: np.ndarray = field(repr=False)
    final_weights: list[np.ndarray] = field(repr=False)
    t_final: np.ndarray = field(repr=False)
    status: np.ndarray = field(repr=False)
    invariant_drift: np.ndarray = field(repr=False)
    n_steps: np.ndarray = field(repr=False)
    n_rejected: np.ndarray = field(repr=False)
    message: str = ""

    @property
    def n_trajectories(self) -> int:
        """Number ``K`` of trajectories."""
        return int(self.status.shape[0])

    @property
    def success(self) -> np.ndarray:
        """Boolean array ``(K,)``: whether each integration succeeded (``status >= 0``)."""
        return self.status >= 0

    def trajectory_weights(self, k: int) -> list[np.ndarray]:
        """Final weights of trajectory ``k`` as an ordinary weights list.

        Parameters
        ----------
        k : int
            Index of the trajectory, ``0 <= k < K``.

        Returns
        -------
        list of ndarray
            ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
        """
        return [w[k] for w in self.final_weights]


@dataclass(frozen=True)
class DescentResult:
    """Result of :func:`gradient_descent` (or one row of :func:`gradient_descent_batch`).

    Attributes
    ----------
    steps : ndarray of shape (n_rec,)
        Iteration indices at which values were recorded (0 = initial point).
    loss : ndarray of shape (n_rec,)
        Loss at those iterations.
    grad_norm : ndarray of shape (n_rec,)
        Gradient norm at those iterations.
    invariant_drift : ndarray of shape (n_rec,)
        ``max_i ||C_i(W^k) - C_i(W^0)||_F`` at those iterations (see the Mathematical notes, "Invariants of the flow":
        O(η²) per step).
    final_weights : list of ndarray
        Last finite iterate (never NaN).
    status : int
        1 converged, 0 ``n_steps`` reached, -2 diverged.
    n_steps_done : int
        Number of completed steps.
    message : str
        Human-readable status.
    """

    steps: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray = field(repr=False)
    invariant_drift: np.ndarray = field(repr=False)
    final_weights: list[np.ndarray] = field(repr=False)
    status: int
    n_steps_done: int
    message: str

    @property
    def success(self) -> bool:
        """Whether the run did not diverge (``status >= 0``)."""
        return self.status >= 0

    @property
    def diverged(self) -> bool:
        """Whether the run diverged (``status == -2``)."""
        return self.status == DIVERGED


# --------------------------------------------------------------------------- single trajectory


def _check_t_eval(t_eval, t_max: float) -> np.ndarray:
    """Recording times: default 201 equally spaced times, else increasing within ``[0, t_max]``."""
    if t_eval is None:
        return np.linspace(0.0, t_max, 201)
    t_eval = as_finite_array(t_eval, "t_eval", ndim=1)
    if t_eval.size == 0 or t_eval[0] < 0 or t_eval[-1] > t_max or np.any(np.diff(t_eval) <= 0):
        raise ValueError(f"t_eval must be increasing within [0, t_max={t_max}], got {t_eval.size} times")
    return t_eval


def _grad_tol_default(grad_tol):
    return check_positive(grad_tol, "grad_tol") if grad_tol is not None else 0.0


def gradient_flow(
    weights0: Sequence,
    X,
    Y,
    t_max: float,
    *,
    rtol: float = 1e-9,
    atol: float = 1e-12,
    grad_tol: float | None = 1e-9,
    method: str = "DOP853",
    t_eval=None,
    store_weights: bool = False,
) -> Trajectory:
    """Integrate the gradient dynamics ``dW_i/dt = -∇_{W_i} L`` (GDD, [CLC] Definition 2.1).

    Uses :func:`scipy.integrate.solve_ivp` on the flattened weights; stops at ``t_max`` or when
    the gradient norm falls under ``grad_tol`` (a terminal event).

    Parameters
    ----------
    weights0 : list of ndarray
        Initial weights ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.
    t_max : float
        Positive horizon.
    rtol, atol : float, optional
        Keyword-only. Tolerances passed to ``solve_ivp``.
    grad_tol : float or None, optional
        Keyword-only. Stop when ``||∇L||_F < grad_tol`` (``None``: never).
    method : str, optional
        Keyword-only. Integration method passed to ``solve_ivp``.
    t_eval : array_like or None, optional
        Keyword-only. Recording times in ``[0, t_max]`` (default: 201 equally spaced times);
        the stopping time is appended when the event fires.
    store_weights : bool, optional
        Keyword-only. Keep the weights at every recorded time.

    Returns
    -------
    Trajectory
        The recorded trajectory.

    Raises
    ------
    TypeError, ValueError
        Invalid weights, data or parameters.
    RuntimeError
        If the integrator fails.

    Notes
    -----
    By Proposition 1 of [CLC] every trajectory is bounded and converges to a critical point;
    by Lemma 2.3 the invariants ``C_i`` are constant, so ``invariant_drift`` measures the
    integration error (see the Mathematical notes, "Invariants of the flow" and "Boundedness and convergence").
    """
    ws0, X, Y = _check_problem(weights0, X, Y, "weights0")
    t_max = check_positive(t_max, "t_max")
    rtol, atol = check_tolerances(rtol, atol)
    gtol = _grad_tol_default(grad_tol)
    dims = dims_of(ws0)
    mom1 = _moments(X, Y).batched()
    y0 = _flat(ws0)
    t_eval = _check_t_eval(t_eval, t_max)

    def rhs(_t, y):
        g, _ = _grad_loss_batch(y[None], dims, mom1)
        return -g[0]

    g0, _ = _grad_loss_batch(y0[None], dims, mom1)
    events = None
    if gtol > 0:
        if np.linalg.norm(g0) < gtol:
            return _make_trajectory(
                np.array([0.0]),
                y0[:, None],
                ws0,
                dims,
                mom1,
                CONVERGED,
                "initial point already critical",
                0,
                store_weights,
            )

        def event(_t, y):
            g, _ = _grad_loss_batch(y[None], dims, mom1)
            return np.linalg.norm(g) - gtol

        event.terminal = True
        event.direction = -1
        events = event
    with np.errstate(over="raise", invalid="raise"):
        try:
            sol = solve_ivp(rhs, (0.0, t_max), y0, method=method, t_eval=t_eval, rtol=rtol, atol=atol, events=events)
        except FloatingPointError as exc:
            raise RuntimeError(
                f"gradient_flow: overflow during integration ({exc}); reduce the initialization scale"
            ) from exc
    ts, ys = sol.t, sol.y
    if sol.status == 1 and sol.t_events[0].size:
        ts = np.append(ts, sol.t_events[0][0])
        ys = np.concatenate([ys, sol.y_events[0][0][:, None]], axis=1)
        status, msg = CONVERGED, f"gradient norm below grad_tol={gtol:g} at t={ts[-1]:.6g}"
    elif sol.status == 0:
        status, msg = REACHED_T_MAX, f"reached t_max={t_max:g}"
    else:
        status, msg = FAILED, f"solve_ivp failed: {sol.message}"
    if ts.size == 0:
        ts, ys = np.array([0.0]), y0[:, None]
    return _make_trajectory(ts, ys, ws0, dims, mom1, status, msg, sol.nfev, store_weights)


def _make_trajectory(ts, ys, ws0, dims, mom1, status, msg, nfev, store_weights) -> Trajectory:
    yb = np.ascontiguousarray(ys.T)  # (n_t, P)
    g, lossv = _grad_loss_batch(yb, dims, mom1)
    wsb = _unflat(yb, dims)
    drift = _raw_drift(_invariants_any([w[None] for w in ws0]), wsb)
    final = [w[-1].copy() for w in wsb]
    weights = [[w[j].copy() for w in wsb] for j in range(yb.shape[0])] if store_weights else None
    return Trajectory(
        t=np.asarray(ts),
        loss=lossv,
        grad_norm=np.linalg.norm(g, axis=1),
        final_weights=final,
        invariant_drift=drift,
        status=status,
        message=msg,
        nfev=int(nfev),
        weights=weights,
    )


# --------------------------------------------------------------------------- batched flow


@np.errstate(over="ignore", invalid="ignore")  # rejected trial steps may overflow; they are detected below
def gradient_flow_batch(
    weights0: Sequence,
    X,
    Y,
    t_max: float,
    *,
    rtol: float = 1e-9,
    atol: float = 1e-12,
    grad_tol: float | None = 1e-9,
    t_eval=None,
    max_steps: int = 1_000_000,
    first_step: float | None = None,
    slots: int | None = None,
) -> BatchTrajectory:
    """Integrate K gradient flows at once (vectorized Dormand–Prince 5(4), per-trajectory steps).

    Parameters
    ----------
    weights0 : list of ndarray
        ``W_i`` of shape ``(K, d_i, d_{i-1})``.
    X : ndarray of shape (d_x, m) or (K, d_x, m)
        Shared or per-trajectory data.
    Y : ndarray of shape (d_y, m) or (K, d_y, m)
        Shared or per-trajectory targets.
    t_max : float
        Horizon.
    rtol, atol : float, optional
        Keyword-only. Error tolerances of each trajectory's step-size controller (same meaning
        as in ``solve_ivp``: the RMS of the local error over ``atol + rtol |y|`` is kept below 1).
    grad_tol : float or None, optional
        Keyword-only. A trajectory stops when its gradient norm falls below ``grad_tol``.
    t_eval : array_like or None, optional
        Keyword-only. Shared recording grid (default 201 equally spaced times in
        ``[0, t_max]``); steps are shortened so as to land exactly on each recording time.
    max_steps : int, optional
        Keyword-only. Cap on the number of steps (accepted and rejected) of each trajectory.
    first_step : float or None, optional
        Keyword-only. Initial step size of every trajectory (``None``: a simplified Hairer heuristic).
    slots : int or None, optional
        Keyword-only. Integrate at most this many trajectories at once (``None``: all ``K``). When
        one stops, the next pending trajectory takes its slot (continuous batching), so the batch
        never waits on its slowest member. Results are bit-identical whatever ``slots``. Used by the
        numpy engine only (the compiled engine integrates one trajectory at a time).

    Returns
    -------
    BatchTrajectory
        The ``K`` recorded trajectories.

    Raises
    ------
    TypeError, ValueError
        Invalid weights, data or parameters.

    Notes
    -----
    Equivalent, trajectory by trajectory, to ``solve_ivp(method="RK45")`` at the same
    tolerances. Two engines: when numba is installed (the ``scale`` extra), a compiled loop
    (``dlnlib._dopri_jit``) integrates one trajectory after the other; otherwise, or with the
    environment variable ``DLNLIB_NO_JIT=1``, each step advances all active trajectories with
    batched ``matmul``. Each engine is bit-identical whatever ``slots``, the executor or the
    number of workers; the two agree to the integration tolerance, not bit for bit.
    ``benchmarks/bench_flow.py`` and ``benchmarks/bench_scale.py`` measure both.
    """
    ws0 = as_weight_batch(weights0, "weights0")
    dims = dims_of(ws0)
    k = ws0[0].shape[0]
    mom = _batch_data(X, Y, k, dims).batched()
    t_max = check_positive(t_max, "t_max")
    rtol, atol = check_tolerances(rtol, atol)
    gtol = _grad_tol_default(grad_tol)
    max_steps = check_positive(max_steps, "max_steps", integer=True)
    t_eval = _check_t_eval(t_eval, t_max)

    slots = k if slots is None else check_positive(slots, "slots", integer=True)
    first_step = None if first_step is None else check_positive(first_step, "first_step")
    res = _integrate(_flat(ws0), dims, mom, t_max, t_eval, rtol, atol, gtol, max_steps, first_step, slots)
    y, status, t = res["y"], res["status"], res["t"]
    loss_rec, grad_rec, n_steps, n_rej = res["loss_rec"], res["grad_rec"], res["n_steps"], res["n_rej"]
    final = [w.copy() for w in _unflat(y, dims)]
    drift = _invariant_drift_batch(ws0, final)
    counts = {v: int(np.sum(status == c)) for c, v in _STATUS_TEXT.items()}
    msg = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    return BatchTrajectory(
        t=t_eval.copy(),
        loss=loss_rec,
        grad_norm=grad_rec,
        final_weights=final,
        t_final=t,
        status=status,
        invariant_drift=drift,
        n_steps=n_steps,
        n_rejected=n_rej,
        message=msg,
    )


# --------------------------------------------------------------------------- gradient descent


def _descent_core(y, dims, mom, step, n_steps, gtol, record_every, divergence_factor, ws0):
    """Vectorized GD on flat weights ``y`` of shape ``(K, P)`` with per-row steps ``(K,)``.

    The runs still going are kept in contiguous arrays (no index copies while all of them run;
    compacted only when some stop). Records grow as the run goes: their memory is proportional to
    the number of records taken, never to ``n_steps``; the invariants ``C_i`` are evaluated only
    at recorded steps.
    """
    k = y.shape[0]
    shared = mom.sxx.shape[0] == 1
    c0_inv = _invariants_any(ws0)  # C_i(W(0)), (K, d_i, d_i)

    def moments(rows):
        return (mom.sxx, mom.wls, mom.c0) if shared else (mom.sxx[rows], mom.wls[rows], mom.c0[rows])

    g = np.empty_like(y)
    lossv = _grad_into(y, dims, *moments(np.arange(k)), g)
    gn = _row_norm(g)
    limit = divergence_factor * np.maximum(lossv, 1.0)
    status = np.full(k, REACHED_T_MAX)
    done = np.zeros(k, dtype=np.int64)
    last_rec = np.zeros(k, dtype=np.int64)
    steps_rec: list[int] = [0]
    recs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def record(it, rows, yr, lo, gr):
        """Append one record: values for the trials ``rows`` (at weights ``yr``), NaN elsewhere."""
        lrow, grow, drow = np.full(k, np.nan), np.full(k, np.nan), np.full(k, np.nan)
        lrow[rows], grow[rows] = lo, gr
        drow[rows] = _raw_drift([c[rows] for c in c0_inv], _unflat(yr, dims))
        if it:
            steps_rec.append(it)
        recs.append((lrow, grow, drow))
        last_rec[rows] = len(recs) - 1

    record(0, np.arange(k), y, lossv, gn)
    active = np.flatnonzero(gn >= gtol) if gtol > 0 else np.arange(k)
    status[np.setdiff1d(np.arange(k), active)] = CONVERGED
    it = 0
    with np.errstate(over="ignore", invalid="ignore"):
        while active.size and it < n_steps:
            n = active.size
            plan = _GradPlan(dims, n, *moments(active))
            yc, gc = y[active], g[active]
            y_new, g_new = np.empty_like(yc), np.empty_like(gc)
            v_new, gv_new = plan.bind(y_new), _layer_views(g_new, dims)
            st, lim = step[active, None], limit[active]
            while it < n_steps:
                it += 1
                np.multiply(gc, st, out=y_new)
                np.subtract(yc, y_new, out=y_new)
                plan.grad(*v_new, gv_new)
                l_new = plan.loss()
                ok = np.isfinite(l_new) & np.isfinite(g_new).all(axis=1) & (l_new <= lim)
                gn_new = _row_norm(g_new)
                conv = ok & (gn_new < gtol) if gtol > 0 else np.zeros(n, bool)
                stop = ~ok | conv
                if it % record_every == 0 or it == n_steps or conv.any():  # also record the converged iterate
                    record(it, active[ok], y_new[ok], l_new[ok], gn_new[ok])
                if stop.any():
                    break
                yc, y_new = y_new, yc  # accept every row: swap buffers (views follow)
                gc, g_new = g_new, gc
                v_new, gv_new = plan.bind(y_new), _layer_views(g_new, dims)
            else:  # n_steps reached with every row still running (the last iterate was accepted by the swap)
                y[active], done[active] = yc, it
                break
            # some rows stop at step ``it``: accept the good ones, compact
            yc = np.where(ok[:, None], y_new, yc)
            gc = np.where(ok[:, None], g_new, gc)
            done[active[ok]] = it
            done[active[~ok]] = it - 1
            status[active[~ok]] = DIVERGED
            status[active[conv]] = CONVERGED
            y[active], g[active] = yc, gc
            active = active[~stop]
    loss_rec = np.stack([r[0] for r in recs], axis=1)
    grad_rec = np.stack([r[1] for r in recs], axis=1)
    drift_rec = np.stack([r[2] for r in recs], axis=1)
    return y, np.array(steps_rec, dtype=np.int64), loss_rec, grad_rec, drift_rec, status, done, last_rec


def _raw_drift(c0: Sequence[np.ndarray], ws: Sequence[np.ndarray]) -> np.ndarray:
    """``max_i ||C_i(W) - C_i(W0)||_F`` per row of the batch ``ws``; ``c0 = C_i(W0)``, batched or of batch 1."""
    if len(ws) < 2:
        return np.zeros(ws[0].shape[0])
    d = [np.linalg.norm(a - b, axis=(1, 2)) for a, b in zip(_invariants_any(ws), c0)]
    return np.max(d, axis=0)


#: number of records a gradient descent keeps by default (``record_every=None``)
_DEFAULT_RECORDS = 1000


def _descent_args(step, n_steps, grad_tol, record_every, divergence_factor):
    step = check_positive(step, "step")
    n_steps = check_positive(n_steps, "n_steps", integer=True)
    if record_every is None:
        record_every = max(1, n_steps // _DEFAULT_RECORDS)
    record_every = check_positive(record_every, "record_every", integer=True)
    divergence_factor = check_positive(divergence_factor, "divergence_factor")
    return step, n_steps, _grad_tol_default(grad_tol), record_every, divergence_factor


def _descent_message(status: int, done: int, step: float) -> str:
    if status == DIVERGED:
        return (
            f"diverged at step {done + 1}: the loss became non-finite or grew beyond divergence_factor times "
            f"its initial value; step={step:g} is too large for this initialization (cf. the step-size bound of [NRT])"
        )
    if status == CONVERGED:
        return f"gradient norm below grad_tol after {done} steps"
    return f"completed {done} steps"


def gradient_descent(
    weights0: Sequence,
    X,
    Y,
    step: float,
    n_steps: int,
    *,
    grad_tol: float | None = None,
    record_every: int | None = None,
    divergence_factor: float = 1e8,
) -> DescentResult:
    """Gradient descent ``W_i <- W_i - step * ∇_{W_i} L`` (see the Mathematical notes, "Notation" and "Invariants of the
    flow").

    Parameters
    ----------
    weights0 : list of ndarray
        Initial weights ``[W_1, ..., W_N]``, ``W_i`` of shape ``(d_i, d_{i-1})``.
    X : ndarray of shape (d_x, m)
        Data, one sample per column.
    Y : ndarray of shape (d_y, m)
        Targets, one sample per column.
    step : float
        Positive step size η.
    n_steps : int
        Number of iterations.
    grad_tol : float or None, optional
        Keyword-only. Stop early when ``||∇L||_F < grad_tol`` (``None``: never).
    record_every : int or None, optional
        Keyword-only. Record loss, gradient norm and invariant drift every this many steps (and at
        the last step); ``None`` (default): about 1000 records, every ``max(1, n_steps // 1000)``
        steps. Pass ``1`` for per-step records. Records are allocated as the run goes, so a large
        ``n_steps`` that stops early at ``grad_tol`` costs only the records actually taken.
    divergence_factor : float, optional
        Keyword-only. Declare divergence when the loss exceeds
        ``divergence_factor * max(L(W^0), 1)`` or becomes non-finite.

    Returns
    -------
    DescentResult
        On divergence ``status == -2``, ``message`` says so and ``final_weights`` is the last
        finite iterate: NaN weights are never returned.

    Raises
    ------
    TypeError, ValueError
        Invalid weights, data or parameters.

    Notes
    -----
    One step changes the invariants by exactly ``η² (G_{i+1}^T G_{i+1} - G_i G_i^T)``
    (see the Mathematical notes, "Invariants of the flow"), so the drift is O(η²) per step and O(η) over a fixed time
    horizon.
    """
    ws0, X, Y = _check_problem(weights0, X, Y, "weights0")
    step, n_steps, gtol, record_every, dfac = _descent_args(step, n_steps, grad_tol, record_every, divergence_factor)
    dims = dims_of(ws0)
    ws0b = [w[None] for w in ws0]
    y, steps, lo, gr, dr, status, done, last = _descent_core(
        _flat(ws0b), dims, _moments(X, Y).batched(), np.array([step]), n_steps, gtol, record_every, dfac, ws0b
    )
    n = int(last[0]) + 1
    st = int(status[0])
    return DescentResult(
        steps=steps[:n],
        loss=lo[0, :n],
        grad_norm=gr[0, :n],
        invariant_drift=dr[0, :n],
        final_weights=[w[0].copy() for w in _unflat(y, dims)],
        status=st,
        n_steps_done=int(done[0]),
        message=_descent_message(st, int(done[0]), step),
    )


@dataclass(frozen=True)
class BatchDescentResult:
    """K gradient-descent runs (:func:`gradient_descent_batch`); rows as in :class:`DescentResult`.

    Attributes
    ----------
    steps : ndarray of shape (n_rec,)
        Iteration indices at which values were recorded (0 = initial point).
    loss : ndarray of shape (K, n_rec)
        Loss of each run, NaN after the run stopped.
    grad_norm : ndarray of shape (K, n_rec)
        Gradient norm of each run, NaN after the run stopped.
    invariant_drift : ndarray of shape (K, n_rec)
        Invariant drift of each run, NaN after the run stopped.
    final_weights : list of ndarray
        Last finite iterates, ``W_i`` of shape ``(K, d_i, d_{i-1})``.
    status : ndarray of shape (K,)
        Status codes (as in :class:`DescentResult`).
    n_steps_done : ndarray of shape (K,)
        Number of completed steps per run.
    """

    steps: np.ndarray
    loss: np.ndarray = field(repr=False)
    grad_norm: np.ndarray = field(repr=False)
    invariant_drift: np.ndarray = field(repr=False)
    final_weights: list[np.ndarray] = field(repr=False)
    status: np.ndarray = field(repr=False)
    n_steps_done: np.ndarray = field(repr=False)

    @property
    def diverged(self) -> np.ndarray:
        """Boolean array ``(K,)``: whether each run diverged (``status == -2``)."""
        return self.status == DIVERGED


def gradient_descent_batch(
    weights0: Sequence,
    X,
    Y,
    step,
    n_steps: int,
    *,
    grad_tol: float | None = None,
    record_every: int | None = None,
    divergence_factor: float = 1e8,
) -> BatchDescentResult:
    """K gradient-descent runs at once, as :func:`gradient_descent` with batched weights.

    Diverging runs stop and are flagged (``status == -2``); their weights stay finite.

    Parameters
    ----------
    weights0 : list of ndarray
        Initial weights, ``W_i`` of shape ``(K, d_i, d_{i-1})``.
    X : ndarray of shape (d_x, m) or (K, d_x, m)
        Shared or per-run data.
    Y : ndarray of shape (d_y, m) or (K, d_y, m)
        Shared or per-run targets.
    step : float or ndarray of shape (K,)
        Positive step size(s), one per run if an array (e.g. for step-size sweeps).
    n_steps : int
        Number of iterations.
    grad_tol, record_every, divergence_factor : optional
        Keyword-only; as in :func:`gradient_descent`.

    Returns
    -------
    BatchDescentResult
        The ``K`` runs.

    Raises
    ------
    TypeError, ValueError
        Invalid weights, data or parameters (e.g. a non-positive step).
    """
    ws0 = as_weight_batch(weights0, "weights0")
    dims = dims_of(ws0)
    k = ws0[0].shape[0]
    mom = _batch_data(X, Y, k, dims).batched()
    steps = as_finite_array(step, "step", ndim=(0, 1))
    if steps.ndim == 1 and steps.shape[0] != k:
        raise ValueError(f"step must be a scalar or have K={k} entries, got shape {steps.shape}")
    if np.any(steps <= 0):
        raise ValueError(f"step sizes must be positive, got min {steps.min():g}")
    _, n_steps, gtol, record_every, dfac = _descent_args(1.0, n_steps, grad_tol, record_every, divergence_factor)
    step_b = np.broadcast_to(steps, (k,))

    y = _flat(ws0)  # a new array: updated in place
    y, st, lo, gr, dr, status, done, _ = _descent_core(y, dims, mom, step_b, n_steps, gtol, record_every, dfac, ws0)
    return BatchDescentResult(
        steps=st,
        loss=lo,
        grad_norm=gr,
        invariant_drift=dr,
        final_weights=[w.copy() for w in _unflat(y, dims)],
        status=status,
        n_steps_done=done,
    )
