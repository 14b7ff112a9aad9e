"""Tests of sosstats.panel.change.change_model (and its plots)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.panel.change import ChangeResult, change_model
from sosstats.panel.reshape import wide_to_long

REF = json.loads((Path(__file__).parents[1] / "fixtures" / "panel_reference.json").read_text())
FORMULA = "sdq ~ cohort + exp2 + exp3"
KW = dict(entity="family_id", time="wave", cluster="la")


@pytest.fixture(scope="module")
def ref_long() -> pd.DataFrame:
    return pd.DataFrame(REF["input"])


def fit(data, method="first_difference", **kw):
    opts = {**KW, **kw}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SosstatsWarning)
        return change_model(kw.pop("formula", FORMULA), data, method=method,
                            **{k: v for k, v in opts.items() if k != "formula"})


@pytest.fixture(scope="module")
def evaluation():
    return simulate_evaluation(rng=5, n_families=270)


@pytest.fixture(scope="module")
def long(evaluation) -> pd.DataFrame:
    return wide_to_long(evaluation.families, id="family_id")


def panel3(n=60, seed=0) -> pd.DataFrame:
    """Three-wave panel with a time-varying regressor x and an invariant group g."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(n), 3)
    wave = np.tile([1, 2, 3], n)
    g = np.repeat(rng.integers(0, 2, n), 3)
    a = np.repeat(rng.normal(size=n), 3)
    x = rng.normal(size=3 * n) + a
    y = 1 + a + 0.5 * x + 0.3 * g * (wave > 1) + rng.normal(size=3 * n)
    return pd.DataFrame({"id": ids, "wave": wave, "g": g, "x": x, "y": y,
                         "cl": ids % 12, "w": np.repeat(rng.uniform(0.5, 2, n), 3)})


# ---------------------------------------------------------------- references (fixtures)

@pytest.mark.parametrize("method,key,weights", [
    ("first_difference", "sm_fd", None), ("first_difference", "sm_fd_w", "w"),
    ("first_difference", "lm_fd", None),
    ("ancova", "sm_ancova", None), ("ancova", "sm_ancova_w", "w"),
    ("fixed_effects", "lm_fe", None), ("fixed_effects", "lm_fe_w", "w"),
    ("random_effects", "lm_re", None), ("random_effects", "lm_re_w", "w"),
])
def test_matches_statsmodels_and_linearmodels(ref_long, method, key, weights):
    res = fit(ref_long, method, weights=weights, inference="cr1")
    ref = REF[key]
    np.testing.assert_allclose(res.params.to_numpy(), ref["params"], rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(res.std_errors.to_numpy(), ref["se"], rtol=1e-7)
    assert res.n_clusters == REF["n"]["clusters"]
    assert (res.table["df"] == REF["n"]["clusters"] - 1).all()


def test_random_effects_variance_components(ref_long):
    res = fit(ref_long, "random_effects")
    assert res.info["sigma2_u"] == pytest.approx(REF["lm_re"]["sigma2_u"], rel=1e-10)
    assert res.info["sigma2_e"] == pytest.approx(REF["lm_re"]["sigma2_e"], rel=1e-10)


def test_term_names(ref_long):
    assert list(fit(ref_long).params.index) == ["Intercept", "cohort", "exp2", "exp3"]
    assert list(fit(ref_long, "ancova").params.index)[:2] == ["Intercept", "sdq[1]"]
    assert list(fit(ref_long, "fixed_effects").params.index) == [
        "wave[2]", "cohort:wave[2]", "exp2:wave[2]", "exp3:wave[2]"]


# ---------------------------------------------------------------- identities

@pytest.mark.parametrize("weights", [None, "w"])
def test_two_wave_fd_equals_fe(ref_long, weights):
    """Classical identity: with two waves, FD slopes = two-way FE interaction slopes."""
    fd = fit(ref_long, weights=weights)
    fe = fit(ref_long, "fixed_effects", weights=weights)
    np.testing.assert_allclose(fd.params.to_numpy(), fe.params.to_numpy(), rtol=1e-9)


def test_fd_equals_fe_with_time_varying_regressor():
    d = panel3()
    d = d[d["wave"] < 3]
    fd = fit(d, formula="y ~ g + x", entity="id", cluster="cl")
    fe = fit(d, "fixed_effects", formula="y ~ g + x", entity="id", cluster="cl")
    np.testing.assert_allclose(fd.params.to_numpy(), fe.params.to_numpy(), rtol=1e-9)
    assert "x" in fe.info["time_varying"] and "g" in fe.info["time_invariant"]


@pytest.mark.parametrize("weights", [None, "w"])
def test_mundlak_equals_within(weights):
    """CRE (Mundlak): the time-varying regressor's coefficient equals the FE estimate."""
    d = panel3()
    fe = fit(d, "fixed_effects", formula="y ~ g + x", entity="id", cluster="cl",
             weights=weights)
    cre = fit(d, "correlated_random_effects", formula="y ~ g + x", entity="id", cluster="cl",
              weights=weights)
    for term in ["x", "g:wave[2]", "g:wave[3]"]:
        assert cre.params[term] == pytest.approx(fe.params[term], rel=1e-8)
    assert "mean(x)" in cre.params.index


def test_cluster_kernels_agree_on_kinds(ref_long):
    cr1 = fit(ref_long, inference="cr1")
    cr0 = fit(ref_long, inference="cr0")
    n, p, g = 212, 4, 10
    np.testing.assert_allclose(cr1.std_errors ** 2,
                               cr0.std_errors ** 2 * g / (g - 1) * (n - 1) / (n - p))
    cr2 = fit(ref_long, inference="cr2")
    assert not np.allclose(cr2.table["df"], g - 1)     # Satterthwaite df
    assert (cr2.table["df"] > 0).all()


# ---------------------------------------------------------------- recovery

@pytest.fixture(scope="module")
def big_long():
    ev = simulate_evaluation(rng=2024, n_families=20_000)
    return ev, wide_to_long(ev.families, id="family_id")


def test_recovers_simulated_change_and_level_effects(big_long):
    ev, data = big_long
    truth = ev.truth["families"]["outcomes"]["sdq"]
    fd = fit(data, formula="sdq ~ cohort + C(experience)", cluster=None)
    # SDQ changes by time_t2 for everyone: cohort / experience do not modify the change
    assert fd.params["Intercept"] + fd.params["cohort"] * 1 == pytest.approx(
        truth["time_t2"], abs=0.15)
    for term in ["cohort", "C(experience)[T.2 years]", "C(experience)[T.2 years plus]"]:
        assert abs(fd.params[term]) < 4 * fd.std_errors[term] + 0.02
    # random effects recovers the (family-level, randomised) cohort level effect
    data = data.assign(cohort2=(data["cohort"] == 2).astype(float))
    re = fit(data, "random_effects", formula="sdq ~ cohort2", cluster=None)
    assert re.params["cohort2"] == pytest.approx(truth["cohort_2"], abs=0.2)
    assert re.params["wave[t2]"] == pytest.approx(truth["time_t2"], abs=0.15)


def test_lords_paradox(big_long):
    """FD and ANCOVA differ by (1 - gamma) * (T1 gap): Lord's paradox, an exact identity."""
    _, data = big_long
    data = data.assign(cohort2=(data["cohort"] == 2).astype(float))
    fd = fit(data, formula="sdq ~ cohort2", cluster=None)
    an = fit(data, "ancova", formula="sdq ~ cohort2", cluster=None)
    gamma = an.params["sdq[t1]"]
    assert 0.3 < gamma < 0.95                  # regression to the mean
    d = an.design
    gap = d.loc[d["cohort2"] == 1, "sdq[t1]"].mean() - d.loc[d["cohort2"] == 0, "sdq[t1]"].mean()
    assert an.params["cohort2"] == pytest.approx(fd.params["cohort2"] + (1 - gamma) * gap,
                                                 rel=1e-8)
    assert gap < -0.2                         # cohort 2 starts lower (true level -0.5)
    assert abs(fd.params["cohort2"]) < 4 * fd.std_errors["cohort2"]   # true change effect 0


# ---------------------------------------------------------------- properties

@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), shift=st.floats(-50, 50))
def test_row_order_and_shift_invariance(ref_long, seed, shift):
    base = fit(ref_long)
    shuffled = ref_long.sample(frac=1.0, random_state=seed)
    res = fit(shuffled)
    np.testing.assert_allclose(res.params.to_numpy(), base.params.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(res.std_errors.to_numpy(), base.std_errors.to_numpy(), rtol=1e-9)
    shifted = fit(ref_long.assign(sdq=ref_long["sdq"] + shift))
    np.testing.assert_allclose(shifted.params.to_numpy(), base.params.to_numpy(),
                               rtol=1e-8, atol=1e-8)
    fe = fit(shuffled, "fixed_effects")
    np.testing.assert_allclose(fe.params.to_numpy(), base.params.to_numpy(), rtol=1e-8)


# ---------------------------------------------------------------- inference options

def test_wild_bootstrap_enumerates_and_intervals(ref_long):
    res = fit(ref_long, inference="wild", rng=1, formula="sdq ~ cohort")
    assert (res.table["n_resamples"] == 2 ** 10).all()
    # the same numbers as the kernel called directly on the first-difference design
    from sosstats._kernels.wild import wild_cluster_bootstrap

    design = res.design
    X = design[["Intercept", "cohort"]].to_numpy(float)
    y = design["sdq_change"].to_numpy(float)
    for j, term in enumerate(res.params.index):
        direct = wild_cluster_bootstrap(X, y, design["la"].to_numpy(), term=j, rng=1)
        assert res.pvalues[term] == direct.p_value
        assert res.conf_int().loc[term, "lower"] == pytest.approx(direct.ci_lower, rel=1e-10)
        assert res.conf_int().loc[term, "upper"] == pytest.approx(direct.ci_upper, rel=1e-10)
    ci = res.conf_int()
    assert (ci["lower"] < res.params).all() and (res.params < ci["upper"]).all()
    assert res.tidy()["ci_lower"].tolist() == ci["lower"].tolist()
    again = fit(ref_long, inference="wild", rng=1, formula="sdq ~ cohort")
    pd.testing.assert_series_equal(again.pvalues, res.pvalues)
    with pytest.raises(DesignError, match="level"):
        res.conf_int(0.9)
    pre_post = fit(ref_long, inference="wild", rng=1, formula="sdq ~ 1")
    assert list(pre_post.params.index) == ["Intercept"]


def test_few_cluster_warning(ref_long):
    with pytest.warns(SosstatsWarning, match="cr2"):
        change_model(FORMULA, ref_long, **KW, inference="cr1")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SosstatsWarning)
        change_model(FORMULA, ref_long, **KW, inference="cr2")


def test_default_clusters_by_entity(ref_long):
    res = fit(ref_long, cluster=None)
    assert res.n_clusters == REF["n"]["entities"]


def test_two_way_and_membership(evaluation, long):
    res = fit(long, formula="sdq ~ cohort", cluster=["la_code", "cohort"], inference="cr1")
    assert res.n_clusters == 2
    mem = evaluation.memberships
    res = fit(long, formula="sdq ~ cohort", cluster=None, membership=mem)
    assert res.n_clusters > 10 and np.isfinite(res.std_errors).all()
    fe = fit(long, "fixed_effects", formula="sdq ~ cohort", cluster=None, membership=mem)
    np.testing.assert_allclose(fe.params.to_numpy(), res.params.to_numpy(), rtol=1e-9)
    with pytest.raises(DesignError, match="membership"):
        fit(long, formula="sdq ~ cohort", cluster=None, membership=mem, inference="cr2")
    with pytest.raises(DataError, match="not both"):
        fit(long, formula="sdq ~ cohort", membership=mem, cluster="la_code")


def test_leverage_matches_brute_force(ref_long):
    res = fit(ref_long, formula="sdq ~ cohort")
    lev = res.leverage()
    assert len(lev) == 10 and lev["n_obs"].sum() == res.nobs
    d = res.design
    for la in lev.index[:3]:
        sub = ref_long[ref_long["la"] != la]
        loo = fit(sub, formula="sdq ~ cohort")
        assert lev.loc[la, "dfbeta[cohort]"] == pytest.approx(
            loo.params["cohort"] - res.params["cohort"], rel=1e-8)
    assert set(d["la"]) == set(lev.index)


def test_result_vocabulary(ref_long):
    res = fit(ref_long, inference="cr2")
    assert isinstance(res, ChangeResult)
    assert res.method == "first_difference" and res.inference == "cr2"
    assert res.nobs == REF["n"]["entities"] and res.n_dropped == 0
    tidy = res.tidy()
    assert list(tidy.columns[:7]) == ["term", "estimate", "std_error", "statistic", "p_value",
                                      "ci_lower", "ci_upper"]
    assert "cr2" in str(res.summary())
    assert res.to_dict()["method"] == "first_difference"
    assert {"sdq_change", "cohort", "la"} <= set(res.design.columns)


def test_plots(ref_long):
    import matplotlib

    matplotlib.use("Agg")
    from sosstats.panel.plots import change_plot

    ax = fit(ref_long).plot()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cohort", "exp2", "exp3"]
    assert len(ax.lines) >= 1
    ax = change_plot(ref_long, "sdq", "wave", by="cohort", entity="family_id")
    assert len(ax.get_legend().get_texts()) == 2
    with pytest.raises(DataError):
        fit(ref_long).plot(terms=["nope"])
    import matplotlib.pyplot as plt

    plt.close("all")


# ---------------------------------------------------------------- bad input

def test_missing_outcome_drop_and_raise(long):
    before = long.copy()
    n_missing = int(long.loc[long["wave"] == "t2", "sdq"].isna().sum())
    with pytest.warns(SosstatsWarning, match=f"{n_missing} of 270"):
        res = change_model("sdq ~ cohort", long, entity="family_id", time="wave")
    assert res.n_dropped == n_missing and res.nobs == 270 - n_missing
    with pytest.raises(DataError, match="missing 'sdq'"):
        change_model("sdq ~ cohort", long, entity="family_id", time="wave", missing="raise")
    pd.testing.assert_frame_equal(long, before)


def test_input_not_modified(ref_long):
    before = ref_long.copy()
    for method in ["first_difference", "ancova", "fixed_effects", "random_effects",
                   "correlated_random_effects"]:
        fit(ref_long, method, weights="w", inference="cr2")
    pd.testing.assert_frame_equal(ref_long, before)


def test_bad_inputs(ref_long):
    with pytest.raises(DataError, match="duplicate"):
        fit(pd.concat([ref_long, ref_long.head(1)]))
    no_t1 = ref_long.drop(index=ref_long.index[(ref_long["family_id"] == ref_long[
        "family_id"].iloc[0]) & (ref_long["wave"] == 1)])
    with pytest.raises(DataError, match="no first wave"):
        fit(no_t1)
    three = pd.concat([ref_long, ref_long[ref_long["wave"] == 2].assign(wave=3)])
    with pytest.raises(DataError, match="exactly two waves"):
        fit(three, "ancova")
    assert fit(three).nobs == 2 * REF["n"]["entities"]      # FD: two consecutive changes each
    assert fit(three, "fixed_effects").nobs == 3 * REF["n"]["entities"]
    with pytest.raises(DataError, match="one wave"):
        fit(ref_long[ref_long["wave"] == 1], "fixed_effects")
    neg = ref_long.assign(w=ref_long["w"] - 5)
    with pytest.raises(DataError, match="negative"):
        fit(neg, weights="w")
    nan_w = ref_long.assign(w=ref_long["w"].where(ref_long.index != 3))
    with pytest.raises(DataError, match="missing"):
        fit(nan_w, weights="w")
    with pytest.raises(DesignError, match="one cluster"):
        fit(ref_long.assign(la="X"))
    varying = ref_long.assign(la=np.where(ref_long["wave"] == 1, "A", "B"))
    with pytest.raises(DataError, match="varies within"):
        fit(varying)
    with pytest.raises(DataError, match="method"):
        fit(ref_long, "pooled")
    with pytest.raises(DataError, match="inference"):
        fit(ref_long, inference="hc3")
    with pytest.raises(DataError, match="formula"):
        fit(ref_long, formula="sdq cohort")
    with pytest.raises(DataError, match="not found"):
        fit(ref_long, formula="nope ~ cohort")


def test_regressor_removed_by_fixed_effects_is_named():
    d = panel3()
    d = d.assign(trend=d["wave"] * 2.0)     # varies within entity, but collinear with waves
    with pytest.raises(DesignError, match="'trend'.*fixed effects"):
        fit(d, "fixed_effects", formula="y ~ x + trend", entity="id", cluster="cl")
    with pytest.raises(DesignError, match="'const'"):
        fit(d.assign(const=1.0), formula="y ~ const", entity="id", cluster="cl",
            method="random_effects")


# ---------------------------------------------------------------- fast paths (speed work)

@pytest.mark.parametrize("kind", ["cr0", "cr1"])
@pytest.mark.parametrize("weighted", [False, True])
def test_bincount_cr01_matches_kernel(kind, weighted):
    """The bincount CR0 / CR1 of change_model equals the cluster_vcov kernel."""
    from sosstats._kernels.cluster import cluster_vcov
    from sosstats.panel._inference import one_way_cr01

    rng = np.random.default_rng(3)
    n, p = 400, 3
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    resid = rng.normal(size=n)
    codes = rng.integers(0, 12, n)
    w = None
    if weighted:
        w = rng.uniform(0.2, 3.0, n)
        w[codes == 5] = 0.0                     # a cluster with no positive weight
        w[:7] = 0.0
    m = np.linalg.inv(X.T @ (X if w is None else X * w[:, None]))
    vc, g = one_way_cr01(X, resid, codes, w, 0.5 * (m + m.T), kind)
    ref = cluster_vcov(X, resid, codes, kind=kind, weights=w)
    np.testing.assert_allclose(vc, ref.vcov, rtol=1e-12, atol=1e-15)
    assert g == ref.n_clusters == (11 if weighted else 12)
    bad = resid.copy()
    bad[0] = np.inf
    assert one_way_cr01(X, bad, codes, w, m, kind) is None        # left to the kernel


@pytest.mark.parametrize("weighted", [False, True])
def test_normal_equation_wls_matches_lstsq(weighted):
    from sosstats.panel._inference import wls

    rng = np.random.default_rng(4)
    n = 300
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x, x + 1e-4 * rng.normal(size=n), 1e3 * rng.normal(size=n)])
    y = X @ [1.0, 2.0, -1.0, 0.001] + rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, n) if weighted else None
    rw = np.ones(n) if w is None else np.sqrt(w)
    ref = np.linalg.lstsq(X * rw[:, None], y * rw, rcond=None)[0]
    beta, resid = wls(X, y, w)
    np.testing.assert_allclose(beta, ref, rtol=1e-9)
    np.testing.assert_allclose(resid, y - X @ ref, atol=1e-9)
    singular = np.column_stack([X[:, :2], X[:, 1]])          # falls back to the min-norm fit
    ref = np.linalg.lstsq(singular * rw[:, None], y * rw, rcond=None)[0]
    np.testing.assert_allclose(wls(singular, y, w)[0], ref, rtol=1e-9)


def test_fast_layout_equals_general_layout(long):
    """Sorted complete frame (no codes, no scatter) = shuffled frame with string ids."""
    data = long.assign(sdq=long["sdq"].fillna(10.0))
    data.loc[data.index[[3, 10]], "sdq"] = np.nan          # two families dropped
    shuffled = data.sample(frac=1.0, random_state=7).assign(
        family_id=lambda d: "f" + d["family_id"].astype(str))
    for method in ["first_difference", "ancova", "fixed_effects", "random_effects"]:
        a = fit(data, method, formula="sdq ~ cohort + C(experience)", cluster="la_code")
        b = fit(shuffled, method, formula="sdq ~ cohort + C(experience)", cluster="la_code")
        assert a.n_dropped == b.n_dropped == 2
        np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy(), rtol=1e-10)
        np.testing.assert_allclose(a.std_errors.to_numpy(), b.std_errors.to_numpy(),
                                   rtol=1e-10)


@pytest.mark.parametrize("rhs", ["cohort + exp3 + exp2", "exp2 + 1 + cohort", "1", "exp3"])
def test_simple_and_entity_level_formulas_match_formulaic(ref_long, rhs):
    """Plain sums skip formulaic; entity-constant formulas are built once per entity."""
    from sosstats._formula import model_matrix
    from sosstats.panel._layout import rhs_grid, simple_terms

    data = ref_long.sort_values(["family_id", "wave"]).reset_index(drop=True)
    n = data["family_id"].nunique()
    full, terms, _ = model_matrix(rhs, data, na_action="ignore", intercept=False)
    assert simple_terms(rhs, data) == terms
    M, names, inv = rhs_grid(rhs, data, None, data.__getitem__, n, 2)
    assert names == terms and inv.all()
    np.testing.assert_array_equal(M, full)
    cat = f"C(la) + {rhs}"                                  # not simple: per-entity path
    assert simple_terms(cat, data) is None
    M, names, inv = rhs_grid(cat, data, None, data.__getitem__, n, 2)
    full, terms, _ = model_matrix(cat, data, na_action="ignore", intercept=False)
    assert names == terms and inv.all()
    np.testing.assert_array_equal(M, full)


def test_design_frame_is_built_lazily_from_the_data_at_fit_time(ref_long):
    data = ref_long.copy()
    res = fit(data, "fixed_effects")
    data["sdq"] = -1.0                                      # caller edits after the fit
    data["wave"] = 99
    assert (res.design["sdq"] != -1.0).all() and set(res.design["wave"]) == {1, 2}
    assert res.design is res.design                         # built once


def _small_panel(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    ids = np.arange(n)
    return pd.DataFrame({"id": np.repeat(ids, 2), "wave": np.tile([1, 2], n),
                         "y": rng.normal(size=2 * n), "coh": np.repeat(ids % 2, 2),
                         "pilot": np.repeat(ids % 5, 2), "w": 1.0})


@pytest.mark.parametrize("method", ["fixed_effects", "random_effects",
                                    "correlated_random_effects"])
def test_entity_with_zero_weight_at_every_wave_is_named(method):
    d = _small_panel()
    d.loc[0:1, "w"] = 0.0
    with pytest.raises(DataError, match=r"zero at every wave for 1 id: 0"):
        change_model("y ~ coh", d, entity="id", time="wave", method=method, weights="w")


def test_infinite_outcome_is_a_data_error_naming_the_entity():
    d = _small_panel()
    d.loc[3, "y"] = np.inf
    with pytest.raises(DataError, match=r"'y' has infinite values for 1 id: 1"):
        change_model("y ~ coh", d, entity="id", time="wave")


def test_zero_weight_cluster_is_refused_then_leverage_lists_the_others():
    """Issue 14: a cluster whose weights are all zero is an error (it used to drop out of G
    silently); without its rows, leverage lists the other clusters."""
    d = _small_panel()
    d.loc[d["pilot"] == 0, "w"] = 0.0
    with pytest.raises(DataError, match="zero in every row of cluster 0 of 'pilot'"):
        change_model("y ~ coh", d, entity="id", time="wave", weights="w", cluster="pilot",
                     inference="cr2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = change_model("y ~ coh", d[d["pilot"] != 0], entity="id", time="wave",
                           weights="w", cluster="pilot", inference="cr2")
    lev = res.leverage()
    assert list(lev.index) == [1, 2, 3, 4]
    assert (lev["n_obs"] == 8).all()


def test_wild_p_value_at_the_enumeration_floor_prints_as_a_bound():
    r = np.random.default_rng(1)
    n = 80
    data = pd.DataFrame({"id": np.repeat(np.arange(n), 2), "wave": np.tile([1, 2], n),
                         "cl": np.repeat(np.arange(n) % 10, 2)})
    data["y"] = r.normal(size=2 * n) + 3.0 * (data["wave"] == 2)
    res = change_model("y ~ 1", data, entity="id", time="wave", cluster="cl",
                       inference="wild")
    assert res.pvalues["Intercept"] == 0.0          # the number stays in tidy / pvalues
    text = str(res.summary())
    assert "< 0.001 (all 1,024 sign vectors)" in text
    assert "0.0000" not in text and "ties" in text
    assert res.p_value_text("Intercept") == "< 0.001 (all 1,024 sign vectors)"
    assert res.tidy()["n_resamples"].dtype.kind == "i"
    with pytest.raises(DataError, match="term"):
        res.p_value_text("nope")


def test_shared_formula_weights_and_matrix_helpers_are_used(ref_long):
    import sosstats.panel._design as design
    import sosstats.panel._layout as layout

    assert not hasattr(design, "parse_formula") and not hasattr(design, "_check_weights")
    assert not hasattr(layout, "rhs_matrix")
    with pytest.raises(DataError, match="one '~'"):            # sosstats._formula's message
        fit(ref_long, formula="sdq cohort")
    with pytest.raises(DataError, match="weights 'w' must be numeric"):
        fit(ref_long.assign(w=ref_long["w"] > 1), weights="w")
    with pytest.raises(DataError, match="weights 'w' must be non-negative"):
        fit(ref_long.assign(w=ref_long["w"] - 5), weights="w")
