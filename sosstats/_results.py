"""The result protocol shared by every sosstats estimator.

Every public result object of sosstats sits on one of two bases:

- :class:`Result`, for estimates. Subclasses implement :meth:`Result._estimates`, a DataFrame
  indexed by term with columns ``estimate``, ``std_error``, ``statistic`` and ``p_value`` (plus
  any extra columns the method has). Everything else (``params``, ``std_errors``, ``pvalues``,
  ``conf_int``, ``tidy``, ``summary``, ``to_dict``, ``__str__``, ``_repr_html_``) derives from it,
  so the vocabulary is the same everywhere. Intervals are Student-t with the table's ``df``
  column when it has one (``df = inf`` is the normal; missing or < 1 gives NaN bounds), else the
  normal approximation ``estimate +/- z * std_error``; a method with another interval (bootstrap
  percentiles, a proportion's logit interval) overrides :meth:`Result._interval`.
- :class:`TableResult`, for tables that are not estimates of terms: tests, bounds, diagnostics,
  rankings, distributions. Subclasses implement :meth:`TableResult._table`; ``tidy()``,
  ``summary()``, ``to_dict()``, ``__str__`` and ``_repr_html_`` come from that one table.

A result without a picture has no ``plot`` attribute (neither base defines one).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._validate import check_level

__all__ = ["Result", "TableResult", "Summary", "TIDY_COLUMNS", "format_number", "t_interval",
           "plain"]

TIDY_COLUMNS = ["term", "estimate", "std_error", "statistic", "p_value", "ci_lower", "ci_upper"]


def t_interval(est: pd.DataFrame, level: float) -> pd.DataFrame:
    """Student-t interval ``estimate +/- t_{df, (1+level)/2} * std_error`` per row of ``est``.

    ``est`` has columns ``estimate``, ``std_error`` and ``df``; rows with ``df`` below 1 or
    missing get NaN bounds; ``df = inf`` gives the normal interval.
    """
    df = est["df"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        q = np.where(df >= 1, stats.t.ppf(0.5 + level / 2, np.where(df >= 1, df, 1.0)), np.nan)
    half = q * est["std_error"].to_numpy(dtype=float)
    return pd.DataFrame({"lower": est["estimate"] - half, "upper": est["estimate"] + half},
                        index=est.index)


def format_number(value: float) -> str:
    """Format a table entry: four significant digits, large whole numbers in full.

    Values from 10,000 to 1e12 print as ``12,780`` rather than ``1.278e+04`` (effective sample
    sizes, counts, money).
    """
    if np.isfinite(value) and 9999.5 <= abs(value) < 1e12:
        return f"{value:,.0f}"
    return f"{value:,.4g}"


class Summary:
    """A printable summary table: ``str()`` for the console, ``_repr_html_`` for notebooks.

    Parameters
    ----------
    title : str
        First line of the printed table.
    table : pandas.DataFrame
        The body.
    notes : list of str
        Lines printed under the table.
    """

    def __init__(self, title: str, table: pd.DataFrame, notes: list[str] | None = None) -> None:
        self.title = title
        self.table = table
        self.notes = list(notes or [])

    def to_frame(self) -> pd.DataFrame:
        """Return the body of the summary as a DataFrame (a copy)."""
        return self.table.copy()

    def __str__(self) -> str:
        with pd.option_context("display.width", 140, "display.max_columns", 30,
                               "display.float_format", format_number):
            body = self.table.to_string()
        rule = "=" * max(len(self.title), max((len(line) for line in body.splitlines()),
                                               default=0))
        lines = [self.title, rule, body, rule.replace("=", "-")] + self.notes
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        notes = "".join(f"<p>{n}</p>" for n in self.notes)
        return f"<h4>{self.title}</h4>{self.table.to_html(float_format=format_number)}{notes}"


class _PrintsSummary:
    """What both result bases print: ``str``, ``repr`` and the notebook's HTML are the
    subclass's ``summary()``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # the printed summary is the repr too (at the prompt, ``res`` shows what print shows);
        # set on each subclass so that @dataclass, which keeps a class's own __repr__, does
        # not replace it with a field dump
        super().__init_subclass__(**kwargs)
        if "__repr__" not in cls.__dict__:
            cls.__repr__ = cls.__str__

    def __str__(self) -> str:
        return str(self.summary())

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


class Result(_PrintsSummary):
    """Base class of sosstats results (see the module docstring for the protocol).

    Subclasses are frozen dataclasses that set ``method`` (a short label) and ``nobs``.
    """

    method: str = ""
    level: float = 0.95

    # -- to be provided by subclasses -------------------------------------------------------
    def _estimates(self) -> pd.DataFrame:
        raise NotImplementedError

    def _interval(self, level: float) -> pd.DataFrame:
        """Student-t interval when the estimates have a ``df`` column, else the normal one.

        Subclasses with another interval (bootstrap percentiles, logit-scale) override this.
        """
        est = self._estimates()
        if "df" in est.columns:
            return t_interval(est, level)
        z = stats.norm.ppf(0.5 + level / 2)
        return pd.DataFrame({"lower": est["estimate"] - z * est["std_error"],
                             "upper": est["estimate"] + z * est["std_error"]}, index=est.index)

    def _notes(self) -> list[str]:
        return []

    # -- shared vocabulary ------------------------------------------------------------------
    @property
    def params(self) -> pd.Series:
        """Point estimates, indexed by term."""
        return self._estimates()["estimate"].rename("estimate")

    @property
    def std_errors(self) -> pd.Series:
        """Standard errors, indexed by term."""
        return self._estimates()["std_error"].rename("std_error")

    @property
    def statistic(self) -> pd.Series:
        """Test statistics, indexed by term."""
        return self._estimates()["statistic"].rename("statistic")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values, indexed by term."""
        return self._estimates()["p_value"].rename("p_value")

    def conf_int(self, level: float | None = None) -> pd.DataFrame:
        """Intervals at ``level`` (default: the result's ``level``): ``lower``, ``upper``."""
        return self._interval(check_level(self.level if level is None else level))

    def tidy(self, level: float | None = None) -> pd.DataFrame:
        """One row per term: ``term, estimate, std_error, statistic, p_value, ci_lower, ci_upper``.

        Intervals at ``level`` (default: the result's ``level``). Methods with more to say add
        columns after these.
        """
        est = self._estimates()
        ci = self.conf_int(level)
        out = est.copy()
        out["ci_lower"] = ci["lower"]
        out["ci_upper"] = ci["upper"]
        out = out.rename_axis("term").reset_index()
        extra = [c for c in out.columns if c not in TIDY_COLUMNS]
        return out[TIDY_COLUMNS + extra]

    def summary(self, level: float | None = None) -> Summary:
        """Return a printable summary (``str(result.summary())``; ``.to_frame()`` for the table)."""
        title = f"{type(self).__name__}: {self.method}" if self.method else type(self).__name__
        table = self.tidy(level).set_index("term")
        return Summary(title, table, self._notes())

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dictionary of the estimates (JSON-serialisable)."""
        records = self.tidy().to_dict(orient="records")
        clean = [{k: plain(v) for k, v in rec.items()} for rec in records]
        return {"method": self.method, "nobs": plain(getattr(self, "nobs", None)),
                "estimates": clean}


class TableResult(_PrintsSummary):
    """Base class of table-style results: tests, bounds, diagnostics, rankings, distributions.

    Subclasses implement :meth:`_table` (one DataFrame, indexed by what a row is: a term, an
    indicator, a variable, a test) and may override :meth:`_title` and :meth:`_notes`. A result
    whose table holds intervals computed at fit time keeps that ``level``; asking ``tidy`` for
    another raises :class:`~sosstats.errors.DesignError` unless the subclass can recompute it
    (it then honours the ``level`` passed to :meth:`_table`).
    """

    method: str = ""
    level: float | None = None

    # -- to be provided by subclasses -------------------------------------------------------
    def _table(self, level: float | None) -> pd.DataFrame:
        """The result's one table at ``level`` (the fit's level when None)."""
        raise NotImplementedError

    def _title(self) -> str:
        return f"{type(self).__name__}: {self.method}" if self.method else type(self).__name__

    def _notes(self) -> list[str]:
        return []

    def _fit_level(self, level: float | None) -> float | None:
        """``level`` checked against the fit's: intervals computed at fit time cannot change."""
        if level is None or self.level is None:
            return self.level if level is None else check_level(level)
        level = check_level(level)
        if not np.isclose(level, self.level):
            from sosstats.errors import DesignError

            raise DesignError(f"{type(self).__name__}'s intervals were computed at level "
                              f"{self.level}; rerun with level={level} to get others.")
        return level

    # -- shared vocabulary ------------------------------------------------------------------
    def tidy(self, level: float | None = None) -> pd.DataFrame:
        """The result's table as a plain DataFrame: its index becomes the first column(s)."""
        table = self._table(level)
        if any(name is not None for name in table.index.names):
            return table.reset_index()
        return table.reset_index(drop=True)

    def summary(self, level: float | None = None) -> Summary:
        """Return a printable summary (``str(result.summary())``; ``.to_frame()`` for the table)."""
        return Summary(self._title(), self._table(level), self._notes())

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dictionary of the table (JSON-serialisable)."""
        records = self.tidy().to_dict(orient="records")
        clean = [{str(k): plain(v) for k, v in rec.items()} for rec in records]
        return {"method": self.method, "nobs": plain(getattr(self, "nobs", None)),
                "table": clean}


def plain(value: Any) -> Any:
    """Convert numpy scalars to Python ones, NaN and NaT to None (for JSON)."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value
