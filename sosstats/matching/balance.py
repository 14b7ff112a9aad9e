r"""Covariate balance before and after matching: cobalt / MatchIt conventions.

:func:`balance_table` compares treated and control units on each covariate (categorical
covariates expanded to dummies; squares and interactions on request) in the full sample and in
the matched sample, i.e. the rows with a positive matching weight. Rows with weight 0 never
enter an after-matching statistic.

Notes
-----
For covariate :math:`x`, group :math:`g \in \{1, 0\}` and normalised weights
:math:`\tilde w_i = w_i / \sum_{j \in g} w_j` (all 1 before matching):

* mean :math:`\bar x_g = \sum_{i \in g} \tilde w_i x_i`;
* variance :math:`s_g^2 = \sum \tilde w_i (x_i - \bar x_g)^2 / (1 - \sum \tilde w_i^2)` (the
  unbiased reliability-weight variance; ``ddof=1`` for equal weights), and
  :math:`\bar x_g (1 - \bar x_g)` for a binary (0/1) covariate (cobalt ``col_w_sd``, MatchIt
  ``wvar``);
* difference :math:`\bar x_1 - \bar x_0`, standardised by :math:`s^*` computed **before**
  matching and without weights: the treated SD for ATT, the control SD for ATC,
  :math:`\sqrt{(s_1^2 + s_0^2)/2}` for ATE (``s_d_denom="pooled"``), or the SD of the
  whole sample (``"all"``). Binary covariates give the raw difference in proportions unless
  ``binary="std"`` (cobalt's default is ``"raw"``; MatchIt's summary standardises them);
* variance ratio :math:`s_1^2 / s_0^2` (continuous covariates only);
* eCDF statistics: with :math:`F_g` the weighted empirical CDFs, the mean and the maximum of
  :math:`|F_1(v) - F_0(v)|` over the distinct values :math:`v` of :math:`x` in the sample
  (maximum = weighted Kolmogorov-Smirnov statistic); for a binary covariate both equal the
  absolute difference in proportions (MatchIt ``qqsum(standardize = TRUE)``). The mean after
  matching is taken over the values present in the matched sample, so unmatched rows cannot
  change it; MatchIt's ``summary()`` also evaluates the CDFs at the values of unmatched units
  (weight 0), which changes its eCDF Mean (never its eCDF Max) when those values are distinct;
* pair distance (with ``subclass``): the mean of :math:`|x_i - x_j|` over all treated-control
  pairs within a subclass, divided by :math:`s^*` when standardised (MatchIt
  ``Std. Pair Dist.``);
* effective sample size per group: Kish's :math:`(\sum w)^2 / \sum w^2`.

References
----------
Greifer, N. (2024). cobalt: Covariate Balance Tables and Plots. R package; functions
``bal.tab``, ``col_w_smd``, ``col_w_vr``, ``col_w_ks``.
Ho, D., Imai, K., King, G. and Stuart, E. A. (2011). MatchIt: nonparametric preprocessing for
parametric causal inference. *Journal of Statistical Software* 42(8); ``summary.matchit``.
Austin, P. C. (2009). Balance diagnostics for comparing the distribution of baseline
covariates between treatment groups in propensity-score matched samples. *Statistics in
Medicine* 28, 3083-3107.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sosstats._kernels.balance import kish_ess
from sosstats._results import TableResult
from sosstats._validate import as_list, check_columns, check_frame, check_option
from sosstats.errors import DataError, DesignError
from sosstats.matching._inputs import (
    ESTIMANDS,
    TINY,
    balance_columns,
    subclass_codes,
    subclass_weights,
    treatment_vector,
    weight_vector,
)

__all__ = ["Balance", "balance_table"]

SD_DENOMS = ("treated", "control", "pooled", "all")
_TINY = TINY


# ------------------------------------------------------------------ statistics

def _group_stats(X: np.ndarray, w: np.ndarray, is_bin: np.ndarray) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """Weighted means and variances (unbiased; p(1-p) for binary columns) of one group."""
    wn = w / w.sum()
    m = wn @ X
    with np.errstate(invalid="ignore", divide="ignore"):
        v = (wn @ (X - m) ** 2) / (1.0 - wn @ wn)
    v = np.where(is_bin, m * (1 - m), v)
    return m, v


def _ecdf_stats(X: np.ndarray, treated: np.ndarray, w: np.ndarray) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """Mean and max over distinct values of |F1 - F0| (weighted eCDFs), per column."""
    signed = np.where(treated, w / w[treated].sum(), -w / w[~treated].sum())
    order = np.argsort(X, axis=0, kind="stable")
    xs = np.take_along_axis(X, order, axis=0)
    diff = np.abs(np.cumsum(signed[order], axis=0))
    last = np.ones_like(xs, dtype=bool)
    last[:-1] = xs[1:] != xs[:-1]                          # end of each run of ties
    return (np.where(last, diff, 0.0).sum(axis=0) / last.sum(axis=0),
            np.where(last, diff, 0.0).max(axis=0))


def _pair_distance(X: np.ndarray, treated: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Mean |x_t - x_c| over all treated-control pairs within subclasses (codes >= 0)."""
    keep = codes >= 0
    X, treated, codes = X[keep], treated[keep], codes[keep]
    k = int(codes.max()) + 1
    n1 = np.bincount(codes[treated], minlength=k).astype(float)
    n0 = np.bincount(codes[~treated], minlength=k).astype(float)
    n_pairs = (n1 * n0).sum()
    if n_pairs == 0:
        return np.full(X.shape[1], np.nan)
    out = np.empty(X.shape[1])
    for j in range(X.shape[1]):                            # loop over covariates, not rows
        x = X[:, j]
        order = np.lexsort((x, codes))
        xs, cs, ts = x[order], codes[order], treated[order]
        # controls below each row within its subclass: cumulative count and sum
        cnt = np.cumsum(~ts)
        sm = np.cumsum(np.where(~ts, xs, 0.0))
        start = np.searchsorted(cs, cs, side="left")
        base_cnt = np.where(start > 0, cnt[start - 1], 0)
        base_sm = np.where(start > 0, sm[start - 1], 0.0)
        below_n = cnt - base_cnt
        below_s = sm - base_sm
        tot_n, tot_s = n0[cs], np.bincount(cs, weights=np.where(~ts, xs, 0.0), minlength=k)[cs]
        dist = (below_n * xs - below_s) + ((tot_s - below_s) - (tot_n - below_n) * xs)
        out[j] = dist[ts].sum() / n_pairs
    return out


def _side(X: np.ndarray, treated: np.ndarray, w: np.ndarray, is_bin: np.ndarray,
          denom: np.ndarray, std: np.ndarray) -> dict[str, np.ndarray]:
    pos = w > 0
    Xp, tp, wp = X[pos], treated[pos], w[pos]
    m1, v1 = _group_stats(Xp[tp], wp[tp], is_bin)
    m0, v0 = _group_stats(Xp[~tp], wp[~tp], is_bin)
    diff = m1 - m0
    small = np.abs(diff) <= _TINY
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(std & ~small, diff / denom, diff)
        vr = np.where(is_bin, np.nan, v1 / v0)
    e_mean, e_max = _ecdf_stats(Xp, tp, wp)
    e_mean = np.where(is_bin, np.abs(diff), e_mean)
    e_max = np.where(is_bin, np.abs(diff), e_max)
    return {"mean_treated": m1, "mean_control": m0, "diff": d, "var_ratio": vr,
            "ecdf_mean": e_mean, "ecdf_max": e_max}


@dataclass(frozen=True, eq=False, kw_only=True)
class Balance(TableResult):
    """Result of :func:`balance_table` (a table-style result).

    ``tidy()`` is :attr:`table` with the covariate as its first column; ``summary()`` and
    ``str()`` print the statistics with the sample sizes in the notes; ``plot()`` draws the
    love plot.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (expanded) covariate: ``type`` ("binary" / "continuous"), ``diff_type``
        ("std" or "raw"), then ``mean_treated``, ``mean_control``, ``diff``, ``var_ratio``,
        ``ecdf_mean``, ``ecdf_max`` each with suffix ``_before`` and (when weights or
        subclasses are given) ``_after``; ``pair_dist_after`` with ``subclass``;
        ``balanced_diff`` and ``balanced_vr`` (threshold checks on the after columns, or the
        before columns when there is no matching).
    counts : pandas.DataFrame
        Rows ``all``, ``all_ess``, ``matched``, ``matched_ess``, ``unmatched``; columns
        ``control``, ``treated`` (MatchIt's sample-size table; ESS is Kish's).
    estimand, s_d_denom, binary : str
        Conventions used.
    thresholds : dict
        ``{"diff": 0.1, "vr": 2.0}`` by default.
    weights : numpy.ndarray or None
        The matching weights used (derived from ``subclass`` when only it was given).
    """

    table: pd.DataFrame
    counts: pd.DataFrame
    estimand: str
    s_d_denom: str
    binary: str
    thresholds: dict = field(default_factory=dict)
    weights: np.ndarray | None = field(default=None, repr=False)

    @property
    def adjusted(self) -> bool:
        """True when after-matching columns are present."""
        return "diff_after" in self.table.columns

    @property
    def method(self) -> str:  # type: ignore[override]
        """What the table compares: ``"before and after matching"`` or ``"before matching"``."""
        return "before and after matching" if self.adjusted else "before matching"

    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)
        return self.table.copy()

    def _title(self) -> str:
        return "Balance"

    def _notes(self) -> list[str]:
        return [f"estimand {self.estimand}; differences standardised by the "
                f"{self.s_d_denom} SD before matching; binary covariates: {self.binary}.",
                "counts: " + "; ".join(f"{r} {row['treated']:.4g} treated / "
                                       f"{row['control']:.4g} control"
                                       for r, row in self.counts.iterrows())]

    def plot(self, ax: Any = None, *, absolute: bool = True) -> Any:
        """Love plot: (absolute) differences before and after, with the threshold line.

        Returns the matplotlib Axes.
        """
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6, 0.3 * len(self.table) + 1.5))
        tab = self.table
        pos = np.arange(len(tab))[::-1]
        f = np.abs if absolute else (lambda v: v)
        ax.scatter(f(tab["diff_before"].to_numpy()), pos, facecolors="none",
                   edgecolors="C0", label="before")
        if self.adjusted:
            ax.scatter(f(tab["diff_after"].to_numpy()), pos, color="C1", label="after")
        thr = self.thresholds.get("diff")
        if thr is not None:
            for x in ([thr] if absolute else [-thr, thr]):
                ax.axvline(x, color="grey", ls="--", lw=0.8)
        ax.axvline(0.0, color="black", lw=0.6)
        ax.set_yticks(pos)
        ax.set_yticklabels(tab.index)
        raw = (tab["diff_type"] == "raw").any()
        ax.set_xlabel(("Absolute " if absolute else "") + "standardised mean difference"
                      + (" (binary: raw difference)" if raw else ""))
        ax.legend(loc="best")
        return ax


def balance_table(data: pd.DataFrame, treatment: str, covariates: str | list[str], *,
                  weights: Any = None, subclass: Any = None, estimand: str = "ATT",
                  s_d_denom: str | None = None, binary: str = "raw", squares: bool = False,
                  interactions: bool = False, thresholds: dict | None = None) -> Balance:
    """Balance of covariates between treated and controls, before and after matching.

    Parameters
    ----------
    data : pandas.DataFrame
        All units, matched or not (not modified).
    treatment : str
        0/1 (or boolean) treatment column.
    covariates : str or list of str
        Numeric, boolean or categorical columns (categorical ones are expanded to dummies).
    weights : str, array-like or Series, optional
        Matching weights (0 for unmatched rows). Only rows with a positive weight enter the
        after-matching statistics.
    subclass : str, array-like or Series, optional
        Pair / subclass ids (missing for unmatched rows). Without ``weights``, the weights are
        derived from the subclasses as MatchIt does; with them, pair distances are added.
    estimand : {"ATT", "ATC", "ATE"}
        Sets the default ``s_d_denom`` and, for subclass-derived weights, their form.
    s_d_denom : {"treated", "control", "pooled", "all"}, optional
        SD used to standardise (computed before matching, without weights); default treated
        for ATT, control for ATC, pooled for ATE (as cobalt and MatchIt).
    binary : {"raw", "std"}
        Raw difference in proportions (cobalt's default) or standardised for 0/1 covariates.
    squares, interactions : bool
        Add squares of non-binary covariates / pairwise products of all covariates.
    thresholds : dict, optional
        ``{"diff": 0.1, "vr": 2.0}`` by default (``"smd"`` is an alias of ``"diff"``); a
        covariate is balanced when
        ``|diff| <= diff`` and ``1/vr <= var_ratio <= vr``.

    Returns
    -------
    Balance

    Raises
    ------
    DataError
        Missing columns, treatment not 0/1, NaN covariates, negative or NaN weights, bad
        options.
    DesignError
        No treated or no control units, or none with a positive weight in a group.

    Notes
    -----
    See the module docstring for the formulas (cobalt ``col_w_smd`` / ``col_w_vr`` /
    ``col_w_ks``, MatchIt ``summary.matchit``).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [1, 1, 0, 0, 0], "x": [1.0, 2.0, 1.0, 2.0, 9.0]})
    >>> bal = balance_table(d, "t", ["x"], weights=[1, 1, 1, 1, 0])
    >>> float(bal.table.loc["x", "diff_after"])
    0.0
    """
    data = check_frame(data)
    estimand = check_option(estimand, ESTIMANDS, "estimand")
    binary = check_option(binary, ("raw", "std"), "binary")
    if s_d_denom is None:
        s_d_denom = {"ATT": "treated", "ATC": "control", "ATE": "pooled"}[estimand]
    s_d_denom = check_option(s_d_denom, SD_DENOMS, "s_d_denom")
    given = dict(thresholds or {})
    if "smd" in given:
        given["diff"] = given.pop("smd")
    thr = {"diff": 0.1, "vr": 2.0, **given}
    if set(thr) - {"diff", "vr"} or not (thr["diff"] > 0 and thr["vr"] >= 1):
        raise DataError(f"`thresholds` takes 'diff' (> 0) and 'vr' (>= 1); got {thresholds!r}.")
    covariates = as_list(covariates)
    if not covariates:
        raise DataError("`covariates` is empty.")
    check_columns(data, covariates, what="covariate")
    treated = treatment_vector(data, treatment)
    X, names, _ = balance_columns(data, covariates, squares=squares, interactions=interactions)
    is_bin = np.all((X == 0) | (X == 1), axis=0)

    codes = None if subclass is None else subclass_codes(data, subclass)
    if weights is not None:
        w = weight_vector(data, weights)
    elif codes is not None:
        w = subclass_weights(treated, codes, estimand)
    else:
        w = None
    if w is not None:
        for grp, label in ((treated, "treated"), (~treated, "control")):
            if not (w[grp] > 0).any():
                raise DesignError(f"no {label} unit has a positive weight: nothing is matched "
                                  f"in the {label} group.")

    ones = np.ones(X.shape[0])
    _, v1 = _group_stats(X[treated], ones[treated], is_bin)
    _, v0 = _group_stats(X[~treated], ones[~treated], is_bin)
    _, va = _group_stats(X, ones, is_bin)
    denom = np.sqrt({"treated": v1, "control": v0, "pooled": (v1 + v0) / 2,
                     "all": va}[s_d_denom])
    denom = np.where(np.isfinite(denom) & (denom >= _TINY), denom, np.sqrt(va))
    std = np.where(is_bin, binary == "std", True)

    table = pd.DataFrame({"type": np.where(is_bin, "binary", "continuous"),
                          "diff_type": np.where(std, "std", "raw")},
                         index=pd.Index(names, name="covariate"))
    sides = {"before": _side(X, treated, ones, is_bin, denom, std)}
    if w is not None:
        sides["after"] = _side(X, treated, w, is_bin, denom, std)
    for stat in ("mean_treated", "mean_control", "diff", "var_ratio", "ecdf_mean", "ecdf_max"):
        for when, vals in sides.items():
            table[f"{stat}_{when}"] = vals[stat]
    if codes is not None:
        pos = w > 0
        pd_codes = np.where(pos, codes, -1)
        if (pd_codes >= 0).any():
            dist = _pair_distance(X, treated, pd_codes)
            table["pair_dist_after"] = np.where(std, dist / denom, dist)
    last = "after" if w is not None else "before"
    vr = table[f"var_ratio_{last}"].to_numpy()
    table["balanced_diff"] = np.abs(table[f"diff_{last}"].to_numpy()) <= thr["diff"]
    with np.errstate(invalid="ignore", divide="ignore"):
        table["balanced_vr"] = np.where(np.isnan(vr), True,
                                        (vr <= thr["vr"]) & (vr >= 1.0 / thr["vr"]))

    def group_counts(weight: np.ndarray) -> tuple[list[float], list[float]]:
        n = [float((weight[~treated] > 0).sum()), float((weight[treated] > 0).sum())]
        ess = [kish_ess(weight[~treated]) if n[0] else 0.0,
               kish_ess(weight[treated]) if n[1] else 0.0]
        return n, ess

    n_all, ess_all = group_counts(ones)
    rows = {"all": n_all, "all_ess": ess_all}
    if w is not None:
        n_m, ess_m = group_counts(w)
        rows.update({"matched": n_m, "matched_ess": ess_m,
                     "unmatched": [n_all[0] - n_m[0], n_all[1] - n_m[1]]})
    counts = pd.DataFrame(rows, index=["control", "treated"]).T
    return Balance(table=table, counts=counts, estimand=estimand, s_d_denom=s_d_denom,
                   binary=binary, thresholds=thr, weights=None if w is None else w.copy())
