"""Memory budget of the dense second-order paths, and the guard that refuses what cannot fit.

Every dense path (:func:`dlnlib.hessian.hessian`, :func:`dlnlib.hessian.hessian_fd`,
``inertia(method="dense")``, :func:`dlnlib.geometry.tangent_dimension`, ...) holds at least one
``P x P`` float64 matrix (``8 P^2`` bytes: 0.8 GB at ``P = 10^4``, 241 GiB at ``P = 180,000``).
Before allocating, it estimates its peak memory with :func:`dense_bytes` and calls
:func:`check_dense_memory`, which raises :class:`DenseMemoryError` (a ``MemoryError``) naming
``P``, the bytes needed, the budget, and the matrix-free alternative, instead of failing deep inside
numpy (or swapping the machine to a halt).

The budget (:func:`memory_budget`) is :data:`MEMORY_LIMIT` when set (bytes), else 80% of the memory
available now: ``MemAvailable`` of ``/proc/meminfo`` (or the free physical pages), capped by the
address-space limit ``RLIMIT_AS`` minus what the process already maps. ``method="auto"`` of
:func:`dlnlib.hessian.inertia` and :func:`dlnlib.hessian.classify` takes the dense path only while
its estimate stays below :data:`AUTO_DENSE_LIMIT` (1 GiB) *and* half the budget: the dense path is
exact (all eigenvalues) and fastest up to ``P`` of a few thousand, but above ``P ~ 8000`` its
``O(P^3)`` eigendecomposition takes tens of seconds and its memory is that of a whole workstation
process, while the matrix-free path needs ``O(k P)``.
"""

from __future__ import annotations

import os

__all__ = [
    "AUTO_DENSE_LIMIT",
    "MEMORY_LIMIT",
    "DenseMemoryError",
    "available_memory",
    "check_dense_memory",
    "dense_bytes",
    "format_bytes",
    "memory_budget",
    "prefer_dense",
]

#: Budget in bytes for the dense paths; ``None``: 80% of :func:`available_memory` (tests may set it).
MEMORY_LIMIT: int | None = None

#: ``method="auto"`` uses the dense path only below this estimate (bytes), and below half the budget.
AUTO_DENSE_LIMIT: int = 1 << 30

# Number of P x P float64 matrices alive at the peak of each dense path (measured on the code).
_MATRICES = {
    "hessian": 1.0,  # the output; blocks are written in place
    "hessian_fd": 3.0,  # column blocks, their concatenation (transposed view), the symmetrized copy
    "inertia": 2.0,  # the assembled matrix and LAPACK's copy in eigvalsh
    "eigh": 4.0,  # matrix, LAPACK copy, eigenvectors, divide-and-conquer workspace (~P^2)
}


class DenseMemoryError(MemoryError):
    """A dense ``P x P`` computation was refused because its memory estimate exceeds the budget."""


def format_bytes(n: float) -> str:
    """``n`` bytes in human units (``"241 GiB"``).

    Parameters
    ----------
    n : float
        A number of bytes.

    Returns
    -------
    str
        The size with a binary prefix and three significant digits.
    """
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} TiB"  # pragma: no cover


def dense_bytes(n_params: int, what: str = "inertia", *, copies: float | None = None) -> int:
    """Estimated peak memory (bytes) of a dense path on ``P = n_params`` parameters.

    Parameters
    ----------
    n_params : int
        ``P``.
    what : str, optional
        ``"hessian"``, ``"hessian_fd"``, ``"inertia"`` or ``"eigh"`` (matrices alive at the peak:
        1, 3, 2 and 4 copies of ``P x P`` float64).
    copies : float, optional
        Keyword-only. Override the number of ``P x P`` float64 matrices.

    Returns
    -------
    int
        ``8 * copies * P^2``.

    Raises
    ------
    ValueError
        Unknown ``what`` or negative ``n_params``.
    """
    if copies is None:
        if what not in _MATRICES:
            raise ValueError(f"what must be one of {sorted(_MATRICES)}, got {what!r}")
        copies = _MATRICES[what]
    p = int(n_params)
    if p < 0:
        raise ValueError(f"n_params must be nonnegative, got {n_params!r}")
    return int(8 * copies * p * p)


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _address_space_left() -> int | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    used = 0
    try:
        with open("/proc/self/statm") as fh:
            used = int(fh.read().split()[0]) * int(os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, IndexError):
        pass
    return max(int(soft) - used, 0)


def available_memory() -> int | None:
    """Memory this process can still allocate (bytes), or ``None`` when unknown.

    ``MemAvailable`` from ``/proc/meminfo`` (else the free physical pages), capped by the
    address-space limit ``RLIMIT_AS`` minus the process's current mapped size.

    Returns
    -------
    int or None
        Bytes.
    """
    vals = [v for v in (_meminfo_available(), _address_space_left()) if v is not None]
    return min(vals) if vals else None


def memory_budget() -> int | None:
    """Bytes a dense path may use: :data:`MEMORY_LIMIT`, else 80% of :func:`available_memory`.

    Returns
    -------
    int or None
        ``None`` when neither is known (then no dense path is refused).
    """
    if MEMORY_LIMIT is not None:
        return int(MEMORY_LIMIT)
    avail = available_memory()
    return None if avail is None else int(0.8 * avail)


def prefer_dense(n_params: int, what: str = "inertia") -> bool:
    """The ``method="auto"`` rule: dense while ``dense_bytes(P) <= min(AUTO_DENSE_LIMIT, budget / 2)``.

    Parameters
    ----------
    n_params : int
        ``P``.
    what : str, optional
        As in :func:`dense_bytes`.

    Returns
    -------
    bool
        Whether the dense path fits comfortably.
    """
    need = dense_bytes(n_params, what)
    budget = memory_budget()
    limit = AUTO_DENSE_LIMIT if budget is None else min(AUTO_DENSE_LIMIT, budget // 2)
    return need <= limit


def check_dense_memory(what: str, n_params: int, *, nbytes: int | None = None, alternative: str = "") -> int:
    """Refuse a dense computation whose memory estimate exceeds :func:`memory_budget`.

    Parameters
    ----------
    what : str
        Name of the computation, for the message (and the copy count when ``nbytes`` is None).
    n_params : int
        ``P``.
    nbytes : int, optional
        Keyword-only. The estimate; default :func:`dense_bytes` ``(n_params, what)``.
    alternative : str, optional
        Keyword-only. The matrix-free alternative to name in the message.

    Returns
    -------
    int
        The estimate (bytes), when it fits.

    Raises
    ------
    DenseMemoryError
        When the estimate exceeds the budget; the message names ``P``, the bytes needed, the budget
        and ``alternative``.
    """
    need = dense_bytes(n_params, what) if nbytes is None else int(nbytes)
    budget = memory_budget()
    if budget is not None and need > budget:
        hint = f" Use {alternative} instead." if alternative else ""
        raise DenseMemoryError(
            f"{what} at P = {n_params} parameters needs about {format_bytes(need)} ({need} bytes) of dense "
            f"P x P float64 storage, above the memory budget of {format_bytes(budget)} "
            f"(dlnlib.memory.MEMORY_LIMIT, default 80% of the available memory).{hint}"
        )
    return need
