"""Binary and ordinal change between two waves: paired tables and their tests.

Families answer the same binary or ordinal question at Time 1 and Time 2; the data are WIDE (one
row per family, a ``before`` and an ``after`` column). This module tests whether the marginal
distribution moved:

- :func:`mcnemar`: binary outcome, exact (binomial) or asymptotic (chi-square with or without
  continuity correction) McNemar test, with the change in proportion and the conditional odds
  ratio of the change;
- :func:`stuart_maxwell`: ``k`` categories, Stuart-Maxwell test of marginal homogeneity;
- :func:`mcnemar_from_table` / :func:`stuart_maxwell_from_table`: the same from a ready table;
- :func:`paired_table`: the ``before`` x ``after`` cross-table.

The models (conditional logit of a binary outcome, ordered logit of T2 on T1 with
cluster-robust errors) live in :mod:`sosstats.panel.conditional_logit` and
:mod:`sosstats.panel.ordered_logit`; they are re-exported here for older imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._results import TableResult
from sosstats._validate import check_columns, check_frame, check_option
from sosstats.errors import DataError, DesignError
from sosstats.panel.conditional_logit import ConditionalLogitResult, conditional_logit
from sosstats.panel.ordered_logit import OrderedChangeResult, ordered_change

__all__ = [
    "PairedTest",
    "McNemarResult",
    "StuartMaxwellResult",
    "paired_table",
    "mcnemar",
    "mcnemar_from_table",
    "stuart_maxwell",
    "stuart_maxwell_from_table",
    "conditional_logit",
    "ordered_change",
    "ConditionalLogitResult",
    "OrderedChangeResult",
]


@dataclass(frozen=True, eq=False, kw_only=True)
class PairedTest(TableResult):
    """Result of a test on a paired ``before`` x ``after`` table (a one-row table result).

    ``tidy()``, ``summary()``, ``to_dict()`` and ``str()`` come from
    :class:`~sosstats._results.TableResult`: one row indexed by ``test`` (the method) with
    ``statistic``, ``df``, ``p_value``, ``nobs``, ``n_dropped`` and the subclass's extras; the
    printed summary shows the paired table under it.

    Attributes
    ----------
    statistic : float
        The test statistic (see ``method``).
    p_value : float
        Two-sided p-value.
    df : int or None
        Degrees of freedom of the chi-square reference distribution (None for exact tests).
    method : str
        What was computed.
    table : pandas.DataFrame
        The paired table: rows ``before``, columns ``after``.
    nobs : int
        Pairs used.
    n_dropped : int
        Rows dropped because ``before`` or ``after`` was missing.
    """

    statistic: float
    p_value: float
    df: int | None
    method: str
    table: pd.DataFrame = field(repr=False)
    nobs: int
    n_dropped: int

    def _extra(self) -> dict[str, Any]:
        return {}

    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)
        row = {"statistic": [self.statistic],
               "df": pd.array([self.df], dtype="Int64"),
               "p_value": [self.p_value], "nobs": [int(self.nobs)],
               "n_dropped": [int(self.n_dropped)],
               **{k: [v] for k, v in self._extra().items()}}
        return pd.DataFrame(row, index=pd.Index([self.method], name="test"))

    def _title(self) -> str:
        return self.method

    def _notes(self) -> list[str]:
        return [f"{self.nobs} pairs, {self.n_dropped} dropped for a missing value; the paired "
                "table (rows before, columns after):", *str(self.table).splitlines()]


@dataclass(frozen=True, eq=False, kw_only=True)
class McNemarResult(PairedTest):
    """McNemar test; adds the discordant counts and the size of the change.

    Attributes
    ----------
    n_up, n_down : int
        Pairs that went 0 -> 1 and 1 -> 0.
    difference : float
        Change in the proportion of ones, ``(n_up - n_down) / nobs``.
    odds_ratio : float
        ``n_up / n_down``: the conditional (within-pair) odds ratio of a one at ``after``
        versus ``before``, which is the conditional-logit estimate of the time effect.
    """

    n_up: int = 0
    n_down: int = 0
    difference: float = float("nan")
    odds_ratio: float = float("nan")

    def _extra(self) -> dict[str, Any]:
        return {"n_up": int(self.n_up), "n_down": int(self.n_down),
                "difference": self.difference, "odds_ratio": self.odds_ratio}


@dataclass(frozen=True, eq=False, kw_only=True)
class StuartMaxwellResult(PairedTest):
    """Stuart-Maxwell test; adds the marginal distributions.

    Attributes
    ----------
    margins : pandas.DataFrame
        Per category: ``before`` and ``after`` counts and their ``difference``
        (``after - before``).
    """

    margins: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)


# -- tables ---------------------------------------------------------------------------------

def _pairs(data: pd.DataFrame, before: str, after: str,
           missing: str) -> tuple[pd.Series, pd.Series, int]:
    """Return the non-missing (before, after) pairs and the number of rows dropped."""
    data = check_frame(data)
    check_columns(data, [before, after])
    check_option(missing, ("drop", "raise"), "missing")
    if before == after:
        raise DataError(f"`before` and `after` are the same column {before!r}.")
    keep = data[before].notna() & data[after].notna()
    n_dropped = int((~keep).sum())
    if n_dropped and missing == "raise":
        raise DataError(f"{n_dropped} rows have {before!r} or {after!r} missing; drop them or "
                        "use missing='drop'.")
    if not keep.any():
        raise DataError(f"no row has both {before!r} and {after!r} observed.")
    return _tidy_codes(data.loc[keep, before]), _tidy_codes(data.loc[keep, after]), n_dropped


def _tidy_codes(s: pd.Series) -> pd.Series:
    """Whole-number floats (an integer column with NaN) as integers, so 2 and 2.0 match."""
    if pd.api.types.is_float_dtype(s) and np.all(np.mod(s.to_numpy(), 1) == 0):
        return s.astype(np.int64)
    return s


def _levels(x: pd.Series, y: pd.Series, categories: Sequence[Any] | None,
            before: str, after: str) -> list[Any]:
    if categories is not None:
        cats = list(categories)
        if len(set(cats)) != len(cats):
            raise DataError("`categories` repeats a level.")
        for name, s in ((before, x), (after, y)):
            extra = sorted(set(pd.unique(s)) - set(cats), key=str)
            if extra:
                raise DataError(f"column {name!r} has values {extra[:10]} that are not in "
                                f"`categories` {cats}.")
        return cats
    for s in (x, y):
        if isinstance(s.dtype, pd.CategoricalDtype):
            return list(s.cat.categories)
    values = pd.unique(pd.concat([x, y], ignore_index=True))
    try:
        return sorted(values.tolist())
    except TypeError:
        return sorted(values.tolist(), key=str)


def _crosstab(x: pd.Series, y: pd.Series, cats: list[Any]) -> np.ndarray:
    k = len(cats)
    pos = {c: i for i, c in enumerate(cats)}
    i = np.fromiter((pos[v] for v in x.tolist()), dtype=np.int64, count=len(x))
    j = np.fromiter((pos[v] for v in y.tolist()), dtype=np.int64, count=len(y))
    return np.bincount(i * k + j, minlength=k * k).reshape(k, k)


def paired_table(data: pd.DataFrame, before: str, after: str, *,
                 categories: Sequence[Any] | None = None,
                 missing: Literal["drop", "raise"] = "drop") -> pd.DataFrame:
    """Cross-table of ``before`` (rows) by ``after`` (columns) over complete pairs.

    Parameters
    ----------
    data : pandas.DataFrame
        Wide data, one row per unit.
    before, after : str
        Columns holding the outcome at the two waves.
    categories : sequence, optional
        Levels in order; default the categories of an ordered categorical column, else the
        sorted union of observed values.
    missing : {"drop", "raise"}
        Drop rows with either value missing (default) or raise.

    Returns
    -------
    pandas.DataFrame
        Integer counts, index named ``before``, columns named ``after``.
    """
    x, y, _ = _pairs(data, before, after, missing)
    cats = _levels(x, y, categories, before, after)
    counts = _crosstab(x, y, cats)
    return pd.DataFrame(counts, index=pd.Index(cats, name=before),
                        columns=pd.Index(cats, name=after))


def _as_table(table: Any, *, binary: bool) -> pd.DataFrame:
    if isinstance(table, pd.DataFrame):
        frame = table.copy()
    else:
        arr = np.asarray(table)
        if arr.ndim != 2:
            raise DataError(f"`table` must be two-dimensional; got shape {arr.shape}.")
        frame = pd.DataFrame(arr)
    r, c = frame.shape
    if r != c:
        raise DataError(f"`table` must be square (before x after); got {r} x {c}.")
    if binary and r != 2:
        raise DataError(f"McNemar needs a 2 x 2 table; got {r} x {c}.")
    if r < 2:
        raise DesignError("a paired table needs at least two categories.")
    try:
        values = frame.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError("`table` must hold counts (numbers).") from exc
    if not np.isfinite(values).all() or (values < 0).any():
        raise DataError("`table` counts must be finite and non-negative.")
    if not np.allclose(values, np.round(values)):
        raise DataError("`table` counts must be whole numbers.")
    return frame.astype(np.int64)


# -- McNemar --------------------------------------------------------------------------------

def _mcnemar_core(table: pd.DataFrame, exact: bool, correction: bool, nobs: int,
                  n_dropped: int) -> McNemarResult:
    t = table.to_numpy()
    up, down = int(t[0, 1]), int(t[1, 0])
    n_disc = up + down
    if exact:
        p = 1.0 if n_disc == 0 else min(1.0, 2.0 * stats.binom.cdf(min(up, down), n_disc, 0.5))
        statistic, df = float(up), None
        method = "McNemar exact (binomial) test"
    else:
        if n_disc == 0:
            raise DesignError("no discordant pairs: the asymptotic McNemar statistic is "
                              "undefined; use exact=True (p = 1).")
        num = abs(up - down) - (1.0 if correction else 0.0)   # as R's mcnemar.test
        statistic, df = num ** 2 / n_disc, 1
        p = float(stats.chi2.sf(statistic, 1))
        method = ("McNemar chi-square test with continuity correction" if correction
                  else "McNemar chi-square test")
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.float64(up) / np.float64(down)
    return McNemarResult(statistic=float(statistic), p_value=float(p), df=df, method=method,
                         table=table, nobs=nobs, n_dropped=n_dropped, n_up=up, n_down=down,
                         difference=(up - down) / nobs if nobs else float("nan"),
                         odds_ratio=float(odds))


def mcnemar_from_table(table: Any, *, exact: bool = True,
                       correction: bool = True) -> McNemarResult:
    """McNemar test from a 2 x 2 paired table (rows before, columns after; 0 then 1).

    See :func:`mcnemar` for the maths.
    """
    frame = _as_table(table, binary=True)
    return _mcnemar_core(frame, exact, correction, int(frame.to_numpy().sum()), 0)


def mcnemar(data: pd.DataFrame, before: str, after: str, *, exact: bool = True,
            correction: bool = True,
            missing: Literal["drop", "raise"] = "drop") -> McNemarResult:
    r"""McNemar test of a change in a binary outcome between two waves.

    Parameters
    ----------
    data : pandas.DataFrame
        Wide data, one row per unit (family).
    before, after : str
        Binary columns (0/1 or bool) at Time 1 and Time 2.
    exact : bool, default True
        Exact binomial test on the discordant pairs; False for the chi-square approximation.
    correction : bool, default True
        Continuity (Edwards) correction of the chi-square statistic (ignored when exact).
    missing : {"drop", "raise"}
        Rows with either value missing are dropped (counted in ``n_dropped``) or raise.

    Returns
    -------
    McNemarResult
        ``statistic`` (``n_up`` for the exact test, the chi-square otherwise), ``p_value``,
        ``df``, ``method``, ``table``, ``n_up``, ``n_down``, ``difference``, ``odds_ratio``.

    Notes
    -----
    With :math:`b` pairs going 0 -> 1 and :math:`c` going 1 -> 0, under the null of marginal
    homogeneity :math:`b \mid b + c \sim \text{Bin}(b + c, 1/2)`. The exact two-sided p-value is
    :math:`\min\{1, 2 P(B \le \min(b, c))\}`; the asymptotic statistic is
    :math:`(|b - c| - 1)^2 / (b + c)` with correction (as R's ``mcnemar.test`` and statsmodels,
    also when :math:`b = c`) and :math:`(b - c)^2 / (b + c)` without,
    referred to :math:`\chi^2_1`. The concordant pairs carry no information. ``b / c`` is the
    conditional maximum likelihood estimate of the within-pair odds ratio (the time effect of a
    two-wave conditional logit, :func:`conditional_logit`).

    References
    ----------
    McNemar, Q. (1947). Note on the sampling error of the difference between correlated
    proportions or percentages. *Psychometrika* 12(2), 153-157.
    Agresti, A. (2013). *Categorical Data Analysis*, 3rd ed., section 11.1. Wiley.
    """
    x, y, n_dropped = _pairs(data, before, after, missing)
    for name, s in ((before, x), (after, y)):
        values = set(pd.unique(s).tolist())
        if not values <= {0, 1}:   # True == 1 and False == 0, so bool passes
            bad = sorted(values - {0, 1}, key=str)[:10]
            raise DataError(f"McNemar needs a binary (0/1) column; {name!r} has values {bad}.")
    x = x.astype(np.int64)
    y = y.astype(np.int64)
    counts = _crosstab(x, y, [0, 1])
    table = pd.DataFrame(counts, index=pd.Index([0, 1], name=before),
                         columns=pd.Index([0, 1], name=after))
    return _mcnemar_core(table, exact, correction, int(len(x)), n_dropped)


# -- Stuart-Maxwell -------------------------------------------------------------------------

def _stuart_maxwell_core(table: pd.DataFrame, nobs: int, n_dropped: int) -> StuartMaxwellResult:
    n = table.to_numpy().astype(float)
    rows, cols = n.sum(axis=1), n.sum(axis=0)
    d = rows - cols
    cov = -(n + n.T)
    np.fill_diagonal(cov, rows + cols - 2.0 * np.diag(n))
    # drop one category (the covariance of all k differences is singular); categories with no
    # off-diagonal pairs have zero variance and are dropped too: a pseudo-inverse of the
    # remaining matrix with df = its rank does both.
    keep = np.diag(cov) > 0
    sub_d, sub_cov = d[keep][:-1], cov[np.ix_(keep, keep)][:-1, :-1]
    dfree = int(np.linalg.matrix_rank(sub_cov)) if sub_d.size else 0
    if dfree == 0:
        statistic, p = 0.0, 1.0
    else:
        statistic = float(sub_d @ np.linalg.pinv(sub_cov) @ sub_d)
        p = float(stats.chi2.sf(statistic, dfree))
    margins = pd.DataFrame({"before": rows.astype(np.int64), "after": cols.astype(np.int64),
                            "difference": (cols - rows).astype(np.int64)}, index=table.index)
    return StuartMaxwellResult(statistic=statistic, p_value=p, df=dfree,
                               method="Stuart-Maxwell test of marginal homogeneity",
                               table=table, nobs=nobs, n_dropped=n_dropped, margins=margins)


def stuart_maxwell_from_table(table: Any) -> StuartMaxwellResult:
    """Stuart-Maxwell test from a square ``k x k`` paired table (rows before, columns after).

    See :func:`stuart_maxwell` for the maths.
    """
    frame = _as_table(table, binary=False)
    return _stuart_maxwell_core(frame, int(frame.to_numpy().sum()), 0)


def stuart_maxwell(data: pd.DataFrame, before: str, after: str, *,
                   categories: Sequence[Any] | None = None,
                   missing: Literal["drop", "raise"] = "drop") -> StuartMaxwellResult:
    r"""Stuart-Maxwell test that the ``before`` and ``after`` distributions are the same.

    Parameters
    ----------
    data : pandas.DataFrame
        Wide data, one row per unit.
    before, after : str
        Categorical (or integer-coded ordinal) columns at the two waves.
    categories : sequence, optional
        Levels in order (default: see :func:`paired_table`).
    missing : {"drop", "raise"}
        Rows with either value missing are dropped (counted) or raise.

    Returns
    -------
    StuartMaxwellResult
        ``statistic``, ``p_value``, ``df``, ``method``, ``table``, ``margins``.

    Notes
    -----
    With paired table :math:`n_{ij}`, margins :math:`n_{i+}` and :math:`n_{+i}`, let
    :math:`d_i = n_{i+} - n_{+i}` for the first :math:`k - 1` categories and

    .. math:: S_{ii} = n_{i+} + n_{+i} - 2 n_{ii}, \qquad S_{ij} = -(n_{ij} + n_{ji}).

    The statistic :math:`d^\top S^{-1} d` is :math:`\chi^2_{k-1}` under marginal homogeneity;
    for :math:`k = 2` it is McNemar's uncorrected statistic. A category with no off-diagonal
    pairs has zero variance and is left out (df falls by one); with no discordant pair at all,
    the statistic is 0 and p = 1. The test ignores the order of the categories; for an
    ordinal outcome, :func:`ordered_change` models the shift.

    References
    ----------
    Stuart, A. (1955). A test for homogeneity of the marginal distributions in a two-way
    classification. *Biometrika* 42(3/4), 412-416.
    Maxwell, A. E. (1970). Comparing the classification of subjects by two independent judges.
    *British Journal of Psychiatry* 116, 651-655.
    """
    x, y, n_dropped = _pairs(data, before, after, missing)
    cats = _levels(x, y, categories, before, after)
    if len(cats) < 2:
        raise DesignError(f"{before!r} and {after!r} take a single value ({cats[0]!r}); "
                          "there is no change to test.")
    table = pd.DataFrame(_crosstab(x, y, cats), index=pd.Index(cats, name=before),
                         columns=pd.Index(cats, name=after))
    return _stuart_maxwell_core(table, int(len(x)), n_dropped)
