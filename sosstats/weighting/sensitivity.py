r"""Sensitivity of Time 2 results to data missing not at random (MNAR).

:func:`manski_bounds` gives worst / best case bounds for the mean of a binary outcome (every
missing value 0, or every one 1), :func:`lee_bounds` the trimming bounds of Lee (2009) for a
difference between two groups that lost different shares of their members, and
:func:`tipping_point` the delta-adjustment analysis: how far the missing outcomes must move away
from their MAR predictions before the conclusion changes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sosstats._results import TableResult
from sosstats._validate import check_columns, check_frame, check_level
from sosstats.errors import DesignError, SosstatsWarning
from sosstats.weighting._lee import partial_mean
from sosstats.weighting._nr_common import factor, imbens_manski, indicator, outcome_values
from sosstats.weighting.tipping import TippingPoint, tipping_point

__all__ = ["ManskiBounds", "manski_bounds", "LeeBounds", "lee_bounds", "TippingPoint",
           "tipping_point"]

BOUND_COLUMNS = ["n", "respondents", "response_rate", "observed_mean", "lower", "upper",
                 "width", "se_lower", "se_upper", "ci_lower", "ci_upper"]


@dataclass(frozen=True, kw_only=True)
class _Bounded(TableResult):
    """Shared table, printing and plotting of an identified set with its confidence interval.

    ``tidy(level=)``, ``summary(level=)``, ``to_dict()`` and the printed form come from one
    table, ``table`` indexed by ``term``; at another ``level`` the Imbens-Manski interval is
    recomputed from the bounds and their standard errors.
    """

    table: pd.DataFrame
    level: float
    outcome: str

    def _table(self, level: float | None) -> pd.DataFrame:
        t = self.table.rename_axis("term").copy()
        if level is not None:
            t["ci_lower"], t["ci_upper"] = imbens_manski(
                t["lower"], t["upper"], t["se_lower"], t["se_upper"], check_level(level))
        return t

    def plot(self, ax: Any = None) -> Any:
        """Draw the identified sets (thick) and Imbens-Manski intervals (thin), one per row.

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn into: ``ax`` when given, else a new figure's.
        """
        import matplotlib.pyplot as plt

        t = self.table
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.45 * len(t) + 1.5))
        y = np.arange(len(t))[::-1]
        ax.hlines(y, t["ci_lower"], t["ci_upper"], color="C0", linewidth=1)
        ax.hlines(y, t["lower"], t["upper"], color="C0", linewidth=6, alpha=0.6)
        mid = "observed_mean" if "observed_mean" in t else "naive"
        ax.scatter(t[mid], y, color="C1", zorder=3, label="respondents only")
        ax.set_yticks(y)
        ax.set_yticklabels([str(i) for i in t.index])
        ax.set_xlabel(f"{self.outcome}: bounds and {self.level:.0%} Imbens-Manski interval")
        ax.legend(loc="best")
        return ax


# ----------------------------------------------------------------------------- Manski

@dataclass(frozen=True, kw_only=True)
class ManskiBounds(_Bounded):
    """Worst / best case bounds (returned by :func:`manski_bounds`).

    Attributes
    ----------
    table : pandas.DataFrame
        Indexed by group (``"all"`` without groups; ``"difference"`` added for two groups):
        ``n``, ``respondents``, ``response_rate``, ``observed_mean`` (respondents; for the
        difference the difference of the two), ``lower``, ``upper``, ``width``, ``se_lower``,
        ``se_upper``, ``ci_lower``, ``ci_upper`` (Imbens-Manski interval).
    level : float
        Confidence level of the intervals.
    outcome : str
        The outcome column.
    """

    method = "Manski bounds"

    @property
    def nobs(self) -> int:
        """Units (respondents and non-respondents) over all groups."""
        return int(self.table["n"].iloc[:-1].sum() if "difference" in self.table.index
                   else self.table["n"].sum())

    def _title(self) -> str:
        return f"Manski worst/best case bounds: mean of {self.outcome}"

    def _notes(self) -> list[str]:
        return ["Missing outcomes set to 0 (lower) and 1 (upper); Imbens-Manski intervals "
                f"(level {self.level:g} unless asked otherwise) cover the true mean."]


def _responded(data: pd.DataFrame, outcome: str, responded: str | None) -> np.ndarray:
    """Response indicator from its column, or (``responded=None``) a non-missing outcome."""
    if responded is None:
        check_columns(data, outcome, what="outcome")
        return data[outcome].notna().to_numpy()
    return indicator(data, responded)


def manski_bounds(data: pd.DataFrame, outcome: str, responded: str | None, *,
                  group: str | None = None, reference: Any = None,
                  level: float = 0.95) -> ManskiBounds:
    r"""Worst and best case (Manski) bounds for the mean of a binary outcome with missing values.

    Parameters
    ----------
    data : pandas.DataFrame
        The Time 1 sample, respondents and non-respondents. Not modified.
    outcome : str
        Binary outcome (0/1 or boolean) observed for respondents; other rows are ignored.
    responded : str or None
        Response indicator (0/1 or boolean); None: observed where ``outcome`` is not NaN.
    group : str, optional
        Groups (e.g. cohort, arm). With exactly two levels, the bounds of the difference
        (second level minus ``reference``) are added.
    reference : optional
        The level subtracted in the difference (default the first level).
    level : float, default 0.95
        Confidence level of the Imbens-Manski intervals.

    Returns
    -------
    ManskiBounds
        ``.table`` with one row per group (and the difference), ``.plot()``.

    Raises
    ------
    DataError
        Missing columns, a response indicator that is not 0/1, an outcome that is not binary
        among respondents or missing for a respondent, a group column with NaN.

    Warns
    -----
    SosstatsWarning
        A group without respondents (its bounds are [0, 1]).

    Notes
    -----
    With response share :math:`q` and respondents' mean :math:`\bar y_R` in a group, the mean
    lies in :math:`[q \bar y_R,\ q \bar y_R + 1 - q]`, whose width is the missing share (Manski
    1990, *American Economic Review* 80, 319-323). Both ends are sample means of
    :math:`L_i = r_i y_i` and :math:`U_i = r_i y_i + 1 - r_i`, with standard errors
    :math:`s_L/\sqrt n`, :math:`s_U/\sqrt n`. For groups 1 and 0 the difference lies in
    :math:`[L_1 - U_0,\ U_1 - L_0]`. The interval :math:`[\hat L - C \hat\sigma_L,\ \hat U +
    C \hat\sigma_U]` with :math:`\Phi(C + (\hat U - \hat L)/\max(\hat\sigma_L,\hat\sigma_U))
    - \Phi(-C) = \text{level}` covers the true value with the stated probability (Imbens and
    Manski 2004, *Econometrica* 72, 1845-1857).

    Examples
    --------
    >>> from sosstats.datasets import simulate_evaluation
    >>> fam = simulate_evaluation(rng=0, n_families=2000).families
    >>> mb = manski_bounds(fam, "knows_goals_t2", "responded_t2", group="cohort")
    >>> list(mb.table.index)
    ['1', '2', 'difference']
    """
    data = check_frame(data)
    level = check_level(level)
    r = _responded(data, outcome, responded)
    y = outcome_values(data, outcome, r, binary=True)
    codes, levels = (np.zeros(len(r), np.int64), ["all"]) if group is None else factor(
        data, group, reference=reference)
    k = len(levels)
    yr = np.where(r, y, 0.0)
    low_i, up_i = yr, yr + (~r)
    n = np.bincount(codes, minlength=k).astype(float)
    resp = np.bincount(codes, weights=r, minlength=k)
    lower = np.bincount(codes, weights=low_i, minlength=k) / n
    upper = np.bincount(codes, weights=up_i, minlength=k) / n

    def _se(v: np.ndarray, m: np.ndarray) -> np.ndarray:
        ss = np.bincount(codes, weights=(v - m[codes]) ** 2, minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(ss / np.maximum(n - 1, 1) / n)

    se_l, se_u = _se(low_i, lower), _se(up_i, upper)
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = np.bincount(codes, weights=yr, minlength=k) / resp
    empty = [str(levels[j]) for j in np.flatnonzero(resp == 0)]
    if empty:
        warnings.warn(f"group(s) {', '.join(empty)} have no respondents: their bounds are "
                      "[0, 1].", SosstatsWarning, stacklevel=2)
    table = pd.DataFrame({"n": n.astype(np.int64), "respondents": resp.astype(np.int64),
                          "response_rate": resp / n, "observed_mean": observed,
                          "lower": lower, "upper": upper, "width": upper - lower,
                          "se_lower": se_l, "se_upper": se_u},
                         index=pd.Index([str(v) for v in levels],
                                        name="group" if group is None else group))
    if k == 2:
        diff = {"n": int(n.sum()), "respondents": int(resp.sum()),
                "response_rate": resp.sum() / n.sum(),
                "observed_mean": observed[1] - observed[0],
                "lower": lower[1] - upper[0], "upper": upper[1] - lower[0],
                "se_lower": np.hypot(se_l[1], se_u[0]), "se_upper": np.hypot(se_u[1], se_l[0])}
        diff["width"] = diff["upper"] - diff["lower"]
        table.loc["difference"] = pd.Series(diff)
        table[["n", "respondents"]] = table[["n", "respondents"]].astype(np.int64)
    lo, hi = imbens_manski(table["lower"], table["upper"], table["se_lower"],
                           table["se_upper"], level)
    table["ci_lower"], table["ci_upper"] = lo, hi
    return ManskiBounds(table=table[BOUND_COLUMNS], level=level, outcome=outcome)


# ----------------------------------------------------------------------------- Lee

@dataclass(frozen=True, kw_only=True)
class LeeBounds(_Bounded):
    """Lee (2009) trimming bounds (returned by :func:`lee_bounds`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row, ``difference`` (``groups[1]`` minus ``groups[0]``): ``naive`` (difference of
        respondents' means) and its ``se_naive``, ``lower``, ``upper``, ``se_lower``,
        ``se_upper`` (analytic, Lee 2009 Proposition 3), ``ci_lower``, ``ci_upper``
        (Imbens-Manski).
    groups : tuple
        ``(reference, other)`` levels of the group column.
    response_rates : pandas.Series
        Response share per group.
    trimmed_group : object
        The group with the higher response share, whose respondents are trimmed.
    trimming_share : float
        :math:`p = (q_{more} - q_{less}) / q_{more}`, the share of its respondents trimmed.
    """

    groups: tuple = ()
    response_rates: pd.Series | None = None
    trimmed_group: Any = None
    trimming_share: float = 0.0

    method = "Lee bounds"

    def _title(self) -> str:
        return (f"Lee bounds: {self.outcome}, {self.groups[1]} - {self.groups[0]} "
                f"(trimming {self.trimming_share:.2%} of group {self.trimmed_group})")

    def _notes(self) -> list[str]:
        rates = ", ".join(f"{g}: {q:.3f}" for g, q in self.response_rates.items())
        return [f"Response shares {rates}. Analytic SEs (Lee 2009, Prop. 3); Imbens-Manski "
                f"interval (level {self.level:g} unless asked otherwise)."]


def lee_bounds(data: pd.DataFrame, outcome: str, group: str, responded: str | None, *,
               reference: Any = None, level: float = 0.95) -> LeeBounds:
    r"""Lee (2009) trimming bounds for a difference in means under differential attrition.

    Parameters
    ----------
    data : pandas.DataFrame
        The Time 1 sample. Not modified.
    outcome : str
        Numeric (or boolean) outcome observed for respondents; other rows are ignored.
    group : str
        Column with exactly two levels (e.g. treatment and comparison).
    responded : str or None
        Response indicator (0/1 or boolean); None: observed where ``outcome`` is not NaN.
    reference : optional
        The level subtracted (default the first level).
    level : float, default 0.95
        Confidence level of the Imbens-Manski interval.

    Returns
    -------
    LeeBounds

    Raises
    ------
    DataError
        Missing columns, a response indicator that is not 0/1, an outcome missing for a
        respondent, a group column with NaN.
    DesignError
        A group column without exactly two levels, or a group with fewer than two respondents.

    Notes
    -----
    Lee (2009, *Review of Economic Studies* 76, 1071-1102) assumes monotone response (whoever
    responds in the group with the lower response share :math:`q_{less}` would respond in the
    other). The respondents of the group with more response :math:`q_{more}` then include a
    share :math:`p = (q_{more} - q_{less})/q_{more}` of extra respondents; trimming that share
    from the top (bottom) of their outcome distribution gives the smallest (largest) mean of the
    always-respondents, :math:`\mu^{LB} = \tau^{-1}\int_0^{\tau} F^{-1}(u)\,du` and
    :math:`\mu^{UB} = \tau^{-1}\int_{1-\tau}^{1} F^{-1}(u)\,du`, :math:`\tau = 1 - p`, computed
    exactly on the empirical distribution (the observation at the cut gets a fractional
    weight, so ties are handled exactly). The bounds of the difference subtract (or are
    subtracted from) the other group's respondent mean.

    Standard errors follow Lee's Proposition 3 (its influence function): for the lower bound
    with cut :math:`\xi = F^{-1}(\tau)`,
    :math:`V = \widehat{\operatorname{Var}}(\min(Y, \xi)) / (\tau^2 r) + ((\xi - \mu^{LB})
    /\tau)^2 V_\tau + s_{other}^2 / r_{other}`, with :math:`r` respondents, :math:`V_\tau =
    \tau^2 \{(1-q_{more})/(n_{more} q_{more}) + (1 - q_{less})/(n_{less} q_{less})\}`;
    :math:`\operatorname{Var}(\min(Y,\xi))/\tau^2` equals Lee's
    :math:`\{\operatorname{Var}(Y|Y\le\xi) + (\xi - \mu)^2 p\}/(1-p)` for continuous
    :math:`Y`. The upper bound uses :math:`\max(Y, \xi)` with :math:`\xi = F^{-1}(1-\tau)`.
    Variances use divisor :math:`r - 1`. The interval is Imbens and Manski's (2004). When the
    response shares are equal the bounds collapse to the naive difference and the :math:`V_\tau`
    term keeps the SE conservative.

    Examples
    --------
    >>> from sosstats.datasets import simulate_evaluation
    >>> fam = simulate_evaluation(rng=0, n_families=2000).families
    >>> lb = lee_bounds(fam, "sdq_t2", "cohort", "responded_t2")
    >>> row = lb.table.loc["difference"]
    >>> bool(row["lower"] <= row["naive"] <= row["upper"])
    True
    """
    data = check_frame(data)
    level = check_level(level)
    r = _responded(data, outcome, responded)
    y = outcome_values(data, outcome, r)
    codes, levels = factor(data, group, reference=reference)
    if len(levels) != 2:
        raise DesignError(f"group {group!r} must have exactly two levels for Lee bounds; it "
                          f"has {len(levels)} ({', '.join(map(repr, levels[:6]))}).")
    n = np.bincount(codes, minlength=2).astype(float)
    resp = np.bincount(codes, weights=r, minlength=2)
    few = [str(levels[j]) for j in range(2) if resp[j] < 2]
    if few:
        raise DesignError(f"group(s) {', '.join(few)} of {group!r} have fewer than two "
                          "respondents; Lee bounds need at least two in each group.")
    q = resp / n
    more = int(q[1] > q[0])               # the trimmed group (ties: the reference, p = 0)
    less = 1 - more
    tau = q[less] / q[more]
    v_tau = tau**2 * ((1 - q[more]) / (n[more] * q[more]) + (1 - q[less]) / (n[less] * q[less]))
    y_more = np.sort(y[r & (codes == more)])
    y_less = y[r & (codes == less)]
    m_less, var_less = y_less.mean(), y_less.var(ddof=1) / y_less.size
    mu_lo, se_lo = partial_mean(y_more, tau, "lower", v_tau)
    mu_hi, se_hi = partial_mean(y_more, tau, "upper", v_tau)
    if more == 1:                          # trimmed group is the minuend
        lower, upper = mu_lo - m_less, mu_hi - m_less
        se = (np.sqrt(se_lo**2 + var_less), np.sqrt(se_hi**2 + var_less))
    else:                                  # trimmed group is the reference (subtracted)
        lower, upper = m_less - mu_hi, m_less - mu_lo
        se = (np.sqrt(se_hi**2 + var_less), np.sqrt(se_lo**2 + var_less))
    sign = 1.0 if more == 1 else -1.0
    naive = sign * (y_more.mean() - m_less)
    se_naive = np.sqrt(y_more.var(ddof=1) / y_more.size + var_less)
    lo, hi = imbens_manski(lower, upper, se[0], se[1], level)
    table = pd.DataFrame({"naive": naive, "se_naive": se_naive, "lower": lower, "upper": upper,
                          "width": upper - lower, "se_lower": se[0], "se_upper": se[1],
                          "ci_lower": lo, "ci_upper": hi},
                         index=pd.Index(["difference"], name="term"))
    return LeeBounds(table=table, level=level, outcome=outcome, groups=(levels[0], levels[1]),
                     response_rates=pd.Series(q, index=pd.Index(levels, name=group),
                                              name="response_rate"),
                     trimmed_group=levels[more], trimming_share=float(1 - tau))
