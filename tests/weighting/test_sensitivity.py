"""Tests of sosstats.weighting.sensitivity: manski_bounds, lee_bounds, tipping_point."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.weighting import attrition_weights
from sosstats.weighting.sensitivity import (
    LeeBounds,
    ManskiBounds,
    TippingPoint,
    lee_bounds,
    manski_bounds,
    tipping_point,
)

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def evaluation():
    return simulate_evaluation(rng=0, n_families=20000)


def _binary(n=200, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.choice(["control", "treat"], n)
    r = rng.random(n) < np.where(g == "treat", 0.8, 0.6)
    y = np.where(r, (rng.random(n) < 0.5 + 0.1 * (g == "treat")).astype(float), np.nan)
    return pd.DataFrame({"g": g, "r": r, "y": y})


# ----------------------------------------------------------------------------- Manski

def test_manski_by_hand():
    # group a: 4 units, 3 respond with y = 1, 0, 1; group b: 5 units, 2 respond with y = 1, 1
    d = pd.DataFrame({"g": list("aaaabbbbb"), "r": [1, 1, 1, 0, 1, 1, 0, 0, 0],
                      "y": [1, 0, 1, np.nan, 1, 1, np.nan, 0, np.nan]})
    res = manski_bounds(d, "y", "r", group="g")
    assert isinstance(res, ManskiBounds)
    t = res.table
    assert t.loc["a", ["lower", "upper"]].tolist() == pytest.approx([2 / 4, 3 / 4])
    assert t.loc["b", ["lower", "upper"]].tolist() == pytest.approx([2 / 5, 5 / 5])
    assert t.loc["difference", ["lower", "upper"]].tolist() == pytest.approx(
        [2 / 5 - 3 / 4, 1 - 2 / 4])
    assert t.loc["a", "observed_mean"] == pytest.approx(2 / 3)
    # standard errors: sd of L_i = r_i y_i (ddof 1) / sqrt(n)
    low_a = np.array([1, 0, 1, 0.0])
    assert t.loc["a", "se_lower"] == pytest.approx(low_a.std(ddof=1) / 2)
    assert t.loc["difference", "se_upper"] == pytest.approx(
        np.hypot(t.loc["b", "se_upper"], t.loc["a", "se_lower"]))
    # nonrespondents' recorded values (unit 8 has y = 0) are ignored
    assert t.loc["b", "width"] == pytest.approx(3 / 5)


def test_manski_accepts_boolean_and_object_columns():
    d = _binary(50, seed=4)
    ref = manski_bounds(d, "y", "r").table
    obj = d.assign(y=d["y"].map({1.0: True, 0.0: False}).astype(object),
                   r=d["r"].astype("boolean"))
    assert obj["y"].dtype == object
    pd.testing.assert_frame_equal(manski_bounds(obj, "y", "r").table, ref)
    with pytest.raises(DataError, match="numeric or boolean"):
        manski_bounds(d.assign(y=np.where(d["r"], "yes", None)), "y", "r")


def test_manski_imbens_manski_interval():
    d = _binary(400, seed=1)
    res = manski_bounds(d, "y", "r", level=0.9)
    row = res.table.loc["all"]
    s = max(row["se_lower"], row["se_upper"])
    c = (row["lower"] - row["ci_lower"]) / row["se_lower"]
    assert (row["ci_upper"] - row["upper"]) / row["se_upper"] == pytest.approx(c)
    gap = (row["upper"] - row["lower"]) / s
    assert stats.norm.cdf(c + gap) - stats.norm.cdf(-c) == pytest.approx(0.9, abs=1e-10)
    # with nothing missing the set is a point and the interval the usual normal one
    full = d.assign(r=True, y=d["y"].fillna(1.0))
    row = manski_bounds(full, "y", "r").table.loc["all"]
    assert row["width"] == 0
    z = stats.norm.ppf(0.975)
    assert row["ci_upper"] == pytest.approx(row["upper"] + z * row["se_upper"], rel=1e-10)


def test_manski_contains_true_means(evaluation):
    fam = evaluation.families
    truth = evaluation.truth["families"]["t2_all_means"]
    for name in ("knows_goals", "shared_understanding"):
        res = manski_bounds(fam, f"{name}_t2", "responded_t2")
        row = res.table.loc["all"]
        assert row["lower"] <= truth[name] <= row["upper"]
        assert row["width"] == pytest.approx(1 - fam["responded_t2"].mean())
    # responded=None reads response off the outcome's NaN
    implicit = manski_bounds(fam, "knows_goals_t2", None, group="cohort")
    explicit = manski_bounds(fam, "knows_goals_t2", "responded_t2", group="cohort")
    pd.testing.assert_frame_equal(implicit.table, explicit.table)
    ax = explicit.plot()
    assert len(ax.get_yticklabels()) == 3
    assert "Manski" in str(explicit)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 80), q=st.floats(0.05, 1.0))
def test_manski_properties(seed, n, q):
    rng = np.random.default_rng(seed)
    r = rng.random(n) < q
    r[0] = True
    d = pd.DataFrame({"r": r, "y": np.where(r, rng.integers(0, 2, n), np.nan),
                      "g": rng.integers(0, 2, n)})
    t = manski_bounds(d, "y", "r").table.loc["all"]
    assert t["lower"] <= t["observed_mean"] <= t["upper"]
    assert t["width"] == pytest.approx(1 - r.mean())
    assert t["ci_lower"] <= t["lower"] + 1e-12 and t["ci_upper"] >= t["upper"] - 1e-12
    perm = manski_bounds(d.sample(frac=1, random_state=seed), "y", "r").table
    np.testing.assert_allclose(perm.loc["all", ["lower", "upper", "se_lower"]].to_numpy(float),
                               t[["lower", "upper", "se_lower"]].to_numpy(float), atol=1e-12)


def test_manski_bad_inputs():
    d = _binary()
    with pytest.raises(DataError, match="binary"):
        manski_bounds(d.assign(y=d["y"] * 2), "y", "r")
    with pytest.raises(DataError, match="0/1"):
        manski_bounds(d.assign(r=d["r"].astype(int) * 3), "y", "r")
    with pytest.raises(DataError, match="missing .NaN. for"):
        manski_bounds(d.assign(r=True), "y", "r")
    with pytest.raises(DataError, match="missing value"):
        manski_bounds(d.assign(g=d["g"].where(d.index > 0)), "y", "r", group="g")
    with pytest.warns(SosstatsWarning, match="no respondents"):
        res = manski_bounds(d.assign(r=d["r"] & (d["g"] == "treat")), "y", "r", group="g")
    assert res.table.loc["control", ["lower", "upper"]].tolist() == [0.0, 1.0]


# ----------------------------------------------------------------------------- Lee

def _lee_toy():
    # A: 5 units, 4 respond (q = .8) with a tie at the cut; B: 10 units, 5 respond (q = .5)
    return pd.DataFrame({"g": ["A"] * 5 + ["B"] * 10,
                         "y": [1, 2, 2, 3, np.nan, 0, 1, 2, 5, 5] + [np.nan] * 5})


def test_lee_by_hand_with_ties():
    d = _lee_toy()
    res = lee_bounds(d, "y", "g", None)
    assert isinstance(res, LeeBounds)
    # tau = .5/.8 = .625 of A's 4 respondents kept = 2.5 observations:
    # lowest: 1, 2 and half of the tied 2 -> 4 / 2.5 = 1.6; highest: 3, 2, half of 2 -> 2.4
    assert res.trimmed_group == "A" and res.trimming_share == pytest.approx(0.375)
    row = res.table.loc["difference"]
    assert row["naive"] == pytest.approx(2.6 - 2.0)
    assert row["lower"] == pytest.approx(2.6 - 2.4) and row["upper"] == pytest.approx(2.6 - 1.6)
    # reversing the groups reverses the bounds
    rev = lee_bounds(d, "y", "g", None, reference="B").table.loc["difference"]
    assert [rev["lower"], rev["upper"]] == pytest.approx([-1.0, -0.2])
    assert [rev["se_lower"], rev["se_upper"]] == pytest.approx([row["se_upper"],
                                                                 row["se_lower"]])
    # analytic SE of the lower bound by hand (Lee 2009, Prop. 3)
    ya, yb = np.array([1, 2, 2, 3.0]), np.array([0, 1, 2, 5, 5.0])
    tau, xi, mu = 0.625, 2.0, 2.4                    # upper partial mean of A, cut at 2
    v_tau = tau**2 * (0.2 / (5 * 0.8) + 0.5 / (10 * 0.5))
    v = np.maximum(ya, xi).var(ddof=1) / (tau**2 * 4) + ((xi - mu) / tau) ** 2 * v_tau
    assert row["se_lower"] == pytest.approx(np.sqrt(v + yb.var(ddof=1) / 5), rel=1e-12)
    assert "Lee bounds" in str(res)
    res.plot()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_a=st.integers(3, 15), n_b=st.integers(3, 15))
def test_lee_ties_exact_by_expansion(seed, n_a, n_b):
    """Fractional weighting equals trimming an integer count of replicated observations."""
    rng = np.random.default_rng(seed)
    g = np.array(["a"] * n_a + ["b"] * n_b)
    r = np.concatenate([rng.random(n_a) < 0.9, rng.random(n_b) < 0.5])
    r[[0, 1, n_a, n_a + 1]] = True
    y = np.where(r, rng.integers(0, 4, n_a + n_b).astype(float), np.nan)   # many ties
    res = lee_bounds(pd.DataFrame({"g": g, "r": r, "y": y}), "y", "g", "r")
    n = {"a": n_a, "b": n_b}
    rr = {k: int(r[g == k].sum()) for k in n}
    more = max(n, key=lambda k: (rr[k] / n[k], k == "a"))
    less = "b" if more == "a" else "a"
    # replicate each respondent of `more` n_less times; keep r_less * n_more copies
    copies = np.sort(np.repeat(y[r & (g == more)], n[less]))
    keep = rr[less] * n[more]
    lo_mean, hi_mean = copies[:keep].mean(), copies[-keep:].mean()
    m_less = y[r & (g == less)].mean()
    bounds = sorted([lo_mean - m_less, hi_mean - m_less]) if more == "b" else \
        sorted([m_less - hi_mean, m_less - lo_mean])
    row = res.table.loc["difference"]
    assert [row["lower"], row["upper"]] == pytest.approx(bounds, abs=1e-12)
    assert row["lower"] <= row["naive"] + 1e-12 <= row["upper"] + 2e-12


def test_lee_no_differential_attrition_collapses():
    rng = np.random.default_rng(5)
    g = np.repeat(["c", "t"], 100)
    r = np.tile(np.arange(100) < 70, 2)
    y = np.where(r, rng.normal(size=200) + (g == "t"), np.nan)
    row = lee_bounds(pd.DataFrame({"g": g, "r": r, "y": y}), "y", "g", "r").table.iloc[0]
    assert row["lower"] == pytest.approx(row["naive"]) == pytest.approx(row["upper"])


def test_lee_recovers_effect_and_se_by_simulation():
    """Monotone response, outcome independent of response: bounds contain the effect.

    The analytic SE of each bound is compared with the spread over 300 simulated samples.
    """
    rng = np.random.default_rng(11)
    n, effect = 1000, 0.5
    g = np.repeat([0, 1], n)
    est = []
    for _ in range(300):
        u = rng.random(2 * n)
        r = u < np.where(g == 1, 0.9, 0.7)
        y = np.where(r, rng.normal(size=2 * n) + effect * g, np.nan)
        est.append(lee_bounds(pd.DataFrame({"g": g, "r": r, "y": y}), "y", "g",
                              "r").table.iloc[0])
    est = pd.DataFrame(est)
    assert (est["lower"] < effect).mean() > 0.99 and (est["upper"] > effect).mean() > 0.99
    assert ((est["ci_lower"] <= effect) & (est["ci_upper"] >= effect)).mean() > 0.97
    for side in ("lower", "upper"):
        ratio = est[f"se_{side}"].mean() / est[side].std(ddof=1)
        assert 0.88 < ratio < 1.12, (side, ratio)


def test_lee_bad_inputs():
    d = _lee_toy()
    with pytest.raises(DesignError, match="exactly two levels"):
        lee_bounds(d.assign(g=["A"] * 5 + ["B"] * 5 + ["C"] * 5), "y", "g", None)
    with pytest.raises(DesignError, match="fewer than two respondents"):
        lee_bounds(d.assign(y=[np.nan] * 5 + d["y"].tolist()[5:]), "y", "g", None)
    with pytest.raises(DataError, match="0/1"):
        lee_bounds(d.assign(r=d["y"].notna() * 2), "y", "g", "r")
    with pytest.raises(DataError, match="reference"):
        lee_bounds(d, "y", "g", None, reference="Z")


# ----------------------------------------------------------------------------- tipping point

def _continuous(n=500, seed=2):
    rng = np.random.default_rng(seed)
    g = rng.choice(["c", "t"], n)
    r = rng.random(n) < np.where(g == "t", 0.75, 0.6)
    y = np.where(r, rng.normal(0.3 * (g == "t"), 1.0, n), np.nan)
    return pd.DataFrame({"g": g, "r": r, "y": y, "clu": rng.integers(0, 25, n)})


def test_tipping_point_closed_form():
    d = _continuous()
    thr = 0.35
    res = tipping_point(d, "y", "r", threshold=thr, deltas=np.linspace(-3, 3, 13))
    assert isinstance(res, TippingPoint)
    r = d["r"].to_numpy()
    y = d["y"].to_numpy()[r]
    N, R = len(d), r.sum()
    q, m = R / N, y.mean()
    A = N / (N - 1) * ((y - m) ** 2).sum() / R**2
    B = N / (N - 1) * q * (1 - q) / N
    t = res.table
    np.testing.assert_allclose(t["estimate"], m + (1 - q) * t["delta"], rtol=1e-12)
    np.testing.assert_allclose(t["std_error"], np.sqrt(A + B * t["delta"] ** 2), rtol=1e-10)
    # tipping point: the upper bound reaches 0.35: m + (1-q) d + z sqrt(A + B d^2) = thr
    z = stats.norm.ppf(0.975)
    a2, b2 = (1 - q) ** 2 - z**2 * B, 2 * (1 - q) * (m - thr)
    c2 = (m - thr) ** 2 - z**2 * A
    roots = np.roots([a2, b2, c2]).real
    exact = {"ci_upper" if (m + (1 - q) * x - thr) < 0 else "ci_lower": x for x in roots}
    assert m + z * np.sqrt(A) < thr                       # MAR: significantly below 0.35
    assert res.mar["significant"]
    assert res.tipping_point == pytest.approx(exact["ci_upper"], abs=1e-10)
    assert res.estimate_tipping_point == pytest.approx((thr - m) / (1 - q), abs=1e-10)
    at = res.at(res.tipping_point).iloc[0]
    assert at["ci_upper"] == pytest.approx(thr, abs=1e-10)
    ax = res.plot()
    assert ax.get_lines()
    assert "Tipping point" in str(res)


def test_tipping_point_difference_and_options():
    d = _continuous()
    r = d["r"].to_numpy()
    res = tipping_point(d, "y", "r", group="g", estimand="difference", shift="t",
                        deltas=[-1, 0, 1])
    m = d[r].groupby("g")["y"].mean()
    q = d.groupby("g")["r"].mean()
    slope = 1 - q["t"]
    np.testing.assert_allclose(res.table["estimate"], m["t"] - m["c"] + slope * np.array(
        [-1, 0, 1]), rtol=1e-12)
    both = tipping_point(d, "y", "r", group="g", estimand="difference", deltas=[1.0])
    assert both.table["estimate"].iloc[0] == pytest.approx(
        m["t"] - m["c"] + (1 - q["t"]) - (1 - q["c"]))
    # imputed predictions: explicit full-sample mean after imputing yhat + delta
    yhat = np.where(r, np.nan, np.linspace(-1, 1, len(d)))
    imp = tipping_point(d.assign(yhat=yhat), "y", "r", imputed="yhat", deltas=[0.5])
    full = np.where(r, d["y"], yhat + 0.5).mean()
    assert imp.table["estimate"].iloc[0] == pytest.approx(full, rel=1e-12)
    # weights: the MAR prediction is the weighted respondent mean
    w = np.where(r, np.linspace(0.5, 2, len(d)), 0.0)
    wres = tipping_point(d.assign(w=w), "y", "r", weights="w", deltas=[0.0])
    assert wres.mar["estimate"] == pytest.approx(np.average(d["y"][r], weights=w[r]))
    # one cluster per row reproduces the unclustered SE (up to the t reference)
    d1 = d.assign(one=np.arange(len(d)))
    c = tipping_point(d1, "y", "r", cluster="one", deltas=[0.3]).table
    u = tipping_point(d1, "y", "r", deltas=[0.3]).table
    assert c["std_error"].iloc[0] == pytest.approx(u["std_error"].iloc[0], rel=1e-10)
    # cells: imputing within groups and averaging over cells
    cells = tipping_point(d, "y", "r", group="g", deltas=[0.0])
    n_g = d.groupby("g").size()
    assert cells.mar["estimate"] == pytest.approx((m * n_g).sum() / n_g.sum())


def test_tipping_point_recovers_direction(evaluation):
    fam = evaluation.families
    truth = evaluation.truth["families"]["t2_all_means"]["sdq"]
    res = tipping_point(fam, "sdq_t2", "responded_t2", threshold=truth)
    r = fam["responded_t2"].to_numpy()
    observed = fam.loc[r, "sdq_t2"].mean()
    # dropouts had worse (higher) SDQ: the MAR-by-mean analysis is too low, and the delta that
    # reaches the truth is positive
    assert observed < truth and res.estimate_tipping_point > 0
    assert res.estimate_tipping_point == pytest.approx((truth - observed) / (1 - r.mean()))
    # weighting by the attrition model moves the MAR estimate towards the truth
    aw = attrition_weights(fam, responded="responded_t2", covariates=["previous_referral",
                           "agency_worker", "feelings_t1", "cohort"])
    wres = tipping_point(fam, "sdq_t2", "responded_t2", weights=aw, threshold=truth)
    assert abs(wres.mar["estimate"] - truth) < abs(res.mar["estimate"] - truth)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(4, 60),
       deltas=st.lists(st.floats(-5, 5), min_size=2, max_size=8))
def test_tipping_point_monotone_and_consistent(seed, n, deltas):
    rng = np.random.default_rng(seed)
    r = rng.random(n) < 0.6
    r[:2] = True
    d = pd.DataFrame({"r": r, "y": np.where(r, rng.normal(size=n), np.nan)})
    res = tipping_point(d, "y", "r", deltas=deltas, threshold=0.1)
    est = res.table["estimate"].to_numpy()
    assert np.all(np.diff(est) >= -1e-12)                  # deltas sorted, slope 1 - q >= 0
    assert np.all(res.table["ci_lower"] <= res.table["ci_upper"])
    for _, row in res.crossings.iterrows():
        val = res.at(row["delta"]).iloc[0][row["what"]]
        assert val == pytest.approx(0.1, abs=1e-8)


def test_tipping_point_bad_inputs():
    d = _continuous()
    with pytest.raises(DataError, match="empty"):
        tipping_point(d, "y", "r", deltas=[])
    with pytest.raises(DataError, match="finite"):
        tipping_point(d, "y", "r", deltas=[0, np.nan])
    with pytest.raises(DataError, match="0/1"):
        tipping_point(d.assign(r=d["r"].astype(int) - 1), "y", "r")
    with pytest.raises(DesignError, match="exactly two levels"):
        tipping_point(d.assign(g=np.arange(len(d)) % 3), "y", "r", group="g",
                      estimand="difference")
    with pytest.raises(DesignError, match="no respondents in c"):
        tipping_point(d.assign(r=d["r"] & (d["g"] == "t")), "y", "r", group="g",
                      estimand="difference")
    with pytest.raises(DataError, match="not both"):
        tipping_point(d.assign(w=1.0, yhat=0.0), "y", "r", weights="w", imputed="yhat")
    with pytest.raises(DataError, match="`shift`"):
        tipping_point(d, "y", "r", group="g", estimand="difference", shift="x")
    with pytest.raises(DataError, match="estimand"):
        tipping_point(d, "y", "r", estimand="ratio")
    with pytest.raises(DataError, match="non-respondent"):
        tipping_point(d.assign(yhat=np.nan), "y", "r", imputed="yhat")
    with pytest.raises(DataError, match="positive for every respondent"):
        tipping_point(d.assign(w=0.0), "y", "r", weights="w")
