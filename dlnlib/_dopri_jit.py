"""Compiled Dormand–Prince 5(4) for :func:`dlnlib.dynamics.gradient_flow_batch` (optional, needs numba).

The same scheme, controller and stopping rules as the pure-numpy engine ``dynamics._dopri_slots``,
written as explicit loops over one trajectory at a time and compiled with numba. A trajectory is
integrated alone from start to finish, so its result never depends on the other trajectories, the
slot count, the executor or the number of workers (bit-identical). The two engines agree to the
integration tolerance, not bit for bit (different orders of floating-point operations).

This module imports numba: it is imported lazily (by ``dynamics``, ``experiments`` and ``campaign``)
so that ``import dlnlib`` stays fast. Without numba (``import numba`` fails) or with the environment
variable ``DLNLIB_NO_JIT=1``, :func:`available` is false and the numpy engine is used. Compilation
happens once per machine (``cache=True`` keeps the machine code beside this module, or under
``NUMBA_CACHE_DIR``); :func:`warm_up` does it before work is handed to worker processes.

References
----------
J. R. Dormand, P. J. Prince, "A family of embedded Runge-Kutta formulae", J. Comput. Appl. Math. 6, 1980.
"""

from __future__ import annotations

import os

import numpy as np

try:
    import numba
except ImportError:  # the numpy engine of dynamics.py is used instead
    numba = None

# "contract" lets LLVM fuse a * b + c into one FMA instruction: deterministic (the same machine code for every
# trajectory), never reordering sums; no other fast-math flag (the finiteness checks need IEEE semantics)
_njit = (
    (lambda f: f) if numba is None else numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
)


def available() -> bool:
    """Whether the compiled engine can be used (numba importable and ``DLNLIB_NO_JIT`` unset)."""
    return numba is not None and os.environ.get("DLNLIB_NO_JIT", "") in ("", "0")


def warm_up() -> None:
    """Compile the engine (or load numba's on-disk cache) in this process, if it is available.

    Called before work is handed to an executor: worker processes forked afterwards inherit the
    compiled code, and the others find it in the cache instead of each compiling it.
    """
    if available():
        one = np.ones((1, 1, 1))  # one trajectory of the scalar network W_1 (d_0 = d_1 = 1), four steps
        run(np.zeros((1, 1)), (1, 1), one, one, np.zeros(1), 1.0, np.array([1.0]), 1e-6, 1e-9, 0.0, 4, None)


# Dormand–Prince 5(4) tableau (as in scipy.integrate.RK45 and dynamics._A/_B/_E); compile-time constants
A21 = 1 / 5
A31, A32 = 3 / 40, 9 / 40
A41, A42, A43 = 44 / 45, -56 / 15, 32 / 9
A51, A52, A53, A54 = 19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729
A61, A62, A63, A64, A65 = 9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656
B1, B3, B4, B5, B6 = 35 / 384, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84
E1, E3, E4, E5, E6, E7 = -71 / 57600, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40
_A = np.array(
    [
        [0, 0, 0, 0, 0],
        [A21, 0, 0, 0, 0],
        [A31, A32, 0, 0, 0],
        [A41, A42, A43, 0, 0],
        [A51, A52, A53, A54, 0],
        [A61, A62, A63, A64, A65],
    ]
)


@_njit
def _grad(y, dims, off, sxx, wls, c0, g, pre, left, tmp):
    """Gradient of the flat weights ``y`` into ``g``; returns the loss ``c0 + 1/2 <D, D Σ_XX>``, ``D = W_{N:1} - W_LS``.

    ``g_i = W_{N:i+2}^T D Σ_XX W_{i:1}^T`` (see the Mathematical notes, "Notation"): prefix products
    ``W_{j+1:1}`` stacked in ``pre``, then one backward sweep. Loops are written so that the innermost
    one runs over a contiguous row of length ``d_0``.
    """
    nl = dims.size - 1
    dx, dy = dims[0], dims[nl]
    n1 = dims[1] * dx
    for q in range(n1):
        pre[q] = y[q]
    po = 0  # start of the current prefix product in pre
    for j in range(1, nl):
        rows, inner, o = dims[j + 1], dims[j], off[j]
        pn = po + inner * dx
        for q in range(rows * dx):
            pre[pn + q] = 0.0
        for a in range(rows):
            ra, wa = pn + a * dx, o + a * inner
            for b in range(inner):
                w, rb = y[wa + b], po + b * dx
                for c in range(dx):
                    pre[ra + c] += w * pre[rb + c]
        po = pn
    # D = W_{N:1} - W_LS in tmp, E = D Σ_XX in left, loss = c0 + 1/2 <D, E>
    for a in range(dy):
        for c in range(dx):
            tmp[a * dx + c] = pre[po + a * dx + c] - wls[a, c]
            left[a * dx + c] = 0.0
    for a in range(dy):
        for b in range(dx):
            d = tmp[a * dx + b]
            for c in range(dx):
                left[a * dx + c] += d * sxx[b, c]
    loss = 0.0
    for q in range(dy * dx):
        loss += tmp[q] * left[q]
    loss = c0 + 0.5 * loss
    # backward sweep: g_i = left W_{i:1}^T, then left <- W_i^T left; g_0 = left
    for i in range(nl - 1, 0, -1):
        rows, cols, o = dims[i + 1], dims[i], off[i]
        po -= cols * dx
        for a in range(rows):
            for b in range(cols):
                s = 0.0
                for c in range(dx):
                    s += left[a * dx + c] * pre[po + b * dx + c]
                g[o + a * cols + b] = s
        for q in range(cols * dx):
            tmp[q] = 0.0
        for a in range(rows):
            for b in range(cols):
                w = y[o + a * cols + b]
                for c in range(dx):
                    tmp[b * dx + c] += w * left[a * dx + c]
        for q in range(cols * dx):
            left[q] = tmp[q]
    for q in range(n1):
        g[q] = left[q]
    return loss


@_njit
def _norm(v):
    s = 0.0
    for q in range(v.size):
        s += v[q] * v[q]
    return np.sqrt(s)


@_njit
def _dopri(
    y0, dims, off, sxx, wls, c0, t_max, t_eval, rtol, atol, gtol, max_steps, first_step, out_y, out_t, out_i, rec
):
    """Integrate the rows of ``y0`` one after the other; ``out_i[r] = (status, accepted, rejected)``, ``rec = (loss,
    gradient norm)`` at the times ``t_eval``."""
    k_total, n_par = y0.shape
    nl = dims.size - 1
    dx = dims[0]
    dmax = 0
    for i in range(nl + 1):
        dmax = max(dmax, dims[i])
    pre = np.empty(nl * dmax * dx)
    left = np.empty(dmax * dx)
    tmp = np.empty(dmax * dx)
    kk = np.empty((7, n_par))
    k1, k3, k4, k5, k6, k7 = kk[0], kk[2], kk[3], kk[4], kk[5], kk[6]
    y, ys, y_new = np.empty(n_par), np.empty(n_par), np.empty(n_par)
    loss_rec, grad_rec = rec[0], rec[1]
    n_t = t_eval.size
    at0 = t_eval[0] == 0.0
    t_tol = 1e-12 * max(t_max, 1.0)
    for r in range(k_total):
        m = 0 if sxx.shape[0] == 1 else r
        sx, wl, cc = sxx[m], wls[m], c0[m]
        for q in range(n_par):
            y[q] = y0[r, q]
        loss = _grad(y, dims, off, sx, wl, cc, k1, pre, left, tmp)
        gnorm = _norm(k1)
        next_rec = 0
        if at0:
            loss_rec[r, 0], grad_rec[r, 0] = loss, gnorm
            next_rec = 1
        # initial step (Hairer's heuristic, simplified), as in the numpy engine
        s0, s1 = 0.0, 0.0
        for q in range(n_par):
            sc = atol + rtol * abs(y[q])
            s0 += (y[q] / sc) ** 2
            s1 += (k1[q] / sc) ** 2
        d0, d1 = np.sqrt(s0 / n_par), np.sqrt(s1 / n_par)
        h = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / max(d1, 1e-300)
        if first_step > 0:
            h = first_step
        h = min(h, t_max)
        t, n_steps, n_rej, attempts = 0.0, 0, 0, 0
        status = 1  # converged (already at the start, or set when the loop stops)
        running = not (gtol > 0 and gnorm < gtol)
        while running:
            target = t_eval[next_rec] if next_rec < n_t else t_max
            hi = min(h, target - t)
            mh = -hi
            for st in range(1, 6):  # stages 2-6 (the first is the gradient at y, kept from the last step)
                for q in range(n_par):
                    acc_q = kk[0, q] * _A[st, 0]
                    for j in range(1, st):
                        acc_q += kk[j, q] * _A[st, j]
                    ys[q] = y[q] + mh * acc_q
                _grad(ys, dims, off, sx, wl, cc, kk[st], pre, left, tmp)
            finite = True
            for q in range(n_par):
                y_new[q] = y[q] + mh * (k1[q] * B1 + k3[q] * B3 + k4[q] * B4 + k5[q] * B5 + k6[q] * B6)
                if not np.isfinite(y_new[q]):
                    finite = False
            loss_new = _grad(y_new, dims, off, sx, wl, cc, k7, pre, left, tmp)
            s = 0.0
            for q in range(n_par):
                err = (k1[q] * E1 + k3[q] * E3 + k4[q] * E4 + k5[q] * E5 + k6[q] * E6 + k7[q] * E7) * hi
                err /= max(abs(y[q]), abs(y_new[q])) * rtol + atol
                s += err * err
            en = np.sqrt(s / n_par)
            finite = finite and np.isfinite(en)
            acc = finite and en <= 1.0
            if not finite:
                fac = 0.2
            else:
                fac = 10.0 if en == 0 else min(max(0.9 * max(en, 1e-300) ** -0.2, 0.2), 10.0)
                if not acc:
                    fac = min(fac, 1.0)
            h_next = hi * fac
            # keep the controller's step when it was only shortened to hit a recording time
            h = max(h, h_next) if (acc and hi < h) else h_next
            attempts += 1
            gn_new = _norm(k7)
            if acc:
                for q in range(n_par):
                    y[q] = y_new[q]
                    k1[q] = k7[q]
                t = t + hi
                n_steps += 1
                gnorm = gn_new
                loss = loss_new
                if abs(t - target) <= t_tol and next_rec < n_t:
                    loss_rec[r, next_rec], grad_rec[r, next_rec] = loss_new, gn_new
                    next_rec += 1
            else:
                n_rej += 1
            conv = acc and gtol > 0 and gn_new < gtol
            at_end = acc and t >= t_max * (1 - 1e-14)
            tiny = h < 1e-14 * max(1.0, t)
            capped = attempts >= max_steps
            if at_end or conv or tiny or capped:
                status = 1 if conv else 0
                if tiny or (capped and not (conv or at_end)):
                    status = -1
                if not acc:  # the loss at y (the state of the last accepted step)
                    loss = _grad(y, dims, off, sx, wl, cc, k7, pre, left, tmp)
                running = False
        # store; the recording times not reached get the last values
        out_y[r, :] = y
        out_t[r], out_i[r, 0], out_i[r, 1], out_i[r, 2] = t, status, n_steps, n_rej
        for q in range(next_rec, n_t):
            loss_rec[r, q], grad_rec[r, q] = loss, gnorm


def run(y0, dims, sxx, wls, c0, t_max, t_eval, rtol, atol, gtol, max_steps, first_step) -> dict:
    """Run the compiled engine; same inputs and output dictionary as ``dynamics._dopri_slots`` (without ``slots``)."""
    k_total, n_par = y0.shape
    n_t = t_eval.size
    dims_a = np.asarray(dims, dtype=np.int64)
    off = np.concatenate([[0], np.cumsum(dims_a[1:] * dims_a[:-1])]).astype(np.int64)
    out_y, out_t = np.empty((k_total, n_par)), np.zeros(k_total)
    out_i, rec = np.zeros((k_total, 3), dtype=np.int64), np.empty((2, k_total, n_t))
    f64 = np.float64
    _dopri(
        np.ascontiguousarray(y0, dtype=f64),
        dims_a,
        off,
        np.ascontiguousarray(sxx, dtype=f64),
        np.ascontiguousarray(wls, dtype=f64),
        np.ascontiguousarray(np.atleast_1d(c0), dtype=f64),
        float(t_max),
        np.ascontiguousarray(t_eval, dtype=f64),
        float(rtol),
        float(atol),
        float(gtol),
        int(max_steps),
        -1.0 if first_step is None else float(first_step),
        out_y,
        out_t,
        out_i,
        rec,
    )
    return {
        "y": out_y,
        "t": out_t,
        "status": out_i[:, 0].copy(),
        "n_steps": out_i[:, 1].copy(),
        "n_rej": out_i[:, 2].copy(),
        "loss_rec": rec[0],
        "grad_rec": rec[1],
    }
