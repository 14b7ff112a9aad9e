"""Tests of sosstats.survey.SurveyDesign and the design-variance kernel.

References: R survey 4.1.1 (svydesign / svymean / svyby / degf on data(api), frozen in
tests/fixtures/survey_estimates_reference_r.csv by survey_estimates_reference.R); a plain
Python transcription of survey's ``onestrat`` / ``onestage`` (a loop over strata and PSUs) for
the kernel; invariances (row order, relabelling, weight scale) and each bad input of issue 15.
"""


import numpy as np
import pandas as pd
import pytest
from _api_designs import DESIGNS, FIX, api, clus1_regions  # this folder: the shared api designs
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats._kernels.survey_variance import design_covariance
from sosstats.errors import DataError, DesignError
from sosstats.survey import SurveyDesign
from sosstats.survey.estimates import _domain_means


@pytest.fixture(scope="module")
def ref():
    return pd.read_csv(FIX / "survey_estimates_reference_r.csv", keep_default_na=False,
                       na_values=[""])


# ----------------------------------------------------------------------------- R survey

@pytest.mark.parametrize("case", list(DESIGNS))
def test_degf_matches_r(case, ref):
    r = ref[(ref.case == case) & (ref.statistic == "degf")]["estimate"].iloc[0]
    assert DESIGNS[case]().df == int(r)


@pytest.mark.parametrize("case", list(DESIGNS))
def test_domain_means_match_svymean_and_svyby(case, ref):
    design = DESIGNS[case]()
    data = design.data
    cols = ["api00", "api99", "meals"]
    est, cov = _domain_means(design, data[cols].to_numpy(float), np.zeros(len(data), int), 1)
    r = ref[(ref.case == case) & (ref.statistic == "mean")].set_index("variable")
    np.testing.assert_allclose(est, r.loc[cols, "estimate"], rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), r.loc[cols, "se"], rtol=1e-10)
    by = "sch.wide" if case.startswith("strat") else "stype"
    codes, levels = pd.factorize(data[by], sort=True)
    est, cov = _domain_means(design, data[["api00", "meals"]].to_numpy(float), codes,
                             len(levels))
    rb = ref[(ref.case == case) & (ref.statistic == "mean_by")]
    for k, lev in enumerate(levels):
        for j, v in enumerate(["api00", "meals"]):
            row = rb[(rb.domain == lev) & (rb.variable == v)].iloc[0]
            assert est[k * 2 + j] == pytest.approx(row.estimate, rel=1e-12)
            assert np.sqrt(cov[k * 2 + j, k * 2 + j]) == pytest.approx(row.se, rel=1e-10)


def test_domain_covariance_is_full_and_symmetric():
    design = DESIGNS["clus1"]()
    d = design.data
    codes, levels = pd.factorize(d["stype"], sort=True)
    _, cov = _domain_means(design, d[["api00", "meals"]].to_numpy(float), codes, 3)
    assert cov.shape == (6, 6)
    np.testing.assert_allclose(cov, cov.T, rtol=1e-12, atol=0)
    assert np.all(np.linalg.eigvalsh(cov) > -1e-9 * np.abs(cov).max())
    # domains share PSUs: the cross-domain covariances are not zero
    assert abs(cov[0, 2]) > 0


def test_domain_means_outside_rows_keep_their_psu():
    design = DESIGNS["clus1_nofpc"]()
    d = design.data
    dom = np.where(d["stype"].to_numpy() == "H", 0, -1)
    est, cov = _domain_means(design, d[["api00"]].to_numpy(float), dom, 1)
    full = np.where(d["stype"].to_numpy() == "H", 0, 1)
    est2, cov2 = _domain_means(design, d[["api00"]].to_numpy(float), full, 2)
    assert est[0] == pytest.approx(est2[0], rel=1e-14)
    assert cov[0, 0] == pytest.approx(cov2[0, 0], rel=1e-12)
    # dropping the other rows instead (a subset design) gives another SE
    sub = SurveyDesign(d[d.stype == "H"], cluster="dnum", weights="pw")
    _, cov3 = _domain_means(sub, sub.data[["api00"]].to_numpy(float),
                            np.zeros(len(sub.data), int), 1)
    assert not np.isclose(cov3[0, 0], cov[0, 0], rtol=1e-3)


def test_missing_values_leave_only_that_column():
    design = DESIGNS["clus1"]()
    d = design.data
    y = d[["api00", "meals"]].to_numpy(float, copy=True)
    y[:10, 1] = np.nan
    est, cov = _domain_means(design, y, np.zeros(len(d), int), 1)
    est0, cov0 = _domain_means(design, y[:, :1], np.zeros(len(d), int), 1)
    assert est[0] == est0[0] and cov[0, 0] == pytest.approx(cov0[0, 0], rel=1e-13)
    w = design.weights[10:]
    assert est[1] == pytest.approx(np.sum(w * y[10:, 1]) / w.sum(), rel=1e-13)


def test_empty_domain_is_nan():
    design = DESIGNS["clus1"]()
    est, cov = _domain_means(design, design.data[["api00"]].to_numpy(float),
                             np.zeros(design.nobs, int), 2)
    assert np.isnan(est[1]) and np.isnan(cov[1, 1]) and np.isnan(cov[0, 1])
    assert np.isfinite(cov[0, 0])


# ----------------------------------------------------------------------------- kernel

def onestrat_loop(x, cluster, f, lonely):
    """survey:::onestrat for one stratum, transcribed (nPSU = PSUs present)."""
    psus = list(dict.fromkeys(cluster))
    n_psu = len(psus)
    scale = f * n_psu / (n_psu - 1) if n_psu > 1 else f
    if f < 1e-7:
        return np.zeros((x.shape[1], x.shape[1])), True
    tot = np.array([x[cluster == c].sum(axis=0) for c in psus])
    if lonely != "adjust" or n_psu > 1:
        tot = tot - tot.mean(axis=0)
    if n_psu == 1 and lonely == "average":
        return None, False
    return scale * tot.T @ tot, True


def onestage_loop(x, strata, cluster, fraction, lonely):
    out, ok = np.zeros((x.shape[1], x.shape[1])), 0
    levels = np.unique(strata)
    for h in levels:
        sel = strata == h
        v, good = onestrat_loop(x[sel], cluster[sel], 1 - fraction[h], lonely)
        if good:
            out += v
            ok += 1
    return out * len(levels) / ok


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["remove", "adjust", "average", "certainty"]),
       st.booleans())
def test_kernel_equals_survey_loop(seed, lonely, with_fpc):
    rng = np.random.default_rng(seed)
    H = int(rng.integers(1, 5))
    psu_per = rng.integers(1, 5, size=H)
    psu_per[0] = max(psu_per[0], 2)
    C = int(psu_per.sum())
    psu_stratum = np.repeat(np.arange(H), psu_per)
    sizes = rng.integers(1, 6, size=C)
    psu = np.repeat(np.arange(C), sizes)
    strata = psu_stratum[psu]
    x = rng.normal(size=(len(psu), 3))
    frac = rng.uniform(0, 0.9, size=H) if with_fpc else np.zeros(H)
    if with_fpc and H > 1:
        frac[-1] = 1.0                       # a certainty stratum
    V = design_covariance(x, strata, psu, frac, lonely)
    ref = onestage_loop(x, strata, psu, frac, lonely)
    np.testing.assert_allclose(V, ref, rtol=1e-11, atol=1e-12)


def test_kernel_lonely_error_names_stratum():
    x = np.ones((3, 1))
    with pytest.raises(DesignError, match="stratum B"):
        design_covariance(x, np.array([0, 0, 1]), np.array([0, 1, 2]), None, "error",
                          stratum_labels=np.array(["A", "B"], dtype=object))


# ----------------------------------------------------------------------------- contract

def test_attributes_and_private_copy():
    d = api("apiclus1")
    before = d.copy()
    design = SurveyDesign(d, cluster="dnum", weights="pw", fpc="fpc")
    assert design.data is not d and design.data.equals(d)
    design.data.loc[0, "api00"] = -1
    pd.testing.assert_frame_equal(d, before)
    assert design.n_clusters == 15 and design.n_strata == 1 and design.df == 14
    assert design.kind == "linearization" and design.cluster == "dnum"
    assert design.strata is None and design.weights.dtype == float
    np.testing.assert_array_equal(design.weights, d["pw"].to_numpy())
    assert "15 PSUs" in repr(design)


def test_covariance_of_scores_equals_domain_means():
    design = DESIGNS["stratclus"]()
    d = design.data
    w, y = design.weights, d["api00"].to_numpy(float)
    mean = np.sum(w * y) / w.sum()
    z = w * (y - mean) / w.sum()
    V = design._covariance(z[:, None])
    _, cov = _domain_means(design, y[:, None], np.zeros(len(d), int), 1)
    assert V[0, 0] == pytest.approx(cov[0, 0], rel=1e-12)
    assert design._variance(None, z[:, None])[0, 0] == pytest.approx(V[0, 0], rel=1e-15)
    assert design._variance(None, lambda: z[:, None])[0, 0] == pytest.approx(V[0, 0])


def test_calibration_hook_residualises_scores():
    design = DESIGNS["clus1"]()
    calls = []

    class Half:
        def residualise(self, scores):
            calls.append(scores.shape)
            return scores / 2

    new = design._with_weights(design.weights * 2, Half())
    assert design._calibration is None and new._calibration is not None
    np.testing.assert_array_equal(new.weights, design.weights * 2)
    np.testing.assert_array_equal(design.weights, design.data["pw"].to_numpy())
    z = np.arange(design.nobs, dtype=float)[:, None]
    assert new._covariance(z)[0, 0] == pytest.approx(design._covariance(z)[0, 0] / 4)
    assert calls == [(design.nobs, 1)]


def test_weights_from_fpc_when_none_given():
    d = api("apiclus2")
    design = SurveyDesign(d, cluster=["dnum", "snum"], fpc=["fpc1", "fpc2"])
    # R: 1 / (f1 f2) equals apiclus2$pw
    np.testing.assert_allclose(design.weights, d["pw"].to_numpy(), rtol=1e-6)


def test_fpc_as_fraction_equals_population_size():
    d = api("apiclus1")
    a = SurveyDesign(d, cluster="dnum", weights="pw", fpc="fpc")
    b = SurveyDesign(d.assign(f=15 / d["fpc"]), cluster="dnum", weights="pw", fpc="f")
    z = d[["api00"]].to_numpy(float) * a.weights[:, None]
    assert a._covariance(z)[0, 0] == pytest.approx(b._covariance(z)[0, 0], rel=1e-12)


def test_certainty_stratum_with_one_psu_is_not_lonely():
    d = clus1_regions()
    n_c = d.loc[d.region == "c", "dnum"].nunique()
    d = d.assign(N=np.where(d.region == "c", n_c, 100))
    design = SurveyDesign(d, cluster="dnum", strata="region", weights="pw", fpc="N")
    assert design.df == 12


def test_replicate_design():
    from sosstats.datasets import simulate_evaluation
    from sosstats.weighting import replicate_weights

    f = simulate_evaluation(rng=0).families
    rw = replicate_weights(f, responded="responded_t2", covariates=["previous_referral"],
                           cluster="la_code", n_replicates=30, rng=1)
    design = SurveyDesign(f, weights=rw)
    assert design.kind == "replicate" and design.cluster == "la_code"
    assert design.n_clusters == rw.n_clusters
    assert 1 <= design.df <= 29
    y = f[["previous_referral"]].to_numpy(float)
    est, cov = _domain_means(design, y, np.zeros(len(f), int), 1)
    w = rw.weights.to_numpy()
    assert est[0] == pytest.approx(np.sum(w * y[:, 0]) / w.sum(), rel=1e-12)
    reps = rw.replicates.to_numpy()
    th = (reps * y).sum(axis=0) / reps.sum(axis=0)
    assert cov[0, 0] == pytest.approx(np.mean((th - est[0]) ** 2), rel=1e-10)
    with pytest.raises(DataError, match="strata"):
        SurveyDesign(f, weights=rw, strata="la_code")


# ----------------------------------------------------------------------------- invariances

@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.01, 100))
def test_row_order_relabelling_and_weight_scale(seed, c):
    rng = np.random.default_rng(seed)
    d = api("apistrat")
    base = SurveyDesign(d, cluster="dnum", strata="stype", weights="pw", nest=True)
    codes, levels = pd.factorize(d["sch.wide"], sort=True)
    est, cov = _domain_means(base, d[["api00"]].to_numpy(float), codes, len(levels))
    perm = rng.permutation(len(d))
    e = d.iloc[perm].reset_index(drop=True)
    e = e.assign(dnum=e["dnum"].map(lambda v: f"district-{v * 7 + 3}"),
                 stype=e["stype"].map({"E": "z", "H": "y", "M": "x"}), pw=e["pw"] * c)
    other = SurveyDesign(e, cluster="dnum", strata="stype", weights="pw", nest=True)
    codes2 = pd.Categorical(e["sch.wide"], categories=levels).codes
    est2, cov2 = _domain_means(other, e[["api00"]].to_numpy(float), codes2, len(levels))
    np.testing.assert_allclose(est2, est, rtol=1e-11)
    np.testing.assert_allclose(cov2, cov, rtol=1e-9)
    assert other.df == base.df


# ----------------------------------------------------------------------------- bad input

def test_missing_cluster_ids():
    d = api("apiclus1")
    d.loc[[3, 7], "dnum"] = np.nan
    with pytest.raises(DataError, match="cluster column 'dnum' has 2 missing"):
        SurveyDesign(d, cluster="dnum", weights="pw")


def test_missing_strata_ids():
    d = api("apistrat")
    d.loc[5, "stype"] = None
    with pytest.raises(DataError, match="strata column 'stype' has 1 missing"):
        SurveyDesign(d, strata="stype", weights="pw")


@pytest.mark.parametrize("bad, msg", [(-1.0, "non-negative"), (np.nan, "missing"),
                                      (np.inf, "infinite")])
def test_bad_weights(bad, msg):
    d = api("apiclus1")
    d.loc[4, "pw"] = bad
    with pytest.raises(DataError, match=f"weights column 'pw'.*{msg}"):
        SurveyDesign(d, cluster="dnum", weights="pw")


def test_fpc_smaller_than_sample():
    d = api("apiclus1").assign(fpc=10)
    with pytest.raises(DesignError, match="fpc column 'fpc' is smaller than the sample.*15"):
        SurveyDesign(d, cluster="dnum", weights="pw", fpc="fpc")


def test_fpc_varies_within_stratum_or_mixes_kinds():
    d = api("apistrat")
    d.loc[0, "fpc"] = d.loc[0, "fpc"] + 1
    with pytest.raises(DataError, match="varies within stratum"):
        SurveyDesign(d, strata="stype", weights="pw", fpc="fpc")
    e = api("apistrat").astype({"fpc": float})
    e.loc[0, "fpc"] = 0.5
    with pytest.raises(DataError, match="mix population sizes"):
        SurveyDesign(e, strata="stype", weights="pw", fpc="fpc")
    e.loc[0, "fpc"] = np.nan
    with pytest.raises(DataError, match="fpc column 'fpc' has 1 missing"):
        SurveyDesign(e, strata="stype", weights="pw", fpc="fpc")


def test_fewer_than_two_clusters():
    d = api("apiclus1")
    d = d[d.dnum == d.dnum.iloc[0]]
    with pytest.raises(DesignError, match="cluster column 'dnum' has 1 PSU"):
        SurveyDesign(d, cluster="dnum", weights="pw")


def test_lonely_psu_error_names_column_and_stratum():
    with pytest.raises(DesignError, match="strata column 'region': stratum 'c' has only one"):
        SurveyDesign(clus1_regions(), cluster="dnum", strata="region", weights="pw")


def test_psu_in_two_strata_needs_nest():
    with pytest.raises(DesignError, match="nest=True"):
        SurveyDesign(api("apistrat"), cluster="dnum", strata="stype", weights="pw")


def test_bad_options_and_columns():
    d = api("apiclus1")
    with pytest.raises(DataError, match="lonely_psu"):
        SurveyDesign(d, cluster="dnum", lonely_psu="fail")
    with pytest.raises(DataError, match="'nope' not found"):
        SurveyDesign(d, cluster="nope")
    with pytest.raises(DataError, match="one fpc column per stage"):
        SurveyDesign(api("apiclus2"), cluster=["dnum", "snum"], fpc="fpc1")
    with pytest.raises(DataError, match="pandas DataFrame"):
        SurveyDesign(d.to_numpy(), cluster="dnum")
    with pytest.raises(DataError, match="`weights` must be"):
        SurveyDesign(d, cluster="dnum", weights=3)


def test_delegating_methods_forward():
    import sys
    import types

    design = DESIGNS["clus1"]()
    mod = types.ModuleType("sosstats.survey.chisq")
    mod.chisq = lambda des, *a, **k: (des, a, k)
    saved = sys.modules.get("sosstats.survey.chisq")
    sys.modules["sosstats.survey.chisq"] = mod
    try:
        got = design.chisq("a", "b", statistic="F")
    finally:
        if saved is None:
            del sys.modules["sosstats.survey.chisq"]
        else:
            sys.modules["sosstats.survey.chisq"] = saved
    assert got == (design, ("a", "b"), {"statistic": "F"})


def test_with_weights_recounts_df():
    design = DESIGNS["clus1"]()
    w = design.weights.copy()
    w[design.data["dnum"].to_numpy() == design.data["dnum"].iloc[0]] = 0.0
    assert design._with_weights(w).df == design.df - 1
    assert design.df == 14


def test_kernel_average_rescales_each_group_separately():
    rng = np.random.default_rng(5)
    # two independent groups of strata (later-stage strata within two parent PSUs)
    psu = np.repeat(np.arange(7), 3)
    stratum_of_psu = np.array([0, 0, 1, 2, 2, 3, 3])       # stratum 1 is lonely
    strata = stratum_of_psu[psu]
    group = np.array([0, 0, 1, 1])
    x = rng.normal(size=(len(psu), 2))
    V = design_covariance(x, strata, psu, None, "average", stratum_group=group)
    g0 = strata <= 1
    a = onestage_loop(x[g0], strata[g0], psu[g0], np.zeros(4), "average")
    b = onestage_loop(x[~g0], strata[~g0], psu[~g0], np.zeros(4), "average")
    np.testing.assert_allclose(V, a + b, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["remove", "adjust", "average", "certainty"]),
       st.booleans())
def test_unit_domain_kernel_equals_expanded_scores(seed, lonely, with_fpc):
    from sosstats._kernels.survey_variance import unit_domain_covariance

    rng = np.random.default_rng(seed)
    n, K, m, H = int(rng.integers(5, 40)), int(rng.integers(1, 4)), 2, int(rng.integers(1, 4))
    strata = rng.integers(0, H, n)
    strata[:H] = np.arange(H)                       # every stratum present
    if H > 1 and rng.random() < 0.5:
        strata[strata == H - 1] = 0
        strata[n - 1] = H - 1                       # a lonely stratum
    dom = rng.integers(-1, K, n)
    e = rng.normal(size=(n, m))
    frac = rng.uniform(0, 0.8, H) if with_fpc else None
    Z = np.zeros((n, K * m))
    rows = np.flatnonzero(dom >= 0)
    Z[rows[:, None], dom[rows][:, None] * m + np.arange(m)] = e[rows]
    ref = design_covariance(Z, strata, np.arange(n), frac, lonely)
    got = unit_domain_covariance(e, dom, K, strata, frac, lonely)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12 * max(1, np.abs(ref).max()))
