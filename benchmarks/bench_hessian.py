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

``python benchmarks/bench_hessian.py --part matfree`` runs the matrix-free benchmarks instead
(:mod:`dlnlib.spectrum`; ``--part all`` runs both) and writes ``benchmarks/results/hessian_matfree.json``:

* one Hessian-vector product vs one gradient evaluation at ``P ~ 10^3, 10^4, 10^5`` (depth 4):
  the public ``hessian_vector_product`` (which recomputes the products and moments) and the
  operator of ``hessian_operator`` (products computed once), target ``<= 3x``;
* the 5 smallest eigenvalues at ``P = 10^4`` (depth 4, a strict saddle with ``n_- >= 49``):
  ``extreme_eigenvalues`` (Lanczos) and ``scipy.sparse.linalg.lobpcg`` vs ``eigvalsh`` of the
  assembled Hessian (run once, ~70 s), same values to 1e-8 relative, target ``>= 30x`` faster;
* ``classify`` at ``P = 180,000`` (widths 300-300-300; a strict saddle and a global minimum) in a
  child process under a 3 GiB address-space limit, and at ``P = 10^6`` (widths 500-500-500-500-500,
  a strict saddle), time and peak resident memory of the child.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import RESULTS_DIR, best_time, write_results

from dlnlib.hessian import hessian, hessian_fd, hessian_vector_product
from dlnlib.landscape import balanced_critical_point
from dlnlib.model import _flat, _unflat, gradient, random_weights
from dlnlib.spectrum import extreme_eigenvalues, hessian_operator, spread_reduced_data

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


# --------------------------------------------------------------------------- matrix-free

HVP_WIDTHS = (16, 50, 158)  # depth 4: P = 1024, 10000, 99856
EIG_WIDTH = 50  # depth 4: P = 10^4
WIDE_CASES = (
    ("classify_180k_strict", (300, 300, 300), "strict", 3 << 30),
    ("classify_180k_global_min", (300, 300, 300), "global", 3 << 30),
    ("classify_1M_strict", (500, 500, 500, 500, 500), "strict", None),
)


def _index_set(d_y: int, kind: str) -> tuple[int, ...]:
    """Global minimum: top ``d_y``; strict saddle: top ``d_y - 1`` with the last two swapped (n_- = 2 at N = 2)."""
    return tuple(range(d_y)) if kind == "global" else tuple(range(d_y - 2)) + (d_y - 1,)


def _hvp_rows() -> list[dict]:
    rng = np.random.default_rng(SEED)
    rows = []
    for d in HVP_WIDTHS:
        dims = (d,) * (DEPTH + 1)
        X = rng.standard_normal((d, 2 * d))
        Y = rng.standard_normal((d, d)) @ X + 0.1 * rng.standard_normal((d, 2 * d))
        ws = random_weights(dims, rng)
        v = rng.standard_normal(sum(w.size for w in ws))
        op = hessian_operator(ws, X, Y)
        block = rng.standard_normal((v.size, 8))
        repeat = 20 if d < 100 else 5
        t_g, _ = best_time(lambda ws=ws, X=X, Y=Y: gradient(ws, X, Y), repeat)
        t_h, _ = best_time(lambda ws=ws, X=X, Y=Y, v=v: hessian_vector_product(ws, X, Y, v), repeat)
        t_op, _ = best_time(lambda op=op, v=v: op @ v, repeat)
        t_blk, _ = best_time(lambda op=op, b=block: op @ b, max(repeat // 4, 2))
        row = {
            "dims": list(dims),
            "P": int(v.size),
            "t_gradient": t_g,
            "t_hvp": t_h,
            "t_operator": t_op,
            "t_operator_block8_per_vector": t_blk / 8,
            "ratio_hvp_gradient": t_h / t_g,
            "ratio_operator_gradient": t_op / t_g,
        }
        print(
            f"  HVP  P={row['P']:>7d}: gradient {t_g:.2e} s, hessian_vector_product {t_h:.2e} s "
            f"(x{t_h / t_g:.2f}), operator {t_op:.2e} s (x{t_op / t_g:.2f}), "
            f"block of 8 {t_blk / 8:.2e} s per vector",
            flush=True,
        )
        rows.append(row)
    return rows


def _lobpcg(ws, X, Y, k: int, rtol: float):
    """Reference: LOBPCG (block ``k + 3``, no preconditioner) on the same operator."""
    from scipy.sparse.linalg import lobpcg

    op = hessian_operator(ws, X, Y)
    g = np.random.default_rng(0)
    x0 = g.standard_normal((op.shape[0], k + 3))
    top = extreme_eigenvalues(ws, X, Y, k=1, which="largest", rtol=1e-3).values[-1]
    vals, _ = lobpcg(op, x0, largest=False, tol=rtol * top, maxiter=5000)
    return np.sort(vals)[:k], op.n_products


def _eig_row() -> dict:
    d = EIG_WIDTH
    dims = (d,) * (DEPTH + 1)
    X, Y = spread_reduced_data(dims, rng=SEED)
    S = tuple(range(1, d))  # not top: inv(S) = d - 1 negative directions at least
    ws = balanced_critical_point(X, Y, dims, S)
    k = 5
    t_mf, res = best_time(lambda: extreme_eigenvalues(ws, X, Y, k=k), 1)
    t_lo, (lo_vals, lo_n) = best_time(lambda: _lobpcg(ws, X, Y, k, 1e-10), 1)
    t_as, h = best_time(lambda: hessian(ws, X, Y), 1)
    t_eig, ev = best_time(lambda h=h: np.linalg.eigvalsh(h), 1)
    del h
    dense = ev[:k]
    rel = float(np.max(np.abs(res.values - dense) / np.abs(dense)))
    rel_lo = float(np.max(np.abs(lo_vals - dense) / np.abs(dense)))
    row = {
        "dims": list(dims),
        "P": int(res.n_params),
        "k": k,
        "index_set_size": len(S),
        "t_matrix_free": t_mf,
        "n_products": res.n_products,
        "t_lobpcg": t_lo,
        "n_products_lobpcg": int(lo_n),
        "t_dense_assembly": t_as,
        "t_dense_eigvalsh": t_eig,
        "speedup_vs_eigvalsh": t_eig / t_mf,
        "speedup_vs_assembly_plus_eigvalsh": (t_as + t_eig) / t_mf,
        "max_rel_diff": rel,
        "max_rel_diff_lobpcg": rel_lo,
        "values_matrix_free": res.values.tolist(),
        "values_dense": dense.tolist(),
        "max_residual_over_scale": float(np.max(res.residuals) / res.scale),
    }
    print(
        f"  eig  P={row['P']}: matrix-free {t_mf:.2f} s ({res.n_products} products), LOBPCG {t_lo:.2f} s "
        f"({lo_n} products), dense assembly {t_as:.2f} s + eigvalsh {t_eig:.1f} s: speed-up x{t_eig / t_mf:.1f} "
        f"(x{(t_as + t_eig) / t_mf:.1f} with assembly); max relative difference {rel:.1e} (LOBPCG {rel_lo:.1e})",
        flush=True,
    )
    return row


_CHILD = r"""
import json, resource, sys, time
limit = {limit}
if limit is not None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import numpy as np
sys.path.insert(0, {root!r})


def peak_rss():
    # VmHWM of this process image (ru_maxrss would include the parent's peak inherited through fork + exec)
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))


from dlnlib.hessian import classification
from dlnlib.landscape import balanced_critical_point
from dlnlib.spectrum import spread_reduced_data
dims = {dims!r}
X, Y = spread_reduced_data(dims, rng={seed})
ws = balanced_critical_point(X, Y, dims, {S!r})
t0 = time.perf_counter()
c = classification(ws, X, Y)
t = time.perf_counter() - t0
print(json.dumps({{"kind": c.kind, "t_classify": t, "n_products": c.inertia.spectrum.n_products,
    "smallest": c.inertia.eigenvalues.tolist(), "tol": c.inertia.tol, "method": c.inertia.method,
    "peak_rss_bytes": peak_rss()}}))
"""


def _wide_rows(cases=WIDE_CASES) -> list[dict]:
    rows = []
    root = str(Path(__file__).resolve().parents[1])
    for name, dims, kind, limit in cases:
        S = _index_set(dims[-1], kind)
        code = _CHILD.format(limit=limit, root=root, dims=dims, seed=SEED, S=S)
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if out.returncode != 0:  # keep the other cases; record what failed
            print(f"  {name}: FAILED after {wall:.0f} s\n{out.stderr[-2000:]}", flush=True)
            rows.append({"case": name, "dims": list(dims), "error": out.stderr[-2000:], "t_child_wall": wall})
            continue
        row = {
            "case": name,
            "dims": list(dims),
            "P": sum(dims[i] * dims[i + 1] for i in range(len(dims) - 1)),
            "expected": "strict_saddle" if kind == "strict" else "global_minimum",
            "address_space_limit_bytes": limit,
            "t_child_wall": wall,
            **json.loads(out.stdout.strip().splitlines()[-1]),
        }
        print(
            f"  {name}: P={row['P']}, {row['kind']} (expected {row['expected']}), classify {row['t_classify']:.1f} s, "
            f"{row['n_products']} products, peak RSS {row['peak_rss_bytes'] / 2**20:.0f} MiB, "
            f"smallest {np.round(row['smallest'], 4).tolist()}",
            flush=True,
        )
        rows.append(row)
    return rows


_MATFREE_DESCRIPTION = (
    "matrix-free second-order analysis (dlnlib.spectrum): one Hessian-vector product vs one gradient "
    "(best of 5-20 calls), the 5 smallest eigenvalues by Lanczos (extreme_eigenvalues) and LOBPCG vs "
    "dense eigvalsh (one run each), classify at P = 180,000 (3 GiB address-space limit) and P = 10^6 in a "
    "child process (time of classification() inside the child, peak RSS of the child); seconds"
)


def run_matfree(parts: tuple[str, ...] = ("hvp", "eig", "wide")) -> None:
    """Run the matrix-free parts; a subset updates those fields of an existing results file."""
    print(f"Matrix-free Hessian benchmark ({os.cpu_count()} CPUs), parts {', '.join(parts)}")
    path = RESULTS_DIR / "hessian_matfree.json"
    if set(parts) != {"hvp", "eig", "wide"}:
        old = json.loads(path.read_text()) if path.exists() else {}
        out = {k: v for k, v in old.items() if k not in ("numpy", "python", "machine", "cpu_count")}
        out["description"] = _MATFREE_DESCRIPTION
        if "hvp" in parts:
            out["hvp"] = _hvp_rows()
        if "eig" in parts:
            out["smallest_eigenvalues"] = _eig_row()
        if "wide" in parts:
            out["classify_wide"] = _wide_rows()
        if "wide180k" in parts:  # rerun the P = 180,000 cases only, keep the others
            small = [c for c in WIDE_CASES if c[1] == (300, 300, 300)]
            keep = [r for r in out.get("classify_wide", []) if r["P"] != 180_000]
            out["classify_wide"] = _wide_rows(small) + keep
        write_results("hessian_matfree", out)
        return
    out = {
        "description": _MATFREE_DESCRIPTION,
        "seed": SEED,
        "hvp": _hvp_rows(),
        "smallest_eigenvalues": _eig_row(),
        "classify_wide": _wide_rows(),
    }
    write_results("hessian_matfree", out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part", choices=("dense", "matfree", "all", "hvp", "eig", "wide", "wide180k"), default="dense"
    )
    part = parser.parse_args().part
    if part in ("matfree", "all"):
        run_matfree()
    if part in ("hvp", "eig", "wide", "wide180k"):
        run_matfree((part,))
    if part != "dense" and part != "all":
        return
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
