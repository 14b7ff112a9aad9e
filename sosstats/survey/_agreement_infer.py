"""Shared machinery of the agreement statistics: options, analytic SEs, bootstraps, Gwet's family.

Private to :mod:`sosstats.survey.agreement`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._kernels import agreement as K
from sosstats._validate import check_int, check_level, check_option, check_rng
from sosstats.errors import DesignError
from sosstats.survey._agreement_data import Ratings, prepare
from sosstats.survey._agreement_results import AgreementResult

WEIGHTS = (None, "identity", "linear", "quadratic")

def _common(weights: Any, level: float, n_resamples: int) -> tuple[str, float, int]:
    check_option(weights, WEIGHTS, "weights")
    level = check_level(level)
    n_resamples = check_int(n_resamples, "n_resamples", minimum=0)
    return (weights or "identity"), level, n_resamples


def _groups(r: Ratings, keep: np.ndarray) -> tuple[np.ndarray, int, int | None]:
    """Return the resampling units of the cases used: ``(codes, n_units, n_clusters)``.

    The units are the clusters, relabelled 0..G-1 over the clusters that hold a used case (so
    G, the df and the bootstrap count only those), or each case its own.
    """
    n = int(keep.sum())
    if r.cluster is None:
        return np.arange(n), n, None
    uniq, codes = np.unique(r.cluster[keep], return_inverse=True)
    if len(uniq) < 2:
        raise DesignError(f"the cases with ratings lie in a single cluster of "
                          f"{r.cluster_name!r}; clustered inference needs at least two.")
    return codes.astype(np.int64), len(uniq), len(uniq)


def _analytic(estimate: float, centred: np.ndarray, codes: np.ndarray,
              n_clusters: int | None, cluster: str | None, *, gwet_form: bool
              ) -> tuple[float, float, str]:
    """Return the standard error, df and a description from centred linearised values."""
    n = centred.shape[0]
    if n_clusters is not None:
        var = K.cluster_variance(centred, codes, n_clusters, n)
        return (float(np.sqrt(var)), float(n_clusters - 1),
                f"cluster-robust linearised variance over the {n_clusters} clusters of "
                f"{cluster!r}, t on {n_clusters - 1} df")
    if gwet_form:
        var = float((centred ** 2).sum() / (n * (n - 1)))
        return (float(np.sqrt(var)), float(n - 1),
                f"linearised variance of Gwet (2008, 2014), t on {n - 1} df")
    var = float((centred ** 2).sum() / n ** 2)
    return (float(np.sqrt(var)), np.inf,
            "large-sample variance of Fleiss, Cohen & Everitt (1969), normal reference; "
            "test of kappa = 0 with the null variance")


def _bootstrap(cluster_sums: Any, statistic: Any, n_resamples: int,
               rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Replicates of ``statistic`` over resamples of clusters (of cases without clusters).

    ``cluster_sums()`` gives the per-unit sufficient statistics of the units of
    :func:`_groups`; it is only called when there are resamples to draw.
    """
    if n_resamples == 0:
        return np.empty(0), 0
    reps = statistic(K.resample_cluster_sums(cluster_sums(), rng, n_resamples))
    ok = np.isfinite(reps)
    return reps[ok], int((~ok).sum())


def _ratio(estimate: float, se: float) -> float:
    """``estimate / se``; +/-inf for a zero SE (perfect agreement), NaN for 0 / 0."""
    if se > 0:
        return estimate / se
    return float(np.sign(estimate) * np.inf) if estimate != 0 else np.nan


def _p(statistic: float, df: float) -> float:
    if np.isnan(statistic):
        return np.nan
    if np.isinf(df):
        return float(2 * stats.norm.sf(abs(statistic)))
    return float(2 * stats.t.sf(abs(statistic), df))


_GWET_NAMES = {"fleiss": ("Fleiss' kappa", "kappa"), "ac1": ("Gwet's AC1", "AC1"),
               "percent": ("Percent agreement", "agreement")}


def _gwet(coefficient: str, data: pd.DataFrame, raters: Sequence[str], weights: Any,
          cluster: str | None, levels: Sequence[Any] | None, level: float,
          n_resamples: int, rng: Any) -> AgreementResult:
    wname, level, n_resamples = _common(weights, level, n_resamples)
    r = prepare(data, raters, levels=levels, cluster=cluster,
                need_order=f"weights={weights!r}" if wname != "identity" else None,
                same_levels=False)
    k = len(r.levels)
    W = K.agreement_weights(r.scores, wname)
    counts = K.rating_counts(r.codes, k)
    keep = counts.sum(axis=1) > 0
    st = K.gwet_statistics(counts[keep], W)
    if st[:, 1].sum() < 2:
        raise DesignError(f"fewer than two cases have two or more ratings in "
                          f"{', '.join(map(repr, r.raters))}; agreement needs pairs.")
    est, pa, pe, centred = K.gwet_scores(st, W, coefficient)
    if not np.isfinite(est):
        raise DesignError(f"chance agreement is 1 for the ratings in "
                          f"{', '.join(map(repr, r.raters))} (a single level used): the "
                          "coefficient is undefined.")
    codes, n_units, n_clusters = _groups(r, keep)
    se, df, how = _analytic(est, centred, codes, n_clusters, cluster, gwet_form=True)
    statistic = _ratio(est, se) if coefficient != "percent" else np.nan
    boot, failed = _bootstrap(lambda: K.group_sums(st, codes, n_units),
                              lambda s: K.gwet_from_sums(s, W, coefficient)[0],
                              n_resamples, check_rng(rng))
    name, term = _GWET_NAMES[coefficient]
    if wname != "identity":
        name = f"{name.replace('AC1', 'AC2')} ({wname} weights)"
        term = "AC2" if coefficient == "ac1" else term
    return AgreementResult(
        method=name, term=term, estimate=float(est), std_error=se, test_statistic=float(statistic),
        p_value=_p(statistic, df), df=df, p_observed=float(pa), p_expected=float(pe),
        nobs=int(keep.sum()), n_dropped=int((~keep).sum()), n_raters=len(r.raters),
        levels=r.levels, weights=wname, cluster=cluster, n_clusters=n_clusters,
        inference=how, level=level, boot=boot, n_resamples=n_resamples, n_boot_failed=failed,
        rng=rng)
