"""Tests of sosstats.neighbours.did (difference-in-differences against statistical neighbours)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from hypothesis import given, settings
from hypothesis import strategies as st
from linearmodels import PanelOLS

from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.neighbours.ranking import NeighbourRanking
from sosstats.neighbours.did import DiDResult, neighbour_did

YEARS = np.arange(2010, 2018)


def make_panel(seed: int = 0, n_units: int = 30, n_treated: int = 6, effect: float = -5.0,
               starts: tuple[int, ...] = (2013, 2014, 2016), n_missing: int = 0,
               years: np.ndarray = YEARS):
    """Long panel with unit, year and treated effects, and a ranking by a covariate.

    The covariate drives the unit effects; the treated effect starts in each LA's start year.
    """
    rng = np.random.default_rng(seed)
    codes = np.array([f"E{i:03d}" for i in range(n_units)], dtype=object)
    x = rng.normal(size=n_units)
    unit = 50 + 10 * x + rng.normal(0, 2, n_units)
    yeff = rng.normal(0, 3, len(years))
    treated = list(codes[rng.choice(n_units, n_treated, replace=False)])
    start = {c: starts[i % len(starts)] for i, c in enumerate(treated)}
    st_arr = np.array([start.get(c, 10_000) for c in codes])
    y = (unit[:, None] + yeff[None, :] + rng.normal(0, 1, (n_units, len(years)))
         + effect * (years[None, :] >= st_arr[:, None]))
    long = pd.DataFrame({"la_code": np.repeat(codes, len(years)),
                         "year": np.tile(years, n_units), "indicator": "rate",
                         "value": y.ravel(), "flag": pd.array([None] * y.size, dtype=object)})
    if n_missing:
        rows = rng.choice(len(long), n_missing, replace=False)
        long.loc[rows, "value"] = np.nan
        long.loc[rows, "flag"] = "c"
    dist = np.abs(x[:, None] - x[None, :])
    ranking = NeighbourRanking.from_distances(codes, dist)
    return long, treated, start, ranking


def stacked_gaps(res: DiDResult) -> pd.DataFrame:
    g = res.gaps.dropna(subset=["gap"]).copy()
    g["post"] = (g["event_time"] >= 0).astype(float)
    n_post = g.groupby("la_code")["post"].transform("sum")
    n_pre = g.groupby("la_code")["post"].transform("count") - n_post
    g["w"] = np.where(g["post"] == 1, 1 / n_post, 1 / n_pre)
    return g


# -- reference regressions ----------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pooled_did_equals_weighted_panelols_with_clustered_se(seed):
    long, treated, start, ranking = make_panel(seed, n_missing=12)
    res = neighbour_did(long, treated, ranking, indicator="rate", start_year=start, k=5)
    g = stacked_gaps(res).set_index(["la_code", "year"])
    ref = PanelOLS(g["gap"], g[["post"]], entity_effects=True, weights=g["w"]).fit(
        cov_type="clustered", cluster_entity=True, group_debias=True)
    assert res.estimate == pytest.approx(ref.params["post"], rel=1e-10, abs=1e-10)
    assert res.std_error == pytest.approx(ref.std_errors["post"], rel=1e-10)
    assert res.df == len(treated) - 1


def test_pooled_did_equals_statsmodels_wls_cluster():
    long, treated, start, ranking = make_panel(3, n_missing=10)
    res = neighbour_did(long, treated, ranking, indicator="rate", start_year=start, k=4)
    g = stacked_gaps(res)
    fit = smf.wls("gap ~ C(la_code) + post", data=g, weights=g["w"]).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(g["la_code"])[0],
                                      "use_correction": False})
    n = res.nobs
    assert res.estimate == pytest.approx(fit.params["post"], abs=1e-10)
    # CR0 times the G/(G-1) factor
    assert res.std_error == pytest.approx(fit.bse["post"] * np.sqrt(n / (n - 1)), rel=1e-10)
    tid = res.tidy()
    assert tid.loc[tid.term == "did", "p_value"].item() == pytest.approx(
        2 * __import__("scipy").stats.t.sf(abs(res.estimate / res.std_error), n - 1))


def test_balanced_common_timing_equals_twfe_on_stacked_series():
    long, treated, _, ranking = make_panel(4, starts=(2014,))
    res = neighbour_did(long, treated, ranking, indicator="rate", start_year=2014, k=3)
    g = res.gaps
    rows = pd.concat([
        pd.DataFrame({"pair": g["la_code"], "year": g["year"], "y": g["value"], "treat": 1.0}),
        pd.DataFrame({"pair": g["la_code"], "year": g["year"], "y": g["neighbour_mean"],
                      "treat": 0.0})], ignore_index=True)
    rows["pair_year"] = rows["pair"] + "_" + rows["year"].astype(str)
    rows["did"] = rows["treat"] * (rows["year"] >= 2014)
    fit = smf.ols("y ~ C(pair_year) + C(pair):treat + did", data=rows).fit()
    assert res.estimate == pytest.approx(fit.params["did"], abs=1e-9)
    # unweighted gap regression gives the same on a balanced panel with common timing
    gg = stacked_gaps(res)
    assert np.allclose(gg["w"] * np.where(gg["post"] == 1, 4, 4), 1.0)  # 4 pre, 4 post years
    fit2 = smf.ols("gap ~ C(la_code) + post", data=gg).fit()
    assert res.estimate == pytest.approx(fit2.params["post"], abs=1e-9)


def test_event_study_equals_hand_computation_and_fe_regression():
    long, treated, start, ranking = make_panel(5, n_missing=8)
    res = neighbour_did(long, treated, ranking, indicator="rate", start_year=start, k=5,
                        reference_year=-2)
    g = res.gaps.dropna(subset=["gap"])
    wide = g.pivot(index="la_code", columns="event_time", values="gap")
    diff = wide.sub(wide[-2], axis=0)
    ev = res.event_study.set_index("event_time")
    for e in wide.columns:
        vals = diff[e].dropna().to_numpy()
        assert ev.loc[e, "n_las"] == len(vals)
        assert ev.loc[e, "estimate"] == pytest.approx(vals.mean(), abs=1e-10)
        if e != -2 and len(vals) > 1:
            assert ev.loc[e, "std_error"] == pytest.approx(vals.std(ddof=1) / np.sqrt(len(vals)))
    assert ev.loc[-2, "estimate"] == 0 and np.isnan(ev.loc[-2, "std_error"])
    tid = res.tidy()
    assert "event_-2" not in set(tid.term) and {"did", "event_0", "event_-1"} <= set(tid.term)
    # with a balanced panel and common timing: OLS on LA FE + event dummies
    long, treated, _, ranking = make_panel(6, starts=(2014,))
    res = neighbour_did(long, treated, ranking, indicator="rate", start_year=2014, k=3)
    g = res.gaps.copy()
    g["e"] = g["event_time"].astype(str)
    fit = smf.ols("gap ~ C(la_code) + C(e, Treatment('-1'))", data=g).fit()
    for e in (-4, 0, 3):
        assert res.params[f"event_{e}"] == pytest.approx(
            fit.params[f"C(e, Treatment('-1'))[T.{e}]"], abs=1e-9)


def test_gaps_by_hand_with_missing_cells():
    long, treated, start, ranking = make_panel(7, n_units=20, n_treated=3)
    la = treated[0]
    res0 = neighbour_did(long, treated, ranking, indicator="rate", start_year=start, k=4)
    nbs = res0.neighbours.loc[res0.neighbours.la_code == la, "neighbour"].tolist()
    assert len(nbs) == 4 and not set(nbs) & set(treated)
    data = long.copy()
    data.loc[(data.la_code == nbs[0]) & (data.year == 2011), ["value", "flag"]] = [np.nan, "x"]
    data.loc[(data.la_code == la) & (data.year == 2010), ["value", "flag"]] = [np.nan, "c"]
    res = neighbour_did(data, treated, ranking, indicator="rate", start_year=start, k=4)
    wide = data.pivot(index="la_code", columns="year", values="value")
    row = res.gaps.set_index(["la_code", "year"])
    expect_2011 = wide.loc[la, 2011] - wide.loc[nbs[1:], 2011].mean()
    assert row.loc[(la, 2011), "gap"] == pytest.approx(expect_2011)
    assert row.loc[(la, 2011), "n_neighbours_used"] == 3
    assert np.isnan(row.loc[(la, 2010), "gap"])
    d = res.dropped
    assert ((d.la_code == nbs[0]) & (d.year == 2011) & (d.role == "neighbour")
            & (d.flag == "x")).sum() == 1
    assert ((d.la_code == la) & (d.year == 2010) & (d.role == "treated")
            & (d.flag == "c")).sum() == 1
    by = res.by_la.set_index("la_code")
    pre = row.loc[la].query("event_time < 0")["gap"].dropna()
    post = row.loc[la].query("event_time >= 0")["gap"].dropna()
    assert by.loc[la, "estimate"] == pytest.approx(post.mean() - pre.mean())
    assert by.loc[la, "n_pre"] == len(pre)


# -- recovery of the simulator's truth ----------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("indicator", ["icpc_rate_per_10k", "assessment_duration_days"])
def test_recovers_simulated_pilot_effect(seed, indicator):
    from sosstats.datasets.simulate import simulate_evaluation

    ev = simulate_evaluation(rng=seed)
    las = ev.las
    cov = las.columns[las.columns.get_loc("deprivation_score"):]
    z = las[cov].to_numpy(float)
    z = (z - z.mean(0)) / z.std(0)
    dist = np.sqrt(((z[:, None] - z[None]) ** 2).sum(-1))
    ranking = NeighbourRanking.from_distances(las["la_code"].to_numpy(), dist)
    pil = las[las["pilot"]]
    starts = dict(zip(pil["la_code"], pil["sos_start_year"].astype(int)))
    res = neighbour_did(ev.la_indicators, list(starts), ranking, indicator=indicator,
                        start_year=starts, k=10)
    lo, hi = res.conf_int().loc["did"]
    truth = ev.truth["pilot_effects"][indicator]
    assert lo < truth < hi
    assert res.pvalues["did"] < 0.05


# -- properties ---------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), shifts=st.lists(st.floats(-100, 100), min_size=8,
                                                      max_size=8),
       la_shift=st.floats(-50, 50))
def test_year_and_la_constants_leave_did_unchanged(seed, shifts, la_shift):
    long, treated, start, ranking = make_panel(seed % 50, n_units=16, n_treated=3,
                                               n_missing=4)
    base = neighbour_did(long, treated, ranking, indicator="rate", start_year=start, k=4)
    moved = long.copy()
    moved["value"] = moved["value"] + moved["year"].map(dict(zip(YEARS, shifts)))
    moved.loc[moved.la_code == treated[0], "value"] += la_shift
    res = neighbour_did(moved, treated, ranking, indicator="rate", start_year=start, k=4)
    scale = 1 + max(map(abs, shifts)) + abs(la_shift)
    assert res.estimate == pytest.approx(base.estimate, abs=1e-9 * scale)
    assert res.std_error == pytest.approx(base.std_error, abs=1e-9 * scale)
    assert np.allclose(res.event_table["estimate"], base.event_table["estimate"],
                       atol=1e-9 * scale)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_row_order_does_not_matter(seed):
    long, treated, start, ranking = make_panel(seed % 20, n_missing=5)
    base = neighbour_did(long, treated, ranking, indicator="rate", start_year=start, k=5)
    shuffled = long.sample(frac=1.0, random_state=seed)
    res = neighbour_did(shuffled, treated[::-1], ranking, indicator="rate", start_year=start,
                        k=5)
    assert res.estimate == pytest.approx(base.estimate, abs=1e-10)
    assert res.std_error == pytest.approx(base.std_error, abs=1e-10)


# -- options, inputs and outputs ----------------------------------------------------------------
def test_exclusion_rules_and_published_table():
    long, treated, start, ranking = make_panel(8, n_units=25)
    table = ranking.to_frame(10)
    # excluded codes and the other treated LAs never serve as neighbours
    banned = [c for c in ranking.ids if c not in treated][:2]
    # with a list of ten, no treated LA keeps 10 after the exclusions (compare's rule)
    with pytest.raises(DesignError, match=r"k = 10 is too large.*at most 9"):
        neighbour_did(long, treated, table, indicator="rate", start_year=start, k=10,
                      exclude=banned)
    with pytest.warns(SosstatsWarning, match="fewer than k"):
        res = neighbour_did(long, treated, table, indicator="rate", start_year=start, k=9,
                            exclude=banned)
    assert not set(res.neighbours.neighbour) & (set(treated) | set(banned))
    assert (res.by_la.n_neighbours <= 9).all() and (res.by_la.n_neighbours == 9).any()
    res2 = neighbour_did(long, treated, ranking, indicator="rate", start_year=start, k=3,
                         exclude_treated=False)
    own = ranking.select(ranking.positions(treated), 3)[0]
    expect = {(t, ranking.ids[j]) for t, row in zip(treated, own) for j in row}
    assert set(zip(res2.neighbours.la_code, res2.neighbours.neighbour)) == expect


def test_wide_input_gives_same_result():
    long, treated, start, ranking = make_panel(9, n_missing=6)
    wide = long.pivot(index=["la_code", "year"], columns="indicator",
                      values="value").reset_index()
    a = neighbour_did(long, treated, ranking, indicator="rate", start_year=start, k=5)
    b = neighbour_did(wide, treated, ranking, indicator="rate", start_year=start, k=5)
    assert a.estimate == pytest.approx(b.estimate) and a.std_error == pytest.approx(b.std_error)


def test_result_protocol_and_plot():
    long, treated, start, ranking = make_panel(10)
    res = neighbour_did(long, treated, ranking, indicator="rate", start_year=start, k=5,
                        level=0.9)
    tid = res.tidy(level=0.9)
    assert tid.term.iloc[0] == "did"
    assert list(tid.columns[:7]) == ["term", "estimate", "std_error", "statistic", "p_value",
                                     "ci_lower", "ci_upper"]
    from scipy import stats
    q = stats.t.ppf(0.95, res.df)
    assert tid.ci_upper.iloc[0] == pytest.approx(res.estimate + q * res.std_error)
    assert res.event_study["ci_lower"].notna().sum() >= 3
    assert "did" in str(res.summary()) and res.to_dict()["nobs"] == len(treated)
    ax = res.plot()
    assert len(ax.lines) >= 3 and ax.get_xlabel().startswith("event time")
    import matplotlib.pyplot as plt
    plt.close("all")


def test_inputs_are_not_modified():
    long, treated, start, ranking = make_panel(11, n_missing=5)
    table = ranking.to_frame(10)
    before, tab_before, start_before = long.copy(), table.copy(), dict(start)
    neighbour_did(long, treated, table, indicator="rate", start_year=start, k=5)
    pd.testing.assert_frame_equal(long, before)
    pd.testing.assert_frame_equal(table, tab_before)
    assert start == start_before


@pytest.mark.parametrize("change, exc, match", [
    (dict(indicator="nope"), DataError, "nope"),
    (dict(treated=["E001", "XXX"]), DesignError, "XXX"),
    (dict(treated=["E001"]), DesignError, "at least two"),
    (dict(treated=[]), DataError, "empty"),
    (dict(start_year=2010), DesignError, "no pre-period"),
    (dict(start_year=2030), DesignError, "no post-period"),
    (dict(start_year={"E001": 2014}), DataError, "E002"),
    (dict(start_year="2014"), DataError, "start_year"),
    (dict(k=0), DesignError, "k"),
    (dict(k=2.5), DataError, "k"),
    (dict(reference_year=-20), DesignError, "reference event time"),
    (dict(exclude=["ZZZ"]), DataError, "ZZZ"),
    (dict(level=1.5), DataError, "level"),
    (dict(neighbours="a list"), DataError, "neighbours"),
])
def test_bad_inputs(change, exc, match):
    long, _, _, ranking = make_panel(12)
    args = dict(indicators=long, treated=["E001", "E002"], neighbours=ranking,
                indicator="rate", start_year=2014, k=3)
    args.update(change)
    with pytest.raises(exc, match=match):
        neighbour_did(**args)


def test_bad_data():
    long, _, _, ranking = make_panel(13)
    args = dict(treated=["E001", "E002"], neighbours=ranking, indicator="rate",
                start_year=2014)
    with pytest.raises(DataError, match="more than one row"):
        neighbour_did(pd.concat([long, long.iloc[:1]]), **args)
    bad = long.copy()
    bad["value"] = bad["value"].astype(str)       # numeric strings are read as numbers ...
    bad.loc[7, "value"] = "n/a"                   # ... but other text is an error
    with pytest.raises(DataError, match="'value'.*not numeric: 'n/a' \\(indicator 'rate'\\)"):
        neighbour_did(bad, **args)
    with pytest.raises(DataError, match="la_code"):
        neighbour_did(long.drop(columns="la_code"), **args)
    with pytest.raises(DataError, match="DataFrame"):
        neighbour_did(long.to_numpy(), **args)
    gone = long.copy()
    gone.loc[(gone.la_code == "E001") & (gone.year < 2014), "value"] = np.nan
    with pytest.raises(DesignError, match="E001 have no pre-period"):
        neighbour_did(gone, **args)
    lonely = long.loc[long.la_code.isin(["E001", "E002"])]
    with pytest.raises(DesignError, match="no eligible neighbours"):
        neighbour_did(lonely, **args)
    with pytest.raises(DesignError, match="E001, E002 not found"):
        neighbour_did(long, ["E001", "E002"], ranking.to_frame(3).query("la_code == 'E005'"),
                      indicator="rate", start_year=2014)


def test_suppression_markers_in_the_value_column():
    long, treated, start, ranking = make_panel(14, n_missing=6)
    flagged = long.loc[long["flag"] == "c"].index
    res = neighbour_did(long, treated, ranking, indicator="rate", start_year=start, k=4)
    # the same cells given as text markers (values as strings, as read_csv gives them)
    text = long.drop(columns="flag").astype({"value": object})
    text["value"] = [f"{v!r}" for v in long["value"]]
    text.loc[flagged, "value"] = [" c", "..", "x ", "c", ":", "-"]
    before = text.copy()
    res_text = neighbour_did(text, treated, ranking, indicator="rate", start_year=start, k=4)
    pd.testing.assert_frame_equal(text, before)
    assert res_text.estimate == pytest.approx(res.estimate, rel=1e-12)
    pd.testing.assert_frame_equal(res_text.gaps, res.gaps, rtol=1e-12)
    a = res.dropped.drop(columns="flag")
    b = res_text.dropped.drop(columns="flag")
    pd.testing.assert_frame_equal(a, b)
    marker_of = dict(zip(zip(text.loc[flagged, "la_code"], text.loc[flagged, "year"]),
                         text.loc[flagged, "value"].str.strip()))
    assert len(res_text.dropped) > 0
    for _, r in res_text.dropped.iterrows():
        assert r["flag"] == marker_of.get((r["la_code"], r["year"]))


def test_wide_form_markers_and_bad_text():
    long, treated, start, ranking = make_panel(15, n_missing=5)
    res = neighbour_did(long, treated, ranking, indicator="rate", start_year=start, k=4)
    wide = long.pivot(index=["la_code", "year"], columns="indicator",
                      values="value").reset_index()
    wide.columns.name = None
    wide["rate"] = wide["rate"].astype(object).where(wide["rate"].notna(), "z")
    res_w = neighbour_did(wide, treated, ranking, indicator="rate", start_year=start, k=4)
    assert res_w.estimate == pytest.approx(res.estimate, rel=1e-12)
    assert set(res_w.dropped["flag"]) <= {"z"} and len(res_w.dropped) == len(res.dropped)
    wide.loc[3, "rate"] = "approx. 12"
    with pytest.raises(DataError, match="column 'rate'.*not numeric: 'approx. 12'"):
        neighbour_did(wide, treated, ranking, indicator="rate", start_year=start, k=4)
    with pytest.raises(DataError, match="'rate'.*bool"):
        neighbour_did(wide.assign(rate=True), treated, ranking, indicator="rate",
                      start_year=start, k=4)


def test_missing_la_codes_are_an_error():
    long, treated, start, ranking = make_panel(16)
    holes = long.astype({"la_code": object})
    holes.loc[5, "la_code"] = None
    with pytest.raises(DataError, match="'la_code'.*1 missing LA codes"):
        neighbour_did(holes, treated, ranking, indicator="rate", start_year=start, k=4)


def fitted_neighbours(long, treated, contaminated_of=1):
    """Fit neighbours on a random covariate, flagging some LAs as contaminated.

    The first non-treated neighbour of each of the first ``contaminated_of`` treated LAs is
    flagged; returns the fit and the flagged codes.
    """
    from sosstats.neighbours.model import StatisticalNeighbours

    codes = pd.unique(long["la_code"])
    las = pd.DataFrame({"la_code": codes,
                        "x": np.random.default_rng(5).normal(size=len(codes))})
    plain = StatisticalNeighbours(["x"], k=3).fit(las)
    bad = []
    for t in treated[:contaminated_of]:
        row = plain.ranking.order[list(plain.ranking.ids).index(t)]
        bad.append(next(c for c in plain.ranking.ids[row] if c not in treated))
    return StatisticalNeighbours(["x"], k=4, contaminated=bad).fit(las), bad


def test_fitted_models_contaminated_las_are_never_neighbours():
    long, treated, start, _ = make_panel(4)
    fit, bad = fitted_neighbours(long, treated, contaminated_of=2)
    res = neighbour_did(long, treated, fit, indicator="rate", start_year=start, k=4)
    assert not res.neighbours["neighbour"].isin(bad).any()
    # same as passing the bare ranking with the contaminated LAs in `exclude`
    ref = neighbour_did(long, treated, fit.ranking, indicator="rate", start_year=start, k=4,
                        exclude=bad)
    pd.testing.assert_frame_equal(res.neighbours, ref.neighbours)
    assert res.estimate == pytest.approx(ref.estimate, abs=1e-12)
    plain = neighbour_did(long, treated, fit.ranking, indicator="rate", start_year=start, k=4)
    assert plain.neighbours["neighbour"].isin(bad).any()
    # the published-list form of the same fit bars them too
    from sosstats.neighbours.model import from_published
    pub = from_published(fit.ranking.to_frame(), k=10, contaminated=bad)
    res_pub = neighbour_did(long, treated, pub, indicator="rate", start_year=start, k=4)
    assert not res_pub.neighbours["neighbour"].isin(bad).any()


def test_fitted_model_k_is_the_default():
    long, treated, start, _ = make_panel(4)
    fit, _ = fitted_neighbours(long, treated)
    res = neighbour_did(long, treated, fit, indicator="rate", start_year=start)
    assert res.k == 4 and res.neighbours.groupby("la_code").size().max() == 4
    assert neighbour_did(long, treated, fit, indicator="rate", start_year=start, k=2).k == 2
    with pytest.raises(DesignError, match="fitted with"):
        neighbour_did(long, treated, fit, indicator="rate", start_year=start, k=5)


def test_neighbours_rank_is_the_original_rank():
    long, treated, start, ranking = make_panel(6)
    res = neighbour_did(long, treated, ranking, indicator="rate", start_year=start, k=5)
    full = ranking.to_frame()
    merged = res.neighbours.merge(full, on=["la_code", "neighbour"], suffixes=("", "_full"))
    assert len(merged) == len(res.neighbours) == 5 * len(treated)
    assert (merged["rank"] == merged["rank_full"]).all()
    # other treated LAs are skipped, so some ranks skip numbers (position != rank)
    pos = res.neighbours.groupby("la_code").cumcount() + 1
    assert (res.neighbours["rank"] > pos).any()
    assert res.neighbours.groupby("la_code")["rank"].is_monotonic_increasing.all()


def test_k_too_large_follows_compares_rule():
    # review case: 12 LAs, k=1000 ran with a warning only
    n = 12
    ids = np.array([f"L{i:02d}" for i in range(n)], dtype=object)
    x = np.arange(n, dtype=float)
    ranking = NeighbourRanking.from_distances(ids, np.abs(x[:, None] - x[None]))
    rng = np.random.default_rng(0)
    long = pd.DataFrame([(c, y, "A", rng.normal()) for c in ids for y in range(2010, 2016)],
                        columns=["la_code", "year", "indicator", "value"])
    with pytest.raises(DesignError, match=r"k = 1000 is too large.*at most 10.*k <= 10"):
        neighbour_did(long, ["L00", "L11"], ranking, indicator="A", start_year=2013, k=1000)
    with pytest.raises(DesignError, match="at most 10"):
        neighbour_did(long, ["L00", "L11"], ranking, indicator="A", start_year=2013, k=11)
    res = neighbour_did(long, ["L00", "L11"], ranking, indicator="A", start_year=2013, k=10)
    assert res.by_la.n_neighbours.tolist() == [10, 10]
    # only some short: a warning naming them (a published-style list of ten, one row removed)
    table = ranking.to_frame(10)
    table = table[~((table.la_code == "L11") & (table.neighbour == "L01"))]
    with pytest.warns(SosstatsWarning, match=r"fewer than k=10.*L11 \(9\)"):
        res = neighbour_did(long, ["L00", "L11"], table, indicator="A", start_year=2013, k=10)
    assert res.by_la.n_neighbours.tolist() == [10, 9]


def test_repeated_treated_la_is_a_data_error_as_in_compare():
    from sosstats.datasets import simulate_evaluation
    from sosstats.neighbours import compare, neighbour_did, synthetic_control

    ev = simulate_evaluation(rng=0)
    pilots = ev.pilots["la_code"].tolist()
    table = ev.las[["la_code"]].assign(f=ev.las["deprivation_score"])
    from sosstats.neighbours import StatisticalNeighbours

    fit = StatisticalNeighbours(["f"]).fit(table)
    twice = pilots + pilots[:1]
    for call in (lambda: neighbour_did(ev.la_indicators, twice, fit,
                                       indicator="icpc_rate_per_10k", start_year=2016),
                 lambda: synthetic_control(ev.la_indicators, twice,
                                           indicator="icpc_rate_per_10k", start_year=2016),
                 lambda: compare(ev.la_indicators, twice, fit, year=2017, n_draws=0)):
        with pytest.raises(DataError, match=f"repeats LA {pilots[0]}"):
            call()


def test_tables_use_the_estimate_vocabulary():
    long, treated, start, ranking = make_panel(13)
    res = neighbour_did(long, treated, ranking, indicator="rate", start_year=start, k=5)
    assert "estimate" in res.by_la.columns and "did" not in res.by_la.columns
    assert res.by_la["estimate"].mean() == pytest.approx(res.params["did"], abs=1e-12)
    assert "estimate" in res.event_study.columns


def test_post_end_equals_truncating_the_data():
    long, treated, start, ranking = make_panel(11)
    end = 2016
    res = neighbour_did(long, treated, ranking, indicator="rate", start_year=start, k=5,
                        post_end=end)
    cut = neighbour_did(long[long["year"] <= end], treated, ranking, indicator="rate",
                        start_year=start, k=5)
    assert res.estimate == pytest.approx(cut.estimate, abs=1e-12)
    assert res.std_error == pytest.approx(cut.std_error, abs=1e-12)
    pd.testing.assert_frame_equal(res.event_table, cut.event_table)
    later = res.gaps["year"] > end
    assert (res.gaps.loc[later, "period"] == "after").all() and res.gaps.loc[later, "gap"].isna().all()
    assert not (res.dropped["year"] > end).any()
    full = neighbour_did(long, treated, ranking, indicator="rate", start_year=start, k=5)
    assert full.estimate != pytest.approx(res.estimate, abs=1e-9)


def test_post_end_per_la_and_validation():
    long, treated, start, ranking = make_panel(12)
    ends = {c: max(s, 2015) for c, s in start.items()}
    res = neighbour_did(long, treated, ranking, indicator="rate", start_year=start, k=5,
                        post_end=ends)
    by = res.by_la.set_index("la_code")
    for c in treated:
        assert by.loc[c, "n_post"] == ends[c] - start[c] + 1
    with pytest.raises(DataError, match="`post_end` is before the start year"):
        neighbour_did(long, treated, ranking, indicator="rate", start_year=start, k=5,
                      post_end=min(start.values()) - 1)
    with pytest.raises(DataError, match="`post_end` for all treated LAs must be a whole"):
        neighbour_did(long, treated, ranking, indicator="rate", start_year=start, k=5,
                      post_end=2016.5)
    with pytest.raises(DataError, match="`post_end` has no year for treated LA"):
        neighbour_did(long, treated, ranking, indicator="rate", start_year=start, k=5,
                      post_end={treated[0]: 2018})
