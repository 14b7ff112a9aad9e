"""Dispatch the inference of :func:`sosstats.panel.change_model` to the numpy kernels.

``cr0``-``cr3`` call :func:`sosstats._kernels.cluster.cluster_vcov` (one-way, two-way or
multiple-membership clusters), except one-way CR0 / CR1 of a design whose ``X'WX`` is already
known, which :func:`one_way_cr01` computes with ``bincount`` score sums (same estimator, tested
equal to the kernel; the hot path of large fits); ``wild`` calls
:func:`sosstats._kernels.wild.wild_cluster_bootstrap_terms` (one pass for every coefficient;
p-value and interval by test inversion) and reports the CR1 standard error beside it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats.errors import DesignError

INFERENCE = ("cr1", "cr2", "cr3", "wild", "cr0")


def wls(X: np.ndarray, y: np.ndarray, w: np.ndarray | None,
        gram: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""WLS coefficients and (unweighted) residuals ``y - X b``.

    Solves the normal equations :math:`X'WX b = X'Wy` by Cholesky on the equilibrated Gram
    matrix (``gram``, if given, is :math:`X'WX`), then refines twice with the residuals
    (semi-normal equations with iterative refinement: Bjorck 1996, *Numerical Methods for
    Least Squares Problems*, sec. 2.5), which gives least-squares accuracy at the cost of a
    few passes over ``X``. Ill-conditioned or rank-deficient ``X'WX`` falls back to
    :func:`numpy.linalg.lstsq` (the minimum-norm solution).
    """
    from scipy.linalg import cho_factor, cho_solve

    Xw = X if w is None else X * w[:, None]
    A = Xw.T @ X if gram is None else gram
    s = np.sqrt(np.diag(A))
    if X.shape[1] and (s > 0).all() and np.isfinite(A).all():
        As = A / np.outer(s, s)
        if np.linalg.cond(As) < 1e10:
            fac = cho_factor(As)

            def solve(rhs: np.ndarray) -> np.ndarray:
                return cho_solve(fac, (Xw.T @ rhs) / s) / s

            beta = solve(y)
            r = np.matmul(X, beta)                   # one n-vector, updated in place
            np.subtract(y, r, out=r)
            for _ in range(2):                       # refinement: b += (X'WX)^{-1} X'W r
                step = solve(r)
                beta = beta + step
                r -= X @ step
                if np.all(np.abs(step) <= 1e-10 * np.abs(beta)):
                    break                            # next step would be ~(1e-10)^2 smaller
            return beta, r
    rw = np.ones(y.size) if w is None else np.sqrt(w)
    beta = np.linalg.lstsq(X * rw[:, None], y * rw, rcond=None)[0]
    return beta, y - X @ beta


def one_way_cr01(X: np.ndarray, resid: np.ndarray, codes: np.ndarray, w: np.ndarray | None,
                 bread: np.ndarray, kind: str) -> tuple[np.ndarray, int] | None:
    r"""One-way CR0 / CR1 covariance with cluster score sums by ``numpy.bincount``.

    :math:`V = c\, M \left(\sum_g u_g u_g'\right) M` with :math:`u_g = \sum_{i \in g} x_i
    w_i e_i`, :math:`M` = ``bread`` :math:`= (X'WX)^{-1}` and, for CR1,
    :math:`c = G/(G-1) \cdot (n-1)/(n-p)` over the rows with a positive weight: the same
    estimator and conventions as :func:`sosstats._kernels.cluster.cluster_vcov` (the tests
    check they agree), in ``p`` passes of ``bincount`` over integer codes ``0..`` without the
    kernel's general label handling. Returns ``None`` (use the kernel, which also reports
    the problem) for non-finite residuals or regressors, fewer than two clusters or
    ``n <= p``. Reference: Cameron & Miller (2015), J. Human Resources 50(2), 317-372.
    """
    n_rows, p = X.shape
    if not (np.isfinite(resid).all() and np.isfinite(X).all()):
        return None
    score = resid if w is None else resid * w
    size = int(codes.max()) + 1
    u = np.empty((size, p))
    for j in range(p):
        u[:, j] = np.bincount(codes, weights=X[:, j] * score, minlength=size)
    used = codes if w is None else codes[w > 0]
    n, g = used.size, int(np.count_nonzero(np.bincount(used, minlength=size)))
    if g < 2 or n <= p:
        return None
    mu = u @ bread
    vc = mu.T @ mu
    vc = 0.5 * (vc + vc.T)
    if kind == "cr1":
        vc = vc * (g / (g - 1) * (n - 1) / (n - p))
    return vc, g


def _wild_terms(design: Any, beta: np.ndarray, resid: np.ndarray, wild_weights: str,
                n_resamples: int, rng: Any, level: float) -> list:
    """Wild bootstrap of every coefficient; an unweighted fit is handed over, not redone."""
    from sosstats._kernels.wild import wild_cluster_bootstrap_terms, wild_terms_of_fit

    w = design.weights
    if w is None and design.gram is not None and design.X.shape[0] > design.X.shape[1]:
        codes = design.clusters
        counts = np.bincount(codes)
        if counts.size >= 2 and (counts > 0).all():
            return wild_terms_of_fit(design.X, resid, beta, design.gram, codes, counts.size,
                                     weight_type=wild_weights, n_resamples=n_resamples,
                                     rng=rng, level=level)
    rows = w > 0 if w is not None else slice(None)
    return wild_cluster_bootstrap_terms(design.X[rows], design.y[rows], design.clusters[rows],
                                        weights=None if w is None else w[rows],
                                        weight_type=wild_weights, n_resamples=n_resamples,
                                        rng=rng, level=level)


def n_clusters(design: Any) -> int:
    """Return the number of clusters (the smaller dimension for two-way clustering)."""
    if design.membership is not None:
        return int(design.membership.shape[1])
    c = design.clusters
    if c.ndim == 1:
        return int(np.count_nonzero(np.bincount(c)))
    return int(min(np.count_nonzero(np.bincount(c[:, k])) for k in range(c.shape[1])))


def infer(design: Any, beta: np.ndarray, resid: np.ndarray, *, inference: str, level: float,
          rng: Any, n_resamples: int, wild_weights: str = "rademacher"
          ) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Return (estimates table, vcov, G) for ``beta`` of ``design``.

    The table has columns ``estimate, std_error, statistic, p_value, df`` and, for ``wild``,
    ``ci_lower, ci_upper`` (the bootstrap interval at ``level``), ``n_resamples`` and
    ``enumerated``.
    """
    from sosstats._kernels.cluster import cluster_vcov, few_cluster_warning

    kind = "cr1" if inference == "wild" else inference
    bread = None
    if design.gram is not None:               # (X'WX)^{-1}, as the kernel would form it
        m = np.linalg.inv(design.gram)
        bread = 0.5 * (m + m.T)
    fast = None                               # (one-way CR0 / CR1 by bincount: G >= 2 there)
    if (bread is not None and kind in ("cr0", "cr1") and design.membership is None
            and design.clusters.ndim == 1):
        fast = one_way_cr01(design.X, resid, design.clusters, design.weights, bread, kind)
    if fast is None and n_clusters(design) < 2:
        by = ", ".join(design.info["cluster_by"])
        raise DesignError(f"only one cluster in {by}; cluster-robust inference needs two or "
                          "more (cluster at a lower level, or by entity).")
    if design.membership is not None and kind not in ("cr0", "cr1"):
        raise DesignError(f"multiple-membership clustering supports inference 'cr0' or 'cr1' "
                          f"(with a few-cluster warning); got {inference!r}.")
    if fast is not None:
        vcov, G = fast
        df = np.full(beta.shape, float(G - 1))
    else:
        cv = cluster_vcov(design.X, resid, None if design.membership is not None
                          else design.clusters, kind=kind, weights=design.weights,
                          membership=design.membership, bread=bread)
        G = int(cv.n_clusters)
        vcov = np.asarray(cv.vcov, dtype=float)
        df = np.broadcast_to(np.asarray(cv.df, dtype=float), beta.shape).copy()
    se = np.sqrt(np.clip(np.diag(vcov), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = beta / se
    p = 2 * stats.t.sf(np.abs(tstat), np.where(df >= 1, df, np.nan))
    columns = {"estimate": beta, "std_error": se, "statistic": tstat, "p_value": p, "df": df}
    if inference in ("cr0", "cr1"):
        few_cluster_warning(G, inference, stacklevel=3)   # points at the caller of change_model
    if inference == "wild":
        if design.membership is not None or design.clusters.ndim != 1:
            raise DesignError("inference='wild' needs one-way clusters; two-way and "
                              "multiple-membership clustering take 'cr0' or 'cr1'.")
        boots = _wild_terms(design, beta, resid, wild_weights, n_resamples, rng, level)
        columns.update(p_value=[b.p_value for b in boots],     # one frame, no inserts
                       ci_lower=[b.ci_lower for b in boots],
                       ci_upper=[b.ci_upper for b in boots],
                       n_resamples=[int(b.n_resamples) for b in boots],
                       enumerated=[bool(b.enumerated) for b in boots])
    table = pd.DataFrame(columns, index=pd.Index(design.terms, name="term"))
    return table, vcov, G
