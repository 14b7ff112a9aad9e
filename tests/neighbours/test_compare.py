"""compare(): per-LA and pooled numbers, tests against scipy/statsmodels, missing cells, errors."""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests

from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.neighbours._indicators import indicator_matrix
from sosstats._multiplicity import ADJUSTMENTS, benjamini_hochberg, holm
from sosstats.neighbours._pooled import bootstrap_mean, wilcoxon_p
from sosstats.neighbours.ranking import NeighbourRanking
from sosstats.neighbours.compare import ComparisonResult, compare
from sosstats.neighbours.model import StatisticalNeighbours

matplotlib.use("Agg")

N_LA, NAMES = 36, ["ind_a", "ind_b", "ind_c"]


def make_world(seed=0, n=N_LA, shift=0.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    dist = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    ids = np.array([f"E{i:03d}" for i in range(n)], dtype=object)
    ranking = NeighbourRanking.from_distances(ids, dist)
    vals = 50 + 10 * x @ rng.normal(size=(3, len(NAMES))) + rng.normal(size=(n, len(NAMES)))
    treated = list(ids[[1, 4, 8, 15, 22, 30]])
    vals[[1, 4, 8, 15, 22, 30]] += shift
    wide = pd.DataFrame(vals, columns=NAMES)
    wide.insert(0, "la_code", ids)
    return wide, ranking, treated


def to_long(wide, year=None):
    long = wide.melt(id_vars="la_code", var_name="indicator", value_name="value")
    long["flag"] = np.where(long["value"].isna(), "c", None)
    if year is not None:
        long["year"] = year
    return long


def brute_force(wide, ranking, treated, k, weighting="equal", exclude=()):
    """Loop over treated LAs and indicators, walking each ranked list by hand."""
    vals = wide.set_index("la_code")
    rows = []
    for t in treated:
        i = list(ranking.ids).index(t)
        nbrs = []
        for r, j in enumerate(ranking.order[i]):
            code = ranking.ids[j]
            if code in treated or code in exclude or j == i:
                continue
            nbrs.append((code, ranking.distance[i, r]))
            if len(nbrs) == k:
                break
        for name in NAMES:
            y = vals.loc[t, name]
            pairs = [(1.0 if weighting == "equal" else 1 / d, vals.loc[c, name]) for c, d in nbrs
                     if not np.isnan(vals.loc[c, name])]
            mean = sum(w * v for w, v in pairs) / sum(w for w, _ in pairs)
            rows.append((name, t, y, mean, len(pairs), y - mean))
    return pd.DataFrame(rows, columns=["indicator", "la_code", "value", "neighbour_mean",
                                       "n_neighbours", "difference"])


@pytest.fixture(scope="module")
def world():
    return make_world()


@pytest.mark.parametrize("weighting", ["equal", "distance"])
def test_per_la_and_pooled_match_brute_force(world, weighting):
    wide, ranking, treated = world
    res = compare(wide, treated, ranking, k=5, weighting=weighting, n_draws=0, n_resamples=0,
                  exclude=["E002"])
    ref = brute_force(wide, ranking, treated, 5, weighting, exclude=("E002",))
    got = res.per_la.sort_values(["indicator", "la_code"]).reset_index(drop=True)
    ref = ref.sort_values(["indicator", "la_code"]).reset_index(drop=True)
    np.testing.assert_allclose(got["neighbour_mean"], ref["neighbour_mean"], rtol=1e-12)
    np.testing.assert_allclose(got["difference"], ref["difference"], rtol=1e-12)
    np.testing.assert_allclose(got["ratio"], ref["value"] / ref["neighbour_mean"], rtol=1e-12)
    pooled = res.pooled
    for name, grp in ref.groupby("indicator"):
        d = grp["difference"].to_numpy()
        tt = stats.ttest_rel(grp["value"], grp["neighbour_mean"])
        ci = stats.ttest_1samp(d, 0).confidence_interval(0.95)
        row = pooled.loc[name]
        assert row["estimate"] == pytest.approx(d.mean(), rel=1e-12)
        assert row["treated_mean"] == pytest.approx(grp["value"].mean(), rel=1e-12)
        assert row["neighbour_mean"] == pytest.approx(grp["neighbour_mean"].mean(), rel=1e-12)
        assert row["ratio"] == pytest.approx(grp["value"].mean() / grp["neighbour_mean"].mean())
        assert row["statistic"] == pytest.approx(tt.statistic, rel=1e-10)
        assert row["p_value"] == pytest.approx(tt.pvalue, rel=1e-10)
        assert row["df"] == len(d) - 1
        assert row["std_error"] == pytest.approx(d.std(ddof=1) / np.sqrt(len(d)), rel=1e-12)
        assert (row["ci_lower"], row["ci_upper"]) == pytest.approx((ci.low, ci.high), rel=1e-10)
        assert row["p_wilcoxon"] == pytest.approx(stats.wilcoxon(d).pvalue, rel=1e-12)
    assert "E002" not in set(res.neighbour_sets["neighbour"])
    assert not set(treated) & set(res.neighbour_sets["neighbour"])
    w = res.neighbour_sets.groupby("la_code")["weight"].sum()
    np.testing.assert_allclose(w, 1.0)


def test_neighbour_sets_ranks_and_weights(world):
    wide, ranking, treated = world
    res = compare(wide, treated, ranking, k=4, weighting="distance", n_draws=0, n_resamples=0)
    sets = res.neighbour_sets
    assert list(sets.columns) == ["la_code", "neighbour", "rank", "distance", "weight"]
    assert (sets.groupby("la_code").size() == 4).all()
    for t, grp in sets.groupby("la_code"):
        i = list(ranking.ids).index(t)
        for _, r in grp.iterrows():
            assert ranking.ids[ranking.order[i, r["rank"] - 1]] == r["neighbour"]
        inv = 1 / grp["distance"]
        np.testing.assert_allclose(grp["weight"], inv / inv.sum())


def test_result_protocol(world):
    wide, ranking, treated = world
    res = compare(wide, treated, ranking, k=5, n_draws=99, n_resamples=199, rng=4, level=0.9)
    assert isinstance(res, ComparisonResult)
    assert list(res.params.index) == NAMES
    np.testing.assert_allclose(res.params, res.pooled["estimate"])
    ci = res.conf_int(0.9)
    np.testing.assert_allclose(ci["lower"], res.pooled["ci_lower"], rtol=1e-12)
    ci99 = res.conf_int(0.99)
    assert (ci99["lower"] < ci["lower"]).all()
    tidy = res.tidy()
    assert list(tidy.columns[:7]) == ["term", "estimate", "std_error", "statistic", "p_value",
                                      "ci_lower", "ci_upper"]
    for col in ["p_randomization", "p_randomization_adjusted", "p_adjusted", "boot_ci_lower",
                "p_wilcoxon", "p_wilcoxon_adjusted", "n_treated"]:
        assert col in tidy.columns
    text = str(res.summary())
    assert "ind_b" in text and "k = 5" in text and "rng=4" in text
    d = res.to_dict()
    assert len(d["estimates"]) == 3 and d["nobs"] == 6
    assert (res.k, res.weighting, res.n_draws, res.rng, res.n_resamples) == (5, "equal", 99, 4,
                                                                             199)
    assert res.null_distribution.shape == (99, 3)
    np.testing.assert_allclose(res.pooled["p_adjusted"], holm(res.pooled["p_value"]))


def test_fitted_model_k_is_the_default(world):
    """A model fitted with k=6 compares on 6 neighbours, not compare's own default of 10."""
    wide, ranking, treated = world
    las = wide.assign(x1=np.arange(len(wide)) % 7, x2=np.arange(len(wide)) ** 0.5)
    fitted = StatisticalNeighbours(["x1", "x2"], k=6).fit(las)
    res = compare(wide, treated, fitted, n_draws=0, n_resamples=0)
    assert res.k == 6
    assert res.neighbour_sets.groupby("la_code").size().max() == 6
    assert compare(wide, treated, fitted, k=4, n_draws=0, n_resamples=0).k == 4
    with pytest.raises(DesignError, match=r"k = 6 the neighbour model was fitted with"):
        compare(wide, treated, fitted, k=8, n_draws=0, n_resamples=0)
    assert compare(wide, treated, ranking, n_draws=0, n_resamples=0).k == 10


def test_pooled_uses_the_summary_vocabulary(world):
    """.pooled is indexed by term and calls the estimate `estimate`, as summary() does."""
    wide, ranking, treated = world
    res = compare(wide, treated, ranking, k=5, n_draws=0, n_resamples=0)
    assert res.pooled.index.name == "term"
    assert list(res.pooled.index) == list(res.summary().to_frame().index)
    assert "estimate" in res.pooled.columns and "difference" not in res.pooled.columns
    np.testing.assert_allclose(res.pooled["estimate"], res.summary().to_frame()["estimate"])


def test_every_p_value_family_is_adjusted(world):
    """t, Wilcoxon and randomization p-values each get a Holm (or BH) adjustment."""
    wide, ranking, treated = world
    for adjust, fn in (("holm", holm), ("bh", benjamini_hochberg)):
        res = compare(wide, treated, ranking, k=5, n_draws=199, n_resamples=0, rng=2,
                      adjust=adjust)
        for raw, adj in (("p_value", "p_adjusted"), ("p_wilcoxon", "p_wilcoxon_adjusted"),
                         ("p_randomization", "p_randomization_adjusted")):
            np.testing.assert_allclose(res.pooled[adj], fn(res.pooled[raw].to_numpy()))
        text = "\n".join(res.summary().notes)
        assert "p_randomization_adjusted" in text and ADJUSTMENTS[adjust] in text
        assert "p_randomization_adjusted" in res.summary().to_frame().columns


def test_summary_level_defaults_to_the_fit_level(world):
    wide, ranking, treated = world
    res = compare(wide, treated, ranking, k=5, n_draws=0, n_resamples=0, level=0.9)
    table = res.summary().to_frame()
    np.testing.assert_allclose(table["ci_lower"], res.pooled["ci_lower"], rtol=1e-12)
    assert (res.summary(level=0.99).to_frame()["ci_lower"] < table["ci_lower"]).all()


def test_plots(world):
    wide, ranking, treated = world
    res = compare(wide, treated, ranking, k=5, n_draws=0, n_resamples=0)
    ax = res.plot("ind_a")
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "pooled"
    assert len(ax.collections) >= 1
    axes = res.plot()
    assert axes.size >= 3
    with pytest.raises(DataError, match="not in this result"):
        res.plot("nope")
    with pytest.raises(DataError, match="indicator="):
        res.plot(ax=ax)
    import matplotlib.pyplot as plt

    plt.close("all")


def test_multiplicity_against_statsmodels():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.uniform(0, 0.2, size=rng.integers(1, 15)) ** rng.uniform(0.5, 3)
        np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=1e-12)
        np.testing.assert_allclose(benjamini_hochberg(p), multipletests(p, method="fdr_bh")[1],
                                   rtol=1e-12)
    p = np.array([0.01, np.nan, 0.04, 0.03])
    ok = ~np.isnan(p)
    h = holm(p)
    assert np.isnan(h[1])
    np.testing.assert_allclose(h[ok], multipletests(p[ok], method="holm")[1])
    np.testing.assert_allclose(benjamini_hochberg(p)[ok],
                               multipletests(p[ok], method="fdr_bh")[1])
    ties = np.array([0.02, 0.02, 0.5])
    np.testing.assert_allclose(holm(ties), multipletests(ties, method="holm")[1])


def test_bootstrap_against_scipy_and_loop():
    rng = np.random.default_rng(11)
    d = rng.normal(size=(3, 7))
    d[1, 2] = np.nan
    got = bootstrap_mean(d, 500, np.random.default_rng(9), 0.95)
    # first row: identical to scipy.stats.bootstrap with a generator in the same state
    ref = stats.bootstrap((d[0],), np.mean, n_resamples=500, method="percentile",
                          rng=np.random.default_rng(9))
    assert got.loc[0, "boot_ci_lower"] == pytest.approx(ref.confidence_interval.low, rel=1e-12)
    assert got.loc[0, "boot_ci_upper"] == pytest.approx(ref.confidence_interval.high, rel=1e-12)
    assert got.loc[0, "boot_se"] == pytest.approx(ref.standard_error, rel=1e-12)
    # all rows: a plain loop over resamples with the same draws
    g = np.random.default_rng(9)
    for i, row in enumerate(d):
        x = row[np.isfinite(row)]
        idx = g.integers(0, len(x), (500, len(x)))
        means = np.array([x[ix].mean() for ix in idx])
        assert got.loc[i, "boot_se"] == pytest.approx(means.std(ddof=1), rel=1e-12)
        assert got.loc[i, "boot_ci_lower"] == pytest.approx(np.percentile(means, 2.5))


def test_bootstrap_in_compare_is_reproducible(world):
    wide, ranking, treated = world
    a = compare(wide, treated, ranking, k=3, n_draws=50, n_resamples=300, rng=1)
    b = compare(wide, treated, ranking, k=3, n_draws=50, n_resamples=300,
                rng=np.random.default_rng(1))
    c = compare(wide, treated, ranking, k=3, n_draws=50, n_resamples=300, rng=2)
    pd.testing.assert_frame_equal(a.pooled, b.pooled)
    assert not np.allclose(a.pooled["boot_se"], c.pooled["boot_se"])
    d = a.per_la.pivot(index="indicator", columns="la_code", values="difference")
    boot = bootstrap_mean(d.loc[NAMES, list(treated)].to_numpy(), 300,
                          np.random.default_rng(1).spawn(2)[0])
    np.testing.assert_allclose(a.pooled["boot_se"], boot["boot_se"], rtol=1e-12)


def test_wilcoxon_edge_cases():
    p, approx = wilcoxon_p(np.array([[0.0, 0.0, 0.0, 0.0], [1.0, np.nan, np.nan, np.nan],
                                     [1.0, -2.0, 3.0, np.nan], [1.0, 1.0, -2.0, 3.0]]))
    assert np.isnan(p[0]) and np.isnan(p[1])
    assert p[2] == pytest.approx(stats.wilcoxon([1.0, -2.0, 3.0], method="exact").pvalue)
    assert p[3] == pytest.approx(stats.wilcoxon([1.0, 1.0, -2.0, 3.0], zero_method="wilcox",
                                                correction=True, method="approx").pvalue)
    assert approx.tolist() == [False, False, False, True]


@pytest.mark.parametrize("n", [5, 13, 14, 30, 60])
def test_wilcoxon_method_is_pinned(n):
    """Same p-value whatever scipy's default: exact below 50 without ties, else corrected normal."""
    x = np.random.default_rng(n).normal(0.3, 1.0, n)
    p, approx = wilcoxon_p(x[None, :])
    if n < 50:
        ref = stats.wilcoxon(x, method="exact").pvalue
    else:
        ref = stats.wilcoxon(x, zero_method="wilcox", correction=True, method="approx").pvalue
    assert p[0] == pytest.approx(ref, rel=1e-12) and not approx[0]
    tied = np.r_[x, x[:2]]  # ties force the normal approximation, as in R
    p, approx = wilcoxon_p(tied[None, :])
    assert approx[0]
    assert p[0] == pytest.approx(stats.wilcoxon(tied, zero_method="wilcox", correction=True,
                                                method="approx").pvalue, rel=1e-12)


def test_wilcoxon_ties_warn_once_and_notes_say_method(world):
    wide, ranking, treated = world
    tied = wide.copy()
    for col in NAMES:  # every pilot 1 above or below everyone: tied |differences|
        tied[col] = np.where(tied["la_code"].isin(treated), 1.0, 0.0)
    with pytest.warns(SosstatsWarning, match="normal approximation") as rec:
        res = compare(tied, treated, ranking, k=5, n_draws=0, n_resamples=0)
    assert sum("normal approximation" in str(w.message) for w in rec) == 1
    assert any("wilcox.test" in n for n in res.summary().notes)


def test_long_and_wide_give_identical_results(world):
    wide, ranking, treated = world
    long = to_long(wide, year=2016)
    other = long.assign(year=2015, value=long["value"] + 100)
    long2 = pd.concat([long, other], ignore_index=True)
    a = compare(wide, treated, ranking, k=5, n_draws=200, n_resamples=200, rng=3)
    b = compare(long2, treated, ranking, k=5, n_draws=200, n_resamples=200, rng=3, year=2016)
    pd.testing.assert_frame_equal(a.pooled, b.pooled)
    pd.testing.assert_frame_equal(a.per_la, b.per_la)
    c = compare(wide, treated, ranking, k=5, n_draws=0, n_resamples=0, indicator="ind_b")
    assert list(c.pooled.index) == ["ind_b"]
    assert c.pooled["estimate"].iloc[0] == pytest.approx(a.pooled["estimate"].iloc[1])


def test_suppressed_cells_are_missing_and_recorded(world):
    wide, ranking, treated = world
    res0 = compare(wide, treated, ranking, k=5, n_draws=0, n_resamples=0)
    sets = res0.neighbour_sets
    nb = sets.loc[sets["la_code"] == treated[0], "neighbour"].iloc[1]
    long = to_long(wide)
    mask_nb = (long["la_code"] == nb) & (long["indicator"] == "ind_a")
    mask_t = (long["la_code"] == treated[2]) & (long["indicator"] == "ind_b")
    long.loc[mask_nb, ["value", "flag"]] = [np.nan, "c"]
    long.loc[mask_t, ["value", "flag"]] = [np.nan, "x"]
    res = compare(long, treated, ranking, k=5, n_draws=0, n_resamples=0)
    drop = res.dropped.set_index(["la_code", "indicator"])
    assert drop.loc[(nb, "ind_a"), "flag"] == "c"
    assert drop.loc[(nb, "ind_a"), "role"] == "neighbour"
    assert treated[0] in drop.loc[(nb, "ind_a"), "neighbour_of"]
    assert drop.loc[(treated[2], "ind_b"), "flag"] == "x"
    assert drop.loc[(treated[2], "ind_b"), "reason"] == "suppressed"
    per = res.per_la.set_index(["indicator", "la_code"])
    assert per.loc[("ind_a", treated[0]), "n_neighbours"] == 4
    assert np.isnan(per.loc[("ind_b", treated[2]), "difference"])
    assert res.pooled.loc["ind_b", "n_treated"] == len(treated) - 1
    # the neighbour mean uses the remaining four, not a zero
    others = sets.loc[(sets["la_code"] == treated[0]) & (sets["neighbour"] != nb), "neighbour"]
    expect = wide.set_index("la_code").loc[others, "ind_a"].mean()
    assert per.loc[("ind_a", treated[0]), "neighbour_mean"] == pytest.approx(expect)
    zero = to_long(wide)
    zero.loc[mask_nb, "value"] = 0.0
    res_zero = compare(zero, treated, ranking, k=5, n_draws=0, n_resamples=0)
    assert res_zero.per_la["neighbour_mean"].iloc[0] != per["neighbour_mean"].iloc[0]
    # suppression markers such as "c" in the value column are read as suppressed, with the
    # marker as the flag: the same result and dropped table as NaN plus a flag column
    text = to_long(wide).astype({"value": object})
    text.loc[mask_nb, ["value", "flag"]] = [" c", None]
    text.loc[mask_t, ["value", "flag"]] = ["x", None]
    res_text = compare(text, treated, ranking, k=5, n_draws=0, n_resamples=0)
    pd.testing.assert_frame_equal(res_text.pooled, res.pooled)
    pd.testing.assert_frame_equal(res_text.dropped, res.dropped)
    assert set(res_text.dropped["reason"]) == {"suppressed"}


def test_missing_rows_and_all_neighbours_missing(world):
    wide, ranking, treated = world
    res0 = compare(wide, treated, ranking, k=2, n_draws=0, n_resamples=0)
    nbs = res0.neighbour_sets.loc[res0.neighbour_sets["la_code"] == treated[1], "neighbour"]
    long = to_long(wide)
    long = long[~(long["la_code"].isin(nbs) & (long["indicator"] == "ind_c"))]
    res = compare(long, treated, ranking, k=2, n_draws=0, n_resamples=0)
    per = res.per_la.set_index(["indicator", "la_code"])
    assert np.isnan(per.loc[("ind_c", treated[1]), "difference"])
    assert per.loc[("ind_c", treated[1]), "n_neighbours"] == 0
    reasons = set(res.dropped.loc[res.dropped["indicator"] == "ind_c", "reason"])
    assert {"no row", "no neighbour with a value"} <= reasons


def test_exclude_treated_false_allows_pilots_as_neighbours(world):
    wide, ranking, treated = world
    res = compare(wide, treated, ranking, k=8, exclude_treated=False, n_draws=50,
                  n_resamples=0)
    assert set(treated) & set(res.neighbour_sets["neighbour"])
    assert not res.exclude_treated


def test_published_list_with_short_lists_warns():
    wide, ranking, treated = make_world(seed=5)
    table = ranking.to_frame(3).drop(columns="distance")
    # make the first treated LA list another treated LA at rank 1
    first = table.index[(table["la_code"] == treated[0]) & (table["rank"] == 1)][0]
    table.loc[first, "neighbour"] = treated[1]
    with pytest.warns(SosstatsWarning, match=treated[0]):
        res = compare(wide, treated, table, k=3, n_draws=100, n_resamples=0)
    listed = table.loc[table["la_code"] == treated[0], "neighbour"]
    expect = int((~listed.isin(treated)).sum())
    assert expect < 3
    per = res.per_la.set_index(["indicator", "la_code"])
    assert per.loc[("ind_a", treated[0]), "n_neighbours"] == expect
    got = set(res.neighbour_sets.loc[res.neighbour_sets["la_code"] == treated[0], "neighbour"])
    assert got == set(listed[~listed.isin(treated)])
    with pytest.raises(DesignError, match="distance"), warnings.catch_warnings():
        warnings.simplefilter("ignore", SosstatsWarning)
        compare(wide, treated, table, k=2, weighting="distance", n_draws=0, n_resamples=0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), const=st.floats(-1e3, 1e3), scale=st.floats(0.01, 100))
def test_invariances(seed, const, scale):
    wide, ranking, treated = make_world()
    base = compare(wide, treated, ranking, k=4, n_draws=0, n_resamples=0)
    perm = np.random.default_rng(seed).permutation(len(wide))
    shuffled = compare(wide.iloc[perm], treated[::-1], ranking, k=4, n_draws=0, n_resamples=0)
    pd.testing.assert_frame_equal(base.pooled, shuffled.pooled, rtol=1e-10)
    shifted = wide.assign(**{c: wide[c] + const for c in NAMES})
    res_s = compare(shifted, treated, ranking, k=4, n_draws=0, n_resamples=0)
    np.testing.assert_allclose(res_s.pooled["estimate"], base.pooled["estimate"],
                               atol=1e-9)
    scaled = wide.assign(**{c: wide[c] * scale for c in NAMES})
    res_c = compare(scaled, treated, ranking, k=4, n_draws=0, n_resamples=0)
    np.testing.assert_allclose(res_c.pooled["estimate"], base.pooled["estimate"] * scale,
                               rtol=1e-9)
    np.testing.assert_allclose(res_c.pooled["statistic"], base.pooled["statistic"], rtol=1e-8)


def test_recovers_known_shift():
    rng = np.random.default_rng(8)
    n, shift = 150, -5.0
    x = rng.uniform(size=(n, 2))
    ids = np.array([f"L{i:03d}" for i in range(n)], dtype=object)
    ranking = NeighbourRanking.from_distances(ids, np.sqrt(((x[:, None] - x[None]) ** 2)
                                                           .sum(-1)))
    vals = 100 + 40 * x @ rng.normal(size=(2, 3)) + rng.normal(size=(n, 3))
    tpos = rng.choice(n, 8, replace=False)
    vals[tpos] += shift
    wide = pd.DataFrame(vals, columns=NAMES).assign(la_code=ids)
    res = compare(wide, list(ids[tpos]), ranking, k=5, n_draws=500, n_resamples=500)
    pooled = res.pooled
    assert ((pooled["estimate"] - shift).abs() < 4 * pooled["std_error"]).all()
    assert ((pooled["estimate"] - shift).abs() < 1.5).all()
    assert (pooled["p_randomization"] < 0.01).all()
    assert (pooled["boot_ci_upper"] < 0).all()


@pytest.fixture(scope="module")
def evaluation():
    simulate = pytest.importorskip("sosstats.datasets.simulate")
    return simulate.simulate_evaluation(rng=0)


def test_recovery_on_simulator(evaluation):
    las = evaluation.las
    covs = ["deprivation_score", "low_income_children_pct", "lone_parent_pct",
            "ethnic_minority_pct", "population_density", "social_housing_pct",
            "unemployment_pct", "fsm_pct"]
    z = las[covs].to_numpy(float)
    z[:, 4] = np.log(z[:, 4])
    z = (z - z.mean(0)) / z.std(0)
    ranking = NeighbourRanking.from_distances(las["la_code"].to_numpy(),
                                              np.sqrt(((z[:, None] - z[None]) ** 2).sum(-1)))
    pilots = las.loc[las["pilot"], "la_code"].tolist()
    year = int(evaluation.la_indicators["year"].max())
    res = compare(evaluation.la_indicators, pilots, ranking, year=year, k=10, n_draws=1000,
                  n_resamples=0)
    truth = pd.Series(evaluation.truth["pilot_effects"])
    pooled = res.pooled
    err = (pooled["estimate"] - truth[pooled.index]) / pooled["std_error"]
    assert (err.abs() < 3.5).all()
    big = truth[truth.abs() > 0].index
    # the clearly non-zero effects have the right sign
    assert (np.sign(pooled.loc[big, "estimate"]) == np.sign(truth[big])).mean() >= 0.8


def test_inputs_not_modified(world):
    wide, ranking, treated = world
    long = to_long(wide, year=2016)
    long.loc[3, ["value", "flag"]] = [np.nan, "c"]
    table = ranking.to_frame(6)
    copies = [long.copy(), table.copy()]
    tr = list(treated)
    order = ranking.order.copy()
    compare(long, tr, table, k=4, n_draws=20, n_resamples=20, weighting="distance",
            exclude=["E000"])
    pd.testing.assert_frame_equal(long, copies[0])
    pd.testing.assert_frame_equal(table, copies[1])
    assert tr == list(treated)
    np.testing.assert_array_equal(ranking.order, order)


def test_bad_inputs(world):
    wide, ranking, treated = world
    kw = dict(n_draws=0, n_resamples=0)
    long = to_long(wide, year=2016)
    two_years = pd.concat([long, long.assign(year=2017)], ignore_index=True)
    with pytest.raises(DesignError, match="several years"):
        compare(two_years, treated, ranking, **kw)
    with pytest.raises(DataError, match="2030"):
        compare(two_years, treated, ranking, year=2030, **kw)
    with pytest.raises(DataError, match="no 'year' column"):
        compare(wide, treated, ranking, year=2016, **kw)
    with pytest.raises(DataError, match="more than one row"):
        compare(pd.concat([long, long]), treated, ranking, **kw)
    with pytest.raises(DesignError, match="E999"):
        compare(wide, treated + ["E999"], ranking, **kw)
    short = NeighbourRanking.from_distances(ranking.ids[:-1], np.ones((N_LA - 1, N_LA - 1)))
    with pytest.raises(DesignError, match="E035"):
        compare(wide, ["E001", "E035"], short, **kw)
    with pytest.raises(DesignError, match="`k`"):
        compare(wide, treated, ranking, k=0, **kw)
    with pytest.raises(DesignError, match="too large"):
        compare(wide, treated, ranking, k=N_LA - len(treated) + 1, **kw)
    with pytest.raises(DataError, match="'nope'"):
        compare(wide, treated, ranking, indicator="nope", **kw)
    with pytest.raises(DataError, match="'nope'"):
        compare(long, treated, ranking, indicator=["ind_a", "nope"], **kw)
    with pytest.raises(DataError, match="'txt'.*numeric"):
        compare(wide.assign(txt="a"), treated, ranking, indicator=["ind_a", "txt"], **kw)
    with pytest.raises(DataError, match="'value'.*not numeric"):
        compare(long.assign(value="n/a"), treated, ranking, **kw)
    with pytest.raises(DataError, match="'la_code'"):
        compare(wide.rename(columns={"la_code": "code"}), treated, ranking, **kw)
    one = wide.copy()
    one.loc[one["la_code"].isin(treated[1:]), "ind_b"] = np.nan
    with pytest.raises(DesignError, match="'ind_b'.*at least two"):
        compare(one, treated, ranking, **kw)
    with pytest.raises(DesignError, match="empty"):
        compare(wide, [], ranking, **kw)
    with pytest.raises(DataError, match="repeats"):
        compare(wide, treated + [treated[0]], ranking, **kw)
    with pytest.raises(DataError, match="E777"):
        compare(wide, treated, ranking, exclude=["E777"], **kw)
    with pytest.raises(DataError, match="both treated"):
        compare(wide, treated, ranking, exclude=[treated[0]], **kw)
    with pytest.raises(DataError, match="weighting"):
        compare(wide, treated, ranking, weighting="inverse", **kw)
    with pytest.raises(DataError, match="adjust"):
        compare(wide, treated, ranking, adjust="bonferroni", **kw)
    with pytest.raises(DataError, match="level"):
        compare(wide, treated, ranking, level=95, **kw)
    with pytest.raises(DataError, match="rng"):
        compare(wide, treated, ranking, rng="seed", **kw)
    with pytest.raises(DataError, match="exclude_treated"):
        compare(wide, treated, ranking, exclude_treated="yes", **kw)
    with pytest.raises(DataError, match="neighbours"):
        compare(wide, treated, {"a": 1}, **kw)
    with pytest.raises(DataError, match="indicators"):
        compare(wide.to_numpy(), treated, ranking, **kw)
    with pytest.raises(DataError, match="duplicate|more than one row"):
        compare(pd.concat([wide, wide.iloc[:1]]), treated, ranking, **kw)
    with pytest.raises(DataError, match="n_draws"):
        compare(wide, treated, ranking, n_draws=1.5, n_resamples=0)
    zero = ranking.to_frame().assign(distance=0.0)
    with pytest.raises(DesignError, match="distance"):
        compare(wide, treated, zero, weighting="distance", **kw)


def test_indicator_matrix_records_flags():
    long = pd.DataFrame({"la_code": ["A", "A", "B", "B", "C"],
                         "indicator": ["x", "y", "x", "y", "x"],
                         "value": [1.0, np.nan, np.inf, 4.0, np.nan],
                         "flag": [None, "z", None, None, ""]})
    with pytest.raises(DataError, match=r"'value'.*infinite.*B \(x\)"):
        indicator_matrix(long)      # an infinite rate is refused, as by the panel reader
    long.loc[2, "value"] = -5.0
    mat = indicator_matrix(long)
    assert mat.names == ["x", "y"]
    assert mat.values[1, 1] == 4.0
    assert mat.reasons[0, 1] == "suppressed" and mat.flags[0, 1] == "z"
    assert mat.reasons[1, 0] is None and mat.values[1, 0] == -5.0
    assert mat.reasons[2, 0] == "missing value" and mat.flags[2, 0] is None
    assert mat.reasons[2, 1] == "no row"


def test_indicator_matrix_suppression_markers_long():
    long = pd.DataFrame({"la_code": ["A", "A", "B", "B", "C", "C"],
                         "indicator": ["x", "y", "x", "y", "x", "y"],
                         "value": [1.0, " c ", "2.5", "..", None, "-"],
                         "flag": [None, None, None, None, None, "z"]}, dtype=object)
    before = long.copy()
    mat = indicator_matrix(long)
    np.testing.assert_array_equal(mat.values[:, 0], [1.0, 2.5, np.nan])
    assert np.isnan(mat.values[:, 1]).all()
    assert list(mat.flags[:, 1]) == ["c", "..", "z"]          # a flag column wins over a marker
    assert list(mat.reasons[:, 1]) == ["suppressed"] * 3
    assert mat.reasons[2, 0] == "missing value" and mat.flags[2, 0] is None
    assert mat.reasons[0, 0] is None and mat.flags[0, 0] is None
    pd.testing.assert_frame_equal(long, before)
    for marker in ["c", "x", "z", "k", "u", ":", "..", "-"]:
        one = long.assign(value=[1.0, f"  {marker}", 2.0, 3.0, 4.0, 5.0])
        m = indicator_matrix(one)
        assert np.isnan(m.values[0, 1]) and m.flags[0, 1] == marker


def test_indicator_matrix_rejects_other_text_long():
    long = pd.DataFrame({"la_code": ["A", "A", "B", "B"], "indicator": ["x", "y", "x", "y"],
                         "value": [1.0, "c", 2.0, "low"]}, dtype=object)
    with pytest.raises(DataError, match=r"column 'value'.*not numeric: 'low' \(indicator 'y'\)"):
        indicator_matrix(long)
    # an unselected indicator's bad value is not read
    assert indicator_matrix(long, indicator="x").values[:, 0].tolist() == [1.0, 2.0]
    with pytest.raises(DataError, match="'value'.*True"):
        indicator_matrix(long.assign(value=[1.0, True, 2.0, 3.0]))
    with pytest.raises(DataError, match="'value'.*bool"):
        indicator_matrix(long.assign(value=[True, False, True, True]))


def test_indicator_matrix_wide_markers_and_errors():
    wide = pd.DataFrame({"la_code": ["A", "B", "C"], "p": ["1.5", "x", 3],
                         "q": [1.0, 2.0, np.nan]})
    mat = indicator_matrix(wide, indicator=["p", "q"])
    np.testing.assert_array_equal(mat.values[:, 0], [1.5, np.nan, 3.0])
    assert mat.flags[1, 0] == "x" and mat.reasons[1, 0] == "suppressed"
    assert mat.flags[2, 1] is None and mat.reasons[2, 1] == "missing value"
    with pytest.raises(DataError, match="column 'p'.*not numeric: 'n/a'"):
        indicator_matrix(wide.assign(p=["1.5", "x", "n/a"]), indicator=["p", "q"])


def test_compare_reads_markers_and_rejects_text(world):
    wide, ranking, treated = world
    kw = dict(k=5, n_draws=0, n_resamples=0)
    nb = compare(wide, treated, ranking, **kw).neighbour_sets["neighbour"].iloc[0]
    masked = wide.copy()
    masked.loc[masked["la_code"] == nb, "ind_a"] = np.nan
    marked = wide.astype({"ind_a": object})
    marked.loc[marked["la_code"] == nb, "ind_a"] = ".."
    res_nan = compare(masked, treated, ranking, **kw)
    res_marker = compare(marked, treated, ranking, indicator=NAMES, **kw)
    pd.testing.assert_frame_equal(res_marker.per_la, res_nan.per_la)
    drop = res_marker.dropped.set_index(["la_code", "indicator"])
    assert drop.loc[(nb, "ind_a"), "flag"] == ".."
    assert drop.loc[(nb, "ind_a"), "reason"] == "suppressed"
    marked.loc[marked["la_code"] == nb, "ind_a"] = "see note"
    with pytest.raises(DataError, match="'ind_a'.*'see note'"):
        compare(marked, treated, ranking, indicator=NAMES, **kw)
    long = to_long(wide).astype({"value": object})
    long.loc[5, "value"] = "unknown"
    with pytest.raises(DataError, match=f"'value'.*'unknown'.*{long.loc[5, 'indicator']!r}"):
        compare(long, treated, ranking, **kw)


def _line_world(n=12, seed=0):
    """LAs on a line: L00's neighbours in order are L01, L02, ...; two random indicators."""
    ids = np.array([f"L{i:02d}" for i in range(n)], dtype=object)
    x = np.arange(n, dtype=float)
    ranking = NeighbourRanking.from_distances(ids, np.abs(x[:, None] - x[None]))
    rng = np.random.default_rng(seed)
    return ids, ranking, rng.normal(size=n), rng.normal(size=n)


def test_one_indicator_does_not_depend_on_the_others_analysed():
    """Eligibility is presence in the year's table, not having a value on an analysed indicator."""
    ids, ranking, a, b = _line_world()
    rows = [(c, "A", v) for c, v in zip(ids, a) if c != "L02"]     # L02 has no row for A
    rows += [(c, "B", v) for c, v in zip(ids, b)]
    long = pd.DataFrame(rows, columns=["la_code", "indicator", "value"])
    kw = dict(k=2, n_draws=0, n_resamples=0)
    r1 = compare(long, ["L00", "L11"], ranking, indicator="A", **kw)
    r2 = compare(long, ["L00", "L11"], ranking, indicator=["A", "B"], **kw)
    pd.testing.assert_frame_equal(r1.per_la, r2.per_la[r2.per_la["indicator"] == "A"])
    pd.testing.assert_frame_equal(r1.neighbour_sets, r2.neighbour_sets)
    assert r1.pooled["estimate"].iloc[0] == r2.pooled["estimate"].iloc[0]
    # L02 keeps its slot among L00's two neighbours; A's mean uses L01 alone
    per = r1.per_la.set_index("la_code")
    assert list(r1.neighbour_sets.query("la_code == 'L00'")["neighbour"]) == ["L01", "L02"]
    assert per.loc["L00", "n_neighbours"] == 1
    assert per.loc["L00", "neighbour_mean"] == pytest.approx(a[1])
    drop = r1.dropped.set_index(["la_code", "indicator"])
    assert drop.loc[("L02", "A"), "reason"] == "no row"


def test_present_la_with_suppressed_cells_keeps_its_slot_absent_la_is_skipped():
    ids, ranking, a, b = _line_world()
    wide = pd.DataFrame({"la_code": ids, "A": a, "B": b}).astype({"A": object, "B": object})
    wide.loc[wide["la_code"] == "L01", ["A", "B"]] = ["c", np.nan]   # every cell missing
    wide = wide[wide["la_code"] != "L02"]                           # absent (created later)
    res = compare(wide, ["L00", "L11"], ranking, k=2, n_draws=0, n_resamples=0,
                  indicator=["A", "B"])
    sets = res.neighbour_sets.query("la_code == 'L00'")
    assert list(sets["neighbour"]) == ["L01", "L03"] and list(sets["rank"]) == [1, 3]
    per = res.per_la.set_index(["indicator", "la_code"])
    assert per.loc[("A", "L00"), "n_neighbours"] == 1
    assert per.loc[("A", "L00"), "neighbour_mean"] == pytest.approx(a[3])
    assert per.loc[("B", "L00"), "neighbour_mean"] == pytest.approx(b[3])
    assert res.pool_size == 11 - 2                  # L01 is in the pool, L02 is not
    drop = res.dropped.set_index(["la_code", "indicator"])
    assert drop.loc[("L01", "A"), "flag"] == "c"
    assert drop.loc[("L01", "B"), "reason"] == "missing value"
    # long form: the same, whichever cells are suppressed
    long = wide.melt(id_vars="la_code", var_name="indicator", value_name="value")
    res_long = compare(long, ["L00", "L11"], ranking, k=2, n_draws=0, n_resamples=0)
    pd.testing.assert_frame_equal(res_long.per_la, res.per_la)
    pd.testing.assert_frame_equal(res_long.neighbour_sets, res.neighbour_sets)


def test_fitted_models_contaminated_las_are_never_neighbours():
    from sosstats.neighbours.model import StatisticalNeighbours, from_published

    n = 14
    ids = [f"L{i:02d}" for i in range(n)]
    las = pd.DataFrame({"la_code": ids, "f": np.arange(n, dtype=float)})
    vals = pd.DataFrame({"la_code": ids, "A": np.random.default_rng(0).normal(size=n)})
    kw = dict(k=2, n_draws=200, n_resamples=0, rng=1)
    plain = StatisticalNeighbours(["f"], k=2).fit(las)
    explicit = compare(vals, ["L00", "L13"], plain, exclude=["L01", "L12"], **kw)
    fit = StatisticalNeighbours(["f"], k=2, contaminated=["L01", "L12"]).fit(las)
    res = compare(vals, ["L00", "L13"], fit, **kw)
    assert not {"L01", "L12"} & set(res.neighbour_sets["neighbour"])
    assert list(res.neighbour_sets.query("la_code == 'L00'")["neighbour"]) == ["L02", "L03"]
    assert set(res.exclude) == {"L01", "L12"}
    assert res.pool_size == n - 2 - 2
    pd.testing.assert_frame_equal(res.per_la, explicit.per_la)
    pd.testing.assert_frame_equal(res.pooled, explicit.pooled)    # same pool, same draws
    # contaminated and excluded together; a code given twice counts once
    both = compare(vals, ["L00", "L13"], fit, exclude=["L01", "L02"], **kw)
    assert list(both.neighbour_sets.query("la_code == 'L00'")["neighbour"]) == ["L03", "L04"]
    assert both.pool_size == n - 2 - 3
    # a published list wrapped with contaminated LAs
    table = plain.ranking.to_frame(6)
    pub = from_published(table, k=6, contaminated=["L01", "L12"])
    res_pub = compare(vals, ["L00", "L13"], pub, **kw)
    assert not {"L01", "L12"} & set(res_pub.neighbour_sets["neighbour"])
    assert res_pub.pool_size == n - 2 - 2
    # a plain table bars nothing
    res_tab = compare(vals, ["L00", "L13"], table, **kw)
    assert "L01" in set(res_tab.neighbour_sets["neighbour"])


def test_repeated_indicator_names_are_a_data_error(world):
    wide, ranking, treated = world
    kw = dict(k=3, n_draws=0, n_resamples=0)
    for data in (wide, to_long(wide)):
        with pytest.raises(DataError, match="repeats 'ind_a'"):
            compare(data, treated, ranking, indicator=["ind_a", "ind_b", "ind_a"], **kw)
    with pytest.raises(DataError, match="repeats 'ind_b'"):
        indicator_matrix(wide, indicator=["ind_b", "ind_b"])


@pytest.mark.parametrize("text_dtype", [object, "str"])
def test_wide_text_columns_of_numbers_and_markers_are_indicators(world, text_dtype):
    wide, ranking, treated = world
    kw = dict(k=5, n_draws=0, n_resamples=0)
    marked = wide.astype({"ind_b": object})
    marked.loc[3, "ind_b"] = "c"
    marked.loc[7, "ind_b"] = " .. "
    marked["ind_b"] = [v if isinstance(v, str) else repr(float(v)) for v in marked["ind_b"]]
    marked = marked.astype({"ind_b": text_dtype})
    marked.insert(1, "la_name", [f"Council {i}" for i in range(len(marked))])
    marked["flag"] = pd.Series(["c" if i == 3 else None for i in range(len(marked))],
                               dtype=object)
    marked["blank"] = pd.Series([None] * len(marked), dtype=object)
    before = marked.copy()
    auto = compare(marked, treated, ranking, **kw)
    assert auto.indicators == tuple(NAMES)           # names, flag and empty text skipped
    named = compare(marked, treated, ranking, indicator=NAMES, **kw)
    pd.testing.assert_frame_equal(auto.pooled, named.pooled)
    masked = wide.copy()
    masked.loc[[3, 7], "ind_b"] = np.nan
    pd.testing.assert_frame_equal(auto.per_la, compare(masked, treated, ranking, **kw).per_la)
    pd.testing.assert_frame_equal(marked, before)
    # a text column with any other text is skipped without indicator= ...
    odd = marked.astype({"ind_b": object})
    odd.loc[5, "ind_b"] = "see note"
    assert compare(odd, treated, ranking, **kw).indicators == ("ind_a", "ind_c")
    # ... and a DataError when named
    with pytest.raises(DataError, match="'ind_b'.*'see note'"):
        compare(odd, treated, ranking, indicator=NAMES, **kw)


def test_year_filter_is_numeric_for_numeric_year_columns(world):
    wide, ranking, treated = world
    kw = dict(k=5, n_draws=0, n_resamples=0)
    ref = compare(wide, treated, ranking, **kw)
    long = to_long(wide)
    two = pd.concat([long.assign(year=2016.0),
                     long.assign(year=2015.0, value=long["value"] + 7)], ignore_index=True)
    two.loc[len(two)] = ["E000", "ind_a", 1.0, None, np.nan]   # a row with a blank year
    for year in (2016, 2016.0, np.int64(2016), "2016"):
        res = compare(two, treated, ranking, year=year, **kw)
        pd.testing.assert_frame_equal(res.pooled, ref.pooled)
    with pytest.raises(DataError, match="2017"):
        compare(two, treated, ranking, year=2017, **kw)
    with pytest.raises(DataError, match="'2015/16'"):
        compare(two, treated, ranking, year="2015/16", **kw)
    # string years keep working
    text = pd.concat([long.assign(year="2015/16"), long.assign(year="2014/15", value=0.0)],
                     ignore_index=True)
    pd.testing.assert_frame_equal(compare(text, treated, ranking, year="2015/16", **kw).pooled,
                                  ref.pooled)
    ints = pd.concat([long.assign(year="2016"), long.assign(year="2015", value=0.0)],
                     ignore_index=True)
    pd.testing.assert_frame_equal(compare(ints, treated, ranking, year=2016, **kw).pooled,
                                  ref.pooled)
