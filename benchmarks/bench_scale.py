"""Benchmark: the OVF experiment at scale (continuous batching, lean step, Dask) against jax and torch.

Run ``python benchmarks/bench_scale.py`` from the repository root (``make bench`` installs jax and torch
into a separate benchmark environment first; without them those rows are skipped with a message).
``--quick`` shrinks every workload.

1. ``ovf_experiment`` (chunks of trials, continuous batching) vs a loop of ``solve_ivp(RK45)`` on the
   same trials (same data, initializations, tolerances, stopping rule; identification excluded from
   the loop, included in the runner). Target: >= 20x.
2. ``gradient_flow_batch`` per trajectory at B = 1, 100, 1000 (widths 5-4-4-5, rtol 1e-9, atol 1e-12,
   t in [0, 20]) vs jax ``odeint`` (Dormand-Prince) under ``jit`` + ``vmap`` (compile excluded) and vs a
   plain ``solve_ivp(RK45)`` per trajectory. Targets: >= 2x jax at B = 100 and 1000; at B = 1 no slower
   than ``solve_ivp``.
3. ``gradient_descent_batch`` B = 1000, 2000 steps (default sparse records) vs the same iteration in
   torch with ``bmm`` (float64, one thread). Target: no slower.
4. Dask ``LocalCluster`` with 2 single-threaded workers vs 1: throughput ratio of ``ovf_experiment``
   (512 trials of widths 4-4-4-3), and the scheduler's overhead per trajectory (1 Dask worker vs
   in-process). ``--part dask`` reruns only this part.

jax's CPU backend uses a thread pool by default, whose CPU time counts here; ``--part
flow-jax-one-thread`` reruns row 2 with XLA on one thread (as numpy and torch are here).

Single-process timings are CPU times of this process (``time.process_time``), which a busy shared
machine disturbs less than wall time; the Dask rows are wall times. BLAS and torch use one thread.

``gradient_flow_batch`` has two engines: a compiled one (numba, the ``scale`` extra) and the pure-numpy
fallback (``DLNLIB_NO_JIT=1``). Rows 1 and 2 time the engine in use after one warm-up call (compilation
or loading numba's on-disk cache excluded, as jax's compilation is; the warm-up time is reported), and
row 2 also times the numpy fallback.
Writes ``benchmarks/results/scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from scipy.integrate import solve_ivp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import write_results

from dlnlib import _dopri_jit
from dlnlib.dynamics import _grad_loss_batch, _moments, gradient_descent_batch, gradient_flow_batch
from dlnlib.experiments import _draw_data, _streams, make_data, ovf_experiment
from dlnlib.model import _flat, random_weights

SEED = 20240502
ENGINE = "numba" if _dopri_jit.available() else "numpy"


def _numpy_engine(fn):
    """Run ``fn`` with the pure-numpy engine of ``gradient_flow_batch``."""
    old = os.environ.get("DLNLIB_NO_JIT")
    os.environ["DLNLIB_NO_JIT"] = "1"
    try:
        return fn()
    finally:
        if old is None:
            del os.environ["DLNLIB_NO_JIT"]
        else:
            os.environ["DLNLIB_NO_JIT"] = old


def warm_up() -> float:
    """Wall seconds of a first tiny flow (numba's compilation, or loading its cache); excluded from the timings."""
    dims = (3, 3, 2)
    X, Y = make_data(dims, np.random.default_rng(0))
    w0 = [w[None] for w in random_weights(dims, np.random.default_rng(1))]
    secs, _ = wall(lambda: gradient_flow_batch(w0, X, Y, 1.0, grad_tol=None, t_eval=[0, 1.0]))
    print(f"[0] flow engine: {ENGINE}; first call (compile or load the cache) {secs:.1f} s, excluded below", flush=True)
    return secs


def cpu(fn):
    t0 = time.process_time()
    out = fn()
    return time.process_time() - t0, out


def wall(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _rk45(y0, mom, dims, t_max, rtol, atol, grad_tol):
    """One trajectory with scipy's RK45 (same right-hand side, optional terminal event at grad_tol)."""

    def rhs(_t, y):
        return -_grad_loss_batch(y[None], dims, mom)[0][0]

    events = None
    if grad_tol:

        def ev(_t, y):
            return np.linalg.norm(_grad_loss_batch(y[None], dims, mom)[0][0]) - grad_tol

        ev.terminal, ev.direction = True, -1
        events = ev
    return solve_ivp(rhs, (0.0, t_max), y0, method="RK45", rtol=rtol, atol=atol, t_eval=[t_max], events=events)


# --------------------------------------------------------------------------- 1. OVF runner vs RK45 loop


def bench_ovf_vs_rk45(n_inits: int, n_loop: int) -> dict:
    dims, kw = (4, 4, 4, 3), {"t_max": 1e4, "rtol": 1e-11, "atol": 1e-14, "grad_tol": 1e-9}
    secs, res = cpu(lambda: ovf_experiment(dims, n_data=2, n_inits=n_inits, rng=SEED, progress=False, **kw))
    # the same trials, one solve_ivp(RK45) each (data draw 0, the first n_loop initializations)
    st = _streams(np.random.default_rng(SEED), 2)
    X, Y = _draw_data(dims, st.data(0), "gaussian", None, 0.3)
    mom = _moments(X, Y).batched()
    inits = [random_weights(dims, np.random.default_rng(st.init(0, i))) for i in range(n_loop)]
    y0s = [_flat([w[None] for w in ws])[0] for ws in inits]
    t_loop, _ = cpu(lambda: [_rk45(y, mom, dims, kw["t_max"], kw["rtol"], kw["atol"], kw["grad_tol"]) for y in y0s])
    per_ovf, per_loop = secs / res.n_trials, t_loop / n_loop
    row = {
        "dims": list(dims),
        "engine": ENGINE,
        "ovf_trials": res.n_trials,
        "ovf_s_per_trajectory": per_ovf,
        "rk45_loop_trajectories": n_loop,
        "rk45_s_per_trajectory": per_loop,
        "speedup": per_loop / per_ovf,
        "target": 20.0,
    }
    print(
        f"[1] OVF runner ({ENGINE}) {per_ovf * 1e3:.1f} ms/traj ({res.n_trials} trials, identification included) vs "
        f"solve_ivp(RK45) loop {per_loop * 1e3:.1f} ms/traj: x{row['speedup']:.1f} (target x20)",
        flush=True,
    )
    return row


# --------------------------------------------------------------------------- 2. batched flow vs jax odeint


def _jax_solver(dims, sxx, wls, t_max, rtol, atol):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.experimental.ode import odeint

    off = np.concatenate([[0], np.cumsum([dims[i] * dims[i - 1] for i in range(1, len(dims))])])
    sxx, wls = jnp.asarray(sxx), jnp.asarray(wls)

    def rhs(y, _t):
        ws = [y[off[i] : off[i + 1]].reshape(dims[i + 1], dims[i]) for i in range(len(dims) - 1)]
        pre = [ws[0]]
        for w in ws[1:]:
            pre.append(w @ pre[-1])
        e = (pre[-1] - wls) @ sxx
        grads, left = [None] * len(ws), e
        for i in range(len(ws) - 1, -1, -1):
            grads[i] = left if i == 0 else left @ pre[i - 1].T
            if i > 0:
                left = ws[i].T @ left
        return -jnp.concatenate([g.ravel() for g in grads])

    ts = jnp.array([0.0, t_max])
    return jax.jit(jax.vmap(lambda y0: odeint(rhs, y0, ts, rtol=rtol, atol=atol)[-1]))


def bench_flow_vs_jax(bs, n_loop: int) -> list[dict]:
    dims, t_max, rtol, atol = (5, 4, 4, 5), 20.0, 1e-9, 1e-12
    rng = np.random.default_rng(SEED)
    X, Y = make_data(dims, rng)
    mom = _moments(X, Y)
    try:
        solver = _jax_solver(dims, mom.sxx, mom.wls, t_max, rtol, atol)
    except ImportError:
        solver = None
        print("[2] jax not installed: jax rows skipped (make bench installs it in a separate environment)", flush=True)
    rows = []
    for b in bs:
        w0 = [np.stack(z) for z in zip(*[random_weights(dims, rng) for _ in range(b)])]
        t_ours, traj = cpu(
            lambda w0=w0: gradient_flow_batch(w0, X, Y, t_max, rtol=rtol, atol=atol, grad_tol=None, t_eval=[0, t_max])
        )
        row = {"B": b, "engine": ENGINE, "ours_ms_per_trajectory": 1e3 * t_ours / b}
        if ENGINE != "numpy":
            t_np, _ = cpu(
                lambda w0=w0: _numpy_engine(
                    lambda: gradient_flow_batch(w0, X, Y, t_max, rtol=rtol, atol=atol, grad_tol=None, t_eval=[0, t_max])
                )
            )
            row["numpy_engine_ms_per_trajectory"] = 1e3 * t_np / b
        if b == 1 or b <= n_loop:
            n = min(b, n_loop)
            y0, m1 = _flat(w0)[:n], mom.batched()
            t_loop, _ = cpu(lambda y0=y0, m1=m1: [_rk45(y, m1, dims, t_max, rtol, atol, None) for y in y0])
            row["rk45_ms_per_trajectory"] = 1e3 * t_loop / n
            row["speedup_vs_rk45"] = row["rk45_ms_per_trajectory"] / row["ours_ms_per_trajectory"]
        if solver is not None:
            import jax.numpy as jnp

            y0 = jnp.asarray(_flat(w0))
            t_compile, _ = wall(lambda y0=y0: solver(y0).block_until_ready())
            y1 = jnp.asarray(_flat([w * 1.01 for w in w0]))  # new values, same shapes: no recompilation
            t_jax, yj = cpu(lambda y1=y1: solver(y1).block_until_ready())
            ref = gradient_flow_batch(
                [w * 1.01 for w in w0], X, Y, t_max, rtol=rtol, atol=atol, grad_tol=None, t_eval=[0, t_max]
            )
            diff = float(np.max(np.abs(np.asarray(yj) - _flat(ref.final_weights))))
            row.update(
                {
                    "jax_ms_per_trajectory": 1e3 * t_jax / b,
                    "jax_compile_s": t_compile,
                    "speedup_vs_jax": (1e3 * t_jax / b) / row["ours_ms_per_trajectory"],
                    "max_endpoint_difference_vs_jax": diff,
                }
            )
        rows.append(row)
        parts = [f"[2] B={b:5d}: ours ({ENGINE}) {row['ours_ms_per_trajectory']:.2f} ms/traj"]
        if "numpy_engine_ms_per_trajectory" in row:
            parts.append(f"numpy engine {row['numpy_engine_ms_per_trajectory']:.2f} ms/traj")
        if "jax_ms_per_trajectory" in row:
            parts.append(
                f"jax odeint {row['jax_ms_per_trajectory']:.2f} ms/traj (x{row['speedup_vs_jax']:.2f}, target x2 at "
                f"B>=100; compile {row['jax_compile_s']:.1f} s; "
                f"endpoint diff {row['max_endpoint_difference_vs_jax']:.1e})"
            )
        if "rk45_ms_per_trajectory" in row:
            parts.append(f"solve_ivp RK45 {row['rk45_ms_per_trajectory']:.2f} ms/traj (x{row['speedup_vs_rk45']:.2f})")
        print(", ".join(parts), flush=True)
    del traj
    return rows


# --------------------------------------------------------------------------- 3. GD batch vs torch bmm


def _torch_gd(w0, sxx, wls, step, n_steps):
    import torch

    torch.set_num_threads(1)
    ws = [torch.from_numpy(w.copy()) for w in w0]
    sxx_t, wls_t = torch.from_numpy(sxx), torch.from_numpy(wls)
    for _ in range(n_steps):
        pre = [ws[0]]
        for w in ws[1:]:
            pre.append(torch.bmm(w, pre[-1]))
        e = torch.matmul(pre[-1] - wls_t, sxx_t)
        left = e
        grads = [None] * len(ws)
        for i in range(len(ws) - 1, -1, -1):
            grads[i] = left if i == 0 else torch.bmm(left, pre[i - 1].transpose(1, 2))
            if i > 0:
                left = torch.bmm(ws[i].transpose(1, 2), left)
        ws = [w - step * g for w, g in zip(ws, grads)]
    return [w.numpy() for w in ws]


def bench_gd_vs_torch(b: int, n_steps: int) -> dict:
    dims = (5, 4, 4, 5)
    rng = np.random.default_rng(SEED)
    X, Y = make_data(dims, rng)
    w0 = [np.stack(z) for z in zip(*[random_weights(dims, rng) for _ in range(b)])]
    step = 0.05
    t_ours, res = cpu(lambda: gradient_descent_batch(w0, X, Y, step, n_steps))
    row = {"B": b, "steps": n_steps, "ours_s": t_ours}
    try:
        mom = _moments(X, Y)
        t_torch, wt = cpu(lambda: _torch_gd(w0, mom.sxx, mom.wls, step, n_steps))
        row.update(
            {
                "torch_s": t_torch,
                "speedup_vs_torch": t_torch / t_ours,
                "max_difference_vs_torch": float(max(np.max(np.abs(a - c)) for a, c in zip(wt, res.final_weights))),
            }
        )
        print(
            f"[3] gradient_descent_batch B={b}, {n_steps} steps: {t_ours:.2f} s vs torch bmm {t_torch:.2f} s "
            f"(x{row['speedup_vs_torch']:.2f}, target >= x1; weights differ by {row['max_difference_vs_torch']:.1e})",
            flush=True,
        )
    except ImportError:
        print(f"[3] gradient_descent_batch B={b}: {t_ours:.2f} s; torch not installed: comparison skipped", flush=True)
    return row


# --------------------------------------------------------------------------- 4. Dask


def bench_dask(n_inits: int) -> dict:
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        print("[4] dask.distributed not installed: skipped (pip install -e '.[scale]')", flush=True)
        return {}
    from dlnlib.campaign import executor_for

    dims = (4, 4, 4, 3)
    kw = {"n_data": 2, "n_inits": n_inits, "rng": SEED, "t_max": 1e4, "chunk_size": 32, "slots": 16, "progress": False}
    t_serial, ref = wall(lambda: ovf_experiment(dims, **kw))
    out = {"trials": ref.n_trials, "serial_s": t_serial}
    for n in (1, 2):
        with executor_for("local", n) as ex:
            ovf_experiment(dims, executor=ex, **{**kw, "n_inits": 2 * n, "chunk_size": 1})  # warm-up: imports, numba
            secs, res = wall(lambda ex=ex: ovf_experiment(dims, executor=ex, **kw))
        out[f"dask_{n}_s"] = secs
        out[f"dask_{n}_identical"] = bool(np.array_equal(res.final_loss, ref.final_loss))
    out["throughput_ratio_2_vs_1"] = out["dask_1_s"] / out["dask_2_s"]
    out["overhead_ms_per_trajectory"] = 1e3 * (out["dask_1_s"] - t_serial) / ref.n_trials
    print(
        f"[4] Dask LocalCluster, {ref.n_trials} trials: 1 worker {out['dask_1_s']:.1f} s, "
        f"2 workers {out['dask_2_s']:.1f} s "
        f"(throughput x{out['throughput_ratio_2_vs_1']:.2f}), in-process {t_serial:.1f} s: scheduler overhead "
        f"{out['overhead_ms_per_trajectory']:.1f} ms/trajectory; identical results: "
        f"{out['dask_1_identical'] and out['dask_2_identical']}",
        flush=True,
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller workloads")
    ap.add_argument(
        "--part",
        choices=("dask", "flow-jax-one-thread"),
        help="rerun only this part and update the result file (flow-jax-one-thread: row 2 at B = 100 and 1000 "
        "with XLA restricted to one thread, like numpy and torch here, stored as flow_vs_jax_one_thread)",
    )
    args = ap.parse_args()
    q = args.quick
    if args.part:
        path = Path(__file__).resolve().parent / "results" / "scale.json"
        env = ("numpy", "python", "machine", "cpu_count")
        old = {k: v for k, v in json.loads(path.read_text()).items() if k not in env}
        if args.part == "dask":
            old["dask"] = bench_dask(16 if q else 256)
        else:
            os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            warm_up()
            old["flow_vs_jax_one_thread"] = bench_flow_vs_jax((100,) if q else (100, 1000), n_loop=0)
        write_results("scale", old)
        return
    out = {
        "flow_engine": ENGINE,
        "warm_up_s": warm_up(),
        "ovf_vs_rk45": bench_ovf_vs_rk45(n_inits=16 if q else 64, n_loop=4 if q else 8),
        "flow_vs_jax": bench_flow_vs_jax((1, 100) if q else (1, 100, 1000), n_loop=4 if q else 10),
        "gd_vs_torch": bench_gd_vs_torch(200 if q else 1000, 500 if q else 2000),
        "dask": bench_dask(16 if q else 256),
        "timing": "process CPU time for single-process rows, wall time for Dask",
    }
    write_results("scale", out)


if __name__ == "__main__":
    main()
