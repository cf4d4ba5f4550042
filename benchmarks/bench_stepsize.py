"""Benchmark: the step-size chapter's two Monte Carlo kernels against the straightforward loops.

Run ``python benchmarks/bench_stepsize.py`` from the repository root. On the student report's data
(``X`` 5x5 Gaussian, ``Y = diag(1, ..., 5) X + noise``) it times

* ``dlnlib.stepsize.step_size_bounds`` ([NRT] bound of 1000 random networks, vectorized over the
  networks) against a Python loop of ``dlnlib.stepsize.step_size_bound`` over the same networks,
  for dims 5-5-5-5 and 5-2-2-5; the bounds must agree to 1e-10 (relative);
* ``dlnlib.stepsize.first_diverging_step`` (all doubled steps as one gradient-descent batch)
  against the report's sequential procedure (one ``dlnlib.dynamics.gradient_descent`` run per
  step, doubling until the first divergence), for 20 networks; the first diverging steps must agree.

It prints the ratios and writes ``benchmarks/results/stepsize.json``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import best_time, write_results

from dlnlib.dynamics import gradient_descent
from dlnlib.model import random_weights
from dlnlib.stepsize import first_diverging_step, step_size_bound, step_size_bounds

SEED = 20240501
N_NETWORKS = 1000
N_DOUBLING = 20
N_EPOCHS = 5000
ETA0 = 1e-3
SCALE = 0.15


def _data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = rng.standard_normal((5, 5))
    Y = np.diag([1.0, 2.0, 3.0, 4.0, 5.0]) @ X + 0.1 * rng.standard_normal((5, 5))
    return X, Y


def _bounds_loop(dims, X, Y, seed, n) -> np.ndarray:
    out = np.full(n, np.nan)
    for j, child in enumerate(np.random.default_rng(seed).spawn(n)):
        ws = random_weights(dims, child, scale=SCALE)
        try:
            out[j] = step_size_bound(ws, X, Y).eta
        except ValueError:  # hypothesis alpha < 1 fails: NaN, as in step_size_bounds
            pass
    return out


def _doubling_sequential(ws, X, Y, eta0, max_doublings=30) -> float | None:
    """The report's procedure as written: run, double while the run does not diverge."""
    eta = eta0
    for _ in range(max_doublings + 1):
        if gradient_descent(ws, X, Y, eta, N_EPOCHS, grad_tol=1e-10).diverged:
            return eta
        eta *= 2
    return None


def main() -> None:
    rng = np.random.default_rng(SEED)
    X, Y = _data(rng)
    rows = []
    print(f"Step-size benchmark ({os.cpu_count()} CPUs)")
    print(f"{'kernel':<34} {'vectorized s':>13} {'loop s':>9} {'ratio':>7}  agreement")
    for dims in [(5, 5, 5, 5), (5, 2, 2, 5)]:
        t_vec, sample = best_time(lambda dims=dims: step_size_bounds(dims, X, Y, SEED, N_NETWORKS, scale=SCALE), 1)
        t_loop, ref = best_time(lambda dims=dims: _bounds_loop(dims, X, Y, SEED, N_NETWORKS), 1)
        same_nan = bool(np.array_equal(np.isnan(ref), np.isnan(sample.eta)))
        ok = ~np.isnan(ref)
        rel = float(np.max(np.abs(sample.eta[ok] - ref[ok]) / ref[ok])) if ok.any() else 0.0
        assert same_nan and rel < 1e-10, (same_nan, rel)
        row = {
            "kernel": "step_size_bounds",
            "dims": list(dims),
            "n": N_NETWORKS,
            "t_vectorized": t_vec,
            "t_loop": t_loop,
            "max_rel_diff": rel,
        }
        rows.append(row)
        name = f"bounds {'-'.join(map(str, dims))} x{N_NETWORKS}"
        print(f"{name:<34} {t_vec:>13.3g} {t_loop:>9.3g} {t_loop / t_vec:>7.1f}  max rel diff {rel:.1e}")

    dims = (5, 5, 5, 5)
    nets = [random_weights(dims, child, scale=SCALE) for child in np.random.default_rng(SEED + 1).spawn(N_DOUBLING)]
    t_vec, batched = best_time(
        lambda: [first_diverging_step(ws, X, Y, eta0=ETA0, n_epochs=N_EPOCHS).first_diverging_step for ws in nets], 1
    )
    t_loop, sequential = best_time(lambda: [_doubling_sequential(ws, X, Y, ETA0) for ws in nets], 1)
    agree = sum(a == b for a, b in zip(batched, sequential, strict=True))
    assert agree == N_DOUBLING, (batched, sequential)
    rows.append(
        {
            "kernel": "first_diverging_step",
            "dims": list(dims),
            "n": N_DOUBLING,
            "n_epochs": N_EPOCHS,
            "t_vectorized": t_vec,
            "t_loop": t_loop,
            "agree": agree,
        }
    )
    name = f"doubling {'-'.join(map(str, dims))} x{N_DOUBLING}"
    print(f"{name:<34} {t_vec:>13.3g} {t_loop:>9.3g} {t_loop / t_vec:>7.1f}  {agree}/{N_DOUBLING} same step")

    out = {
        "description": (
            "step_size_bounds (vectorized over networks) vs a loop of step_size_bound; first_diverging_step "
            "(all doubled steps in one gradient-descent batch) vs the sequential doubling procedure with "
            "gradient_descent; one run each; seconds"
        ),
        "seed": SEED,
        "scale": SCALE,
        "rows": rows,
    }
    write_results("stepsize", out)


if __name__ == "__main__":
    main()
