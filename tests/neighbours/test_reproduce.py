"""The main job: the published 2015/16 table recomputed from the shipped DfE data."""

from __future__ import annotations

import numpy as np
import pytest

from sosstats.datasets.published import published_2016
from sosstats.neighbours.reproduce import reproduce_2016


@pytest.fixture(scope="module")
def reproduction():
    with pytest.warns(UserWarning, match="fewer than k"):
        return reproduce_2016(n_draws=999, rng=1)


def test_unrecomputable_rows_say_why(reproduction):
    t = reproduction.table
    missing = t[t["indicator"].isna()]
    assert set(missing["label"]) == {"assessments per 10,000 children",
                                     "average assessment duration (days)"}
    assert missing["note"].str.contains("cannot be recomputed").all()
    assert missing["pilots"].isna().all()


def test_closest_aggregation_matches_independent_pandas_search(reproduction):
    # published_2016() records what a separate plain-pandas search found; compare's per-LA
    # figures, re-aggregated, must give the same numbers, and they round to the published ones.
    # They are a labelled sensitivity now, not the headline.
    s = reproduction.sensitivity
    closest = s[s["variant"].str.startswith("closest")].set_index("indicator")
    pub = published_2016().dropna(subset=["indicator"]).set_index("indicator")
    assert set(closest.index) == set(pub.index)
    for ind, row in pub.iterrows():
        assert closest.loc[ind, "model"] == row["best_model"]
        assert closest.loc[ind, "pilots"] == pytest.approx(row["recomputed_pilots"], abs=0.005)
        assert closest.loc[ind, "snn"] == pytest.approx(row["recomputed_snn"], abs=0.005)
        assert np.floor(closest.loc[ind, "pilots"] + 0.5) == row["pilots"]
        assert np.floor(closest.loc[ind, "snn"] + 0.5) == row["snn"]


def test_every_headline_row_uses_one_model_and_one_rule(reproduction):
    # before: ICPC and CPP rows used the 2025 list and S47 the 2021 list, with other pilots
    # excluded for one row and kept for the others
    t = reproduction.table.dropna(subset=["indicator"])
    assert reproduction.model == "2021"
    assert set(t["model"]) == {"2021"}
    assert set(t["other_pilots"]) == {"excluded"}
    assert "DfE April 2021 SN model" in reproduction.report().splitlines()[0]
    # one compare call behind every row, so one set of neighbours and pseudo-pilot draws
    assert len({id(r) for r in reproduction.comparisons.values()}) == 1


def test_headline_pvalues_are_holm_adjusted_across_rows(reproduction):
    from sosstats._multiplicity import holm

    t = reproduction.table.dropna(subset=["indicator"])
    for raw, adj in [("p_value", "p_adjusted"), ("p_wilcoxon", "p_wilcoxon_adjusted"),
                     ("p_randomization", "p_randomization_adjusted")]:
        np.testing.assert_allclose(t[adj], holm(t[raw].to_numpy()))
        assert (t[adj] >= t[raw]).all()
    assert "Holm" in reproduction.report()


def test_closest_per_indicator_is_explicit_and_labelled_a_sensitivity():
    with pytest.warns(UserWarning, match="fewer than k"):
        res = reproduce_2016(model="closest-per-indicator", n_draws=0, recovery=False,
                             sensitivity=False)
    t = res.table.dropna(subset=["indicator"]).set_index("indicator")
    pub = published_2016().dropna(subset=["indicator"]).set_index("indicator")
    assert (t["model"] == pub["best_model"].reindex(t.index)).all()
    assert t["model"].nunique() == 2   # it does mix lists: hence the label
    text = res.report()
    assert "NOT ONE ANALYSIS" in text and "SN model" in text
    assert "sensitivity" in text.splitlines()[0] + text.splitlines()[1]


def test_unknown_model_is_a_clear_error():
    from sosstats.errors import DataError

    with pytest.raises(DataError, match="`model` must be one of .*closest-per-indicator"):
        reproduce_2016(model="2016", n_draws=0, recovery=False)


def test_user_frames_replace_the_shipped_data():
    from sosstats.datasets.loaders import load_la_indicators, load_statistical_neighbours

    long = load_la_indicators(years=2016)
    nb = load_statistical_neighbours("2021")
    before = long.copy()
    with pytest.warns(UserWarning, match="fewer than k"):
        own = reproduce_2016(indicators=long, neighbours=nb.drop(columns="model"), n_draws=0,
                             recovery=False, sensitivity=False)
        shipped = reproduce_2016(n_draws=0, recovery=False, sensitivity=False)
    assert own.model == "user-supplied neighbour list"
    np.testing.assert_allclose(own.table["snn"], shipped.table["snn"])
    assert long.equals(before)


def test_standard_figures_are_compare_means(reproduction):
    for ind, res in reproduction.comparisons.items():
        per = res.per_la[res.per_la["indicator"] == ind]
        row = reproduction.table.set_index("indicator").loc[ind]
        assert row["pilots"] == pytest.approx(per["value"].mean())
        assert row["snn"] == pytest.approx(per["neighbour_mean"].mean())
        assert row["n_pilots"] == 10
        # pilots lower than their neighbours on every recomputable indicator, as published
        assert row["difference"] < 0
        assert 0 < row["p_randomization"] <= 1


def test_report_prints_published_beside_recomputed(reproduction):
    text = reproduction.report()
    assert "pub. pilots" in text and "closest (2025 list)" in text
    assert "Sensitivity (labelled variants, not the headline)" in text
    assert "cannot be recomputed" in text
    assert "44" in text and "61" in text


def test_model_override_uses_that_list_for_every_row():
    with pytest.warns(UserWarning, match="fewer than k"):
        res = reproduce_2016(model="2021", n_draws=99, recovery=False)
    assert set(res.table["model"].dropna()) == {"2021"}


def test_fit_on_lait_context_recovers_far_more_than_chance(reproduction):
    rec = reproduction.recovery
    assert list(rec["dfe_model"]) == ["2021", "2025"]
    assert (rec["n_las"] > 140).all()
    # measured 0.46 for both; chance is k / (n - 1) = 0.067
    assert rec["share_recovered"].between(0.40, 0.52).all()
    assert (rec["share_recovered"] > 5 * rec["chance_share"]).all()
    assert "LAIT context" in reproduction.report()


def test_results_are_table_results(reproduction):
    """Reproduction, SimulatedComparison, NeighbourRanking, NeighbourOverlap: TableResults."""
    from sosstats._results import TableResult
    from sosstats.neighbours.reproduce import simulated_comparison

    assert isinstance(reproduction, TableResult)
    tidy = reproduction.tidy()
    assert tidy["label"].tolist() == reproduction.table["label"].tolist()
    assert str(reproduction) == reproduction.report()
    assert reproduction.to_dict()["table"][2]["label"].startswith("initial child protection")
    sim = simulated_comparison(n_draws=0)
    assert isinstance(sim, TableResult)
    assert sim.tidy()["indicator"].tolist() == list(sim.table.index)
    assert "covered" in str(sim.summary())
    assert not hasattr(reproduction, "plot") and not hasattr(sim, "plot")


def test_ranking_and_overlap_are_table_results():
    from sosstats._results import TableResult
    from sosstats.datasets.loaders import load_statistical_neighbours
    from sosstats.neighbours import from_published

    fit = from_published(load_statistical_neighbours("2021"), k=10)
    assert isinstance(fit.ranking, TableResult)
    tidy = fit.ranking.tidy()
    assert list(tidy.columns[:3]) == ["la_code", "rank", "neighbour"]
    assert len(tidy) == len(fit.ranking.to_frame())
    overlap = fit.stability(from_published(load_statistical_neighbours("2025"), k=10))
    assert isinstance(overlap, TableResult)
    assert overlap.tidy()["la_code"].tolist() == overlap.per_la["la_code"].tolist()
    assert "share_common" in str(overlap) and overlap.totals["k"] == 10


def test_sensitivity_notes_name_each_variant_once():
    """Each sensitivity note names its neighbour list and other-pilots rule, each once, with
    the indicators that variant raised it for (four notes read alike before)."""
    import re
    import warnings

    from sosstats.errors import SosstatsWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reproduce_2016(n_draws=0, recovery=False)
    notes = [str(w.message) for w in caught if issubclass(w.category, SosstatsWarning)
             and str(w.message).startswith("2015/16 sensitivity")]
    assert notes
    heads = [n.split(": fewer than", 1)[0] for n in notes]
    assert len(heads) == len(set(heads)), heads
    for head in heads:
        variants = re.findall(r"DfE \w+ \d{4} SN model, other pilots (?:excluded|kept) "
                              r"\((?:every indicator|indicators [^)]+)\)", head)
        assert variants and len(variants) == len(set(variants)), head
