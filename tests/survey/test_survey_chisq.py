"""Rao-Scott tests of two-way survey tables: the kernel and ``sosstats.survey.chisq``.

Reference values: R survey 4.1.1 ``svychisq`` (every ``statistic=``), frozen by
``tests/fixtures/survey_tests_reference.R`` in ``survey_tests_chisq_r.csv`` (the tests) and
``survey_tests_chisq_inputs_r.csv`` (the kernel's inputs: R's cell proportions and totals with
their covariances, n, design df, the eigenvalues of Delta and Pearson's X^2).
Tolerances: 1e-10 relative for every statistic, df and p-value, except ``saddlepoint`` (1e-5
relative: R finds the saddlepoint by ``uniroot(tol = 1e-8)``, we by ``brentq`` to 1e-14).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sosstats._kernels import rao_scott as rs
from sosstats.errors import DataError, DesignError, SosstatsWarning

FIX = Path(__file__).resolve().parents[1] / "fixtures"
INPUTS = pd.read_csv(FIX / "survey_tests_chisq_inputs_r.csv")
REF = pd.read_csv(FIX / "survey_tests_chisq_r.csv")
CASES = list(INPUTS["case"])
STATS = ["F", "Chisq", "Wald", "adjWald", "saddlepoint"]


def r_inputs(case: str) -> dict:
    """R's kernel inputs for ``case``, cells reordered from R's rows-fastest to C order."""
    row = INPUTS.set_index("case").loc[case]
    r, c = int(row.nr), int(row.nc)
    k = r * c
    idx = np.array([i + r * j for i in range(r) for j in range(c)])

    def vec(s: str) -> np.ndarray:
        return np.array(s.split(), dtype=float)

    return {
        "p": vec(row.p).reshape(c, r).T,
        "V": vec(row.V).reshape(k, k, order="F")[np.ix_(idx, idx)],
        "T": vec(row.total).reshape(c, r).T,
        "VT": vec(row.Vtotal).reshape(k, k, order="F")[np.ix_(idx, idx)],
        "eig": vec(row.eigenvalues), "n": float(row.n), "nu": float(row.nu),
        "pearson": float(row.pearson), "pearson_p": float(row.pearson_p),
    }


def r_test(case: str, statistic: str) -> pd.Series:
    return REF[(REF.case == case) & (REF.statistic_name == statistic)].iloc[0]


# ---------------------------------------------------------------------------------------------
# kernel against R's own inputs
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_kernel_pearson_and_eigenvalues_match_r(case):
    x = r_inputs(case)
    assert rs.pearson_statistic(x["p"], x["n"]) == pytest.approx(x["pearson"], rel=1e-12)
    eff = rs.design_effects(x["p"], x["V"], x["n"])
    np.testing.assert_allclose(eff.eigenvalues, x["eig"], rtol=1e-10, atol=1e-13)
    assert eff.trace == pytest.approx(x["eig"].sum(), rel=1e-12)
    assert eff.d0 == pytest.approx(x["eig"].sum() ** 2 / np.sum(x["eig"] ** 2), rel=1e-12)
    assert eff.mean * (1 + eff.a2) * eff.d0 == pytest.approx(eff.trace, rel=1e-12)


@pytest.mark.parametrize("statistic", STATS)
@pytest.mark.parametrize("case", CASES)
def test_kernel_statistics_match_svychisq(case, statistic):
    x = r_inputs(case)
    test, x2, _ = rs.table_test(x["p"], x["V"], x["n"], x["nu"], statistic,
                                totals=x["T"], totals_cov=x["VT"])
    ref = r_test(case, statistic)
    tol = 1e-5 if statistic == "saddlepoint" else 1e-10
    assert test.p_value == pytest.approx(ref.p_value, rel=tol)
    if statistic in ("F", "Wald", "adjWald"):
        assert test.statistic == pytest.approx(ref.statistic, rel=1e-10)
        assert test.df_num == pytest.approx(ref.df_num, rel=1e-10)
        assert test.df_den == pytest.approx(ref.df_den, rel=1e-10)
    elif statistic == "Chisq":   # R prints Pearson's X^2 and refers X^2 / mean(delta)
        assert x2 == pytest.approx(ref.statistic, rel=1e-12)
        assert test.df_num == ref.df_num
    else:
        assert test.statistic == pytest.approx(ref.statistic, rel=1e-12)


def test_kernel_interaction_basis_is_orthogonal_to_main_effects():
    for r, c in [(2, 2), (3, 4), (5, 2)]:
        b = rs.interaction_basis(r, c)
        assert b.shape == (r * c, (r - 1) * (c - 1))
        rows = np.kron(np.eye(r), np.ones((1, c)))   # row indicators in C order
        cols = np.kron(np.ones((1, r)), np.eye(c))
        np.testing.assert_allclose(rows @ b, 0, atol=1e-13)
        np.testing.assert_allclose(cols @ b, 0, atol=1e-13)
        np.testing.assert_allclose(b.T @ b, np.eye(b.shape[1]), atol=1e-13)


def test_kernel_simple_random_sample_has_unit_design_effects():
    # V = (D - p p') / n is the multinomial covariance: every generalised deff is 1, and all
    # corrections give back Pearson's test
    p = np.array([[0.1, 0.2, 0.15], [0.25, 0.1, 0.2]])
    n = 300
    pv = p.ravel()
    v = (np.diag(pv) - np.outer(pv, pv)) / n
    eff = rs.design_effects(p, v, n)
    np.testing.assert_allclose(eff.eigenvalues, 1.0, rtol=1e-12)
    x2 = rs.pearson_statistic(p, n)
    chisq = rs.rao_scott(x2, eff, np.inf, "Chisq")
    assert chisq.p_value == pytest.approx(stats.chi2.sf(x2, 2), rel=1e-12)
    assert rs.rao_scott(x2, eff, np.inf, "second_order").p_value == pytest.approx(
        stats.chi2.sf(x2, 2), rel=1e-12)


def test_kernel_lincom_equal_eigenvalues_is_an_exact_f():
    # sum_k delta chi2_1 / (chi2_m / m) = delta k F(k, m)
    lam = np.full(3, 1.7)
    eff = rs.DesignEffects(lam, lam.sum(), 1.7, 0.0, 3.0)
    for x2, nu in [(4.0, 9.0), (15.0, 14.0), (30.0, 5.0)]:
        got = rs.rao_scott(x2, eff, nu, "lincom").p_value
        assert got == pytest.approx(stats.f.sf(x2 / (1.7 * 3), 3, 3 * nu), rel=1e-7)
        got = rs.rao_scott(x2, eff, np.inf, "lincom").p_value
        assert got == pytest.approx(stats.chi2.sf(x2 / 1.7, 3), rel=1e-7)


def test_kernel_imhof_matches_monte_carlo():
    rng = np.random.default_rng(1)
    lam = np.array([2.5, 1.1, 0.4])
    draws = rng.chisquare(1, size=(400_000, 3)) @ lam
    for x in (2.0, 5.0, 10.0):
        mc = np.mean(draws > x)
        assert rs.quadratic_form_sf(x, lam) == pytest.approx(mc, abs=4 * np.sqrt(mc / 4e5))


def test_kernel_saddlepoint_close_to_imhof():
    # an approximation: within 2-4% of the exact probability here (Monte Carlo agrees with Imhof)
    lam = np.array([3.0, 1.2, 0.5, 0.2])
    for x in (3.0, 8.0, 20.0):
        assert rs.saddlepoint_sf(x, lam) == pytest.approx(rs.quadratic_form_sf(x, lam),
                                                          rel=0.05)


def test_kernel_wald_invariant_to_scale_of_totals():
    x = r_inputs("clus1_band_stype")
    a = rs.wald_independence(x["T"], x["VT"], x["nu"])
    b = rs.wald_independence(x["T"] * 7.5, x["VT"] * 7.5 ** 2, x["nu"])
    assert a.statistic == pytest.approx(b.statistic, rel=1e-12)


def test_kernel_adjusted_wald_without_enough_df_gives_nan_p():
    x = r_inputs("sim_group_likert")     # k = 8 interaction terms, nu = 8: den = 1
    t = rs.wald_independence(x["T"], x["VT"], 6.0, adjusted=True)
    assert t.df_den == -1 and np.isnan(t.p_value)


def test_kernel_empty_row_is_a_data_error():
    p = np.array([[0.3, 0.2], [0.0, 0.0], [0.1, 0.4]])
    with pytest.raises(DataError, match="empty row or column"):
        rs.pearson_statistic(p, 100)


def test_kernel_zero_covariance_is_a_design_error():
    p = np.array([[0.3, 0.2], [0.1, 0.4]])
    with pytest.raises(DesignError, match="covariance"):
        rs.design_effects(p, np.zeros((4, 4)), 100)


def test_kernel_wald_with_fewer_clusters_than_contrasts_is_a_design_error():
    # rank of the covariance <= clusters - 1: a 3 x 3 table (4 contrasts) from 4 clusters
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(4, 9))                 # 4 cluster totals of 9 cell scores
    cov = np.cov(scores.T)
    with pytest.raises(DesignError, match="singular"):
        rs.wald_independence(np.full((3, 3), 10.0) + rng.uniform(0, 1, (3, 3)), cov, 3.0)


def test_kernel_bad_shapes():
    with pytest.raises(DataError, match="r x c"):
        rs.pearson_statistic(np.array([0.5, 0.5]), 10)
    with pytest.raises(DataError, match="4 x 4"):
        rs.design_effects(np.full((2, 2), 0.25), np.eye(3), 10)
    with pytest.raises(DataError, match="statistic"):
        rs.rao_scott(1.0, rs.DesignEffects(np.ones(1), 1.0, 1.0, 0.0, 1.0), 5.0, "G")


# ---------------------------------------------------------------------------------------------
# sosstats.survey.chisq on the design, against svychisq on the same data
# ---------------------------------------------------------------------------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sosstats.survey import SurveyDesign  # noqa: E402
from sosstats.survey.chisq import ChisqItemsResult, ChisqResult, chisq  # noqa: E402

BANDS = ["low", "mid", "high"]


def _clus1() -> pd.DataFrame:
    d = pd.read_csv(FIX / "survey_tests_apiclus1.csv")
    d["api_band"] = pd.Categorical(d["api_band"], BANDS)
    return d


def _strat() -> pd.DataFrame:
    d = pd.read_csv(FIX / "survey_tests_apistrat.csv")
    d["api_band"] = pd.Categorical(d["api_band"], BANDS)
    return d


def designs() -> dict:
    sim = pd.read_csv(FIX / "survey_tests_sim.csv")
    return {
        "clus1": SurveyDesign(_clus1(), cluster="dnum", weights="pw", fpc="fpc"),
        "clus1nofpc": SurveyDesign(_clus1(), cluster="dnum", weights="pw"),
        "strat": SurveyDesign(_strat(), strata="stype", weights="pw", fpc="fpc"),
        "sim": SurveyDesign(sim, cluster="pilot", strata="stratum", weights="w", nest=True),
    }


DESIGN_CASES = {
    "clus1_schwide_stype": ("clus1", "sch.wide", "stype"),
    "clus1_band_stype": ("clus1", "api_band", "stype"),
    "clus1nofpc_band_stype": ("clus1nofpc", "api_band", "stype"),
    "strat_band_awards": ("strat", "api_band", "awards"),
    "strat_stype_band": ("strat", "stype", "api_band"),
    "sim_group_likert": ("sim", "group", "likert"),
}


@pytest.fixture(scope="module")
def api_designs() -> dict:
    return designs()


@pytest.mark.parametrize("statistic", STATS)
@pytest.mark.parametrize("case", list(DESIGN_CASES))
def test_chisq_matches_svychisq(api_designs, case, statistic):
    which, row, col = DESIGN_CASES[case]
    res = chisq(api_designs[which], row, col, statistic=statistic)
    ref = r_test(case, statistic)
    tol = 1e-5 if statistic == "saddlepoint" else 1e-10
    assert res.p_value == pytest.approx(ref.p_value, rel=tol)
    if statistic in ("F", "Wald", "adjWald"):
        assert res.statistic == pytest.approx(ref.statistic, rel=1e-10)
        assert res.test.df_num == pytest.approx(ref.df_num, rel=1e-10)
        assert res.test.df_den == pytest.approx(ref.df_den, rel=1e-10)
    # the naive Pearson statistic is R's X-squared (svytable scaled to n)
    x = r_inputs(case)
    assert res.pearson == pytest.approx(x["pearson"], rel=1e-10)
    assert res.pearson_p_value == pytest.approx(x["pearson_p"], rel=1e-10)
    np.testing.assert_allclose(res.effects.eigenvalues, x["eig"], rtol=1e-9, atol=1e-12)


def test_design_method_delegates(api_designs):
    a = api_designs["clus1"].chisq("sch.wide", "stype")
    b = chisq(api_designs["clus1"], "sch.wide", "stype", statistic="F")
    assert isinstance(a, ChisqResult) and a.p_value == b.p_value
    assert a.test.name == "F"


def test_chisq_missing_values_are_a_domain_as_na_rm():
    na = pd.read_csv(FIX / "survey_tests_chisq_na_r.csv")
    sim = pd.read_csv(FIX / "survey_tests_sim_na.csv")
    before = sim.copy()
    d = SurveyDesign(sim, cluster="pilot", strata="stratum", weights="w", nest=True)
    for stat in ("F", "Chisq", "Wald", "adjWald"):
        res = chisq(d, "group", "likert", statistic=stat)
        ref = na[na.statistic_name == stat].iloc[0]
        assert res.p_value == pytest.approx(ref.p_value, rel=1e-10)
        if stat != "Chisq":
            assert res.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert res.nobs == int((sim["group"].notna() & sim["likert"].notna()).sum())
    pd.testing.assert_frame_equal(sim, before)


def test_chisq_tidy_summary_and_all_statistics(api_designs):
    res = chisq(api_designs["clus1"], "sch.wide", "stype")
    tidy = res.tidy()
    assert list(tidy.columns[:6]) == ["term", "test", "statistic", "df_num", "df_den",
                                      "p_value"]
    assert tidy.loc[0, "term"] == "sch.wide x stype"
    assert {"pearson_chisq", "pearson_p_value", "mean_deff", "max_deff"} <= set(tidy.columns)
    # the naive Pearson test claims much stronger evidence than the design-based one
    assert res.pearson_p_value < res.p_value / 5
    every = res.all_statistics()
    assert set(every.index) == {"F", "Chisq", "second_order", "Wald", "adjWald", "lincom",
                                "saddlepoint", "pearson"}
    for stat in STATS:
        assert every.loc[stat, "p_value"] == pytest.approx(r_test("clus1_schwide_stype",
                                                                  stat).p_value, rel=1e-5)
    # second-order chi-square: X^2 d0 / tr(Delta) on d0 df
    so = res.tests["second_order"]
    assert so.statistic == pytest.approx(res.pearson * res.effects.d0 / res.effects.trace)
    assert so.p_value == pytest.approx(stats.chi2.sf(so.statistic, res.effects.d0))
    text = str(res)
    assert "Pearson X^2" in text and "df = clusters - 1 = 14" in text
    cells = res.cells
    assert cells["estimate"].sum() == pytest.approx(1.0)
    assert (cells["std_error"] > 0).all() and len(cells) == 6
    assert res.to_dict()["table"][0]["p_value"] == pytest.approx(res.p_value)


def test_chisq_lincom_is_the_asymptotic_distribution(api_designs):
    # R falls back to the saddlepoint without CompQuadForm; our lincom integrates Imhof's
    # formula, checked here against Monte Carlo draws of sum_k delta_k chi2_1 / (chi2_m / m)
    # (on sch.wide x stype R's saddlepoint says 0.0264, the distribution 0.0220)
    rng = np.random.default_rng(7)
    for case in ("clus1_schwide_stype", "sim_group_likert"):
        which, row, col = DESIGN_CASES[case]
        res = chisq(api_designs[which], row, col, statistic="lincom")
        lam, m = res.effects.eigenvalues, res.effects.d0 * res.design_df
        draws = (rng.chisquare(1, (1_000_000, lam.size)) @ lam) / (rng.chisquare(m, 1_000_000)
                                                                    / m)
        mc = np.mean(draws > res.pearson)
        assert res.p_value == pytest.approx(mc, abs=4 * np.sqrt(mc * (1 - mc) / 1e6))
        assert res.statistic == res.pearson and np.isnan(res.test.df_num)


def test_chisq_many_items_with_holm_and_bh(api_designs):
    d = api_designs["clus1"]
    items = ["sch.wide", "api_band", "awards", "comp.imp"]
    single = np.array([chisq(d, i, "stype").p_value for i in items])
    from statsmodels.stats.multitest import multipletests
    for adjust, sm in (("holm", "holm"), ("BH", "fdr_bh")):
        res = chisq(d, items, "stype", adjust=adjust)
        assert isinstance(res, ChisqItemsResult)
        tidy = res.tidy()
        assert list(tidy["item"]) == items
        np.testing.assert_allclose(tidy["p_value"], single, rtol=1e-12)
        np.testing.assert_allclose(tidy["p_adjusted"], multipletests(single, method=sm)[1],
                                   rtol=1e-12)
    assert "Holm" in str(chisq(d, items, "stype"))
    none = chisq(d, items, "stype", adjust="none").tidy()
    np.testing.assert_allclose(none["p_adjusted"], single)


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------
def test_chisq_unused_level_is_left_out_with_a_warning(api_designs):
    # an answer nobody gave (a declared Categorical level) used to make the table refuse; the
    # test is now the one on the levels that occur, as Stata's svy: tabulate
    data = _clus1()
    plain = chisq(SurveyDesign(data, cluster="dnum", weights="pw", fpc="fpc"), "api_band",
                  "stype")
    data["api_band"] = pd.Categorical(data["api_band"], BANDS + ["top"])   # unused level
    d = SurveyDesign(data, cluster="dnum", weights="pw", fpc="fpc")
    for row, col in (("api_band", "stype"), ("stype", "api_band")):
        with pytest.warns(SosstatsWarning, match=r"'api_band': level\(s\) 'top' occur in no"):
            res = chisq(d, row, col)
        assert "top" not in list(res.row_levels) + list(res.col_levels)
        assert res.test.statistic == pytest.approx(plain.test.statistic, rel=1e-12)
        assert res.test.p_value == pytest.approx(plain.test.p_value, rel=1e-12)


def test_chisq_unused_levels_leaving_one_is_an_error():
    data = _clus1()
    data["one"] = pd.Categorical(["a"] * len(data), ["a", "b"])
    d = SurveyDesign(data, cluster="dnum", weights="pw", fpc="fpc")
    with pytest.raises(DataError, match=r"column 'one' has 1 level\(s\)"):
        chisq(d, "sch.wide", "one")


def test_chisq_level_with_zero_weight_only_is_empty():
    data = _clus1()
    data.loc[data["stype"] == "H", "pw"] = 0.0
    d = SurveyDesign(data, cluster="dnum", weights="pw", fpc="fpc")
    with pytest.raises(DataError, match=r"column 'stype' level 'H' has no respondents"):
        chisq(d, "sch.wide", "stype")


def test_chisq_one_level_column(api_designs):
    data = _clus1()
    data["one"] = "a"
    d = SurveyDesign(data, cluster="dnum", weights="pw", fpc="fpc")
    with pytest.raises(DataError, match=r"column 'one' has 1 level\(s\) \('a'\)"):
        chisq(d, "sch.wide", "one")
    data["none"] = np.nan
    d = SurveyDesign(data, cluster="dnum", weights="pw", fpc="fpc")
    with pytest.raises(DataError, match=r"row 'none' has 0 level"):
        chisq(d, "none", "stype")


def test_chisq_continuous_column_is_refused():
    data = _clus1()
    d = SurveyDesign(data, cluster="dnum", weights="pw", fpc="fpc")
    with pytest.raises(DataError, match=r"'api00' has \d+ distinct values: is it continuous"):
        chisq(d, "api00", "stype")


def test_chisq_statistic_may_be_positional(api_designs):
    d = api_designs["clus1"]
    assert d.chisq("sch.wide", "stype", "Wald").test.name == "Wald"


def test_chisq_fewer_than_two_clusters():
    data = _clus1()
    data["one_cluster"] = 1
    with pytest.raises(DesignError, match="(?i)cluster|PSU"):
        d = SurveyDesign(data, cluster="one_cluster", weights="pw")
        chisq(d, "sch.wide", "stype")


def test_chisq_bad_arguments(api_designs):
    d = api_designs["clus1"]
    with pytest.raises(DataError, match="`statistic` must be one of"):
        chisq(d, "sch.wide", "stype", statistic="G2")
    with pytest.raises(DataError, match="`adjust` must be one of"):
        chisq(d, ["sch.wide", "awards"], "stype", adjust="bonferroni")
    with pytest.raises(DataError, match="'nope' not found"):
        chisq(d, "nope", "stype")
    with pytest.raises(DataError, match="both 'stype'"):
        chisq(d, "stype", "stype")
    with pytest.raises(DataError, match="repeats"):
        chisq(d, ["awards", "awards"], "stype")
    with pytest.raises(DataError, match="SurveyDesign"):
        chisq(_clus1(), "sch.wide", "stype")


# ---------------------------------------------------------------------------------------------
# properties: relabelled / reordered categories, row order, weights x constant, transposition
# ---------------------------------------------------------------------------------------------
def _random_survey(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = int(rng.integers(4, 9))
    sizes = rng.integers(4, 12, size=g)
    cl = np.repeat(np.arange(g), sizes)
    n = cl.size
    r_levels, c_levels = int(rng.integers(2, 4)), int(rng.integers(2, 4))
    shift = rng.normal(0, 1, g)[cl]
    a = np.clip((rng.normal(0, 1, n) + shift > 0).astype(int) + rng.integers(0, r_levels, n),
                0, r_levels - 1)
    b = rng.integers(0, c_levels, n)
    a[:r_levels] = np.arange(r_levels)          # every level present
    b[:c_levels] = np.arange(c_levels)
    return pd.DataFrame({"cl": cl, "w": rng.uniform(0.5, 3.0, n),
                         "a": np.array(list("pqr"))[a], "b": np.array(["x", "y", "z"])[b]})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 31 - 1), scale=st.floats(0.01, 100.0),
       statistic=st.sampled_from(["F", "Chisq", "Wald", "lincom"]))
def test_chisq_invariances(seed, scale, statistic):
    data = _random_survey(seed)
    try:
        base = chisq(SurveyDesign(data, cluster="cl", weights="w"), "a", "b",
                     statistic=statistic)
    except DesignError as exc:       # Wald with fewer clusters than independence contrasts
        assert statistic == "Wald" and "singular" in str(exc)
        return
    assume_finite = np.isfinite(base.statistic)
    # relabelled and reordered categories (a Categorical with the levels in another order)
    relab = data.copy()
    names = {"p": "zz", "q": "aa", "r": "mm"}
    relab["a"] = pd.Categorical(relab["a"].map(names),
                                [names[v] for v in "rpq" if v in set(data["a"])])
    relab["b"] = relab["b"].map({"x": 3, "y": 1, "z": 2})
    # row order
    perm = data.sample(frac=1.0, random_state=seed % 1000).reset_index(drop=True)
    # weights x constant
    scaled = data.assign(w=data["w"] * scale)
    for other in (relab, perm, scaled):
        res = chisq(SurveyDesign(other, cluster="cl", weights="w"), "a", "b",
                    statistic=statistic)
        if assume_finite:
            assert res.statistic == pytest.approx(base.statistic, rel=1e-8)
            assert res.p_value == pytest.approx(base.p_value, rel=1e-7, abs=1e-12)
    # transposed table: the same test of independence
    if statistic != "Wald" and assume_finite:
        tr = chisq(SurveyDesign(data, cluster="cl", weights="w"), "b", "a", statistic=statistic)
        assert tr.p_value == pytest.approx(base.p_value, rel=1e-7, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# replicate designs: the replicate covariance of the re-estimated cell proportions and totals
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def replicate_case():
    from sosstats.datasets import simulate_evaluation
    from sosstats.weighting import replicate_weights

    f = simulate_evaluation(rng=0).families
    rw = replicate_weights(f, responded="responded_t2", covariates=["previous_referral"],
                           cluster="la_code", n_replicates=20, rng=3)
    return f, rw, SurveyDesign(f, weights=rw)


def test_chisq_on_a_replicate_design(replicate_case):
    f, rw, design = replicate_case
    res = chisq(design, "concerns_t2", "experience")
    # by hand: cell proportions and totals on the full and every replicate weight
    r = pd.Categorical(f["concerns_t2"])
    c = pd.Categorical(f["experience"])
    ok = (r.codes >= 0) & (c.codes >= 0)
    nr, nc = len(r.categories), len(c.categories)
    x = np.zeros((len(f), nr * nc))
    x[np.flatnonzero(ok), (r.codes * nc + c.codes)[ok]] = 1.0
    W = np.column_stack([rw.weights.to_numpy(float), rw.replicates.to_numpy(float)])
    tot = (W * ok[:, None]).T @ x
    prop = tot / tot.sum(axis=1, keepdims=True)
    Vp = rw.covariance(prop[0], prop[1:])
    VT = rw.covariance(tot[0], tot[1:])
    n = int(np.count_nonzero(ok & (W[:, 0] > 0)))
    for stat in ("F", "Chisq", "Wald", "lincom"):
        want, _, _ = rs.table_test(prop[0].reshape(nr, nc), Vp, n, design.df, stat,
                                   totals=tot[0].reshape(nr, nc), totals_cov=VT,
                                   chisq_df=np.inf)
        got = res.tests[stat]
        assert got.p_value == pytest.approx(want.p_value, rel=1e-9)
        assert got.statistic == pytest.approx(want.statistic, rel=1e-9)
    assert res.nobs == n and res.design_df == design.df
    assert "replicate" in res.design_label


def test_chisq_on_a_calibrated_design_matches_svychisq():
    # calibrate(dclus1, ~stype, pop = c(6194, 755, 1018)): the cell scores are replaced by their
    # calibration residuals before the design variance, as svyrecvar does
    ref = pd.read_csv(FIX / "survey_tests_chisq_cal_r.csv").set_index("statistic_name")
    d = SurveyDesign(_clus1(), cluster="dnum", weights="pw", fpc="fpc")
    cal = d.calibrate(["stype"], {"stype": {"E": 6194 - 755 - 1018, "H": 755, "M": 1018}})
    for stat in ("F", "Chisq", "Wald", "adjWald"):
        res = chisq(cal, "api_band", "stype", statistic=stat)
        assert res.p_value == pytest.approx(ref.loc[stat, "p_value"], rel=1e-9)
        if stat != "Chisq":
            assert res.statistic == pytest.approx(ref.loc[stat, "statistic"], rel=1e-9)
            assert res.test.df_den == pytest.approx(ref.loc[stat, "df_den"], rel=1e-9)
