"""The weighting pieces used together: replicate weights in weighting_effect and change_model."""

from __future__ import annotations

import numpy as np
import pytest

from sosstats.datasets import simulate_evaluation
from sosstats.panel import change_model, wide_to_long
from sosstats.weighting import replicate_weights, weighted_mean, weighting_effect

COVS = ["previous_referral", "agency_worker", "feelings_t1"]


@pytest.fixture(scope="module")
def setup():
    f = simulate_evaluation(rng=11, n_families=600).families
    reps = replicate_weights(f, responded="responded_t2", covariates=COVS, cluster="la_code",
                             n_replicates=40, rng=5)
    return f, reps


def test_multiplicities_are_the_design_resampling(setup):
    f, reps = setup
    M = reps.multiplicities
    assert M.index.equals(f.index) and list(M.columns) == list(reps.replicates.columns)
    # constant within a pilot, G/(G-1) x a count, and the counts sum to G - 1 per replicate
    G = reps.n_clusters
    counts = M.groupby(f["la_code"]).first() * (G - 1) / G
    np.testing.assert_allclose(counts.sum(axis=0), G - 1)
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-12)
    assert (M.groupby(f["la_code"]).nunique() == 1).all().all()
    # a unit not drawn has replicate weight 0
    assert ((M == 0) <= (reps.replicates == 0)).all().all()


def test_weighting_effect_takes_replicate_weights(setup):
    f, reps = setup
    res = weighting_effect(f, "sdq_t2", reps)
    r = f["responded_t2"].to_numpy()
    y = f["sdq_t2"].to_numpy()[r]
    R = reps.replicates.to_numpy()[r]
    M = reps.multiplicities.to_numpy()[r]
    w = reps.weights.to_numpy()[r]
    d_b = y @ R / R.sum(0) - y @ M / M.sum(0)
    d = w @ y / w.sum() - y.mean()
    assert res.params["difference"] == pytest.approx(d, rel=1e-12)
    assert res.std_errors["difference"] == pytest.approx(np.sqrt(np.mean((d_b - d) ** 2)),
                                                         rel=1e-10)


def test_replicate_se_of_a_change_model(setup):
    f, reps = setup
    long = wide_to_long(f[f["responded_t2"]].assign(w=reps.weights), id="family_id",
                        stubs=["sdq"], time="wave")

    def fd(weights):
        lw = long.assign(w=long["family_id"].map(weights.set_axis(f["family_id"])))
        return change_model("sdq ~ cohort", lw, entity="family_id", time="wave",
                            weights="w").params

    out = reps.apply(fd)
    assert list(out.index) == ["Intercept", "cohort"]
    assert (out["std_error"] > 0).all()
    full = fd(reps.weights)
    np.testing.assert_allclose(out["estimate"], full, rtol=1e-12)
    # the replicate SE is of the same order as the (fixed-weights) cluster-robust one
    cr = change_model("sdq ~ cohort", long, entity="family_id", time="wave", weights="w",
                      cluster="la_code", inference="cr2").std_errors
    ratio = out["std_error"] / cr
    assert ((ratio > 0.3) & (ratio < 3)).all()
    m = weighted_mean(f, "sdq_t2", weights=reps)
    assert m.std_errors.iloc[0] > 0


def test_clustered_replicates_use_g_minus_1_df(setup):
    f, reps = setup
    res = weighting_effect(f, "sdq_t2", reps)
    assert res.table.loc["difference", "df"] == reps.n_clusters - 1
    assert "t with 9 df" in str(res.summary())


def test_apply_skips_failing_replicates(setup):
    f, reps = setup
    from sosstats.errors import DesignError, SosstatsWarning

    calls = {"n": 0}

    def flaky(weights):
        calls["n"] += 1
        if calls["n"] % 4 == 0:
            raise DesignError("a pilot-level term vanished from this resample")
        r = weights > 0
        return float(np.average(f.loc[r, "sdq_t1"], weights=weights[r]))

    with pytest.raises(DesignError, match="vanished"):
        reps.apply(flaky)
    calls["n"] = 0
    with pytest.warns(SosstatsWarning, match="failed on 10 of 40"):
        out = reps.apply(flaky, on_error="skip")
    assert out["n_valid"].iloc[0] == 30 and out["std_error"].iloc[0] > 0
    with pytest.raises(Exception, match="on_error"):
        reps.apply(flaky, on_error="ignore")
