"""The main job: the Signs of Safety evaluation's 2015/16 pilots-vs-neighbours table, recomputed.

:func:`reproduce_2016` recomputes each published figure of the evaluation's comparison of its ten
pilot LAs with their DfE statistical nearest neighbours (SNNs) from the real DfE data shipped with
sosstats, with :func:`sosstats.neighbours.compare`, and prints the published figure beside the
recomputed one. The headline is one analysis: one DfE neighbour list for every row (by default
the April 2021 list, named in the title), one aggregation and one treatment of other pilots,
with paired t, Wilcoxon and randomization p-values Holm-adjusted across the rows. The
combination closest to the published figures, searched per indicator in
``docs/reproducing_2016.md`` (it mixes lists and aggregations by row), is shown only as a
labelled sensitivity (``model="closest-per-indicator"``, or the sensitivity block).

:func:`simulated_comparison` runs the same comparison on :func:`simulate_evaluation` data, with
the true pilot effects beside the estimates.
"""

from __future__ import annotations

import textwrap
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sosstats._multiplicity import ADJUSTMENTS
from sosstats._results import TableResult
from sosstats._validate import check_codes, check_option
from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.neighbours.compare import P_FAMILIES, ComparisonResult, compare

__all__ = ["Reproduction", "reproduce_2016", "simulated_comparison", "SimulatedComparison",
           "dfe_recovery", "LAIT_CONTEXT", "MODELS", "DEFAULT_MODEL", "DEFINITIONS"]

#: LAIT context measures (child poverty, free school meals, English as an additional language)
#: on which a fitted model recovers the most of DfE's published neighbours
#: (``docs/neighbours.md``, "How close is a fit on public context measures to DfE's lists?").
LAIT_CONTEXT = ("lait_ChildPov", "lait_PriFSM", "lait_SecFSM", "lait_Ever6_FSM_Prim",
                "lait_Ever6_FSM_Sec", "lait_EALPri", "lait_EALSec")

_CIN_SUFFIXES = ("_rate_per_10k", "_pct", "_wd")


#: the neighbour models :func:`reproduce_2016` accepts: DfE's two shipped lists, and the
#: per-indicator search result (a sensitivity: it mixes lists and aggregations by row)
MODELS = ("2021", "2025", "closest-per-indicator")

#: the default: one DfE list for every row, the April 2021 refresh (the shipped list closest in
#: time to 2015/16 and the direct successor of the list the study used; docs/reproducing_2016.md)
DEFAULT_MODEL = "2021"

#: the model used for the whole table: label printed in titles
MODEL_LABELS = {"2021": "DfE April 2021 SN model", "2025": "DfE May 2025 SN model",
                "closest-per-indicator": "closest DfE SN model per indicator (sensitivity)"}

#: plain-words definitions of the indicators the headline recomputes
DEFINITIONS = {
    "icpc_children_rate_per_10k": "children subject to an initial child protection conference "
                                  "in the year per 10,000 children aged 0-17 (DfE CIN table C4 "
                                  "/ ONS mid-year population)",
    "icpc_rate_per_10k": "initial child protection conferences in the year per 10,000 "
                         "children aged 0-17 (= LAIT ISCP_Conf)",
    "s47_to_icpc_median_wd": "the LA's median working days from the start of a section 47 "
                             "enquiry to the ICPC (DfE CIN table D3)",
    "s47_to_icpc_p25_wd": "25th percentile of working days from S47 start to ICPC",
    "s47_to_icpc_p75_wd": "75th percentile of working days from S47 start to ICPC",
    "cpp_at_31_march_rate_per_10k": "children subject of a child protection plan at 31 March "
                                    "per 10,000 children aged 0-17 (the stock; DfE CIN D5)",
    "cpp_started_rate_per_10k": "child protection plans starting in the year per 10,000 "
                                "children aged 0-17 (the flow; = LAIT CPP_Abuse_Rate)",
}

#: how the headline's figures are made, the same for every row
HEADLINE_RULE = ("every row: year ending 31 March, one DfE list, each pilot's first k listed "
                 "neighbours with data that year (other pilots excluded), pilots = mean of the "
                 "pilots' values, SNNs = mean over pilots of each pilot's SNN mean, "
                 "difference = pilots - SNNs (sosstats.neighbours.compare); indicator: the "
                 "definition whose pilots' figure, which no neighbour choice affects, matches "
                 "the published pilots' figure")


@dataclass(frozen=True, eq=False)
class Reproduction(TableResult):
    """Published 2015/16 figures beside their recomputation (see :func:`reproduce_2016`).

    A table result (``tidy()`` is :attr:`table`); ``str()`` and :meth:`report` print the
    report of ``sosstats neighbours``.

    Attributes
    ----------
    table : pandas.DataFrame
        The headline, one row per published indicator: ``label, short_label,
        published_pilots, published_snn, reported, pilots, snn, difference, ci_lower,
        ci_upper, p_value, p_adjusted, p_wilcoxon, p_wilcoxon_adjusted, p_randomization,
        p_randomization_adjusted, indicator, model, other_pilots, n_pilots, note``. With a
        single DfE list (the default) every row uses that list, the same aggregation and the
        same treatment of other pilots; each ``*_adjusted`` column is Holm's adjustment of its
        family across the recomputed rows. Rows that cannot be recomputed carry NaN and the
        reason in ``note``.
    sensitivity : pandas.DataFrame or None
        For 2015/16: per recomputed row, the figures when one choice changes (``variant``):
        the other DfE list, other pilots kept in SNN groups, each alternative definition, and
        the combination closest to the published figures found per indicator by the search of
        ``docs/reproducing_2016.md`` (which mixes lists and aggregations by row). Columns
        ``label, short_label, variant, indicator, model, other_pilots, pilots, snn,
        difference, note``.
    comparisons : dict
        The :class:`ComparisonResult` behind each recomputed row, keyed by indicator.
    all_indicators : ComparisonResult or None
        Every rate, percentage and duration indicator of the year, when asked for.
    year : int
        Year ending 31 March (2016 = 2015/16).
    model : str
        ``"2021"``, ``"2025"`` or ``"closest-per-indicator"`` (or the label of a user's list).
    """

    table: pd.DataFrame
    comparisons: dict[str, ComparisonResult]
    all_indicators: ComparisonResult | None
    year: int
    model: str
    n_draws: int
    recovery: pd.DataFrame | None = None
    sensitivity: pd.DataFrame | None = None

    @property
    def model_label(self) -> str:
        """The neighbour model in words, as the title prints it."""
        return MODEL_LABELS.get(self.model, self.model)

    @property
    def mixed(self) -> bool:
        """True when the rows use different neighbour lists (``closest-per-indicator``)."""
        return self.model == "closest-per-indicator"

    def report(self, width: int = 100) -> str:
        """Return the printed tables of ``sosstats neighbours``, wrapped to ``width`` columns.

        Labelled by the year analysed and the neighbour model; the published figures (and the
        sensitivity block) are shown only for 2015/16, the year they describe.
        """
        t = self.table
        published = self.year == 2016
        label = year_label(self.year)
        short = t["short_label"] if "short_label" in t else t["label"]
        lines = _wrap([f"Signs of Safety pilots vs their statistical nearest neighbours, "
                       f"{label}: {self.model_label}"], width)
        if self.mixed:
            lines += _wrap(["SENSITIVITY, NOT ONE ANALYSIS: each row uses the neighbour list "
                            "and aggregation closest to the published figures for that row "
                            "(column 'SN model'); the default uses one list for every row."],
                           width)
        if published:
            lines += _wrap(["Published figures (Baginsky et al. 2017) beside those recomputed "
                            "from the shipped DfE data."], width)
            figures = pd.DataFrame({
                "indicator": short, "pub. pilots": t["published_pilots"],
                "pub. SNNs": t["published_snn"], "pilots": t["pilots"].round(1),
                "SNNs": t["snn"].round(1), "difference": t["difference"].round(2),
                "published call": t["reported"]})
        else:
            lines += _wrap([f"Recomputed from the shipped DfE data for {label}; the published "
                            "figures describe 2015/16 and are shown only for that year "
                            "(2016)."], width)
            figures = pd.DataFrame({"indicator": short, "pilots": t["pilots"].round(1),
                                    "SNNs": t["snn"].round(1),
                                    "difference": t["difference"].round(2)})
        tests = pd.DataFrame({"indicator": short, "p (t)": t["p_value"].round(3),
                              "adj.": t["p_adjusted"].round(3),
                              "p (Wilcoxon)": t["p_wilcoxon"].round(3),
                              "adj. ": t["p_wilcoxon_adjusted"].round(3),
                              "p (rand.)": t["p_randomization"].round(3),
                              "adj.  ": t["p_randomization_adjusted"].round(3)})
        if self.mixed:
            figures["SN model"] = t["model"]
            tests["SN model"] = t["model"]
        rand = (f"p (rand.): randomization inference, {self.n_draws:,} pseudo-pilot sets."
                if self.n_draws else self._skipped)
        lines += ["", figures.to_string(index=False, na_rep="-"), "",
                  tests.to_string(index=False, na_rep="-"), ""]
        n_rec = int(t["indicator"].notna().sum())
        foot = [f"{HEADLINE_RULE}." if not self.mixed else
                "pilots / SNNs: as compare gives them, with each row's closest list and "
                "treatment of other pilots.",
                f"adj.: Holm (family-wise error rate) across the {n_rec} recomputed rows, each "
                "p-value family separately.", rand]
        lines += _wrap(foot, width)
        lines.append("")
        for _, row in t.iterrows():
            lines += _wrap([f"- {row['short_label'] if 'short_label' in row else row['label']}"
                            f": {row['note']}"], width, indent="  ")
        if published and self.sensitivity is not None and len(self.sensitivity):
            s = self.sensitivity
            sens = pd.DataFrame({"indicator": s["short_label"], "variant": s["variant"],
                                 "pilots": s["pilots"].round(1), "SNNs": s["snn"].round(1),
                                 "difference": s["difference"].round(2)})
            lines += [""] + _wrap([
                "Sensitivity (labelled variants, not the headline): each line changes one "
                "choice of the headline; 'closest' is the combination closest to the "
                "published figures, searched per indicator (docs/reproducing_2016.md): it "
                "mixes neighbour lists and aggregations across rows and fits the published "
                "numbers by construction."], width)
            lines.append(sens.to_string(index=False, na_rep="-"))
        if self.all_indicators is not None:
            res = self.all_indicators
            pooled = res.pooled
            cols = ["treated_mean", "neighbour_mean", "estimate", "p_value", "p_adjusted",
                    "p_randomization", "p_randomization_adjusted"]
            table = pooled[cols].rename_axis(None).round(3)
            table.columns = ["pilots", "SNNs", "diff.", "p (t)", "adj.", "p (rand.)", "adj."]
            lines += [""] + _wrap([
                f"Every rate, percentage and duration indicator of {label}: pilots vs their "
                f"neighbours in the {res.neighbour_model} (k = {res.k}); adj.: "
                f"{ADJUSTMENTS[res.adjust]} across the {len(res.indicators)} indicators, "
                "for each p-value family."], width)
            lines.append(table.to_string(na_rep="-"))
            if not res.n_draws:
                lines += _wrap([self._skipped], width)
        if self.recovery is not None:
            lines += [""] + _wrap(["StatisticalNeighbours fitted on LAIT context measures ("
                                   + ", ".join(LAIT_CONTEXT) + "; equal weights, k = 10) "
                                   "against DfE's published lists:"], width)
            lines.append(self.recovery.to_string(index=False))
        return "\n".join(lines)

    #: the line printed when randomization inference was not run
    _skipped = "randomization inference skipped (n_draws=0): p (rand.) is not computed."
    method = "published 2015/16 pilots vs SNNs, recomputed"

    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)
        return self.table.set_index("label")

    def __str__(self) -> str:
        return self.report()


def year_label(year: int) -> str:
    """``2016`` -> ``"2015/16"`` (years end on 31 March)."""
    return f"{int(year) - 1}/{str(int(year))[-2:]}"


def _wrap(paragraphs: list[str], width: int, indent: str = "") -> list[str]:
    out = []
    for text in paragraphs:
        out += textwrap.wrap(text, width=width, subsequent_indent=indent,
                             break_on_hyphens=False) or [""]
    return out


def _pilot_codes() -> list[str]:
    from sosstats.datasets.published import signs_of_safety_pilots

    return signs_of_safety_pilots()["la_code"].tolist()


def _closest(res: ComparisonResult, wide: pd.DataFrame, indicator: str, pilot_agg: str,
             snn_agg: str, weight: str) -> tuple[float, float]:
    """Recompute the closest aggregation of ``docs/reproducing_2016.md`` from per-LA figures."""
    per = res.per_la[res.per_la["indicator"] == indicator].dropna(subset=["value"])
    if pilot_agg == "pooled":
        w = wide[weight].reindex(per["la_code"]).to_numpy(dtype=float)
        pilots = float(np.nansum(per["value"].to_numpy() * w) / np.nansum(w))
    else:
        pilots = float(per["value"].mean())
    ok = per["n_neighbours"] > 0
    if snn_agg == "mean_over_pairs":
        snn = float(np.average(per.loc[ok, "neighbour_mean"], weights=per.loc[ok, "n_neighbours"]))
    else:
        snn = float(per.loc[ok, "neighbour_mean"].mean())
    return pilots, snn


class _noted:
    """Re-issue the SosstatsWarnings of a block once each, prefixed by what they concern."""

    def __init__(self, context: str) -> None:
        self.context = context

    def __enter__(self) -> None:
        self._catch = warnings.catch_warnings(record=True)
        self._caught = self._catch.__enter__()
        warnings.simplefilter("always", SosstatsWarning)

    def __exit__(self, *exc: Any) -> None:
        self._catch.__exit__(*exc)
        for message in dict.fromkeys(str(w.message) for w in self._caught
                                     if issubclass(w.category, SosstatsWarning)):
            warnings.warn(f"{self.context}: {message}", SosstatsWarning, stacklevel=3)
        for w in self._caught:
            if not issubclass(w.category, SosstatsWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _row_stats(res: ComparisonResult, ind: str) -> dict[str, Any]:
    pooled = res.pooled.loc[ind]
    return {"pilots": pooled["treated_mean"], "snn": pooled["neighbour_mean"],
            "difference": pooled["estimate"], "ci_lower": pooled["ci_lower"],
            "ci_upper": pooled["ci_upper"], "p_value": pooled["p_value"],
            "p_wilcoxon": pooled["p_wilcoxon"], "p_randomization": pooled["p_randomization"],
            "n_pilots": pooled["n_treated"]}


def reproduce_2016(*, model: str | None = None, year: int = 2016, k: int = 10,
                   n_draws: int = 10_000, rng: int | np.random.Generator | None = 0,
                   all_indicators: bool = False, recovery: bool = True,
                   sensitivity: bool = True, indicators: pd.DataFrame | None = None,
                   neighbours: pd.DataFrame | None = None,
                   pilots: Any = None) -> Reproduction:
    r"""Recompute the evaluation's 2015/16 pilots-vs-SNNs table from the shipped DfE data.

    Parameters
    ----------
    model : {"2021", "2025", "closest-per-indicator"}, optional
        Neighbour model for the whole table. Default ``"2021"``: DfE's April 2021 list for
        every row (the shipped list closest in time to 2015/16; the pre-2021 list the study
        used is not available). ``"closest-per-indicator"`` gives each row the list and the
        treatment of other pilots that bring it closest to the published figures: a
        sensitivity, labelled as such, not one analysis. With ``neighbours`` given, a label
        for that list (default "user-supplied neighbour list").
    year : int
        Year ending 31 March (2016 = 2015/16, the published year).
    k : int
        Neighbours per pilot (DfE lists have 10).
    n_draws : int
        Randomization-inference draws.
    rng : int, Generator or None
        Seed for the randomization inference and the bootstrap.
    all_indicators : bool
        Also compare the pilots with their SNNs on every rate, percentage and duration
        indicator of the children-in-need tables (with the table's list; the 2021 list under
        ``closest-per-indicator``).
    recovery : bool
        Also fit :class:`StatisticalNeighbours` on LAIT context measures and report how many of
        DfE's published neighbours it recovers (:func:`dfe_recovery`).
    sensitivity : bool
        For 2015/16, also compute :attr:`Reproduction.sensitivity` (no randomization draws).
    indicators : pandas.DataFrame, optional
        Long indicator table (``la_code, year, indicator, value``) in place of the shipped
        :func:`~sosstats.datasets.loaders.load_la_indicators`; not modified.
    neighbours : pandas.DataFrame, optional
        Neighbour table (``la_code, neighbour, rank``) in place of DfE's shipped lists.
    pilots : sequence of str, optional
        Pilot LA codes (default the ten Signs of Safety pilots).

    Returns
    -------
    Reproduction

    Notes
    -----
    With one list (the default), every recomputed row is the same analysis: the pilots'
    comparison group is the first ``k`` LAs of their DfE list that have data that year (LAs
    created after 2016 have none), other pilots excluded; the estimate
    :math:`\bar d = n^{-1}\sum_i (y_i - \bar y_{N_i})`, the paired t, Wilcoxon and
    randomization tests are those of :func:`compare`, run once over the recomputed
    indicators so that each p-value family is Holm-adjusted across them (Holm 1979). Each
    row's indicator is the definition whose pilots' figure (which does not depend on any
    neighbour choice) reproduces the published pilots' figure: for "children becoming subject
    of a plan" that is the stock at 31 March, not plans starting (``docs/reproducing_2016.md``).

    References
    ----------
    Baginsky, M., Moriarty, J., Manthorpe, J., et al. (2017). *Evaluation of Signs of Safety in
    10 pilots*. Department for Education, Children's Social Care Innovation Programme.

    Holm, S. (1979). A simple sequentially rejective multiple test procedure. *Scandinavian
    Journal of Statistics* 6, 65-70.
    """
    from sosstats._multiplicity import adjust_pvalues
    from sosstats._validate import check_columns, check_frame
    from sosstats.datasets.loaders import load_la_indicators, load_statistical_neighbours
    from sosstats.datasets.published import published_2016

    if neighbours is None:
        model = check_option(DEFAULT_MODEL if model is None else str(model), MODELS, "model")
        lists = {m: load_statistical_neighbours(m) for m in ("2021", "2025")}
    else:
        neighbours = check_frame(neighbours, "neighbours")
        check_columns(neighbours, ["la_code", "neighbour", "rank"], what="column of `neighbours`")
        if model == "closest-per-indicator":
            raise DesignError("model='closest-per-indicator' chooses among DfE's shipped lists; "
                              "it cannot be used with a user-supplied `neighbours` table.")
        model = "user-supplied neighbour list" if model is None else str(model)
        lists = {model: neighbours}
    pilots = _pilot_codes() if pilots is None else check_codes(pilots, "pilots")
    published = published_2016()
    needed = sorted({str(i) for i in published["indicator"].dropna()}
                    | {str(a) for alts in published["alternatives"] for a in alts}
                    | {"child_population_0_17", "icpc"})
    if indicators is None:
        long = load_la_indicators(indicators=needed, years=year)
    else:
        long = check_frame(indicators, "indicators")
        check_columns(long, ["la_code", "year", "indicator", "value"],
                      what="column of `indicators`")
        long = long.loc[pd.to_numeric(long["year"], errors="coerce") == year]
        if long.empty:
            raise DataError(f"`indicators` has no rows for year {year}.")
    wide = (long.pivot_table(index="la_code", columns="indicator", values="value",
                             aggfunc="first", dropna=False)
            .rename_axis(columns=None))
    present = set(wide.columns)

    def run(ind: str | list[str], use: str, excl: bool, draws: int,
            noted: bool = True) -> ComparisonResult:
        names = [ind] if isinstance(ind, str) else ind
        if not noted:   # sensitivity: means only, so the tests' warnings do not apply
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="ties or zero",
                                        category=SosstatsWarning)
                return compare(wide.reset_index(), pilots, lists[use], indicator=ind, k=k,
                               exclude_treated=excl, n_draws=draws, n_resamples=0, rng=rng)
        what = (names[0] if len(names) == 1
                else f"{year_label(year)} headline ({len(names)} indicators)")
        with _noted(f"{what}, {MODEL_LABELS.get(use, use)}"):
            return compare(wide.reset_index(), pilots, lists[use], indicator=ind, k=k,
                           exclude_treated=excl, n_draws=draws, rng=rng)

    rows, comparisons = [], {}
    todo = []
    for _, pub in published.iterrows():
        base = {"label": pub["label"], "short_label": pub["short_label"],
                "published_pilots": pub["pilots"], "published_snn": pub["snn"],
                "reported": pub["reported"]}
        ind = pub["indicator"]
        if not isinstance(ind, str):
            rows.append({**base, "indicator": None, "model": None, "other_pilots": None,
                         "note": f"cannot be recomputed: {pub['reason']}."})
        elif ind not in present:
            rows.append({**base, "indicator": ind, "model": None, "other_pilots": None,
                         "note": f"cannot be recomputed: {ind} is not in `indicators` for "
                                 f"{year_label(year)}."})
        else:
            rows.append(base)
            todo.append((len(rows) - 1, pub))
    if todo and not model == "closest-per-indicator":
        res = run([str(p["indicator"]) for _, p in todo], model, True, n_draws)
    for i, pub in todo:
        ind = str(pub["indicator"])
        if model == "closest-per-indicator":
            use, excl = str(pub["best_model"]), pub["best_other_pilots"] == "exclude"
            res = run(ind, use, excl, n_draws)
        else:
            use, excl = model, True
        comparisons[ind] = res
        definition = DEFINITIONS.get(ind, ind)
        note = (f"{ind}: {definition}." if not model == "closest-per-indicator" else
                f"{ind}; {pub['best_definition']}.")
        rows[i] = {**rows[i], **_row_stats(res, ind), "indicator": ind, "model": use,
                   "other_pilots": "excluded" if excl else "kept", "note": note}
    table = pd.DataFrame(rows)
    for col in ("pilots", "snn", "difference", "ci_lower", "ci_upper", "p_value",
                "p_wilcoxon", "p_randomization", "n_pilots"):
        if col not in table:
            table[col] = np.nan
    for raw, adjusted in P_FAMILIES.items():
        table[adjusted] = adjust_pvalues(table[raw].to_numpy(dtype=float), "holm")
    order = ["label", "short_label", "published_pilots", "published_snn", "reported",
             "pilots", "snn", "difference", "ci_lower", "ci_upper", "p_value", "p_adjusted",
             "p_wilcoxon", "p_wilcoxon_adjusted", "p_randomization",
             "p_randomization_adjusted", "indicator", "model", "other_pilots", "n_pilots",
             "note"]
    table = table[order]

    sens = None
    if sensitivity and year == 2016 and todo:
        sens = _sensitivity(todo, lambda *a: run(*a, noted=False), wide, model, lists, present,
                            label=f"{year_label(year)} sensitivity")
    extra = None
    if all_indicators:
        if indicators is None:
            long_all = load_la_indicators(years=year)
        else:
            long_all = long
        names = sorted(n for n in long_all["indicator"].unique()
                       if not str(n).startswith("lait_") and str(n).endswith(_CIN_SUFFIXES))
        use = DEFAULT_MODEL if model == "closest-per-indicator" else model
        with _noted(f"every indicator of {year_label(year)}, {MODEL_LABELS.get(use, use)}"):
            extra = compare(long_all, pilots, lists[use], indicator=names, year=year, k=k,
                            n_draws=n_draws, rng=rng)
    return Reproduction(table=table, comparisons=comparisons, all_indicators=extra, year=year,
                        model=model, n_draws=n_draws,
                        recovery=dfe_recovery() if recovery else None, sensitivity=sens)


def _sensitivity(todo: list, run: Any, wide: pd.DataFrame, model: str, lists: dict,
                 present: set, label: str = "sensitivity") -> pd.DataFrame:
    """Recompute the headline with one choice changed at a time (no randomization draws).

    Each SosstatsWarning is re-issued once, prefixed by ``label``, the indicators and the
    variants (neighbour list, other pilots kept or excluded) that raised it.
    """
    rows = []
    main = model if model in lists else DEFAULT_MODEL
    others = [m for m in lists if m != main]
    seen: dict[str, dict[str, list[str]]] = {}      # message -> variant -> indicators
    asked: dict[str, list[str]] = {}                # variant -> indicators run
    other: set[tuple[str, str]] = set()

    def noted_run(ind: str, use: str, excl: bool) -> Any:
        variant = f"{MODEL_LABELS.get(use, use)}, other pilots {'excluded' if excl else 'kept'}"
        asked.setdefault(variant, []).append(ind)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SosstatsWarning)
            res = run(ind, use, excl, 0)
        for w in caught:
            if issubclass(w.category, SosstatsWarning):
                seen.setdefault(str(w.message), {}).setdefault(variant, []).append(ind)
            elif (str(w.message), w.category.__name__) not in other:   # once each
                other.add((str(w.message), w.category.__name__))
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return res

    def add(pub: Any, variant: str, ind: str, use: str, excl: bool, note: str,
            closest: tuple[float, float] | None = None) -> None:
        res = noted_run(ind, use, excl)
        stats = _row_stats(res, ind)
        pilots, snn = closest if closest else (stats["pilots"], stats["snn"])
        rows.append({"label": pub["label"], "short_label": pub["short_label"],
                     "variant": variant, "indicator": ind, "model": use,
                     "other_pilots": "excluded" if excl else "kept", "pilots": pilots,
                     "snn": snn, "difference": pilots - snn, "note": note})

    for _, pub in todo:
        ind = str(pub["indicator"])
        add(pub, f"headline ({main} list)", ind, main, True, "the headline's rule")
        for other in others:
            add(pub, f"{other} list", ind, other, True, "the other DfE list")
        add(pub, "other pilots kept", ind, main, False,
            "other pilots allowed in a pilot's SNN group")
        for alt in pub["alternatives"]:
            if alt in present:
                add(pub, alt, str(alt), main, True, DEFINITIONS.get(str(alt), str(alt)))
        if "2021" in lists and "2025" in lists:
            use, excl = str(pub["best_model"]), pub["best_other_pilots"] == "exclude"
            res = noted_run(ind, use, excl)
            weight = "icpc" if pub["unit"] == "working days" else "child_population_0_17"
            closest = (_closest(res, wide, ind, str(pub["best_pilot_agg"]),
                                str(pub["best_snn_agg"]), weight)
                       if weight in wide.columns else None)
            if closest is not None:
                agg = f"pilots {pub['best_pilot_agg']}, SNNs {pub['best_snn_agg']}"
                rows.append({"label": pub["label"], "short_label": pub["short_label"],
                             "variant": f"closest ({use} list)", "indicator": ind,
                             "model": use, "other_pilots": "excluded" if excl else "kept",
                             "pilots": closest[0], "snn": closest[1],
                             "difference": closest[0] - closest[1],
                             "note": f"closest to the published figures per indicator: {agg}"})
    for message, by_variant in seen.items():
        parts = []
        for variant, inds in by_variant.items():   # the indicators each variant raised it for
            which = ("every indicator" if set(inds) == set(asked[variant])
                     else "indicators " + ", ".join(dict.fromkeys(inds)))
            parts.append(f"{variant} ({which})")
        warnings.warn(f"{label}, {'; '.join(parts)}: {message}", SosstatsWarning,
                      stacklevel=3)
    return pd.DataFrame(rows)


def dfe_recovery(pairs: tuple[tuple[int, str], ...] = ((2019, "2021"), (2020, "2025")), *,
                 features: tuple[str, ...] = LAIT_CONTEXT, k: int = 10) -> pd.DataFrame:
    """How many of DfE's published statistical neighbours a fit on LAIT context recovers.

    For each (data year, DfE model) pair, fits :class:`StatisticalNeighbours` on ``features``
    (z-scores, equal weights) over the LAs with complete data, and compares each LA's fitted
    ``k`` neighbours with its published ``k``.

    Returns
    -------
    pandas.DataFrame
        One row per pair: ``data_year, dfe_model, n_las, share_recovered`` (share of published
        neighbours found among the fitted ones), ``mean_per_la`` and ``chance_share``: the
        share that ``k`` neighbours drawn at random would recover, pooled over LAs
        (``sum_i k * a_i / (n - 1) / sum_i p_i``, with ``a_i`` the LA's published neighbours
        present in the data and ``p_i`` its published neighbours; about ``k / (n - 1)``).
    """
    from sosstats.datasets.loaders import load_la_indicators, load_statistical_neighbours
    from sosstats.neighbours.model import StatisticalNeighbours

    rows = []
    for year, model in pairs:
        las = load_la_indicators(indicators=list(features), years=year, wide=True)
        las = las.dropna(subset=list(features))
        fitted = StatisticalNeighbours(list(features), k=k).fit(las)
        s = fitted.recovery(load_statistical_neighbours(model=model)).totals
        rows.append({"data_year": year, "dfe_model": model, "n_las": int(s["n_las"]),
                     "share_recovered": round(float(s["share_common"]), 3),
                     "mean_per_la": round(float(s["mean_common"]), 2),
                     "chance_share": round(float(s["chance_share"]), 3)})
    return pd.DataFrame(rows)


@dataclass(frozen=True, eq=False)
class SimulatedComparison(TableResult):
    """Pilots vs fitted statistical neighbours on simulated data, beside the true effects.

    A table result: ``tidy()`` is :attr:`table` (one row per indicator: truth, estimate,
    interval, p-values, whether the interval covers the truth); :meth:`report` prints the
    ``sosstats neighbours --data simulated`` table.
    """

    result: ComparisonResult
    truth: pd.Series
    year: int
    seed: Any
    table: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        tidy = self.result.tidy().set_index("term")
        table = pd.DataFrame({"truth": self.truth.reindex(tidy.index),
                              "estimate": tidy["estimate"], "ci_lower": tidy["ci_lower"],
                              "ci_upper": tidy["ci_upper"], "p_value": tidy["p_value"],
                              "p_randomization": tidy["p_randomization"]})
        if not self.result.n_draws:
            table = table.drop(columns="p_randomization")
        table["covered"] = (table["ci_lower"] <= table["truth"]) & (table["truth"]
                                                                    <= table["ci_upper"])
        object.__setattr__(self, "table", table.rename_axis("indicator"))

    method = "pilots vs fitted neighbours on a simulated evaluation"

    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)
        return self.table

    def _notes(self) -> list[str]:
        return self.result._notes()

    def report(self, width: int = 100) -> str:
        """Return the printed table of ``sosstats neighbours --data simulated``."""
        res = self.result
        head = [f"Simulated evaluation (rng={self.seed!r}), year {self.year}: pilots vs "
                f"their {res.k} statistical nearest neighbours ({res.neighbour_model}).",
                "truth = the simulator's true pilot effect; estimate = mean(pilot - neighbour "
                "mean); covered: truth inside the t interval."]
        if not res.n_draws:
            head.append(Reproduction._skipped.replace("p (rand.)", "p_randomization"))
        return "\n".join(_wrap(head, width) + ["", self.table.round(3).to_string()])


def simulated_comparison(*, year: int | None = None, k: int = 10, n_draws: int = 10_000,
                         rng: int | np.random.Generator | None = 0) -> SimulatedComparison:
    """Run the pilots-vs-neighbours comparison on :func:`simulate_evaluation` data.

    Neighbours are fitted with :class:`StatisticalNeighbours` on the simulated LAs'
    socio-economic covariates (pilots kept out of each other's groups); the comparison is made
    in ``year`` (default: the last simulated year, when every pilot has started).
    """
    from sosstats.datasets.simulate import COVARIATES, simulate_evaluation
    from sosstats.neighbours.model import StatisticalNeighbours

    ev = simulate_evaluation(rng=rng)
    las = ev.las
    pilots = las.loc[las["pilot"], "la_code"].tolist()
    fitted = StatisticalNeighbours(list(COVARIATES), k=k, exclude=pilots).fit(las)
    years = sorted(int(y) for y in ev.la_indicators["year"].unique())
    if year is None:
        year = years[-1]
    elif year not in years:
        from sosstats.errors import DataError

        raise DataError(f"`year` {year!r} is not a simulated year; the simulated evaluation "
                        f"covers {years[0]}-{years[-1]}.")
    with _noted(f"simulated year {year}, neighbours fitted on the LA covariates"):
        res = compare(ev.la_indicators, pilots, fitted, year=year, k=k, n_draws=n_draws,
                      rng=rng)
    truth = pd.Series(ev.truth["pilot_effects"], dtype=float)
    return SimulatedComparison(result=res, truth=truth, year=year, seed=rng)
