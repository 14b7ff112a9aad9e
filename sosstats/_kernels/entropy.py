r"""Entropy balancing: weights closest to base weights that meet moment constraints exactly.

Given covariates ``x_i`` (rows of ``X``), base weights ``d_i >= 0`` and target means ``t``,
entropy balancing (Hainmueller 2012) solves

.. math::

    \min_w \sum_i w_i \log(w_i / d_i) \quad\text{s.t.}\quad
    \sum_i w_i = 1,\; \sum_i w_i x_i = t .

Its solution is ``w_i = d_i exp(c_i' lambda) / sum_j d_j exp(c_j' lambda)`` with ``c_i = x_i - t``,
where ``lambda`` minimises the convex dual

.. math::

    f(\lambda) = \log \sum_i d_i \exp(c_i'\lambda),

whose gradient is the weighted imbalance ``sum_i w_i c_i`` and whose Hessian is the weighted
covariance of ``c``. The dual is solved here by Newton's method with an Armijo backtracking
line search, on columns scaled to unit standard deviation (a pure change of variable that
leaves the weights unchanged), evaluating the log-sum-exp stably. ``scipy.optimize`` (trust-region
Newton) is used only as a fallback when the line search stalls before convergence.

The dual is bounded below exactly when ``t`` lies in the relative interior of the convex hull of
the rows with ``d_i > 0``; otherwise no positive weights meet the targets and a
:class:`~sosstats.errors.ConvergenceError` names the covariate left most imbalanced.

References
----------
Hainmueller, J. (2012). Entropy balancing for causal effects: a multivariate reweighting method
to produce balanced samples in observational studies. *Political Analysis* 20, 25-46.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sosstats.errors import ConvergenceError, DataError

__all__ = ["EntropyFit", "entropy_balance"]

_ARMIJO = 1e-4


@dataclass(frozen=True)
class EntropyFit:
    """Result of :func:`entropy_balance`.

    Attributes
    ----------
    weights : ndarray of shape ``(n,)``
        Balancing weights, non-negative, summing to ``n`` (rows with zero base weight get 0).
    lambda_ : ndarray of shape ``(m,)``
        Dual coefficients on the original scale of the constraint columns: the ``k`` covariates,
        then one squared-deviation column per constrained variance. Constraints dropped as
        redundant (a constant column whose target equals its value) have coefficient 0.
    iterations : int
        Newton iterations used.
    converged : bool
        Whether the largest standardised imbalance is at most ``tol``.
    max_abs_error : float
        Largest absolute difference, on the original scale, between a weighted moment and its
        target.
    names : tuple of str
        Names of the ``m`` constraints, in the order of ``lambda_``.
    """

    weights: np.ndarray
    lambda_: np.ndarray
    iterations: int
    converged: bool
    max_abs_error: float
    names: tuple[str, ...] = ()


def _as_names(names: Sequence[str] | None, k: int) -> list[str]:
    if names is None:
        return [f"x{j}" for j in range(k)]
    out = [str(v) for v in names]
    if len(out) != k:
        raise DataError(f"`names` has {len(out)} entries but X has {k} columns.")
    return out


def _check_inputs(X, target_means, base, target_vars, names):
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"`X` must be a non-empty 2-D array; got shape {X.shape}.")
    n, k = X.shape
    labels = _as_names(names, k)
    # One BLAS pass detects NaN/inf (they propagate into the column sums); only then (or on
    # overflow) is the exact per-column check run, to name the columns.
    if not np.isfinite(np.ones(n) @ X).all() and (bad := ~np.isfinite(X).all(axis=0)).any():
        shown = ", ".join(labels[j] for j in np.flatnonzero(bad))
        raise DataError(f"`X` has NaN or infinite values in covariate(s) {shown}.")
    t = np.asarray(target_means, dtype=float).reshape(-1)
    if t.shape != (k,):
        raise DataError(f"`target_means` has {t.size} entries but X has {k} columns.")
    if not np.isfinite(t).all():
        raise DataError("`target_means` has NaN or infinite values for covariate(s) "
                        f"{', '.join(labels[j] for j in np.flatnonzero(~np.isfinite(t)))}.")
    if base is None:
        d = np.ones(n)
    else:
        d = np.asarray(base, dtype=float).reshape(-1)
        if d.shape != (n,):
            raise DataError(f"`base` has {d.size} entries but X has {n} rows.")
        if not np.isfinite(d).all():
            raise DataError("`base` weights contain NaN or infinite values.")
        if (d < 0).any():
            raise DataError(f"`base` weights must be non-negative; {int((d < 0).sum())} are "
                            "negative.")
        if not (d > 0).any():
            raise DataError("`base` weights are all zero.")
    v = None
    if target_vars is not None:
        v = np.asarray(target_vars, dtype=float).reshape(-1)
        if v.shape != (k,):
            raise DataError(f"`target_vars` has {v.size} entries but X has {k} columns.")
        if np.isinf(v).any() or (v < 0).any():
            raise DataError("`target_vars` must be non-negative (NaN leaves a variance free).")
    return X, t, d, v, labels


def _dual(C: np.ndarray, logd: np.ndarray, lam: np.ndarray):
    """Dual value and normalised weights at ``lam`` (stable log-sum-exp)."""
    eta = C @ lam
    eta += logd
    top = eta.max()
    np.subtract(eta, top, out=eta)
    np.exp(eta, out=eta)
    total = eta.sum()
    eta /= total
    return top + np.log(total), eta


def _newton(C, logd, tol, max_iter):
    """Newton's method with Armijo backtracking on the dual.

    Newton's method is affine invariant, so the columns of ``C`` need not be rescaled; the
    scale ``sd`` (base-weighted standard deviations at the start) only enters the stopping rule
    and the conditioning of the small ``m x m`` solve.
    """
    m = C.shape[1]
    lam = np.zeros(m)
    f, p = _dual(C, logd, lam)
    g = C.T @ p
    H = C.T @ (C * p[:, None]) - np.outer(g, g)
    sd = np.sqrt(np.maximum(np.diag(H), 0.0))
    sd[sd == 0] = 1.0
    it = 0
    stalled = False
    while np.max(np.abs(g) / sd) > tol and it < max_iter:
        it += 1
        if it > 1:
            H = C.T @ (C * p[:, None]) - np.outer(g, g)
        Hs = H / np.outer(sd, sd)
        gs = g / sd
        try:
            u = np.linalg.solve(Hs, -gs)
            if not np.isfinite(u).all():
                raise np.linalg.LinAlgError
        except np.linalg.LinAlgError:
            u = np.linalg.lstsq(Hs, -gs, rcond=None)[0]
        step = u / sd
        slope = g @ step
        if not slope < 0:
            step = -gs / sd
            slope = g @ step
        t = 1.0
        gmax = np.max(np.abs(g) / sd)
        while True:
            f_new, p_new = _dual(C, logd, lam + t * step)
            if np.isfinite(f_new) and f_new <= f + _ARMIJO * t * slope:
                break
            # Near the optimum the decrease is below the rounding of f (a few ulps), so
            # Armijo can fail on a good step; accept it when the gradient falls instead.
            if (np.isfinite(f_new) and abs(f_new - f) <= 1e-13 * max(1.0, abs(f))
                    and np.max(np.abs(C.T @ p_new) / sd) < gmax):
                break
            t *= 0.5
            if t < 1e-12:
                stalled = True
                break
        if stalled:
            break
        lam = lam + t * step
        f, p = f_new, p_new
        g = C.T @ p
    return lam, p, g, sd, it, stalled


def _scipy_fallback(C, logd, lam0, sd, tol, max_iter):
    from scipy.optimize import minimize

    def fun(u):
        f, p = _dual(C, logd, u / sd)
        return f, (C.T @ p) / sd

    def hess(u):
        _, p = _dual(C, logd, u / sd)
        g = C.T @ p
        return (C.T @ (C * p[:, None]) - np.outer(g, g)) / np.outer(sd, sd)

    res = minimize(fun, lam0 * sd, jac=True, hess=hess, method="trust-exact",
                   options={"gtol": tol, "maxiter": max_iter})
    lam = res.x / sd
    _, p = _dual(C, logd, lam)
    return lam, p, C.T @ p, int(res.nit)


def entropy_balance(X: np.ndarray, target_means: np.ndarray, *,
                    base: np.ndarray | None = None,
                    target_vars: np.ndarray | None = None,
                    names: Sequence[str] | None = None,
                    tol: float = 1e-10, max_iter: int = 200,
                    raise_on_failure: bool = True) -> EntropyFit:
    """Entropy-balancing weights whose weighted means (and variances) equal given targets.

    Parameters
    ----------
    X : array of shape ``(n, k)``
        Covariates of the units to reweight (e.g. the T2 respondents); finite.
    target_means : array of shape ``(k,)``
        Target means (e.g. the full T1 sample's means).
    base : array of shape ``(n,)``, optional
        Base (design) weights ``d_i >= 0``; default all ones. Rows with ``d_i = 0`` get weight 0.
    target_vars : array of shape ``(k,)``, optional
        Target variances; NaN leaves that covariate's variance free. A variance is matched as
        the second central moment ``sum_i w_i (x_ij - t_j)^2 / sum_i w_i = v_j`` (divisor the
        sum of weights), which with the mean constraint met is the weighted population
        variance. Pass ``ddof=1`` variances times ``(N-1)/N`` to match a sample variance of N.
    names : sequence of str, optional
        Covariate names used in messages; default ``x0, x1, ...``.
    tol : float
        Stopping tolerance on the largest imbalance in units of each constraint column's
        (unweighted) standard deviation.
    max_iter : int
        Maximum Newton iterations.
    raise_on_failure : bool
        Raise :class:`ConvergenceError` when the targets are not met (default). When False,
        return the last iterate with ``converged=False``.

    Returns
    -------
    EntropyFit
        Weights (summing to ``n``), dual coefficients, iterations, convergence flag, and the
        largest absolute moment error.

    Raises
    ------
    DataError
        NaN or infinite covariates (the covariate is named), mismatched shapes, negative or
        all-zero base weights, or a constant covariate whose target differs from its value.
    ConvergenceError
        Targets outside the convex hull of the data (no positive weights meet them); the
        message names the covariate with the largest remaining imbalance.

    Notes
    -----
    The weights are ``w_i = n d_i exp(c_i'lambda) / sum_j d_j exp(c_j'lambda)`` with
    ``c_i = z_i - t`` (``z_i`` the constraint columns), and ``lambda`` minimises the convex
    dual ``log sum_i d_i exp(c_i'lambda)`` (gradient: weighted imbalance; Hessian: weighted
    covariance of ``c``), solved by Newton's method with Armijo backtracking. Each iteration
    costs two ``n x m`` matrix products, so one million rows on ten covariates solve in a few
    tenths of a second. See Hainmueller (2012), *Political Analysis* 20, 25-46.
    """
    X, t, d, v, labels = _check_inputs(X, target_means, base, target_vars, names)
    n, k = X.shape
    if not (np.isfinite(tol) and tol > 0):
        raise DataError(f"`tol` must be positive; got {tol}.")
    if int(max_iter) < 1:
        raise DataError(f"`max_iter` must be at least 1; got {max_iter}.")
    active = d > 0
    all_active = bool(active.all())
    Xa = X if all_active else X[active]
    cols = [Xa]
    targets = [t]
    cnames = list(labels)
    if v is not None:
        free = np.isnan(v)
        idx = np.flatnonzero(~free)
        if idx.size:
            cols.append((Xa[:, idx] - t[idx]) ** 2)
            targets.append(v[idx])
            cnames += [f"variance of {labels[j]}" for j in idx]
    Z = np.hstack(cols) if len(cols) > 1 else Xa
    tz = np.concatenate(targets)
    m = tz.size

    logd = np.zeros(Z.shape[0]) if base is None else np.log(d[active])
    # Redundant constraints: a constant column whose target equals its value is dropped; one
    # whose target differs cannot be met. Columns are screened by their spread around the
    # target (one BLAS pass) and confirmed exactly on the few suspects.
    C = Z - tz
    pw = np.exp(logd - logd.max())
    pw /= pw.sum()
    mean_c = C.T @ pw
    keep = np.ones(m, dtype=bool)
    spread = np.abs(C).T @ pw
    suspects = np.flatnonzero(np.abs(spread - np.abs(mean_c)) <= 1e-12 * np.maximum(spread, 1.0))
    for j in suspects:
        lo_j, hi_j = Z[:, j].min(), Z[:, j].max()
        ref = max(1.0, abs(lo_j), abs(hi_j))
        if hi_j - lo_j > 1e-12 * ref:
            continue
        if abs(tz[j] - lo_j) <= 1e-10 * ref:
            keep[j] = False
        else:
            raise DataError(f"covariate {cnames[j]} is constant ({lo_j:.6g}) among the units "
                            f"to weight but its target is {tz[j]:.6g}; no weights can meet it.")
    if not keep.all():
        C = C[:, keep]
    tk = tz[keep]

    lam, p, g, sd, it, stalled = _newton(C, logd, tol, int(max_iter))
    if np.max(np.abs(g) / sd) > tol and stalled:
        lam2, p2, g2, it2 = _scipy_fallback(C, logd, lam, sd, tol, int(max_iter))
        if np.max(np.abs(g2) / sd) < np.max(np.abs(g) / sd):
            lam, p, g, it = lam2, p2, g2, it + it2
    converged = bool(np.max(np.abs(g) / sd) <= tol)

    if not converged and raise_on_failure:
        Zk = Z[:, keep]
        lo, hi = Zk.min(axis=0), Zk.max(axis=0)
        kept = [cnames[j] for j in np.flatnonzero(keep)]
        outside = (tk <= lo) | (tk >= hi)
        if outside.any():
            gap = np.where(tk <= lo, lo - tk, tk - hi) / np.maximum(hi - lo, 1e-300)
            j = int(np.flatnonzero(outside)[np.argmax(gap[outside])])
            raise ConvergenceError(
                f"entropy balancing is infeasible: the target {tk[j]:.6g} for {kept[j]} is not "
                f"strictly inside the range of the data [{lo[j]:.6g}, {hi[j]:.6g}].")
        std_err = np.abs(g) / sd
        j = int(np.argmax(std_err))
        raise ConvergenceError(
            f"entropy balancing did not meet the targets after {it} iterations (the targets are "
            f"probably outside the convex hull of the data): {kept[j]} is left most "
            f"imbalanced, weighted value {tk[j] + g[j]:.6g} against target {tk[j]:.6g} "
            f"({std_err[j]:.3g} SD).")

    lam_full = np.zeros(m)
    lam_full[keep] = lam
    err = np.zeros(m)
    err[keep] = np.abs(g)
    weights = np.zeros(n)
    weights[active] = p * n
    return EntropyFit(weights=weights, lambda_=lam_full, iterations=it, converged=converged,
                      max_abs_error=float(err.max()), names=tuple(cnames))
