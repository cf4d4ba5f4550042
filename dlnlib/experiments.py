"""Monte Carlo test of the overfitting conjecture (Conjecture 1 of [CLC], §4.2) and its statistics.

See the Mathematical notes, "The overfitting conjecture". Draw data ``(X, Y)`` and initializations ``W(0)``, integrate
the gradient flow to convergence (``||∇L|| < grad_tol``), identify the critical value of the limit
(:func:`dlnlib.critical.limit_critical_value`) and report the fraction of runs that reach a global
minimum with a Wilson score interval.

Randomness: one generator is turned into independent streams with ``SeedSequence.spawn`` (one per
data draw, one per initialization), so a result never depends on how the trials are split into
chunks or across processes. Integration is batched with :func:`dlnlib.dynamics.gradient_flow_batch`
(vectorized over the initializations of a chunk, with per-trajectory data) and chunks can be mapped
with any :class:`concurrent.futures.Executor` (a ``ProcessPoolExecutor`` locally, a
``dask.distributed`` client's ``get_executor()`` on a cluster).

References
----------
[CLC] Y. Chitour, Z. Liao, R. Couillet, *A Geometric Approach of Gradient Descent Algorithms in
Linear Neural Networks*, Math. Control Relat. Fields 13(3), 2023 (arXiv:1811.03568).
E. B. Wilson, "Probable inference, the law of succession, and statistical inference",
J. Amer. Statist. Assoc. 22, 1927.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from ._validation import as_rng, check_positive
from .critical import (
    _LIMIT_PTOL,
    _LIMIT_RTOL,
    _MAX_SETS,
    _admissible_masks,
    _limit_critical_value,
    _min_gap,
    _value_from_mask,
)
from .dynamics import CONVERGED, gradient_flow_batch
from .model import _check_and_reduce, _check_dims, _end_to_end, _loss_at, random_weights, reduce_data

__all__ = ["DATA_KINDS", "OVFResult", "check_trials_fit", "make_data", "ovf_experiment", "wilson_interval"]

DATA_KINDS = ("gaussian", "reduced", "degenerate")


# --------------------------------------------------------------------------- statistics


def wilson_interval(k: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``k / n``.

    ``(p̂ + z²/2n ± z sqrt(p̂(1-p̂)/n + z²/4n²)) / (1 + z²/n)`` with ``z`` the two-sided normal
    quantile of ``confidence``. Unlike the Wald interval it stays inside ``[0, 1]`` and is
    informative at ``k = 0`` or ``k = n`` (e.g. ``k = n = 100`` gives a lower bound 0.963).

    Parameters
    ----------
    k : int
        Number of successes, ``0 <= k <= n``.
    n : int
        Number of trials, ``n >= 1``.
    confidence : float, optional
        Keyword-only. Coverage in ``(0, 1)``.

    Returns
    -------
    low, high : float
        The interval bounds.

    Raises
    ------
    TypeError, ValueError
        If ``k``, ``n`` or ``confidence`` is out of range.

    Examples
    --------
    >>> [round(x, 4) for x in wilson_interval(5, 10)]
    [0.2366, 0.7634]
    """
    for name, v in (("k", k), ("n", n)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {v!r}")
    k, n = int(k), int(n)
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"need n >= 1 and 0 <= k <= n, got k={k}, n={n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    z2 = z * z
    denom = n + z2
    center = (k + z2 / 2) / denom
    half = z / denom * np.sqrt(k * (n - k) / n + z2 / 4)
    return float(max(0.0, center - half)), float(min(1.0, center + half))


# --------------------------------------------------------------------------- data


def _degenerate_values(s: np.ndarray, r_max: int) -> np.ndarray:
    """Repeat a singular value: straddling the rank cut ``r_max`` if non-filling, else the top two."""
    s = s.copy()
    d_y = s.size
    j = r_max - 1 if r_max < d_y else 0
    if d_y >= 2:
        s[j + 1] = s[j]
    return s


def make_data(dims, rng, *, kind: str = "gaussian", n_samples: int | None = None, noise: float = 0.3):
    """One random data set ``(X, Y)`` for the OVF experiment.

    Parameters
    ----------
    dims : sequence of int
        Widths ``(d_0, ..., d_N)``.
    rng : numpy.random.Generator, numpy.random.SeedSequence or int
        Source of randomness.
    kind : str, optional
        Keyword-only. ``"gaussian"``: ``X`` with i.i.d. ``N(0, 1/m)`` entries, ``Y = A X + noise * N(0, 1/m)``,
        ``A`` Gaussian (generic: Assumptions 1-4 hold almost surely).
        ``"reduced"``: the reduced problem itself, ``X = I_{d_x}``, ``Y = Σ̄ = [diag(s) 0]`` with ``s``
        the singular values of a Gaussian matrix (used for the negative control: zeroing the first
        column of ``W_1`` and the first row of ``W_N`` is then an exactly invariant set).
        ``"degenerate"``: whitened ``X`` (``X X^T = I``) and ``Y`` whose reduced target has a
        **repeated** singular value (Assumption 3 of [CLC] violated): the repeated pair straddles
        the rank cut ``r_max`` for non-filling widths, else it is the top pair. Noise orthogonal to
        the rows of ``X`` keeps ``Y`` of full rank without lifting the degeneracy.
    n_samples : int or None, optional
        Keyword-only. ``m`` (default ``max(4 d_x, 20)``); ignored for ``"reduced"`` (``m = d_x``).
    noise : float, optional
        Keyword-only. Noise level (``"gaussian"`` and ``"degenerate"``).

    Returns
    -------
    X : ndarray of shape (d_x, m)
        Data.
    Y : ndarray of shape (d_y, m)
        Targets.

    Raises
    ------
    ValueError
        Unknown ``kind`` or invalid parameters.
    """
    d = _check_dims(dims)
    g = as_rng(rng)
    d_x, d_y = d[0], d[-1]
    if isinstance(noise, bool) or not isinstance(noise, (int, float, np.integer, np.floating)):
        raise TypeError(f"noise must be a finite non-negative number, got {noise!r}")
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite non-negative number, got {noise!r}")
    if kind not in DATA_KINDS:
        raise ValueError(f"kind must be one of {DATA_KINDS}, got {kind!r}")
    m = max(4 * d_x, 20) if n_samples is None else check_positive(n_samples, "n_samples", integer=True)
    if kind == "reduced":
        s = np.linalg.svd(g.standard_normal((d_y, d_x)) / np.sqrt(d_x), compute_uv=False)
        Y = np.zeros((d_y, d_x))
        Y[np.arange(d_y), np.arange(d_y)] = s
        return np.eye(d_x), Y
    if m < d_x:
        raise ValueError(f"Assumption 1 of [CLC] requires m >= d_x; got n_samples={m} < d_x={d_x}")
    if kind == "gaussian":
        X = g.standard_normal((d_x, m)) / np.sqrt(m)
        A = g.standard_normal((d_y, d_x)) / np.sqrt(d_x)
        return X, A @ X + noise * g.standard_normal((d_y, m)) / np.sqrt(m)
    # degenerate: X X^T = I, reduced target T = U [diag(s) 0] V^T with a repeated s
    q, _ = np.linalg.qr(g.standard_normal((m, d_x)))
    X = q.T  # orthonormal rows
    s = np.linalg.svd(g.standard_normal((d_y, d_x)) / np.sqrt(d_x), compute_uv=False)
    s = _degenerate_values(s, min(d))
    u, _ = np.linalg.qr(g.standard_normal((d_y, d_y)))
    v, _ = np.linalg.qr(g.standard_normal((d_x, d_x)))
    T = u @ np.diag(s) @ v[:, :d_y].T
    E = g.standard_normal((d_y, m)) / np.sqrt(m)
    E -= (E @ X.T) @ X  # orthogonal to the row space of X: does not change T
    return X, T @ X + noise * E


def _draw_data(dims, ss, kind, n_samples, noise):
    if callable(kind):
        X, Y = kind(np.random.default_rng(ss), tuple(dims))
        return np.asarray(X, dtype=float), np.asarray(Y, dtype=float)
    return make_data(dims, np.random.default_rng(ss), kind=kind, n_samples=n_samples, noise=noise)


# --------------------------------------------------------------------------- identification


def _critical_table(s: np.ndarray, const: float, r_max: int, depth: int, merge: float) -> np.ndarray:
    """Distinct critical values ``c + 1/2 sum_{i not in S} s_i^2`` over admissible ``S``, merged within ``merge``.

    The enumeration of :func:`dlnlib.critical.critical_values`, with an absolute merge tolerance
    (the degenerate data of the OVF chapter have coinciding values by construction).
    """
    vals = np.sort(_value_from_mask(s * s, const, _admissible_masks(s.size, r_max, depth, _MAX_SETS)))
    keep = np.concatenate([[True], np.diff(vals) > merge])
    return vals[keep]


@dataclass(frozen=True)
class _Ident:
    resolved: bool
    is_global: bool
    index_set: tuple[int, ...] | None
    value: float


def _optimum(X, Y, r: int) -> tuple[np.ndarray, np.ndarray]:
    """``W_LS`` and the rank-``r`` optimum ``U_r U_r^T W_LS`` (Remark 5; see the Mathematical notes, "Critical points
    and critical values")."""
    sxx, syx = X @ X.T, Y @ X.T
    wls = np.linalg.solve(sxx, syx.T).T
    evals, evecs = np.linalg.eigh(syx @ wls.T)
    u = evecs[:, np.argsort(evals)[::-1][:r]]
    return wls, u @ (u.T @ wls)


def _identify_degenerate(loss_v: float, status: int, table: np.ndarray, gmin: float) -> _Ident:
    """Identify the limit by its loss value only (index sets are not defined under repeated ``s_i``)."""
    j = int(np.argmin(np.abs(table - loss_v)))
    gap = float(np.min(np.diff(table))) if table.size > 1 else np.inf
    resolved = status == CONVERGED and abs(loss_v - table[j]) <= 1e-3 * gap
    is_global = bool(resolved and abs(table[j] - gmin) <= 1e-3 * gap)
    return _Ident(resolved, is_global, None, float(table[j]) if resolved else np.nan)


# --------------------------------------------------------------------------- one chunk (runs in workers)


@dataclass(frozen=True)
class _Task:
    dims: tuple[int, ...]
    data: str | Callable
    n_samples: int | None
    noise: float
    init: str | Callable
    init_scale: float
    degenerate: bool
    t_max: float
    rtol: float
    atol: float
    grad_tol: float
    max_steps: int
    slots: int
    trials: tuple  # ((data_index, init_index, data_ss, init_ss), ...)


def _invariant_init(ws: list[np.ndarray]) -> list[np.ndarray]:
    ws = [w.copy() for w in ws]
    ws[0][:, 0] = 0.0
    ws[-1][0, :] = 0.0
    return ws


def _check_invariant_data(X: np.ndarray, Y: np.ndarray) -> None:
    sxx, syx = X @ X.T, Y @ X.T
    off = sxx - np.diag(np.diag(sxx))
    ok = np.all(off == 0) and np.all(np.diag(sxx) == sxx[0, 0]) and np.all(syx[0, 1:] == 0) and np.all(syx[1:, 0] == 0)
    if not ok:
        raise ValueError(
            "init='invariant' (first column of W_1 and first row of W_N set to zero) is an invariant set of the "
            "flow only when X X^T is a multiple of I and e_1 is a pair of singular vectors of Y X^T, exactly; "
            "use data='reduced'"
        )


def _run_chunk(task: _Task) -> dict:
    """Integrate and identify one chunk of trials (module level, so it pickles to worker processes)."""
    dims = task.dims
    cache: dict[int, tuple] = {}
    for di, _, dss, _ in task.trials:
        if di not in cache:
            X, Y = _draw_data(dims, dss, task.data, task.n_samples, task.noise)
            if task.degenerate:  # Assumption 3 knowingly violated: reduce without check_data
                summary, red, gap = None, reduce_data(X, Y), None
            else:
                summary, red, _, _ = _check_and_reduce(X, Y, dims, allow_non_filling=True)
                gap = _min_gap(red.singular_values**2, red.constant, summary.r_max, len(dims) - 1, _MAX_SETS)
            r_opt = min(min(dims), dims[-1])
            wls, wopt = _optimum(X, Y, r_opt)
            s = red.singular_values
            gmin = red.constant + 0.5 * float(np.sum(s[r_opt:] ** 2))
            table = _critical_table(s, red.constant, min(dims), len(dims) - 1, 1e-9 * (1.0 + float(np.sum(s * s))))
            if task.init == "invariant":
                _check_invariant_data(X, Y)
            cache[di] = (X, Y, wls, wopt, gmin, table, (summary, red, gap))
    inits = []
    for _, _, _, iss in task.trials:
        g = np.random.default_rng(iss)
        if callable(task.init):
            w = [np.asarray(a, dtype=float) for a in task.init(g, dims)]
        else:
            w = random_weights(dims, g, scale=task.init_scale)
            if task.init == "invariant":
                w = _invariant_init(w)
        inits.append(w)
    w0 = [np.stack([w[i] for w in inits]) for i in range(len(dims) - 1)]
    Xs = np.stack([cache[t[0]][0] for t in task.trials])
    Ys = np.stack([cache[t[0]][1] for t in task.trials])
    traj = gradient_flow_batch(
        w0,
        Xs,
        Ys,
        task.t_max,
        rtol=task.rtol,
        atol=task.atol,
        grad_tol=task.grad_tol,
        t_eval=np.array([0.0, task.t_max]),
        max_steps=task.max_steps,
        slots=task.slots,
    )
    out: dict[str, list] = {k: [] for k in ("resolved", "is_global", "index_set", "value", "loss", "d_ls", "d_opt")}
    for k, (di, _, _, _) in enumerate(task.trials):
        X, Y, wls, wopt, gmin, table, (summary, red, gap) = cache[di]
        w = traj.trajectory_weights(k)
        p = _end_to_end(w)
        loss_v = _loss_at(p, X, Y)
        if task.degenerate:
            ident = _identify_degenerate(loss_v, int(traj.status[k]), table, gmin)
        else:
            lim = _limit_critical_value(w, p, X, Y, summary, red, gap, _LIMIT_RTOL, _LIMIT_PTOL)
            ok = bool(lim.resolved and traj.status[k] == CONVERGED)
            ident = _Ident(
                ok, bool(ok and lim.is_global_minimum), lim.index_set if ok else None, lim.value if ok else np.nan
            )
        out["resolved"].append(ident.resolved)
        out["is_global"].append(ident.is_global)
        out["index_set"].append(ident.index_set)
        out["value"].append(ident.value)
        out["loss"].append(loss_v)
        out["d_ls"].append(float(np.linalg.norm((p - wls) @ X) / np.linalg.norm(wls @ X)))
        out["d_opt"].append(float(np.linalg.norm((p - wopt) @ X) / np.linalg.norm(wopt @ X)))
    out["status"] = list(traj.status)
    out["t_final"] = list(traj.t_final)
    out["tables"] = {di: c[5] for di, c in cache.items()}
    out["gmin"] = {di: c[4] for di, c in cache.items()}
    return out


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class OVFResult:
    """Result of :func:`ovf_experiment` (see the Mathematical notes, "The overfitting conjecture").

    Attributes
    ----------
    dims : tuple of int
        Widths ``(d_0, ..., d_N)``.
    data : str
        Data kind (or the name of the data callable).
    init : str
        Initialization kind (or the name of the init callable).
    init_scale : float
        Initialization scale.
    t_max : float
        Integration horizon.
    identification : str
        How limits were identified (index set and value, or critical value only).
    data_index : ndarray of int
        Which data draw (length ``n_trials = n_data * n_inits``, data-major order, as every
        per-trial array below).
    init_index : ndarray of int
        Which initialization.
    status : ndarray of int
        Integrator status (1 converged, 0 reached ``t_max``, -1 failed).
    t_final : ndarray
        Stopping time (see also :attr:`time_to_converge`).
    final_loss : ndarray
        Loss at the end.
    excess_loss : ndarray
        ``final_loss`` minus the global minimum value.
    critical_value : ndarray
        Identified critical value (NaN when unresolved).
    index_set : tuple
        Identified ``S`` (0-based tuple), ``None`` when unresolved or not identifiable
        (degenerate data).
    resolved : ndarray of bool
        Converged and identified (:func:`dlnlib.critical.limit_critical_value` passed, or for
        degenerate data the loss matched a critical value within 1e-3 of the smallest gap).
    is_global_minimum : ndarray of bool
        Resolved at the global minimum value.
    distance_least_squares : ndarray
        ``||(W_{N:1} - W_LS) X||_F / ||W_LS X||_F`` (Remark 5).
    distance_optimum : ndarray
        Same against the rank-``min(r_max, d_y)`` optimum ``U_r U_r^T W_LS`` (equal to the
        previous one for filling widths).
    critical_values : tuple
        Critical values of each data draw.
    global_minimum_value : ndarray of shape (n_data,)
        Global minimum value of each data draw.
    n_trials : int
        ``n_data * n_inits``.
    n_resolved : int
        Number of resolved runs.
    n_global : int
        Number of runs resolved at the global minimum value.
    fraction : float
        ``n_global / n_trials``.
    interval : tuple of float
        Wilson interval of ``fraction`` (:func:`wilson_interval`).
    fraction_resolved : float
        ``n_global / n_resolved`` (NaN when nothing is resolved).
    interval_resolved : tuple of float
        Wilson interval of ``fraction_resolved``.

    Notes
    -----
    Unresolved runs count as **not** reaching a global minimum in ``fraction`` (conservative: a
    run stuck near a saddle at ``t_max`` is unresolved); ``fraction_resolved`` /
    ``interval_resolved`` condition on resolved runs.
    """

    dims: tuple[int, ...]
    data: str
    init: str
    init_scale: float
    t_max: float
    identification: str
    data_index: np.ndarray = field(repr=False)
    init_index: np.ndarray = field(repr=False)
    status: np.ndarray = field(repr=False)
    t_final: np.ndarray = field(repr=False)
    final_loss: np.ndarray = field(repr=False)
    excess_loss: np.ndarray = field(repr=False)
    critical_value: np.ndarray = field(repr=False)
    index_set: tuple = field(repr=False)
    resolved: np.ndarray = field(repr=False)
    is_global_minimum: np.ndarray = field(repr=False)
    distance_least_squares: np.ndarray = field(repr=False)
    distance_optimum: np.ndarray = field(repr=False)
    critical_values: tuple = field(repr=False)
    global_minimum_value: np.ndarray = field(repr=False)
    n_trials: int
    n_resolved: int
    n_global: int
    fraction: float
    interval: tuple[float, float]
    fraction_resolved: float = field(repr=False)
    interval_resolved: tuple[float, float] = field(repr=False)

    @property
    def n_unresolved(self) -> int:
        """Number of unresolved runs, ``n_trials - n_resolved``."""
        return self.n_trials - self.n_resolved

    @property
    def time_to_converge(self) -> np.ndarray:
        """Per-trial stopping time ``t_final`` where the run converged, else NaN."""
        return np.where(self.status == CONVERGED, self.t_final, np.nan)

    def summary(self) -> dict:
        """Plain-Python summary (for tables and JSON).

        Returns
        -------
        dict
            Configuration, counts, ``fraction`` with its interval, median time to converge and
            largest ``distance_optimum``.
        """
        return {
            "dims": list(self.dims),
            "data": self.data,
            "init": self.init,
            "init_scale": self.init_scale,
            "n_trials": self.n_trials,
            "n_global": self.n_global,
            "n_unresolved": self.n_unresolved,
            "fraction": self.fraction,
            "ci_low": self.interval[0],
            "ci_high": self.interval[1],
            "median_time": float(np.nanmedian(self.time_to_converge)) if self.n_resolved else float("nan"),
            "max_distance_optimum": float(np.max(self.distance_optimum)),
        }


# --------------------------------------------------------------------------- runner


@dataclass(frozen=True)
class _Streams:
    """Independent streams, built lazily: one per data draw, one per (data draw, initialization).

    Equal to ``root.spawn(n_data)``, then ``spawn(2)`` of each child (data stream, parent of the
    initialization streams), then ``spawn(n_inits)`` of the second, without building the
    ``n_data * n_inits`` sequences up front: a child of a ``SeedSequence`` is determined by its
    ``spawn_key``.
    """

    entropy: object
    spawn_key: tuple
    pool_size: int
    first: int  # index of the first data child (the root's children spawned before this experiment)

    def _seq(self, *key) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.entropy, spawn_key=self.spawn_key + key, pool_size=self.pool_size)

    def data(self, j: int) -> np.random.SeedSequence:
        return self._seq(self.first + j, 0)

    def init(self, j: int, i: int) -> np.random.SeedSequence:
        return self._seq(self.first + j, 1, i)

    def trials(self, start: int, stop: int, n_inits: int) -> tuple:
        """``(data_index, init_index, data_ss, init_ss)`` of the trials ``start <= k < stop`` (data-major order)."""
        out = []
        for k in range(start, stop):
            j, i = divmod(k, n_inits)
            out.append((j, i, self.data(j), self.init(j, i)))
        return tuple(out)


def _streams(rng, n_data: int) -> _Streams:
    """Claim ``n_data`` children of the generator's ``SeedSequence`` (a later experiment gets new ones)."""
    g = as_rng(rng)
    root = g.bit_generator.seed_seq
    first = root.n_children_spawned
    root.spawn(n_data)  # advances the root's counter as the eager version did
    return _Streams(root.entropy, tuple(root.spawn_key), root.pool_size, first)


#: estimated memory of one trial's results in an :class:`OVFResult` (arrays, index set, bookkeeping)
_BYTES_PER_TRIAL = 400


def _physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 * 2**30


def check_trials_fit(n_trials: int, *, fraction: float = 0.5) -> None:
    """Refuse an in-memory OVF experiment whose per-trial results cannot fit in memory.

    Parameters
    ----------
    n_trials : int
        ``n_data * n_inits``.
    fraction : float, optional
        Keyword-only. Largest share of the physical memory the results may take.

    Raises
    ------
    ValueError
        If ``n_trials`` results (about 400 bytes each) exceed ``fraction`` of the physical memory;
        the message points to ``python -m dlnlib campaign``, which streams results to disk.
    """
    need = n_trials * _BYTES_PER_TRIAL
    have = _physical_memory()
    if need > fraction * have:
        raise ValueError(
            f"n_data * n_inits = {n_trials:.3g} trials: their per-trial results (~{need / 2**30:.3g} GiB) cannot "
            f"fit in memory ({have / 2**30:.3g} GiB on this machine); ovf_experiment keeps every trial. Use "
            "`python -m dlnlib campaign SPEC.toml --out DIR` (streams results to disk chunk by chunk) or fewer trials"
        )


def ovf_experiment(
    dims,
    *,
    n_data: int,
    n_inits: int,
    rng: np.random.Generator | int,
    init_scale: float = 1.0,
    t_max: float = 1e4,
    data: str | Callable = "gaussian",
    n_samples: int | None = None,
    noise: float = 0.3,
    init: str | Callable = "gaussian",
    allow_degenerate: bool = False,
    grad_tol: float = 1e-9,
    rtol: float = 1e-11,
    atol: float = 1e-14,
    max_steps: int = 100_000,
    chunk_size: int | None = None,
    slots: int = 64,
    executor: cf.Executor | None = None,
    progress: bool = True,
) -> OVFResult:
    """Monte Carlo test of the overfitting conjecture (Conjecture 1 of [CLC]; see the Mathematical notes, "The
    overfitting conjecture").

    For each of ``n_data`` data draws and ``n_inits`` initializations, integrate the gradient flow
    (:func:`dlnlib.dynamics.gradient_flow_batch`, DOPRI5 with per-trajectory steps) until
    ``||∇L|| < grad_tol`` or ``t_max``, then identify the limit (see the Mathematical notes, "The overfitting
    conjecture"):
    ``Ŝ`` from the reduced end-to-end map, accepted only if the product matches ``I_Ŝ Σ̄`` and the
    loss matches ``c_Ŝ`` relative to the gaps between critical values; a run is *resolved* only if
    it also converged. The conjecture predicts that every resolved run is a global minimum.

    Parameters
    ----------
    dims : sequence of int
        Widths ``(d_0, ..., d_N)``; non-filling hidden widths (bottlenecks) allowed.
    n_data, n_inits : int
        Keyword-only. Data draws and initializations per draw.
    rng : numpy.random.Generator or int
        Keyword-only. The only source of randomness; its ``SeedSequence`` is spawned into one stream per data
        draw and one per initialization, so results do not depend on ``chunk_size`` or ``executor``.
    init_scale : float, optional
        Keyword-only. Gaussian initialization ``N(0, init_scale^2 / d_{i-1})`` (:func:`dlnlib.model.random_weights`).
    t_max, grad_tol, rtol, atol, max_steps : float or int, optional
        Keyword-only. Integration horizon and tolerances (see
        :func:`dlnlib.dynamics.gradient_flow_batch`).
    data : str or callable, optional
        Keyword-only. ``"gaussian"``, ``"reduced"``, ``"degenerate"`` (see :func:`make_data`) or
        a callable ``data(rng, dims) -> (X, Y)``; every draw must have the same number of samples.
    n_samples, noise : optional
        Keyword-only. Passed to :func:`make_data`.
    init : str or callable, optional
        Keyword-only. ``"gaussian"``, ``"invariant"`` or a callable ``init(rng, dims) -> weights``.
        ``"invariant"`` is the **negative control** of the Mathematical notes, "The overfitting conjecture": the
        Gaussian init with the first column of ``W_1`` and the first row of ``W_N`` set to zero, an exactly invariant
        set for reduced data (``data="reduced"``); its runs must converge to the saddle
        ``S = {1, ..., }`` that misses ``s_1`` (e.g. ``(1, 2)`` for ``d_y = 3``).
    allow_degenerate : bool, optional
        Keyword-only. Accept data violating Assumption 3 (repeated singular values of the reduced target;
        required for ``data="degenerate"``). Then index sets are not defined (the critical sets
        are no longer indexed by subsets of a fixed basis of singular vectors) and the limit is
        identified **by its loss value only**: resolved if it converged and its loss is within
        1e-3 of the smallest gap between distinct critical values; ``index_set`` is ``None``. The
        global-minimum *value* is still identified; the end-to-end map is not unique when the
        repeated value straddles the rank cut, which ``distance_optimum`` shows.
    chunk_size : int or None, optional
        Keyword-only. Trials per task (``None``: ``n_trials / 8`` clipped to ``[16, 256]``, so
        that a pool of workers gets several tasks). Tasks are generated lazily and at most 32 are
        in flight, so memory holds the results, not the trials.
    slots : int, optional
        Keyword-only. Trajectories integrated at once within a task (continuous batching: when one
        converges the next pending trial of the task takes its slot). Results do not depend on
        ``chunk_size``, ``slots``, ``executor`` or the number of workers (bit-identical).
    executor : concurrent.futures.Executor or None, optional
        Keyword-only. Maps the chunks (``None``: in this process).
    progress : bool, optional
        Keyword-only. Show a tqdm progress bar over trials.

    Returns
    -------
    OVFResult
        Per-trial results and the summary.

    Raises
    ------
    ValueError
        Invalid arguments, data violating Assumptions 1-3 (unless ``allow_degenerate``),
        ``init="invariant"`` with data for which it is not invariant, or more trials than the
        results can hold in memory (:func:`check_trials_fit`).
    """
    d = _check_dims(dims)
    if len(d) < 3:
        raise ValueError(f"the conjecture concerns networks with at least one hidden layer, got dims {d}")
    n_data = check_positive(n_data, "n_data", integer=True)
    n_inits = check_positive(n_inits, "n_inits", integer=True)
    if chunk_size is None:
        chunk_size = max(16, min(256, -(-n_data * n_inits // 8)))
    chunk_size = check_positive(chunk_size, "chunk_size", integer=True)
    init_scale = check_positive(init_scale, "init_scale")
    t_max = check_positive(t_max, "t_max")
    if not callable(data) and data not in DATA_KINDS:
        raise ValueError(f"data must be one of {DATA_KINDS} or a callable (rng, dims) -> (X, Y), got {data!r}")
    if data == "degenerate" and not allow_degenerate:
        raise ValueError(
            "data='degenerate' violates Assumption 3 of [CLC] (repeated singular values); pass "
            "allow_degenerate=True to run it with identification by critical value only"
        )
    if not callable(init) and init not in ("gaussian", "invariant"):
        raise ValueError(f"init must be 'gaussian', 'invariant' or a callable (rng, dims) -> weights, got {init!r}")
    slots = check_positive(slots, "slots", integer=True)
    n_trials = n_data * n_inits
    check_trials_fit(n_trials)
    base = {
        "dims": d,
        "data": data,
        "n_samples": n_samples,
        "noise": float(noise),
        "init": init,
        "init_scale": init_scale,
        "degenerate": bool(allow_degenerate),
        "t_max": t_max,
        "rtol": float(rtol),
        "atol": float(atol),
        "grad_tol": float(grad_tol),
        "max_steps": int(max_steps),
        "slots": min(slots, chunk_size),
    }
    streams = _streams(rng, n_data)
    tasks = (
        _Task(**base, trials=streams.trials(a, min(a + chunk_size, n_trials), n_inits))
        for a in range(0, n_trials, chunk_size)
    )
    acc = _Accumulator(n_trials, n_inits)
    from . import _dopri_jit  # imports numba (if installed): only when a flow is run

    _dopri_jit.warm_up()  # once here rather than in every worker process
    for start, out in _map_tasks(tasks, executor, progress, n_trials):
        acc.add(start, out)
    return acc.result(d, data, init, init_scale, t_max, allow_degenerate)


def _map_tasks(tasks, executor, progress, total, *, max_in_flight: int = 32):
    """Yield ``(first trial index, chunk result)`` as chunks finish; at most ``max_in_flight`` submitted at once."""
    from tqdm import tqdm

    with tqdm(total=total, disable=not progress, desc="OVF trials", unit="run") as bar:
        if executor is None:
            for t in tasks:
                out = _run_chunk(t)
                bar.update(len(t.trials))
                yield _first(t), out
            return
        pending: dict = {}
        it = iter(tasks)
        exhausted = False
        while pending or not exhausted:
            while not exhausted and len(pending) < max_in_flight:
                t = next(it, None)
                if t is None:
                    exhausted = True
                    break
                pending[executor.submit(_run_chunk, t)] = t
            if not pending:
                break
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                t = pending.pop(fut)
                out = fut.result()
                bar.update(len(t.trials))
                yield _first(t), out


def _first(task: _Task) -> int:
    j, i = task.trials[0][:2]
    return j, i


class _Accumulator:
    """Per-trial result arrays of an experiment, filled chunk by chunk in any order."""

    _FLOAT = ("value", "loss", "d_ls", "d_opt", "t_final")

    def __init__(self, n_trials: int, n_inits: int):
        self.n, self.n_inits = n_trials, n_inits
        self.arrays = {k: np.empty(n_trials) for k in self._FLOAT}
        self.arrays["status"] = np.empty(n_trials, dtype=np.int64)
        self.arrays["resolved"] = np.empty(n_trials, dtype=bool)
        self.arrays["is_global"] = np.empty(n_trials, dtype=bool)
        self.index_set: list = [None] * n_trials
        self.tables: dict[int, np.ndarray] = {}
        self.gmins: dict[int, float] = {}

    def add(self, first: tuple[int, int], out: dict) -> None:
        a = first[0] * self.n_inits + first[1]
        b = a + len(out["status"])
        for k, arr in self.arrays.items():
            arr[a:b] = out[k]
        self.index_set[a:b] = out["index_set"]
        self.tables.update(out["tables"])
        self.gmins.update(out["gmin"])

    def result(self, d, data, init, init_scale, t_max, degenerate) -> OVFResult:
        return _assemble(self, d, data, init, init_scale, t_max, degenerate)


def _assemble(acc: _Accumulator, d, data, init, init_scale, t_max, degenerate) -> OVFResult:
    arr = acc.arrays
    status, resolved, is_global, final_loss, t_final = (
        arr["status"],
        arr["resolved"],
        arr["is_global"],
        arr["loss"],
        arr["t_final"],
    )
    data_index, init_index = np.divmod(np.arange(acc.n), acc.n_inits)
    tables, gmins = acc.tables, acc.gmins
    n_data = int(data_index.max()) + 1
    gmin = np.array([gmins[j] for j in range(n_data)])
    n = acc.n
    n_res, n_glob = int(resolved.sum()), int(is_global.sum())
    return OVFResult(
        dims=d,
        data=data if isinstance(data, str) else getattr(data, "__name__", "callable"),
        init=init if isinstance(init, str) else getattr(init, "__name__", "callable"),
        init_scale=init_scale,
        t_max=t_max,
        identification=(
            "critical value only (Assumption 3 violated)" if degenerate else "index set and value (Lemma 3.2)"
        ),
        data_index=data_index,
        init_index=init_index,
        status=status,
        t_final=t_final,
        final_loss=final_loss,
        excess_loss=final_loss - gmin[data_index],
        critical_value=arr["value"],
        index_set=tuple(acc.index_set),
        resolved=resolved,
        is_global_minimum=is_global,
        distance_least_squares=arr["d_ls"],
        distance_optimum=arr["d_opt"],
        critical_values=tuple(tables[j] for j in range(n_data)),
        global_minimum_value=gmin,
        n_trials=n,
        n_resolved=n_res,
        n_global=n_glob,
        fraction=n_glob / n,
        interval=wilson_interval(n_glob, n),
        fraction_resolved=n_glob / n_res if n_res else float("nan"),
        interval_resolved=wilson_interval(n_glob, n_res) if n_res else (float("nan"), float("nan")),
    )
