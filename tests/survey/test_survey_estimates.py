"""Tests of design.mean / total / proportion / quantile (sosstats.survey.estimates).

Reference: R survey 4.1.1 (svymean, svytotal, svyby, svyciprop, svyquantile with deff) on
data(api), frozen in tests/fixtures/survey_estimates_reference_r.csv by
survey_estimates_reference.R (designs described there); closed forms for Wilson and the
Korn-Graubard interval at 0%; invariances (row order, relabelled categories, weight scale);
bad input.
"""


import numpy as np
import pandas as pd
import pytest
from _api_designs import DESIGNS, FIX, api  # this folder: the shared api designs
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sosstats._results import Result
from sosstats.errors import DataError
from sosstats.survey import SurveyDesign

CASES = list(DESIGNS)


@pytest.fixture(scope="module")
def ref():
    return pd.read_csv(FIX / "survey_estimates_reference_r.csv", keep_default_na=False,
                       na_values=[""], dtype={"domain": str})


@pytest.fixture(scope="module")
def designs():
    return {k: f() for k, f in DESIGNS.items()}


def by_of(case):
    return "sch.wide" if case.startswith("strat") else "stype"


def pby_of(case):
    return "comp.imp" if case.startswith("strat") else "stype"


def r_rows(ref, case, statistic):
    return ref[(ref.case == case) & (ref.statistic == statistic)]


def ours(res, variable, domain=None, level=None, q=None):
    t = res.tidy()
    sel = t["variable"] == variable
    if "level" in t:
        sel &= t["level"] == level if level is not None else True
    if "quantile" in t and q is not None:
        sel &= np.isclose(t["quantile"].astype(float), q)
    if domain is not None:
        sel &= t["domain"] == domain
    assert sel.sum() == 1, (variable, domain, level)
    return t[sel].iloc[0]


def check(row, r, *, est=1e-12, se=1e-10, deff=1e-10, ci=None):
    assert row["estimate"] == pytest.approx(r.estimate, rel=est)
    if not np.isnan(r.se):
        assert row["std_error"] == pytest.approx(r.se, rel=se)
    if not np.isnan(r.deff):
        assert row["deff"] == pytest.approx(r.deff, rel=deff)
        assert row["ess"] == pytest.approx(row["n"] / r.deff, rel=deff)
    if ci is not None and not np.isnan(r.lower):
        assert row["ci_lower"] == pytest.approx(r.lower, rel=ci)
        assert row["ci_upper"] == pytest.approx(r.upper, rel=ci)


# ----------------------------------------------------------------------------- R survey

VARS = ["api00", "api99", "meals", "enroll"]


@pytest.mark.parametrize("case", CASES)
def test_mean_and_total(case, ref, designs):
    d = designs[case]
    for fun, stat in ((d.mean, "mean"), (d.total, "total")):
        res = fun(VARS, deff="noreplace")
        rows = r_rows(ref, case, stat)
        assert len(rows) == 4
        for _, r in rows.iterrows():
            check(ours(res, r.variable), r)


@pytest.mark.parametrize("case", CASES)
def test_mean_and_total_by_domain(case, ref, designs):
    d = designs[case]
    for fun, stat in ((d.mean, "mean_by"), (d.total, "total_by")):
        res = fun(VARS, by=by_of(case), deff="noreplace")
        rows = r_rows(ref, case, stat)
        assert len(rows) == len(res.tidy())
        for _, r in rows.iterrows():
            check(ours(res, r.variable, r.domain), r)


@pytest.mark.parametrize("case", CASES)
def test_proportions_of_every_level(case, ref, designs):
    d = designs[case]
    res = d.proportion("sch.wide", deff="noreplace")
    for _, r in r_rows(ref, case, "prop").iterrows():
        check(ours(res, "sch.wide", level=r.variable.removeprefix("sch.wide")), r)
    res = d.proportion("sch.wide", by=pby_of(case), deff="noreplace")
    for _, r in r_rows(ref, case, "prop_by").iterrows():
        check(ours(res, "sch.wide", r.domain, level=r.variable.removeprefix("sch.wide")), r)


@pytest.mark.parametrize("method", ["beta", "mean", "xlogit", "logit"])
@pytest.mark.parametrize("case", CASES)
def test_ciprop_intervals(case, method, ref, designs):
    d = designs[case]
    # R's "logit" comes from an iterated svyglm fit: agreement to its convergence
    tol = 1e-9 if method == "logit" else 1e-10   # logit: 4.5e-11 reached
    res = d.proportion("sch.wide", method=method)
    r = r_rows(ref, case, f"ciprop_{method}").iloc[0]
    check(ours(res, "sch.wide", level="Yes"), r, est=tol, ci=tol)
    res = d.proportion("sch.wide", by=pby_of(case), method=method)
    for _, r in r_rows(ref, case, f"ciprop_{method}_by").iterrows():
        check(ours(res, "sch.wide", r.domain, level="Yes"), r, est=tol, se=tol, ci=tol)


@pytest.mark.parametrize("case", CASES)
def test_quantiles_woodruff(case, ref, designs):
    d = designs[case]
    quirks = 0

    def compare(row, r, data):
        nonlocal quirks
        assert row["estimate"] == r.estimate
        assert row["ci_upper"] == pytest.approx(r.upper, rel=1e-12, nan_ok=True)
        if not (row["ci_lower"] == r.lower or np.isnan(row["ci_lower"]) and np.isnan(r.lower)):
            # only where survey's qs() steps past the smallest value (documented departure)
            assert row["ci_lower"] == data["api00"].min()
            assert r.lower == np.sort(data["api00"].to_numpy())[1]
            quirks += 1
        else:
            assert row["std_error"] == pytest.approx(r.se, rel=1e-10, nan_ok=True)
            assert row["ci_lower"] == pytest.approx(r.lower, rel=1e-12, nan_ok=True)

    res = d.quantile("api00", [0.1, 0.25, 0.5, 0.9])
    for _, r in r_rows(ref, case, "quantile").iterrows():
        compare(ours(res, "api00", q=float(r.variable.split("@")[1])), r, d.data)
    res = d.quantile("api00", 0.5, by=by_of(case))
    for _, r in r_rows(ref, case, "quantile_by").iterrows():
        compare(ours(res, "api00", r.domain, q=0.5), r,
                d.data[d.data[by_of(case)] == r.domain])
    assert quirks <= 2


# ----------------------------------------------------------------------------- intervals

def test_beta_interval_at_zero_and_one():
    d = api("apiclus1")
    design = SurveyDesign(d, cluster="dnum", weights="pw", fpc="fpc")
    res = design.proportion("yr.rnd", by="stype", method="beta")
    t = res.tidy().set_index("term")
    zero = t.loc["yr.rnd=Yes[stype=H]"]
    assert zero["estimate"] == 0 and zero["ci_lower"] == 0
    n, ddf = int(zero["n"]), zero["domain_df"]
    assert ddf == design.data.loc[design.data.stype == "H", "dnum"].nunique() - 1
    ne = n * (stats.t.ppf(0.025, n - 1) / stats.t.ppf(0.025, ddf)) ** 2
    assert zero["ci_upper"] == pytest.approx(1 - 0.025 ** (1 / ne), rel=1e-10)
    one = t.loc["yr.rnd=No[stype=H]"]
    assert one["ci_upper"] == 1 and one["ci_lower"] == pytest.approx(0.025 ** (1 / ne))
    # logit has no interval there
    lg = design.proportion("yr.rnd", by="stype").tidy().set_index("term")
    assert np.isnan(lg.loc["yr.rnd=Yes[stype=H]", "ci_upper"])


def test_wilson_closed_form_and_srs():
    rng = np.random.default_rng(3)
    d = pd.DataFrame({"y": rng.random(400) < 0.3})
    design = SurveyDesign(d)
    res = design.proportion("y", method="wilson").tidy().set_index("term")
    p, n = d["y"].mean(), 400
    t = stats.t.ppf(0.975, n - 1)
    se = np.sqrt(p * (1 - p) / (n - 1))        # the with-replacement SE of a mean, n/(n-1)
    ne = p * (1 - p) / se ** 2
    centre = (p + t ** 2 / (2 * ne)) / (1 + t ** 2 / ne)
    half = t * np.sqrt(p * (1 - p) / ne + t ** 2 / (4 * ne ** 2)) / (1 + t ** 2 / ne)
    row = res.loc["y=True"]
    assert row["std_error"] == pytest.approx(se, rel=1e-12)
    assert row["ci_lower"] == pytest.approx(centre - half, rel=1e-12)
    assert row["ci_upper"] == pytest.approx(centre + half, rel=1e-12)
    # equal-probability sample without clusters: design effect 1 (with replacement reference)
    assert row["deff"] == pytest.approx(1.0, rel=1e-12)


def test_intervals_at_another_level():
    design = DESIGNS["clus1"]()
    res = design.proportion("sch.wide", method="beta")
    a, b = res.conf_int(0.9), res.conf_int(0.95)
    assert (a["lower"] > b["lower"]).all() and (a["upper"] < b["upper"]).all()
    q = design.quantile("api00", 0.5)
    assert q.conf_int(0.5)["upper"].iloc[0] <= q.conf_int()["upper"].iloc[0]
    m = design.mean("api00")
    ci = m.conf_int(0.9).iloc[0]
    half = stats.t.ppf(0.95, 14) * m.std_errors.iloc[0]
    assert ci["upper"] - m.params.iloc[0] == pytest.approx(half, rel=1e-12)


# ----------------------------------------------------------------------------- results

def test_result_protocol_and_tables():
    design = DESIGNS["clus1"]()
    res = design.proportion("sch.wide", by="stype", method="beta")
    assert isinstance(res, Result)
    tidy = res.tidy()
    for c in ["term", "estimate", "std_error", "statistic", "p_value", "ci_lower", "ci_upper",
              "df", "deff", "ess", "n", "sum_weights", "variable", "level", "domain"]:
        assert c in tidy.columns
    assert (tidy["df"] == 14).all()
    text = str(res)
    assert "df = clusters - 1 = 14" in text and "percent" in text
    wide = res.wide()
    assert list(wide.columns) == ["sch.wide=No", "sch.wide=Yes"]
    assert list(wide.index) == ["E", "H", "M"]
    np.testing.assert_allclose(wide.sum(axis=1), 1.0, rtol=1e-12)
    assert res.cov.shape == (6, 6)
    d = res.to_dict()
    assert d["estimates"][0]["term"] == "sch.wide=No[stype=E]"
    m = design.mean("api00", by="stype")
    assert m.tidy()["p_value"].notna().all()
    assert m.summary().to_frame().shape[0] == 3


def test_plots():
    import matplotlib

    matplotlib.use("Agg")
    design = DESIGNS["clus1"]()
    ax = design.proportion("sch.wide", by="stype", method="beta").plot()
    assert len(ax.patches) == 6
    ax = design.mean("api00", by="stype").plot()
    assert len(ax.get_yticklabels()) == 3


def test_likert_categories_keep_order_and_unused_levels():
    d = api("apiclus1")
    d["use"] = pd.Categorical(np.where(d["api00"] > 700, "all",
                                       np.where(d["api00"] > 550, "some", "none")),
                              categories=["all", "some", "none", "never"], ordered=True)
    design = SurveyDesign(d, cluster="dnum", weights="pw")
    res = design.proportion("use", by="stype", method="beta")
    assert list(res.wide().columns) == ["use=all", "use=some", "use=none", "use=never"]
    never = res.tidy().query("level == 'never'")
    assert (never["estimate"] == 0).all() and (never["ci_upper"] > 0).all()


def test_missing_values_and_missing_domains():
    d = api("apiclus1")
    d.loc[:9, "api00"] = np.nan
    d.loc[10:14, "stype"] = None
    design = SurveyDesign(d, cluster="dnum", weights="pw")
    res = design.mean("api00", by="stype")
    assert res.tidy()["n"].sum() == len(d) - 15
    assert "missing `by` value" in str(res)
    full = design.mean("api00")
    assert full.tidy()["n"].iloc[0] == len(d) - 10


def test_multiple_by_columns():
    design = DESIGNS["clus1"]()
    res = design.mean("api00", by=["stype", "sch.wide"])
    t = res.tidy()
    assert t["term"].iloc[0] == "api00[stype=E, sch.wide=No]"
    sub = design.data[(design.data.stype == "E") & (design.data["sch.wide"] == "No")]
    w = sub["pw"].to_numpy()
    assert t["estimate"].iloc[0] == pytest.approx(np.sum(w * sub.api00) / w.sum())


def test_replicate_design_mean():
    from sosstats.datasets import simulate_evaluation
    from sosstats.weighting import replicate_weights, weighted_mean

    f = simulate_evaluation(rng=0).families
    rw = replicate_weights(f, responded="responded_t2", covariates=["previous_referral"],
                           cluster="la_code", n_replicates=30, rng=1)
    design = SurveyDesign(f, weights=rw)
    ours_ = design.mean("sdq_t2").tidy().iloc[0]
    theirs = weighted_mean(f, "sdq_t2", weights=rw).tidy().iloc[0]
    assert ours_["estimate"] == pytest.approx(theirs["estimate"], rel=1e-12)
    assert ours_["std_error"] == pytest.approx(theirs["std_error"], rel=1e-10)


# ----------------------------------------------------------------------------- invariances

@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.01, 1000))
def test_invariances(seed, c):
    rng = np.random.default_rng(seed)
    d = api("apistrat")
    base = SurveyDesign(d, cluster="dnum", strata="stype", weights="pw", nest=True)
    prop = base.proportion("sch.wide", by="awards", method="beta").tidy()
    mean = base.mean("api00", by="awards").tidy()
    e = d.iloc[rng.permutation(len(d))].reset_index(drop=True)
    e = e.assign(pw=e["pw"] * c, dnum=e["dnum"] + 10_000,
                 **{"sch.wide": e["sch.wide"].map({"No": "b-no", "Yes": "a-yes"})})
    other = SurveyDesign(e, cluster="dnum", strata="stype", weights="pw", nest=True)
    prop2 = other.proportion("sch.wide", by="awards", method="beta").tidy()
    mean2 = other.mean("api00", by="awards").tidy()
    for t in (prop2,):
        t["level"] = t["level"].map({"b-no": "No", "a-yes": "Yes"})
    key = ["domain", "level"]
    a = prop.set_index(key).sort_index()
    b = prop2.set_index(key).sort_index()
    for col in ["estimate", "std_error", "ci_lower", "ci_upper", "n"]:
        np.testing.assert_allclose(b[col], a[col], rtol=1e-9)
    # deff uses N = sum of weights (a finite-population SRS), so it changes with the scale;
    # the with-replacement reference does not
    r1 = base.mean("api00", by="awards", deff="replace").tidy()
    r2 = other.mean("api00", by="awards", deff="replace").tidy()
    np.testing.assert_allclose(r2["deff"], r1["deff"], rtol=1e-9)
    for col in ["estimate", "std_error", "ci_lower", "ci_upper"]:
        np.testing.assert_allclose(mean2[col], mean[col], rtol=1e-9)
    q1 = base.quantile("api00", [0.25, 0.5], by="awards").tidy()
    q2 = other.quantile("api00", [0.25, 0.5], by="awards").tidy()
    np.testing.assert_allclose(q2["estimate"], q1["estimate"])


# ----------------------------------------------------------------------------- bad input

def test_bad_inputs():
    design = DESIGNS["clus1"]()
    with pytest.raises(DataError, match="'nope' not found"):
        design.mean("nope")
    with pytest.raises(DataError, match="`by` column 'nope' not found"):
        design.mean("api00", by="nope")
    with pytest.raises(DataError, match="`method` must be one of"):
        design.proportion("sch.wide", method="exact")
    with pytest.raises(DataError, match="`q` must be probabilities"):
        design.quantile("api00", 1.5)
    with pytest.raises(DataError, match="must be numeric for a quantile"):
        design.quantile("stype")
    with pytest.raises(DataError, match="`level`"):
        design.mean("api00", level=95)
    with pytest.raises(DataError, match="`deff`"):
        design.mean("api00", deff=True)
    d = design.data.assign(mixed=["n/a"] + list(range(len(design.data) - 1)))
    with pytest.raises(DataError, match="mixes numbers with text"):
        SurveyDesign(d, cluster="dnum", weights="pw").mean("mixed")
    with pytest.raises(DataError, match="must be a SurveyDesign"):
        from sosstats.survey.estimates import mean
        mean(design.data, "api00")


def test_inputs_never_modified():
    d = api("apiclus1")
    before = d.copy()
    design = SurveyDesign(d, cluster="dnum", weights="pw", fpc="fpc")
    design.proportion("sch.wide", by="stype", method="wilson")
    design.quantile("api00", 0.5, by="stype")
    pd.testing.assert_frame_equal(d, before)
    pd.testing.assert_frame_equal(design.data, before)


# ----------------------------------------------------------------------------- code paths

@pytest.mark.parametrize("case", ["clus1", "strat", "clus2", "lonely_average"])
def test_cell_path_equals_row_score_path(case, designs, monkeypatch):
    """The (unit x domain) cell route equals the row-level scores, blockwise or not."""
    import sosstats.survey.estimates as est_mod

    d = designs[case]
    data = d.data.copy()
    data.loc[data.index[::7], "api00"] = np.nan           # missing values in one column
    design = SurveyDesign(data, cluster=d.cluster, strata=d.strata,
                          weights=None if case == "clus2" else "pw", fpc=d.fpc,
                          nest=d.nest, lonely_psu=d.lonely_psu)
    fast = [design.mean(["api00", "meals"], by="stype"), design.total(["api00"], by="stype"),
            design.proportion("sch.wide", by="stype")]
    monkeypatch.setattr(est_mod, "DENSE_LIMIT", 50)       # rows, then blocks of domains
    slow = [design.mean(["api00", "meals"], by="stype"), design.total(["api00"], by="stype"),
            design.proportion("sch.wide", by="stype")]
    for a, b in zip(fast, slow):
        ta, tb = a.tidy(), b.tidy()
        for col in ["estimate", "std_error", "deff", "ci_lower", "ci_upper", "n"]:
            np.testing.assert_allclose(ta[col], tb[col], rtol=1e-10)
        ca, cb = a.cov.to_numpy(), b.cov.to_numpy()
        np.testing.assert_allclose(ca, cb, rtol=1e-9, atol=1e-12 * np.nanmax(np.abs(cb)))


def test_domain_df_option():
    design = DESIGNS["clus1"]()
    data = design.data
    per = data.groupby("stype")["dnum"].nunique()
    a = design.mean("api00", by="stype").tidy().set_index("domain")
    b = design.mean("api00", by="stype", df="domain").tidy().set_index("domain")
    assert (a["df"] == 14).all()
    np.testing.assert_array_equal(a["domain_df"], per.loc[a.index] - 1)
    np.testing.assert_array_equal(b["df"], per.loc[b.index] - 1)
    assert (b["std_error"] == a["std_error"]).all()
    half = stats.t.ppf(0.975, b["df"]) * b["std_error"]
    np.testing.assert_allclose(b["ci_upper"] - b["estimate"], half, rtol=1e-12)
    assert "domain_df" in str(design.mean("api00", by="stype"))
    with pytest.raises(DataError, match="`df`"):
        design.mean("api00", df=3)


def test_group_that_lives_in_few_pilots():
    from sosstats.datasets import simulate_evaluation

    ws = simulate_evaluation(rng=0).worker_survey
    design = SurveyDesign(ws, cluster="la_code")
    assert design.df == 9 and "1 stratum" in repr(design) and "unweighted" in repr(design)
    res = design.proportion("tool_mapping", by="experience", method="beta", df="domain")
    t = res.tidy()
    pilots = ws.groupby("experience", observed=True)["la_code"].nunique()
    np.testing.assert_array_equal(t.groupby("domain", observed=True, sort=False)
                                  ["domain_df"].first(), (pilots - 1).loc[
                                      list(dict.fromkeys(t["domain"]))])
    assert (t["df"] < 9).all()


def test_row_batches_give_the_same_numbers(designs, monkeypatch):
    """Cell sums accumulated over batches of rows (some with missing values, some without)."""
    import sosstats.survey.estimates as est_mod

    d = designs["stratclus"]
    data = d.data.copy()
    data.loc[data.index[150:160], "api00"] = np.nan        # missing only in a late batch
    design = SurveyDesign(data, cluster="dnum", strata="stype", weights="pw", nest=True)
    one = design.mean(["api00", "meals"], by="sch.wide").tidy()
    monkeypatch.setattr(est_mod, "CHUNK", 17)
    many = design.mean(["api00", "meals"], by="sch.wide").tidy()
    for col in ["estimate", "std_error", "deff", "n", "sum_weights"]:
        np.testing.assert_allclose(many[col], one[col], rtol=1e-12)


def test_replicate_design_proportion_total_and_quantile():
    from sosstats.datasets import simulate_evaluation
    from sosstats.weighting import replicate_weights

    f = simulate_evaluation(rng=0).families
    rw = replicate_weights(f, responded="responded_t2", covariates=["previous_referral"],
                           cluster="la_code", n_replicates=20, rng=2)
    design = SurveyDesign(f, weights=rw)
    w, reps = rw.weights.to_numpy(), rw.replicates.to_numpy()
    y = f["previous_referral"].to_numpy(float)
    tot = design.total("previous_referral").tidy().set_index("level").loc[True]
    th = (reps * y[:, None]).sum(axis=0)
    assert tot["estimate"] == pytest.approx(np.sum(w * y), rel=1e-12)
    assert tot["std_error"] == pytest.approx(np.sqrt(np.mean((th - np.sum(w * y)) ** 2)),
                                             rel=1e-10)
    prop = design.proportion("previous_referral", method="beta").tidy()
    assert (prop["df"] == design.df).all() and prop["ci_lower"].notna().all()
    q = design.quantile("sdq_t2", 0.5).tidy().iloc[0]
    assert np.isfinite(q["estimate"]) and q["ci_lower"] <= q["estimate"] <= q["ci_upper"]


def test_mean_of_numeric_and_categorical_columns_together():
    design = DESIGNS["clus1"]()
    res = design.mean(["api00", "sch.wide"], by="stype")
    t = res.tidy()
    assert list(t["term"][:3]) == ["api00[stype=E]", "sch.wide=No[stype=E]",
                                   "sch.wide=Yes[stype=E]"]
    assert t["level"].isna().sum() == 3
    assert list(res.wide().columns) == ["api00", "sch.wide=No", "sch.wide=Yes"]
    prop = design.proportion("sch.wide", by="stype").tidy()
    np.testing.assert_allclose(t.dropna(subset=["level"])["std_error"], prop["std_error"],
                               rtol=1e-14)


def test_numeric_flag_proportion():
    d = api("apiclus1")
    d["flag"] = np.where(d["api00"] > 700, 1.0, 0.0)
    d.loc[:4, "flag"] = np.nan
    design = SurveyDesign(d, cluster="dnum", weights="pw", fpc="fpc")
    t = design.proportion("flag", method="beta").tidy().set_index("term")
    assert list(t.index) == ["flag=0", "flag=1"]
    m = design.mean("flag").tidy().iloc[0]
    assert t.loc["flag=1", "estimate"] == pytest.approx(m["estimate"], rel=1e-14)
    assert t.loc["flag=1", "std_error"] == pytest.approx(m["std_error"], rel=1e-12)
    assert t.loc["flag=1", "n"] == len(d) - 5
