"""sosstats.matching.match: API, MatchIt weight conventions, properties and bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError, DesignError, SosstatsError, SosstatsWarning
from sosstats.matching import MatchResult, match

FIX = Path(__file__).resolve().parents[1] / "fixtures"
COV = ["x1", "x2", "x3", "b", "g"]
FAST = settings(max_examples=30, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def sim():
    return pd.read_csv(FIX / "matchit_reference_input.csv").set_index("id")


def _quiet(data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SosstatsWarning)
        return match(data, **kw)


def _toy(scores_t, scores_c):
    s = list(scores_t) + list(scores_c)
    return pd.DataFrame({"t": [1] * len(scores_t) + [0] * len(scores_c), "s": s},
                        index=[f"r{i}" for i in range(len(s))])


# ---------------------------------------------------------------------------- the API
def test_nearest_result_pieces(sim):
    before = sim.copy(deep=True)
    m = match(sim, treatment="treat", covariates=COV)
    assert isinstance(m, MatchResult)
    pd.testing.assert_frame_equal(sim, before)  # the caller's frame is untouched
    assert m.n_matched.to_dict() == {"control": 130, "treated": 130}
    assert m.nobs == 260
    assert m.weights.index.equals(sim.index) and m.subclass.index.equals(sim.index)
    assert list(m.pairs.columns) == ["treated", "control", "slot", "weight", "distance",
                                     "subclass"]
    assert m.pairs["control"].is_unique and m.pairs["treated"].is_unique
    assert (sim.loc[m.pairs["treated"], "treat"] == 1).all()
    assert (sim.loc[m.pairs["control"], "treat"] == 0).all()
    # pair distances are |propensity differences|
    d = m.distance
    np.testing.assert_allclose(m.pairs["distance"], np.abs(
        d[m.pairs["treated"]].to_numpy() - d[m.pairs["control"]].to_numpy()), atol=1e-15)
    # each pair shares a subclass; matched holds exactly the positive-weight rows
    sub = m.subclass
    assert (sub[m.pairs["treated"]].to_numpy() == sub[m.pairs["control"]].to_numpy()).all()
    assert set(m.matched.index) == set(m.weights.index[m.weights > 0])
    assert {"weights", "subclass", "distance"} <= set(m.matched.columns)
    # every unit outside the match is reported with a reason
    assert set(m.discarded.index) == set(m.weights.index[m.weights == 0])
    assert (m.discarded["reason"] == "not selected as a match").all()
    assert (m.discarded["group"] == "control").all()
    sizes = m.sample_sizes()
    assert sizes.loc["all", "control"] == 270 and sizes.loc["unmatched", "control"] == 140
    assert "MatchResult: nearest" in str(m) and "treated=130" in repr(m)


def test_formula_equals_covariates(sim):
    a = match(sim, treatment="treat", covariates=COV)
    b = match(sim, formula="treat ~ x1 + x2 + x3 + b + C(g)")
    np.testing.assert_allclose(a.distance, b.distance, atol=1e-10)
    assert set(zip(a.pairs.treated, a.pairs.control)) == set(zip(b.pairs.treated,
                                                                  b.pairs.control))
    assert b.treatment == "treat" and b.covariates == ["x1", "x2", "x3", "b", "g"]


def test_existing_column_names_are_not_overwritten(sim):
    data = sim.assign(weights=7.0)
    m = match(data, treatment="treat", covariates=["x1", "x2"])
    assert (m.matched["weights"] == 7.0).all()
    assert (m.matched["match_weights"] > 0).all()


# --------------------------------------------------------------- MatchIt weight rules
def test_weights_with_replacement_and_ratio(sim):
    m = match(sim, treatment="treat", covariates=COV, ratio=2, replace=True)
    assert m.subclass.isna().all()  # no pairs to cluster on with replacement
    uses = m.pairs.groupby("control")["weight"].sum()  # sum of 1/k shares
    expected = uses * uses.size / uses.sum()  # rescaled to the number of controls used
    np.testing.assert_allclose(m.weights[expected.index], expected, rtol=1e-12)
    assert m.weights[sim["treat"] == 1].eq(1).all()
    assert m.weights[sim["treat"] == 0].sum() == pytest.approx(uses.size)
    assert m.pairs.groupby("treated")["control"].nunique().eq(2).all()


def test_ratio_without_replacement_gives_unit_weights(sim):
    m = match(sim, treatment="treat", covariates=COV, ratio=2)
    assert m.n_matched["control"] == 260
    assert set(np.unique(m.weights)) == {0.0, 1.0}
    assert (m.pairs.groupby("subclass").size() == 2).all()


def test_too_few_controls_for_ratio_warns_and_matches_in_rounds(sim):
    with pytest.warns(SosstatsWarning, match="treated units got fewer than 3 matches") as rec:
        m = match(sim, treatment="treat", covariates=COV, ratio=3)
    k = m.pairs.groupby("treated").size()
    assert f": {int((k < 3).sum())} treated units got fewer" in str(rec[0].message)
    assert k.sum() == 270 and set(k) == {2, 3}  # every treated unit got 2 before any got 3


def test_atc_is_att_with_groups_swapped():
    rng = np.random.default_rng(4)
    frame = _toy(rng.normal(0.5, 1, 40), rng.normal(0, 1, 25))
    atc = match(frame, treatment="t", distance="s", estimand="ATC")
    flipped = match(frame.assign(t=1 - frame["t"]), treatment="t", distance="s",
                    order="smallest")
    assert atc.options["order"] == "smallest"
    assert set(zip(atc.pairs.treated, atc.pairs.control)) == set(
        zip(flipped.pairs.control, flipped.pairs.treated))
    np.testing.assert_allclose(atc.weights, flipped.weights)


def test_cem_weights_and_exact_balance():
    fam = simulate_evaluation(rng=5, n_families=4000).families
    fam = fam.assign(c2=(fam["cohort"] == 2).astype(int))
    cols = ["previous_referral", "agency_worker", "experience"]
    m = match(fam, treatment="c2", covariates=cols, method="cem")
    w, t = m.weights.to_numpy(), fam["c2"].to_numpy() == 1
    for col in ["previous_referral", "agency_worker"]:  # exact strata: equal weighted means
        x = fam[col].to_numpy(dtype=float)
        assert np.average(x[t], weights=w[t]) == pytest.approx(
            np.average(x[~t], weights=w[~t]), abs=1e-12)
    sub = m.subclass.to_numpy(dtype=float, na_value=np.nan)
    n1 = pd.Series(t).groupby(sub).sum()
    n0 = pd.Series(~t).groupby(sub).sum()
    ctrl = ~t & (w > 0)
    raw = (n1 / n0)[sub[ctrl]].to_numpy()
    np.testing.assert_allclose(w[ctrl], raw * ctrl.sum() / raw.sum(), rtol=1e-12)
    # recovery: the true cohort-2 effect on SDQ at T1 is -0.5 (no confounding here)
    y = fam["sdq_t1"].to_numpy(dtype=float)
    est = np.average(y[t], weights=w[t]) - np.average(y[~t], weights=w[~t])
    assert abs(est - simulate_evaluation(rng=5, n_families=10).truth["families"]["outcomes"][
        "sdq"]["cohort_2"]) < 0.8


def test_subclass_every_subclass_has_both_groups(sim):
    m = match(sim, treatment="treat", covariates=COV, method="subclass", subclass=5)
    tab = pd.crosstab(m.subclass, sim["treat"])
    assert tab.shape == (5, 2) and (tab > 0).all().all()
    assert m.weights[sim["treat"] == 0].sum() == pytest.approx(270)


def test_recovers_att_under_confounding():
    rng = np.random.default_rng(2026)
    n = 3000
    x = rng.normal(size=(n, 2))
    t = rng.random(n) < 1 / (1 + np.exp(-(-1.0 + 1.2 * x[:, 0] - 0.8 * x[:, 1])))
    y = 2.0 * t + 1.5 * x[:, 0] + x[:, 1] + rng.normal(size=n)
    frame = pd.DataFrame({"t": t.astype(int), "x1": x[:, 0], "x2": x[:, 1], "y": y})
    naive = y[t].mean() - y[~t].mean()
    for kw in (dict(replace=True), dict(distance="mahalanobis", replace=True),
               dict(method="subclass", subclass=10)):
        m = _quiet(frame, treatment="t", covariates=["x1", "x2"], **kw)
        w = m.weights.to_numpy()
        est = np.average(y[t], weights=w[t]) - np.average(y[~t], weights=w[~t])
        assert abs(est - 2.0) < abs(naive - 2.0) / 3, kw
        assert abs(est - 2.0) < 0.35, kw


# ----------------------------------------------------------------------- properties
@FAST
@given(st.lists(st.integers(0, 6), min_size=1, max_size=12),
       st.lists(st.integers(0, 6), min_size=1, max_size=12))
def test_caliper_zero_matches_only_exact_ties(st_t, st_c):
    frame = _toy(st_t, st_c)
    if not set(st_t) & set(st_c):
        with pytest.raises(DesignError, match="caliper"):
            match(frame, treatment="t", distance="s", caliper=0, std_caliper=False,
                  replace=True)
        return
    m = match(frame, treatment="t", distance="s", caliper=0, std_caliper=False, replace=True)
    s = frame["s"]
    assert (s[m.pairs.treated].to_numpy() == s[m.pairs.control].to_numpy()).all()
    # with replacement every treated unit with a tie gets matched
    tied = frame.index[(frame.t == 1) & frame.s.isin(st_c)]
    assert set(m.pairs.treated) == set(tied)


@FAST
@given(st.integers(0, 10_000), st.sampled_from(["nearest", "cem", "subclass"]))
def test_balance_ignores_rows_outside_the_match(seed, method):
    rng = np.random.default_rng(seed)
    n = 80
    frame = pd.DataFrame({"t": (rng.random(n) < 0.3).astype(int), "x": rng.normal(size=n),
                          "z": rng.normal(size=n)})
    frame.loc[:1, "t"], frame.loc[2:3, "t"] = 1, 0
    kw = dict(cutpoints=3) if method == "cem" else {}
    try:
        m = _quiet(frame, treatment="t", covariates=["x", "z"], method=method, **kw)
    except DesignError:
        return
    out = m.weights.to_numpy() == 0
    assert set(m.discarded.index) == set(frame.index[out])
    assert m.matched.shape[0] == (~out).sum()
    bal = m.balance().table
    garbage = frame.copy()
    garbage.loc[out, ["x", "z"]] = 1e6 * rng.normal(size=(out.sum(), 2))
    other = MatchResult(**{**m.__dict__, "data": garbage}).balance().table
    # standardised differences and pair distances divide by SDs of the whole sample before
    # matching (cobalt's convention); every other after-matching statistic uses matched rows only
    after = [c for c in bal.columns if c.endswith("_after")
             and c not in ("diff_after", "pair_dist_after")]
    assert {"mean_treated_after", "mean_control_after", "var_ratio_after"} <= set(after)
    pd.testing.assert_frame_equal(bal[after], other[after])


@FAST
@given(st.integers(0, 10_000), st.booleans())
def test_row_order_does_not_change_pairs(seed, replace):
    rng = np.random.default_rng(seed)
    frame = _toy(rng.normal(0.3, 1, 15), rng.normal(0, 1, 30))
    perm = frame.iloc[rng.permutation(len(frame))]
    a = match(frame, treatment="t", distance="s", replace=replace)
    b = match(perm, treatment="t", distance="s", replace=replace)
    assert set(zip(a.pairs.treated, a.pairs.control)) == set(zip(b.pairs.treated,
                                                                  b.pairs.control))
    pd.testing.assert_series_equal(a.weights, b.weights.loc[a.weights.index])


@FAST
@given(st.integers(0, 10_000), st.sampled_from([None, 0.5]))
def test_pairs_respect_caliper_and_exact(seed, caliper):
    rng = np.random.default_rng(seed)
    n = 60
    frame = pd.DataFrame({"t": (rng.random(n) < 0.4).astype(int), "x": rng.normal(size=n),
                          "g": rng.choice(["a", "b"], n)})
    frame.loc[:1, "t"], frame.loc[2:3, "t"] = 1, 0
    frame.loc[:3, "g"] = "a"
    try:
        m = _quiet(frame, treatment="t", covariates=["x", "g"], caliper=caliper, exact="g")
    except DesignError as exc:
        assert caliper is not None and "caliper" in str(exc)
        return
    g = frame["g"]
    assert (g[m.pairs.treated].to_numpy() == g[m.pairs.control].to_numpy()).all()
    if caliper is not None:
        assert (m.pairs["distance"] <= m.caliper).all()
    assert m.pairs["control"].is_unique


def test_random_order_is_reproducible(sim):
    a = match(sim, treatment="treat", covariates=COV, order="random", rng=3)
    b = match(sim, treatment="treat", covariates=COV, order="random", rng=3)
    pd.testing.assert_frame_equal(a.pairs, b.pairs)
    assert a.options["rng"] == 3


def test_mahalanobis_pair_distance_formula(sim):
    m = match(sim, treatment="treat", covariates=["x1", "x2", "x3"], distance="mahalanobis")
    x = sim[["x1", "x2", "x3"]].to_numpy()
    t = sim["treat"].to_numpy()
    xc = x - np.where(t[:, None] == 1, x[t == 1].mean(0), x[t == 0].mean(0))
    s_inv = np.linalg.inv(xc.T @ xc / (len(x) - 2))
    diff = sim.loc[m.pairs.treated, ["x1", "x2", "x3"]].to_numpy() - sim.loc[
        m.pairs.control, ["x1", "x2", "x3"]].to_numpy()
    np.testing.assert_allclose(m.pairs["distance"], np.sqrt(np.einsum(
        "ij,jk,ik->i", diff, s_inv, diff)), rtol=1e-10)
    assert m.distance is None and m.options["order"] == "data"


def test_euclidean_caliper_on_distance_scale(sim):
    m = match(sim, treatment="treat", covariates=["x1", "x2"], distance="euclidean",
              caliper=0.1, std_caliper=False, replace=True)
    assert (m.pairs["distance"] <= 0.1).all() and m.caliper == 0.1
    assert (m.discarded.loc[m.discarded.group == "treated", "reason"]
            == "no control unit within the caliper").all()   # with replacement: none "used"


def test_covariate_calipers(sim):
    m = match(sim, treatment="treat", covariates=COV, caliper={"distance": 0.2, "x1": 0.1})
    x1 = sim["x1"]
    gap = np.abs(x1[m.pairs.treated].to_numpy() - x1[m.pairs.control].to_numpy())
    assert (gap <= 0.1 * x1.std()).all() and (m.pairs["distance"] <= m.caliper).all()
    assert m.caliper == pytest.approx(0.2 * m.distance.std())
    raw = match(sim, treatment="treat", covariates=["x1", "x2"], distance="mahalanobis",
                caliper={"x2": 0.05}, std_caliper=False)
    x2 = sim["x2"]
    assert (np.abs(x2[raw.pairs.treated].to_numpy() - x2[raw.pairs.control].to_numpy())
            <= 0.05).all()
    assert raw.n_matched["treated"] < 130 and raw.caliper is None


def test_discard_reports_common_support(sim):
    m = match(sim, treatment="treat", covariates=COV, discard="both")
    d = m.distance
    lo = max(d[sim.treat == 1].min(), d[sim.treat == 0].min())
    hi = min(d[sim.treat == 1].max(), d[sim.treat == 0].max())
    outside = set(sim.index[(d < lo) | (d > hi)])
    assert outside and outside <= set(m.discarded.index)
    assert (m.discarded.loc[list(outside), "reason"]
            == "outside the common support (discard='both')").all()
    assert m.sample_sizes().loc["discarded"].sum() == len(outside)


def test_exact_stratum_without_controls_is_reported():
    frame = pd.DataFrame({"t": [1, 1, 0, 0], "s": [0.1, 0.2, 0.3, 0.4],
                          "g": ["a", "b", "a", "a"]})
    m = match(frame, treatment="t", distance="s", exact="g")
    assert m.discarded.loc[1, "reason"] == "no control unit in its `exact` stratum"


def test_unmatched_reasons_tell_used_up_strata_from_the_caliper():
    # stratum a: 3 treated, 1 control (used up); stratum b: 1 treated whose only control is
    # far (caliper); stratum c: a treated unit and no control at all
    frame = pd.DataFrame({"t": [1, 1, 1, 0, 1, 0, 1], "s": [.50, .51, .52, .505, .10, .90, .3],
                          "g": ["a", "a", "a", "a", "b", "b", "c"]},
                         index=[f"u{i}" for i in range(7)])
    m = _quiet(frame, treatment="t", distance="s", exact="g", caliper=0.1, std_caliper=False)
    r = m.discarded["reason"]
    assert r["u4"] == "no unused control unit within the caliper"
    assert r["u6"] == "no control unit in its `exact` stratum"
    assert "u2" not in r.index        # largest score first: u2 takes the only control, u3
    assert (r[["u0", "u1"]] == "all control units in its exact stratum (g) already used").all()
    assert r["u5"] == "not selected as a match"
    # no exact strata, no caliper: the controls simply ran out
    m = _quiet(frame.drop(columns="g"), treatment="t", distance="s")
    assert set(m.discarded.loc[m.discarded.group == "treated", "reason"]) == {
        "all control units already used"}


@pytest.mark.parametrize("ratio, text", [
    (1, "2 treated units got no match; `.discarded` gives each unmatched unit's reason."),
    (2, "5 treated units got fewer than 2 matches; `.discarded` gives each unmatched unit's "
        "reason.")])
def test_too_few_controls_warns_once_at_the_callers_line(ratio, text):
    frame = _toy([0.1, 0.2, 0.3, 0.4, 0.5], [0.15, 0.35, 0.6])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        match(frame, treatment="t", distance="s", ratio=ratio)
    ours = [w for w in caught if issubclass(w.category, SosstatsWarning)]
    assert len(ours) == 1 and str(ours[0].message).endswith(text)
    assert ours[0].filename == __file__


def test_short_of_controls_one_warning_per_call_with_its_own_figures():
    # issue 13: the example printed "not every treated unit will get a match" three times,
    # word for word, for three different matchings; each call now warns once, after matching,
    # with the call's method, distance and the number of treated units it left unmatched
    rng = np.random.default_rng(3)
    frame = _toy(rng.normal(0.3, 1, 30), rng.normal(0, 1, 20)).assign(
        x=rng.normal(size=50))
    texts = []
    for kw in (dict(distance="s", caliper=0.05, std_caliper=False),
               dict(covariates=["x"], distance="mahalanobis"),
               dict(covariates=["x"], method="optimal")):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m = match(frame, treatment="t", **kw)
            m.balance(["x"])
            m.estimate_effect("x", cluster=None)
            m.sample_sizes()
        ours = [w for w in caught if issubclass(w.category, SosstatsWarning)]
        assert len(ours) == 1, [str(w.message) for w in ours]
        n_short = int((m.discarded["group"] == "treated").sum())
        assert f": {n_short} treated units got no match" in str(ours[0].message)
        texts.append(str(ours[0].message))
    assert len(set(texts)) == 3, texts


def test_summary_prints_plain_numbers(sim):
    m = _quiet(sim, treatment="treat", covariates=COV, method="subclass", subclass=4)
    q = m.options["quantiles"]
    assert len(q) == 5 and all(type(v) is float for v in q)
    text = str(m.summary())
    assert "np.float64" not in text and f"quantiles=[{q[0]!r}" in text
    m = _quiet(sim, treatment="treat", covariates=COV, caliper=np.float64(0.1),
               ratio=np.int64(1))
    assert type(m.options["caliper"]) is float and "np." not in str(m.summary())


# ------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("values, err, text", [
    ([0, 1, 2, 1, 0, 0], DataError, "0/1"),
    (["a", "b", "a", "b", "a", "b"], DataError, "0/1"),
    ([0, 1, np.nan, 1, 0, 0], DataError, "missing"),
    ([1, 1, 1, 1, 1, 1], DesignError, "no control"),
    ([0, 0, 0, 0, 0, 0], DesignError, "no treated"),
])
def test_bad_treatment(values, err, text):
    frame = pd.DataFrame({"treat": values, "x": np.arange(6.0)})
    with pytest.raises(err, match=text) as info:
        match(frame, treatment="treat", covariates=["x"])
    assert "'treat'" in str(info.value)


def test_nan_covariate_names_column(sim):
    data = sim.copy()
    data.loc[data.index[:3], "x2"] = np.nan
    with pytest.raises(DataError, match=r"'x2' \(3\)"):
        match(data, treatment="treat", covariates=COV)
    with pytest.raises(DataError, match="'x2'"):
        match(data, formula="treat ~ x1 + x2")


def test_caliper_dropping_every_treated_unit():
    frame = _toy([0.0, 0.1], [5.0, 6.0, 7.0])
    with pytest.raises(DesignError, match="caliper .* drops every treated unit"):
        match(frame, treatment="t", distance="s", caliper=0.01)


def test_ratio_larger_than_controls():
    frame = _toy([0.0, 0.1], [5.0, 6.0, 7.0])
    with pytest.raises(DesignError, match="`ratio`=4 .* 3 control"):
        match(frame, treatment="t", distance="s", ratio=4)
    m = match(frame, treatment="t", distance="s", ratio=4, replace=True)  # fine with replacement
    assert m.pairs.groupby("treated").size().eq(3).all()


@pytest.mark.parametrize("kwargs, text", [
    (dict(method="genetic"), "`method`"),
    (dict(distance="probit"), "`distance`"),
    (dict(order="biggest"), "`order`"),
    (dict(estimand="ATX"), "`estimand`"),
    (dict(estimand="ATE"), "ATE"),
    (dict(discard="outside"), "`discard`"),
    (dict(caliper=-1.0), "`caliper`"),
    (dict(ratio=0), "`ratio`"),
    (dict(ratio=1.5), "`ratio`"),
    (dict(replace="yes"), "`replace`"),
    (dict(distance="mahalanobis", caliper=0.2), "std_caliper"),
    (dict(distance="mahalanobis", order="largest"), "`order`"),
    (dict(distance="mahalanobis", discard="both"), "discard"),
    (dict(method="optimal", replace=True), "optimal"),
    (dict(method="subclass", distance="euclidean"), "one-dimensional"),
    (dict(covariates=["x1", "nope"]), "'nope'"),
    (dict(exact="nope"), "'nope'"),
    (dict(distance=np.zeros(3)), "3 scores"),
    (dict(caliper={"b": 0.1}), "'b'"),
    (dict(caliper={"nope": 0.1}), "'nope'"),
    (dict(caliper={"x1": -0.1}), "'x1'"),
])
def test_bad_options(sim, kwargs, text):
    kw = dict(treatment="treat", covariates=["x1", "x2"])
    kw.update(kwargs)
    with pytest.raises(SosstatsError, match=text):
        match(sim, **kw)


def test_duplicate_index_and_non_frame(sim):
    with pytest.raises(DataError, match="duplicated index"):
        match(pd.concat([sim, sim]), treatment="treat", covariates=["x1"])
    with pytest.raises(DataError, match="DataFrame"):
        match(sim.to_numpy(), treatment="treat", covariates=["x1"])
    with pytest.raises(DataError, match="differs"):
        match(sim, treatment="b", formula="treat ~ x1")


# ------------------------------------------------------- wiring to balance and effects
def test_estimate_effect_and_plot_use_the_match(sim):
    m = match(sim, treatment="treat", covariates=COV)
    res = m.estimate_effect("y")
    est = float(np.asarray(res.params)[0])
    w, t, y = m.weights.to_numpy(), sim["treat"].to_numpy() == 1, sim["y"].to_numpy()
    assert est == pytest.approx(np.average(y[t], weights=w[t]) - np.average(y[~t],
                                                                            weights=w[~t]))
    assert abs(est - 2.0) < 0.5  # the simulated effect is 2
    bal = m.balance()
    assert bal.adjusted and set(bal.table.index) >= {"x1", "x2", "x3", "b"}
    import matplotlib

    matplotlib.use("Agg")
    ax = m.plot()
    assert ax is not None and len(ax.get_yticklabels()) > 0


@pytest.mark.parametrize("kw, clustered", [
    ({}, True), ({"method": "optimal"}, True), ({"replace": True}, False),
    ({"method": "subclass"}, False), ({"method": "cem", "covariates": ["b", "g"]}, False)])
def test_estimate_effect_default_errors_follow_the_design(sim, kw, clustered):
    m = _quiet(sim, **{"treatment": "treat", "covariates": COV} | kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SosstatsWarning)   # no few-cluster warning
        res = m.estimate_effect("y")
    assert (res.n_clusters is not None) is clustered
    assert res.inference == ("cr1" if clustered else "hc3")
    if clustered:
        assert res.n_clusters == m.n_matched["treated"]           # one cluster per pair
    else:   # HC3 on the matched rows with the matching weights
        from sosstats.matching import matched_effect

        ref = matched_effect(sim, "y", "treat", m.weights, cluster=None)
        assert res.std_errors.iloc[0] == pytest.approx(ref.std_errors.iloc[0], rel=1e-12)
    if kw.get("method") == "subclass":  # an explicit cluster still overrides the default
        forced = m.estimate_effect("y", cluster="subclass")
        assert forced.n_clusters == 6 and forced.inference == "cr2"   # six: CR2 by default
        with pytest.warns(SosstatsWarning, match="clusters"):
            m.estimate_effect("y", cluster="subclass", vcov="cr1")


def test_boolean_treatment_and_docstring_example():
    fam = simulate_evaluation(rng=1, n_families=400).families
    m = match(fam, treatment="agency_worker", covariates=["sdq_t1", "previous_referral"],
              replace=True)
    assert m.n_matched["treated"] == int(fam["agency_worker"].sum())
    with pytest.raises(DesignError, match="no treated"):
        match(fam.assign(none=False), treatment="none", covariates=["sdq_t1"])
    fam = fam.assign(cohort2=(fam["cohort"] == 2).astype(int))
    m = match(fam, treatment="cohort2", covariates=["sdq_t1", "previous_referral"])
    assert int(m.n_matched["treated"]) > 0


def test_near_separation_warns_once_at_the_callers_line():
    # scores of 0 / 1 to numerical precision (|linear predictor| up to ~60), yet no separation
    rng = np.random.default_rng(8)
    x = rng.uniform(-60, 60, 300)
    frame = pd.DataFrame({"t": (rng.random(300) < 1 / (1 + np.exp(-x))).astype(int), "x": x})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        match(frame, treatment="t", covariates=["x"])
    ours = [w for w in caught if issubclass(w.category, SosstatsWarning)
            and "0 or 1 to numerical precision" in str(w.message)]
    assert len(ours) == 1 and ours[0].filename == __file__
