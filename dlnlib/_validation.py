"""Input validation shared by the public functions (private module).

Validation happens once, at the public boundary; internal helpers trust their inputs.
Error messages say what was expected, what was got, and which assumption of [CLC] is
broken when one is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "as_finite_array",
    "as_rng",
    "as_weight_batch",
    "as_weights",
    "check_positive",
    "check_tolerances",
    "dims_of",
]


def as_rng(rng: np.random.Generator | int | np.random.SeedSequence | None) -> np.random.Generator:
    """Normalize ``rng`` (a Generator, an int seed or a SeedSequence) to a Generator.

    ``None`` is refused: every random draw in dlnlib is reproducible by construction.

    Parameters
    ----------
    rng : numpy.random.Generator, int or numpy.random.SeedSequence
        Source of randomness.

    Returns
    -------
    numpy.random.Generator
        ``rng`` itself if it is a Generator, else ``numpy.random.default_rng(rng)``.

    Raises
    ------
    TypeError
        If ``rng`` is ``None`` or of another type (``bool`` included).
    ValueError
        If ``rng`` is a negative integer seed.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        raise TypeError(
            "rng is required: pass a numpy.random.Generator or an integer seed "
            "(dlnlib never draws from an unseeded global state)"
        )
    if isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng: an integer seed must be non-negative, got {rng}")
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator or an int seed, got {type(rng).__name__}")


def as_finite_array(a, name: str, *, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``a`` as a float64 array, refusing NaN/inf and wrong dimensionality.

    Parameters
    ----------
    a : array_like
        Input.
    name : str
        Name used in error messages.
    ndim : int or tuple of int or None, optional
        Keyword-only. Allowed number(s) of dimensions (``None``: any).

    Returns
    -------
    ndarray
        ``a`` as float64.

    Raises
    ------
    TypeError
        If ``a`` is not numeric, or complex with a non-zero imaginary part (a complex array with zero
        imaginary parts is taken as its real part).
    ValueError
        If ``a`` has a wrong dimensionality or NaN/infinite entries.
    """
    try:
        raw = np.asarray(a)
        if np.iscomplexobj(raw):
            if np.any(raw.imag != 0):
                raise TypeError(
                    f"{name} must be a real numeric array, got complex entries with a non-zero imaginary part"
                )
            raw = raw.real
        arr = raw.astype(np.float64)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, TypeError) and "imaginary part" in str(exc):
            raise
        raise TypeError(f"{name} must be a real numeric array, got {type(a).__name__}") from exc
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            raise ValueError(f"{name} must have ndim in {allowed}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        n_bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {n_bad} NaN or infinite entries; all entries must be finite")
    return arr


def as_weights(weights: Sequence, name: str = "weights") -> list[np.ndarray]:
    """Validate a weights tuple ``[W_1, ..., W_N]`` with ``W_i`` of shape ``(d_i, d_{i-1})``.

    Parameters
    ----------
    weights : sequence of array_like
        ``[W_1, ..., W_N]``.
    name : str, optional
        Name used in error messages.

    Returns
    -------
    list of ndarray
        The weights as float64 arrays.

    Raises
    ------
    TypeError
        If ``weights`` is not a non-empty sequence of numeric arrays.
    ValueError
        If some ``W_i`` is not 2-D or finite, or consecutive shapes do not chain.
    """
    if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence) or len(weights) == 0:
        raise TypeError(f"{name} must be a non-empty list [W_1, ..., W_N] of 2-D arrays, got {type(weights).__name__}")
    ws = [as_finite_array(w, f"{name}[{i}] (W_{i + 1})", ndim=2) for i, w in enumerate(weights)]
    for i in range(1, len(ws)):
        if ws[i].shape[1] != ws[i - 1].shape[0]:
            raise ValueError(
                f"{name}: W_{i + 1} has shape {ws[i].shape} but W_{i} has shape {ws[i - 1].shape}; "
                f"W_{i + 1} must have {ws[i - 1].shape[0]} columns (d_{i} = rows of W_{i})"
            )
    return ws


def as_weight_batch(weights: Sequence, name: str = "weights") -> list[np.ndarray]:
    """Validate a batch of weights: ``W_i`` of shape ``(K, d_i, d_{i-1})`` with a common K.

    Parameters
    ----------
    weights : sequence of array_like
        ``[W_1, ..., W_N]``, each with a leading batch axis.
    name : str, optional
        Name used in error messages.

    Returns
    -------
    list of ndarray
        The weights as float64 arrays.

    Raises
    ------
    TypeError
        If ``weights`` is not a non-empty sequence of numeric arrays.
    ValueError
        If some ``W_i`` is not 3-D or finite, batch sizes differ, or shapes do not chain.
    """
    if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence) or len(weights) == 0:
        raise TypeError(f"{name} must be a non-empty list of 3-D arrays (K, d_i, d_(i-1))")
    ws = [as_finite_array(w, f"{name}[{i}] (W_{i + 1})", ndim=3) for i, w in enumerate(weights)]
    k = ws[0].shape[0]
    for i, w in enumerate(ws):
        if w.shape[0] != k:
            raise ValueError(f"{name}: batch sizes differ: W_1 has K={k}, W_{i + 1} has K={w.shape[0]}")
        if i > 0 and w.shape[2] != ws[i - 1].shape[1]:
            raise ValueError(f"{name}: W_{i + 1} has shape {w.shape[1:]} but W_{i} has shape {ws[i - 1].shape[1:]}")
    return ws


def dims_of(weights: Sequence[np.ndarray]) -> tuple[int, ...]:
    """Widths ``(d_0, ..., d_N)`` of a (batched or single) weights tuple.

    Parameters
    ----------
    weights : sequence of ndarray
        Validated weights (single or batched).

    Returns
    -------
    tuple of int
        ``(d_0, ..., d_N)``.
    """
    return (int(weights[0].shape[-1]),) + tuple(int(w.shape[-2]) for w in weights)


def check_positive(value, name: str, *, integer: bool = False) -> float | int:
    """Refuse non-finite, zero or negative numbers (step sizes, horizons, counts).

    Parameters
    ----------
    value : float or int
        The number to check.
    name : str
        Name used in error messages.
    integer : bool, optional
        Keyword-only. Require a positive integer.

    Returns
    -------
    float or int
        ``value`` as a float (or as an int when ``integer=True``).

    Raises
    ------
    TypeError
        If ``value`` is not a number (not an integer when ``integer=True``).
    ValueError
        If ``value`` is not finite or not positive.
    """
    if integer:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be a positive integer, got {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
        return int(value)
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a positive number, got {value!r}") from exc
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    return v


def check_tolerances(rtol, atol) -> tuple[float, float]:
    """Validate the ODE tolerances ``rtol`` and ``atol`` (finite and positive).

    Shared by :func:`dlnlib.dynamics.gradient_flow` and :func:`dlnlib.dynamics.gradient_flow_batch`:
    a NaN tolerance would make the step-size control loop forever.

    Parameters
    ----------
    rtol, atol : float
        Relative and absolute tolerances.

    Returns
    -------
    rtol, atol : float
        As floats.

    Raises
    ------
    TypeError
        If either is not a number.
    ValueError
        If either is not finite or not positive.
    """
    return check_positive(rtol, "rtol"), check_positive(atol, "atol")
