"""Tests of sosstats.weighting.imputation: chained equations, Rubin's rules, MI change models."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.panel import change_model, wide_to_long
from sosstats.weighting.imputation import (
    Imputations,
    PooledResult,
    impute_chained,
    mi_change_model,
    pool,
    pool_estimates,
)

matplotlib.use("Agg")

FIX = Path(__file__).resolve().parents[1] / "fixtures"
PREDICTORS = ["previous_referral", "agency_worker", "feelings_t1", "sdq_t1", "cohort"]
POOLED = ["estimate", "ubar", "b", "t", "df", "riv", "lambda", "fmi"]


@pytest.fixture(scope="module")
def evaluation():
    return simulate_evaluation(rng=0, n_families=5000)


@pytest.fixture(scope="module")
def imputed(evaluation):
    cols = ["sdq_t2", "feelings_t2", "shared_understanding_t2"]
    return impute_chained(evaluation.families, cols, predictors=PREDICTORS, n_imputations=10,
                          n_iter=3, rng=1)


def _toy(n=300, seed=0, frac=0.3):
    """Toy frame: y = 2 + 3 x + N(0, 1), z binary, logit -0.5 + 1.2 x; both MAR on x."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    g = np.array(["a", "b", "c"])[rng.integers(0, 3, size=n)]
    y = 2 + 3 * x + rng.normal(size=n)
    z = (rng.random(n) < 1 / (1 + np.exp(0.5 - 1.2 * x))).astype(float)
    drop = rng.random(n) < frac * (1 + np.tanh(x))          # more missing where x is high
    y[drop] = np.nan
    z[rng.random(n) < frac * (1 + np.tanh(x))] = np.nan
    return pd.DataFrame({"y": y, "z": z, "x": x, "g": pd.Categorical(g)},
                        index=rng.permutation(np.arange(500, 500 + n)))


# ------------------------------------------------------------------- Rubin's rules vs R mice

def _r_reference():
    return pd.read_csv(FIX / "mice_pool_reference_r.csv")


R_TERMS = {"(Intercept)": "Intercept", "x": "x", "gb": "C(g)[T.b]", "gc": "C(g)[T.c]"}


def test_pool_statsmodels_fits_matches_mice_pool():
    d = pd.read_csv(FIX / "mice_pool_reference_input.csv")
    fits = [smf.ols("y ~ x + C(g)", data=d[d.imp == i]).fit() for i in range(1, 6)]
    res = pool(fits)
    ref = _r_reference().query("case == 'lm'")
    for q in POOLED + ["dfcom"]:
        r = ref[ref.quantity == q].set_index("term")["value"].rename(R_TERMS)
        mine = res.table["df_com" if q == "dfcom" else q].reindex(r.index)
        np.testing.assert_allclose(mine.to_numpy(), r.to_numpy(), rtol=1e-10, err_msg=q)
    assert res.n_imputations == 5 and res.nobs == 40


def test_pool_estimates_on_r_inputs_matches_mice_pool():
    ref = _r_reference().query("case == 'lm'")
    wide = ref.pivot(index="term", columns="quantity", values="value").loc[list(R_TERMS)]
    q = np.column_stack([wide[f"estimate_{i}"] for i in range(1, 6)]).T
    u = np.column_stack([wide[f"se_{i}"] for i in range(1, 6)]).T ** 2
    res = pool_estimates(q, u, df_com=wide["dfres_1"].iloc[0], terms=list(R_TERMS))
    for col in POOLED:
        np.testing.assert_allclose(res.table[col], wide[col], rtol=1e-10, err_msg=col)
    # only variances given: the covariance off-diagonals are unknown
    assert np.isnan(res.vcov.iloc[0, 1]) and np.isfinite(res.between.iloc[0, 1])


@pytest.mark.parametrize("case", ["scalar_small", "scalar_inf", "scalar_constant", "scalar_m2"])
def test_pool_estimates_matches_mice_pool_scalar(case):
    c = _r_reference().query("case == @case").set_index("quantity")["value"]
    m = sum(k.startswith("Q_") for k in c.index)
    Q = [c[f"Q_{i}"] for i in range(1, m + 1)]
    U = [c[f"U_{i}"] for i in range(1, m + 1)]
    row = pool_estimates(Q, U, df_com=c["n_minus_k"]).table.iloc[0]
    for mine, theirs in [("estimate", "qbar"), ("ubar", "ubar"), ("b", "b"), ("t", "t"),
                         ("df", "df"), ("riv", "r"), ("fmi", "fmi")]:
        assert row[mine] == pytest.approx(c[theirs], rel=1e-10, abs=1e-14), mine


def test_pool_closed_form_covariance_and_interval():
    rng = np.random.default_rng(3)
    q = rng.normal(size=(6, 2))
    a = rng.normal(size=(6, 2, 2))
    u = a @ a.transpose(0, 2, 1) + np.eye(2)
    res = pool_estimates(q, u, terms=["a", "b"], df_com=50)
    B = np.cov(q.T, ddof=1)
    T = u.mean(axis=0) + (1 + 1 / 6) * B
    np.testing.assert_allclose(res.vcov.to_numpy(), T, rtol=1e-12)
    np.testing.assert_allclose(res.between.to_numpy(), B, rtol=1e-12)
    tidy = res.tidy(level=0.9)
    from scipy import stats
    half = stats.t.ppf(0.95, res.table["df"]) * np.sqrt(np.diag(T))
    np.testing.assert_allclose(tidy["ci_upper"] - tidy["estimate"], half, rtol=1e-12)
    assert list(tidy.columns[:7]) == ["term", "estimate", "std_error", "statistic", "p_value",
                                      "ci_lower", "ci_upper"]
    assert "Barnard-Rubin" in str(res.summary())
    assert res.to_dict()["estimates"][0]["term"] == "a"


@settings(max_examples=40, deadline=None)
@given(m=st.integers(2, 12), k=st.integers(1, 4), seed=st.integers(0, 10_000),
       df_com=st.one_of(st.just(np.inf), st.floats(1, 1e4)))
def test_total_variance_at_least_within(m, k, seed, df_com):
    rng = np.random.default_rng(seed)
    q = rng.normal(scale=rng.uniform(0, 3), size=(m, k))
    u = rng.uniform(0.01, 2, size=(m, k))
    t = pool_estimates(q, u, df_com=df_com).table
    assert (t["t"] >= t["ubar"] - 1e-15).all()
    assert ((t["fmi"] >= 0) & (t["lambda"] <= 1) & (t["df"] > 0)).all()
    if np.isfinite(df_com):  # Barnard-Rubin df never exceeds the observed-data df bound
        assert (t["df"] <= df_com * (df_com + 1) / (df_com + 3) + 1e-9).all()


# ------------------------------------------------------------------ recovery on the simulator

def test_mi_recovers_t2_means_that_complete_case_misses(evaluation, imputed):
    fam, truth = evaluation.families, evaluation.truth["families"]["t2_all_means"]
    for col, key in [("sdq_t2", "sdq"), ("feelings_t2", "feelings"),
                     ("shared_understanding_t2", "shared_understanding")]:
        mi = np.mean([d[col].mean() for d in imputed])
        cc = fam[col].mean()
        assert abs(mi - truth[key]) < 0.5 * abs(cc - truth[key]), col
    sdq = np.mean([d["sdq_t2"].mean() for d in imputed])
    assert abs(sdq - truth["sdq"]) < 0.1 < abs(fam["sdq_t2"].mean() - truth["sdq"])
    assert imputed.methods == {"sdq_t2": "pmm", "feelings_t2": "pmm",
                               "shared_understanding_t2": "logit"}


def test_mi_change_model_first_difference_close_to_truth(evaluation, imputed):
    fam, truth = evaluation.families, evaluation.truth["families"]["t2_all_means"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SosstatsWarning)
        res = mi_change_model("sdq ~ 1", imputed, entity="family_id", time="wave",
                              stubs=["sdq"])
    change = truth["sdq"] - fam["sdq_t1"].mean()
    est, se = res.params["Intercept"], res.std_errors["Intercept"]
    assert abs(est - change) < min(0.15, 2.5 * se)
    lo, hi = res.conf_int().loc["Intercept"]
    assert lo < change < hi
    row = res.table.loc["Intercept"]
    assert row["df_com"] == 4999 and 0 < row["fmi"] < 0.6 and row["t"] > row["ubar"]
    # the same as fitting each completed data set and pooling by hand
    fits = [change_model("sdq ~ 1", wide_to_long(d, id="family_id", stubs=["sdq"]),
                         entity="family_id", time="wave") for d in imputed]
    by_hand = pool_estimates(np.array([f.params.to_numpy() for f in fits]),
                             np.array([f.vcov.to_numpy() for f in fits]), df_com=4999)
    np.testing.assert_allclose(res.table[POOLED], by_hand.table[POOLED], rtol=1e-12)
    assert isinstance(res, PooledResult) and len(res.fits) == 10


def test_norm_and_logit_draws_recover_toy_model():
    d = _toy(n=2000, seed=4)
    imp = impute_chained(d, ["y", "z"], predictors=["x"], methods={"y": "norm"},
                         n_imputations=5, n_iter=3, rng=2)
    slopes = [smf.ols("y ~ x", data=c).fit() for c in imp]
    res = pool(slopes)
    assert abs(res.params["x"] - 3) < 3 * res.std_errors["x"]
    assert res.table.loc["x", "b"] > 0               # imputations differ
    resid_sd = np.mean([s.resid.std() for s in slopes])
    assert resid_sd == pytest.approx(1.0, abs=0.08)  # norm draws keep the residual spread
    logits = pool([smf.logit("z ~ x", data=c).fit(disp=0) for c in imp])
    assert abs(logits.params["x"] - 1.2) < 3 * logits.std_errors["x"]
    assert abs(logits.params["Intercept"] + 0.5) < 3 * logits.std_errors["Intercept"]


# ------------------------------------------------------------------------------- properties

small_frames = st.tuples(st.integers(30, 80), st.integers(0, 10_000), st.floats(0.1, 0.6))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_frames, st.sampled_from(["pmm", "norm"]))
def test_observed_kept_binary_in_01_pmm_from_observed(spec, method):
    n, seed, frac = spec
    d = _toy(n=n, seed=seed, frac=frac)
    if d["y"].notna().sum() < 3 or d["z"].dropna().nunique() < 2:
        return
    before = d.copy()
    imp = impute_chained(d, ["y", "z"], predictors=["x", "g"], methods={"y": method},
                         n_imputations=3, n_iter=2, donors=3, rng=seed)
    pd.testing.assert_frame_equal(d, before)          # input untouched
    obs_y = d["y"].dropna()
    for c in imp:
        assert c.index.equals(d.index) and not c[["y", "z"]].isna().any().any()
        pd.testing.assert_series_equal(c.loc[obs_y.index, "y"], obs_y)
        pd.testing.assert_series_equal(c.loc[d["z"].notna(), "z"], d["z"].dropna())
        assert set(np.unique(c["z"])) <= {0.0, 1.0}
        if method == "pmm":
            assert np.isin(c["y"], obs_y.to_numpy()).all()


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_deterministic_given_rng(seed):
    d = _toy(n=60, seed=1)
    a = impute_chained(d, ["y", "z"], predictors=["x"], n_imputations=3, n_iter=2, rng=seed)
    b = impute_chained(d, ["y", "z"], predictors=["x"], n_imputations=3, n_iter=2,
                       rng=np.random.default_rng(seed))
    for i in range(3):
        pd.testing.assert_frame_equal(a.completed(i), b.completed(i))
    assert a.seed == seed and b.seed is None
    more = impute_chained(d, ["y", "z"], predictors=["x"], n_imputations=4, n_iter=2, rng=seed)
    pd.testing.assert_frame_equal(more.completed(2), a.completed(2))  # chains are spawned
    assert not a.completed(0)["y"].equals(a.completed(1)["y"])


def test_pmm_donor_pool_nearest_fitted_values():
    # y is a deterministic function of x: the donors are the observed rows nearest in x
    x = np.arange(100, dtype=float)
    y = x * 10.0
    y[[20, 50, 80]] = np.nan
    d = pd.DataFrame({"x": x, "y": y})
    imp = impute_chained(d, ["y"], predictors=["x"], donors=2, n_imputations=8, rng=0)
    vals = imp.imputed_values("y")
    assert vals.shape == (3, 8) and list(vals.index) == [20, 50, 80]
    for row, centre in zip(vals.to_numpy(), [200, 500, 800]):
        assert set(row) <= {centre - 10, centre + 10}


def test_bool_and_two_category_columns_keep_their_type():
    d = _toy(n=200, seed=5)
    d["flag"] = pd.Series(d["z"].map({1.0: True, 0.0: False}), dtype=object)
    d["grp"] = pd.Categorical(np.where(d["x"] > 0, "hi", "lo"), categories=["lo", "hi"])
    d.loc[d["y"].isna(), "grp"] = np.nan
    imp = impute_chained(d, ["flag", "grp"], predictors=["x"], n_imputations=2, rng=0)
    assert imp.methods == {"flag": "logit", "grp": "logit"}
    c = imp.completed(1)
    assert c["flag"].dtype == bool and c["grp"].dtype == d["grp"].dtype
    assert set(c["grp"]) <= {"lo", "hi"}
    # x separates grp perfectly: the prior keeps the fit finite and the draws follow x
    miss = d["grp"].isna()
    agree = (c.loc[miss, "grp"] == np.where(d.loc[miss, "x"] > 0, "hi", "lo")).mean()
    assert agree > 0.9


# ------------------------------------------------------------------------------- API pieces

def test_imputations_object(imputed, evaluation):
    fam = evaluation.families
    assert len(imputed) == imputed.n_imputations == 10 and len(imputed.datasets) == 10
    pat = imputed.missing_pattern()
    assert list(pat["n_rows"]) == [fam["sdq_t2"].notna().sum(), fam["sdq_t2"].isna().sum()]
    assert list(pat["n_missing"]) == [0, 3]
    assert pat.attrs["missing_per_column"]["sdq_t2"] == fam["sdq_t2"].isna().sum()
    tr = imputed.trace()
    assert tr.shape == (3 * 3 * 10, 5) and set(tr["column"]) == set(imputed.imputed_columns)
    axes = imputed.plot()
    assert len(axes) == 3 and axes[0].get_title() == "sdq_t2 (pmm)"
    import matplotlib.pyplot as plt
    plt.close("all")
    assert imputed.map(lambda d: d["sdq_t2"].isna().sum()) == [0] * 10
    with pytest.raises(DataError, match="between 0 and 9"):
        imputed.completed(10)
    with pytest.raises(DataError, match="was not imputed"):
        imputed.imputed_values("sdq_t1")


def test_pool_of_change_results_uses_their_df():
    ev = simulate_evaluation(rng=2, n_families=400)
    imp = impute_chained(ev.families, ["sdq_t2"], predictors=PREDICTORS, n_imputations=3,
                         n_iter=1, rng=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SosstatsWarning)
        res = mi_change_model("sdq ~ cohort", imp, entity="family_id", time="wave",
                              stubs="sdq", cluster="la_code")
    fit = res.fits[0]
    assert (res.table["df_com"] == fit.table["df"]).all() and fit.n_clusters - 1 == 9
    assert list(res.params.index) == list(fit.params.index)


# ------------------------------------------------------------------------------- bad input

def test_bad_inputs():
    d = _toy(n=80, seed=2)
    with pytest.raises(DataError, match="'nope' not found"):
        impute_chained(d, ["y", "nope"])
    all_missing = d.assign(w=np.nan)
    with pytest.raises(DataError, match="'w' is entirely missing"):
        impute_chained(all_missing, ["w"], predictors=["x"])
    with pytest.raises(DataError, match="predictor 'z' of 'y'"):
        impute_chained(d, ["y"], predictors=["x", "z"])
    with pytest.raises(DesignError, match="n_imputations"):
        impute_chained(d, ["y"], n_imputations=1)
    with pytest.raises(DesignError, match="n_iter"):
        impute_chained(d, ["y"], n_iter=0)
    with pytest.raises(DataError, match="'logit' needs a binary"):
        impute_chained(d, ["y"], methods="logit")
    with pytest.raises(DataError, match="must be one of"):
        impute_chained(d, ["y"], methods={"y": "cart"})
    g3 = d.assign(g=d["g"].astype(object).where(d["y"].notna()))
    with pytest.raises(DataError, match="3 categories"):
        impute_chained(g3, ["g"], predictors=["x"])
    with pytest.raises(DataError, match="includes 'y' itself"):
        impute_chained(d, ["y"], predictors={"y": ["y", "x"]})
    with pytest.raises(DataError, match="all equal"):
        impute_chained(d.assign(z=d["z"].where(d["z"] != 1)), ["z"], predictors=["x"])


def test_complete_columns_are_carried_and_warned_when_nothing_to_impute():
    d = _toy(n=80, seed=2)
    imp = impute_chained(d, ["y", "x"], n_imputations=2, rng=0)   # x complete: predictor only
    assert imp.imputed_columns == ("y",) and imp.predictors == {"y": ["x"]}
    with pytest.warns(SosstatsWarning, match="has missing values"):
        none = impute_chained(d, ["x"], n_imputations=2, rng=0)
    pd.testing.assert_frame_equal(none.completed(0), d)


def test_pool_bad_inputs(imputed):
    d = pd.read_csv(FIX / "mice_pool_reference_input.csv")
    one = smf.ols("y ~ x", data=d[d.imp == 1]).fit()
    other = smf.ols("y ~ x + C(g)", data=d[d.imp == 2]).fit()
    with pytest.raises(DataError, match="at least two"):
        pool([one])
    with pytest.raises(DataError, match="terms that differ"):
        pool([one, other])
    with pytest.raises(DataError, match="no `params`"):
        pool([1, 2])
    with pytest.raises(DataError, match="shape"):
        pool_estimates([[1.0, 2.0], [1.5, 2.5]], [[0.1], [0.1]])
    with pytest.raises(DataError, match="positive"):
        pool_estimates([1.0, 2.0], [0.1, 0.1], df_com=0)
    with pytest.raises(DesignError, match="wild"):
        mi_change_model("sdq ~ 1", imputed, entity="family_id", time="wave", stubs="sdq",
                        inference="wild")
    with pytest.raises(DataError, match="impute_chained"):
        mi_change_model("sdq ~ 1", [d], entity="family_id", time="wave")
    assert isinstance(imputed, Imputations)
