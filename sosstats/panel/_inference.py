"""Dispatch the inference of :func:`sosstats.panel.change_model` to the numpy kernels.

``cr0``-``cr3`` call :func:`sosstats._kernels.cluster.cluster_vcov` (one-way, two-way or
multiple-membership clusters); ``wild`` calls
:func:`sosstats._kernels.wild.wild_cluster_bootstrap` once per coefficient (p-value and interval
by test inversion) and reports the CR1 standard error beside it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats.errors import DesignError

INFERENCE = ("cr1", "cr2", "cr3", "wild", "cr0")


def wls(X: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """WLS coefficients and (unweighted) residuals ``y - X b``."""
    rw = np.ones(y.size) if w is None else np.sqrt(w)
    beta = np.linalg.lstsq(X * rw[:, None], y * rw, rcond=None)[0]
    return beta, y - X @ beta


def n_clusters(design: Any) -> int:
    """Return the number of clusters (the smaller dimension for two-way clustering)."""
    if design.membership is not None:
        return int(design.membership.shape[1])
    c = design.clusters
    if c.ndim == 1:
        return int(np.unique(c).size)
    return int(min(np.unique(c[:, k]).size for k in range(c.shape[1])))


def infer(design: Any, beta: np.ndarray, resid: np.ndarray, *, inference: str, level: float,
          rng: Any, n_resamples: int) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Return (estimates table, vcov, G) for ``beta`` of ``design``.

    The table has columns ``estimate, std_error, statistic, p_value, df`` and, for ``wild``,
    ``ci_lower, ci_upper`` (the bootstrap interval at ``level``) and ``n_resamples``.
    """
    from sosstats._kernels.cluster import cluster_vcov, few_cluster_warning

    G = n_clusters(design)
    if G < 2:
        by = ", ".join(design.info["cluster_by"])
        raise DesignError(f"only one cluster in {by}; cluster-robust inference needs two or "
                          "more (cluster at a lower level, or by entity).")
    kind = "cr1" if inference == "wild" else inference
    if design.membership is not None and kind not in ("cr0", "cr1"):
        raise DesignError(f"multiple-membership clustering supports inference 'cr0' or 'cr1' "
                          f"(with a few-cluster warning); got {inference!r}.")
    cv = cluster_vcov(design.X, resid, None if design.membership is not None
                      else design.clusters, kind=kind, weights=design.weights,
                      membership=design.membership)
    G = int(cv.n_clusters)
    vcov = np.asarray(cv.vcov, dtype=float)
    df = np.broadcast_to(np.asarray(cv.df, dtype=float), beta.shape).copy()
    se = np.sqrt(np.clip(np.diag(vcov), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = beta / se
    p = 2 * stats.t.sf(np.abs(tstat), np.where(df >= 1, df, np.nan))
    table = pd.DataFrame({"estimate": beta, "std_error": se, "statistic": tstat, "p_value": p,
                          "df": df}, index=pd.Index(design.terms, name="term"))
    if inference in ("cr0", "cr1"):
        few_cluster_warning(G, inference)
    if inference == "wild":
        if design.membership is not None or design.clusters.ndim != 1:
            raise DesignError("inference='wild' needs one-way clusters; two-way and "
                              "multiple-membership clustering take 'cr1', 'cr2' or 'cr3'.")
        from sosstats._kernels.wild import wild_cluster_bootstrap
        from sosstats._validate import check_rng

        gen = check_rng(rng)
        w = design.weights
        rows = w > 0 if w is not None else slice(None)
        boots = [wild_cluster_bootstrap(design.X[rows], design.y[rows], design.clusters[rows],
                                        term=j, weights=None if w is None else w[rows],
                                        n_resamples=n_resamples, rng=gen, level=level)
                 for j in range(len(design.terms))]
        table["p_value"] = [b.p_value for b in boots]
        table["ci_lower"] = [b.ci_lower for b in boots]
        table["ci_upper"] = [b.ci_upper for b in boots]
        table["n_resamples"] = [b.n_resamples for b in boots]
    return table, vcov, G
