"""Shared helpers of the benchmark scripts: timing and writing ``results/<name>.json``."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def best_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls of ``fn``, and the last call's result.

    Parameters
    ----------
    fn : callable
        Called with no arguments.
    repeat : int
        Number of calls (at least 1).

    Returns
    -------
    seconds : float
        The shortest of the ``repeat`` wall times.
    result : object
        What the last call returned.
    """
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def write_results(name: str, out: dict[str, Any], cpu_key: str = "cpu_count") -> Path:
    """Write ``out`` and the environment to ``benchmarks/results/<name>.json``.

    Parameters
    ----------
    name : str
        File stem of the results file.
    out : dict
        The measurements; the fields ``numpy``, ``python``, ``machine`` and ``cpu_key`` are added.
    cpu_key : str, optional
        Name of the CPU-count field (``bench_flow.py`` has always written ``"cpus"``).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    env = {
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        cpu_key: os.cpu_count(),
    }
    path = RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**out, **env}, indent=2) + "\n")
    print(f"wrote {path}")
    return path
