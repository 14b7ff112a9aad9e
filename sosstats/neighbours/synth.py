"""Synthetic control for many treated LAs, with placebo-in-space inference.

Each treated LA gets its own synthetic control: a convex combination of untreated donor LAs
that tracks it before it started the programme. Per-LA and pooled effects are the post-period
gaps between the LA and its synthetic control; their p-values come from re-running the method
with every donor as a pseudo-treated unit.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sosstats._kernels.simplex import simplex_lstsq, simplex_lstsq_placebo
from sosstats._progress import Progress
from sosstats._results import Result
from sosstats._validate import check_int, check_rng
from sosstats.errors import DataError, SosstatsWarning
from sosstats.neighbours._panel import (
    DROPPED_COLUMNS,
    donor_pools,
    stack,
    treated_panel,
)
from sosstats.neighbours.ranking import resolve_k

__all__ = ["synthetic_control", "SyntheticControlResult"]


@dataclass(frozen=True, eq=False)
class SyntheticControlResult(Result):
    """Result of :func:`synthetic_control`.

    Attributes
    ----------
    estimate : float
        Pooled effect: mean over treated LAs of their mean post-period gap.
    p_value : float
        Placebo p-value of the pooled effect (NaN without placebos).
    nobs : int
        Number of treated LAs.
    by_la : pandas.DataFrame
        ``la_code, start_year, n_donors, n_pre, n_post, pre_rmspe, post_rmspe, rmspe_ratio,
        mean_post_gap, p_value, converged``.
    weights : pandas.DataFrame
        ``la_code, donor, weight`` (positive weights, largest first).
    paths : pandas.DataFrame
        ``la_code, year, event_time, period ('fit', 'pre' or 'post'), value, synthetic, gap``.
    event_study : pandas.DataFrame
        Pooled gaps by event time: ``event_time, estimate, n_las``.
    placebos : pandas.DataFrame
        ``la_code, placebo, pre_rmspe, post_rmspe, rmspe_ratio, mean_post_gap``.
    placebo_gaps : pandas.DataFrame
        ``la_code, placebo, year, event_time, gap``: each placebo's gap path.
    null_distribution : numpy.ndarray
        Pooled effects of the placebo sets behind :attr:`p_value`.
    dropped : pandas.DataFrame
        Cells and donors left out, with the reason.
    """

    estimate: float
    p_value: float
    nobs: int
    indicator: str
    by_la: pd.DataFrame
    weights: pd.DataFrame
    paths: pd.DataFrame
    event_study: pd.DataFrame
    placebos: pd.DataFrame
    placebo_gaps: pd.DataFrame
    null_distribution: np.ndarray
    p_value_method: str
    dropped: pd.DataFrame
    level: float = 0.95
    method: str = "synthetic control"

    def _estimates(self) -> pd.DataFrame:
        la = self.by_la
        idx = pd.Index(["att"] + [f"att_{c}" for c in la["la_code"]], name="term")
        return pd.DataFrame({
            "estimate": np.r_[self.estimate, la["mean_post_gap"].to_numpy(float)],
            "std_error": np.nan,
            "statistic": np.r_[self.estimate, la["rmspe_ratio"].to_numpy(float)],
            "p_value": np.r_[self.p_value, la["p_value"].to_numpy(float)],
            "pre_rmspe": np.r_[np.nan, la["pre_rmspe"].to_numpy(float)],
            "post_rmspe": np.r_[np.nan, la["post_rmspe"].to_numpy(float)],
            "n_donors": np.r_[np.nan, la["n_donors"].to_numpy(float)]}, index=idx)

    def _notes(self) -> list[str]:
        return [f"Indicator {self.indicator!r}; {self.nobs} treated LA(s), each with its own "
                "synthetic control (weights >= 0, summing to 1, fitted on pre-period years).",
                "att = mean post-period gap pooled over treated LAs; statistic = att, p-value "
                f"from placebo sets ({self.p_value_method}).",
                "att_<LA> = the LA's mean post-period gap; statistic = post/pre RMSPE ratio, "
                "p-value = its rank among the donors' placebo ratios.",
                "No standard errors or intervals: inference is by placebos only."]

    def plot(self, la: str | None = None, ax: Any = None, *, kind: str = "paths",
             names: Any = None, show_names: bool = True) -> Any:
        """Plot treated vs synthetic paths, or gaps over the placebo gaps in grey.

        With ``la`` a treated LA code: its treated and synthetic paths (``kind='paths'``) or its
        gap with its placebo gaps in grey (``kind='gaps'``). With ``la=None``: every treated
        LA's gap and their mean by event time, over all placebo gaps in grey. Years and event
        times are ticked at whole years; LAs are named ("Bristol", not "E06000023"), falling
        back to the code.

        Parameters
        ----------
        la : str, optional
            A treated LA's code.
        ax : matplotlib Axes, optional
            Axes to draw into; by default a new figure.
        kind : {"paths", "gaps"}
            What to draw for one LA.
        names : mapping or DataFrame, optional
            Extra code -> name pairs (or a frame with ``la_code`` and ``la_name``).
        show_names : bool
            Label LAs by name (default) or by code.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from sosstats._plotting import integer_year_axis, la_names, new_axes

        def name(code: Any) -> str:
            return la_names([code], names=names)[0] if show_names else str(code)

        if kind not in ("paths", "gaps"):
            raise DataError(f"`kind` must be 'paths' or 'gaps'; got {kind!r}.")
        ax = new_axes(ax, figsize=(6, 4))
        pg = self.placebo_gaps
        if la is None:
            for (_, _), g in pg.groupby(["la_code", "placebo"], sort=False):
                ax.plot(g["event_time"], g["gap"], color="0.8", lw=0.5)
            for code, g in self.paths.groupby("la_code", sort=False):
                ax.plot(g["event_time"], g["gap"], lw=1, alpha=0.7, label=name(code))
            ax.plot(self.event_study["event_time"], self.event_study["estimate"], color="k",
                    lw=2.5, label="mean")
            ax.axvline(-0.5, color="0.3", ls="--", lw=0.8)
            ax.axhline(0.0, color="0.5", lw=0.8)
            integer_year_axis(ax, "x", years=self.paths["event_time"])
            ax.set_xlabel("event time (years since first treated year)")
            ax.set_ylabel(f"{self.indicator}: LA minus synthetic")
            ax.legend(frameon=False, fontsize="x-small", ncol=2)
            return ax
        la = str(la)
        path = self.paths.loc[self.paths["la_code"] == la]
        if path.empty:
            raise DataError(f"LA {la} is not a treated LA of this result; treated: "
                            f"{', '.join(self.by_la['la_code'])}.")
        start = int(self.by_la.loc[self.by_la["la_code"] == la, "start_year"].iloc[0])
        if kind == "paths":
            ax.plot(path["year"], path["value"], "o-", color="C0", label=name(la))
            ax.plot(path["year"], path["synthetic"], "s--", color="C1", label="synthetic")
            ax.set_ylabel(self.indicator)
        else:
            for _, g in pg.loc[pg["la_code"] == la].groupby("placebo", sort=False):
                ax.plot(g["year"], g["gap"], color="0.8", lw=0.6)
            ax.plot(path["year"], path["gap"], "o-", color="C0", label=f"{name(la)} gap")
            ax.axhline(0.0, color="0.5", lw=0.8)
            ax.set_ylabel(f"{self.indicator}: LA minus synthetic")
        ax.axvline(start - 0.5, color="0.3", ls="--", lw=0.8, label="adoption")
        integer_year_axis(ax, "x", years=path["year"])
        ax.set_xlabel("year")
        ax.legend(frameon=False, fontsize="small")
        return ax


def _rmspe(gaps: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Root mean squared gap over the columns in ``mask`` (NaN-aware), row by row."""
    sq = np.where(mask & ~np.isnan(gaps), gaps**2, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.sqrt(np.nanmean(sq, axis=-1))


#: a pre-period RMSPE below this share of the indicator's standard deviation is a "perfect" fit
PERFECT_FIT = 1e-6


def _warn_identification(by_la: pd.DataFrame, values: np.ndarray, few: list[str]) -> None:
    """One warning naming the treated LAs whose synthetic control is not identified.

    Three signs, any of them: fewer than three fitting years; more donors than fitting years
    (the treated path can then lie inside the donors' convex hull and be fitted exactly by
    many different weight vectors); a pre-period RMSPE below :data:`PERFECT_FIT` times the
    indicator's standard deviation over the whole panel (a perfect fit, so the post/pre RMSPE
    ratio and its placebo rank measure only the floor).
    """
    scale = float(np.nanstd(values))
    perfect = by_la.loc[by_la["pre_rmspe"] <= PERFECT_FIT * max(scale, 1e-300), "la_code"]
    wide = by_la.loc[by_la["n_donors"] > by_la["n_pre"]]
    parts = []
    if few:
        parts.append(f"fewer than three pre-period years for {', '.join(few)}")
    if len(wide):
        shown = ", ".join(f"{c} ({d} donors, {t} years)" for c, d, t in
                          wide[["la_code", "n_donors", "n_pre"]].head(10).itertuples(index=False))
        parts.append(f"more donors than pre-period years for {shown}")
    if len(perfect):
        parts.append(f"a perfect pre-period fit (pre-RMSPE ~ 0) for {', '.join(perfect[:10])}"
                     f" ({len(perfect)} of {len(by_la)} treated LAs)")
    if parts:
        warnings.warn("synthetic control is poorly identified: " + "; ".join(parts)
                      + ". Weights are not unique and RMSPE ratios / placebo p-values of "
                      "perfectly fitted LAs are not informative; restrict the donors "
                      "(donors='neighbours', neighbours=..., k=...) or fit on more years "
                      "(docs/neighbours.md, 'When synthetic control is not identified').",
                      SosstatsWarning, stacklevel=3)


def synthetic_control(indicators: pd.DataFrame, treated: str | Iterable[str], *,
                      indicator: str, start_year: int | Mapping[str, int],
                      id: str = "la_code", year: str = "year", donors: Any = None,
                      neighbours: Any = None, k: int | None = None,
                      exclude: Iterable[str] | None = None,
                      pre_years: Iterable[int] | None = None, placebo: bool = True,
                      n_draws: int = 10_000, rng: int | np.random.Generator | None = None,
                      progress: bool | None = None) -> SyntheticControlResult:
    r"""Synthetic control (Abadie, Diamond and Hainmueller 2010) for each of many treated LAs.

    Parameters
    ----------
    indicators : pandas.DataFrame
        Long (``id, year, indicator, value[, flag]``) or wide (``id, year``, one column per
        indicator) table; missing values are NaN or a DfE marker such as ``c`` (any other text
        is a DataError; see :mod:`sosstats.neighbours._panel`).
    treated : str or iterable of str
        Codes of the treated LAs (one or more).
    indicator : str
        The indicator to fit and compare.
    start_year : int or mapping
        First treated year, for all treated LAs or per LA code (staggered adoption).
    id, year : str
        Column names of the LA code and the year.
    donors : optional
        Restrict the donor pool: ``"neighbours"`` (each treated LA's first ``k`` eligible
        statistical neighbours in ``neighbours``, with data in every fitting and post year:
        the recommended pool when there are few pre-period years, see Notes), an iterable of
        codes (for every treated LA), a mapping treated code -> codes, or a neighbour ranking /
        fitted neighbour model / neighbour table (each treated LA's donors are then all the
        neighbours listed for it, e.g. ``ranking.to_frame(k=20)`` for its 20 nearest; listed
        neighbours with no row for the indicator are left out and recorded in ``.dropped``
        with reason "LA not in the data"). A fitted model's ``contaminated`` LAs are never
        donors (added to ``exclude``). Default: every untreated LA.
    neighbours : NeighbourRanking, fitted model or neighbour table, optional
        Who is near whom, for ``donors="neighbours"``.
    k : int, optional
        Donors per treated LA with ``donors="neighbours"`` (default: a fitted model's ``k``,
        else 10).
    exclude : iterable of str, optional
        LAs that may never be donors.
    pre_years : iterable of int, optional
        Years used to fit the weights (default: every year before each LA's start year).
    placebo : bool
        Run the placebo-in-space study (default True).
    n_draws : int
        Random placebo sets for the pooled p-value when there are more combinations than this.
    rng : int, Generator or None
        Seed for the random placebo sets.
    progress : bool or None
        Show a stderr counter of placebo fits: always (True), never (False) or once they have
        taken more than two seconds (None).

    Returns
    -------
    SyntheticControlResult
        ``tidy()`` rows ``att`` (pooled) and ``att_<LA code>`` per treated LA; see the class
        for the tables (weights, paths, placebos, event-time means).

    Notes
    -----
    **Donor pool.** For treated LA :math:`i` (start :math:`s_i`): the LAs that are not treated,
    not in ``exclude`` (nor contaminated in a fitted ``donors`` model), in ``donors`` if given,
    and observed in every fitting and post-period year (incomplete or absent donors are listed
    in ``.dropped``); a DesignError if fewer than two remain. Fitting years
    :math:`\mathcal{F}_i` are the years before :math:`s_i` (or ``pre_years``) in which LA
    :math:`i` is observed. The donors are sorted by code, so their order in the input never
    matters.

    **Weights.** :math:`\hat w_i = \arg\min_{w \ge 0,\ \mathbf 1^\top w = 1} \sum_{t \in
    \mathcal{F}_i}(y_{it} - \sum_j w_j y_{jt})^2`, solved exactly (to round-off) by Wolfe's
    minimum-norm-point active-set algorithm in :mod:`sosstats._kernels.simplex`. When LA
    :math:`i`'s pre-period path lies inside the convex hull of the donors' paths (likely with
    few pre-period years) the optimum is a perfect fit and the weights are not unique; the
    solver then returns a sparse solution with at most :math:`|\mathcal F_i| + 1` positive
    weights. One warning names the LAs whose synthetic control is poorly identified: fewer
    than three fitting years, more donors than fitting years, or a perfect pre-period fit
    (pre-RMSPE below ``1e-6`` times the indicator's standard deviation); restricting the
    donors to each LA's statistical neighbours (``donors="neighbours"``) is the remedy when
    there are few pre-period years.

    **Effects.** Gap :math:`g_{it} = y_{it} - \sum_j \hat w_{ij} y_{jt}`; per LA the
    pre-RMSPE (over :math:`\mathcal F_i`), the post-RMSPE and the mean gap over
    :math:`t \ge s_i`; pooled, :math:`\widehat{ATT} = n^{-1}\sum_i \bar g_i^{post}` and, by
    event time :math:`e`, the mean of :math:`g_{i,s_i+e}` over the LAs observed at :math:`e`.

    **Placebos in space.** Each donor :math:`j` of LA :math:`i` is fitted from the other donors
    of :math:`i` over the same years. The per-LA p-value is the rank of LA :math:`i`'s ratio
    :math:`r = \text{post-RMSPE}/\text{pre-RMSPE}` among the placebos' ratios,
    :math:`p_i = (1 + \#\{j: r_j \ge r_i\})/(J_i + 1)` (Abadie et al. 2010). In the ratios
    (of the treated LAs and of the placebos alike) the pre-RMSPE is floored at
    :math:`10^{-8} \max_{l,t} |y_{lt}|`, the largest absolute observed value of the indicator
    over every LA and year of the data (not only the donors), or at :math:`10^{-308}` if all are
    zero, so perfect fits give large finite ratios and, among perfectly fitted units, the ranking
    is by post-RMSPE; ``by_la.pre_rmspe`` and ``placebos.pre_rmspe`` are reported unfloored.
    The pooled p-value follows Cavallo, Galiani, Noy and Pantano (2013): a placebo set
    takes one placebo from each treated LA's own placebo distribution (same timing, same pool),
    and its pooled effect is the mean of their mean post-period gaps;
    :math:`p = (1 + \#\{|\text{placebo effect}| \ge |\widehat{ATT}|\})/(N + 1)` over all
    :math:`N = \prod_i J_i` sets when :math:`N \le` ``n_draws`` (exact), otherwise over
    ``n_draws`` sets drawn uniformly with ``rng`` (Monte Carlo). The smallest attainable
    per-LA p-value is :math:`1/(J_i+1)`.

    References
    ----------
    Abadie, A., Diamond, A. and Hainmueller, J. (2010). Synthetic control methods for
    comparative case studies. *JASA* 105, 493-505.
    Cavallo, E., Galiani, S., Noy, I. and Pantano, J. (2013). Catastrophic natural disasters
    and economic growth. *Review of Economics and Statistics* 95, 1549-1561.
    Wolfe, P. (1976). Finding the nearest point in a polytope. *Mathematical Programming* 11,
    128-149.
    """
    n_draws = check_int(n_draws, "n_draws", minimum=1)
    gen = check_rng(rng)
    limit = None
    if isinstance(donors, str):
        if donors != "neighbours":
            raise DataError(f"`donors` must be 'neighbours', a list or mapping of LA codes, or "
                            f"a neighbour ranking; got {donors!r}.")
        if neighbours is None:
            raise DataError("donors='neighbours' needs `neighbours` (a fitted "
                            "StatisticalNeighbours, a ranking or a neighbour table).")
        limit = resolve_k(neighbours, k)
        donors = neighbours
    elif neighbours is not None or k is not None:
        raise DataError("`neighbours` and `k` are used only with donors='neighbours'.")
    if progress is not None and not isinstance(progress, bool):
        raise DataError(f"`progress` must be True, False or None; got {progress!r}.")
    treated_codes, panel, flags, starts = treated_panel(
        indicators, treated, indicator=indicator, start_year=start_year, id=id, year=year,
        at_least=1)
    years = panel.columns.to_numpy(dtype=np.int64)
    specs, dropped, few = donor_pools(panel, flags, treated_codes, starts, indicator=indicator,
                                      id=id, donors=donors, exclude=exclude,
                                      pre_years=pre_years, limit=limit)
    values = panel.to_numpy(dtype=float)
    row_of = {c: r for r, c in enumerate(panel.index.astype(str))}

    # fits of the treated LAs
    by_la, weights, paths, gaps_all, nonconv = [], [], [], [], []
    for code, s, fit, post, pool in specs:
        rows = np.array([row_of[d] for d in pool], dtype=np.intp)
        V = values[rows]
        y = values[row_of[code]]
        w, _, conv = simplex_lstsq(V[:, fit].T, y[fit])
        if not conv:
            nonconv.append(code)
        used = w > 0
        synth = np.where(np.isnan(V[used]).any(axis=0), np.nan, w[used] @ np.nan_to_num(V[used]))
        gap = y - synth
        gaps_all.append(gap)
        pre_r, post_r = _rmspe(gap, fit), _rmspe(gap, post)
        order = np.argsort(-w[used], kind="stable")
        weights.append(pd.DataFrame({"la_code": code,
                                     "donor": np.asarray(pool, dtype=object)[used][order],
                                     "weight": w[used][order]}))
        period = np.where(post, "post", np.where(fit, "fit", "pre"))
        paths.append(pd.DataFrame({"la_code": code, "year": years, "event_time": years - s,
                                   "period": period, "value": y, "synthetic": synth,
                                   "gap": gap}))
        by_la.append({"la_code": code, "start_year": s, "n_donors": len(pool),
                      "n_pre": int(fit.sum()), "n_post": int((post & ~np.isnan(gap)).sum()),
                      "pre_rmspe": float(pre_r), "post_rmspe": float(post_r),
                      "mean_post_gap": float(np.nanmean(gap[post])), "converged": conv})
    by_la_df = pd.DataFrame(by_la)
    _warn_identification(by_la_df, values, few)
    est = float(by_la_df["mean_post_gap"].mean())
    G = np.vstack(gaps_all)
    event = years[None, :] - starts[:, None]
    ev_times = np.unique(event)
    col = np.searchsorted(ev_times, event)
    E = np.full((len(specs), len(ev_times)), np.nan)
    E[np.arange(len(specs))[:, None], col] = G
    ok = ~np.isnan(E)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ev_mean = np.nanmean(E, axis=0)
    event_study = pd.DataFrame({"event_time": ev_times, "estimate": ev_mean,
                                "n_las": ok.sum(axis=0)}).loc[ok.any(axis=0)]
    event_study = event_study.reset_index(drop=True)

    # placebos in space
    # floor of the pre-RMSPE in the ratios: 1e-8 x the largest |value| of the whole panel
    ratio_floor = max(1e-8 * float(np.nanmax(np.abs(values))), 1e-308)
    by_la_df["rmspe_ratio"] = (by_la_df["post_rmspe"]
                               / np.maximum(by_la_df["pre_rmspe"], ratio_floor))
    by_la_df["p_value"] = np.nan
    placebo_rows, placebo_gaps, null = [], [], np.array([])
    p_value, method = np.nan, "no placebos"
    if placebo:
        keys = {}
        for code, s, fit, post, pool in specs:
            keys.setdefault((tuple(pool), fit.tobytes(), post.tobytes()), (fit, post, pool))
        bar = Progress(sum(len(v[2]) for v in keys.values()), progress,
                       "synthetic control placebos")
        cache = {}
        try:
            for key, (fit, post, pool) in keys.items():
                rows = np.array([row_of[d] for d in pool], dtype=np.intp)
                V = values[rows]
                W, _, conv = simplex_lstsq_placebo(V[:, fit].T, callback=lambda _: bar.step())
                nonconv.extend(np.asarray(pool)[~conv].tolist())
                pg = V - W @ np.where(np.isnan(V), 0.0, V)
                pg[:, ~(fit | post)] = np.nan
                cache[key] = (pg, _rmspe(pg, fit), _rmspe(pg, post), np.nanmean(pg[:, post], 1))
        finally:
            bar.close()
        means = []
        for i, (code, s, fit, post, pool) in enumerate(specs):
            pg, pre_r, post_r, mgap = cache[(tuple(pool), fit.tobytes(), post.tobytes())]
            ratio = post_r / np.maximum(pre_r, ratio_floor)
            r_i = by_la_df.at[i, "rmspe_ratio"]
            by_la_df.at[i, "p_value"] = (1 + np.sum(ratio >= r_i)) / (len(pool) + 1)
            placebo_rows.append(pd.DataFrame({"la_code": code, "placebo": pool,
                                              "pre_rmspe": pre_r, "post_rmspe": post_r,
                                              "rmspe_ratio": ratio, "mean_post_gap": mgap}))
            keep = fit | post
            placebo_gaps.append(pd.DataFrame({
                "la_code": code, "placebo": np.repeat(np.asarray(pool, object), keep.sum()),
                "year": np.tile(years[keep], len(pool)),
                "event_time": np.tile(years[keep] - s, len(pool)),
                "gap": pg[:, keep].ravel()}))
            means.append(mgap)
        n_sets = float(np.prod([float(len(m)) for m in means]))
        if n_sets <= n_draws:
            grids = np.meshgrid(*means, indexing="ij")
            null = np.mean([g.ravel() for g in grids], axis=0)
            method = f"exact, all {int(n_sets)} placebo sets"
        else:
            null = np.mean([m[gen.integers(0, len(m), size=n_draws)] for m in means], axis=0)
            method = f"Monte Carlo, {n_draws} random placebo sets"
        tol = 1e-12 * max(abs(est), 1.0)
        p_value = float((1 + np.sum(np.abs(null) >= abs(est) - tol)) / (len(null) + 1))
    if nonconv:
        warnings.warn(f"the weight solver stopped before its tolerance for "
                      f"{', '.join(map(str, nonconv[:10]))}.", SosstatsWarning, stacklevel=2)
    return SyntheticControlResult(
        estimate=est, p_value=p_value, nobs=len(specs), indicator=indicator,
        by_la=by_la_df[["la_code", "start_year", "n_donors", "n_pre", "n_post", "pre_rmspe",
                        "post_rmspe", "rmspe_ratio", "mean_post_gap", "p_value", "converged"]],
        weights=pd.concat(weights, ignore_index=True), paths=pd.concat(paths, ignore_index=True),
        event_study=event_study,
        placebos=stack(placebo_rows, ["la_code", "placebo", "pre_rmspe", "post_rmspe",
                                      "rmspe_ratio", "mean_post_gap"]),
        placebo_gaps=stack(placebo_gaps, ["la_code", "placebo", "year", "event_time", "gap"]),
        null_distribution=null, p_value_method=method, dropped=stack(dropped, DROPPED_COLUMNS))
