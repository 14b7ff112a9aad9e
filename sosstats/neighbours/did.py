"""Difference-in-differences of treated LAs against their statistical neighbours, over years.

For each treated LA the comparison series is the mean of its ``k`` statistical neighbours
(fixed over time, chosen once from a neighbour ranking); the yearly gap between the LA and that
mean is compared before and after the LA started the programme. Staggered adoption (pilots that
started in different years) is handled LA by LA, then averaged, so no already-treated LA is ever
used as a comparison.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._results import Result, t_interval
from sosstats._validate import check_codes, check_int, check_level
from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.neighbours._panel import (
    DROPPED_COLUMNS,
    missing_records,
    stack,
    start_years,
    treated_panel,
)
from sosstats.neighbours._pooled import paired_t
from sosstats.neighbours.ranking import as_ranking, barred_codes, resolve_k

__all__ = ["neighbour_did", "DiDResult"]


# -- the estimator (the input readers are in sosstats.neighbours._panel) ------------------------
@dataclass(frozen=True, eq=False)
class DiDResult(Result):
    """Result of :func:`neighbour_did`.

    Attributes
    ----------
    estimate, std_error, df : float, float, int
        Pooled DiD (mean of the LA-level DiDs), its clustered standard error ``sd / sqrt(n)``
        and degrees of freedom ``n - 1``.
    nobs : int
        Number of treated LAs (clusters).
    by_la : pandas.DataFrame
        One row per treated LA: ``la_code, start_year, n_neighbours, n_pre, n_post, pre_gap,
        post_gap, estimate`` (the LA's DiD, whose mean over LAs is the pooled ``estimate``).
    event_table : pandas.DataFrame
        Event-time estimates (see :attr:`event_study` for the same with intervals).
    gaps : pandas.DataFrame
        Long table ``la_code, year, event_time, period, value, neighbour_mean,
        n_neighbours_used, gap`` for every treated LA and year.
    neighbours : pandas.DataFrame
        The comparison sets used: ``la_code, neighbour, rank``, where ``rank`` is the
        neighbour's rank in the original ranking, before exclusions (as in
        ``compare(...).neighbour_sets``), so it can skip numbers.
    dropped : pandas.DataFrame
        Cells left out: ``la_code, year, role ('treated' or 'neighbour'), treated_la, reason,
        flag``.
    """

    estimate: float
    std_error: float
    df: int
    nobs: int
    indicator: str
    reference_event: int
    k: int
    by_la: pd.DataFrame
    event_table: pd.DataFrame
    gaps: pd.DataFrame
    neighbours: pd.DataFrame
    dropped: pd.DataFrame
    level: float = 0.95
    method: str = "neighbour difference-in-differences"

    def _estimates(self) -> pd.DataFrame:
        stat = self.estimate / self.std_error if self.std_error > 0 else np.nan
        p = 2 * stats.t.sf(abs(stat), self.df) if np.isfinite(stat) else np.nan
        did = pd.DataFrame({"estimate": [self.estimate], "std_error": [self.std_error],
                            "statistic": [stat], "p_value": [p], "df": [float(self.df)],
                            "n_las": [self.nobs]}, index=pd.Index(["did"], name="term"))
        ev = self.event_table.loc[self.event_table["event_time"] != self.reference_event]
        ev = ev.set_index(pd.Index([f"event_{e}" for e in ev["event_time"]], name="term"))
        cols = ["estimate", "std_error", "statistic", "p_value", "df", "n_las"]
        return pd.concat([did, ev[cols]])

    @property
    def event_study(self) -> pd.DataFrame:
        """Event-time estimates with t intervals at ``level``, the reference row included."""
        out = self.event_table.copy()
        ci = t_interval(out, self.level)
        out["ci_lower"] = ci["lower"].to_numpy()
        out["ci_upper"] = ci["upper"].to_numpy()
        return out

    def _notes(self) -> list[str]:
        n_drop = len(self.dropped)
        return [f"Indicator {self.indicator!r}; {self.nobs} treated LAs, each against the mean "
                f"of up to {self.k} statistical neighbours.",
                "did = mean over treated LAs of (mean post-period gap - mean pre-period gap); "
                "SE = sd/sqrt(n), t(n-1) (clustered by treated LA).",
                f"event_e: gap at event time e minus gap at event time "
                f"{self.reference_event}, averaged over the LAs observed at both.",
                f"{n_drop} cell(s) dropped (missing or suppressed); see `.dropped`."]

    def plot(self, ax: Any = None) -> Any:
        """Event-study plot: estimates with t intervals, a zero line and the adoption line.

        Event times are ticked at whole years only (no ``-0.5``).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw into; by default a new figure.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from sosstats._plotting import integer_year_axis, new_axes

        ax = new_axes(ax, figsize=(6, 4))
        ev = self.event_study
        x = ev["event_time"].to_numpy()
        y = ev["estimate"].to_numpy()
        lo = y - ev["ci_lower"].to_numpy()
        hi = ev["ci_upper"].to_numpy() - y
        err = np.vstack([np.nan_to_num(lo), np.nan_to_num(hi)])
        ax.axhline(0.0, color="0.5", lw=0.8)
        ax.axvline(-0.5, color="0.3", ls="--", lw=0.8, label="adoption")
        ax.errorbar(x, y, yerr=err, fmt="o", color="C0", capsize=3,
                    label=f"estimate, {self.level:.0%} CI")
        ref = ev["event_time"] == self.reference_event
        # above the filled estimates (errorbar lines sit at zorder 2), so the open marker reads
        # as the normalised reference period rather than one more estimate
        ax.plot(x[ref], y[ref], "o", mfc="white", color="C0", zorder=3, label="reference")
        integer_year_axis(ax, "x", years=x)
        ax.set_xlabel("event time (years since the LA's first treated year)")
        ax.set_ylabel(f"{self.indicator}: LA minus neighbour mean")
        ax.set_title("Event study: treated LAs vs statistical neighbours")
        ax.legend(frameon=False, fontsize="small")
        return ax


def neighbour_did(indicators: pd.DataFrame, treated: str | Iterable[str], neighbours: Any, *,
                  indicator: str, start_year: int | Mapping[str, int], id: str = "la_code",
                  year: str = "year", k: int | None = None, exclude: Iterable[str] | None = None,
                  exclude_treated: bool = True, reference_year: int = -1,
                  post_end: int | Mapping[str, int] | None = None,
                  level: float = 0.95) -> DiDResult:
    r"""Difference-in-differences of treated LAs against the mean of their neighbours.

    Parameters
    ----------
    indicators : pandas.DataFrame
        Long table (``id, year, indicator, value[, flag]``), as
        :func:`sosstats.datasets.loaders.load_la_indicators` returns, or wide (``id, year`` and
        one column per indicator). Missing or suppressed values are NaN or a DfE suppression
        marker (``c x z k u : .. -``); other text is a DataError. Not modified.
    treated : str or iterable of str
        Codes of the treated LAs.
    neighbours : NeighbourRanking, fitted model with ``.ranking``, or DataFrame
        Neighbour ranking (see :func:`sosstats.neighbours.ranking.as_ranking`), e.g. a fitted
        ``StatisticalNeighbours`` or DfE's published lists. A fitted model's ``contaminated``
        LAs are never neighbours (added to ``exclude``).
    indicator : str
        The indicator to analyse.
    start_year : int or mapping
        First treated year, for all treated LAs or per LA code (staggered adoption).
    id, year : str
        Column names of the LA code and the year.
    k : int, optional
        Neighbours per treated LA (the first ``k`` eligible ones in rank order); default: a
        fitted model's ``k``, else 10 (an explicit ``k`` above a fitted model's is a
        DesignError). A DesignError
        when no treated LA has ``k`` eligible neighbours (the message gives the largest
        possible ``k``); a warning when only some have fewer.
    exclude : iterable of str, optional
        LAs that may never serve as neighbours (e.g. other programmes' pilots).
    exclude_treated : bool
        Keep the other treated LAs out of every comparison set (default True).
    reference_year : int
        Reference *event time* of the event study (default -1, the year before adoption).
    post_end : int or mapping, optional
        Last post-period year (inclusive), for all treated LAs or per LA code; later years
        are left out of the DiD and the event study (``period`` ``"after"`` in ``.gaps``),
        e.g. to stop before a later reform or the pandemic. Default: the last year of the
        data. Must not be before an LA's ``start_year``.
    level : float
        Confidence level of the intervals.

    Returns
    -------
    DiDResult
        ``tidy()`` rows: ``did`` (pooled) and ``event_<e>`` for every observed event time
        ``e`` except the reference; extra columns ``df`` and ``n_las``. ``.event_study`` has the
        event-time table with the reference row (estimate 0); ``.by_la``, ``.gaps``,
        ``.neighbours`` and ``.dropped`` hold the details. ``.plot()`` draws the event study.

    Notes
    -----
    For treated LA :math:`i` with fixed neighbour set :math:`N_i` (its first ``k`` neighbours
    that are neither treated nor in ``exclude`` nor barred as contaminated by a fitted model nor
    absent from the data) and start year
    :math:`s_i`, the yearly gap is

    .. math:: g_{it} = y_{it} - \frac{1}{|N_{it}|}\sum_{j \in N_{it}} y_{jt},

    where :math:`N_{it}` are the neighbours observed in year :math:`t` (suppressed cells are
    never treated as zero; a year where the LA itself, or all its neighbours, is missing drops
    out and is listed in ``.dropped``). The LA-level estimate is
    :math:`\hat\delta_i = \bar g_i^{\,post} - \bar g_i^{\,pre}` (years :math:`t \ge s_i` vs
    :math:`t < s_i`) and the pooled estimate :math:`\hat\delta = n^{-1}\sum_i\hat\delta_i`, with
    :math:`SE = sd(\hat\delta_i)/\sqrt n` and a :math:`t_{n-1}` reference distribution: the
    treated LAs are the clusters.

    *Regression form.* :math:`\hat\delta` is exactly the coefficient on the post indicator
    :math:`D_{it} = 1[t \ge s_i]` in the weighted least-squares regression of the stacked gap
    series :math:`g_{it}` on treated-LA fixed effects and :math:`D_{it}`, with weights
    :math:`1/n_i^{pre}` on pre-period and :math:`1/n_i^{post}` on post-period years (each LA's
    pre and post periods get weight one in total). Its cluster-robust (by treated LA) variance
    with the :math:`G/(G-1)` small-sample factor and no :math:`(N-1)/(N-K)` factor (linearmodels
    ``PanelOLS(..., entity_effects=True, weights=w).fit(cov_type="clustered",
    cluster_entity=True, group_debias=True)``) equals :math:`sd^2/n` exactly. With a balanced
    panel and common timing the weights are constant and this is plain OLS, the two-way fixed
    effects DiD of the stacked treated and neighbour-mean series with pair-specific unit and
    year effects. Because each treated LA is compared only with its own never-treated
    neighbours (a "stacked" design), staggered adoption does not create the forbidden
    comparisons of already-treated with newly treated units that bias the pooled two-way fixed
    effects estimator (Goodman-Bacon 2021; Callaway and Sant'Anna 2021), and heterogeneous
    effects are averaged with equal LA weights.

    *Event study.* For event time :math:`e = t - s_i`, :math:`\hat\theta_e` is the mean over
    LAs observed at both :math:`e` and the reference :math:`r` of :math:`g_{i,s_i+e} -
    g_{i,s_i+r}`, with SE :math:`sd/\sqrt{n_e}` and :math:`t_{n_e-1}` intervals (no SE when
    :math:`n_e = 1`). With a balanced panel it equals the OLS coefficient on the event-time
    dummies in a regression of the gaps on LA fixed effects and those dummies.

    References
    ----------
    Goodman-Bacon, A. (2021). Difference-in-differences with variation in treatment timing.
    *Journal of Econometrics* 225, 254-277.
    Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time
    periods. *Journal of Econometrics* 225, 200-230.
    Cengiz, D., Dube, A., Lindner, A. and Zipperer, B. (2019). The effect of minimum wages on
    low-wage jobs. *Quarterly Journal of Economics* 134, 1405-1454 (stacked DiD).
    """
    level = check_level(level)
    k = resolve_k(neighbours, k)
    ref = check_int(reference_year, "reference_year")
    treated_codes, panel, flags, starts = treated_panel(
        indicators, treated, indicator=indicator, start_year=start_year, id=id, year=year,
        at_least=2)
    if len(treated_codes) < 2:
        raise DesignError("the pooled DiD test needs at least two treated LAs (they are the "
                          f"clusters); got {len(treated_codes)}: {', '.join(treated_codes)}.")
    years = panel.columns.to_numpy(dtype=np.int64)
    ends = (np.full(len(treated_codes), years.max(), dtype=np.int64) if post_end is None
            else start_years(post_end, treated_codes, name="post_end"))
    early = [f"{c} (post_end {e} < start_year {s})"
             for c, s, e in zip(treated_codes, starts, ends) if e < s and post_end is not None]
    if early:
        raise DataError(f"`post_end` is before the start year of treated LA(s) "
                        f"{', '.join(early)}.")
    no_pre = [c for c, s in zip(treated_codes, starts) if s <= years.min()]
    if no_pre:
        raise DesignError(f"no pre-period years in the data for treated LA(s) "
                          f"{', '.join(no_pre)} (data start in {years.min()}).")
    no_post = [c for c, s in zip(treated_codes, starts) if s > years.max()]
    if no_post:
        raise DesignError(f"no post-period years in the data for treated LA(s) "
                          f"{', '.join(no_post)} (data end in {years.max()}).")

    ranking = as_ranking(neighbours, id=id)
    rows = ranking.positions(treated_codes, what="treated LA")
    excl_codes = check_codes(exclude, "exclude")
    unknown = [c for c in excl_codes if c not in set(ranking.ids) and c not in panel.index]
    if unknown:
        raise DataError(f"`exclude` code(s) {', '.join(unknown)} are neither in the data nor "
                        "in the neighbour ranking.")
    ids = np.asarray(ranking.ids, dtype=object).astype(str)
    excl_codes = list(dict.fromkeys(excl_codes + list(barred_codes(neighbours))))
    excluded = np.isin(ids, excl_codes) | ~np.isin(ids, panel.index.to_numpy(dtype=str))
    if exclude_treated:
        excluded |= np.isin(ids, treated_codes)
    nb, _ = ranking.select(rows, k, excluded)
    n_nb = (nb >= 0).sum(axis=1)
    if (n_nb == 0).any():
        bad = [c for c, m in zip(treated_codes, n_nb) if m == 0]
        raise DesignError(f"treated LA(s) {', '.join(bad)} have no eligible neighbours with "
                          f"data for {indicator!r} after the exclusions.")
    if n_nb.max() < k:
        raise DesignError(f"k = {k} is too large: no treated LA has {k} eligible neighbours "
                          f"with data for {indicator!r} (at most {n_nb.max()}); choose "
                          f"k <= {n_nb.max()}.")
    if (n_nb < k).any():
        short = [f"{c} ({m})" for c, m in zip(treated_codes, n_nb) if m < k]
        warnings.warn(f"fewer than k={k} eligible neighbours for {', '.join(short)}; using "
                      "those available.", SosstatsWarning, stacklevel=2)

    values = panel.to_numpy(dtype=float)
    n, T = len(treated_codes), len(years)
    y_t = values[panel.index.get_indexer(treated_codes)]                      # (n, T)
    nb_codes = np.where(nb >= 0, ids[np.maximum(nb, 0)], None)
    nb_rows = panel.index.get_indexer(pd.Index(nb_codes.ravel().astype(str))).reshape(nb.shape)
    y_n = np.where((nb >= 0)[:, :, None], values[np.maximum(nb_rows, 0)], np.nan)  # (n, k, T)
    used = ~np.isnan(y_n)
    n_used = used.sum(axis=1)                                                 # (n, T)
    with np.errstate(invalid="ignore", divide="ignore"):
        nb_mean = np.where(n_used > 0, np.nansum(y_n, axis=1) / np.maximum(n_used, 1), np.nan)
    after = years[None, :] > ends[:, None]                                    # (n, T)
    gap = np.where(after, np.nan, y_t - nb_mean)
    event = years[None, :] - starts[:, None]
    valid = ~np.isnan(gap)

    # dropped cells: neighbours' missing years and treated-LA years without a gap
    li, ki, ti = np.nonzero((nb >= 0)[:, :, None] & ~used & ~after[:, None, :])
    drop_nb = missing_records(panel, flags, nb_codes[li, ki], years[ti], "neighbour",
                              np.asarray(treated_codes, dtype=object)[li],
                              "missing or suppressed; neighbour mean uses the others")
    ti_r, ti_c = np.nonzero(~valid & ~after)
    reason = np.where(np.isnan(y_t[ti_r, ti_c]), "missing or suppressed; year dropped",
                      "no neighbour observed; year dropped")
    drop_tr = missing_records(panel, flags, np.asarray(treated_codes, dtype=object)[ti_r],
                              years[ti_c], "treated",
                              np.asarray(treated_codes, dtype=object)[ti_r], "")
    drop_tr["reason"] = reason
    # LA-level DiD
    pre = valid & (event < 0)
    post = valid & (event >= 0)
    n_pre, n_post = pre.sum(axis=1), post.sum(axis=1)
    for mask, what in ((n_pre, "pre"), (n_post, "post")):
        if (mask == 0).any():
            bad = [c for c, m in zip(treated_codes, mask) if m == 0]
            raise DesignError(f"treated LA(s) {', '.join(bad)} have no {what}-period year with "
                              f"data for {indicator!r} (all missing or suppressed).")
    g0 = np.where(pre, gap, 0.0).sum(axis=1) / n_pre
    g1 = np.where(post, gap, 0.0).sum(axis=1) / n_post
    did = g1 - g0
    pooled_t = paired_t(did[None, :]).iloc[0]
    est, se, dfree = pooled_t["difference"], pooled_t["std_error"], pooled_t["df"]

    # event study
    ev_times = np.unique(event[valid])
    if ref not in set(ev_times.tolist()):
        raise DesignError(f"reference event time {ref} is not observed for any treated LA "
                          f"(observed event times {ev_times.min()} to {ev_times.max()}).")
    col = np.searchsorted(ev_times, event)
    G = np.full((n, len(ev_times)), np.nan)
    r_i, c_i = np.nonzero(valid)
    G[r_i, col[r_i, c_i]] = gap[r_i, c_i]
    ref_gap = G[:, int(np.searchsorted(ev_times, ref))]
    no_ref = np.isnan(ref_gap)
    if no_ref.any():
        extra = missing_records(panel, flags, np.asarray(treated_codes, dtype=object)[no_ref],
                                starts[no_ref] + ref, "treated",
                                np.asarray(treated_codes, dtype=object)[no_ref],
                                "reference event time missing; LA left out of the event "
                                "study")
        drop_tr = pd.concat([drop_tr, extra], ignore_index=True)
    D = G - ref_gap[:, None]
    ev_t = paired_t(D.T)
    m_e, se_e, t_e, p_e, df_e = (ev_t[c].to_numpy() for c in
                                 ("difference", "std_error", "statistic", "p_value", "df"))
    is_ref = ev_times == ref
    event_table = pd.DataFrame({
        "event_time": ev_times.astype(np.int64), "estimate": m_e,
        "std_error": np.where(is_ref, np.nan, se_e), "statistic": np.where(is_ref, np.nan, t_e),
        "p_value": np.where(is_ref, np.nan, p_e), "df": df_e.astype(float),
        "n_las": (~np.isnan(D)).sum(axis=0), "reference": is_ref})
    event_table.loc[is_ref, "df"] = np.nan
    event_table = event_table.loc[event_table["n_las"] > 0].reset_index(drop=True)

    tcodes = np.asarray(treated_codes, dtype=object)
    by_la = pd.DataFrame({"la_code": tcodes, "start_year": starts, "n_neighbours": n_nb,
                          "n_pre": n_pre, "n_post": n_post, "pre_gap": g0, "post_gap": g1,
                          "estimate": did})
    gaps = pd.DataFrame({"la_code": np.repeat(tcodes, T), "year": np.tile(years, n),
                         "event_time": event.ravel(),
                         "period": np.where(after.ravel(), "after",
                                            np.where(event.ravel() >= 0, "post", "pre")),
                         "value": y_t.ravel(), "neighbour_mean": nb_mean.ravel(),
                         "n_neighbours_used": n_used.ravel(), "gap": gap.ravel()})
    r_nb, c_nb = np.nonzero(nb >= 0)
    neighbours_used = pd.DataFrame({"la_code": tcodes[r_nb], "neighbour": nb_codes[r_nb, c_nb],
                                    "rank": ranking.original_rank(rows, nb)[r_nb, c_nb]})
    dropped = stack([drop_tr, drop_nb], DROPPED_COLUMNS)
    return DiDResult(estimate=float(est), std_error=float(se), df=int(dfree), nobs=n,
                     indicator=indicator, reference_event=ref, k=k, by_la=by_la,
                     event_table=event_table, gaps=gaps, neighbours=neighbours_used,
                     dropped=dropped, level=level)
