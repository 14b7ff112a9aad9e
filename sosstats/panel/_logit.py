"""Shared pieces of the two logit models of change.

For :mod:`sosstats.panel.conditional_logit` and :mod:`sosstats.panel.ordered_logit`: the
estimates-table result base, complete cases, covariate dummies, weights, cluster codes, the CR1
sandwich from per-unit scores and the Hessian, the few-cluster choices (``inference=``: CR1, CR2
with Satterthwaite df, CR3, the wild score bootstrap; kernels in
:mod:`sosstats._kernels.cluster_glm` and :mod:`sosstats._kernels.wild_score`), and exact
detection of separation by a linear programme (before anything is fitted).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from sosstats._kernels.cluster import FEW_CLUSTERS, default_kind
from sosstats._results import Result, Summary
from sosstats._validate import check_weights
from sosstats.errors import DataError, DesignError, SosstatsWarning

#: the ``inference=`` choices of the logit models (with ``cluster=``)
LOGIT_INFERENCE = ("cr1", "cr2", "cr3", "wild")
#: how each is described in a summary
_DESCRIBE = {
    "cr1": "CR1 cluster-robust standard errors (G/(G-1) factor)",
    "cr2": "CR2 bias-reduced cluster-robust standard errors (Bell-McCaffrey)",
    "cr3": "CR3 (jackknife) cluster-robust standard errors",
    "wild": "wild score bootstrap p-values (Kline-Santos, restricted scores)",
}


# -- shared result --------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class LogitResult(Result):
    """Estimates of a (conditional or ordered) logit with model-based or clustered errors."""

    estimates: pd.DataFrame = field(repr=False)
    vcov: pd.DataFrame = field(repr=False)
    nobs: int
    n_dropped: int
    cluster: str | None
    n_clusters: int | None
    llf: float
    method: str = ""
    level: float = 0.95
    inference: str = "cr1"
    weights: str | None = None
    inference_note: str = ""
    inference_default: bool = False          # CR2 chosen by the few-cluster default

    def _estimates(self) -> pd.DataFrame:
        return self.estimates.copy()

    def odds_ratios(self, level: float = 0.95) -> pd.DataFrame:
        """``exp`` of the slope estimates and of their confidence limits."""
        ci = self.conf_int(level)
        slopes = [t for t in self.estimates.index if "|" not in str(t)]
        return pd.DataFrame({"odds_ratio": np.exp(self.estimates.loc[slopes, "estimate"]),
                             "lower": np.exp(ci.loc[slopes, "lower"]),
                             "upper": np.exp(ci.loc[slopes, "upper"])})

    def summary(self, level: float | None = None) -> Summary:
        """Printable table; a wild bootstrap p-value of 0 prints as its floor, ``< 1/B``."""
        out = super().summary(level)
        if "enumerated" in out.table.columns:
            from sosstats._kernels.wild_result import pvalues_as_text

            return Summary(out.title, pvalues_as_text(out.table), out.notes)
        return out

    def _notes(self) -> list[str]:
        if self.cluster is None:
            errs = ("model-based standard errors (inverse information), normal reference "
                    "(df = inf)")
        elif self.inference == "cr2":
            df = self.estimates["df"].to_numpy(dtype=float)
            errs = (f"inference cr2: {_DESCRIBE['cr2']} by {self.cluster!r} "
                    f"(G = {self.n_clusters} clusters), t reference with Satterthwaite df "
                    f"({_df_range(df)})")
            if self.inference_default:
                errs += "; the default below 42 clusters, inference='cr1' by name"
        elif self.inference == "wild":
            errs = (f"inference wild: {_DESCRIBE['wild']} by {self.cluster!r} "
                    f"(G = {self.n_clusters} clusters); standard errors and intervals CR2 with "
                    f"Satterthwaite df ({_df_range(self.estimates['df'].to_numpy(float))})")
        else:
            errs = (f"inference {self.inference}: {_DESCRIBE[self.inference]} by "
                    f"{self.cluster!r} (G = {self.n_clusters} clusters), t reference with "
                    f"G - 1 = {self.n_clusters - 1} df")
        weighted = f"; weights {self.weights!r}" if self.weights is not None else ""
        notes = [f"{self.nobs} units, {self.n_dropped} dropped for missing values{weighted}; "
                 f"{errs}."]
        if self.inference_note:
            notes.append(self.inference_note)
        if self.cluster is not None:
            notes.append("With few clusters, randomisation inference over the cluster labels "
                         "(sosstats.panel.randomization_test) is the exact fallback.")
        return notes


def _df_range(df: np.ndarray) -> str:
    df = df[np.isfinite(df)]
    if df.size == 0:
        return "undefined"
    lo, hi = float(df.min()), float(df.max())
    return f"{lo:.2f}" if np.isclose(lo, hi) else f"{lo:.2f} to {hi:.2f}"


# -- helpers -----------------------------------------------------------------------------------

def _complete(data: pd.DataFrame, columns: list[str], missing: str) -> tuple[pd.DataFrame, int]:
    keep = data[columns].notna().all(axis=1)
    n_dropped = int((~keep).sum())
    if n_dropped and missing == "raise":
        counts = ", ".join(f"{c!r} ({int(data[c].isna().sum())})" for c in columns
                           if data[c].isna().any())
        raise DataError(f"missing values in {counts}; drop them or use missing='drop'.")
    if not keep.any():
        raise DataError(f"no row has all of {columns} observed.")
    return data.loc[keep, columns], n_dropped


def _covariate_matrix(frame: pd.DataFrame, covariates: list[str]) -> pd.DataFrame:
    """Numeric covariates as they are; bool as 0/1; categorical/text as treatment dummies."""
    parts: dict[str, np.ndarray] = {}
    for col in covariates:
        s = frame[col]
        if pd.api.types.is_bool_dtype(s):
            parts[col] = s.to_numpy(dtype=float)
        elif pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype):
            parts[col] = s.to_numpy(dtype=float)
        else:
            if isinstance(s.dtype, pd.CategoricalDtype):
                levels = [c for c in s.cat.categories if (s == c).any()]
            else:
                levels = sorted(pd.unique(s).tolist(), key=str)
            for lev in levels[1:]:
                parts[f"{col}[{lev}]"] = (s == lev).to_numpy(dtype=float)
    out = pd.DataFrame(parts, index=frame.index)
    const = [c for c in out.columns if np.ptp(out[c].to_numpy()) == 0]
    if const:
        raise DesignError(f"covariate {', '.join(map(repr, const))} does not vary in the rows "
                          "used; drop it.")
    return out


def default_logit_inference(n_clusters: int) -> str:
    """:func:`sosstats._kernels.cluster.default_kind`: CR2 below 42 clusters, else CR1."""
    return default_kind(n_clusters)


def _cluster_codes(frame: pd.DataFrame, cluster: str, inference: str | None = "cr1",
                   weights: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Cluster codes ``0..G-1`` of the rows used; the few-cluster warning for CR1 only.

    A cluster whose ``weights`` are all zero raises :class:`~sosstats.errors.DataError`.
    """
    codes, uniques = pd.factorize(frame[cluster], sort=True)
    if (codes < 0).any():
        raise DataError(f"cluster column {cluster!r} has missing values.")
    g = len(uniques)
    if g < 2:
        raise DesignError(f"cluster column {cluster!r} has a single cluster "
                          f"({uniques[0]!r}); cluster-robust errors need at least two.")
    if weights is not None:
        tot = np.bincount(codes, weights=weights, minlength=g)
        empty = np.flatnonzero(tot <= 0)
        if empty.size:
            shown = ", ".join(repr(uniques[j]) for j in empty[:10])
            raise DataError(f"`weights` are zero in every row of cluster {shown} of "
                            f"{cluster!r}: that cluster has no data; drop its rows or give "
                            "them positive weights.")
    if g < FEW_CLUSTERS and inference == "cr1":
        warnings.warn(f"only {g} clusters in {cluster!r}: CR1 standard errors are biased "
                      "downwards with fewer than about 42 clusters; use inference='cr2' "
                      "(bias-reduced, Satterthwaite df) or 'wild' (wild score bootstrap), or "
                      "a randomisation test (sosstats.panel.randomization.randomization_test) "
                      "for pilot-level inference.", SosstatsWarning, stacklevel=3)
    return codes, g


def _weights(frame: pd.DataFrame, weights: str | None) -> np.ndarray | None:
    """Return the weights column as floats (checked: numeric, finite, non-negative, not all 0)."""
    if weights is None:
        return None
    return check_weights(frame[weights], f"weights column {weights!r} (`weights`)")


def _sandwich(scores: np.ndarray, hessian: np.ndarray, codes: np.ndarray, g: int) -> np.ndarray:
    r"""CR1 sandwich :math:`\frac{G}{G-1} H^{-1} (\sum_g s_g s_g^\top) H^{-1}`."""
    sums = np.zeros((g, scores.shape[1]))
    np.add.at(sums, codes, scores)
    bread = np.linalg.inv(-hessian)
    return g / (g - 1) * bread @ (sums.T @ sums) @ bread


def _separation(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray | None:
    r"""Direction of (quasi-)complete separation of an ordinal/binary response, or None.

    The maximum likelihood estimate of a cumulative logit (binary: logit with intercept) fails
    to exist iff some :math:`\beta \ne 0` and cut-points :math:`c` satisfy
    :math:`c_{y_i - 1} \le x_i^\top \beta \le c_{y_i}` for every unit, not all with equality
    (Albert and Anderson, 1984; Konis, 2007). The linear programme maximises the total slack
    over a box; a positive optimum means separation.
    """
    n, p = x.shape
    if p == 0:
        return None
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    xs = (x - x.mean(axis=0)) / scale
    bound = float(np.abs(xs).sum(axis=1).max()) + 1.0
    # variables: beta (p), cuts (k - 1); rows: x b - c_y <= 0 (y < k-1), c_{y-1} - x b <= 0
    rows_up = np.flatnonzero(y < k - 1)
    rows_lo = np.flatnonzero(y > 0)
    a_up = np.zeros((rows_up.size, p + k - 1))
    a_up[:, :p] = xs[rows_up]
    a_up[np.arange(rows_up.size), p + y[rows_up]] = -1.0
    a_lo = np.zeros((rows_lo.size, p + k - 1))
    a_lo[:, :p] = -xs[rows_lo]
    a_lo[np.arange(rows_lo.size), p + y[rows_lo] - 1] = 1.0
    a_ub = np.vstack([a_up, a_lo])
    # maximise total slack = -sum(a_ub @ v)  <=> minimise sum(a_ub @ v)
    res = optimize.linprog(a_ub.sum(axis=0), A_ub=a_ub, b_ub=np.zeros(a_ub.shape[0]),
                           bounds=[(-1.0, 1.0)] * p + [(-bound, bound)] * (k - 1),
                           method="highs")
    if res.status != 0 or -res.fun <= 1e-7 * max(n, 1):
        return None
    return res.x[:p] / scale


def _separation_error(direction: np.ndarray, names: list[str], outcome: str) -> DesignError:
    terms = [names[j] for j in np.flatnonzero(np.abs(direction) > 1e-8 * np.abs(direction).max())]
    return DesignError(f"perfect separation: {', '.join(map(repr, terms))} perfectly predicts "
                       f"{outcome!r}, so its maximum likelihood estimate is infinite; merge "
                       "categories, drop or coarsen the term, or use an exact or penalised "
                       "method.")


def _estimate_table(params: np.ndarray, vcov: np.ndarray, names: list[str],
                    df: float | np.ndarray) -> pd.DataFrame:
    """Estimates table; ``df`` one value or one per term (inf: normal reference)."""
    se = np.sqrt(np.clip(np.diag(vcov), 0.0, None))
    dfa = np.broadcast_to(np.asarray(df, dtype=float), params.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = params / se
        tail = np.where(np.isfinite(dfa), stats.t.sf(np.abs(z), np.where(np.isfinite(dfa),
                                                                           dfa, 1.0)),
                        stats.norm.sf(np.abs(z)))
    return pd.DataFrame({"estimate": params, "std_error": se, "statistic": z,
                         "p_value": 2 * tail, "df": dfa.copy()},
                        index=pd.Index(names, name="term"))




def _logit_inference(z: np.ndarray, d: np.ndarray, prob: np.ndarray, w: np.ndarray | None,
                     codes: np.ndarray, g: int, inference: str, *, rng: Any,
                     n_resamples: int, wild_weights: str
                     ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Cluster-robust (vcov, df per term, extra table columns) of a binary logit in GLM form.

    ``z`` (n, p) the design, ``d`` the 0/1 outcome, ``prob`` the fitted probabilities, ``w``
    prior weights or None, ``codes`` cluster codes ``0..g-1``. cr1: ``G/(G-1)`` sandwich with
    ``G - 1`` df (unchanged); cr2 / cr3: :func:`sosstats._kernels.cluster_glm.glm_cluster_vcov`
    (clubSandwich's ``vcovCR.glm``) on the rows with a positive weight; wild: the CR2 variance
    and df, p-values from :func:`sosstats._kernels.wild_score.logit_wild_score_test` per term.
    """
    from sosstats._kernels.cluster_glm import glm_cluster_vcov

    ww = np.ones(d.size) if w is None else w
    p = z.shape[1]
    if inference == "cr1":
        hessian = -(z * (ww * prob * (1 - prob))[:, None]).T @ z
        vcov = _sandwich((ww * (d - prob))[:, None] * z, hessian, codes, g)
        return vcov, np.full(p, float(g - 1)), {}
    pos = ww > 0
    kind = "cr3" if inference == "cr3" else "cr2"
    cv = glm_cluster_vcov(z[pos], (d - prob)[pos], codes[pos], variance=(prob * (1 - prob))[pos],
                          weights=None if w is None else w[pos], kind=kind)
    extra: dict[str, Any] = {}
    if inference == "wild":
        from sosstats._kernels.wild_score import logit_wild_score_test
        from sosstats._validate import check_rng

        gen = check_rng(rng)
        tests = [logit_wild_score_test(z[pos], d[pos], codes[pos], term=j,
                                       weights=None if w is None else w[pos],
                                       weight_type=wild_weights, n_resamples=n_resamples,
                                       rng=gen) for j in range(p)]
        extra = {"p_value": [t.p_value for t in tests],
                 "n_resamples": [t.n_resamples for t in tests],
                 "enumerated": [t.enumerated for t in tests]}
    return cv.vcov, np.asarray(cv.df, dtype=float), extra
