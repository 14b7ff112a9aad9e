"""The result protocol shared by every sosstats estimator.

A result is a frozen object. Subclasses implement :meth:`Result._estimates`, a DataFrame indexed
by term with columns ``estimate``, ``std_error``, ``statistic`` and ``p_value`` (plus any extra
columns the method has). Everything else (``params``, ``std_errors``, ``pvalues``, ``conf_int``,
``tidy``, ``summary``, ``to_dict``) derives from it, so the vocabulary is the same everywhere.
Confidence intervals default to the normal approximation ``estimate +/- z * std_error``; a method
with a better interval (t with degrees of freedom, bootstrap percentiles) overrides
:meth:`Result._interval`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._validate import check_level

__all__ = ["Result", "Summary", "TIDY_COLUMNS", "format_number", "t_interval"]

TIDY_COLUMNS = ["term", "estimate", "std_error", "statistic", "p_value", "ci_lower", "ci_upper"]


def t_interval(est: pd.DataFrame, level: float) -> pd.DataFrame:
    """Student-t interval ``estimate +/- t_{df, (1+level)/2} * std_error`` per row of ``est``.

    ``est`` has columns ``estimate``, ``std_error`` and ``df``; rows with ``df`` below 1 or
    missing get NaN bounds.
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


class Result:
    """Base class of sosstats results (see the module docstring for the protocol).

    Subclasses are frozen dataclasses that set ``method`` (a short label) and ``nobs``.
    """

    method: str = ""
    level: float = 0.95

    # -- to be provided by subclasses -------------------------------------------------------
    def _estimates(self) -> pd.DataFrame:
        raise NotImplementedError

    def _interval(self, level: float) -> pd.DataFrame:
        """Normal-approximation interval; subclasses with a better one override this."""
        est = self._estimates()
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
        clean = [{k: _plain(v) for k, v in rec.items()} for rec in records]
        return {"method": self.method, "nobs": _plain(getattr(self, "nobs", None)),
                "estimates": clean}

    def plot(self, ax: Any = None) -> Any:
        """Draw the result; subclasses that have a picture override this."""
        raise NotImplementedError(f"{type(self).__name__} has no plot.")

    def __str__(self) -> str:
        return str(self.summary())


def _plain(value: Any) -> Any:
    """Convert numpy scalars to Python ones; NaN to None."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value
