"""The main job: the Signs of Safety evaluation's 2015/16 pilots-vs-neighbours table, recomputed.

:func:`reproduce_2016` recomputes each published figure of the evaluation's comparison of its ten
pilot LAs with their DfE statistical nearest neighbours (SNNs) from the real DfE data shipped with
sosstats, with :func:`sosstats.neighbours.compare`, and prints the published figure beside the
recomputed one. Two recomputations are shown per row:

- *standard*: what :func:`compare` reports (the mean of the pilots' values; the mean over pilots
  of each pilot's SNN mean), with its paired t, Wilcoxon and randomization p-values;
- *closest*: the aggregation found, in ``docs/reproducing_2016.md``, to bring the figures closest
  to the published ones (for example the pilots' pooled rate, or the mean over all pilot x
  neighbour pairs), recomputed here from the same per-LA figures.

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
from sosstats.errors import SosstatsWarning
from sosstats.neighbours.compare import ComparisonResult, compare

__all__ = ["Reproduction", "reproduce_2016", "simulated_comparison", "SimulatedComparison",
           "dfe_recovery", "LAIT_CONTEXT"]

#: LAIT context measures (child poverty, free school meals, English as an additional language)
#: on which a fitted model recovers the most of DfE's published neighbours
#: (``docs/neighbours.md``, "How close is a fit on public context measures to DfE's lists?").
LAIT_CONTEXT = ("lait_ChildPov", "lait_PriFSM", "lait_SecFSM", "lait_Ever6_FSM_Prim",
                "lait_Ever6_FSM_Sec", "lait_EALPri", "lait_EALSec")

_CIN_SUFFIXES = ("_rate_per_10k", "_pct", "_wd")


@dataclass(frozen=True, eq=False)
class Reproduction(TableResult):
    """Published 2015/16 figures beside their recomputation (see :func:`reproduce_2016`).

    A table result (``tidy()`` is :attr:`table`); ``str()`` and :meth:`report` print the
    report of ``sosstats neighbours``.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per published indicator: ``label, published_pilots, published_snn,
        pilots, snn, difference, p_value, p_wilcoxon, p_randomization, closest_pilots,
        closest_snn, indicator, model, n_pilots, note``. ``pilots``/``snn`` are the standard
        recomputation; ``closest_*`` the closest aggregation; rows that cannot be recomputed
        carry NaN and the reason in ``note``.
    comparisons : dict
        The :class:`ComparisonResult` behind each recomputed row, keyed by indicator.
    all_indicators : ComparisonResult or None
        Every rate, percentage and duration indicator of the year, when asked for.
    year : int
        Year ending 31 March (2016 = 2015/16).
    """

    table: pd.DataFrame
    comparisons: dict[str, ComparisonResult]
    all_indicators: ComparisonResult | None
    year: int
    model: str | None
    n_draws: int
    recovery: pd.DataFrame | None = None

    def report(self, width: int = 100) -> str:
        """Return the printed tables of ``sosstats neighbours``, wrapped to ``width`` columns.

        Labelled by the year analysed; the published figures (and the aggregation closest to
        them) are shown only for 2015/16, the year they describe.
        """
        t = self.table
        published = self.year == 2016
        label = year_label(self.year)
        short = t["short_label"] if "short_label" in t else t["label"]
        lines = [f"Signs of Safety pilots vs their DfE statistical nearest neighbours, {label}"]
        if published:
            lines += _wrap(["Published figures (Baginsky et al. 2017) beside those recomputed "
                            "from the shipped DfE data."], width)
            figures = pd.DataFrame({
                "indicator": short, "pub. pilots": t["published_pilots"],
                "pub. SNNs": t["published_snn"], "pilots": t["pilots"].round(1),
                "SNNs": t["snn"].round(1), "closest pilots": t["closest_pilots"].round(1),
                "closest SNNs": t["closest_snn"].round(1), "SN model": t["model"]})
        else:
            lines += _wrap([f"Recomputed from the shipped DfE data for {label}; the published "
                            "figures describe 2015/16 and are shown only for that year "
                            "(2016)."], width)
            figures = pd.DataFrame({"indicator": short, "pilots": t["pilots"].round(1),
                                    "SNNs": t["snn"].round(1), "SN model": t["model"]})
        tests = pd.DataFrame({"indicator": short, "difference": t["difference"].round(2),
                              "p (t)": t["p_value"].round(3),
                              "p (Wilcoxon)": t["p_wilcoxon"].round(3),
                              "p (rand.)": t["p_randomization"].round(3),
                              "SN model": t["model"]})
        rand = (f"p (rand.): randomization inference, {self.n_draws:,} pseudo-pilot sets."
                if self.n_draws else self._skipped)
        lines += ["", figures.to_string(index=False, na_rep="-"), "",
                  tests.to_string(index=False, na_rep="-"), ""]
        foot = ["pilots / SNNs: mean of the 10 pilots' values / mean over pilots of each "
                "pilot's SNN mean (sosstats.neighbours.compare); difference = pilots - SNNs; "
                "SN model: the DfE statistical-neighbour model (April 2021 or May 2025)."]
        if published:
            foot.append("closest: the aggregation closest to the published figures "
                        "(docs/reproducing_2016.md).")
        foot.append(rand)
        lines += _wrap(foot, width)
        lines.append("")
        for _, row in t.iterrows():
            text = (row["note"] if published or not isinstance(row["indicator"], str)
                    else f"{row['indicator']}, DfE {row['model']} model (the definition found "
                         "closest to the published 2015/16 figure)")
            lines += _wrap([f"- {row['short_label'] if 'short_label' in row else row['label']}"
                            f": {text}"], width, indent="  ")
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


def reproduce_2016(*, model: str | None = None, year: int = 2016, k: int = 10,
                   n_draws: int = 10_000, rng: int | np.random.Generator | None = 0,
                   all_indicators: bool = False, recovery: bool = True) -> Reproduction:
    """Recompute the evaluation's 2015/16 pilots-vs-SNNs table from the shipped DfE data.

    Parameters
    ----------
    model : {"2021", "2025"}, optional
        DfE statistical-neighbour model. Default: per indicator, the model that brings the
        figures closest to the published ones (the pre-2021 model the study used is not
        available).
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
        indicator of the children-in-need tables (2021 model unless ``model`` is given).
    recovery : bool
        Also fit :class:`StatisticalNeighbours` on LAIT context measures and report how many of
        DfE's published neighbours it recovers (:func:`dfe_recovery`).

    Returns
    -------
    Reproduction

    Notes
    -----
    Per published row, the pilots' comparison group is the first ``k`` LAs of their DfE list
    that have data that year (LAs created after 2016 have none); whether other pilots are kept
    in a pilot's group follows the closest combination of ``docs/reproducing_2016.md``. The
    estimate, tests and randomization inference are those of :func:`compare`.

    References
    ----------
    Baginsky, M., Moriarty, J., Manthorpe, J., et al. (2017). *Evaluation of Signs of Safety in
    10 pilots*. Department for Education, Children's Social Care Innovation Programme.
    """
    from sosstats.datasets.loaders import load_la_indicators, load_statistical_neighbours
    from sosstats.datasets.published import published_2016

    pilots = _pilot_codes()
    published = published_2016()
    needed = sorted({str(i) for i in published["indicator"].dropna()}
                    | {"child_population_0_17", "icpc"})
    wide = load_la_indicators(indicators=needed, years=year, wide=True).set_index("la_code")
    rows, comparisons = [], {}
    for _, pub in published.iterrows():
        base = {"label": pub["label"], "short_label": pub["short_label"],
                "published_pilots": pub["pilots"],
                "published_snn": pub["snn"]}
        if not isinstance(pub["indicator"], str):
            rows.append({**base, "indicator": None, "model": None,
                         "note": f"cannot be recomputed: {pub['reason']}."})
            continue
        ind = pub["indicator"]
        use_model = model or str(pub["best_model"])
        with _noted(f"{ind}, DfE {use_model} model"):
            res = compare(wide.reset_index(), pilots, load_statistical_neighbours(use_model),
                          indicator=ind, k=k,
                          exclude_treated=pub["best_other_pilots"] == "exclude",
                          n_draws=n_draws, rng=rng)
        comparisons[ind] = res
        pooled = res.pooled.loc[ind]
        weight = "icpc" if pub["unit"] == "working days" else "child_population_0_17"
        closest = _closest(res, wide, ind, str(pub["best_pilot_agg"]),
                           str(pub["best_snn_agg"]), weight)
        rows.append({**base, "pilots": pooled["treated_mean"], "snn": pooled["neighbour_mean"],
                     "difference": pooled["estimate"], "p_value": pooled["p_value"],
                     "p_wilcoxon": pooled["p_wilcoxon"],
                     "p_randomization": pooled["p_randomization"],
                     "closest_pilots": closest[0], "closest_snn": closest[1],
                     "indicator": ind, "model": use_model, "n_pilots": pooled["n_treated"],
                     "note": f"{ind}; {pub['best_definition']}"})
    table = pd.DataFrame(rows)
    extra = None
    if all_indicators:
        long = load_la_indicators(years=year)
        names = sorted(n for n in long["indicator"].unique()
                       if not n.startswith("lait_") and n.endswith(_CIN_SUFFIXES))
        with _noted(f"every indicator of {year_label(year)}, DfE {model or '2021'} model"):
            extra = compare(long, pilots, load_statistical_neighbours(model or "2021"),
                            indicator=names, year=year, k=k, n_draws=n_draws, rng=rng)
    return Reproduction(table=table, comparisons=comparisons, all_indicators=extra, year=year,
                        model=model, n_draws=n_draws,
                        recovery=dfe_recovery() if recovery else None)


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
