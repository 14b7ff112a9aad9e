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

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

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
class Reproduction:
    """Published 2015/16 figures beside their recomputation (see :func:`reproduce_2016`).

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

    def report(self) -> str:
        """Return the printed table of ``sosstats neighbours``."""
        recovery = self.recovery
        t = self.table
        show = pd.DataFrame({
            "indicator (2015/16)": t["label"],
            "published pilots": t["published_pilots"],
            "published SNNs": t["published_snn"],
            "pilots": t["pilots"].round(1),
            "SNNs": t["snn"].round(1),
            "p (t)": t["p_value"].round(3),
            "p (Wilcoxon)": t["p_wilcoxon"].round(3),
            "p (rand.)": t["p_randomization"].round(3),
            "closest pilots": t["closest_pilots"].round(1),
            "closest SNNs": t["closest_snn"].round(1),
            "SN model": t["model"],
        })
        lines = [f"Signs of Safety pilots vs their DfE statistical nearest neighbours, "
                 f"{self.year - 1}/{str(self.year)[-2:]}",
                 "published figures (Baginsky et al. 2017) beside those recomputed from the "
                 "shipped DfE data", "",
                 show.to_string(index=False, na_rep="-"), ""]
        lines.append("pilots / SNNs: mean of the 10 pilots' values / mean over pilots of each "
                     "pilot's SNN mean (sosstats.neighbours.compare);")
        lines.append("closest: the aggregation closest to the published figures "
                     "(docs/reproducing_2016.md); p (rand.): randomization inference, "
                     f"{self.n_draws:,} pseudo-pilot sets.")
        lines.append("")
        for _, row in t.iterrows():
            lines.append(f"- {row['label']}: {row['note']}")
        if self.all_indicators is not None:
            lines += ["", "Every rate, percentage and duration indicator of the year "
                      "(Holm and Benjamini-Hochberg across indicators):",
                      self.all_indicators.pooled[
                          ["indicator", "treated_mean", "neighbour_mean", "difference",
                           "p_value", "p_randomization", "p_holm", "p_bh"]
                      ].round(3).to_string(index=False)]
        if recovery is not None:
            lines += ["", "StatisticalNeighbours fitted on LAIT context measures ("
                      + ", ".join(LAIT_CONTEXT) + "; equal weights, k = 10) against DfE's "
                      "published lists:", recovery.to_string(index=False)]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


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
        base = {"label": pub["label"], "published_pilots": pub["pilots"],
                "published_snn": pub["snn"]}
        if not isinstance(pub["indicator"], str):
            rows.append({**base, "indicator": None, "model": None,
                         "note": f"cannot be recomputed: {pub['reason']}."})
            continue
        ind = pub["indicator"]
        use_model = model or str(pub["best_model"])
        res = compare(wide.reset_index(), pilots, load_statistical_neighbours(use_model),
                      indicator=ind, k=k, exclude_treated=pub["best_other_pilots"] == "exclude",
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
        s = fitted.recovery(load_statistical_neighbours(model=model)).summary
        rows.append({"data_year": year, "dfe_model": model, "n_las": int(s["n_las"]),
                     "share_recovered": round(float(s["share_common"]), 3),
                     "mean_per_la": round(float(s["mean_common"]), 2),
                     "chance_share": round(float(s["chance_share"]), 3)})
    return pd.DataFrame(rows)


@dataclass(frozen=True, eq=False)
class SimulatedComparison:
    """Pilots vs fitted statistical neighbours on simulated data, beside the true effects."""

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
        table["covered"] = (table["ci_lower"] <= table["truth"]) & (table["truth"]
                                                                    <= table["ci_upper"])
        object.__setattr__(self, "table", table.rename_axis("indicator"))

    def report(self) -> str:
        """Return the printed table of ``sosstats neighbours --data simulated``."""
        return "\n".join([
            f"Simulated evaluation (rng={self.seed!r}), {self.year}: pilots vs their 10 "
            "statistical nearest neighbours fitted on the LA covariates",
            "truth = the simulator's true pilot effect; estimate = mean(pilot - neighbour mean)",
            "", self.table.round(3).to_string()])


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
    year = int(ev.la_indicators["year"].max()) if year is None else year
    res = compare(ev.la_indicators, pilots, fitted, year=year, k=k, n_draws=n_draws, rng=rng)
    truth = pd.Series(ev.truth["pilot_effects"], dtype=float)
    return SimulatedComparison(result=res, truth=truth, year=year, seed=rng)
