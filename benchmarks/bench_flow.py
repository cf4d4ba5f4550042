"""Benchmark: batched gradient flow vs per-trajectory integration, and OVF scaling with processes.

Run ``python benchmarks/bench_flow.py`` from the repository root (``--quick`` for a short run).

1. Trajectories per second for ``K`` in (10, 100, 1000) random initializations of a small network
   (widths 4-4-4-3, shared data), each integrated to ``t_max`` at equal ``rtol``/``atol``, with

   * ``dlnlib.gradient_flow_batch`` (Dormand-Prince 5(4), per-trajectory steps; its compiled engine when
     numba is installed, after one warm-up call, else its numpy engine),
   * a loop of ``dlnlib.gradient_flow(method="RK45")`` (``solve_ivp``, the same tableau),
   * a loop of ``dlnlib.gradient_flow(method="DOP853")`` (the default of the single-trajectory API).

   The loops are timed on a subset of trajectories (all for K = 10, at most 100) and reported
   per trajectory; no gradient tolerance stops the runs (``grad_tol=None``) so every method does
   the same work.
2. ``dlnlib.experiments.ovf_experiment`` wall time with no executor and with a
   ``ProcessPoolExecutor`` of 1 and 2 processes (same seed, same chunks: identical results).

Prints a table with the ratios and writes ``benchmarks/results/flow.json``.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import best_time, write_results

from dlnlib import _dopri_jit
from dlnlib.dynamics import gradient_flow, gradient_flow_batch
from dlnlib.experiments import make_data, ovf_experiment
from dlnlib.model import random_weights

DIMS = (4, 4, 4, 3)
T_MAX = 20.0
RTOL, ATOL = 1e-8, 1e-11
SEED = 20240502
ENGINE = "numba" if _dopri_jit.available() else "numpy"  # the engine of gradient_flow_batch (DLNLIB_NO_JIT=1: numpy)


def _batch(k: int, rng: np.random.Generator) -> list[np.ndarray]:
    ws = [random_weights(DIMS, rng) for _ in range(k)]
    return [np.stack([w[i] for w in ws]) for i in range(len(DIMS) - 1)]


def _loop(w0: list[np.ndarray], X: np.ndarray, Y: np.ndarray, n: int, method: str) -> list[list[np.ndarray]]:
    """Final weights of the first ``n`` trajectories of the batch ``w0``, one ``gradient_flow`` call each."""
    return [
        gradient_flow(
            [w[j] for w in w0], X, Y, T_MAX, rtol=RTOL, atol=ATOL, grad_tol=None, method=method, t_eval=[T_MAX]
        ).final_weights
        for j in range(n)
    ]


def bench_flow(ks, loop_max: int) -> list[dict]:
    rng = np.random.default_rng(SEED)
    X, Y = make_data(DIMS, rng)
    rows = []
    for k in ks:
        w0 = _batch(k, rng)
        t_batch, traj = best_time(
            lambda w0=w0: gradient_flow_batch(
                w0, X, Y, T_MAX, rtol=RTOL, atol=ATOL, grad_tol=None, t_eval=np.array([0.0, T_MAX])
            ),
            1,
        )
        n_loop = min(k, loop_max)
        per = {}
        finals = []
        for method in ("RK45", "DOP853"):
            secs, ends = best_time(lambda w0=w0, n=n_loop, method=method: _loop(w0, X, Y, n, method), 1)
            per[method] = secs / n_loop
            if method == "RK45":
                finals = ends
        # agreement of the batched and the solve_ivp RK45 endpoints (same scheme, same tolerances)
        diff = max(
            float(np.max(np.abs(traj.final_weights[i][j] - finals[j][i]))) for j in range(n_loop) for i in range(3)
        )
        rows.append(
            {
                "K": k,
                "batch_s": t_batch,
                "batch_traj_per_s": k / t_batch,
                "rk45_loop_traj_per_s": 1 / per["RK45"],
                "dop853_loop_traj_per_s": 1 / per["DOP853"],
                "speedup_vs_rk45": (k / t_batch) * per["RK45"],
                "speedup_vs_dop853": (k / t_batch) * per["DOP853"],
                "loop_trajectories_timed": n_loop,
                "max_endpoint_difference_vs_rk45": diff,
            }
        )
        r = rows[-1]
        print(
            f"K={k:5d}  batch {r['batch_traj_per_s']:9.1f} traj/s   RK45 loop {r['rk45_loop_traj_per_s']:7.1f}   "
            f"DOP853 loop {r['dop853_loop_traj_per_s']:7.1f}   x{r['speedup_vs_rk45']:6.1f} vs RK45, "
            f"x{r['speedup_vs_dop853']:6.1f} vs DOP853   (endpoint diff {diff:.1e})",
            flush=True,
        )
    return rows


def _ovf(procs: int, kw: dict):
    if procs == 0:
        return ovf_experiment(DIMS, **kw)
    with ProcessPoolExecutor(procs) as ex:
        return ovf_experiment(DIMS, executor=ex, **kw)


def bench_ovf(n_data: int, n_inits: int) -> list[dict]:
    kw = {"n_data": n_data, "n_inits": n_inits, "rng": SEED, "t_max": 1e4, "chunk_size": 25, "progress": False}
    rows, ref = [], None
    for procs in (0, 1, 2):
        secs, res = best_time(lambda procs=procs: _ovf(procs, kw), 1)
        ref = res if ref is None else ref
        same = bool(np.array_equal(res.final_loss, ref.final_loss) and np.array_equal(res.t_final, ref.t_final))
        rows.append({"processes": procs, "seconds": secs, "runs": res.n_trials, "identical_to_serial": same})
    base = rows[0]["seconds"]
    for r in rows:
        r["speedup_vs_serial"] = base / r["seconds"]
        label = "in-process" if r["processes"] == 0 else f"{r['processes']} process(es)"
        print(
            f"ovf_experiment {r['runs']} runs, {label:14s}: {r['seconds']:6.2f} s  "
            f"(x{r['speedup_vs_serial']:.2f}, identical: {r['identical_to_serial']})",
            flush=True,
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="K up to 100, fewer OVF runs")
    args = ap.parse_args()
    ks = (10, 100) if args.quick else (10, 100, 1000)
    print(f"widths {DIMS}, t_max={T_MAX}, rtol={RTOL}, atol={ATOL}, gradient_flow_batch engine: {ENGINE}")
    # one first call: numba's compilation (or the load of its on-disk cache) is not part of the timings
    X, Y = make_data(DIMS, np.random.default_rng(0))
    gradient_flow_batch(_batch(1, np.random.default_rng(1)), X, Y, 1.0, grad_tol=None)
    flow = bench_flow(ks, loop_max=20 if args.quick else 100)
    ovf = bench_ovf(2, 25) if args.quick else bench_ovf(4, 100)
    out = {
        "dims": list(DIMS),
        "t_max": T_MAX,
        "rtol": RTOL,
        "atol": ATOL,
        "engine": ENGINE,
        "flow": flow,
        "ovf_scaling": ovf,
    }
    write_results("flow", out, cpu_key="cpus")


if __name__ == "__main__":
    main()
