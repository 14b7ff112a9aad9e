"""Shared pieces of the two logit models of change (:mod:`sosstats.panel.conditional_logit`,
:mod:`sosstats.panel.ordered_logit`): the estimates-table result base, complete cases,
covariate dummies, cluster codes, the CR1 sandwich from per-unit scores and the Hessian, and
exact detection of separation by a linear programme (before anything is fitted).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from sosstats._kernels.cluster import FEW_CLUSTERS
from sosstats._results import Result
from sosstats.errors import DataError, DesignError, SosstatsWarning


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

    def _estimates(self) -> pd.DataFrame:
        return self.estimates.copy()

    def odds_ratios(self, level: float = 0.95) -> pd.DataFrame:
        """``exp`` of the slope estimates and of their confidence limits."""
        ci = self.conf_int(level)
        slopes = [t for t in self.estimates.index if "|" not in str(t)]
        return pd.DataFrame({"odds_ratio": np.exp(self.estimates.loc[slopes, "estimate"]),
                             "lower": np.exp(ci.loc[slopes, "lower"]),
                             "upper": np.exp(ci.loc[slopes, "upper"])})

    def _notes(self) -> list[str]:
        if self.cluster is None:
            errs = ("model-based standard errors (inverse information), normal reference "
                    "(df = inf)")
        else:
            errs = (f"CR1 cluster-robust standard errors by {self.cluster!r} "
                    f"({self.n_clusters} clusters), t reference with G - 1 df")
        return [f"{self.nobs} units, {self.n_dropped} dropped for missing values; {errs}."]


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


def _cluster_codes(frame: pd.DataFrame, cluster: str) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(frame[cluster], sort=True)
    if (codes < 0).any():
        raise DataError(f"cluster column {cluster!r} has missing values.")
    g = len(uniques)
    if g < 2:
        raise DesignError(f"cluster column {cluster!r} has a single cluster "
                          f"({uniques[0]!r}); cluster-robust errors need at least two.")
    if g < FEW_CLUSTERS:
        warnings.warn(f"only {g} clusters in {cluster!r}: CR1 standard errors are biased "
                      "downwards with fewer than about 42 clusters; prefer a randomisation "
                      "test (sosstats.panel.randomization.randomization_test) for "
                      "pilot-level inference.", SosstatsWarning, stacklevel=3)
    return codes, g


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
                    df: float) -> pd.DataFrame:
    se = np.sqrt(np.diag(vcov))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = params / se
    p = 2 * (stats.t.sf(np.abs(z), df) if np.isfinite(df) else stats.norm.sf(np.abs(z)))
    return pd.DataFrame({"estimate": params, "std_error": se, "statistic": z, "p_value": p,
                         "df": df}, index=pd.Index(names, name="term"))


