"""Tests of sosstats.matching.effects (matched_effect, abadie_imbens_se).

Reference values: tests/fixtures/matching_effects_reference.R (R lm(..., weights = weights) on
MatchIt 4.5.1 match.data() with sandwich 3.0-2 vcovCL(cluster = ~subclass) and vcovHC).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.matching.abadie_imbens import abadie_imbens_se
from sosstats.matching.effects import matched_effect

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "matching_effects_reference_"
COVS = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]


@pytest.fixture(scope="module")
def ref():
    return (pd.read_csv(f"{FIX}input.csv"), pd.read_csv(f"{FIX}units.csv"),
            pd.read_csv(f"{FIX}effects.csv"))


CASES = [(d, m, v) for d in ("nn", "r2") for m in ("difference", "regression")
         for v in ("cr1", "cr0", "hc0", "hc1", "hc2", "hc3")]
CASES += [("nr", m, v) for m in ("difference", "regression") for v in ("hc0", "hc1", "hc2",
                                                                         "hc3")]


@pytest.mark.parametrize("design, model, vcov", CASES)
def test_matches_r_lm_sandwich(ref, design, model, vcov):
    data, units, eff = ref
    clustered = vcov.startswith("cr")
    res = matched_effect(data, "re78", "treat", weights=units[f"w_{design}"],
                         subclass=units[f"s_{design}"] if clustered else None,
                         covariates=COVS if model == "regression" else None,
                         cluster="subclass" if clustered else None, vcov=vcov)
    r = eff[(eff.design == design) & (eff.model == model) & (eff.vcov == vcov)]
    r = r.set_index("term")
    assert res.params["treat"] == pytest.approx(r.loc["treat", "estimate"], rel=1e-9)
    assert res.std_errors["treat"] == pytest.approx(r.loc["treat", "std_error"], rel=1e-8)
    # every coefficient, R names mapped (raceblack is R's baseline level)
    coef = res.coefficients.rename(index=lambda s: s.replace("race[", "race").rstrip("]")
                                   .replace("Intercept", "(Intercept)"))
    np.testing.assert_allclose(coef["estimate"], r["estimate"].reindex(coef.index), rtol=1e-8)
    np.testing.assert_allclose(coef["std_error"], r["std_error"].reindex(coef.index),
                               rtol=1e-8)
    assert res.inference == vcov
    if clustered:
        assert res.n_clusters == r["n_clusters"].iloc[0]
        assert res.table["df"].iloc[0] == res.n_clusters - 1
    else:
        assert res.n_clusters is None
        assert res.table["df"].iloc[0] == res.nobs - len(coef)


def test_difference_closed_form_and_statsmodels(ref):
    data, units, _ = ref
    w = units["w_r2"].to_numpy()
    t = data.treat.to_numpy() == 1
    y = data.re78.to_numpy()
    res = matched_effect(data, "re78", "treat", units["w_r2"], units["s_r2"])
    diff = np.average(y[t], weights=w[t]) - np.average(y[~t & (w > 0)], weights=w[~t & (w > 0)])
    assert res.params.iloc[0] == pytest.approx(diff, rel=1e-12)
    assert res.method == "difference" and res.estimand == "ATT"
    pos = w > 0
    X = sm.add_constant(t[pos].astype(float))
    sm_fit = sm.WLS(y[pos], X, weights=w[pos]).fit(
        cov_type="cluster", cov_kwds={"groups": units["s_r2"].to_numpy()[pos].astype(int)})
    assert res.std_errors.iloc[0] == pytest.approx(sm_fit.bse[1], rel=1e-10)
    ci = res.conf_int(0.9)
    assert ci["lower"].iloc[0] < diff < ci["upper"].iloc[0]
    tidy = res.tidy()
    assert list(tidy.columns[:7]) == ["term", "estimate", "std_error", "statistic", "p_value",
                                      "ci_lower", "ci_upper"]
    assert "cluster-robust CR1 by subclass" in str(res.summary())


def test_default_cluster_fallbacks(ref):
    data, units, _ = ref
    res = matched_effect(data, "re78", "treat", weights=units["w_nr"])
    assert res.inference == "hc3" and res.n_clusters is None
    res = matched_effect(data, "re78", "treat", units["w_nr"], units["s_nr"])   # all NaN
    assert res.inference == "hc3" and res.n_clusters is None
    with pytest.raises(DataError, match="missing for 2 matched row"):
        matched_effect(data, "re78", "treat", units["w_nn"], units["s_nn"].where(
            units["s_nn"] != 1))
    d2 = data.assign(subclass=units["s_nn"], w=units["w_nn"])
    a = matched_effect(d2, "re78", "treat", weights="w")
    b = matched_effect(data, "re78", "treat", weights=units["w_nn"], subclass=units["s_nn"])
    assert a.n_clusters == 185 and a.std_errors.iloc[0] == pytest.approx(b.std_errors.iloc[0])
    c = matched_effect(d2, "re78", "treat", weights="w", cluster="educ")   # few: CR2
    assert c.info["cluster_by"] == "educ" and c.n_clusters == d2.educ[d2.w > 0].nunique()
    assert c.inference == "cr2" and "default below 42 clusters" in str(c)
    with pytest.warns(SosstatsWarning, match="clusters"):                  # CR1 by name
        c1 = matched_effect(d2, "re78", "treat", weights="w", cluster="educ", vcov="cr1")
    assert c1.inference == "cr1" and c1.table["df"].iloc[0] == c1.n_clusters - 1


def test_weights_default_to_ones(ref):
    data, _, _ = ref
    res = matched_effect(data, "re78", "treat")
    same = matched_effect(data, "re78", "treat", np.ones(len(data)))
    assert res.params.iloc[0] == same.params.iloc[0]
    assert res.std_errors.iloc[0] == same.std_errors.iloc[0]
    assert res.nobs == len(data) and res.n_clusters is None
    t = data.treat.to_numpy() == 1
    y = data.re78.to_numpy()
    assert res.params.iloc[0] == pytest.approx(y[t].mean() - y[~t].mean(), rel=1e-12)
    ols = sm.OLS(y, sm.add_constant(t.astype(float))).fit(cov_type="HC3")
    assert res.std_errors.iloc[0] == pytest.approx(ols.bse[1], rel=1e-10)


def test_recovers_truth_on_simulated_families():
    ev = simulate_evaluation(rng=11, n_families=6000)
    fam = ev.families.copy()
    fam["treat"] = fam["previous_referral"].astype(int)
    strata = fam["experience"].astype(str) + fam["cohort"].astype(str) + \
        fam["agency_worker"].astype(str)
    fam["sub"] = pd.factorize(strata)[0]
    from sosstats.matching._inputs import subclass_weights
    w = subclass_weights(fam.treat.to_numpy() == 1, fam["sub"].to_numpy(), "ATT")
    truth = ev.truth["families"]["outcomes"]["sdq"]["previous_referral"]
    # 12 strata: too few clusters for CR1 (warned; CR2 is the default there), so
    # heteroskedasticity-robust errors
    with pytest.warns(SosstatsWarning, match=r"Only 12 clusters.*use vcov=.cr2."):
        matched_effect(fam, "sdq_t1", "treat", weights=w, subclass="sub", vcov="cr1")
    assert matched_effect(fam, "sdq_t1", "treat", weights=w, subclass="sub").inference == "cr2"
    res = matched_effect(fam, "sdq_t1", "treat", weights=w, cluster=None)
    est, se = res.params.iloc[0], res.std_errors.iloc[0]
    assert abs(est - truth) < 4 * se and 0.1 < se < 0.3
    reg = matched_effect(fam, "sdq_t1", "treat", weights=w, cluster=None,
                         covariates=["experience", "cohort", "agency_worker"])
    assert abs(reg.params.iloc[0] - truth) < 4 * reg.std_errors.iloc[0]


@st.composite
def matched(draw):
    n = draw(st.integers(10, 30))
    t = np.array([1, 0] * (n // 2))
    w = np.array(draw(st.lists(st.sampled_from([0.0, 1.0, 0.5, 2.0]), min_size=len(t),
                               max_size=len(t))))
    w[:4] = 1.0
    y = np.array(draw(st.lists(st.floats(-50, 50), min_size=len(t), max_size=len(t))))
    x = np.array(draw(st.lists(st.floats(-5, 5), min_size=len(t), max_size=len(t))))
    sub = np.arange(len(t)) // 2
    return pd.DataFrame({"t": t, "y": y, "x": x, "s": sub}), w


@pytest.mark.filterwarnings("ignore::sosstats.errors.SosstatsWarning")
@settings(max_examples=30, deadline=None)
@given(matched(), st.integers(0, 10**6), st.floats(0.2, 5))
def test_invariances(sample, seed, scale):
    d, w = sample
    try:
        a = matched_effect(d, "y", "t", weights=w, subclass="s")
    except DesignError:
        return                                    # e.g. a single cluster left
    perm = np.random.default_rng(seed).permutation(len(d))
    b = matched_effect(d.iloc[perm], "y", "t", weights=w[perm] * scale, subclass="s")
    np.testing.assert_allclose(b.params, a.params, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(b.std_errors, a.std_errors, rtol=1e-6, atol=1e-8)
    # unmatched rows with any outcome (even NaN) change nothing
    extra = pd.DataFrame({"t": [1, 0], "y": [np.nan, 1e6], "x": [0.0, 0.0], "s": [99, 99]})
    c = matched_effect(pd.concat([d, extra], ignore_index=True), "y", "t",
                       weights=np.r_[w, 0.0, 0.0], subclass="s")
    np.testing.assert_allclose(c.std_errors, a.std_errors, rtol=1e-10)


def _tiny():
    return pd.DataFrame({"t": [1, 1, 0, 0, 0, 1], "y": [3.0, 4.0, 1.0, 2.0, 0.5, 5.0],
                         "x": [1.0, 2.0, 1.5, 2.5, 0.0, 3.0], "s": [1, 2, 1, 2, np.nan, 3],
                         "w": [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]})


@pytest.mark.parametrize("change, kwargs, exc, match", [
    (lambda d: d.assign(t=[1, 1, 0, 0, 0, 3]), {}, DataError, "must be 0/1"),
    (lambda d: d.assign(y=[np.nan, 4, 1, 2, 0, 5]), {}, DataError, "1 missing or infinite"),
    (lambda d: d.assign(y=["a"] * 6), {}, DataError, "must be numeric"),
    (lambda d: d.assign(w=[1, 1, -1, 1, 0, 0]), {}, DataError, "non-negative"),
    (lambda d: d.assign(w=[0, 0, 1, 1, 0, 0]), {}, DesignError, "no treated unit"),
    (lambda d: d, {"vcov": "hc3"}, DataError, "`vcov`"),
    (lambda d: d, {"cluster": None, "vcov": "cr1"}, DataError, "`vcov`"),
    (lambda d: d, {"method": "regression"}, DataError, "needs `covariates`"),
    (lambda d: d, {"covariates": ["x"], "method": "difference"}, DataError, "takes no"),
    (lambda d: d, {"estimand": "LATE"}, DataError, "`estimand`"),
    (lambda d: d.assign(s=[1, 1, 1, 1, np.nan, 1]), {}, DesignError, "single cluster"),
    (lambda d: d.assign(x=[2.0] * 6), {"covariates": ["x"]}, DesignError, "collinear"),
    (lambda d: d, {"level": 1.5}, DataError, "`level`"),
])
def test_bad_inputs(change, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        matched_effect(change(_tiny()), "y", "t", weights="w", subclass="s", **kwargs)


# ------------------------------------------------------------------ Abadie-Imbens

def _brute_ai(x, t, y, M, J, estimand, population, g=None):
    """Literal transcription of Abadie & Imbens (2006) with explicit loops (Euclidean).

    ``g``: exact strata; matches and same-group neighbours only within a unit's stratum.
    """
    n = len(y)
    g = np.zeros(n) if g is None else g
    near = {i: sorted((j for j in range(n) if t[j] != t[i] and g[j] == g[i]),
                      key=lambda j: (abs(x[i] - x[j]), j))[:M] for i in range(n)}
    same = {i: sorted((j for j in range(n) if t[j] == t[i] and j != i and g[j] == g[i]),
                      key=lambda j: (abs(x[i] - x[j]), j))[:J] for i in range(n)}
    focal = [i for i in range(n) if (estimand == "ATE") or (t[i] == (estimand == "ATT"))]
    K = np.zeros(n)
    for i in focal:
        for j in near[i]:
            K[j] += 1
    s2 = np.array([J / (J + 1) * (y[i] - np.mean([y[j] for j in same[i]])) ** 2
                   for i in range(n)])
    unit = np.array([(y[i] - np.mean(y[near[i]])) * (1 if t[i] else -1) for i in focal])
    tau, N = unit.mean(), len(focal)
    if estimand == "ATE":
        if population:
            v = (np.sum((unit - tau) ** 2) + np.sum(((K / M) ** 2 + (2 * M - 1) / M * K / M)
                                                    * s2)) / N ** 2
        else:
            v = np.sum((1 + K / M) ** 2 * s2) / N ** 2
    else:
        other = np.array([i not in focal for i in range(n)])
        if population:
            v = (np.sum((unit - tau) ** 2) + np.sum((K * (K - 1) / M ** 2 * s2)[other])) / N ** 2
        else:
            a = np.where(other, K / M, 1.0)
            v = np.sum(a ** 2 * s2) / N ** 2
    return tau, np.sqrt(v), K


@pytest.mark.parametrize("estimand", ["ATT", "ATC", "ATE"])
@pytest.mark.parametrize("M, J", [(1, 1), (2, 1), (1, 2), (3, 2)])
@pytest.mark.parametrize("population", [True, False])
def test_abadie_imbens_brute_force(estimand, M, J, population):
    rng = np.random.default_rng(M * 10 + J)
    n = 24
    x = rng.permutation(np.linspace(0, 10, n)) + rng.normal(0, 0.01, n)   # no ties
    t = np.r_[np.ones(10), np.zeros(14)].astype(int)
    y = x + t + rng.normal(size=n)
    d = pd.DataFrame({"x": x, "t": t, "y": y})
    res = abadie_imbens_se(d, "y", "t", "x", M=M, J=J, estimand=estimand,
                           population=population, metric="euclidean")
    tau, se, K = _brute_ai(x, t, y, M, J, estimand, population)
    assert res.params.iloc[0] == pytest.approx(tau, rel=1e-12)
    assert res.std_errors.iloc[0] == pytest.approx(se, rel=1e-12)
    np.testing.assert_array_equal(res.match_counts.to_numpy(), K)
    # 1-D: every metric orders neighbours alike
    other = abadie_imbens_se(d, "y", "t", "x", M=M, J=J, estimand=estimand,
                             population=population)
    assert other.std_errors.iloc[0] == pytest.approx(se, rel=1e-12)


def test_abadie_imbens_with_pairs():
    rng = np.random.default_rng(2)
    n = 30
    d = pd.DataFrame({"x": rng.normal(size=n), "t": np.r_[np.ones(12), np.zeros(18)].astype(int)},
                     index=[f"u{i}" for i in range(n)])
    d["y"] = d.x + d.t + rng.normal(size=n)
    res = abadie_imbens_se(d, "y", "t", "x", M=2)
    tr, co = d.index[d.t == 1], d.index[d.t == 0]
    pairs = pd.DataFrame({"treated": np.repeat(tr, 2),
                          "control": [co[np.argsort(np.abs(d.x[co].to_numpy() - d.x[i]))[k]]
                                      for i in tr for k in range(2)]})
    via = abadie_imbens_se(d, "y", "t", "x", pairs=pairs)
    assert via.std_errors.iloc[0] == pytest.approx(res.std_errors.iloc[0], rel=1e-12)
    # variable numbers of matches (e.g. after a caliper): general lambda / rho formula
    p2 = pd.concat([pairs.iloc[:1], pairs.iloc[2:]])
    got = abadie_imbens_se(d, "y", "t", "x", pairs=p2)
    y, s2 = d.y, got.sigma2
    m_i = p2.groupby("treated").size()
    unit = np.array([y[i] - y[p2.control[p2.treated == i]].mean() for i in m_i.index])
    tau = unit.mean()
    lam = p2.assign(s=1 / m_i[p2.treated].to_numpy()).groupby("control")["s"]
    extra = ((lam.sum() ** 2 - lam.apply(lambda s: (s ** 2).sum())) * s2[lam.sum().index]).sum()
    se = np.sqrt((((unit - tau) ** 2).sum() + extra) / len(unit) ** 2)
    assert got.params.iloc[0] == pytest.approx(tau, rel=1e-12)
    assert got.std_errors.iloc[0] == pytest.approx(se, rel=1e-12)


@pytest.mark.parametrize("estimand", ["ATT", "ATC", "ATE"])
@pytest.mark.parametrize("M, J", [(1, 1), (2, 2)])
def test_abadie_imbens_exact_strata_brute_force(estimand, M, J):
    rng = np.random.default_rng(7 + M)
    n = 40
    x = rng.permutation(np.linspace(0, 10, n)) + rng.normal(0, 0.01, n)
    t = np.tile([1, 0, 0, 1, 0], 8)
    g = np.repeat(["p", "q"], 20)            # x spans both strata: neighbours would cross
    y = x + t + 3 * (g == "q") + rng.normal(size=n)
    d = pd.DataFrame({"x": x, "t": t, "y": y, "g": g})
    res = abadie_imbens_se(d, "y", "t", "x", M=M, J=J, estimand=estimand, exact="g",
                           metric="euclidean")
    tau, se, K = _brute_ai(x, t, y, M, J, estimand, True, g=g)
    assert res.params.iloc[0] == pytest.approx(tau, rel=1e-12)
    assert res.std_errors.iloc[0] == pytest.approx(se, rel=1e-12)
    np.testing.assert_array_equal(res.match_counts.to_numpy(), K)
    # the strata matter: ignoring them crosses into the other pilot
    plain = abadie_imbens_se(d, "y", "t", "x", M=M, J=J, estimand=estimand,
                             metric="euclidean")
    assert not np.allclose(plain.sigma2, res.sigma2)


def test_abadie_imbens_pairs_with_exact_strata():
    """Pairs from match(exact=...): sigma^2 neighbours come from the same stratum only."""
    from sosstats.matching import match

    rng = np.random.default_rng(3)
    n = 60
    d = pd.DataFrame({"x": rng.normal(size=n), "t": np.tile([1, 0, 0], 20),
                      "g": np.repeat(["a", "b", "c"], 20)}, index=[f"u{i}" for i in range(n)])
    d["y"] = 0.1 * d.x + d.t + 5.0 * (d.g == "b") + rng.normal(0, 0.1, n)
    m = match(d, treatment="t", distance="x", exact="g", ratio=2, replace=True)
    res = abadie_imbens_se(d, "y", "t", "x", pairs=m.pairs, exact="g", metric="euclidean")
    # brute-force sigma^2 within strata (J = 1)
    x, t, y, g = d.x.to_numpy(), d.t.to_numpy(), d.y.to_numpy(), d.g.to_numpy()
    s2 = [0.5 * (y[i] - y[min((j for j in range(n) if t[j] == t[i] and g[j] == g[i] and j != i),
                              key=lambda j: abs(x[i] - x[j]))]) ** 2 for i in range(n)]
    np.testing.assert_allclose(res.sigma2.to_numpy(), s2, rtol=1e-12)
    assert res.sigma2.max() < 1.0          # no neighbour across the 5-point pilot shift
    plain = abadie_imbens_se(d, "y", "t", "x", pairs=m.pairs, metric="euclidean")
    assert plain.sigma2.max() > 5.0 and plain.params.iloc[0] == res.params.iloc[0]


def test_abadie_imbens_exact_bad_inputs():
    d = _tiny().assign(g=["a", "a", "a", "b", "b", "b"])
    with pytest.raises(DataError, match="`exact` column"):
        abadie_imbens_se(d, "y", "t", "x", exact="nope")
    with pytest.raises(DataError, match="missing values"):
        abadie_imbens_se(d.assign(g=["a", None, "a", "b", "b", "b"]), "y", "t", "x", exact="g")
    with pytest.raises(DesignError, match="M=2 matches within the `exact` strata"):
        abadie_imbens_se(d, "y", "t", "x", exact="g", M=2)      # stratum a: 1 control
    with pytest.raises(DesignError, match="J=1 same-group neighbours within the `exact`"):
        abadie_imbens_se(d, "y", "t", "x", exact="g")   # a's lone control is used twice
    # 1:1 strata: no sigma^2 is needed in the ATT population variance (treated units and
    # controls used once have weight 0), so lone units are fine
    ok = abadie_imbens_se(d.assign(g=["a", "b", "a", "b", "c", "c"]), "y", "t", "x",
                          exact="g")
    assert ok.sigma2.isna().all() and ok.std_errors.iloc[0] == pytest.approx(
        np.std([3 - 1, 4 - 2, 5 - 0.5]) / np.sqrt(3), rel=1e-12)


def test_abadie_imbens_covers_better_than_naive():
    rng = np.random.default_rng(0)
    hits_ai = hits_naive = 0
    reps = 300
    for _ in range(reps):
        x = np.r_[rng.integers(2, 8, 120), rng.integers(0, 8, 80)].astype(float)
        t = np.r_[np.ones(120), np.zeros(80)].astype(int)
        d = pd.DataFrame({"x": x, "t": t, "y": 0.5 * x + t + rng.normal(size=200)})
        res = abadie_imbens_se(d, "y", "t", "x", metric="euclidean")
        err = abs(res.params.iloc[0] - 1.0)
        hits_ai += err < 1.96 * res.std_errors.iloc[0]
        hits_naive += err < 1.96 * res.naive_std_error
    assert 0.90 <= hits_ai / reps <= 0.98          # measured 0.937
    assert hits_naive / reps < 0.75                # measured 0.50: reuse of controls ignored


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"pairs": pd.DataFrame({"treated": [0], "control": [3]}), "estimand": "ATE"}, DataError,
     "estimand must be 'ATT'"),
    ({"pairs": pd.DataFrame({"treated": [0], "control": [99]})}, DataError, "not in"),
    ({"pairs": pd.DataFrame({"treated": [2], "control": [3]})}, DataError, "pair treated"),
    ({"pairs": pd.DataFrame({"a": [0]})}, DataError, "columns 'treated'"),
    ({"J": 5}, DesignError, "J=5"),
    ({"M": 0}, DesignError, "`M`"),
    ({"M": 9}, DesignError, "M=9"),
    ({"metric": "cosine"}, DataError, "`metric`"),
])
def test_abadie_imbens_bad_inputs(kwargs, exc, match):
    d = _tiny()
    with pytest.raises(exc, match=match):
        abadie_imbens_se(d, "y", "t", "x", **kwargs)


def test_abadie_imbens_bad_data():
    d = _tiny()
    with pytest.raises(DataError, match="missing or infinite"):
        abadie_imbens_se(d.assign(y=[np.nan, 4, 1, 2, 0, 5]), "y", "t", "x")
    with pytest.raises(DataError, match="must be 0/1"):
        abadie_imbens_se(d.assign(t=[1, 1, 0, 0, 0, 2]), "y", "t", "x")
    with pytest.raises(DesignError, match="singular"):
        abadie_imbens_se(d.assign(z=2 * d.x), "y", "t", ["x", "z"])


def test_wald_test_and_contrast_on_matched_effects(ref):
    """Issue 13/14: one joint-test vocabulary on every linear result."""
    data, units, _ = ref
    d2 = data.assign(subclass=units["s_nn"], w=units["w_nn"])
    res = matched_effect(d2, "re78", "treat", weights="w", covariates=["age", "educ"],
                         cluster="educ")
    coefs = res.coefficients
    one = res.wald_test("treat")
    assert res.inference == "cr2" and one.test == "htz"
    assert one.statistic == pytest.approx(coefs.loc["treat", "statistic"] ** 2, rel=1e-10)
    assert one.df_denom == pytest.approx(coefs.loc["treat", "df"], rel=1e-9)
    joint = res.wald_test(["age", "educ"])
    assert joint.df_num == 2 and 0 <= joint.p_value <= 1
    c = res.contrast({"age": 1, "educ": -1})
    V = res.vcov.loc[["age", "educ"], ["age", "educ"]].to_numpy()
    assert c.std_error == pytest.approx(np.sqrt(V[0, 0] + V[1, 1] - 2 * V[0, 1]), rel=1e-12)
    hc = matched_effect(d2, "re78", "treat", weights="w", covariates=["age"], cluster=None)
    f = hc.wald_test(["treat", "age"])
    assert f.test == "f" and f.df_denom == hc.nobs - 3 and f.n_clusters is None
    with pytest.raises(DesignError, match="needs cluster-robust CR2"):
        hc.wald_test("treat", test="htz")
