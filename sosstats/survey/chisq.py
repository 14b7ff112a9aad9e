r"""Rao-Scott and Wald tests of independence in two-way survey tables (R survey's ``svychisq``).

:func:`chisq` is what :meth:`SurveyDesign.chisq <sosstats.survey.SurveyDesign.chisq>` calls.
The cell proportions :math:`\hat p_{ij} = \sum_i w_i 1[\text{row}_i = a, \text{col}_i = b] /
\sum_i w_i` are linearised into scores :math:`z_{i,ab} = w_i (1[\cdot] - \hat p_{ab}) / \sum w`
and the cell totals into :math:`w_i 1[\cdot] = (\sum w) z_{i,ab} + \hat p_{ab} w_i`, so one call of
the design's variance on the :math:`rc` proportion scores and the weights gives both
covariances, with an :math:`n \times (rc + 1)` score matrix (replicate designs re-estimate
both from the replicate weights instead, by one sparse product), and
:mod:`sosstats._kernels.rao_scott` does the tests. Rows with a missing row or column value are
left out as a domain (their scores are zero; the design, its clusters and df are unchanged), as
R's ``na.rm = TRUE``.

A list of row items against one column gives every item's test and adjusts the p-values across
the family (Holm or Benjamini-Hochberg), for the "which tools are used differently by
experience group?" question asked of many items at once.

References
----------
Rao, J. N. K. and Scott, A. J. (1981, 1984); Thomas, D. R. and Rao, J. N. K. (1987): see
:mod:`sosstats._kernels.rao_scott`. Lumley, T. (2010). *Complex Surveys*, ch. 6. Wiley.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse, stats

from sosstats._kernels import rao_scott as rs
from sosstats._multiplicity import ADJUSTMENTS, adjust_pvalues
from sosstats._results import TableResult
from sosstats._validate import as_list, check_columns, check_option, shown_values
from sosstats.errors import DataError, DesignError, SosstatsWarning

if TYPE_CHECKING:   # pragma: no cover
    from sosstats.survey.design import SurveyDesign

__all__ = ["chisq", "ChisqResult", "ChisqItemsResult", "levels_of"]

Statistic = Literal["F", "Chisq", "Wald", "adjWald", "lincom", "saddlepoint"]
_ALL = ("F", "Chisq", "Wald", "adjWald", "lincom", "saddlepoint")
#: most levels a row, column or domain variable may have (more is almost surely a number)
MAX_LEVELS = 100


def levels_of(values: pd.Series, name: str, *, role: str = "column",
              max_levels: int | None = MAX_LEVELS) -> tuple[np.ndarray, list[Any]]:
    """Integer codes (-1 for missing) and the levels of a categorical column.

    A pandas ``Categorical`` keeps its declared categories and their order (so a Likert item's
    order survives; :func:`chisq` leaves out a level nobody gave); anything else uses its sorted
    distinct values. Fewer than two levels is a :class:`DataError` naming the column.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        levels = list(values.cat.categories)
        codes = values.cat.codes.to_numpy(dtype=np.intp)
    else:
        try:
            codes, uniq = pd.factorize(values, sort=True)
        except TypeError:
            codes, uniq = pd.factorize(values)
        levels = list(uniq)
        codes = codes.astype(np.intp)
    if len(levels) < 2:
        shown = shown_values(levels) if levels else "none (every value is missing)"
        raise DataError(f"{role} {name!r} has {len(levels)} level(s) ({shown}); a table needs "
                        "at least two.")
    if max_levels is not None and len(levels) > max_levels:
        raise DataError(f"{role} {name!r} has {len(levels)} distinct values: is it continuous? "
                        f"A table takes at most {max_levels} levels; group it first "
                        "(pd.cut, or a coarser category).")
    return codes, levels


def _check_design(design: Any) -> None:
    if not hasattr(design, "_variance") or not hasattr(design, "weights"):
        raise DataError(f"`design` must be a SurveyDesign; got {type(design).__name__}.")
    if design.kind != "replicate" and design.n_clusters < 2:
        raise DesignError(f"the design has {design.n_clusters} cluster(s); a design-based test "
                          "needs at least two.")
    if not design.df >= 1:
        raise DesignError(f"the design has {design.df} degrees of freedom (clusters - strata); "
                          "a design-based test needs at least one.")


@dataclass(frozen=True, repr=False)
class ChisqResult(TableResult):
    r"""A design-based test of independence in an r x c table (see :func:`chisq`).

    Attributes
    ----------
    test : TableTest
        The requested test: ``name``, ``statistic``, ``df_num``, ``df_den``, ``p_value``.
    pearson : float
        Pearson's X^2 of the weighted table scaled to ``nobs`` (the naive statistic).
    pearson_p_value : float
        Its p-value against :math:`\chi^2_{(r-1)(c-1)}`: what a naive analysis claims.
    effects : DesignEffects
        Generalised design effects (eigenvalues of Delta, their mean, ``a2``, ``d0``).
    tests : dict
        Every statistic of ``svychisq`` (``F``, ``Chisq``, ``Wald``, ``adjWald``, ``lincom``,
        ``saddlepoint``) plus ``second_order``, from the same covariance.
    cells : pandas.DataFrame
        Cell proportions with design standard errors (and cell design effects).
    """

    row: str
    col: str
    test: rs.TableTest
    pearson: float
    pearson_p_value: float
    effects: rs.DesignEffects
    tests: dict[str, rs.TableTest]
    cells: pd.DataFrame
    row_levels: list[Any]
    col_levels: list[Any]
    nobs: int
    design_df: float
    design_label: str
    method: str = field(default="Rao-Scott")

    @property
    def statistic(self) -> float:
        """The requested test's statistic."""
        return self.test.statistic

    @property
    def p_value(self) -> float:
        """The requested test's p-value."""
        return self.test.p_value

    def _table(self, level: float | None) -> pd.DataFrame:
        t = self.test
        eig = self.effects.eigenvalues
        return pd.DataFrame({
            "test": [t.name], "statistic": [t.statistic], "df_num": [t.df_num],
            "df_den": [t.df_den], "p_value": [t.p_value], "pearson_chisq": [self.pearson],
            "pearson_df": [float(eig.size)], "pearson_p_value": [self.pearson_p_value],
            "mean_deff": [self.effects.mean], "max_deff": [float(eig.max())],
            "nobs": [self.nobs], "design_df": [self.design_df],
        }, index=pd.Index([f"{self.row} x {self.col}"], name="term"))

    def all_statistics(self) -> pd.DataFrame:
        """Every variant of the test from the same covariance, with the naive Pearson test."""
        rows = {name: (rs.STATISTICS.get(name, "Rao-Scott second-order chi-square "
                                          "(Satterthwaite)"), t.statistic, t.df_num, t.df_den,
                       t.p_value) for name, t in self.tests.items()}
        k = float(self.effects.eigenvalues.size)
        rows["pearson"] = ("naive Pearson chi-square (ignores the design)", self.pearson, k,
                           np.inf, self.pearson_p_value)
        out = pd.DataFrame.from_dict(rows, orient="index",
                                     columns=["test", "statistic", "df_num", "df_den",
                                              "p_value"])
        out.index.name = "statistic_name"
        return out

    def _title(self) -> str:
        return f"ChisqResult: {rs.STATISTICS[self.test.name]}, {self.row} x {self.col}"

    def _notes(self) -> list[str]:
        eig = self.effects.eigenvalues
        t = self.test
        notes = [self.design_label,
                 f"Pearson X^2 = {self.pearson:.4g} on {eig.size} df would give p = "
                 f"{self.pearson_p_value:.3g} (naive: ignores clustering and weights).",
                 f"Generalised design effects: mean {self.effects.mean:.3g}, range "
                 f"{eig.min():.3g} to {eig.max():.3g}; Satterthwaite df d0 = "
                 f"{self.effects.d0:.3g}."]
        if t.name == "F":
            notes.append("F = X^2 / tr(Delta) on (d0, d0 x design df), as R survey's "
                         "svychisq default.")
        if t.name == "adjWald" and np.isnan(t.p_value):
            notes.append(f"adjWald needs design df >= (r-1)(c-1) = {eig.size}: no p-value.")
        return notes


@dataclass(frozen=True, repr=False)
class ChisqItemsResult(TableResult):
    """Tests of many row items against one column, with p-values adjusted across the family."""

    results: dict[str, ChisqResult]
    col: str
    statistic_name: str
    adjust: str
    nobs: int
    method: str = field(default="Rao-Scott, many items")

    def _table(self, level: float | None) -> pd.DataFrame:
        frames = [r._table(None) for r in self.results.values()]
        out = pd.concat(frames)
        out.insert(out.columns.get_loc("p_value") + 1, "p_adjusted",
                   adjust_pvalues(out["p_value"].to_numpy(dtype=float), self.adjust))
        out.index = pd.Index(list(self.results), name="item")
        return out

    def _title(self) -> str:
        return (f"ChisqItemsResult: {rs.STATISTICS[self.statistic_name]}, "
                f"{len(self.results)} items x {self.col}")

    def _notes(self) -> list[str]:
        return [next(iter(self.results.values())).design_label,
                f"p_adjusted: {ADJUSTMENTS[self.adjust]} across the {len(self.results)} items."]


def _drop_unused(codes: np.ndarray, levels: list, ok: np.ndarray, name: str,
                 role: str) -> tuple[np.ndarray, list]:
    """Leave out declared levels no respondent of the table has, with a warning naming them.

    A Likert item declared with all its answers often has one nobody gave in a small survey;
    as Stata's ``svy: tabulate``, the table is the levels that occur. A level that occurs but
    only with weight 0 is not unused: it stays, and the empty row is then an error.
    """
    seen = np.bincount(codes[ok], minlength=len(levels)) > 0
    if seen.all():
        return codes, levels
    unused = [levels[i] for i in np.flatnonzero(~seen)]
    kept = [lev for lev, s in zip(levels, seen) if s]
    if len(kept) < 2:
        raise DataError(f"{role} {name!r} has {len(kept)} level(s) that occur in the table "
                        f"({shown_values(kept) if kept else 'none'}); a table needs at least "
                        "two.")
    warnings.warn(f"{role} {name!r}: level(s) {shown_values(unused)} occur in no respondent "
                  "of the table and are left out of it (its df count the levels that occur).",
                  SosstatsWarning, stacklevel=5)
    remap = np.full(len(levels), -1, dtype=np.intp)
    remap[seen] = np.arange(len(kept))
    return np.where(codes >= 0, remap[np.maximum(codes, 0)], -1), kept


def _cell_pieces(design: SurveyDesign, row: str, col: str
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, list, list]:
    """Cell proportions and totals (r, c) with their design covariances (C order)."""
    data = design.data
    rcodes, rlev = levels_of(data[row], row, role="row")
    ccodes, clev = levels_of(data[col], col, role="column")
    w = np.asarray(design.weights, dtype=float)
    ok = (rcodes >= 0) & (ccodes >= 0)
    rcodes, rlev = _drop_unused(rcodes, rlev, ok, row, "row")
    ccodes, clev = _drop_unused(ccodes, clev, ok, col, "column")
    r, c = len(rlev), len(clev)
    cell = np.where(ok, rcodes * c + ccodes, 0)
    wd = np.where(ok, w, 0.0)
    totals = np.bincount(cell, weights=wd, minlength=r * c)
    grand = totals.sum()
    if not grand > 0:
        raise DataError(f"no respondent with positive weight has both {row!r} and {col!r}.")
    table = totals.reshape(r, c)
    empty = [f"row {row!r} level {rlev[i]!r}" for i in np.flatnonzero(table.sum(1) <= 0)]
    empty += [f"column {col!r} level {clev[j]!r}" for j in np.flatnonzero(table.sum(0) <= 0)]
    if empty:
        raise DataError(f"the table of {row!r} by {col!r} has an empty row or column: "
                        f"{'; '.join(empty)} has no respondents with positive weight. Drop the "
                        "level (e.g. .cat.remove_unused_categories()) or merge it.")
    p = totals / grand
    n = int(np.count_nonzero(ok & (w > 0)))
    k = r * c
    rows_ok = np.flatnonzero(ok)

    def scores() -> np.ndarray:
        # proportions: z_ic = w_i (1[cell_i = c] - p_c) / W; the totals' scores w_i 1[cell_i = c]
        # are W z_i + p w_i, so the k proportion columns and w carry both covariances
        z = np.empty((len(w), k + 1))
        np.multiply(wd[:, None], -p[None, :] / grand, out=z[:, :k])
        z[rows_ok, cell[rows_ok]] += wd[rows_ok] / grand
        z[:, k] = wd
        return z

    def estimator(W: np.ndarray) -> np.ndarray:
        # (B, k) cell totals of every weight column: one sparse (k, n) @ (n, B) product
        onehot = sparse.csr_matrix((np.ones(rows_ok.size), (cell[rows_ok], rows_ok)),
                                   shape=(k, len(w)))
        tot = np.asarray(onehot @ W).T
        return np.hstack([tot / tot.sum(axis=1, keepdims=True), tot])

    V = design._variance(estimator, scores)
    if design.kind == "replicate":
        Vp, VT = V[:k, :k], V[k:, k:]
    else:   # V is the covariance of (z_p, w): map to the totals' scores W z_p + p w
        J = np.hstack([grand * np.eye(k), p[:, None]])
        Vp, VT = V[:k, :k], J @ V @ J.T
    return (p.reshape(r, c), Vp, table, VT, n, rlev, clev)


def _one(design: SurveyDesign, row: str, col: str, statistic: str) -> ChisqResult:
    p, Vp, T, VT, n, rlev, clev = _cell_pieces(design, row, col)
    df = float(design.df)
    chisq_df = np.inf if design.kind == "replicate" else df
    x2 = rs.pearson_statistic(p, n)
    effects = rs.design_effects(p, Vp, n)
    tests: dict[str, rs.TableTest] = {}
    for name in ("F", "Chisq", "second_order", "lincom", "saddlepoint"):
        tests[name] = rs.rao_scott(x2, effects, df if name == "F" else chisq_df, name)
    for name in ("Wald", "adjWald"):
        try:
            tests[name] = rs.wald_independence(T, VT, df, adjusted=name == "adjWald")
        except DesignError:
            if statistic == name:
                raise
            nan = float("nan")
            tests[name] = rs.TableTest(name, nan, float(effects.eigenvalues.size), nan, nan)
    se = np.sqrt(np.clip(np.diag(Vp), 0.0, None)).reshape(p.shape)
    srs = p * (1 - p) / n
    cells = pd.DataFrame({
        row: np.repeat(np.asarray(rlev, dtype=object), len(clev)),
        col: np.tile(np.asarray(clev, dtype=object), len(rlev)),
        "estimate": p.ravel(), "std_error": se.ravel(),
        "deff": np.where(srs.ravel() > 0, se.ravel() ** 2 / np.where(srs.ravel() > 0,
                                                                   srs.ravel(), 1), np.nan),
    })
    label = design.describe() if hasattr(design, "describe") else f"design df = {df:g}"
    k = effects.eigenvalues.size
    return ChisqResult(row=row, col=col, test=tests[statistic], pearson=x2,
                       pearson_p_value=float(stats.chi2.sf(x2, k)), effects=effects,
                       tests=tests, cells=cells, row_levels=rlev, col_levels=clev, nobs=n,
                       design_df=df, design_label=label)


def chisq(design: SurveyDesign, row: str | list[str], col: str, statistic: Statistic = "F", *,
          adjust: str = "holm") -> ChisqResult | ChisqItemsResult:
    r"""Design-based test of independence of two categorical columns (R's ``svychisq``).

    Parameters
    ----------
    design : SurveyDesign
        The survey design (linearisation or replicate).
    row : str or list of str
        The row variable; a list gives one test per item against ``col`` and adjusts the
        p-values across them (``adjust``).
    col : str
        The column variable.
    statistic : {"F", "Chisq", "Wald", "adjWald", "lincom", "saddlepoint"}
        As R survey. ``"F"`` (default): the second-order Rao-Scott F, :math:`X^2 /
        \mathrm{tr}\,\hat\Delta \sim F(d_0, d_0 \nu)`; ``"Chisq"``: first-order,
        :math:`X^2/\bar\delta \sim \chi^2_{(r-1)(c-1)}` (the statistic reported is the corrected
        one; R prints the uncorrected X^2 with the same p-value); ``"Wald"``/``"adjWald"``:
        Wald tests on the cell totals; ``"lincom"``/``"saddlepoint"``: X^2 against its
        asymptotic distribution, by Imhof's integral or the saddlepoint approximation. Every
        variant is in ``result.all_statistics()``.
    adjust : {"holm", "BH", "none"}
        Multiplicity adjustment across a list of ``row`` items (ignored for one item).

    Returns
    -------
    ChisqResult or ChisqItemsResult
        ``tidy()``: the test (statistic, df, p-value), Pearson's naive X^2 and p-value, the
        mean and largest generalised design effect; ``.cells``: cell proportions with SEs.

    Raises
    ------
    DataError
        A column that is missing or has fewer than two levels; a table with an empty row or
        column (named, with the level); a bad ``statistic`` or ``adjust``.
    DesignError
        Fewer than two clusters or no design degrees of freedom; every cluster with the same
        table (zero covariance).

    Notes
    -----
    Pearson's :math:`X^2` is computed on the weighted table scaled to :math:`n` (respondents
    with both values). Under the design it is distributed as :math:`\sum_k \delta_k Z_k^2`, the
    :math:`\delta_k` being the eigenvalues of :math:`\hat\Delta = (C'D^{-1}C/n)^{-1}
    (C'D^{-1}\hat V D^{-1} C)` (Rao and Scott 1981, 1984); the F form refers
    :math:`X^2/\sum\delta_k` to :math:`F(d_0, d_0\nu)` with :math:`d_0 = (\sum\delta_k)^2 /
    \sum\delta_k^2` and :math:`\nu` = clusters - strata (Thomas and Rao 1987). With few
    clusters (ten pilots, :math:`\nu = 9`) the F form is the one to use; the Wald tests need
    :math:`\nu` well above :math:`(r-1)(c-1)` (Thomas and Rao 1987 found them badly sized
    otherwise). See :mod:`sosstats._kernels.rao_scott` for the formulas.

    References
    ----------
    Rao, J. N. K. and Scott, A. J. (1984). *Annals of Statistics* 12, 46-60.
    Thomas, D. R. and Rao, J. N. K. (1987). *JASA* 82, 630-636.
    Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*, section 6.2. Wiley.

    Examples
    --------
    >>> from sosstats.datasets import simulate_evaluation
    >>> from sosstats.survey import SurveyDesign
    >>> workers = simulate_evaluation(rng=0).worker_survey   # 165 workers in 10 pilot LAs
    >>> design = SurveyDesign(workers, cluster="la_code")
    >>> res = design.chisq("tool_mapping", "experience")
    >>> round(res.p_value, 4), round(res.pearson_p_value, 4)   # Rao-Scott F vs naive Pearson
    (0.0543, 0.0028)
    >>> tools = [c for c in workers.columns if c.startswith("tool_")]
    >>> table = design.chisq(tools, "experience", adjust="holm").tidy()   # one row per tool
    """
    _check_design(design)
    check_option(statistic, _ALL, "statistic")
    adjust_key = str(adjust).lower()
    check_option(adjust_key, tuple(ADJUSTMENTS), "adjust")
    rows = as_list(row)
    if not rows:
        raise DataError("`row` must name at least one column.")
    check_columns(design.data, rows + [col], what="column")
    if col in rows:
        raise DataError(f"`row` and `col` are both {col!r}; a table needs two columns.")
    if isinstance(row, str):
        return _one(design, row, col, statistic)
    if len(set(rows)) < len(rows):
        raise DataError(f"`row` repeats an item: {shown_values(rows)}.")
    results = {r: _one(design, r, col, statistic) for r in rows}
    return ChisqItemsResult(results=results, col=col, statistic_name=statistic,
                            adjust=adjust_key, nobs=design.nobs)
