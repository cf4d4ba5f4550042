"""Convergence rates along gradient-flow trajectories: the Łojasiewicz inequality (Theorem 2.2 of [CLC]).

Łojasiewicz's theorem, as used by [CLC] (Theorem 2.2, Proposition 1): near a critical point
``W*`` of an analytic function there are ``θ`` in ``[1/2, 1)`` and ``C > 0`` with

    ``|L(W) - L(W*)|^θ <= C ||∇L(W)||``,

and a bounded gradient trajectory converges to a critical point. Integrating ``dL/dt = -||∇L||²``
gives the rates (see the Mathematical notes, Convergence):

* ``θ = 1/2`` (e.g. a limit whose Hessian is non-degenerate in the normal directions, a
  Morse–Bott limit): exponential convergence, ``||W(t) - W*|| ~ exp(-λ t)`` with ``λ`` the smallest
  positive Hessian eigenvalue at ``W*``, and ``L - L* ~ exp(-2 λ t)``;
* ``θ > 1/2``: ``L - L* ~ t^{-1/(2θ-1)}`` and ``||W(t) - W*|| ~ t^{-(1-θ)/(2θ-1)}``.

This module fits decay rates and power laws (:func:`decay_rates`, :func:`fit_loglog_slope`,
:func:`exponential_bound_excess`), measures ``θ`` (a log-log fit of ``||∇L||`` against ``L - L*``) and the rate of
``||W(t) - W*||`` (exponential or power-law fit), and gives the exponents predicted for two scalar
examples where the normal Hessian degenerates (:func:`scalar_balanced_prediction`).

References
----------
[CLC] Y. Chitour, Z. Liao, R. Couillet, arXiv:1811.03568 (Theorem 2.2, Proposition 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import as_finite_array, check_positive

__all__ = [
    "DecayRates",
    "LogLogFit",
    "LojasiewiczFit",
    "RateFit",
    "RatePrediction",
    "decay_rates",
    "exponential_bound_excess",
    "fit_exponential_rate",
    "fit_loglog_slope",
    "fit_lojasiewicz",
    "fit_power_rate",
    "loss_excess",
    "predicted_rates",
    "scalar_balanced_prediction",
    "scalar_balanced_start",
]


def loss_excess(products, product_star, X, Y) -> np.ndarray:
    """``L(W) - L(W*)`` from the end-to-end maps, free of the cancellation of ``L(W) - L*``.

    With ``W_LS`` the least-squares map, ``L = c_0 + 1/2 tr((P - W_LS) Σ_XX (P - W_LS)^T)`` (Remark 5 of
    [CLC]), hence ``L(P) - L(P*) = 1/2 tr((P - P*) Σ_XX (P + P* - 2 W_LS)^T)``: accurate even when the
    excess is far below the round-off of ``L`` itself.

    Parameters
    ----------
    products : ndarray of shape (n, d_y, d_x) or (d_y, d_x)
        End-to-end maps ``W_{N:1}`` along a trajectory.
    product_star : ndarray of shape (d_y, d_x)
        End-to-end map of the limit ``W*``.
    X : ndarray of shape (d_x, m)
        Data of full row rank.
    Y : ndarray of shape (d_y, m)
        Targets.

    Returns
    -------
    ndarray of shape (n,) or float
        The excess loss.
    """
    P = as_finite_array(products, "products", ndim=(2, 3))
    Ps = as_finite_array(product_star, "product_star", ndim=2)
    X = as_finite_array(X, "X", ndim=2)
    Y = as_finite_array(Y, "Y", ndim=2)
    if P.shape[-2:] != Ps.shape or Ps.shape != (Y.shape[0], X.shape[0]):
        raise ValueError(
            f"products must have shape (..., d_y, d_x) = (..., {Y.shape[0]}, {X.shape[0]}) like product_star, "
            f"got {P.shape} and {Ps.shape}"
        )
    sxx = X @ X.T
    wls = np.linalg.lstsq(X.T, Y.T, rcond=None)[0].T
    out = 0.5 * np.einsum("...ij,...ij->...", (P - Ps) @ sxx, P + Ps - 2 * wls)
    return float(out) if P.ndim == 2 else out


@dataclass(frozen=True)
class LojasiewiczFit:
    """Fit of ``||∇L|| ≈ C |L - L*|^θ`` along a trajectory (:func:`fit_lojasiewicz`).

    Attributes
    ----------
    theta : float
        Fitted Łojasiewicz exponent (slope of ``log ||∇L||`` against ``log (L - L*)``).
    constant : float
        ``C`` with ``||∇L|| ≈ C (L - L*)^θ``; the inequality ``(L - L*)^θ <= C' ||∇L||`` then holds
        with ``C' = 1/C`` up to the fit's scatter.
    r_squared : float
        Coefficient of determination of the log-log fit.
    n_points : int
        Points used.
    """

    theta: float
    constant: float
    r_squared: float
    n_points: int


def _window(x: np.ndarray, lower, upper) -> np.ndarray:
    keep = np.isfinite(x) & (x > 0)
    if lower is not None:
        keep &= x >= float(lower)
    if upper is not None:
        keep &= x <= float(upper)
    return keep


def fit_lojasiewicz(excess, grad_norm, *, lower: float | None = None, upper: float | None = None) -> LojasiewiczFit:
    """Fit the Łojasiewicz exponent ``θ`` in ``|L - L*|^θ <= C ||∇L||`` (Theorem 2.2 of [CLC]).

    Least squares on ``log ||∇L|| = log C + θ log (L - L*)`` over the points with
    ``lower <= L - L* <= upper`` (positive, finite).

    Parameters
    ----------
    excess : array_like of shape (n,)
        ``L(W(t)) - L*`` along the trajectory (e.g. from :func:`loss_excess`).
    grad_norm : array_like of shape (n,)
        ``||∇L(W(t))||``.
    lower, upper : float or None, optional
        Keyword-only. Window of excess values used (``None``: unbounded). Use ``upper`` to keep
        only the asymptotic regime near ``W*`` and ``lower`` to drop round-off.

    Returns
    -------
    LojasiewiczFit
        The fit.

    Raises
    ------
    ValueError
        Inputs of different lengths, or fewer than 3 usable points.
    """
    e = as_finite_array(excess, "excess", ndim=1)
    g = as_finite_array(grad_norm, "grad_norm", ndim=1)
    if e.shape != g.shape:
        raise ValueError(f"excess and grad_norm must have the same length, got {e.size} and {g.size}")
    keep = _window(e, lower, upper) & (g > 0)
    if keep.sum() < 3:
        raise ValueError(
            f"fit_lojasiewicz needs at least 3 points with positive excess within [{lower}, {upper}], got {keep.sum()}"
        )
    fit = fit_loglog_slope(e[keep], g[keep])
    return LojasiewiczFit(theta=fit.slope, constant=fit.prefactor, r_squared=fit.r_squared, n_points=fit.n_points)


@dataclass(frozen=True)
class RateFit:
    """Fit of ``||W(t) - W*||`` against time (:func:`fit_exponential_rate`, :func:`fit_power_rate`).

    Attributes
    ----------
    kind : str
        ``"exponential"`` (``d ≈ a exp(-rate t)``) or ``"power"`` (``d ≈ a t^{-rate}``).
    rate : float
        The fitted rate ``λ`` or exponent ``p``.
    prefactor : float
        ``a``.
    r_squared : float
        Coefficient of determination (in ``log d``).
    n_points : int
        Points used.
    """

    kind: str
    rate: float
    prefactor: float
    r_squared: float
    n_points: int

    def __call__(self, t) -> np.ndarray:
        """The fitted curve at times ``t``.

        Parameters
        ----------
        t : array_like
            Times (positive for a power law).

        Returns
        -------
        ndarray
            ``a exp(-rate t)`` or ``a t^{-rate}``.
        """
        t = np.asarray(t, dtype=float)
        if self.kind == "exponential":
            return self.prefactor * np.exp(-self.rate * t)
        return self.prefactor * t ** (-self.rate)


def _td(t, dist, t_min, t_max):
    t = as_finite_array(t, "t", ndim=1)
    d = as_finite_array(dist, "dist", ndim=1)
    if t.shape != d.shape:
        raise ValueError(f"t and dist must have the same length, got {t.size} and {d.size}")
    keep = (d > 0) & (t >= (t_min if t_min is not None else -np.inf)) & (t <= (t_max if t_max is not None else np.inf))
    if keep.sum() < 3:
        raise ValueError(f"need at least 3 points with positive distance in the time window, got {keep.sum()}")
    return t[keep], d[keep]


def fit_exponential_rate(t, dist, *, t_min: float | None = None, t_max: float | None = None) -> RateFit:
    """Fit ``||W(t) - W*|| ≈ a exp(-λ t)`` (least squares on ``log d``).

    Parameters
    ----------
    t : array_like of shape (n,)
        Times.
    dist : array_like of shape (n,)
        Distances to the limit.
    t_min, t_max : float or None, optional
        Keyword-only. Time window of the fit.

    Returns
    -------
    RateFit
        ``kind="exponential"``, ``rate = λ``.

    Raises
    ------
    ValueError
        Inputs of different lengths or fewer than 3 usable points.
    """
    tt, d = _td(t, dist, t_min, t_max)
    a = np.column_stack([tt, np.ones_like(tt)])
    (slope, icpt), *_ = np.linalg.lstsq(a, np.log(d), rcond=None)
    resid = np.log(d) - (slope * tt + icpt)
    ss = float(np.sum((np.log(d) - np.log(d).mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / ss if ss > 0 else 1.0
    return RateFit("exponential", float(-slope), float(np.exp(icpt)), r2, int(tt.size))


def fit_power_rate(t, dist, *, t_min: float | None = None, t_max: float | None = None) -> RateFit:
    """Fit ``||W(t) - W*|| ≈ a t^{-p}`` (log-log least squares; times must be positive).

    Parameters
    ----------
    t : array_like of shape (n,)
        Times.
    dist : array_like of shape (n,)
        Distances to the limit.
    t_min, t_max : float or None, optional
        Keyword-only. Time window of the fit (points with ``t <= 0`` are dropped).

    Returns
    -------
    RateFit
        ``kind="power"``, ``rate = p``.

    Raises
    ------
    ValueError
        Inputs of different lengths or fewer than 3 usable points.
    """
    lo = max(t_min, np.nextafter(0.0, 1.0)) if t_min is not None else np.nextafter(0.0, 1.0)
    tt, d = _td(t, dist, lo, t_max)
    fit = fit_loglog_slope(tt, d)
    return RateFit("power", -fit.slope, fit.prefactor, fit.r_squared, fit.n_points)


@dataclass(frozen=True)
class RatePrediction:
    """Rates implied by a Łojasiewicz exponent (:func:`predicted_rates`).

    Attributes
    ----------
    theta : float
        The exponent ``θ``.
    exponential : bool
        ``θ = 1/2``: exponential convergence (the exponents below are then ``inf``).
    loss_exponent : float
        ``L - L* ~ t^{-loss_exponent}``, ``1/(2θ-1)``.
    distance_exponent : float
        ``||W - W*|| ~ t^{-distance_exponent}``, ``(1-θ)/(2θ-1)``.
    """

    theta: float
    exponential: bool
    loss_exponent: float
    distance_exponent: float


def predicted_rates(theta: float) -> RatePrediction:
    """Convergence rates implied by ``|L - L*|^θ ~ ||∇L||`` along ``dW/dt = -∇L``.

    If ``||∇L|| ≈ c (L - L*)^θ`` then ``d(L - L*)/dt = -c² (L - L*)^{2θ}``, so ``L - L* ~ t^{-1/(2θ-1)}``
    for ``θ > 1/2`` (exponential for ``θ = 1/2``), and the length of the remaining path,
    ``∫ ||∇L|| dt``, is ``~ (L - L*)^{1-θ}``, so ``||W - W*|| ~ t^{-(1-θ)/(2θ-1)}``.

    Parameters
    ----------
    theta : float
        Exponent in ``[1/2, 1)``.

    Returns
    -------
    RatePrediction
        The predicted exponents.

    Raises
    ------
    ValueError
        If ``theta`` is outside ``[1/2, 1)``.
    """
    th = float(theta)
    if not (0.5 <= th < 1.0):
        raise ValueError(f"theta must be in [1/2, 1), got {theta!r}")
    if th == 0.5:
        return RatePrediction(th, True, np.inf, np.inf)
    return RatePrediction(th, False, 1.0 / (2 * th - 1), (1 - th) / (2 * th - 1))


def _check_at(at: str) -> str:
    if at not in ("saddle", "minimum"):
        raise ValueError(f"at must be 'saddle' or 'minimum', got {at!r}")
    return at


def scalar_balanced_prediction(depth: int, *, at: str) -> RatePrediction:
    """Predicted Łojasiewicz exponent and rates for a scalar network on its balanced invariant set.

    Scalar depth-``N`` network ``f(x) = w_N ... w_1 x`` with ``x = 1``; every ``|w_i| = u`` (invariants
    ``C_i = w_{i+1}² - w_i² = 0``, kept by the flow), so the flow reduces to one variable ``u``.

    * ``at="minimum"``: target ``y = 0``, all ``w_i = u``. ``L = u^{2N}/2``, ``||∇L|| = sqrt(N) u^{2N-1}``,
      so ``θ = (2N-1)/(2N)``; ``du/dt = -u^{2N-1}`` gives ``u ~ ((2N-2) t)^{-1/(2N-2)}``: the global
      minimum ``0`` is degenerate for every ``N >= 2``.
    * ``at="saddle"``: target ``y = 1``, ``w_N = -u`` and the others ``u``. ``L = (1 + u^N)²/2`` and
      ``L* = 1/2`` at the saddle ``W = 0``; ``L - L* = u^N + u^{2N}/2``, ``||∇L|| = sqrt(N) u^{N-1}(1 + u^N)``,
      so ``θ = (N-1)/N``; ``du/dt = -u^{N-1}(1 + u^N)`` gives ``u ~ ((N-2) t)^{-1/(N-2)}`` for ``N >= 3``
      (a non-strict saddle, approached along its stable set) and exponential decay for ``N = 2``.

    Parameters
    ----------
    depth : int
        ``N >= 2``.
    at : {"minimum", "saddle"}
        Keyword-only. Which limit.

    Returns
    -------
    RatePrediction
        With ``distance_exponent = 1/(2N-2)`` (minimum) or ``1/(N-2)`` (saddle, ``N >= 3``).

    Raises
    ------
    ValueError
        ``depth < 2`` or an unknown ``at``.
    """
    n = check_positive(depth, "depth", integer=True)
    if n < 2:
        raise ValueError(f"depth must be >= 2, got {depth}")
    theta = (2 * n - 1) / (2 * n) if _check_at(at) == "minimum" else (n - 1) / n
    return predicted_rates(theta)


def scalar_balanced_start(depth: int, u0: float, *, at: str) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Initial weights and data of the examples of :func:`scalar_balanced_prediction`.

    Parameters
    ----------
    depth : int
        ``N >= 2``.
    u0 : float
        Initial ``u > 0``.
    at : {"minimum", "saddle"}
        Keyword-only. Which example.

    Returns
    -------
    weights, X, Y
        ``[w_1, ..., w_N]`` as ``1 x 1`` arrays, ``X = [[1]]`` and ``Y = [[0]]`` (minimum) or ``[[1]]``
        (saddle).

    Raises
    ------
    ValueError
        Invalid ``depth``, ``u0`` or ``at``.
    """
    n = check_positive(depth, "depth", integer=True)
    if n < 2:
        raise ValueError(f"depth must be >= 2, got {depth}")
    u = check_positive(u0, "u0")
    saddle = _check_at(at) == "saddle"
    ws = [np.array([[u]]) for _ in range(n)]
    if saddle:
        ws[-1] = np.array([[-u]])
    return ws, np.ones((1, 1)), np.full((1, 1), 1.0 if saddle else 0.0)


@dataclass(frozen=True)
class LogLogFit:
    """Least-squares fit ``log y = log(prefactor) + slope * log x`` (:func:`fit_loglog_slope`).

    Attributes
    ----------
    slope : float
        Fitted exponent.
    prefactor : float
        ``y ≈ prefactor * x**slope``.
    r_squared : float
        Coefficient of determination of the fit in log-log coordinates.
    n_points : int
        Number of points used.
    """

    slope: float
    prefactor: float
    r_squared: float
    n_points: int

    @property
    def intercept(self) -> float:
        """Natural logarithm of the prefactor (intercept in ``log``-``log`` coordinates)."""
        return float(np.log(self.prefactor))

    def __call__(self, x) -> np.ndarray:
        """The fitted power law evaluated at ``x``.

        Parameters
        ----------
        x : array_like
            Positive abscissae.

        Returns
        -------
        ndarray
            ``prefactor * x**slope``.
        """
        return self.prefactor * np.asarray(x, dtype=float) ** self.slope


def fit_loglog_slope(x, y) -> LogLogFit:
    """Fit a power law ``y ≈ c x^p`` by least squares on ``(log x, log y)``.

    Parameters
    ----------
    x, y : array_like
        1-D arrays of the same length ``>= 2`` with finite positive entries, ``x`` not constant.

    Returns
    -------
    LogLogFit
        The fit.

    Raises
    ------
    ValueError
        If the inputs do not satisfy the conditions above.

    Examples
    --------
    >>> fit_loglog_slope([1.0, 2.0, 4.0], [3.0, 12.0, 48.0]).slope  # doctest: +ELLIPSIS
    2.0...
    """
    x = as_finite_array(x, "x", ndim=1)
    y = as_finite_array(y, "y", ndim=1)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.shape[0]} and {y.shape[0]}")
    if x.size < 2:
        raise ValueError(f"need at least 2 points to fit a slope, got {x.size}")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError(f"a log-log fit needs positive values: min(x) = {x.min():.3g}, min(y) = {y.min():.3g}")
    lx, ly = np.log(x), np.log(y)
    if np.ptp(lx) == 0:
        raise ValueError("x must not be constant (the slope is undefined)")
    a = np.column_stack([lx, np.ones_like(lx)])
    (slope, icpt), *_ = np.linalg.lstsq(a, ly, rcond=None)
    resid = ly - (slope * lx + icpt)
    ss_tot = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else 1.0
    return LogLogFit(slope=float(slope), prefactor=float(np.exp(icpt)), r_squared=r2, n_points=int(x.size))


@dataclass(frozen=True)
class DecayRates:
    """Measured exponential decay rates of a loss curve (:func:`decay_rates`).

    Rates are for ``L(t) ∝ exp(-2 r t)``, the normalization of Proposition 2 of [CLC].

    Attributes
    ----------
    average : float
        ``-log(L(T) / L(0)) / (2 T)`` over ``[0, T]``.
    instantaneous_min : float
        ``min_t ||∇L(t)||² / (2 (L(t) - L_min))`` over the recorded times in ``[0, T]``; along a
        gradient flow ``dL/dt = -||∇L||²``, so this is the smallest instantaneous rate
        ``-(dL/dt) / (2 (L - L_min))``.
    horizon : float
        The time ``T``: the last recorded time whose excess loss is above ``loss_floor`` times
        the initial one (or the last recorded time).
    """

    average: float
    instantaneous_min: float
    horizon: float


def decay_rates(t, loss, grad_norm, *, loss_min: float = 0.0, loss_floor: float = 1e-12) -> DecayRates:
    """Average and smallest instantaneous exponential rate of a gradient-flow loss curve.

    Parameters
    ----------
    t : ndarray of shape (n_t,)
        Recorded times, increasing, starting at 0.
    loss, grad_norm : ndarray of shape (n_t,)
        Loss and gradient norm at those times.
    loss_min : float, optional
        Keyword-only. The limit value subtracted from ``loss`` (0 for the reduced problem at a
        global minimum).
    loss_floor : float, optional
        Keyword-only. Ignore times whose excess loss is below ``loss_floor * (L(0) - L_min)``
        (round-off).

    Returns
    -------
    DecayRates
        The measured rates.

    Raises
    ------
    ValueError
        Inconsistent or invalid inputs.
    """
    t = as_finite_array(t, "t", ndim=1)
    lo = as_finite_array(loss, "loss", ndim=1)
    gn = as_finite_array(grad_norm, "grad_norm", ndim=1)
    if not (t.shape == lo.shape == gn.shape) or t.size < 2:
        raise ValueError(
            f"t, loss and grad_norm must be 1-D of the same length >= 2, got {t.shape}, {lo.shape}, {gn.shape}"
        )
    if t[0] != 0 or np.any(np.diff(t) < 0):
        raise ValueError("t must be non-decreasing and start at 0")
    excess = lo - float(loss_min)
    if excess[0] <= 0:
        raise ValueError(f"the initial excess loss L(0) - loss_min must be positive, got {excess[0]:.3g}")
    keep = excess > check_positive(loss_floor, "loss_floor") * excess[0]
    last = int(np.flatnonzero(keep)[-1])
    if last == 0:
        raise ValueError("the loss falls below loss_floor * L(0) at the first recorded time after 0")
    avg = -np.log(excess[last] / excess[0]) / (2.0 * t[last])
    inst = gn[: last + 1] ** 2 / (2.0 * excess[: last + 1])
    return DecayRates(average=float(avg), instantaneous_min=float(np.min(inst)), horizon=float(t[last]))


def exponential_bound_excess(t, loss, rate: float, *, loss_floor: float = 1e-12) -> float:
    """How far a loss curve exceeds the exponential bound ``L(0) exp(-2 rate t)``, in decades.

    Returns ``max_t log10(L(t) / (L(0) exp(-2 rate t)))`` over the recorded times whose loss is above
    ``loss_floor * L(0)`` (below that, round-off dominates). The value is 0 at ``t = 0``, so a
    result ``<= 0`` (up to integration error) means the bound holds; a positive result is the size
    of the violation. Computed in logarithms, so it does not overflow when the bound underflows.

    Parameters
    ----------
    t : ndarray of shape (n_t,)
        Recorded times, starting at 0.
    loss : ndarray of shape (n_t,)
        Loss values (``L(0) > 0``).
    rate : float
        The rate ``κ`` (any real number: also used for the invalid "naive" products).
    loss_floor : float, optional
        Keyword-only. Relative loss level below which times are ignored.

    Returns
    -------
    float
        ``max_t log10(L(t) / (L(0) exp(-2 rate t)))``, in decades.

    Raises
    ------
    ValueError
        Inconsistent or invalid inputs.
    """
    t = as_finite_array(t, "t", ndim=1)
    lo = as_finite_array(loss, "loss", ndim=1)
    if t.shape != lo.shape or t.size == 0 or t[0] != 0:
        raise ValueError(f"t and loss must be 1-D of the same length with t[0] = 0, got {t.shape} and {lo.shape}")
    if lo[0] <= 0:
        raise ValueError(f"the initial loss must be positive, got {lo[0]:.3g}")
    rate = float(as_finite_array(rate, "rate", ndim=0))
    keep = lo > check_positive(loss_floor, "loss_floor") * lo[0]
    excess = np.log10(lo[keep] / lo[0]) + 2.0 * rate * t[keep] / np.log(10.0)
    return float(np.max(excess))
