"""Tests of sosstats.weighting.estimates: weighted_mean and weighted_proportion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError, DesignError
from sosstats.weighting import AttritionWeights, attrition_weights
from sosstats.weighting.estimates import (
    FIXED_NOTE,
    REPLICATE_NOTE,
    weighted_mean,
    weighted_proportion,
)
from sosstats.weighting.replicates import ReplicateWeights, replicate_weights

FIX = Path(__file__).resolve().parents[1] / "fixtures"
COVS = ["previous_referral", "agency_worker", "feelings_t1"]


@pytest.fixture(scope="module")
def ref_input() -> pd.DataFrame:
    return pd.read_csv(FIX / "weighted_mean_reference_input.csv")


@pytest.fixture(scope="module")
def ref_r() -> pd.DataFrame:
    r = pd.read_csv(FIX / "weighted_mean_reference_r.csv", skipinitialspace=True)
    return r.set_index(["design", "statistic", "group", "quantity"])["value"].sort_index()


def _with_groups(fn, d, v, **kw) -> pd.DataFrame:
    """Overall row then one row per cohort, as in the R fixture (groups 'all', '1', '2')."""
    t = pd.concat([fn(d, v, **kw).tidy(), fn(d, v, by="cohort", **kw).tidy()])
    return t.assign(key=["all", "1", "2"]).set_index("key")


def _frozen_replicates(d: pd.DataFrame) -> ReplicateWeights:
    """ReplicateWeights holding the frozen replicate columns of the fixture input."""
    reps = d.filter(regex=r"^rep_")
    full = AttritionWeights(weights=d["w"].rename("weight"), responded=d["resp"] == 1,
                            method="logit", propensity=None, population_total=float(len(d)))
    B = reps.shape[1]
    return ReplicateWeights(full=full, replicates=reps, cluster="la_code", n_replicates=B,
                            scale=1.0 / B, n_clusters=int(d["la_code"].nunique()))


# ----------------------------------------------------------------------------- R survey

@pytest.mark.parametrize("design,cluster", [("cluster", "la_code"), ("unit", None)])
@pytest.mark.parametrize("v", ["y", "k"])
def test_linearised_matches_survey(ref_input, ref_r, design, cluster, v):
    t = _with_groups(weighted_mean, ref_input, v, weights="w", cluster=cluster)
    for g in ["all", "1", "2"]:
        ref = ref_r.loc[(design, f"mean_{v}", g)]
        assert t.loc[g, "estimate"] == pytest.approx(ref["estimate"], rel=1e-12)
        assert t.loc[g, "std_error"] == pytest.approx(ref["se"], rel=1e-10)
        assert t.loc[g, "df"] == ref["df"]
        assert t.loc[g, "ci_lower"] == pytest.approx(ref["ci_lower"], rel=1e-10)
        assert t.loc[g, "ci_upper"] == pytest.approx(ref["ci_upper"], rel=1e-10)


@pytest.mark.parametrize("design,cluster", [("cluster", "la_code"), ("unit", None)])
def test_proportion_logit_interval_matches_svyciprop(ref_input, ref_r, design, cluster):
    t = _with_groups(weighted_proportion, ref_input, "k", weights="w", cluster=cluster)
    for g in ["all", "1", "2"]:
        ref = ref_r.loc[(design, "ciprop_k", g)]
        # svyciprop fits svyglm (IRLS to glm's tolerance), so agreement is to ~1e-8
        assert t.loc[g, "estimate"] == pytest.approx(ref["estimate"], rel=1e-7)
        assert t.loc[g, "ci_lower"] == pytest.approx(ref["ci_lower"], rel=1e-7)
        assert t.loc[g, "ci_upper"] == pytest.approx(ref["ci_upper"], rel=1e-7)
        assert t.loc[g, "df"] == ref["df"]
        assert np.isnan(t.loc[g, "statistic"]) and np.isnan(t.loc[g, "p_value"])


@pytest.mark.parametrize("v", ["y", "k"])
def test_replicate_variance_matches_svrepdesign(ref_input, ref_r, v):
    rw = _frozen_replicates(ref_input)
    res = weighted_mean(ref_input, v, weights=rw)
    resb = weighted_mean(ref_input, v, weights=rw, by="cohort")
    est = pd.concat([res.tidy(), resb.tidy()]).assign(key=["all", "1", "2"]).set_index("key")
    reps = pd.concat([res.replicate_estimates, resb.replicate_estimates], axis=1).to_numpy()
    var_mean = rw.variance(est["estimate"].to_numpy(), reps, mse=False)
    for i, g in enumerate(["all", "1", "2"]):
        ref = ref_r.loc[("replicate_mse", f"mean_{v}", g)]
        assert est.loc[g, "estimate"] == pytest.approx(ref["estimate"], rel=1e-12)
        assert est.loc[g, "std_error"] == pytest.approx(ref["se"], rel=1e-10)
        ref2 = ref_r.loc[("replicate_mean", f"mean_{v}", g)]
        assert np.sqrt(var_mean[i]) == pytest.approx(ref2["se"], rel=1e-10)
    assert REPLICATE_NOTE in str(res.summary())


# ----------------------------------------------------------------------------- closed forms

def test_unweighted_is_sample_mean_and_se():
    rng = np.random.default_rng(3)
    d = pd.DataFrame({"y": rng.normal(5, 2, 80)})
    t = weighted_mean(d, "y").tidy().iloc[0]
    assert t["estimate"] == pytest.approx(d["y"].mean(), rel=1e-13)
    assert t["std_error"] == pytest.approx(d["y"].std(ddof=1) / np.sqrt(80), rel=1e-12)
    assert t["df"] == 79
    assert "unweighted" in str(weighted_mean(d, "y").summary())


def test_attrition_weights_object_and_labels():
    f = simulate_evaluation(rng=2).families
    aw = attrition_weights(f, responded="responded_t2", covariates=COVS)
    a = weighted_mean(f, "sdq_t2", weights=aw, cluster="la_code")
    f2 = f.assign(w=aw.weights)
    b = weighted_mean(f2, "sdq_t2", weights="w", cluster="la_code")
    pd.testing.assert_frame_equal(a.tidy(), b.tidy())
    assert FIXED_NOTE in str(a.summary())
    # aligned by label when the rows come in another order
    perm = f.sample(frac=1, random_state=1)
    c = weighted_mean(perm, "sdq_t2", weights=aw, cluster="la_code")
    assert c.params.iloc[0] == pytest.approx(a.params.iloc[0], rel=1e-12)
    assert c.std_errors.iloc[0] == pytest.approx(a.std_errors.iloc[0], rel=1e-10)
    assert a.nobs == int(f["responded_t2"].sum())


def test_bool_outcome_and_interval_inside_unit_interval():
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"x": rng.random(60) < 0.1, "w": rng.uniform(0.5, 2, 60)})
    p_bool = weighted_proportion(d, "x", weights="w").tidy().iloc[0]
    p_int = weighted_proportion(d.assign(x=d["x"].astype(int)), "x", weights="w").tidy().iloc[0]
    assert p_bool["estimate"] == p_int["estimate"]
    assert 0 < p_bool["ci_lower"] < p_bool["estimate"] < p_bool["ci_upper"] < 1
    wald_lower = p_bool["estimate"] - 2 * p_bool["std_error"]
    assert p_bool["ci_lower"] > wald_lower      # the logit interval is not the symmetric one


# ----------------------------------------------------------------------------- recovery

def test_weighting_moves_t2_mean_towards_full_sample_mean():
    ev = simulate_evaluation(rng=0, n_families=20_000)
    f, truth = ev.families, ev.truth["families"]["t2_all_means"]
    aw = attrition_weights(f, responded="responded_t2", covariates=COVS + ["cohort"])
    for name in ["sdq", "feelings"]:
        unw = weighted_mean(f, f"{name}_t2").params.iloc[0]
        wtd = weighted_mean(f, f"{name}_t2", weights=aw).params.iloc[0]
        assert abs(wtd - truth[name]) < 0.25 * abs(unw - truth[name])
    prop = weighted_proportion(f, "shared_understanding_t2", weights=aw)
    ci = prop.conf_int().iloc[0]
    assert ci["lower"] < truth["shared_understanding"] < ci["upper"]


def test_replicate_se_close_to_linearised():
    f = simulate_evaluation(rng=5, n_families=600).families
    rw = replicate_weights(f, responded="responded_t2", covariates=COVS, n_replicates=50,
                           rng=1)
    lin = weighted_mean(f, "sdq_t2", weights=rw.full).std_errors.iloc[0]
    rep = weighted_mean(f, "sdq_t2", weights=rw).std_errors.iloc[0]
    assert rep > 0
    assert 0.6 < rep / lin < 1.6


# ----------------------------------------------------------------------------- properties

@st.composite
def _frames(draw):
    n = draw(st.integers(4, 30))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    y = rng.normal(0, 10, n).round(draw(st.integers(0, 3)))
    y[rng.random(n) < 0.15] = np.nan
    y[:2] = [1.0, 3.0]                       # at least two observed values
    w = rng.exponential(1.0, n) * (rng.random(n) < 0.9)
    w[:2] = [1.0, 2.0]
    return pd.DataFrame({"y": y, "w": w, "c": rng.integers(0, 3, n) % max(2, n // 3),
                         "g": rng.choice(["a", "b"], n)}, index=rng.permutation(n) + 100)


@settings(max_examples=40, deadline=None)
@given(d=_frames(), factor=st.floats(1e-3, 1e3), seed=st.integers(0, 1000))
def test_properties(d, factor, seed):
    d = d.assign(c=np.r_[0, 1, d["c"].to_numpy()[2:]])
    base = weighted_mean(d, "y", weights="w", cluster="c").tidy().iloc[0]
    keep = d["y"].notna() & (d["w"] > 0)
    assert d.loc[keep, "y"].min() - 1e-9 <= base["estimate"] <= d.loc[keep, "y"].max() + 1e-9
    assert base["std_error"] >= 0
    scaled = weighted_mean(d.assign(w=d["w"] * factor), "y", weights="w",
                           cluster="c").tidy().iloc[0]
    assert scaled["estimate"] == pytest.approx(base["estimate"], rel=1e-9, abs=1e-9)
    assert scaled["std_error"] == pytest.approx(base["std_error"], rel=1e-7, abs=1e-9)
    perm = d.sample(frac=1, random_state=seed)
    a = weighted_mean(d, "y", weights="w", cluster="c", by="g").tidy()
    b = weighted_mean(perm, "y", weights="w", cluster="c", by="g").tidy()
    np.testing.assert_allclose(b[["estimate", "std_error"]].to_numpy(float),
                               a[["estimate", "std_error"]].to_numpy(float),
                               rtol=1e-9, atol=1e-9)


def test_does_not_modify_input():
    f = simulate_evaluation(rng=4).families
    before = f.copy()
    weighted_mean(f, "sdq_t2", by="cohort", cluster="la_code")
    pd.testing.assert_frame_equal(f, before)


# ----------------------------------------------------------------------------- bad input

@pytest.fixture(scope="module")
def toy() -> pd.DataFrame:
    return pd.DataFrame({"y": [1.0, 2.0, 3.0, np.nan, 5.0], "b": [0, 1, 1, 0, 1],
                         "s": ["a", "b", "c", "d", "e"], "w": [1.0, 2.0, 1.0, 0.0, 1.0],
                         "c": [1, 1, 2, 2, 2]})


@pytest.mark.parametrize("kwargs,match", [
    (dict(outcome="nope"), "outcome 'nope' not found"),
    (dict(outcome="y", weights="nope"), "weights column 'nope' not found"),
    (dict(outcome="y", by="nope"), "'nope' not found"),
    (dict(outcome="y", cluster="nope"), "cluster column 'nope' not found"),
    (dict(outcome="s"), "must be numeric"),
    (dict(outcome="y", weights="s"), "must be numeric"),
    (dict(outcome="y", weights=np.ones(5)), "must be None, a column name"),
    (dict(outcome="y", level=1.5), "level"),
    (dict(outcome=[]), "at least one"),
])
def test_bad_input(toy, kwargs, match):
    with pytest.raises(DataError, match=match):
        weighted_mean(toy, **kwargs)


def test_bad_values(toy):
    with pytest.raises(DataError, match="0/1 or boolean"):
        weighted_proportion(toy, "y")
    with pytest.raises(DataError, match="weights column 'w' must be non-negative"):
        weighted_mean(toy.assign(w=[1.0, -1.0, 1.0, 1.0, 1.0]), "y", weights="w")
    with pytest.raises(DataError, match="weights column 'w' has 1 infinite"):
        weighted_mean(toy.assign(w=[1.0, np.inf, 1.0, 1.0, 1.0]), "y", weights="w")
    with pytest.raises(DataError, match="missing for 1 unit"):
        weighted_mean(toy.assign(w=[1.0, np.nan, 1.0, 1.0, 1.0]), "y", weights="w")
    with pytest.raises(DataError, match="cluster column 'c' has 1 missing"):
        weighted_mean(toy.assign(c=[1, 1, np.nan, 2, 2]), "y", cluster="c")
    with pytest.raises(DataError, match="group column"):
        weighted_mean(toy.assign(c=[1, 1, np.nan, 2, 2]), "y", by="c")
    with pytest.raises(DesignError, match="1 cluster"):
        weighted_mean(toy.assign(c=1), "y", cluster="c")
    with pytest.raises(DataError, match="no unit has both"):
        weighted_mean(toy.assign(w=0.0), "y", weights="w")


def test_weights_object_with_other_index():
    f = simulate_evaluation(rng=2).families
    aw = attrition_weights(f, responded="responded_t2", covariates=COVS)
    with pytest.raises(DataError, match="does not match the rows of `data`"):
        weighted_mean(f.iloc[:-1], "sdq_t2", weights=aw)
    with pytest.raises(DataError, match="does not match the rows of `data`"):
        weighted_mean(f.set_index(f.index + 1), "sdq_t2", weights=aw)
    rw = replicate_weights(f, responded="responded_t2", covariates=COVS, n_replicates=3, rng=0)
    with pytest.raises(DataError, match="does not match"):
        weighted_mean(f.iloc[5:], "sdq_t2", weights=rw)
    with pytest.raises(DataError, match="differs from the replicate weights' cluster"):
        weighted_mean(f, "sdq_t2", weights=rw, cluster="la_code")
