"""Tests of sosstats.weighting.replicates: bootstrap replicate attrition weights."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.weighting import attrition_weights
from sosstats.weighting.estimates import weighted_mean
from sosstats.weighting.replicates import ReplicateWeights, replicate_weights

COVS = ["previous_referral", "agency_worker", "feelings_t1"]
KW = dict(responded="responded_t2", covariates=COVS)


@pytest.fixture(scope="module")
def fam() -> pd.DataFrame:
    return simulate_evaluation(rng=3, n_families=300).families


@pytest.fixture(scope="module")
def rw_unit(fam) -> ReplicateWeights:
    return replicate_weights(fam, **KW, n_replicates=20, rng=11)


@pytest.fixture(scope="module")
def rw_cluster(fam) -> ReplicateWeights:
    return replicate_weights(fam, **KW, cluster="la_code", n_replicates=20, rng=11)


# ----------------------------------------------------------------------------- structure

def test_structure(fam, rw_unit, rw_cluster):
    r = fam["responded_t2"].to_numpy()
    for rw, G in [(rw_unit, len(fam)), (rw_cluster, fam["la_code"].nunique())]:
        reps = rw.replicates
        assert reps.index.equals(fam.index)
        assert list(reps.columns) == [f"rep_{b}" for b in range(1, 21)]
        assert rw.n_replicates == 20 and rw.scale == pytest.approx(1 / 20)
        assert rw.n_clusters == G and rw.n_redrawn == 0 and rw.seed == 11
        assert (reps.to_numpy()[~r] == 0).all()
        assert (reps.to_numpy() >= 0).all()
        full = attrition_weights(fam, **KW).weights
        pd.testing.assert_series_equal(rw.full.weights, full)
        # replicate weights sum, on average, to the full weights' sum (the G/(G-1) factor)
        sums = reps.sum()
        assert abs(sums.mean() - full.sum()) < 4 * sums.std() / np.sqrt(20)
    drawn = rw_cluster.replicates.gt(0).groupby(fam["la_code"], observed=True).sum()
    n_resp = fam.groupby("la_code", observed=True)["responded_t2"].sum()
    # a cluster is in or out as a whole, and at most G - 1 distinct clusters are drawn
    assert drawn.isin([0]).add(drawn.eq(n_resp, axis=0)).all().all()
    assert (drawn.gt(0).sum() <= fam["la_code"].nunique() - 1).all()


def test_multiplicity_equals_frequency_weighted_fit(fam, rw_unit):
    """Replicate weight = n/(n-1) x multiplicity x logit IPW fitted with frequency weights."""
    n = len(fam)
    m = np.random.default_rng(11).multinomial(n - 1, np.full(n, 1 / n), size=20)[0]
    r = fam["responded_t2"].to_numpy()
    X = sm.add_constant(fam[COVS].to_numpy(dtype=float))
    keep = m > 0
    fit = sm.GLM(r[keep].astype(float), X[keep], family=sm.families.Binomial(),
                 freq_weights=m[keep]).fit(tol=1e-13)
    p = fit.predict(X)
    rate = (m * r).sum() / m.sum()
    w = np.where(r, rate / p, 0.0)
    w *= (m * r).sum() / (m * w).sum()
    expected = n / (n - 1) * m * w
    np.testing.assert_allclose(rw_unit.replicates["rep_1"].to_numpy(), expected, rtol=1e-8,
                               atol=1e-12)


def test_cluster_replicate_reproduced_by_hand(fam, rw_cluster):
    codes, levels = pd.factorize(fam["la_code"], sort=True)
    G = len(levels)
    draws = np.random.default_rng(11).multinomial(G - 1, np.full(G, 1 / G), size=20)
    for b in (0, 7):
        rows = np.repeat(np.arange(len(fam)), draws[b][codes])
        w = attrition_weights(fam.iloc[rows].reset_index(drop=True), **KW).weights.to_numpy()
        expected = np.bincount(rows, weights=w, minlength=len(fam)) * G / (G - 1)
        np.testing.assert_allclose(rw_cluster.replicates.iloc[:, b].to_numpy(), expected,
                                   rtol=1e-12)


# ----------------------------------------------------------------------------- randomness

def test_deterministic_in_rng(fam, rw_unit):
    again = replicate_weights(fam, **KW, n_replicates=20, rng=11)
    pd.testing.assert_frame_equal(again.replicates, rw_unit.replicates)
    gen = replicate_weights(fam, **KW, n_replicates=20, rng=np.random.default_rng(11))
    pd.testing.assert_frame_equal(gen.replicates, rw_unit.replicates)
    assert gen.seed is None
    other = replicate_weights(fam, **KW, n_replicates=20, rng=12)
    assert not np.allclose(other.replicates.to_numpy(), rw_unit.replicates.to_numpy())


@pytest.mark.parametrize("cluster", [None, "la_code"])
def test_row_order_invariance(fam, cluster):
    base = replicate_weights(fam, **KW, cluster=cluster, n_replicates=8, rng=5)
    perm = fam.sample(frac=1, random_state=2)
    other = replicate_weights(perm, **KW, cluster=cluster, n_replicates=8, rng=5)
    assert other.replicates.index.equals(perm.index)
    np.testing.assert_allclose(other.full.weights.loc[fam.index], base.full.weights,
                               rtol=1e-10)
    # resampling works on rows sorted by label: identical replicate weights per unit
    pd.testing.assert_frame_equal(other.replicates.loc[fam.index], base.replicates)


@pytest.mark.filterwarnings("ignore:the weighting failed on")
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_clusters_drawn_whole(seed):
    f = simulate_evaluation(rng=seed % 50, n_families=150).families
    rw = replicate_weights(f, **KW, cluster="la_code", n_replicates=4, rng=seed)
    pos = rw.replicates.gt(0)[f["responded_t2"]]
    per = pos.groupby(f.loc[f["responded_t2"], "la_code"], observed=True)
    assert (per.all() | ~per.any()).all().all()
    assert (rw.replicates.sum() > 0).all()


# ----------------------------------------------------------------------------- options

def test_formula_and_options_pass_through(fam):
    a = replicate_weights(fam, **KW, n_replicates=5, rng=1)
    b = replicate_weights(fam, formula="responded_t2 ~ previous_referral + agency_worker"
                          " + feelings_t1", n_replicates=5, rng=1)
    np.testing.assert_allclose(b.replicates.to_numpy(), a.replicates.to_numpy(), rtol=1e-8,
                               atol=1e-12)
    c = replicate_weights(fam, **KW, by="cohort", trim={"upper_q": 0.95},
                          nonrespondents="nan", n_replicates=5, rng=1)
    assert c.full.weights.isna().sum() == (~fam["responded_t2"]).sum()
    assert not c.replicates.isna().any().any()
    e = replicate_weights(fam, **KW, method="entropy", cluster="la_code", n_replicates=5, rng=1)
    assert e.full.method == "entropy" and (e.replicates.sum() > 0).all()


def test_progress_counter(fam, capsys):
    replicate_weights(fam, **KW, n_replicates=3, rng=0, progress=True)
    assert "replicate weights: 3/3" in capsys.readouterr().err
    replicate_weights(fam, **KW, n_replicates=3, rng=0, progress=False)
    assert capsys.readouterr().err == ""


def test_failed_resamples_are_redrawn_and_counted():
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"x": rng.normal(size=14), "r": [0, 0] + [1] * 12})
    with pytest.warns(SosstatsWarning, match="redrawn"):
        rw = replicate_weights(d, responded="r", covariates="x", n_replicates=30, rng=4)
    assert rw.n_redrawn > 0
    assert sum(rw.redraw_reasons.values()) == rw.n_redrawn
    assert any("everyone responded" in k for k in rw.redraw_reasons)
    # every kept replicate could be weighted: it contains a respondent with positive weight
    assert (rw.replicates.sum() > 0).all()


def test_too_many_failures_raise():
    d = pd.DataFrame({"x": np.tile([3.0, 1, 5, 2, 7, 4, 6, 0], 4),
                      "cell": np.repeat(list("abcd"), 8), "r": np.tile([0] + [1] * 7, 4)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SosstatsWarning)
        with pytest.raises(DesignError, match="the weighting failed on"):
            replicate_weights(d, responded="r", covariates="x", by="cell", n_replicates=20,
                              rng=0)


# ----------------------------------------------------------------------------- variance / apply

def test_variance_formula(rw_unit):
    rng = np.random.default_rng(0)
    est = np.array([1.0, 2.0])
    reps = est + rng.normal(size=(20, 2))
    v = rw_unit.variance(est, reps)
    np.testing.assert_allclose(v, ((reps - est) ** 2).sum(axis=0) / 20)
    v2 = rw_unit.variance(est, reps, mse=False)
    np.testing.assert_allclose(v2, ((reps - reps.mean(axis=0)) ** 2).sum(axis=0) / 20)
    np.testing.assert_allclose(np.diag(rw_unit.covariance(est, reps)), v)
    assert rw_unit.variance(1.0, reps[:, 0]).shape == ()
    reps[3, 0] = np.nan
    assert rw_unit.variance(est, reps)[0] == pytest.approx(
        np.nansum((reps[:, 0] - 1.0) ** 2) / 19)
    with pytest.raises(DataError, match="shape"):
        rw_unit.variance(est, reps[:5])


def test_apply_matches_weighted_mean(fam, rw_cluster):
    y = fam["sdq_t2"]

    def mean(w):
        return (w * y).sum() / w[y.notna()].sum()

    out = rw_cluster.apply(mean)
    res = weighted_mean(fam, "sdq_t2", weights=rw_cluster)
    assert out["estimate"].iloc[0] == pytest.approx(res.params.iloc[0], rel=1e-12)
    assert out["std_error"].iloc[0] == pytest.approx(res.std_errors.iloc[0], rel=1e-10)
    assert out["ci_lower"].iloc[0] < out["estimate"].iloc[0] < out["ci_upper"].iloc[0]
    two = rw_cluster.apply(lambda w: pd.Series({"mean": mean(w), "total": w.sum()}))
    assert list(two.index) == ["mean", "total"]
    assert two.loc["mean", "std_error"] == pytest.approx(out["std_error"].iloc[0])
    d = rw_cluster.apply(lambda w: {"a": mean(w)})
    assert list(d.index) == ["a"] and (d["n_valid"] == 20).all()
    sizes = iter([2] + [1] * 20)
    with pytest.raises(DataError, match="returned 1 value"):
        rw_cluster.apply(lambda w: np.ones(next(sizes)))
    calls = iter(range(100))
    with pytest.warns(SosstatsWarning, match="not finite on 1 of 20"):
        out = rw_cluster.apply(lambda w: np.nan if next(calls) == 3 else mean(w))
    assert out["n_valid"].iloc[0] == 19


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("kwargs,error,match", [
    (dict(n_replicates=1), DesignError, "at least 2"),
    (dict(n_replicates=2.5), DataError, "integer"),
    (dict(cluster="nope"), DataError, "cluster column 'nope' not found"),
    (dict(covariates=["nope"]), DataError, "nope"),
    (dict(progress="yes"), DataError, "progress"),
    (dict(rng="seed"), DataError, "rng"),
    (dict(bogus=1), DataError, "unknown weighting option"),
])
def test_bad_input(fam, kwargs, error, match):
    args = {**KW, "n_replicates": 3, **kwargs}
    with pytest.raises(error, match=match):
        replicate_weights(fam, **args)


def test_bad_data(fam):
    f = fam.assign(la=fam["la_code"].astype(object))
    f.loc[f.index[3], "la"] = np.nan
    with pytest.raises(DataError, match="cluster column 'la' has 1 missing"):
        replicate_weights(f, **KW, cluster="la", n_replicates=3)
    with pytest.raises(DesignError, match="at least two"):
        replicate_weights(fam.assign(one=1), **KW, cluster="one", n_replicates=3)
    with pytest.raises(DataError, match="duplicate index"):
        replicate_weights(pd.concat([fam, fam.iloc[:2]]), **KW, n_replicates=3)


# ----------------------------------------------------------------------------- calibration

@pytest.mark.slow
def test_replicate_se_is_calibrated_and_beats_fixed_weights():
    """Monte Carlo: SD of the IPW mean vs its replicate SE and its fixed-weights SE."""
    est, rep, lin = [], [], []
    for s in range(80):
        rng = np.random.default_rng(s)
        x = rng.normal(size=300)
        r = rng.random(300) < 1 / (1 + np.exp(-(0.5 + x)))
        d = pd.DataFrame({"x": x, "r": r, "y": np.where(r, 2 * x + rng.normal(size=300),
                                                         np.nan)})
        rw = replicate_weights(d, responded="r", covariates="x", n_replicates=40, rng=s)
        res = weighted_mean(d, "y", weights=rw)
        est.append(res.params.iloc[0])
        rep.append(res.std_errors.iloc[0])
        lin.append(weighted_mean(d, "y", weights=rw.full).std_errors.iloc[0])
    sd = np.std(est, ddof=1)
    rms_rep, rms_lin = np.sqrt(np.mean(np.square(rep))), np.sqrt(np.mean(np.square(lin)))
    assert 0.8 < rms_rep / sd < 1.2
    # estimated propensity weights are more efficient than fixed weights suggest
    assert rms_lin > rms_rep


def test_apply_t_interval_by_default_with_few_clusters_and_percentile_on_request(fam,
                                                                                 rw_cluster):
    from scipy import stats

    y = fam["sdq_t2"]

    def mean(w):
        return (w * y).sum() / w[y.notna()].sum()

    t = rw_cluster.apply(mean, level=0.9)
    G = rw_cluster.n_clusters
    assert G < 42 and t["df"].iloc[0] == G - 1
    half = stats.t.ppf(0.95, G - 1) * t["std_error"].iloc[0]
    assert t["ci_upper"].iloc[0] - t["estimate"].iloc[0] == pytest.approx(half, rel=1e-12)
    assert "t(" in t.attrs["interval"]
    p = rw_cluster.apply(mean, level=0.9, interval="percentile")
    assert np.isinf(p["df"].iloc[0]) and "percentiles" in p.attrs["interval"]
    assert p["std_error"].iloc[0] == t["std_error"].iloc[0]
    with pytest.raises(DataError, match="interval"):
        rw_cluster.apply(mean, interval="normal")


def test_apply_a_component_absent_from_some_replicates_is_nan_there(rw_cluster):
    calls = iter(range(100))

    def stat(w):       # the second component vanishes on two replicates (a missing level)
        i = next(calls)
        out = {"a": float(w.sum()), "b": float((w > 0).sum())}
        return {"a": out["a"]} if i in (2, 5) else out

    with pytest.warns(SosstatsWarning, match=r"absent from some of the 20 replicates.*: 'b' \(2x\)"):
        out = rw_cluster.apply(stat)
    assert out.loc["b", "n_valid"] == rw_cluster.n_replicates - 2
    assert out.loc["a", "n_valid"] == rw_cluster.n_replicates
    assert np.isfinite(out.loc["b", "std_error"])
    with pytest.raises(DataError, match="did not return on the full weights"):
        rw_cluster.apply(lambda w, c=iter(range(100)): {"a": 1.0} if next(c) == 0
                         else {"a": 1.0, "z": 2.0})
