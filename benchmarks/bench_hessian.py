"""Benchmark: closed-form Hessian (Prop. 3 of [CLC]) vs finite differences vs eigvalsh.

Run ``python benchmarks/bench_hessian.py`` from the repository root. For depth-4 networks of
equal widths ``d`` (``P = 4 d^2`` parameters, from ~10^2 to 10^4) it times

* ``dlnlib.hessian.hessian`` (closed-form assembly),
* ``dlnlib.hessian.hessian_fd`` (central differences: ``2P`` gradient evaluations, batched
  256 directions at a time), skipped above ``P = 3000`` where it becomes slow,
* a plain loop of ``2P`` calls to ``dlnlib.model.gradient`` (central differences as a user
  would write them), also skipped above ``P = 3000``,
* ``numpy.linalg.eigvalsh`` of the assembled matrix (what ``inertia`` costs on top),

prints a table with the ratios and writes ``benchmarks/results/hessian.json``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import best_time, write_results

from dlnlib.hessian import hessian, hessian_fd
from dlnlib.model import _flat, _unflat, gradient, random_weights

DEPTH = 4
WIDTHS = (5, 10, 16, 22, 27, 35, 50)  # P = 4 d^2: 100 ... 10000
FD_MAX_P = 3000
SAMPLES = 200
SEED = 20240501


def _fd_loop(ws, X, Y, eps: float = 1e-5) -> np.ndarray:
    """Reference: one pair of ``dlnlib.model.gradient`` calls per parameter."""
    dims = (ws[0].shape[1], *(w.shape[0] for w in ws))
    flat = _flat(ws)

    def grad(x):
        return _flat(gradient(_unflat(x, dims), X, Y))

    cols = []
    for k in range(flat.size):
        e = np.zeros_like(flat)
        e[k] = eps
        cols.append((grad(flat + e) - grad(flat - e)) / (2 * eps))
    return np.array(cols).T


def run() -> list[dict]:
    rng = np.random.default_rng(SEED)
    np.linalg.eigvalsh(np.eye(64))  # warm up LAPACK/threads
    rows = []
    for d in WIDTHS:
        dims = (d,) * (DEPTH + 1)
        X = rng.standard_normal((d, SAMPLES))
        Y = rng.standard_normal((d, d)) @ X + 0.1 * rng.standard_normal((d, SAMPLES))
        ws = random_weights(dims, rng)
        p = sum(w.size for w in ws)
        repeat = 3 if p <= 3000 else 2
        t_h, h = best_time(lambda ws=ws, X=X, Y=Y: hessian(ws, X, Y), repeat)
        row = {"dims": list(dims), "P": p, "t_hessian": t_h}
        if p <= FD_MAX_P:
            t_fd, h_fd = best_time(lambda ws=ws, X=X, Y=Y: hessian_fd(ws, X, Y), 1)
            row["t_fd"] = t_fd
            row["fd_rel_err"] = float(np.max(np.abs(h - h_fd)) / np.max(np.abs(h)))
            del h_fd
            row["t_fd_loop"], _ = best_time(lambda ws=ws, X=X, Y=Y: _fd_loop(ws, X, Y), 1)
        else:
            row["t_fd"] = row["t_fd_loop"] = row["fd_rel_err"] = None
        t_eig, _ = best_time(lambda h=h: np.linalg.eigvalsh(h), 3 if p <= 3000 else 1)
        row["t_eigvalsh"] = t_eig
        rows.append(row)
        del h
        _print_row(row)
    return rows


def _fmt(x, spec=".3g") -> str:
    return "-" if x is None else format(x, spec)


def _print_row(row: dict) -> None:
    ratio_fd = None if row["t_fd"] is None else row["t_fd"] / row["t_hessian"]
    ratio_loop = None if row["t_fd_loop"] is None else row["t_fd_loop"] / row["t_hessian"]
    ratio_eig = row["t_eigvalsh"] / row["t_hessian"]
    print(
        f"{row['P']:>7d} {_fmt(row['t_hessian']):>10} {_fmt(row['t_fd']):>10} {_fmt(ratio_fd):>9} "
        f"{_fmt(row['t_fd_loop']):>10} {_fmt(ratio_loop):>9} "
        f"{_fmt(row['t_eigvalsh']):>10} {_fmt(ratio_eig):>9} {_fmt(row['fd_rel_err'], '.1e'):>10}",
        flush=True,
    )


def main() -> None:
    print(f"Hessian benchmark: depth {DEPTH}, equal widths, m = {SAMPLES} samples, {os.cpu_count()} CPUs")
    print(f"(finite differences skipped above P = {FD_MAX_P}: 2P gradient evaluations become too slow)")
    print(
        f"{'P':>7} {'hessian s':>10} {'FD s':>10} {'FD/hess':>9} {'FDloop s':>10} {'loop/hess':>9} "
        f"{'eigh s':>10} {'eigh/hess':>9} {'FD relerr':>10}"
    )
    rows = run()
    out = {
        "description": (
            "closed-form Hessian assembly (t_hessian) vs central-difference Hessian, batched (t_fd) and as a loop "
            "of dlnlib.model.gradient calls (t_fd_loop), vs numpy.linalg.eigvalsh of the assembled matrix; "
            "best of 3 runs (2 for P > 3000, 1 for FD); seconds"
        ),
        "depth": DEPTH,
        "samples": SAMPLES,
        "seed": SEED,
        "fd_max_P": FD_MAX_P,
        "rows": rows,
    }
    write_results("hessian", out)


if __name__ == "__main__":
    main()
