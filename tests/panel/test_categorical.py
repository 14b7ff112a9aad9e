"""Tests of sosstats.panel.categorical: McNemar, Stuart-Maxwell, conditional and ordered logit."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.discrete.conditional_models import ConditionalLogit
from statsmodels.discrete.discrete_model import Logit
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.stats.contingency_tables import SquareTable
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError, DesignError, SosstatsError, SosstatsWarning
from sosstats.panel.categorical import (
    conditional_logit,
    mcnemar,
    mcnemar_from_table,
    ordered_change,
    paired_table,
    stuart_maxwell,
    stuart_maxwell_from_table,
)

pytestmark = pytest.mark.filterwarnings("ignore::sosstats.errors.SosstatsWarning")


@pytest.fixture(scope="module")
def families() -> pd.DataFrame:
    return simulate_evaluation(rng=0).families


def _frame_from_table(t: np.ndarray) -> pd.DataFrame:
    k = t.shape[0]
    rows = [(i, j) for i in range(k) for j in range(k) for _ in range(int(t[i, j]))]
    return pd.DataFrame(rows, columns=["t1", "t2"])


# -- McNemar --------------------------------------------------------------------------------

@pytest.mark.parametrize("table", [[[20, 9], [3, 30]], [[5, 0], [7, 2]], [[10, 14], [14, 1]],
                                   [[0, 25], [40, 0]]])
def test_mcnemar_matches_statsmodels_and_scipy(table):
    t = np.asarray(table)
    data = _frame_from_table(t)
    exact = mcnemar(data, "t1", "t2")
    ref = sm_mcnemar(t, exact=True)
    assert exact.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    b, c = t[0, 1], t[1, 0]
    assert exact.p_value == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-12)
    assert exact.df is None and exact.statistic == b
    for corr in (True, False):
        res = mcnemar(data, "t1", "t2", exact=False, correction=corr)
        ref = sm_mcnemar(t, exact=False, correction=corr)
        assert res.statistic == pytest.approx(ref.statistic, rel=1e-12)
        assert res.p_value == pytest.approx(ref.pvalue, rel=1e-12)
        assert res.df == 1
    assert exact.n_up == b and exact.n_down == c and exact.nobs == t.sum()
    assert exact.difference == pytest.approx((b - c) / t.sum())


def test_mcnemar_from_table_equals_from_data():
    t = np.array([[12, 7], [2, 30]])
    a = mcnemar_from_table(t, exact=False)
    b = mcnemar(_frame_from_table(t), "t1", "t2", exact=False)
    assert (a.statistic, a.p_value) == (b.statistic, b.p_value)
    assert mcnemar_from_table(pd.DataFrame(t)).p_value == mcnemar_from_table(t).p_value


def test_mcnemar_no_discordant_pairs():
    data = pd.DataFrame({"a": [0, 1, 1, 0], "b": [0, 1, 1, 0]})
    assert mcnemar(data, "a", "b").p_value == 1.0
    with pytest.raises(DesignError, match="discordant"):
        mcnemar(data, "a", "b", exact=False)


def test_mcnemar_bool_columns_and_odds_ratio():
    data = pd.DataFrame({"a": [False, False, False, True, True],
                         "b": [True, True, False, False, True]})
    res = mcnemar(data, "a", "b")
    assert (res.n_up, res.n_down) == (2, 1)
    assert res.odds_ratio == pytest.approx(2.0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=3, max_size=60),
       st.booleans())
def test_mcnemar_swap_flips_direction_not_p(pairs, exact):
    data = pd.DataFrame(pairs, columns=["a", "b"])
    fwd = mcnemar(data, "a", "b", exact=exact) if exact or (data.a != data.b).any() else None
    if fwd is None:
        return
    back = mcnemar(data, "b", "a", exact=exact)
    assert back.p_value == pytest.approx(fwd.p_value, rel=1e-12)
    assert back.difference == pytest.approx(-fwd.difference)
    assert (back.n_up, back.n_down) == (fwd.n_down, fwd.n_up)
    # row order does not matter
    shuffled = data.iloc[::-1]
    assert mcnemar(shuffled, "a", "b", exact=exact).p_value == pytest.approx(fwd.p_value)


def test_mcnemar_bad_input(families):
    with pytest.raises(DataError, match="feelings_t1"):
        mcnemar(families, "feelings_t1", "shared_understanding_t2")
    with pytest.raises(DataError, match="nope"):
        mcnemar(families, "nope", "shared_understanding_t2")
    with pytest.raises(DataError, match="missing"):
        mcnemar(families, "shared_understanding_t1", "shared_understanding_t2",
                missing="raise")
    with pytest.raises(DataError, match="same column"):
        mcnemar(families, "shared_understanding_t1", "shared_understanding_t1")
    with pytest.raises(DataError, match="square"):
        mcnemar_from_table(np.ones((2, 3)))
    with pytest.raises(DataError, match="2 x 2"):
        mcnemar_from_table(np.ones((3, 3)))
    with pytest.raises(DataError, match="non-negative"):
        mcnemar_from_table([[1, -2], [3, 4]])
    with pytest.raises(DataError, match="whole"):
        mcnemar_from_table([[1, 2.5], [3, 4]])
    with pytest.raises(DataError, match="DataFrame"):
        mcnemar(np.zeros((3, 2)), "a", "b")


def test_mcnemar_drops_nan_rows_with_count(families):
    before = families.copy()
    res = mcnemar(families, "shared_understanding_t1", "shared_understanding_t2")
    n_nan = int(families["shared_understanding_t2"].isna().sum())
    assert res.n_dropped == n_nan > 0
    assert res.nobs == len(families) - n_nan == res.table.to_numpy().sum()
    pd.testing.assert_frame_equal(families, before)
    assert "dropped" in str(res)


# -- Stuart-Maxwell -------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stuart_maxwell_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    k = 3 + seed
    t = rng.integers(1, 25, size=(k, k))
    res = stuart_maxwell(_frame_from_table(t), "t1", "t2")
    ref = SquareTable(t, shift_zeros=False).homogeneity()
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert res.df == ref.df == k - 1
    assert stuart_maxwell_from_table(t).statistic == pytest.approx(res.statistic)
    np.testing.assert_array_equal(res.margins["difference"], t.sum(0) - t.sum(1))


def test_stuart_maxwell_two_categories_is_uncorrected_mcnemar():
    t = np.array([[10, 8], [2, 5]])
    assert stuart_maxwell_from_table(t).statistic == pytest.approx(
        mcnemar_from_table(t, exact=False, correction=False).statistic)


def test_stuart_maxwell_no_change_and_empty_category():
    assert stuart_maxwell_from_table(np.diag([3, 4, 5])).p_value == 1.0
    t = np.array([[5, 3, 0], [6, 4, 0], [0, 0, 7]])    # third category never changes
    res = stuart_maxwell_from_table(t)
    assert res.df == 1
    assert res.statistic == pytest.approx(
        mcnemar_from_table(t[:2, :2], exact=False, correction=False).statistic)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=8, max_size=80),
       st.permutations(["w", "x", "y", "z"]))
def test_stuart_maxwell_relabelling_invariant(pairs, names):
    data = pd.DataFrame(pairs, columns=["a", "b"])
    if data.a.nunique() + data.b.nunique() < 3 and set(data.a) | set(data.b) == {0}:
        return
    if len(set(data.a) | set(data.b)) < 2:
        return
    res = stuart_maxwell(data, "a", "b")
    mapping = dict(enumerate(names))
    relab = stuart_maxwell(data.replace({"a": mapping, "b": mapping}), "a", "b")
    assert relab.statistic == pytest.approx(res.statistic, rel=1e-8, abs=1e-10)
    assert relab.df == res.df
    swapped = stuart_maxwell(data, "b", "a")
    assert swapped.statistic == pytest.approx(res.statistic, rel=1e-8, abs=1e-10)


def test_stuart_maxwell_bad_input(families):
    with pytest.raises(DataError, match="square"):
        stuart_maxwell_from_table(np.ones((3, 2)))
    with pytest.raises(DesignError, match="single value"):
        stuart_maxwell(pd.DataFrame({"a": [1, 1], "b": [1, 1]}), "a", "b")
    with pytest.raises(DataError, match="not in `categories`"):
        stuart_maxwell(families, "feelings_t1", "feelings_t2", categories=[1, 2, 3])
    res = stuart_maxwell(families, "feelings_t1", "feelings_t2")
    assert res.n_dropped == families["feelings_t2"].isna().sum()
    tab = paired_table(families, "feelings_t1", "feelings_t2")
    assert tab.shape == (5, 5) and tab.to_numpy().sum() == res.nobs


# -- conditional logit ----------------------------------------------------------------------

def _binary_panel(seed: int, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    alpha = rng.normal(0, 1.5, n)
    x = rng.integers(0, 2, n)
    z = rng.normal(size=n)
    y1 = (alpha + rng.logistic(size=n) > 0).astype(int)
    y2 = (alpha + 0.5 + 0.4 * x - 0.3 * z + rng.logistic(size=n) > 0).astype(int)
    return pd.DataFrame({"y1": y1, "y2": y2, "x": x, "z": z, "g": rng.integers(0, 12, n)})


def test_conditional_logit_matches_statsmodels_and_closed_form():
    data = _binary_panel(3)
    res = conditional_logit(data, "y1", "y2", covariates=["x", "z"])
    n = len(data)
    t = np.repeat([0.0, 1.0], n)
    exog = np.column_stack([t, t * np.tile(data.x, 2), t * np.tile(data.z, 2)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ConditionalLogit(np.concatenate([data.y1, data.y2]), exog,
                               groups=np.tile(np.arange(n), 2)).fit(method="newton", disp=False)
    np.testing.assert_allclose(res.params, ref.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.std_errors, ref.bse, rtol=1e-4)
    # closed form: logit of y2 on (1, x, z) among the discordant units
    disc = data[data.y1 != data.y2]
    lg = Logit(disc.y2.to_numpy(), np.column_stack([np.ones(len(disc)), disc.x, disc.z])
               ).fit(disp=False)
    np.testing.assert_allclose(res.params, lg.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.std_errors, lg.bse, rtol=1e-4)
    assert list(res.params.index) == ["time", "time:x", "time:z"]
    assert res.n_up + res.n_down == len(disc)


def test_conditional_logit_without_covariates_is_log_mcnemar_ratio(families):
    res = conditional_logit(families, "shared_understanding_t1", "shared_understanding_t2")
    m = mcnemar(families, "shared_understanding_t1", "shared_understanding_t2")
    assert res.params["time"] == pytest.approx(np.log(m.odds_ratio), abs=1e-6)
    assert res.std_errors["time"] == pytest.approx(np.sqrt(1 / m.n_up + 1 / m.n_down), rel=1e-4)


def test_conditional_logit_cluster_se_brute_force():
    data = _binary_panel(5)
    res = conditional_logit(data, "y1", "y2", covariates=["x"], cluster="g", inference="cr1")
    disc = data[data.y1 != data.y2]
    z = np.column_stack([np.ones(len(disc)), disc.x])
    b = res.params.to_numpy()
    p = 1 / (1 + np.exp(-z @ b))
    h = -(z.T * (p * (1 - p))) @ z
    meat = np.zeros((2, 2))
    for g in np.unique(data.g):
        sel = (disc.g == g).to_numpy()
        s = ((disc.y2.to_numpy() - p)[sel, None] * z[sel]).sum(axis=0)
        meat += np.outer(s, s)
    G = data.g.nunique()
    v = G / (G - 1) * np.linalg.inv(h) @ meat @ np.linalg.inv(h)
    np.testing.assert_allclose(res.std_errors, np.sqrt(np.diag(v)), rtol=1e-5)
    assert (res.tidy()["df"] == G - 1).all()
    ci = res.conf_int()
    q = stats.t.ppf(0.975, G - 1)
    np.testing.assert_allclose(ci["upper"], res.params + q * res.std_errors)


def test_conditional_logit_bad_input(families):
    data = _binary_panel(1)
    one_way = data.assign(y2=np.maximum(data.y1, data.y2))
    with pytest.raises(DesignError, match="separation"):
        conditional_logit(one_way, "y1", "y2")
    # covariate x perfectly predicts the direction of change
    sep = data.assign(y2=np.where(data.y1 != data.y2, data.x, data.y1))
    with pytest.raises(DesignError, match="'x'"):
        conditional_logit(sep, "y1", "y2", covariates=["x"])
    with pytest.raises(DataError, match="feelings_t2"):
        conditional_logit(families, "shared_understanding_t1", "feelings_t2")
    with pytest.raises(DesignError, match="single cluster"):
        conditional_logit(data.assign(g=1), "y1", "y2", cluster="g")
    with pytest.warns(SosstatsWarning, match="42"):                 # CR1 by name
        conditional_logit(data, "y1", "y2", cluster="g", inference="cr1")
    with pytest.raises(DesignError, match="no unit changed"):
        conditional_logit(data.assign(y2=data.y1), "y1", "y2")
    with pytest.raises(DataError, match="missing"):
        conditional_logit(families, "shared_understanding_t1", "shared_understanding_t2",
                          missing="raise")


# -- ordered logit --------------------------------------------------------------------------

def _ordered_reference(frame, y, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = OrderedModel(y, x, distr="logit")
        fit = model.fit(method="bfgs", maxiter=2000, disp=False)
    return model, fit


def test_ordered_change_matches_ordered_model(families):
    before = families.copy()
    res = ordered_change(families, "feelings_t1", "feelings_t2",
                         covariates=["cohort", "agency_worker"])
    pd.testing.assert_frame_equal(families, before)
    frame = families.dropna(subset=["feelings_t2"])
    x = np.column_stack([frame.feelings_t1, frame.cohort, frame.agency_worker]).astype(float)
    y = frame.feelings_t2.to_numpy().astype(int) - 1
    model, fit = _ordered_reference(frame, y, x)
    cuts = model.transform_threshold_params(fit.params)[1:-1]
    np.testing.assert_allclose(res.params.to_numpy(), np.r_[fit.params[:3], cuts],
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(res.std_errors.to_numpy()[:3], fit.bse[:3], rtol=1e-3)
    # first cut-point is statsmodels' first threshold parameter: same SE
    assert res.std_errors["1|2"] == pytest.approx(fit.bse[3], rel=1e-3)
    assert list(res.params.index[-4:]) == ["1|2", "2|3", "3|4", "4|5"]
    assert res.nobs == len(frame) and res.n_dropped == len(families) - len(frame)


def test_ordered_change_cluster_se_brute_force(families):
    res = ordered_change(families, "feelings_t1", "feelings_t2", covariates=["cohort"],
                         cluster="la_code", inference="cr1")
    frame = families.dropna(subset=["feelings_t2"])
    x = np.column_stack([frame.feelings_t1, frame.cohort]).astype(float)
    y = frame.feelings_t2.to_numpy().astype(int) - 1
    model, fit = _ordered_reference(frame, y, x)
    theta = np.asarray(fit.params)
    scores = model.score_obs(theta)
    hinv = np.linalg.inv(-model.hessian(theta))
    meat = np.zeros((len(theta), len(theta)))
    clusters = frame.la_code.astype(str).to_numpy()
    for g in np.unique(clusters):
        s = scores[clusters == g].sum(axis=0)
        meat += np.outer(s, s)
    G = len(np.unique(clusters))
    v = G / (G - 1) * hinv @ meat @ hinv
    np.testing.assert_allclose(res.std_errors.to_numpy()[:2], np.sqrt(np.diag(v))[:2],
                               rtol=1e-3)
    assert res.std_errors["1|2"] == pytest.approx(np.sqrt(v[2, 2]), rel=1e-3)
    assert res.n_clusters == G and (res.tidy()["df"] == G - 1).all()


def test_ordered_change_options(families):
    cat = ordered_change(families, "feelings_t1", "feelings_t2", baseline="categorical")
    assert [t for t in cat.params.index if t.startswith("feelings_t1")] == [
        f"feelings_t1[{k}]" for k in (2, 3, 4, 5)]
    conc = ordered_change(families, None, "concerns_t2", covariates="experience",
                          categories=["fewer", "same", "more"])
    assert list(conc.params.index) == ["experience[2 years]", "experience[2 years plus]",
                                       "fewer|same", "same|more"]
    assert conc.categories == ("fewer", "same", "more")
    odds = cat.odds_ratios()
    assert "1|2" not in odds.index
    np.testing.assert_allclose(odds["odds_ratio"], np.exp(cat.params[odds.index]))
    assert "ordered logit" in str(cat.summary())
    import matplotlib
    matplotlib.use("Agg")
    assert cat.plot() is not None


def test_ordered_change_bad_input(families):
    sep = families.dropna(subset=["feelings_t2"]).assign(
        flag=lambda d: (d.feelings_t2 == 5).astype(int))
    with pytest.raises(DesignError, match="'flag'"):
        ordered_change(sep, "feelings_t1", "feelings_t2", covariates=["flag"])
    with pytest.raises(DesignError, match="single cluster"):
        ordered_change(families.assign(one="a"), "feelings_t1", "feelings_t2", cluster="one")
    with pytest.raises(DesignError, match="single value"):
        ordered_change(families.assign(c=3), "feelings_t1", "c")
    with pytest.raises(DataError, match="not in `categories`"):
        ordered_change(families, None, "concerns_t2", categories=["fewer", "same"])
    with pytest.raises(DataError, match="baseline"):
        ordered_change(families, "feelings_t1", "feelings_t2", baseline="spline")
    with pytest.raises(DesignError, match="does not vary"):
        ordered_change(families.assign(k=1.0), "feelings_t1", "feelings_t2", covariates="k")
    with pytest.raises(SosstatsError):
        ordered_change(families, "feelings_t1", "nope")


# -- recovery of simulate_evaluation's truths -----------------------------------------------

@pytest.fixture(scope="module")
def large() -> tuple[pd.DataFrame, dict]:
    ev = simulate_evaluation(rng=0, n_families=12_000)
    return ev.families, ev.truth["families"]["outcomes"]


@pytest.mark.parametrize("outcome", ["shared_understanding", "knows_goals"])
def test_recovery_binary_change(large, outcome):
    fam, truth = large
    true = truth[outcome]["time_t2"]
    res = conditional_logit(fam, f"{outcome}_t1", f"{outcome}_t2")
    assert abs(res.params["time"] - true) < 3.5 * res.std_errors["time"]
    m = mcnemar(fam, f"{outcome}_t1", f"{outcome}_t2")
    assert np.sign(m.difference) == np.sign(true) and m.p_value < 0.01


def test_recovery_ordinal_directions(large):
    fam, truth = large
    t = truth["feelings"]
    sm = stuart_maxwell(fam, "feelings_t1", "feelings_t2")
    assert sm.p_value < 1e-6
    # time effect is negative: fewer families in the top category, more in the bottom one
    assert np.sign(sm.margins["difference"].iloc[-1]) == np.sign(t["time_t2"])
    assert np.sign(sm.margins["difference"].iloc[0]) == -np.sign(t["time_t2"])
    res = ordered_change(fam, "feelings_t1", "feelings_t2",
                         covariates=["cohort", "experience", "agency_worker"])
    assert res.params["feelings_t1"] > 0
    for term, key in [("cohort", "cohort_2"), ("experience[2 years]", "experience_2_years"),
                      ("agency_worker", "agency_worker")]:
        assert np.sign(res.params[term]) == np.sign(t[key])
        assert res.pvalues[term] < 0.01
