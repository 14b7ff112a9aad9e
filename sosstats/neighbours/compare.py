"""Treated LAs against their statistical nearest neighbours, on many indicators at once.

Entry point :func:`compare`; result :class:`ComparisonResult`. The maths and references are in
``docs/neighbours.md`` (section "Comparing pilots with their neighbours").
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from sosstats._kernels.resample import weighted_neighbour_means
from sosstats._results import Result, Summary
from sosstats._validate import check_codes, check_int, check_level, check_option, check_rng
from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.neighbours._indicators import indicator_matrix
from sosstats._multiplicity import ADJUSTMENTS, adjust_pvalues
from sosstats.neighbours._pooled import WILCOXON_METHOD, bootstrap_mean, paired_t, wilcoxon_p
from sosstats.neighbours.ranking import as_ranking, barred_codes, describe_neighbours, resolve_k
from sosstats.neighbours.randomization import randomization_distribution, randomization_pvalue

__all__ = ["compare", "ComparisonResult"]

_SUMMARY_COLUMNS = ["treated_mean", "neighbour_mean", "estimate", "ratio", "n_treated",
                    "std_error", "statistic", "p_value", "ci_lower", "ci_upper", "p_adjusted",
                    "p_wilcoxon", "p_wilcoxon_adjusted", "p_randomization",
                    "p_randomization_adjusted"]

#: the p-value families of :attr:`ComparisonResult.pooled`, each adjusted across indicators
P_FAMILIES = {"p_value": "p_adjusted", "p_wilcoxon": "p_wilcoxon_adjusted",
              "p_randomization": "p_randomization_adjusted"}


@dataclass(frozen=True, eq=False)
class ComparisonResult(Result):
    """Result of :func:`compare`: pilots against their neighbours, per indicator.

    Attributes
    ----------
    pooled : pandas.DataFrame
        Indexed by ``term`` (the indicator), as :meth:`summary` and :meth:`tidy` are:
        ``treated_mean, neighbour_mean, estimate, ratio, n_treated, std_error, statistic, df,
        p_value, ci_lower, ci_upper, p_wilcoxon, boot_se, boot_ci_lower, boot_ci_upper,
        p_randomization`` and, for each of the three p-value families, its adjustment across
        indicators by ``adjust``: ``p_adjusted`` (paired t), ``p_wilcoxon_adjusted``,
        ``p_randomization_adjusted``.
    per_la : pandas.DataFrame
        One row per indicator x treated LA: ``indicator, la_code, value, neighbour_mean,
        n_neighbours, difference, ratio`` (``difference``: the LA's value minus its
        neighbour mean, whose mean over LAs is the pooled ``estimate``).
    neighbour_sets : pandas.DataFrame
        ``la_code, neighbour, rank, distance, weight``: each treated LA's comparison group
        (``rank`` in the original ranking; ``weight`` before renormalising over missing cells).
    dropped : pandas.DataFrame
        Missing cells that changed the analysis: ``la_code, indicator, role, flag, reason,
        neighbour_of``.
    null_distribution : pandas.DataFrame or None
        Randomization statistics, ``n_draws`` rows x indicators.
    """

    pooled: pd.DataFrame
    per_la: pd.DataFrame
    neighbour_sets: pd.DataFrame
    dropped: pd.DataFrame
    null_distribution: pd.DataFrame | None
    treated: tuple[str, ...]
    indicators: tuple[str, ...]
    k: int
    weighting: str
    exclude: tuple[str, ...]
    exclude_treated: bool
    n_resamples: int
    n_draws: int
    adjust: str
    rng: Any
    year: Any
    pool_size: int
    nobs: int
    neighbour_model: str = "neighbour ranking"
    level: float = 0.95
    method: str = "treated LAs vs statistical nearest neighbours"

    def _estimates(self) -> pd.DataFrame:
        est = self.pooled
        first = ["estimate", "std_error", "statistic", "p_value"]
        extra = [c for c in est.columns if c not in first + ["ci_lower", "ci_upper"]]
        return est[first + extra]

    def _notes(self) -> list[str]:
        excl = ", ".join(self.exclude) if self.exclude else "none"
        which = (f"indicator {self.indicators[0]!r}" if len(self.indicators) == 1
                 else f"{len(self.indicators)} indicators")
        notes = [f"{which}; neighbours: {self.neighbour_model}.",
                 f"{self.nobs} treated LAs; k = {self.k} neighbours each ({self.weighting} "
                 f"weights); other treated LAs {'excluded' if self.exclude_treated else 'allowed'}"
                 f" as neighbours; also excluded: {excl}.",
                 "estimate = mean over treated LAs of (LA value - neighbour mean); p_value and "
                 "interval: paired t on n_treated - 1 df.",
                 f"p_wilcoxon: {WILCOXON_METHOD}."]
        families = "p_adjusted (t), p_wilcoxon_adjusted" + (
            ", p_randomization_adjusted" if self.n_draws else "")
        notes.append(f"{families}: {ADJUSTMENTS[self.adjust]} across "
                     f"{len(self.indicators)} indicator(s), each family separately.")
        if self.n_draws:
            notes.append(f"p_randomization: {self.n_draws} random pseudo-pilot sets from a pool "
                         f"of {self.pool_size} LAs (rng={self.rng!r}).")
        else:
            notes.append("randomization inference skipped (n_draws=0).")
        if self.n_resamples:
            notes.append(f"bootstrap over treated LAs: {self.n_resamples} resamples.")
        if len(self.dropped):
            notes.append(f"{len(self.dropped)} missing or suppressed cells left out (never read "
                         "as zero); see .dropped.")
        return notes

    def summary(self, level: float | None = None) -> Summary:
        """Readable table: means, estimate, ratio, t test, Wilcoxon, randomization, adjusted p.

        ``level`` defaults to the level the comparison was run at.
        """
        table = self.tidy(level).set_index("term")
        return Summary(f"{type(self).__name__}: {self.method}",
                       table[[c for c in _SUMMARY_COLUMNS if c in table.columns]],
                       self._notes())

    def plot(self, indicator: str | None = None, ax: Any = None, *, names: Any = None,
             show_names: bool = True) -> Any:
        """Forest plot of per-LA differences with the pooled estimate and its t interval.

        LAs are labelled by name ("Bristol", not "E06000023"), falling back to the code.

        Parameters
        ----------
        indicator : str, optional
            The indicator to draw; needed when ``ax`` is given and the result has several.
        ax : matplotlib Axes, optional
            Axes to draw one indicator into.
        names : mapping or DataFrame, optional
            Extra code -> name pairs (or a frame with ``la_code`` and ``la_name``).
        show_names : bool
            Label by name (default) or by code.

        Returns
        -------
        matplotlib.axes.Axes or matplotlib.figure.Figure
            The Axes for one indicator (``indicator`` given, or a one-indicator result).
            With several indicators and ``indicator=None``: the Figure, one panel per
            indicator; it indexes like the array of Axes this used to return
            (``fig[0, 1]``, ``fig.flat``, ``fig.panels``).
        """
        from sosstats._plotting import new_figure
        from sosstats.neighbours.plots import forest_plot

        names_ = list(self.indicators) if indicator is None else [indicator]
        unknown = [n for n in names_ if n not in self.indicators]
        if unknown:
            raise DataError(f"indicator {unknown[0]!r} is not in this result; it has "
                            f"{', '.join(map(repr, self.indicators))}.")
        pooled = self.pooled
        if len(names_) == 1:
            row = pooled.loc[names_[0]]
            return forest_plot(self.per_la[self.per_la["indicator"] == names_[0]],
                               estimate=row["estimate"], lower=row["ci_lower"],
                               upper=row["ci_upper"], title=names_[0], ax=ax, names=names,
                               show_names=show_names)
        if ax is not None:
            raise DataError("pass indicator= to draw one indicator on a given `ax`.")
        ncol = min(3, len(names_))
        nrow = -(-len(names_) // ncol)
        fig, axes = new_figure(nrow, ncol, figsize=(4.5 * ncol, 0.35 * self.nobs * nrow + 2))
        for a, name in zip(axes.flat, names_):
            row = pooled.loc[name]
            forest_plot(self.per_la[self.per_la["indicator"] == name],
                        estimate=row["estimate"], lower=row["ci_lower"],
                        upper=row["ci_upper"], title=name, ax=a, names=names,
                        show_names=show_names)
        for a in list(axes.flat)[len(names_):]:
            a.set_visible(False)
        fig.tight_layout()
        return fig


def _neighbour_weights(nd: np.ndarray, nb: np.ndarray, weighting: str, ids: np.ndarray,
                       rows: np.ndarray) -> np.ndarray:
    used = nb >= 0
    if weighting == "equal":
        return used.astype(float)
    bad = used & ~(np.isfinite(nd) & (nd > 0))
    if bad.any():
        i = np.flatnonzero(bad.any(axis=1))[0]
        raise DesignError(f"weighting='distance' needs a positive distance for every neighbour; "
                          f"LA {ids[rows[i]]} has a missing or zero distance (published "
                          "neighbour lists have no distances: use weighting='equal').")
    return np.where(used, 1.0 / np.where(used, nd, 1.0), 0.0)


def _dropped_table(codes: np.ndarray, names: list[str], tpos: np.ndarray, nb: np.ndarray,
                   vals: np.ndarray, flags: np.ndarray, reasons: np.ndarray,
                   cnt: np.ndarray) -> pd.DataFrame:
    rows = []
    tv = vals[tpos]
    for i, j in zip(*np.nonzero(~np.isfinite(tv))):
        rows.append((codes[tpos[i]], names[j], "treated", flags[tpos[i], j], reasons[tpos[i], j],
                     None))
    for i, j in zip(*np.nonzero(np.isfinite(tv) & (cnt == 0))):
        rows.append((codes[tpos[i]], names[j], "treated", None, "no neighbour with a value",
                     None))
    used = np.unique(nb[nb >= 0])
    for u in used:
        of = ", ".join(codes[tpos[np.flatnonzero((nb == u).any(axis=1))]])
        for j in np.flatnonzero(~np.isfinite(vals[u])):
            rows.append((codes[u], names[j], "neighbour", flags[u, j], reasons[u, j], of))
    return pd.DataFrame(rows, columns=["la_code", "indicator", "role", "flag", "reason",
                                       "neighbour_of"])


def compare(indicators: pd.DataFrame, treated: Any, neighbours: Any, *,
            indicator: str | list[str] | None = None, year: Any = None, id: str = "la_code",
            k: int | None = None, weighting: Literal["equal", "distance"] = "equal",
            exclude: Any = None, exclude_treated: bool = True, n_resamples: int = 9999,
            n_draws: int = 10_000, adjust: Literal["holm", "bh", "none"] = "holm",
            level: float = 0.95, rng: int | np.random.Generator | None = 0
            ) -> ComparisonResult:
    r"""Compare treated LAs with their statistical nearest neighbours on many indicators.

    Parameters
    ----------
    indicators : pandas.DataFrame
        Long (``id, indicator, value``[, ``year, flag``]) or wide (one row per LA, one column
        per indicator) table. Suppressed or missing cells are left out, never zero. Without
        ``indicator=``, a wide table's indicators are its numeric columns and its text columns
        holding only numbers, missing values and DfE markers (``c x z k u : .. -``); other text
        columns (names) are skipped.
    treated : sequence of str
        Codes of the treated (pilot) LAs.
    neighbours : NeighbourRanking, fitted StatisticalNeighbours, or table
        Who is near whom (a table has columns ``id, neighbour, rank``[, ``distance``]).
    indicator : str or list of str, optional
        Indicators to analyse, each named once (default all).
    year : optional
        Year to analyse; required when the long table has several. Compared as a number when
        the ``year`` column is numeric (``2016`` matches ``2016.0``), as text otherwise.
    id : str
        LA code column.
    k : int, optional
        Neighbours per treated LA: the first ``k`` ranked eligible ones (see Notes). Default:
        the ``k`` a fitted model (``StatisticalNeighbours(k=...).fit`` or ``from_published``)
        was built with, else 10. An explicit ``k`` larger than a fitted model's is a
        DesignError.
    weighting : {"equal", "distance"}
        Equal weights, or inverse-distance weights (needs distances in the ranking).
    exclude : sequence of str, optional
        LAs never used as neighbours nor drawn in the randomization (e.g. contaminated donors).
        When ``neighbours`` is a fitted model (``StatisticalNeighbours(...).fit`` or
        ``from_published``), its ``contaminated`` LAs are added.
    exclude_treated : bool
        Exclude the other treated LAs from each treated LA's neighbours (default True).
    n_resamples : int
        Bootstrap resamples over treated LAs (0 to skip).
    n_draws : int
        Randomization draws (0 to skip).
    adjust : {"holm", "bh", "none"}
        Multiplicity adjustment across indicators (Holm: family-wise error rate;
        Benjamini-Hochberg: false discovery rate), applied to each p-value family separately:
        ``p_adjusted`` (paired t), ``p_wilcoxon_adjusted``, ``p_randomization_adjusted``.
    level : float
        Confidence level of the t and bootstrap intervals.
    rng : int, Generator or None
        Seed for the bootstrap and the randomization (recorded in the result).

    Returns
    -------
    ComparisonResult

    Notes
    -----
    An LA is *eligible* as a neighbour, and in the randomization pool, when it has at least one
    row in ``indicators`` for the analysed year (any indicator, before ``indicator=``
    selection; in wide form, a row) and is neither treated (with ``exclude_treated``) nor
    excluded. Absent LAs (e.g. created later) are skipped and the next-ranked LA takes their
    place; a present LA whose cell is missing or suppressed keeps its slot and is only left out
    of that indicator's neighbour mean (``n_neighbours``), as DfE's LAIT neighbour averages do.
    So neighbour sets never depend on which indicators are analysed or which cells are
    suppressed.

    For treated LA :math:`i` with neighbours :math:`N_i` and weights :math:`w_{ij}` (equal or
    :math:`1/d_{ij}`), indicator value :math:`y_i` and observed-cell indicator :math:`O_j`:

    .. math:: \bar y_{N_i} = \frac{\sum_{j\in N_i} w_{ij} O_j y_j}{\sum_{j\in N_i} w_{ij} O_j},
              \qquad d_i = y_i - \bar y_{N_i}.

    The pooled estimate is :math:`\bar d` over the :math:`n` treated LAs with a value and at
    least one observed neighbour, tested by the paired t test (:math:`n-1` df), the Wilcoxon
    signed-rank test, a bootstrap over treated LAs, and randomization inference over random
    pseudo-pilot sets (:func:`~sosstats.neighbours.randomization.randomization_distribution`).
    The Wilcoxon p-value follows R's ``wilcox.test`` default (exact without ties or zeros and
    below 50 differences, else normal with continuity correction; see
    :func:`~sosstats.neighbours._pooled.wilcoxon_test`), whatever scipy is installed; ties or
    zeros give one warning. Each of the three p-value families (t, Wilcoxon, randomization) is
    adjusted across indicators by ``adjust`` (Holm 1979 or Benjamini-Hochberg 1995). The design follows the statistical-neighbour comparison of the Signs of
    Safety evaluation (Baginsky et al., 2017).

    References
    ----------
    Baginsky, M., Moriarty, J., Manthorpe, J. et al. (2017). *Evaluation of Signs of Safety in
    10 pilots*. Department for Education, Children's Social Care Innovation Programme.
    """
    check_option(weighting, ("equal", "distance"), "weighting")
    check_option(adjust, ("holm", "bh", "none"), "adjust")
    level = check_level(level)
    k = resolve_k(neighbours, k)
    n_resamples = check_int(n_resamples, "n_resamples", minimum=0)
    n_draws = check_int(n_draws, "n_draws", minimum=0)
    if not isinstance(exclude_treated, (bool, np.bool_)):
        raise DataError(f"`exclude_treated` must be True or False; got {exclude_treated!r}.")
    gen = check_rng(rng)
    mat = indicator_matrix(indicators, indicator=indicator, year=year, id=id)
    ranking = as_ranking(neighbours, id=id)
    codes = np.asarray(ranking.ids).astype(str).astype(object)
    lookup = pd.Index(codes)

    tcodes = check_codes(treated, "treated")
    if not tcodes:
        raise DesignError("`treated` is empty; name the treated LAs.")
    not_data = [c for c in tcodes if c not in set(mat.ids)]
    if not_data:
        raise DesignError(f"treated LA {', '.join(not_data)} not found in column {id!r} of "
                          "`indicators`.")
    tpos = lookup.get_indexer(tcodes)
    if (tpos < 0).any():
        missing = ", ".join(np.asarray(tcodes)[tpos < 0])
        raise DesignError(f"treated LA {missing} not found among the ranked units of "
                          "`neighbours`.")
    xcodes = check_codes(exclude, "exclude")
    xpos = lookup.get_indexer(xcodes)
    if (xpos < 0).any():
        raise DataError(f"excluded LA {', '.join(np.asarray(xcodes)[xpos < 0])} not found "
                        "among the ranked units of `neighbours`.")
    both = sorted(set(tcodes) & set(xcodes))
    if both:
        raise DataError(f"LA {', '.join(both)} is both treated and in `exclude`.")
    # LAs a fitted model flags as contaminated are never neighbours nor pseudo-pilots
    barred = [c for c in barred_codes(neighbours) if c not in xcodes and c in lookup]
    xcodes = xcodes + barred
    xpos = lookup.get_indexer(xcodes)

    vals, flags, reasons = mat.aligned(codes)
    names = list(mat.names)
    observed = np.isfinite(vals)
    present = mat.is_present(codes)     # a row in the year's table: a slot, whatever its cells
    treated_mask = np.zeros(len(codes), dtype=bool)
    treated_mask[tpos] = True
    excl_mask = np.zeros(len(codes), dtype=bool)
    excl_mask[xpos] = True
    eligible = present & ~excl_mask
    if exclude_treated:
        eligible &= ~treated_mask

    nb, nd = ranking.select(tpos, k, excluded=~eligible)
    n_avail = (nb >= 0).sum(axis=1)
    if n_avail.max() < k:
        raise DesignError(f"k = {k} is too large: no treated LA has {k} eligible neighbours "
                          f"(at most {n_avail.max()}); choose k <= {n_avail.max()}.")
    if (n_avail == 0).any():
        raise DesignError(f"treated LA {', '.join(np.asarray(tcodes)[n_avail == 0])} has no "
                          "eligible neighbour in the ranking.")
    if (n_avail < k).any():
        short = ", ".join(f"{c} ({a})" for c, a in zip(tcodes, n_avail) if a < k)
        warnings.warn(f"fewer than k = {k} eligible neighbours for {short}; their neighbour "
                      "means use those available.", SosstatsWarning, stacklevel=2)
    w = _neighbour_weights(nd, nb, weighting, codes, tpos)
    nmean, _, cnt = weighted_neighbour_means(nb, w, np.where(observed, vals, 0.0), observed)

    tval = vals[tpos]
    ok = np.isfinite(tval) & (cnt > 0)
    diffs = np.where(ok, tval - nmean, np.nan)                  # (m, p)
    n_ok = ok.sum(axis=0)
    if (n_ok < 2).any():
        j = int(np.flatnonzero(n_ok < 2)[0])
        lacking = ", ".join(np.asarray(tcodes)[~ok[:, j]])
        raise DesignError(f"indicator {names[j]!r} has {n_ok[j]} treated LA(s) with a value and "
                          f"a neighbour value; a pooled test needs at least two (no usable data "
                          f"for {lacking}).")

    tt = paired_t(diffs.T, level)
    with np.errstate(invalid="ignore", divide="ignore"):
        tmean = np.nanmean(np.where(ok, tval, np.nan), axis=0)
        nbmean = np.nanmean(np.where(ok, nmean, np.nan), axis=0)
        per_ratio = tval / nmean
    g_boot, g_rand = gen.spawn(2)
    boot = bootstrap_mean(diffs.T, n_resamples, g_boot, level)

    null_df = None
    pool = np.flatnonzero(present & ~treated_mask & ~excl_mask)
    p_rand = np.full(len(names), np.nan)
    if n_draws:
        dist = randomization_distribution(vals, ranking, pool, len(tpos), k, n_draws=n_draws,
                                          rng=g_rand, weighting=weighting,
                                          exclude_draws=bool(exclude_treated), indicators=names)
        p_rand = randomization_pvalue(dist.null_distribution, tt["difference"].to_numpy())
        null_df = pd.DataFrame(dist.null_distribution, columns=names)

    p = tt["p_value"].to_numpy()
    p_wil, approx = wilcoxon_p(diffs.T)
    if approx.any():
        tied = ", ".join(np.asarray(names, dtype=object)[approx][:5])
        warnings.warn(f"ties or zero differences among the treated LAs' differences for {tied}: "
                      "p_wilcoxon uses the normal approximation with continuity correction "
                      "(as R's wilcox.test does), not the exact distribution.", SosstatsWarning,
                      stacklevel=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = tmean / nbmean
    pooled = pd.DataFrame({
        "treated_mean": tmean, "neighbour_mean": nbmean,
        "estimate": tt["difference"].to_numpy(), "ratio": ratio,
        "n_treated": n_ok.astype(int), "std_error": tt["std_error"].to_numpy(),
        "statistic": tt["statistic"].to_numpy(), "df": tt["df"].to_numpy(), "p_value": p,
        "ci_lower": tt["ci_lower"].to_numpy(), "ci_upper": tt["ci_upper"].to_numpy(),
        "p_wilcoxon": p_wil, **{c: boot[c].to_numpy() for c in boot.columns},
        "p_randomization": p_rand}, index=pd.Index(names, name="term"))
    for raw, adjusted in P_FAMILIES.items():
        pooled[adjusted] = adjust_pvalues(pooled[raw].to_numpy(), adjust)

    m, pn = len(tpos), len(names)
    per_la = pd.DataFrame({
        "indicator": np.repeat(names, m), "la_code": np.tile(np.asarray(tcodes, dtype=object), pn),
        "value": tval.T.ravel(), "neighbour_mean": nmean.T.ravel(),
        "n_neighbours": cnt.T.ravel().astype(int), "difference": diffs.T.ravel(),
        "ratio": per_ratio.T.ravel()})
    i, j = np.nonzero(nb >= 0)
    wn = w / w.sum(axis=1, keepdims=True)
    sets = pd.DataFrame({"la_code": np.asarray(tcodes, dtype=object)[i],
                         "neighbour": codes[nb[i, j]],
                         "rank": ranking.original_rank(tpos, nb)[i, j],
                         "distance": nd[i, j], "weight": wn[i, j]})
    dropped = _dropped_table(codes, names, tpos, nb, vals, flags, reasons, cnt)
    return ComparisonResult(
        pooled=pooled, per_la=per_la, neighbour_sets=sets, dropped=dropped,
        null_distribution=null_df, treated=tuple(tcodes), indicators=tuple(names), k=k,
        weighting=weighting, exclude=tuple(xcodes), exclude_treated=bool(exclude_treated),
        n_resamples=n_resamples, n_draws=n_draws, adjust=adjust, level=level,
        rng=rng if rng is None or isinstance(rng, (int, np.integer)) else repr(rng),
        year=year, pool_size=len(pool), nobs=m,
        neighbour_model=describe_neighbours(neighbours))
