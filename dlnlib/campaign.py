"""Campaigns: an atlas of overfitting-conjecture experiments that streams to disk and resumes.

A campaign is a TOML file listing configurations of the Monte Carlo test of Conjecture 1 of [CLC]
(:func:`dlnlib.experiments.ovf_experiment`): widths, initialization scale, data kind, numbers of
data draws and initializations. ``python -m dlnlib campaign SPEC.toml --out DIR`` cuts every
configuration into chunks of trials and writes one Parquet file per finished chunk into
``DIR/chunks/`` (written to a temporary name and renamed, so a file that exists is complete), with
``DIR/manifest.json`` describing the campaign. Memory holds the chunks in flight, never the
campaign. Rerunning the same command after an interruption (Ctrl-C, SIGKILL, a lost worker) skips
the chunks already on disk; since every trial draws from its own ``SeedSequence`` stream (spawn key
``(configuration, data draw, ...)``), the final table is the same as that of an uninterrupted run,
whatever the executor or the number of workers.

Why Parquet: a columnar, compressed, typed table that pandas, polars, DuckDB, R and Spark read
directly; one small file per chunk makes each write atomic (``os.replace``) and resuming trivial.

Spec format::

    [campaign]
    seed = 0            # root of every random stream
    chunk_size = 256    # trials per chunk (one Parquet file each)
    slots = 64          # trajectories integrated at once in a chunk (continuous batching)
    t_max = 20000.0

    [[grid]]            # the cartesian product of the lists below; scalars apply to every config
    dims = [[4, 4, 3], [4, 4, 4, 3]]
    init_scale = [0.1, 1.0, 3.0]
    data = ["gaussian"]
    n_data = 4
    n_inits = 100

References
----------
[CLC] Chitour, Liao, Couillet, arXiv:1811.03568.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ._validation import check_positive
from .experiments import _critical_table, _draw_data, _run_chunk, _Streams, _Task, wilson_interval
from .model import _check_dims, reduce_data

__all__ = [
    "CampaignConfig",
    "CampaignSpec",
    "campaign_summary",
    "critical_values_of_draw",
    "executor_for",
    "load_spec",
    "read_spec",
    "read_table",
    "run_campaign",
]

FORMAT_VERSION = 1
#: rough CPU seconds per trajectory by depth N (OVF defaults, rtol 1e-11, widths 4), for the estimate printed first:
#: with the numpy engine of ``gradient_flow_batch``, and with its compiled engine (numba), measured on a busy 2-core
#: machine (ch07's default run)
SECONDS_PER_TRAJECTORY = {2: 0.04, 3: 0.1, 4: 0.2, 5: 0.3}
SECONDS_PER_TRAJECTORY_COMPILED = {2: 0.005, 3: 0.008, 4: 0.016, 5: 0.03}
BYTES_PER_TRIAL = 80  # compressed Parquet row, measured on the example campaign
_CONFIG_KEYS = ("dims", "init_scale", "data", "n_data", "n_inits", "noise", "n_samples")
_CAMPAIGN_KEYS = ("seed", "chunk_size", "slots", "t_max", "grad_tol", "rtol", "atol", "max_steps")


@dataclass(frozen=True)
class CampaignConfig:
    """One configuration of a campaign (one :func:`~dlnlib.experiments.ovf_experiment` call)."""

    dims: tuple[int, ...]
    init_scale: float = 1.0
    data: str = "gaussian"
    n_data: int = 4
    n_inits: int = 100
    noise: float = 0.3
    n_samples: int | None = None

    @property
    def n_trials(self) -> int:
        """``n_data * n_inits``."""
        return self.n_data * self.n_inits

    @property
    def label(self) -> str:
        """Short human-readable name."""
        return f"{'-'.join(map(str, self.dims))} s={self.init_scale:g} {self.data}"


@dataclass(frozen=True)
class CampaignSpec:
    """A parsed campaign: shared settings and the expanded list of configurations."""

    configs: tuple[CampaignConfig, ...]
    seed: int = 0
    chunk_size: int = 256
    slots: int = 64
    t_max: float = 2e4
    grad_tol: float = 1e-9
    rtol: float = 1e-11
    atol: float = 1e-14
    max_steps: int = 100_000

    @property
    def n_trials(self) -> int:
        """Trajectories in the whole campaign."""
        return sum(c.n_trials for c in self.configs)

    def chunks(self) -> list[tuple[int, int, int]]:
        """``(configuration index, first trial, last trial + 1)`` of every chunk, in a fixed order."""
        return [
            (ci, a, min(a + self.chunk_size, c.n_trials))
            for ci, c in enumerate(self.configs)
            for a in range(0, c.n_trials, self.chunk_size)
        ]

    def to_json(self) -> dict:
        """Plain-JSON form (stored in the manifest; a resumed campaign must match it)."""
        d = asdict(self)
        d["configs"] = [{**asdict(c), "dims": list(c.dims)} for c in self.configs]
        return d

    def estimate(self, workers: int = 1) -> dict:
        """Estimated trajectories, wall time on ``workers`` cores and disk (a rough cost model)."""
        from . import _dopri_jit

        per = SECONDS_PER_TRAJECTORY_COMPILED if _dopri_jit.available() else SECONDS_PER_TRAJECTORY
        cpu = sum(c.n_trials * per.get(len(c.dims) - 1, per[5]) for c in self.configs)
        return {
            "trajectories": self.n_trials,
            "cpu_seconds": cpu,
            "seconds": cpu / max(1, workers),
            "disk_bytes": self.n_trials * BYTES_PER_TRIAL,
        }


def _as_list(v):
    return v if isinstance(v, list) else [v]


def _expand(grid: dict) -> list[CampaignConfig]:
    unknown = set(grid) - set(_CONFIG_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)} in a [[grid]] table; allowed: {list(_CONFIG_KEYS)}")
    if "dims" not in grid:
        raise ValueError("every [[grid]] table needs dims (a list of widths, or a list of such lists)")
    dims = grid["dims"]
    dims_list = dims if dims and isinstance(dims[0], list) else [dims]
    keys = [k for k in _CONFIG_KEYS if k in grid and k != "dims"]
    out = []
    for d in dims_list:
        dd = _check_dims(d)
        if len(dd) < 3:
            raise ValueError(f"dims {dd}: the conjecture concerns networks with at least one hidden layer")
        for combo in itertools.product(*(_as_list(grid[k]) for k in keys)):
            kw = dict(zip(keys, combo))
            if kw.get("data", "gaussian") not in ("gaussian", "reduced"):
                raise ValueError(f"data must be 'gaussian' or 'reduced' in a campaign, got {kw['data']!r}")
            for name in ("n_data", "n_inits"):
                if name in kw:
                    kw[name] = check_positive(kw[name], name, integer=True)
            if "init_scale" in kw:
                kw["init_scale"] = check_positive(kw["init_scale"], "init_scale")
            out.append(CampaignConfig(dims=dd, **kw))
    return out


def load_spec(path: str | os.PathLike) -> CampaignSpec:
    """Read and check a campaign TOML file (format in the module docstring).

    Parameters
    ----------
    path : str or path-like
        The TOML file.

    Returns
    -------
    CampaignSpec
        The expanded configurations and shared settings.

    Raises
    ------
    ValueError
        Unknown keys, missing ``dims``, invalid values (named in the message).
    """
    raw = tomllib.loads(Path(path).read_text())
    unknown = set(raw) - {"campaign", "grid"}
    if unknown:
        raise ValueError(f"unknown table(s) {sorted(unknown)} in {path}; allowed: [campaign], [[grid]]")
    camp = raw.get("campaign", {})
    bad = set(camp) - set(_CAMPAIGN_KEYS)
    if bad:
        raise ValueError(f"unknown key(s) {sorted(bad)} in [campaign]; allowed: {list(_CAMPAIGN_KEYS)}")
    grids = raw.get("grid", [])
    if not grids:
        raise ValueError(f"{path}: no [[grid]] table, nothing to run")
    configs = tuple(c for g in grids for c in _expand(g))
    kw = {}
    for k in ("chunk_size", "slots", "max_steps"):
        if k in camp:
            kw[k] = check_positive(camp[k], k, integer=True)
    for k in ("t_max", "grad_tol", "rtol", "atol"):
        if k in camp:
            kw[k] = check_positive(camp[k], k)
    seed = camp.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return CampaignSpec(configs=configs, seed=seed, **kw)


def read_spec(out: str | os.PathLike) -> CampaignSpec:
    """The spec of the campaign in folder ``out`` (from its ``manifest.json``).

    Raises
    ------
    ValueError
        If ``out`` holds no campaign manifest.
    """
    man = Path(out) / "manifest.json"
    if not man.is_file():
        raise ValueError(f"{out} is not a campaign folder (no manifest.json); run python -m dlnlib campaign first")
    d = json.loads(man.read_text())["spec"]
    configs = tuple(CampaignConfig(**{**c, "dims": tuple(c["dims"])}) for c in d.pop("configs"))
    return CampaignSpec(configs=configs, **d)


def critical_values_of_draw(spec: CampaignSpec, config: int, j: int) -> tuple[np.ndarray, float]:
    """Distinct critical values (Lemma 3.2 of [CLC]) and global minimum value of data draw ``j`` of a configuration.

    The data are redrawn from the same stream as the campaign's runs, so the values are those
    the runs were identified against.

    Returns
    -------
    values : ndarray
        Sorted distinct critical values ``c_S``.
    global_minimum : float
        The global minimum value.
    """
    c = spec.configs[config]
    if not 0 <= j < c.n_data:
        raise ValueError(f"j must be in [0, {c.n_data}), got {j}")
    task = _task(spec, config, j * c.n_inits, j * c.n_inits + 1)
    X, Y = _draw_data(c.dims, task.trials[0][2], c.data, c.n_samples, c.noise)
    red = reduce_data(X, Y)
    s = red.singular_values
    values = _critical_table(s, red.constant, min(c.dims), len(c.dims) - 1, 1e-9 * (1.0 + float(np.sum(s * s))))
    r_opt = min(min(c.dims), c.dims[-1])
    return values, red.constant + 0.5 * float(np.sum(s[r_opt:] ** 2))


# --------------------------------------------------------------------------- executors


@contextlib.contextmanager
def executor_for(scheduler: str | None = None, workers: int = 1) -> Iterator:
    """An executor for the OVF runner and campaigns, shut down on exit.

    Parameters
    ----------
    scheduler : str or None, optional
        ``None``: a ``ProcessPoolExecutor`` of ``workers`` processes (none if ``workers == 1``);
        ``"local"``: a ``dask.distributed.LocalCluster`` of ``workers`` single-threaded worker
        processes on this machine; otherwise the address of a running Dask scheduler
        (``tcp://HOST:8786``), whose workers do the work.
    workers : int, optional
        Number of local processes (ignored for a scheduler address).

    Yields
    ------
    concurrent.futures.Executor or None
        ``None`` means: run in this process.
    """
    workers = check_positive(workers, "workers", integer=True)
    if scheduler:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise RuntimeError(
                "--scheduler needs dask.distributed: pip install -e '.[scale]' (the Makefile's venv has it)"
            ) from exc
        cluster = None
        if scheduler == "local":
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
            )
            client = Client(cluster)
        else:
            client = Client(scheduler, timeout=30)
        try:
            yield client.get_executor()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    elif workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as ex:
            yield ex
    else:
        yield None


# --------------------------------------------------------------------------- chunks


def _task(spec: CampaignSpec, ci: int, a: int, b: int) -> _Task:
    c = spec.configs[ci]
    root = np.random.SeedSequence(spec.seed, spawn_key=(ci,))
    streams = _Streams(root.entropy, tuple(root.spawn_key), root.pool_size, 0)
    return _Task(
        dims=c.dims,
        data=c.data,
        n_samples=c.n_samples,
        noise=float(c.noise),
        init="gaussian",
        init_scale=float(c.init_scale),
        degenerate=False,
        t_max=spec.t_max,
        rtol=spec.rtol,
        atol=spec.atol,
        grad_tol=spec.grad_tol,
        max_steps=spec.max_steps,
        slots=min(spec.slots, spec.chunk_size),
        trials=streams.trials(a, b, c.n_inits),
    )


def _chunk_table(ci: int, a: int, task: _Task, out: dict):
    import pyarrow as pa

    n = len(out["status"])
    data_index = np.array([t[0] for t in task.trials], dtype=np.int64)
    gmin = np.array([out["gmin"][j] for j in data_index])
    loss = np.asarray(out["loss"], dtype=float)
    return pa.table(
        {
            "config": pa.array(np.full(n, ci, dtype=np.int32)),
            "trial": pa.array(np.arange(a, a + n, dtype=np.int64)),
            "data_index": pa.array(data_index),
            "init_index": pa.array(np.array([t[1] for t in task.trials], dtype=np.int64)),
            "status": pa.array(np.asarray(out["status"], dtype=np.int8)),
            "t_final": pa.array(np.asarray(out["t_final"], dtype=float)),
            "final_loss": pa.array(loss),
            "excess_loss": pa.array(loss - gmin),
            "critical_value": pa.array(np.asarray(out["value"], dtype=float)),
            "index_set": pa.array([None if s is None else ",".join(map(str, s)) for s in out["index_set"]]),
            "resolved": pa.array(np.asarray(out["resolved"], dtype=bool)),
            "is_global": pa.array(np.asarray(out["is_global"], dtype=bool)),
            "distance_least_squares": pa.array(np.asarray(out["d_ls"], dtype=float)),
            "distance_optimum": pa.array(np.asarray(out["d_opt"], dtype=float)),
        }
    )


def _chunk_name(ci: int, a: int) -> str:
    return f"c{ci:05d}-t{a:012d}.parquet"


def _write_atomic(table, path: Path) -> None:
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _run_chunk_job(spec: CampaignSpec, ci: int, a: int, b: int) -> tuple[int, int, dict]:
    """Worker side: integrate one chunk (module level: pickles to processes and Dask workers)."""
    task = _task(spec, ci, a, b)
    return ci, a, _run_chunk(task)


def _write_manifest(out: Path, spec: CampaignSpec) -> None:
    man = out / "manifest.json"
    body = {"format": FORMAT_VERSION, "spec": spec.to_json(), "n_chunks": len(spec.chunks())}
    if man.exists():
        old = json.loads(man.read_text())
        if old.get("spec") != body["spec"] or old.get("format") != FORMAT_VERSION:
            raise ValueError(
                f"{out} holds a different campaign (manifest.json does not match this spec); "
                "use another --out folder or the original spec"
            )
        return
    tmp = man.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=2) + "\n")
    os.replace(tmp, man)


def run_campaign(
    spec: CampaignSpec,
    out: str | os.PathLike,
    *,
    executor=None,
    progress: bool = True,
    max_in_flight: int = 16,
    on_chunk: Callable[[int], None] | None = None,
) -> dict:
    """Run (or resume) a campaign, one Parquet file per finished chunk, then write its summary.

    Parameters
    ----------
    spec : CampaignSpec
        The campaign (:func:`load_spec`).
    out : str or path-like
        Output folder; chunks already there are skipped (resume).
    executor : concurrent.futures.Executor or None, optional
        Keyword-only. Maps the chunks (``None``: this process); see :func:`executor_for`.
    progress : bool, optional
        Keyword-only. tqdm progress bar over trajectories, with ETA.
    max_in_flight : int, optional
        Keyword-only. Chunks submitted at once (memory is bounded by this times the chunk size).
    on_chunk : callable or None, optional
        Keyword-only. Called with the number of chunks written in this call after each one (tests
        use it to kill a worker mid-run).

    Returns
    -------
    dict
        The summary (:func:`campaign_summary`).
    """
    from tqdm import tqdm

    out = Path(out)
    (out / "chunks").mkdir(parents=True, exist_ok=True)
    _write_manifest(out, spec)
    todo = [(ci, a, b) for ci, a, b in spec.chunks() if not (out / "chunks" / _chunk_name(ci, a)).exists()]
    done_trials = spec.n_trials - sum(b - a for _, a, b in todo)
    written = 0

    def store(ci, a, res):
        nonlocal written
        b = a + len(res["status"])
        _write_atomic(_chunk_table(ci, a, _task(spec, ci, a, b), res), out / "chunks" / _chunk_name(ci, a))
        written += 1
        bar.update(b - a)
        if on_chunk is not None:
            on_chunk(written)

    from . import _dopri_jit  # imports numba (if installed): only when a flow is run

    _dopri_jit.warm_up()  # once here rather than in every worker process
    with tqdm(total=spec.n_trials, initial=done_trials, disable=not progress, desc="campaign", unit="traj") as bar:
        if executor is None:
            for ci, a, b in todo:
                store(*_run_chunk_job(spec, ci, a, b))
        else:
            import concurrent.futures as cf

            it = iter(todo)
            pending: set = set()
            while True:
                for ci, a, b in itertools.islice(it, max(0, max_in_flight - len(pending))):
                    pending.add(executor.submit(_run_chunk_job, spec, ci, a, b))
                if not pending:
                    break
                finished, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for fut in finished:
                    store(*fut.result())
    summary = campaign_summary(out)
    tmp = out / ".summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    os.replace(tmp, out / "summary.json")
    return summary


def read_table(out: str | os.PathLike):
    """The campaign's per-trial table (all chunks, sorted by configuration and trial), as a pyarrow Table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted((Path(out) / "chunks").glob("c*.parquet"))
    if not files:
        raise ValueError(f"{out}: no finished chunk (chunks/c*.parquet)")
    table = pa.concat_tables([pq.read_table(f) for f in files])
    return table.sort_by([("config", "ascending"), ("trial", "ascending")])


def campaign_summary(out: str | os.PathLike) -> dict:
    """Per-configuration counts and 95 % Wilson intervals, and the pooled bound, read chunk by chunk.

    Parameters
    ----------
    out : str or path-like
        A campaign folder (finished or not: ``complete`` says which).

    Returns
    -------
    dict
        ``configs`` (one entry per configuration: label, dims, init_scale, data, n_trials, n_done,
        n_global, n_unresolved, ci_low, ci_high), ``pooled`` (the same over every generic run)
        and ``complete``.
    """
    import pyarrow.parquet as pq

    out = Path(out)
    man = json.loads((out / "manifest.json").read_text())
    configs = man["spec"]["configs"]
    n_done = [0] * len(configs)
    n_glob = [0] * len(configs)
    n_res = [0] * len(configs)
    for f in sorted((out / "chunks").glob("c*.parquet")):
        t = pq.read_table(f, columns=["config", "is_global", "resolved"])
        ci = int(t.column("config")[0].as_py())
        n_done[ci] += t.num_rows
        n_glob[ci] += int(np.sum(t.column("is_global").to_numpy(zero_copy_only=False)))
        n_res[ci] += int(np.sum(t.column("resolved").to_numpy(zero_copy_only=False)))
    rows = []
    for ci, c in enumerate(configs):
        lo, hi = wilson_interval(n_glob[ci], n_done[ci]) if n_done[ci] else (math.nan, math.nan)
        rows.append(
            {
                "config": ci,
                "label": f"{'-'.join(map(str, c['dims']))} s={c['init_scale']:g} {c['data']}",
                "dims": c["dims"],
                "init_scale": c["init_scale"],
                "data": c["data"],
                "n_trials": c["n_data"] * c["n_inits"],
                "n_done": n_done[ci],
                "n_global": n_glob[ci],
                "n_unresolved": n_done[ci] - n_res[ci],
                "ci_low": lo,
                "ci_high": hi,
            }
        )
    tot, glob = sum(n_done), sum(n_glob)
    pooled = wilson_interval(glob, tot) if tot else (math.nan, math.nan)
    return {
        "configs": rows,
        "pooled": {"n_done": tot, "n_global": glob, "ci_low": pooled[0], "ci_high": pooled[1]},
        "complete": all(r["n_done"] == r["n_trials"] for r in rows),
    }
