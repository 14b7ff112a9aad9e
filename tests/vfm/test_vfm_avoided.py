"""avoided_costs(): hand arithmetic, agreement with the neighbour comparison, draws, recovery."""

import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.neighbours import StatisticalNeighbours, compare
from sosstats.vfm.avoided import avoided_costs

matplotlib.use("Agg")

PROCESSES = ["assessments_rate_per_10k", "icpc_rate_per_10k", "cpp_started_rate_per_10k"]
COSTS = {"assessments_rate_per_10k": 400.0, "icpc_rate_per_10k": 1_500.0,
         "cpp_started_rate_per_10k": 3_000.0}
COVARIATES = ["deprivation_score", "low_income_children_pct", "lone_parent_pct",
              "ethnic_minority_pct", "population_density", "social_housing_pct",
              "unemployment_pct", "fsm_pct"]


def _tiny():
    wide = pd.DataFrame({"la_code": ["T1", "T2", "N1", "N2", "N3", "N4", "N5", "N6"],
                         "icpc": [40.0, 80, 50, 70, 10, 70, 60, 5],
                         "cpp": [30.0, 25, 40, 30, 99, 30, 40, 99]})
    nb = pd.DataFrame({"la_code": ["T1"] * 3 + ["T2"] * 3,
                       "neighbour": ["N1", "N2", "N3", "N4", "N5", "N6"], "rank": [1, 2, 3] * 2})
    return wide, nb, {"T1": 20_000, "T2": 10_000}


@pytest.fixture(scope="module")
def sim():
    ev = simulate_evaluation(rng=1)
    nb = StatisticalNeighbours(COVARIATES, k=10).fit(ev.las)
    pilots = ev.las.loc[ev.las["pilot"], "la_code"].tolist()
    pop = ev.las.set_index("la_code")["child_population"]
    return ev, nb, pilots, pop


def test_hand_computed_tiny_example():
    wide, nb, pop = _tiny()
    res = avoided_costs(wide, ["T1", "T2"], nb, {"icpc": 1_000.0, "cpp": 2_000.0}, pop, k=2)
    p = res.params
    # T1: icpc 40 vs (50 + 70) / 2 = 60, gap -20, 20,000 children: 40 conferences avoided
    assert p["processes[icpc: T1]"] == pytest.approx(40.0)
    assert p["processes[icpc: T2]"] == pytest.approx(-15.0)       # 80 vs 65: 15 added
    assert p["processes[icpc: pooled]"] == pytest.approx(25.0)
    assert p["processes[cpp: pooled]"] == pytest.approx(20.0)
    assert p["cost[icpc: T1]"] == pytest.approx(40_000.0)
    assert p["cost[total: T1]"] == pytest.approx(40 * 1_000 + 10 * 2_000)
    assert p["cost[total: T2]"] == pytest.approx(-15 * 1_000 + 10 * 2_000)
    assert p["cost[total: pooled]"] == pytest.approx(65_000.0)
    se = res.std_errors
    s_icpc = np.std([-20.0, 15.0], ddof=1)                        # SD of the pilots' gaps
    assert se["processes[icpc: T1]"] == pytest.approx(s_icpc * 2)
    assert se["processes[icpc: pooled]"] == pytest.approx(np.sqrt(2) * np.std([40, -15], ddof=1))
    assert se["cost[total: T1]"] == pytest.approx(np.std([30_000, 5_000], ddof=1) * 2)
    assert se["cost[total: pooled]"] == pytest.approx(np.sqrt(2) * np.std([60_000, 5_000], ddof=1))
    ci = res.conf_int().loc["processes[icpc: pooled]"]
    q = stats.t.ppf(0.975, 1)
    assert ci["lower"] == pytest.approx(25 - q * 55.0) and ci["upper"] == pytest.approx(25 + q * 55)
    tab = res.table
    assert tab.loc["processes[icpc: pooled]", "gap"] == pytest.approx(-25 * 1e4 / 30_000)
    assert tab.loc["processes[icpc: T1]", "gap"] == pytest.approx(-20.0)


def test_mean_pooling_carries_the_comparison_interval_exactly():
    wide, nb, pop = _tiny()
    res = avoided_costs(wide, ["T1", "T2"], nb, {"icpc": 1_000.0, "cpp": 2_000.0}, pop, k=2,
                        pooling="mean")
    comp = compare(wide, ["T1", "T2"], nb, k=2, n_resamples=0, n_draws=0).tidy()
    comp = comp.set_index("term")
    for ind, cost in (("icpc", 1_000.0), ("cpp", 2_000.0)):
        row = res.tidy().set_index("term").loc[f"cost[{ind}: pooled]"]
        scale = -cost * 30_000 / 1e4
        assert row["estimate"] == pytest.approx(scale * comp.loc[ind, "estimate"])
        assert row["std_error"] == pytest.approx(abs(scale) * comp.loc[ind, "std_error"])
        assert row["p_value"] == pytest.approx(comp.loc[ind, "p_value"])
        assert sorted([row["ci_lower"], row["ci_upper"]]) == pytest.approx(
            sorted([scale * comp.loc[ind, "ci_lower"], scale * comp.loc[ind, "ci_upper"]]))
    total = res.params["cost[total: pooled]"]
    assert total == pytest.approx(res.params["cost[icpc: pooled]"]
                                  + res.params["cost[cpp: pooled]"])


def test_agrees_with_hand_computation_from_compare_output(sim):
    ev, nb, pilots, pop = sim
    res = avoided_costs(ev.la_indicators, pilots, nb, COSTS, pop, year=2017)
    comp = compare(ev.la_indicators, pilots, nb, indicator=PROCESSES, year=2017,
                   n_resamples=0, n_draws=0)
    per_la = comp.per_la.set_index(["indicator", "la_code"])
    tidy = res.tidy().set_index("term")
    totals = pd.Series(0.0, index=pilots)
    for ind in PROCESSES:
        gaps = per_la.loc[ind, "difference"].reindex(pilots)
        n_p = gaps.notna().sum()
        avoided = -gaps * pop.reindex(pilots) / 1e4
        for la in pilots:
            assert tidy.loc[f"processes[{ind}: {la}]", "estimate"] == pytest.approx(avoided[la])
            assert tidy.loc[f"cost[{ind}: {la}]", "estimate"] == pytest.approx(
                avoided[la] * COSTS[ind])
        s_p = comp.pooled.loc[ind, "std_error"] * np.sqrt(n_p)
        la = pilots[3]
        assert tidy.loc[f"processes[{ind}: {la}]", "std_error"] == pytest.approx(
            s_p * pop[la] / 1e4)
        pooled = tidy.loc[f"processes[{ind}: pooled]"]
        assert pooled["estimate"] == pytest.approx(avoided.sum())
        assert pooled["std_error"] == pytest.approx(np.sqrt(n_p) * avoided.std(ddof=1))
        assert pooled["df"] == n_p - 1
        totals += avoided.fillna(0) * COSTS[ind]
    assert tidy.loc["cost[total: pooled]", "estimate"] == pytest.approx(totals.sum())
    assert tidy.loc["cost[total: pooled]", "std_error"] == pytest.approx(
        np.sqrt(len(pilots)) * totals.std(ddof=1))
    pd.testing.assert_frame_equal(res.gaps[["estimate", "std_error", "p_value"]],
                                  comp.pooled.rename_axis("indicator")[["estimate", "std_error",
                                                                      "p_value"]])


def test_recovers_simulated_pilot_effects(sim):
    ev, nb, pilots, pop = sim
    res = avoided_costs(ev.la_indicators, pilots, nb, COSTS, pop, year=2017)
    tidy = res.tidy().set_index("term")
    for ind in PROCESSES:
        truth = -ev.truth["pilot_effects"][ind] * pop.reindex(pilots).sum() / 1e4
        row = tidy.loc[f"processes[{ind}: pooled]"]
        assert row["ci_lower"] < truth < row["ci_upper"]
        assert row["estimate"] > 0                       # the simulated pilots avoided processes
    assert tidy.loc["cost[total: pooled]", "ci_lower"] > 0


def test_population_from_an_indicator_row_equals_a_series(sim):
    ev, nb, pilots, pop = sim
    extra = ev.las[["la_code", "la_name", "child_population"]].assign(
        year=2017, indicator="child_population", value=lambda d: d["child_population"])
    long = pd.concat([ev.la_indicators, extra.drop(columns="child_population")],
                     ignore_index=True)
    a = avoided_costs(long, pilots, nb, COSTS, "child_population", year=2017)
    b = avoided_costs(ev.la_indicators, pilots, nb, COSTS, pop, year=2017)
    pd.testing.assert_frame_equal(a.tidy(), b.tidy())
    assert list(a.gaps.index) == PROCESSES
    pd.testing.assert_frame_equal(a.gaps, b.gaps)


def test_unit_cost_draws_are_propagated_reproducibly(sim):
    ev, nb, pilots, pop = sim
    draws = np.random.default_rng(0).gamma(25, 60, 400)            # ICPC cost draws, mean 1,500
    costs = dict(COSTS, icpc_rate_per_10k=draws)
    res = avoided_costs(ev.la_indicators, pilots, nb, costs, pop, year=2017, rng=5)
    fixed = avoided_costs(ev.la_indicators, pilots, nb, dict(COSTS, icpc_rate_per_10k=draws.mean()),
                          pop, year=2017)
    a, f = res.tidy().set_index("term"), fixed.tidy().set_index("term")
    np.testing.assert_allclose(a["estimate"], f["estimate"], rtol=1e-12)
    np.testing.assert_allclose(a["p_value"], f["p_value"], rtol=1e-12)
    proc = [t for t in a.index if t.startswith("processes")]
    pd.testing.assert_frame_equal(a.loc[proc], f.loc[proc])
    row = "cost[icpc_rate_per_10k: pooled]"
    x, s = f.loc["processes[icpc_rate_per_10k: pooled]", ["estimate", "std_error"]]
    n_rows = len(a)
    t = np.random.default_rng(5).standard_t(np.full((n_rows - len(proc), 1), 9.0),
                                            size=(n_rows - len(proc), 400))
    j = list(a.index).index(row) - len(proc)
    sim_draws = (x + s * t[j]) * draws
    assert a.loc[row, "std_error"] == pytest.approx(sim_draws.std(ddof=1), rel=1e-10)
    assert a.loc[row, "ci_lower"] == pytest.approx(np.quantile(sim_draws, 0.025), rel=1e-10)
    np.testing.assert_allclose(res.draws_of(row), sim_draws, rtol=1e-10)
    assert a.loc[row, "std_error"] > f.loc[row, "std_error"] * 0.9
    again = avoided_costs(ev.la_indicators, pilots, nb, costs, pop, year=2017, rng=5)
    pd.testing.assert_frame_equal(again.tidy(), res.tidy())
    dist = avoided_costs(ev.la_indicators, pilots, nb,
                         dict(COSTS, icpc_rate_per_10k=stats.gamma(25, scale=60)), pop,
                         year=2017, n_draws=300, rng=1)
    assert dist.n_draws == 300 and dist.draws.shape[1] == 300


def test_missing_gap_warns_and_counts_as_zero_in_totals():
    wide, nb, pop = _tiny()
    wide = pd.concat([wide, pd.DataFrame({"la_code": ["T3", "N7", "N8"], "icpc": [np.nan, 50, 50],
                                          "cpp": [20.0, 30, 30]})], ignore_index=True)
    nb = pd.concat([nb, pd.DataFrame({"la_code": ["T3", "T3"], "neighbour": ["N7", "N8"],
                                      "rank": [1, 2]})], ignore_index=True)
    pop = dict(pop, T3=5_000)
    with pytest.warns(SosstatsWarning, match="T3 \\(icpc\\)"):
        res = avoided_costs(wide, ["T1", "T2", "T3"], nb, {"icpc": 1.0, "cpp": 1.0}, pop, k=2)
    assert "processes[icpc: T3]" not in res.params.index
    assert res.params["cost[total: T3]"] == pytest.approx(-(20 - 30) * 5_000 / 1e4)
    assert res.table.loc["processes[icpc: pooled]", "df"] == 1


@settings(max_examples=15, deadline=None)
@given(st.floats(1.0, 1e5), st.floats(0.1, 10.0))
def test_properties_costs_linear_processes_invariant_rows_add_up(cost, factor):
    wide, nb, pop = _tiny()
    a = avoided_costs(wide, ["T1", "T2"], nb, {"icpc": cost, "cpp": 2 * cost}, pop, k=2)
    b = avoided_costs(wide, ["T1", "T2"], nb, {"icpc": cost * factor, "cpp": 2 * cost * factor},
                      pop, k=2)
    ta, tb = a.tidy().set_index("term"), b.tidy().set_index("term")
    cost_rows = [t for t in ta.index if t.startswith("cost")]
    np.testing.assert_allclose(tb.loc[cost_rows, ["estimate", "std_error", "ci_upper"]],
                               factor * ta.loc[cost_rows, ["estimate", "std_error", "ci_upper"]],
                               rtol=1e-9)
    proc = [t for t in ta.index if t.startswith("processes")]
    pd.testing.assert_frame_equal(ta.loc[proc].drop(columns="unit_cost"),
                                  tb.loc[proc].drop(columns="unit_cost"))
    costs = a.costs
    per_la = costs.drop(index="pooled", level="la_code")["estimate"].groupby(level=0).sum()
    np.testing.assert_allclose(per_la, costs.xs("pooled", level="la_code")["estimate"]
                               .reindex(per_la.index))


def test_outputs_and_plot(sim):
    ev, nb, pilots, pop = sim
    before = ev.la_indicators.copy()
    res = avoided_costs(ev.la_indicators, pilots, nb, COSTS, pop, year=2017)
    pd.testing.assert_frame_equal(ev.la_indicators, before)
    text = str(res)
    assert "cost[total: pooled]" in text and "positive = fewer processes" in text
    assert list(res.tidy().columns[:7]) == ["term", "estimate", "std_error", "statistic",
                                            "p_value", "ci_lower", "ci_upper"]
    assert res.processes.index.names == ["indicator", "la_code"]
    assert len(res.costs.loc["total"]) == len(pilots) + 1
    ax = res.plot()
    assert len(ax.patches) == len(pilots) + 1
    assert res.to_dict()["nobs"] == 10


@pytest.mark.parametrize("kwargs, error, match", [
    ({"unit_costs_per_process": [1.0, 2.0]}, DataError, "mapping"),
    ({"unit_costs_per_process": {}}, DataError, "non-empty"),
    ({"unit_costs_per_process": {"icpc": -5.0}}, DataError, "at least 0"),
    ({"unit_costs_per_process": {"icpc": np.nan}}, DataError, "NaN"),
    ({"unit_costs_per_process": {"icpc": [1.0, 2.0], "cpp": [1.0, 2.0, 3.0]}}, DataError,
     "same length"),
    ({"unit_costs_per_process": {3: 1.0}}, DataError, "indicator names"),
    ({"unit_costs_per_process": {"cla": 1.0}}, DataError, "cla"),
    ({"population": {"T1": 20_000}}, DataError, "T2"),
    ({"population": {"T1": 20_000, "T2": 0}}, DataError, "not positive"),
    ({"population": {"T1": "many", "T2": "few"}}, DataError, "numeric"),
    ({"population": 30_000}, DataError, "population"),
    ({"population": "icpc"}, DataError, "also a process"),
    ({"per": 0}, DataError, "per"),
    ({"pooling": "median"}, DataError, "pooling"),
    ({"n_draws": 1}, DesignError, "n_draws"),
    ({"treated": ["T1"]}, DesignError, "at least two"),
    ({"treated": ["T1", "T9"]}, DesignError, "T9"),
])
def test_bad_inputs(kwargs, error, match):
    wide, nb, pop = _tiny()
    args = dict(indicators=wide, treated=["T1", "T2"], neighbours=nb,
                unit_costs_per_process={"icpc": 1_000.0, "cpp": 2_000.0}, population=pop, k=2)
    args.update(kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SosstatsWarning)
        with pytest.raises(error, match=match):
            avoided_costs(**args)


def test_draws_are_labelled_by_term():
    wide, nb, pop = _tiny()
    cost_draws = np.random.default_rng(3).gamma(20, 50, 200)
    res = avoided_costs(wide, ["T1", "T2"], nb, {"icpc": cost_draws, "cpp": 2_000.0}, pop, k=2,
                        rng=4)
    draws = res.draws
    assert isinstance(draws, pd.DataFrame) and draws.shape == (len(res.table), 200)
    assert list(draws.index) == list(res.table.index) and draws.index.name == "term"
    assert list(draws.columns) == list(range(200)) and draws.columns.name == "draw"
    term = "cost[total: pooled]"
    total = res.draws_of(term)
    assert total.shape == (200,)
    np.testing.assert_array_equal(total, draws.loc[term].to_numpy())
    # the percentile interval and SE of a cost row come from its draws
    lo, hi = np.quantile(total, [0.025, 0.975])
    assert res.conf_int().loc[term].tolist() == pytest.approx([lo, hi], rel=1e-12)
    assert res.std_errors[term] == pytest.approx(total.std(ddof=1), rel=1e-12)
    total[:] = 0                                                   # a copy is returned
    assert (res.draws_of(term) != 0).any()
    assert draws.loc[[t for t in draws.index if t.startswith("processes")]].isna().all().all()
    with pytest.raises(DataError, match="not a term.*cost\\[total: pooled\\]"):
        res.draws_of("cost[total: everywhere]")
    with pytest.raises(DataError, match="process counts do not depend on unit costs"):
        res.draws_of("processes[icpc: pooled]")
    fixed = avoided_costs(wide, ["T1", "T2"], nb, {"icpc": 1_000.0, "cpp": 2_000.0}, pop, k=2)
    assert fixed.draws is None
    with pytest.raises(DataError, match="every unit cost was fixed"):
        fixed.draws_of(term)


def test_neighbour_warning_once_when_population_is_an_indicator():
    # T1 has three ranked neighbours, T2 four: with k = 4, T1 is short of neighbours
    wide = pd.DataFrame({"la_code": ["T1", "T2", "N1", "N2", "N3", "N4", "N5", "N6", "N7"],
                         "icpc": [40.0, 80, 50, 70, 10, 70, 60, 5, 30],
                         "cpp": [30.0, 25, 40, 30, 99, 30, 40, 99, 20],
                         "children": [20_000.0, 10_000, 9, 9, 9, 9, 9, 9, 9]})
    nb = pd.DataFrame({"la_code": ["T1"] * 3 + ["T2"] * 4,
                       "neighbour": ["N1", "N2", "N3", "N4", "N5", "N6", "N7"],
                       "rank": [1, 2, 3, 1, 2, 3, 4]})
    costs = {"icpc": 1_000.0, "cpp": 2_000.0}
    with pytest.warns(SosstatsWarning, match="fewer than k = 4 eligible neighbours") as rec:
        a = avoided_costs(wide, ["T1", "T2"], nb, costs, "children", k=4)
    short = [w for w in rec if "eligible neighbours" in str(w.message)]
    assert len(short) == 1
    assert "T1 (3)" in str(short[0].message) and short[0].filename == __file__
    with pytest.warns(SosstatsWarning, match="eligible neighbours") as rec2:
        b = avoided_costs(wide, ["T1", "T2"], nb, costs, {"T1": 20_000, "T2": 10_000}, k=4)
    assert len([w for w in rec2 if "eligible neighbours" in str(w.message)]) == 1
    pd.testing.assert_frame_equal(a.tidy(), b.tidy())
    assert a.params["processes[icpc: T1]"] == pytest.approx(-(40 - 130 / 3) * 2)
