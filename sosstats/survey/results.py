"""The result of the design-based estimators of :mod:`sosstats.survey.estimates`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sosstats._results import Result, Summary, t_interval
from sosstats._validate import check_level

__all__ = ["SurveyEstimate"]

_LABEL = {"mean": "design-based mean", "total": "design-based total",
          "proportion": "design-based proportion", "quantile": "design-based quantile"}


@dataclass(frozen=True, eq=False, kw_only=True)
class SurveyEstimate(Result):
    """Means, totals, proportions or quantiles of a :class:`~sosstats.survey.SurveyDesign`.

    ``tidy()`` has one row per term (``variable``, or ``variable=level`` for proportions,
    ``variable@q`` for quantiles, followed by ``[by=domain]``) with the estimate, its
    design-based standard error, the test of 0 (means and totals; NaN for proportions and
    quantiles), ``df`` (the design's clusters - strata), the interval (t on ``df``; a
    proportion's by ``interval``, a quantile's by Woodruff's method), and ``variable``,
    ``level``, ``domain``, ``n`` (rows with the value and positive weight), ``sum_weights``
    (the estimated domain population), ``deff`` (design effect against simple random
    sampling) and ``ess`` (effective sample size ``n / deff``).

    Attributes
    ----------
    statistic_kind : {"mean", "total", "proportion", "quantile"}
    interval : str
        How the intervals are made (``"t"``, a proportion method, ``"woodruff"``).
    table : pandas.DataFrame
        The estimates table (without intervals).
    covariance : pandas.DataFrame
        Design covariance of the estimates (terms x terms); quantiles: the diagonal only
        (squared Woodruff SEs).
    design_note : str
        What the design is (clusters, strata, fpc, df).
    by : tuple of str
        Domain columns.
    nobs : int
        Rows of the design.
    level : float
        Default confidence level.
    """

    statistic_kind: str
    interval: str
    table: pd.DataFrame
    covariance: pd.DataFrame = field(repr=False)
    design_note: str
    by: tuple[str, ...]
    nobs: int
    level: float = 0.95
    notes: tuple[str, ...] = ()
    df_rule: str = "design"
    _ci: Callable[[float], pd.DataFrame] | None = field(default=None, repr=False)

    @property
    def method(self) -> str:  # type: ignore[override]
        """Short label of the estimator."""
        return _LABEL[self.statistic_kind]

    def _estimates(self) -> pd.DataFrame:
        return self.table.copy()

    def _interval(self, level: float) -> pd.DataFrame:
        if self._ci is not None:
            return self._ci(level)
        return t_interval(self.table, level)

    @property
    def cov(self) -> pd.DataFrame:
        """Design covariance of the estimates (a copy)."""
        return self.covariance.copy()

    def _notes(self) -> list[str]:
        on = "the design df" if self.df_rule == "design" else "each domain's df (domain_df)"
        what = {"t": f"t intervals on {on}",
                "woodruff": "Woodruff intervals (the interval of the proportion below the "
                            "estimate, mapped back through the quantile rule); SE = interval "
                            "width / (2 t)",
                "logit": f"logit-scale intervals (t on {on})",
                "xlogit": f"logit-scale intervals (t on {on})",
                "mean": f"symmetric intervals on the proportion scale (t on {on})",
                "beta": "Korn-Graubard (beta) intervals with the design-effect-adjusted "
                        "effective n (design effect 1 at 0% and 100%)",
                "wilson": "Wilson score intervals at the design-effect-adjusted effective n "
                          f"(t on {on})"}[self.interval]
        notes = [self.design_note, f"{what}; level {self.level:g}."]
        if self.statistic_kind in ("mean", "total"):
            notes.append(f"statistic, p_value: t test of 0 on {on}.")
        notes.append("deff: design variance / simple-random-sampling variance of the same "
                     "size (R survey's deff); ess = n / deff.")
        t = self.table
        if (t["ess"] > t["n"] * 1.5).any():
            notes.append("some deff are well below 1 (ess > n): with few PSUs in a domain the "
                         "design variance is itself imprecise; read those ess with care.")
        if self.by:
            notes.append(f"domains of {', '.join(self.by)} estimated as subpopulations "
                         "(every PSU kept in the variance).")
        return notes + list(self.notes)

    def summary(self, level: float | None = None) -> Summary:
        """Printable table; proportions in percent (estimate, SE and interval)."""
        level = check_level(self.level if level is None else level)
        tab = self.tidy(level).set_index("term")
        cols = ["estimate", "std_error", "ci_lower", "ci_upper", "df", "deff", "ess", "n"]
        if self.statistic_kind in ("mean", "total"):
            cols.insert(2, "p_value")
        out = tab[cols].copy()
        if self.statistic_kind == "proportion":
            for c in ("estimate", "std_error", "ci_lower", "ci_upper"):
                out[c] = 100 * out[c]
            out = out.rename(columns={"estimate": "percent", "std_error": "se (points)"})
        title = f"SurveyEstimate: {self.method}"
        return Summary(title, out, self._notes())

    def wide(self, value: str = "estimate", *, level: float | None = None) -> pd.DataFrame:
        """One row per domain, one column per variable (or variable=level): ``value`` of tidy.

        For the all / some / none table by group: ``design.proportion("use", by="group")
        .wide()``; ``value="ci_lower"`` etc. for the other columns.
        """
        tab = self.tidy(level)
        if value not in tab.columns:
            from sosstats.errors import DataError

            raise DataError(f"`value` must be a column of tidy(); got {value!r}.")
        col = tab["variable"].astype(str)
        if "level" in tab.columns:
            col = col.where(tab["level"].isna(), col + "=" + tab["level"].astype(str))
        elif self.statistic_kind == "quantile":
            col = col + "@" + tab["quantile"].map(lambda q: f"{q:g}")
        dom = tab["domain"].map(lambda d: "all" if d is None else d)
        frame = pd.DataFrame({"domain": dom, "column": col, "value": tab[value]})
        out = frame.pivot(index="domain", columns="column", values="value")
        order_c = list(dict.fromkeys(col))
        order_d = list(dict.fromkeys(dom))
        return out.loc[order_d, order_c].rename_axis(index=", ".join(self.by) or None,
                                                     columns=None)

    def plot(self, ax: Any = None, *, variable: str | None = None) -> Any:
        """Proportions: stacked bars of the levels by domain, each with its interval.

        Other statistics: the estimates with their intervals (one line per term). Returns the
        matplotlib Axes.
        """
        import matplotlib.pyplot as plt

        tab = self.tidy()
        if variable is not None:
            tab = tab[tab["variable"] == variable]
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.45 * max(3, tab["domain"].nunique()) + 1.5))
        if self.statistic_kind != "proportion":
            pos = np.arange(len(tab))[::-1]
            est = tab["estimate"].to_numpy(float)
            err = np.vstack([est - tab["ci_lower"].to_numpy(float),
                             tab["ci_upper"].to_numpy(float) - est])
            ax.errorbar(est, pos, xerr=err, fmt="o", color="C0", capsize=3)
            ax.set_yticks(pos)
            ax.set_yticklabels(tab["term"])
            ax.set_xlabel(f"{self.method} ({self.level:.0%} interval)")
            return ax
        first = tab["variable"].iloc[0]
        tab = tab[tab["variable"] == first]
        doms = list(dict.fromkeys(tab["domain"].map(lambda d: "all" if d is None else d)))
        levels = list(dict.fromkeys(tab["level"]))
        ypos = np.arange(len(doms))[::-1]
        left = np.zeros(len(doms))
        for j, lev in enumerate(levels):
            sel = tab[tab["level"] == lev]
            key = sel["domain"].map(lambda d: "all" if d is None else d)
            share = (100 * sel.set_index(key)["estimate"]).reindex(doms).to_numpy(float)
            lo = (100 * sel.set_index(key)["ci_lower"]).reindex(doms).to_numpy(float)
            hi = (100 * sel.set_index(key)["ci_upper"]).reindex(doms).to_numpy(float)
            share0 = np.nan_to_num(share)
            ax.barh(ypos, share0, left=left, color=f"C{j}", label=str(lev), height=0.6,
                    edgecolor="white")
            mid = left + share0
            ax.errorbar(mid, ypos + 0.18 - 0.36 * j / max(len(levels) - 1, 1),
                        xerr=np.vstack([share0 - np.where(np.isnan(lo), share0, lo),
                                        np.where(np.isnan(hi), share0, hi) - share0]).clip(0),
                        fmt="none", ecolor="black", capsize=2, lw=0.8)
            left = left + share0
        ax.set_yticks(ypos)
        ax.set_yticklabels([str(d) for d in doms])
        ax.set_xlim(0, 100)
        ax.set_xlabel(f"% of {first} ({self.level:.0%} {self.interval} interval at each "
                      "level's end)")
        ax.legend(title=str(first), bbox_to_anchor=(1.01, 1), loc="upper left")
        return ax
