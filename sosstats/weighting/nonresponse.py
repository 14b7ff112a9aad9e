r"""Non-response bias checks: who answered at Time 2, and did weighting change the answer.

Before weighting, :func:`response_rates` tabulates response by group with binomial intervals and
tests of equal rates, and :func:`nonresponse_tests` compares respondents with non-respondents on
each Time 1 covariate (standardised differences, Welch / chi-square tests with Holm adjustment,
and a likelihood-ratio test of the whole response model). After weighting,
:func:`weighting_effect` tests whether the weighted mean of an outcome differs from the
unweighted one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._multiplicity import holm
from sosstats._results import TableResult
from sosstats._validate import (
    as_list,
    check_columns,
    check_frame,
    check_level,
    check_not_mixed,
    check_option,
)
from sosstats.errors import DataError, SosstatsWarning
from sosstats.weighting._formula import design_matrix, is_categorical
from sosstats.weighting._nr_common import (
    binomial_interval,
    contingency_test,
    factor,
    indicator,
)
from sosstats.weighting._propensity import independent_columns, separating_columns
from sosstats.weighting.effect import WeightingEffect, weighting_effect

__all__ = ["ResponseRates", "response_rates", "NonresponseTests", "nonresponse_tests",
           "WeightingEffect", "weighting_effect"]

ALL = "(all)"
TEST_COLUMNS = ["test", "statistic", "df", "p_value"]


# ----------------------------------------------------------------------------- response rates

@dataclass(frozen=True, kw_only=True)
class ResponseRates(TableResult):
    """Response rates by group (returned by :func:`response_rates`).

    ``tidy(level=)``, ``summary(level=)``, ``to_dict()`` and the printed form come from one
    table, the rates with their intervals (recomputed at another ``level`` when asked).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per level of each grouping column (first row ``(all)``): ``variable``, ``level``
        (as text), ``n``, ``respondents``, ``rate``, ``ci_lower``, ``ci_upper``.
    tests : pandas.DataFrame
        One row per grouping column: ``variable``, ``test`` (``"pearson chi-square"``,
        ``"fisher exact"`` or ``"not testable"``), ``statistic``, ``df``, ``p_value``,
        ``min_expected`` (smallest expected cell count).
    level : float
        Confidence level of the intervals.
    interval : str
        ``"wilson"`` or ``"exact"`` (Clopper-Pearson).
    responded : str
        The response indicator column.
    """

    table: pd.DataFrame
    tests: pd.DataFrame
    level: float
    interval: str
    responded: str

    method = "response rates"

    @property
    def overall(self) -> float:
        """Overall response rate."""
        return float(self.table["rate"].iloc[0])

    @property
    def nobs(self) -> int:
        """Units in the sample."""
        return int(self.table["n"].iloc[0])

    def _table(self, level: float | None) -> pd.DataFrame:
        t = self.table.copy()
        if level is not None:
            level = check_level(level)
            t["ci_lower"], t["ci_upper"] = binomial_interval(
                t["respondents"].to_numpy(), t["n"].to_numpy(), level, self.interval)
        return t.set_index(["variable", "level"])

    def _title(self) -> str:
        return f"Response rates ({self.responded})"

    def _notes(self) -> list[str]:
        notes = [f"{r.variable}: {r.test}" + ("" if np.isnan(r.p_value) else
                 f", p = {r.p_value:.3g}") for r in self.tests.itertuples()]
        notes.append(f"{self.interval} intervals (level {self.level:g} unless asked otherwise).")
        return notes

    def plot(self, ax: Any = None) -> Any:
        """Horizontal bar chart of the rates with their intervals and the overall rate.

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn into: ``ax`` when given, else a new figure's.
        """
        import matplotlib.pyplot as plt

        t = self.table.iloc[1:] if len(self.table) > 1 else self.table
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.35 * len(t) + 1.5))
        y = np.arange(len(t))[::-1]
        rate = t["rate"].to_numpy(float)
        err = np.vstack([rate - t["ci_lower"].to_numpy(float),
                         t["ci_upper"].to_numpy(float) - rate])
        colours = pd.factorize(t["variable"])[0] % 10
        ax.barh(y, rate, xerr=err, color=[f"C{c}" for c in colours], alpha=0.8, capsize=3)
        ax.axvline(self.overall, color="grey", linestyle="--", linewidth=0.8)
        ax.set_yticks(y)
        ax.set_yticklabels([f"{v}: {lev}" for v, lev in zip(t["variable"], t["level"])])
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"response rate ({self.level:.0%} {self.interval} interval)")
        ax.set_title(f"Response ({self.responded}); overall {self.overall:.1%}")
        return ax


def response_rates(data: pd.DataFrame, responded: str, by: str | list[str] | None = None, *,
                   level: float = 0.95, interval: str = "wilson") -> ResponseRates:
    r"""Response rate overall and per level of one or several grouping columns, with tests.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit of the Time 1 sample. Not modified.
    responded : str
        Response indicator column (boolean or 0/1, no missing values).
    by : str or list of str, optional
        Grouping columns (e.g. ``"la_code"``, ``"cohort"``); missing values are refused.
    level : float, default 0.95
        Confidence level of the intervals.
    interval : {"wilson", "exact"}, default "wilson"
        Wilson score interval or the Clopper-Pearson ("exact") interval.

    Returns
    -------
    ResponseRates
        ``.table`` (rates and intervals), ``.tests`` (one test of equal rates per grouping
        column), ``.plot()``.

    Raises
    ------
    DataError
        A missing column, a response indicator that is not 0/1, a grouping column with NaN.

    Notes
    -----
    Wilson interval: :math:`\{\hat p + z^2/2n \pm z\sqrt{\hat p(1-\hat p)/n + z^2/4n^2}\}
    / (1 + z^2/n)`. Clopper-Pearson: beta quantiles :math:`B(\alpha/2; x, n-x+1)` and
    :math:`B(1-\alpha/2; x+1, n-x)`. Equal rates across the levels of a column are tested with
    Pearson's chi-square test of the levels x response table (no continuity correction), or with
    Fisher's exact test for a 2 x 2 table with an expected count below 5 (Agresti 2013,
    *Categorical Data Analysis*, 3rd ed., sections 1.4 and 3.5).

    Examples
    --------
    >>> from sosstats.datasets import simulate_evaluation
    >>> fam = simulate_evaluation(rng=0, n_families=500).families
    >>> rr = response_rates(fam, "responded_t2", by=["cohort", "agency_worker"])
    >>> list(rr.tests["variable"])
    ['cohort', 'agency_worker']
    """
    data = check_frame(data)
    level = check_level(level)
    check_option(interval, ("wilson", "exact"), "interval")
    r = indicator(data, responded)
    groups = as_list(by)
    check_columns(data, groups, what="grouping column")
    rows = [(ALL, ALL, len(r), int(r.sum()))]
    tests = []
    for col in groups:
        codes, levels = factor(data, col, what="grouping column")
        n = np.bincount(codes, minlength=len(levels))
        x = np.bincount(codes, weights=r, minlength=len(levels)).astype(np.int64)
        rows.extend(zip([col] * len(levels), map(str, levels), n.tolist(), x.tolist()))
        tests.append({"variable": col, **contingency_test(np.column_stack([x, n - x]), col)})
    table = pd.DataFrame(rows, columns=["variable", "level", "n", "respondents"])
    table["rate"] = table["respondents"] / table["n"]
    lo, hi = binomial_interval(table["respondents"].to_numpy(), table["n"].to_numpy(), level,
                               interval)
    table["ci_lower"], table["ci_upper"] = lo, hi
    tests_df = pd.DataFrame(tests, columns=["variable", *TEST_COLUMNS, "min_expected"])
    return ResponseRates(table=table, tests=tests_df, level=level, interval=interval,
                         responded=responded)


# ----------------------------------------------------------------------------- covariates

@dataclass(frozen=True, kw_only=True)
class NonresponseTests(TableResult):
    """Respondents against non-respondents on each covariate (see :func:`nonresponse_tests`).

    ``tidy()``, ``summary()``, ``to_dict()`` and the printed form come from one table: ``table``
    with the test of each covariate merged in (``test``, ``statistic``, ``df``, ``p_value``,
    ``p_holm`` repeated on the rows of its levels). There are no intervals: ``level`` is not
    used.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per numeric covariate and per level of each categorical one (the ``True`` level
        only for booleans): ``covariate``, ``level``, ``kind`` (``"numeric"`` /
        ``"categorical"``), ``mean_respondents``, ``mean_nonrespondents`` (shares for levels),
        ``difference`` and ``smd``.
    tests : pandas.DataFrame
        One row per covariate: ``covariate``, ``test`` (``"welch t"``, ``"pearson chi-square"``
        or ``"fisher exact"``), ``statistic``, ``df``, ``p_value`` and ``p_holm`` (Holm-adjusted
        over the covariates).
    overall : dict
        Likelihood-ratio test of the logit response model on all covariates against the
        intercept-only model: ``statistic``, ``df``, ``p_value``, ``pseudo_r2`` (McFadden),
        ``n``, ``n_respondents``; NaN statistics when the model cannot be fitted (separation).
    """

    table: pd.DataFrame
    tests: pd.DataFrame
    overall: dict = field(default_factory=dict)

    method = "non-response tests"

    @property
    def nobs(self) -> int | None:
        """Units compared (respondents and non-respondents)."""
        return self.overall.get("n")

    def flagged(self, alpha: float = 0.05) -> list[str]:
        """Covariates whose Holm-adjusted p-value is below ``alpha``."""
        return self.tests.loc[self.tests["p_holm"] < alpha, "covariate"].tolist()

    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)                      # checked, not used: no intervals here
        return self.table.merge(self.tests[["covariate", *TEST_COLUMNS, "p_holm"]],
                                on="covariate").set_index(["covariate", "level"])

    def _title(self) -> str:
        return "Non-response tests: respondents vs non-respondents"

    def _notes(self) -> list[str]:
        o = self.overall
        note = (f"Logit response model on all covariates: LR chi2({o['df']:.0f}) = "
                f"{o['statistic']:.4g}, p = {o['p_value']:.3g}, McFadden R2 = "
                f"{o['pseudo_r2']:.3g} (n = {o['n']}, {o['n_respondents']} respondents).")
        return [note, "SMD: difference / sqrt of the mean of the two group variances; p_holm: "
                "Holm-adjusted over the covariates."]

    def plot(self, ax: Any = None) -> Any:
        """Dot plot of the SMD of each covariate (level), with +/-0.1 guides.

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn into: ``ax`` when given, else a new figure's.
        """
        import matplotlib.pyplot as plt

        t = self.table
        labels = [c if lev == "" else f"{c}: {lev}" for c, lev in zip(t["covariate"],
                                                                       t["level"])]
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.35 * len(t) + 1.5))
        y = np.arange(len(t))[::-1]
        ax.scatter(t["smd"], y, color="C0")
        for x in (-0.1, 0.1):
            ax.axvline(x, color="grey", linestyle="--", linewidth=0.8)
        ax.axvline(0, color="black", linewidth=0.6)
        ax.set_yticks(y)
        ax.set_yticklabels(labels)
        ax.set_xlabel("standardised mean difference, respondents - non-respondents")
        return ax


def _smd(m1: np.ndarray, m0: np.ndarray, v1: np.ndarray, v0: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        d = (m1 - m0) / np.sqrt((v1 + v0) / 2)
    return np.where((m1 == m0), 0.0, d)


def _numeric_row(name: str, x: np.ndarray, r: np.ndarray) -> tuple[list[dict], dict]:
    x1, x0 = x[r], x[~r]
    m1, m0 = x1.mean(), x0.mean()
    v1 = x1.var(ddof=1) if x1.size > 1 else np.nan
    v0 = x0.var(ddof=1) if x0.size > 1 else np.nan
    row = {"covariate": name, "level": "", "kind": "numeric", "mean_respondents": m1,
           "mean_nonrespondents": m0, "difference": m1 - m0, "smd": float(_smd(m1, m0, v1, v0))}
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.ttest_ind(x1, x0, equal_var=False)
    test = {"covariate": name, "test": "welch t", "statistic": float(res.statistic),
            "df": float(res.df), "p_value": float(res.pvalue)}
    return [row], test


def _categorical_rows(name: str, s: pd.Series, r: np.ndarray) -> tuple[list[dict], dict]:
    codes, levels = factor(s.to_frame(), name, what="covariate")
    k = len(levels)
    n1 = np.bincount(codes[r], minlength=k).astype(float)
    n0 = np.bincount(codes[~r], minlength=k).astype(float)
    p1, p0 = n1 / n1.sum(), n0 / n0.sum()
    smd = _smd(p1, p0, p1 * (1 - p1), p0 * (1 - p0))
    keep = [levels.index(True)] if pd.api.types.is_bool_dtype(s) and True in levels \
        else range(k)
    rows = [{"covariate": name, "level": str(levels[j]), "kind": "categorical",
             "mean_respondents": p1[j], "mean_nonrespondents": p0[j],
             "difference": p1[j] - p0[j], "smd": float(smd[j])} for j in keep]
    test = {"covariate": name, **{k_: v for k_, v in contingency_test(
        np.column_stack([n1, n0]), name).items() if k_ != "min_expected"}}
    return rows, test


def _likelihood_ratio(data: pd.DataFrame, covariates: list[str], r: np.ndarray) -> dict:
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import (
        ConvergenceWarning,
        HessianInversionWarning,
        PerfectSeparationError,
        PerfectSeparationWarning,
    )

    X, names, _ = design_matrix(data, covariates, drop_first=True)
    keep = independent_columns(X)
    X, names = X[:, keep], [nm for nm, k in zip(names, keep) if k]
    n, n1 = len(r), int(r.sum())
    q = n1 / n
    ll0 = n1 * np.log(q) + (n - n1) * np.log1p(-q)
    out = {"statistic": np.nan, "df": float(X.shape[1]), "p_value": np.nan,
           "pseudo_r2": np.nan, "n": n, "n_respondents": n1}
    complete, quasi = separating_columns(X, r, names)
    if complete or quasi:
        warnings.warn(f"covariate(s) {', '.join(map(repr, complete + quasi))} "
                      f"{'perfectly' if complete else 'quasi-perfectly'} predict response; "
                      "the likelihood-ratio test of the response model is "
                      f"{'not available' if complete else 'unreliable'}.",
                      SosstatsWarning, stacklevel=3)
        if complete:
            return out
    Z = np.column_stack([np.ones(n), X])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (PerfectSeparationWarning, ConvergenceWarning,
                                         HessianInversionWarning, RuntimeWarning))
        try:
            res = sm.Logit(r.astype(float), Z).fit(method="newton", tol=1e-12, maxiter=200,
                                                    disp=0)
        except (PerfectSeparationError, np.linalg.LinAlgError):
            return out
    stat = max(2.0 * (res.llf - ll0), 0.0)
    out.update(statistic=stat, p_value=float(stats.chi2.sf(stat, X.shape[1])),
               pseudo_r2=float(1 - res.llf / ll0))
    return out


def nonresponse_tests(data: pd.DataFrame, responded: str,
                      covariates: str | list[str]) -> NonresponseTests:
    r"""Compare respondents with non-respondents on each Time 1 covariate.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit of the Time 1 sample. Not modified.
    responded : str
        Response indicator column (boolean or 0/1, no missing values, both values present).
    covariates : str or list of str
        Time 1 covariates. Numeric columns are compared by their means; boolean, category,
        object and string columns by the shares of their levels.

    Returns
    -------
    NonresponseTests
        ``.table`` (means / shares, differences, SMDs), ``.tests`` (one test per covariate with
        Holm-adjusted p-values), ``.overall`` (likelihood-ratio test of the response model),
        ``.flagged(alpha)``, ``.plot()``.

    Raises
    ------
    DataError
        A missing column, a response indicator that is not 0/1, a covariate with NaN, a constant
        covariate.
    DesignError
        Everyone or no one responded.

    Warns
    -----
    SosstatsWarning
        A covariate predicts response (quasi-)perfectly (named), or a chi-square table has an
        expected count below 1.

    Notes
    -----
    SMD: :math:`(\bar x_1 - \bar x_0) / \sqrt{(s_1^2 + s_0^2)/2}` with respondents (1) and
    non-respondents (0); for a level share :math:`s^2 = p(1-p)` (Austin 2009, *Statistics in
    Medicine* 28, 3083-3107). Numeric covariates: Welch's unequal-variance t test with
    Welch-Satterthwaite df. Categorical: Pearson chi-square test of the level x response table,
    Fisher's exact test for a 2 x 2 table with an expected count below 5. p-values are adjusted
    by Holm's (1979, *Scandinavian Journal of Statistics* 6, 65-70) step-down method over the
    covariates. Overall: :math:`LR = 2(\ell_1 - \ell_0)` of the logit model of response on all
    covariates (categories dummy-coded, first level dropped, aliased columns removed) against
    the intercept-only model, referred to :math:`\chi^2` with as many df as covariate columns.
    """
    data = check_frame(data)
    r = indicator(data, responded, both=True)
    covs = as_list(covariates)
    if not covs:
        raise DataError("`covariates` is empty; name at least one Time 1 covariate.")
    check_columns(data, covs, what="covariate")
    rows: list[dict] = []
    tests: list[dict] = []
    for c in covs:
        s = data[c]
        if s.isna().any():
            raise DataError(f"covariate {c!r} has {int(s.isna().sum())} missing value(s) "
                            "(NaN); drop or impute those rows first.")
        check_not_mixed(s, f"covariate {c!r}")
        if s.nunique() < 2:
            raise DataError(f"covariate {c!r} is constant; it cannot differ by response.")
        if is_categorical(s):
            new_rows, test = _categorical_rows(c, s, r)
        elif pd.api.types.is_numeric_dtype(s):
            x = s.to_numpy(dtype=float)
            if not np.isfinite(x).all():
                raise DataError(f"covariate {c!r} has infinite values.")
            new_rows, test = _numeric_row(c, x, r)
        else:
            raise DataError(f"covariate {c!r} has unsupported dtype {s.dtype}.")
        rows.extend(new_rows)
        tests.append(test)
    tests_df = pd.DataFrame(tests, columns=["covariate", *TEST_COLUMNS])
    p = tests_df["p_value"].to_numpy(float)
    tests_df["p_holm"] = holm(p)
    table = pd.DataFrame(rows, columns=["covariate", "level", "kind", "mean_respondents",
                                        "mean_nonrespondents", "difference", "smd"])
    return NonresponseTests(table=table, tests=tests_df,
                            overall=_likelihood_ratio(data, covs, r))
