r"""The result of :func:`sosstats.vfm.budget`: :class:`BudgetView`.

Flows by year (means over draws), their present values, the net present value, the benefit-cost
ratio and the payback year, each with a percentile interval over draws when the flows are
draws; ``str()`` prints the yearly table in money, ``summary()`` the estimates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sosstats._results import Result
from sosstats._validate import check_level
from sosstats.vfm._format import FormattedSummary, format_money

__all__ = ["BudgetView"]

_TERMS = ("pv_investment", "pv_avoided", "npv", "bcr", "net_undiscounted")


@dataclass(frozen=True, eq=False, kw_only=True)
class BudgetView(Result):
    """Result of :func:`budget`.

    Attributes
    ----------
    years : pandas.Index
        Year labels (position 0 is year 0, undiscounted).
    investment, avoided : numpy.ndarray
        Total flows, shape ``(draws, years)`` (one row when fixed), in prices of
        ``price_year``.
    factors : numpy.ndarray
        Discount factor of each year.
    components : pandas.DataFrame
        Each flow by year (mean over draws), columns ``(kind, name)``.
    n_draws : int or None
        Number of draws; None when the flows are fixed.
    price_year : object
    rate : str
        The discount rate used, in words.
    """

    years: pd.Index
    investment: np.ndarray
    avoided: np.ndarray
    factors: np.ndarray
    components: pd.DataFrame
    n_draws: int | None
    price_year: Any = None
    rate: str = "Green Book schedule (3.5% for years 0-30)"
    level: float = 0.95
    method: str = "budget view (net present value, payback)"

    @property
    def nobs(self) -> int:
        """Number of draws (1 when the flows are fixed)."""
        return self.investment.shape[0]

    def _out(self, values: np.ndarray) -> Any:
        return float(values[0]) if self.n_draws is None else values

    @property
    def _net(self) -> np.ndarray:
        return self.avoided - self.investment

    @property
    def pv_investment(self) -> Any:
        """Present value of the investment (float; an array of draws with draws)."""
        return self._out(self.investment @ self.factors)

    @property
    def pv_avoided(self) -> Any:
        """Present value of the avoided costs."""
        return self._out(self.avoided @ self.factors)

    @property
    def npv(self) -> Any:
        """Net present value, ``pv_avoided - pv_investment``."""
        return self._out(self._net @ self.factors)

    @property
    def bcr(self) -> Any:
        """Benefit-cost ratio ``pv_avoided / pv_investment`` (NaN without investment).

        A float for fixed flows. With draws, an array of the per-draw ratios: their spread
        gives the interval in :meth:`tidy`, but the headline benefit-cost ratio (``tidy()``,
        ``summary()``, ``str()``) is the ratio of the mean present values,
        ``mean(PV(avoided)) / mean(PV(investment))``, not the mean of these ratios (which
        differs: with avoided costs independent of a varying investment it is larger, by
        Jensen's inequality).
        """
        inv = self.investment @ self.factors
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._out(np.where(inv > 0, (self.avoided @ self.factors) / inv, np.nan))

    @property
    def prob_positive(self) -> float:
        """Share of draws with a positive NPV (0 or 1 when the flows are fixed)."""
        return float(np.mean(self._net @ self.factors > 0))

    @staticmethod
    def _payback(inv: np.ndarray, net: np.ndarray, factors: np.ndarray) -> np.ndarray:
        cum = np.cumsum(net * factors, axis=-1)
        ok = (cum >= 0) & (np.cumsum(inv * factors, axis=-1) > 0)
        return np.where(ok.any(axis=-1), ok.argmax(axis=-1), np.nan)

    @property
    def payback_positions(self) -> np.ndarray:
        """Payback year of each draw as a position (0 = first year); NaN when never."""
        return self._payback(self.investment, self._net, self.factors)

    @property
    def prob_payback(self) -> float:
        """Share of draws that pay back within the horizon."""
        return float(np.mean(~np.isnan(self.payback_positions)))

    @property
    def payback_year(self) -> Any:
        """First year whose discounted cumulative net flow is >= 0 (mean flows); None if never.

        Years before any investment do not count. See :attr:`payback_explanation`.
        """
        inv, av = self.investment.mean(axis=0), self.avoided.mean(axis=0)
        pos = self._payback(inv, av - inv, self.factors)
        return None if np.isnan(pos) else self.years[int(pos)]

    @property
    def payback_explanation(self) -> str:
        """The payback year in words, or why there is none."""
        inv, av = self.investment.mean(axis=0), self.avoided.mean(axis=0)
        cum = np.cumsum((av - inv) * self.factors)
        if not (inv > 0).any():
            return "No investment: there is nothing to pay back."
        year = self.payback_year
        if year is None:
            return (f"No payback within the horizon: the discounted cumulative net flow is "
                    f"still {format_money(cum[-1])} at the end of year {self.years[-1]} (the last of "
                    f"{len(self.years)}).")
        pos = self.years.get_loc(year)
        text = (f"Pays back in year {year} ({pos} year(s) after the first): the discounted "
                f"cumulative net flow reaches {format_money(cum[pos])}.")
        again = np.flatnonzero(cum[pos:] < 0)
        if again.size:
            text += (f" It falls below zero again in year {self.years[pos + again[0]]} "
                     "(a later investment).")
        return text

    @property
    def table(self) -> pd.DataFrame:
        """Flows by year (means over draws): undiscounted, discounted and cumulative."""
        inv, av = self.investment.mean(axis=0), self.avoided.mean(axis=0)
        net = av - inv
        return pd.DataFrame({"investment": inv, "avoided": av, "net": net,
                             "cumulative_net": np.cumsum(net), "discount_factor": self.factors,
                             "discounted_investment": inv * self.factors,
                             "discounted_avoided": av * self.factors,
                             "discounted_net": net * self.factors,
                             "cumulative_discounted_net": np.cumsum(net * self.factors)},
                            index=self.years)

    def cumulative_interval(self, level: float | None = None) -> pd.DataFrame:
        """Percentile interval over draws of the cumulative discounted net flow, by year."""
        level = check_level(self.level if level is None else level)
        cum = np.cumsum(self._net * self.factors, axis=1)
        lo, hi = np.quantile(cum, [0.5 - level / 2, 0.5 + level / 2], axis=0)
        return pd.DataFrame({"lower": lo, "upper": hi}, index=self.years)

    def _draw_values(self) -> np.ndarray:
        inv, av = self.investment @ self.factors, self.avoided @ self.factors
        with np.errstate(divide="ignore", invalid="ignore"):
            bcr = np.where(inv > 0, av / inv, np.nan)
        return np.column_stack([inv, av, av - inv, bcr, self._net.sum(axis=1)])

    def _estimates(self) -> pd.DataFrame:
        inv, av = self.investment.mean(axis=0), self.avoided.mean(axis=0)
        pv_i, pv_a = inv @ self.factors, av @ self.factors
        est = [pv_i, pv_a, pv_a - pv_i, pv_a / pv_i if pv_i > 0 else np.nan, (av - inv).sum()]
        if self.n_draws is None or self.n_draws < 2:
            sd = np.full(len(_TERMS), np.nan)
        else:
            with np.errstate(invalid="ignore"):
                sd = np.nanstd(self._draw_values(), axis=0, ddof=1)
        out = pd.DataFrame({"estimate": est, "std_error": sd, "statistic": np.nan,
                            "p_value": np.nan}, index=list(_TERMS))
        out["price_year"] = None if self.price_year is None else str(self.price_year)
        return out

    def _interval(self, level: float) -> pd.DataFrame:
        if self.n_draws is None:
            lo = hi = np.full(len(_TERMS), np.nan)
        else:
            with np.errstate(invalid="ignore"):
                lo, hi = np.nanquantile(self._draw_values(), [0.5 - level / 2, 0.5 + level / 2],
                                        axis=0)
        return pd.DataFrame({"lower": lo, "upper": hi}, index=list(_TERMS))

    def _notes(self) -> list[str]:
        est = self._estimates()["estimate"]
        prices = (f"prices of {self.price_year}" if self.price_year is not None
                  else "price year not given")
        bcr = f"benefit-cost ratio {est['bcr']:.3g}"
        if self.n_draws is not None:
            with np.errstate(invalid="ignore"):
                bcr += (f" (ratio of the mean PVs; the mean of the per-draw ratios is "
                        f"{np.nanmean(self._draw_values()[:, 3]):.3g})")
        notes = [f"{len(self.years)} years ({prices}); discounted at {self.rate}, year "
                 f"{self.years[0]} undiscounted.",
                 f"NPV {format_money(est['npv'])}; {bcr}.",
                 self.payback_explanation]
        if self.n_draws is not None:
            lo, hi = self.conf_int().loc["npv"]
            notes.append(f"{self.n_draws} draws: NPV {self.level:.0%} interval {format_money(lo)} "
                         f"to {format_money(hi)}; P(NPV > 0) = {self.prob_positive:.3f}; share "
                         f"paying back within the horizon {self.prob_payback:.3f}. Table: means "
                         "over draws.")
        return notes

    def __str__(self) -> str:
        """The yearly table in money (``summary()`` has the estimates and intervals)."""
        title = "Budget view: investment against avoided costs, by year"
        formats = {c: format_money for c in self.table.columns if c != "discount_factor"}
        formats["discount_factor"] = "{:.4f}".format
        return str(FormattedSummary(title, self.table, self._notes(), formats=formats))

    def plot(self, ax: Any = None) -> Any:
        """Cumulative discounted net flow by year, with its interval and the payback year.

        The money axis reads in pounds with thousands separators (``£1,250,000``, no offset).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw into; by default a new figure.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from sosstats._plotting import money_axis, money_label, new_axes

        ax = new_axes(ax, figsize=(6.5, 4))
        t = self.table
        pos = np.arange(len(t))
        ax.plot(pos, t["cumulative_discounted_net"], marker="o", color="navy",
                label="cumulative net (discounted)")
        ax.plot(pos, t["cumulative_net"], linestyle=":", color="grey",
                label="cumulative net (undiscounted)")
        if self.n_draws is not None:
            band = self.cumulative_interval()
            ax.fill_between(pos, band["lower"], band["upper"], color="navy", alpha=0.15,
                            label=f"{self.level:.0%} interval")
        ax.axhline(0, color="black", linewidth=0.8)
        year = self.payback_year
        if year is not None:
            at = self.years.get_loc(year)
            ax.axvline(at, color="forestgreen", linestyle="--", label=f"payback: {year}")
        ax.set_xticks(pos)
        ax.set_xticklabels([str(y) for y in self.years])
        ax.set_xlabel("year")
        ax.set_ylabel(f"£{f' ({self.price_year} prices)' if self.price_year else ''}")
        money_axis(ax, "y")
        npv = money_label(self._estimates()["estimate"]["npv"])
        ax.set_title(f"Cumulative net flow: NPV {npv}")
        ax.legend(loc="best", fontsize="small")
        return ax
