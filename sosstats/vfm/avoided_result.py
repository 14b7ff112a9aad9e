r"""The result of :func:`sosstats.vfm.avoided_costs`: :class:`AvoidedCosts`.

Processes and costs avoided (or added) per pilot, pooled and in total, with Student-t intervals
from the neighbour comparison or percentile intervals from the draws of uncertain unit costs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sosstats._results import Result, Summary
from sosstats.errors import DataError
from sosstats.neighbours import ComparisonResult

__all__ = ["AvoidedCosts"]

_SHOW = ["estimate", "std_error", "statistic", "p_value", "ci_lower", "ci_upper", "df",
         "population", "gap", "unit_cost"]


@dataclass(frozen=True, eq=False, kw_only=True)
class AvoidedCosts(Result):
    """Result of :func:`avoided_costs`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per term: ``quantity`` (``processes`` or ``cost``), ``indicator`` (or
        ``total``), ``la_code`` (or ``pooled``), ``population``, ``gap`` (rate gap per
        ``per``: LA minus neighbours; pooled: ``-processes * per / population``),
        ``unit_cost`` (mean), ``estimate`` (avoided: positive means fewer processes than the
        neighbours' rates imply), ``std_error``, ``df``, ``statistic``, ``p_value``.
    comparison : ComparisonResult
        The neighbour comparison the gaps come from.
    draws : pandas.DataFrame or None
        Simulated draws when unit costs are uncertain: one row per term (indexed like
        ``table``, index name ``term``), one column per draw (``draw`` 0, 1, ...); the
        ``processes[...]`` rows do not depend on unit costs and are NaN. None when every unit
        cost is fixed. :meth:`draws_of` gives one term's draws as an array.
    """

    table: pd.DataFrame
    comparison: ComparisonResult = field(repr=False)
    draws: pd.DataFrame | None = field(repr=False)
    indicators: tuple
    treated: tuple
    pooling: str
    per: float
    n_draws: int | None
    nobs: int
    level: float = 0.95
    method: str = "processes avoided against statistical neighbours"

    def _estimates(self) -> pd.DataFrame:
        return self.table.drop(columns=["ci_lower", "ci_upper"])

    def _interval(self, level: float) -> pd.DataFrame:
        out = super()._interval(level)     # Student-t on the ``df`` column
        if self.draws is not None:
            draws = self.draws.to_numpy()
            sim = np.isfinite(draws).all(axis=1)
            lo, hi = np.quantile(draws[sim], [0.5 - level / 2, 0.5 + level / 2], axis=1)
            out.loc[sim, "lower"], out.loc[sim, "upper"] = lo, hi
        return out

    def draws_of(self, term: str) -> np.ndarray:
        """Return the draws of one cost term, e.g. ``draws_of("cost[total: pooled]")``.

        Returns a copy, shape ``(n_draws,)``, ready to be a flow of
        :func:`sosstats.vfm.budget` or an input of :func:`sosstats.vfm.psa`.

        Raises
        ------
        DataError
            When unit costs were fixed (no draws), ``term`` is not a term of the result, or
            ``term`` is a ``processes[...]`` row (counts do not depend on unit costs).
        """
        if self.draws is None:
            raise DataError("no draws: every unit cost was fixed; give distributions or arrays "
                            "of draws in `unit_costs_per_process` to simulate.")
        if not isinstance(term, str) or term not in self.draws.index:
            costs = [t for t in self.draws.index if t.startswith("cost[")]
            raise DataError(f"`term` {term!r} is not a term of this result; cost terms are "
                            f"{', '.join(costs[:12])}{' ...' if len(costs) > 12 else ''}.")
        row = self.draws.loc[term].to_numpy(dtype=float, copy=True)
        if not np.isfinite(row).all():
            raise DataError(f"`term` {term!r} has no draws: process counts do not depend on "
                            "unit costs; use its estimate and interval, or a cost[...] term.")
        return row

    def _part(self, quantity: str) -> pd.DataFrame:
        t = self.tidy()
        return t[t["quantity"] == quantity].set_index(["indicator", "la_code"]).drop(
            columns=["term", "quantity"])

    @property
    def processes(self) -> pd.DataFrame:
        """Processes avoided per pilot and pooled, by indicator, with intervals."""
        return self._part("processes")

    @property
    def costs(self) -> pd.DataFrame:
        """Costs avoided per pilot and pooled, by indicator and in total, with intervals."""
        return self._part("cost")

    @property
    def gaps(self) -> pd.DataFrame:
        """The comparison's pooled rows for the analysed indicators (rate gaps per 10,000).

        Indexed by ``indicator``; the gap (pilots minus neighbours) is ``estimate``, as in
        :attr:`sosstats.neighbours.ComparisonResult.pooled`.
        """
        pooled = self.comparison.pooled
        out = pooled.loc[[i for i in self.indicators if i in pooled.index]]
        return out.rename_axis("indicator").dropna(axis=1, how="all")

    def summary(self, level: float | None = None) -> Summary:
        """Estimates, standard errors, tests and intervals of every row."""
        table = self.tidy(level).set_index("term")
        return Summary(f"{type(self).__name__}: {self.method}",
                       table[[c for c in _SHOW if c in table.columns]], self._notes())

    def _notes(self) -> list[str]:
        n = self.nobs
        pool = ("sum over pilots of their processes (SE sqrt(n) x SD of the pilots' values)"
                if self.pooling == "sum" else "mean gap x pilots' population (the comparison's "
                "SE and t interval, scaled)")
        notes = [f"{n} treated LAs; avoided = (neighbour rate - LA rate) x population / "
                 f"{self.per:,.0f}; positive = fewer processes.",
                 f"pooled: {pool}; per pilot: SE = SD of the pilots' gaps x population "
                 "(conservative); t on n - 1 df.",
                 "total: cost summed over processes, with missing gaps counted as 0."]
        if self.draws is not None:
            notes.append(f"unit costs uncertain: {self.n_draws} draws; cost SE and interval "
                         "from draws of (estimate + SE x t) x unit cost; p-values at the mean "
                         "unit costs.")
        return notes

    def plot(self, ax: Any = None, *, names: Any = None, show_names: bool = True) -> Any:
        """Bars of the total cost avoided per pilot and pooled, with their intervals.

        Money in pounds with thousands separators (``£250,000``, no offset); pilots by LA name
        where their code is known (``sosstats._plotting.la_names``).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw into; by default a new figure.
        names : mapping or DataFrame, optional
            Extra code -> name pairs (or a frame with ``la_code`` and ``la_name``).
        show_names : bool
            Label pilots by name (default) or by code.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from sosstats._plotting import la_names, money_axis, new_axes

        ax = new_axes(ax, figsize=(6, 1 + 0.4 * (self.nobs + 1)))
        t = self.costs.loc["total"]
        y = np.arange(len(t))
        err = np.vstack([t["estimate"] - t["ci_lower"], t["ci_upper"] - t["estimate"]])
        ax.barh(y, t["estimate"], xerr=err, color=["C0"] * (len(t) - 1) + ["C3"], capsize=3)
        codes = [str(c) for c in t.index]
        ax.set_yticks(y, la_names(codes, names=names) if show_names else codes)
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.invert_yaxis()
        money_axis(ax, "x", nbins=5)
        ax.set_xlabel("cost avoided (positive) or added (negative), £")
        ax.set_title("Process costs against statistical neighbours")
        return ax
