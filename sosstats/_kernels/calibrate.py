"""Raking (iterative proportional fitting) and Deville-Sarndal calibration, one kernel.

Both work on group sums, never on rows one at a time. :func:`rake` collapses the units into
the cells of the cross-classification of all margins (one ``np.bincount``), runs iterative
proportional fitting on the occupied cells' base-weight totals and expands the cell factors
back to the units; when there are too many possible cells it iterates over the units with one
``np.bincount`` per margin instead. :func:`calibrate` solves the calibration equations for the
Lagrange multipliers by Newton's method on the convex dual, each step costing one ``X' D X``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sosstats._validate import check_int, check_option
from sosstats.errors import ConvergenceError, DataError

__all__ = ["CalibrationFit", "rake", "calibrate", "CALFUNS"]

#: Calibration distance functions supported by :func:`calibrate`.
CALFUNS = ("linear", "raking", "logit")

_MAX_CELLS_FACTOR = 4  # collapse to cells when prod(K_m) <= max(4 n, _MIN_CELLS)
_MIN_CELLS = 2**16


@dataclass(frozen=True)
class CalibrationFit:
    """Result of :func:`rake` or :func:`calibrate`.

    Attributes
    ----------
    weights : numpy.ndarray
        The ``(n,)`` final weights ``w_i = d_i g_i``.
    iterations : int
        Sweeps over the margins (:func:`rake`) or Newton steps (:func:`calibrate`).
    converged : bool
        Whether every margin was met to the tolerance (always ``True`` when returned: a fit
        that does not converge raises :class:`~sosstats.errors.ConvergenceError`).
    max_abs_error : float
        The largest absolute discrepancy ``|sum_i w_i x_ij - T_j|`` over all margins.
    """

    weights: np.ndarray
    iterations: int
    converged: bool
    max_abs_error: float


# ----------------------------------------------------------------------------- validation

def _check_tol(tol: Any) -> float:
    try:
        tol = float(tol)
    except (TypeError, ValueError):
        raise DataError(f"`tol` must be a positive number; got {tol!r}.") from None
    if not np.isfinite(tol) or tol <= 0:
        raise DataError(f"`tol` must be a positive finite number; got {tol!r}.")
    return tol


def _check_base(base: Any, n: int) -> np.ndarray:
    if base is None:
        return np.ones(n)
    d = np.asarray(base, dtype=float)
    if d.shape != (n,):
        raise DataError(f"`base` must have shape ({n},) like the data; got {d.shape}.")
    if not np.all(np.isfinite(d)):
        raise DataError(f"`base` has {int(np.sum(~np.isfinite(d)))} NaN or infinite values.")
    if np.any(d <= 0):
        raise DataError(f"`base` weights must be positive; {int(np.sum(d <= 0))} are not "
                        f"(first at position {int(np.flatnonzero(d <= 0)[0])}).")
    return d


def _check_margins(codes: Any, targets: Any) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    if isinstance(codes, np.ndarray) and codes.ndim == 1:
        codes = [codes]
    if isinstance(targets, np.ndarray) and targets.ndim == 1:
        targets = [targets]
    codes, targets = list(codes), list(targets)
    if len(codes) == 0:
        raise DataError("`codes` must hold at least one margin.")
    if len(codes) != len(targets):
        raise DataError(f"`codes` has {len(codes)} margins but `targets` has {len(targets)}.")
    out_c, out_t = [], []
    n = None
    for m, (c, t) in enumerate(zip(codes, targets)):
        c = np.asarray(c)
        t = np.asarray(t, dtype=float)
        if c.ndim != 1:
            raise DataError(f"margin {m}: codes must be one-dimensional; got shape {c.shape}.")
        if n is None:
            n = c.shape[0]
        elif c.shape[0] != n:
            raise DataError(f"margin {m}: codes have length {c.shape[0]}, margin 0 has {n}.")
        if c.dtype.kind not in "iu":
            raise DataError(f"margin {m}: codes must be integers 0..K-1; got dtype {c.dtype}.")
        if t.ndim != 1 or t.size == 0:
            raise DataError(f"margin {m}: targets must be a non-empty 1-d array of totals.")
        if not np.all(np.isfinite(t)) or np.any(t < 0):
            raise DataError(f"margin {m}: targets must be finite and non-negative; got {t}.")
        out_c.append(c.astype(np.intp, copy=False))
        out_t.append(t)
    if n == 0:
        raise DataError("`codes` are empty: there are no units to weight.")
    sums = np.array([t.sum() for t in out_t])
    if not np.allclose(sums, sums[0], rtol=1e-9, atol=0.0):
        listed = ", ".join(f"margin {m}: {s:.10g}" for m, s in enumerate(sums))
        raise DataError(f"the margins' target totals do not sum to the same total ({listed}).")
    if sums[0] <= 0:
        raise DataError("the target totals sum to zero: there is nothing to weight to.")
    return out_c, out_t, int(n)


def _check_range(codes: list[np.ndarray], targets: list[np.ndarray]) -> None:
    for m, (c, t) in enumerate(zip(codes, targets)):
        if c.min() < 0 or c.max() >= t.size:
            bad = c[(c < 0) | (c >= t.size)][0]
            raise DataError(f"margin {m}: code {int(bad)} is outside 0..{t.size - 1} "
                            f"(the margin has {t.size} target totals).")


def _check_present(m: int, t: np.ndarray, present: np.ndarray) -> None:
    missing = np.flatnonzero((t > 0) & ~present)
    if missing.size:
        raise DataError(f"margin {m}: category {int(missing[0])} has a positive target "
                        f"({t[missing[0]]:.10g}) but no units in the data.")


# ----------------------------------------------------------------------------- raking

def _ipf(codes: list[np.ndarray], targets: list[np.ndarray], w: np.ndarray, tol: float,
         max_iter: int) -> tuple[np.ndarray, int, bool, np.ndarray]:
    """IPF on units (or cells) ``w`` with per-margin codes; returns w, sweeps, ok, errors."""
    sizes = [t.size for t in targets]
    scale = [1.0 + t for t in targets]
    it, ok = 0, False
    errors = np.zeros(len(codes))
    for it in range(1, max_iter + 1):
        for c, t, k in zip(codes, targets, sizes):
            s = np.bincount(c, weights=w, minlength=k)
            f = np.divide(t, s, out=np.zeros(k), where=s > 0)
            w = w * f[c]
        for m, (c, t, k) in enumerate(zip(codes, targets, sizes)):
            errors[m] = np.max(np.abs(np.bincount(c, weights=w, minlength=k) - t) / scale[m])
        if errors.max() <= tol:
            ok = True
            break
    return w, it, ok, errors


def rake(codes: Sequence[Any], targets: Sequence[Any], *, base: Any = None,
         tol: float = 1e-10, max_iter: int = 1000) -> CalibrationFit:
    r"""Rake base weights to categorical margins by iterative proportional fitting.

    Parameters
    ----------
    codes : sequence of array_like of int
        One ``(n,)`` array per margin ``m`` of category codes ``0 .. K_m - 1``.
    targets : sequence of array_like of float
        One array of ``K_m`` non-negative target totals per margin; every margin's totals must
        sum to the same grand total.
    base : array_like, optional
        Positive base (design) weights ``d`` (default all ones).
    tol : float, default 1e-10
        Convergence when every category's discrepancy satisfies
        ``|sum_{i in k} w_i - T_mk| / (1 + T_mk) <= tol``.
    max_iter : int, default 1000
        Most sweeps over the margins.

    Returns
    -------
    CalibrationFit

    Raises
    ------
    DataError
        Codes out of range or not integers, targets negative or not summing to the same
        total, a category with a positive target but no units, bad ``base``.
    ConvergenceError
        The margins were not met within ``max_iter`` sweeps (e.g. structural zeros make them
        incompatible); the message names the margin and category furthest from its target.

    Notes
    -----
    Each sweep multiplies, margin by margin, the weights of the units in category ``k`` of
    margin ``m`` by ``T_mk / sum_{i: c_mi = k} w_i`` (Deming & Stephan 1940). The final
    weights are ``w_i = d_i g(cell_i)``, where the factor ``g`` depends only on the unit's
    cell of the cross-classification of all margins, so the iteration is run on the occupied
    cells' totals of ``d`` and expanded once at the end; this is the raking ratio estimator
    of survey::rake and the limit is the minimiser of the Kullback-Leibler distance
    ``sum_i w_i log(w_i / d_i) - w_i + d_i`` subject to the margins (Deville & Sarndal 1992).

    References: Deming, W. E. & Stephan, F. F. (1940). On a least squares adjustment of a
    sampled frequency table when the expected marginal totals are known. *Ann. Math. Stat.*
    11, 427-444. Deville, J.-C. & Sarndal, C.-E. (1992). Calibration estimators in survey
    sampling. *JASA* 87, 376-382.
    """
    codes_l, targets_l, n = _check_margins(codes, targets)
    d = _check_base(base, n)
    tol = _check_tol(tol)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    sizes = tuple(t.size for t in targets_l)
    n_cells = float(np.prod(np.asarray(sizes, dtype=float)))

    if n_cells <= max(_MAX_CELLS_FACTOR * n, _MIN_CELLS):
        # collapse the units to the occupied cells of the cross-classification of all margins
        try:
            cell = np.ravel_multi_index(codes_l, sizes)  # also checks that codes are in range
        except ValueError:
            _check_range(codes_l, targets_l)
            raise
        return rake_cells(cell, sizes, targets_l, base=None if base is None else d, tol=tol,
                          max_iter=max_iter)
    _check_range(codes_l, targets_l)
    for m, (c, t) in enumerate(zip(codes_l, targets_l)):
        _check_present(m, t, np.bincount(c, minlength=t.size) > 0)
    w, it, ok, errors = _ipf(codes_l, targets_l, d.copy(), tol, max_iter)
    sums = [np.bincount(c, weights=w, minlength=t.size) for c, t in zip(codes_l, targets_l)]
    return _raked(w, it, ok, errors, sums, targets_l, max_iter)


def rake_cells(cell: np.ndarray, sizes: Sequence[int], targets: Sequence[np.ndarray], *,
               cell_totals: np.ndarray | None = None, base: np.ndarray | None = None,
               tol: float = 1e-10, max_iter: int = 1000) -> CalibrationFit:
    """:func:`rake` on units given by their cell of the margins' cross-classification.

    ``cell`` holds each unit's flat cell index (``numpy.ravel_multi_index(codes, sizes)``,
    checked by the caller), ``targets`` one array per margin as in :func:`rake`. With no
    ``base`` (all ones) the caller may pass ``cell_totals``, the units per cell
    (``bincount(cell, minlength=prod(sizes))``), to save a pass over the units. The weights are
    ``d_i g(cell_i) / g0(cell_i)``; without ``base`` one gather, no multiply.
    """
    sizes = tuple(int(k) for k in sizes)
    n_cells = int(np.prod(sizes))
    if cell_totals is not None:
        dsum = np.asarray(cell_totals, dtype=float)
    elif base is None:
        dsum = np.bincount(cell, minlength=n_cells).astype(float)
    else:
        dsum = np.bincount(cell, weights=base, minlength=n_cells)
    occupied = np.flatnonzero(dsum > 0)  # base weights are positive
    cell_codes = [c.astype(np.intp) for c in np.unravel_index(occupied, sizes)]
    for m, (c, t) in enumerate(zip(cell_codes, targets)):
        _check_present(m, t, np.bincount(c, minlength=t.size) > 0)
    g0 = dsum[occupied]
    g, it, ok, errors = _ipf(cell_codes, list(targets), g0, tol, max_iter)
    factor = np.zeros(dsum.size)
    factor[occupied] = g / g0
    w = factor[cell] if base is None else base * factor[cell]
    sums = [np.bincount(c, weights=g, minlength=t.size) for c, t in zip(cell_codes, targets)]
    return _raked(w, it, ok, errors, sums, list(targets), max_iter)


def _raked(w: np.ndarray, it: int, ok: bool, errors: np.ndarray, sums: list[np.ndarray],
           targets_l: list[np.ndarray], max_iter: int) -> CalibrationFit:
    """The fit, or the ConvergenceError naming the margin furthest from its targets."""
    abs_err = [np.abs(s - t) for s, t in zip(sums, targets_l)]
    max_abs = float(max(e.max() for e in abs_err))
    if not ok:
        m = int(np.argmax(errors))
        k = int(np.argmax(abs_err[m]))
        raise ConvergenceError(
            f"raking did not converge in {max_iter} sweeps: margin {m} is furthest from its "
            f"targets (category {k}: total {targets_l[m][k]:.10g} wanted, {sums[m][k]:.10g} "
            f"reached); the margins may be incompatible with empty cells of the data.")
    return CalibrationFit(weights=w, iterations=it, converged=True, max_abs_error=max_abs)


# ----------------------------------------------------------------------------- calibration

def _calfun(calfun: str, bounds: tuple[float, float] | None):
    """Return (F, F', G) with w = d F(u), G' = F, F(0) = 1, F'(0) = 1."""
    if calfun == "linear":
        return (lambda u: 1.0 + u, lambda u: np.ones_like(u), lambda u: u + 0.5 * u * u)
    if calfun == "raking":
        return (np.exp, np.exp, np.exp)
    lo, hi = bounds  # type: ignore[misc]
    a = (hi - lo) / ((1.0 - lo) * (hi - 1.0))
    shift = np.log((1.0 - lo) / (hi - 1.0))

    def f(u):
        return lo + (hi - lo) / (1.0 + np.exp(-(a * u + shift)))

    def fprime(u):
        p = 1.0 / (1.0 + np.exp(-(a * u + shift)))
        return (hi - lo) * a * p * (1.0 - p)

    def big_g(u):
        return lo * u + (hi - lo) / a * np.logaddexp(0.0, a * u + shift)

    return f, fprime, big_g


def _check_bounds(calfun: str, bounds: Any) -> tuple[float, float] | None:
    if calfun != "logit":
        if bounds is not None:
            raise DataError(f"`bounds` is only supported with calfun='logit'; got "
                            f"calfun={calfun!r} with bounds={bounds!r}.")
        return None
    if bounds is None:
        raise DataError("calfun='logit' needs `bounds=(L, U)` on the ratio g = w / d, "
                        "with 0 <= L < 1 < U < inf.")
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise DataError(f"`bounds` must be a pair (L, U); got {bounds!r}.") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and 0.0 <= lo < 1.0 < hi):
        raise DataError(f"`bounds` must satisfy 0 <= L < 1 < U < inf; got ({lo}, {hi}).")
    return lo, hi


def calibrate(X: Any, totals: Any, *, base: Any = None, calfun: str = "linear",
              bounds: tuple[float, float] | None = None, tol: float = 1e-10,
              max_iter: int = 100, names: Sequence[str] | None = None) -> CalibrationFit:
    r"""Calibrate base weights to known totals of covariates (Deville & Sarndal 1992).

    Parameters
    ----------
    X : array_like
        ``(n, p)`` calibration variables (an intercept column for the population size,
        categorical margins as dummy columns, continuous covariates as they are).
    totals : array_like
        ``(p,)`` population totals ``T`` of the columns of ``X``.
    base : array_like, optional
        Positive base weights ``d`` (default all ones).
    calfun : {"linear", "raking", "logit"}
        Calibration function ``F``: ``1 + u`` (GREG, closed form), ``exp(u)`` (raking) or the
        bounded logit with ``L < F(u) < U``.
    bounds : (float, float), optional
        ``(L, U)`` bounds on ``g = w / d``, ``0 <= L < 1 < U``; required by and only
        accepted with ``calfun="logit"``.
    tol : float, default 1e-10
        Convergence when ``max_j |sum_i w_i x_ij - T_j| / (1 + |T_j|) <= tol``.
    max_iter : int, default 100
        Most Newton steps.
    names : sequence of str, optional
        Names of the columns of ``X`` for error messages (default ``"column j"``).

    Returns
    -------
    CalibrationFit

    Raises
    ------
    DataError
        Shapes that do not match, NaN or infinite values, bad ``base``, ``bounds`` or
        ``calfun``.
    ConvergenceError
        The totals cannot be met (infeasible bounds, incompatible totals); the message names
        the column with the largest remaining relative residual.

    Notes
    -----
    The weights are ``w_i = d_i F(x_i' lambda)`` with ``lambda`` solving the calibration
    equations ``sum_i d_i F(x_i' lambda) x_i = T``. These are the stationarity conditions of
    the convex dual ``Phi(lambda) = sum_i d_i G(x_i' lambda) - lambda' T`` with ``G' = F``,
    which is minimised by Newton's method, ``lambda <- lambda + H^+ (T - sum_i w_i x_i)``,
    ``H = X' diag(d_i F'(x_i' lambda)) X`` (pseudo-inverse, as survey's ``grake``), halving
    the step until ``Phi`` decreases. For the linear function one step is exact (GREG
    weights, which may be negative). The logit function with ``A = (U - L) / ((1 - L)(U - 1))``
    is ``F(u) = [L (U - 1) + U (1 - L) e^{A u}] / [(U - 1) + (1 - L) e^{A u}]``, the same as
    R's ``survey::calibrate(calfun = "logit", bounds = c(L, U))``; when no weights in the
    bounds meet the totals the dual is unbounded and the iteration stops with a
    :class:`~sosstats.errors.ConvergenceError`.

    Reference: Deville, J.-C. & Sarndal, C.-E. (1992). Calibration estimators in survey
    sampling. *JASA* 87, 376-382.
    """
    check_option(calfun, CALFUNS, "calfun")
    lims = _check_bounds(calfun, bounds)
    x = np.asarray(X, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise DataError(f"`X` must be a non-empty (n, p) array; got shape {x.shape}.")
    n, p = x.shape
    t = np.asarray(totals, dtype=float).reshape(-1)
    if t.shape != (p,):
        raise DataError(f"`totals` must have one value per column of X ({p}); got {t.size}.")
    labels = list(names) if names is not None else [f"column {j}" for j in range(p)]
    if len(labels) != p:
        raise DataError(f"`names` must have {p} entries; got {len(labels)}.")
    bad = ~np.all(np.isfinite(x), axis=0)
    if bad.any():
        raise DataError(f"`X` has NaN or infinite values in {labels[int(np.argmax(bad))]}.")
    if not np.all(np.isfinite(t)):
        raise DataError(f"`totals` has NaN or infinite values: {t}.")
    d = _check_base(base, n)
    tol = _check_tol(tol)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    f, fprime, big_g = _calfun(calfun, lims)

    scale = 1.0 + np.abs(t)
    lam = np.zeros(p)
    u = np.zeros(n)
    w = d.copy()
    misfit = t - x.T @ w
    phi = float(np.sum(d * big_g(u)))  # lambda' T = 0 at lambda = 0
    it, ok = 0, bool(np.max(np.abs(misfit) / scale) <= tol)
    with np.errstate(over="ignore", invalid="ignore"):
        while not ok and it < max_iter:
            it += 1
            h = x.T @ (x * (d * fprime(u))[:, None])
            step = np.linalg.lstsq(h, misfit, rcond=None)[0]
            decrease = float(step @ misfit)  # -directional derivative of Phi
            alpha, moved = 1.0, False
            for _ in range(60):
                lam_new = lam + alpha * step
                u_new = x @ lam_new
                phi_new = float(np.sum(d * big_g(u_new)) - lam_new @ t)
                if np.isfinite(phi_new) and phi_new <= phi - 1e-4 * alpha * decrease + \
                        1e-12 * abs(phi):
                    moved = True
                    break
                # near the solution Phi is flat to rounding: accept a step that cuts the misfit
                mis_new = t - x.T @ (d * f(u_new))
                if np.all(np.isfinite(mis_new)) and \
                        np.max(np.abs(mis_new) / scale) < np.max(np.abs(misfit) / scale):
                    moved = True
                    break
                alpha *= 0.5
            if not moved:
                break
            lam, u, phi = lam_new, u_new, phi_new
            w = d * f(u)
            misfit = t - x.T @ w
            ok = bool(np.max(np.abs(misfit) / scale) <= tol)
    rel = np.abs(misfit) / scale
    if not ok or not np.all(np.isfinite(w)):
        j = int(np.nanargmax(rel))
        what = (f"with bounds ({lims[0]:g}, {lims[1]:g}) on w / d " if lims else "")
        raise ConvergenceError(
            f"calibration ({calfun}) did not converge after {it} Newton steps: the total of "
            f"{labels[j]} cannot be met {what}(target {t[j]:.10g}, reached "
            f"{t[j] - misfit[j]:.10g}, relative residual {rel[j]:.3g}).")
    return CalibrationFit(weights=w, iterations=it, converged=True,
                          max_abs_error=float(np.max(np.abs(misfit))))
