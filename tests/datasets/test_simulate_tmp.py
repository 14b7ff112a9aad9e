"""Tests of the study simulator ``simulate_evaluation``."""

from __future__ import annotations

import dataclasses
import re
import time
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats.datasets._simulate_families import ACTIVITIES, TOOLS
from sosstats.datasets._simulate_las import COVARIATES, INDICATORS, REGIONS
from sosstats.datasets.simulate import Evaluation, simulate_evaluation
from sosstats.errors import DataError, DesignError

FRAMES = ("las", "la_indicators", "workers", "families", "memberships", "diaries")
LAS_COLUMNS = ["la_code", "la_name", "region", "child_population", "pilot", "experience",
               "sos_start_year", *COVARIATES]
IND_COLUMNS = ["la_code", "la_name", "year", "indicator", "value", "count", "denominator",
               "flag"]
FAMILY_COLUMNS = [
    "family_id", "la_code", "experience", "cohort", "previous_referral", "referral_reason",
    "agency_worker", "sdq_t1", "sdq_t2", "shared_understanding_t1", "shared_understanding_t2",
    "knows_goals_t1", "knows_goals_t2", "feelings_t1", "feelings_t2", "concerns_t2",
    "rereferred_t2", "removed_t2", "responded_t2",
]
T2_INTERVIEW = ["sdq_t2", "shared_understanding_t2", "knows_goals_t2", "feelings_t2"]
RATES = [k for k, v in INDICATORS.items() if v["kind"] == "rate"]


@pytest.fixture(scope="module")
def ev() -> Evaluation:
    return simulate_evaluation(rng=15)


@pytest.fixture(scope="module")
def big() -> Evaluation:
    return simulate_evaluation(rng=115, n_families=200_000)


# --------------------------------------------------------------------------- helpers

def _pivot(ev: Evaluation, indicator: str) -> tuple[np.ndarray, np.ndarray]:
    """LA x year matrix of values (rows in `las` order) and the years."""
    d = ev.la_indicators[ev.la_indicators["indicator"] == indicator]
    wide = d.pivot(index="la_code", columns="year", values="value")
    return wide.loc[ev.las["la_code"]].to_numpy(), wide.columns.to_numpy()


def _neighbours(ev: Evaluation, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Pilot row positions and their k covariate-nearest non-pilots (standardised Euclid)."""
    x = ev.las[list(COVARIATES)].to_numpy(dtype=float)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    pilot = ev.las["pilot"].to_numpy()
    p, c = np.flatnonzero(pilot), np.flatnonzero(~pilot)
    dist = ((z[p][:, None, :] - z[c][None, :, :]) ** 2).sum(axis=-1)
    return p, c[np.argsort(dist, axis=1)[:, :k]]


def _nn_difference(ev: Evaluation, indicator: str, year: int) -> tuple[float, float]:
    """Mean over pilots of (pilot - mean of its 10 neighbours) in `year`, and its SE."""
    y, years = _pivot(ev, indicator)
    p, nb = _neighbours(ev)
    col = int(np.flatnonzero(years == year)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        diff = y[p, col] - np.nanmean(y[nb, col], axis=1)
    diff = diff[np.isfinite(diff)]
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(diff.size))


def _did(ev: Evaluation, indicator: str) -> tuple[float, float]:
    """Mean over pilots of (post - pre change of pilot) - (same for its neighbours), and SE."""
    y, years = _pivot(ev, indicator)
    p, nb = _neighbours(ev)
    start = ev.las["sos_start_year"].to_numpy()[p]
    post = years[None, :] >= start[:, None]                      # pilots x years
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        own = y[p]
        change_p = (np.nanmean(np.where(post, own, np.nan), axis=1)
                    - np.nanmean(np.where(~post, own, np.nan), axis=1))
        nbv = y[nb]                                              # pilots x k x years
        change_n = (np.nanmean(np.where(post[:, None, :], nbv, np.nan), axis=2)
                    - np.nanmean(np.where(~post[:, None, :], nbv, np.nan), axis=2))
        did = change_p - np.nanmean(change_n, axis=1)
    did = did[np.isfinite(did)]
    return float(did.mean()), float(did.std(ddof=1) / np.sqrt(did.size))


def _leaves(d: object) -> list[object]:
    if isinstance(d, dict):
        return [leaf for v in d.values() for leaf in _leaves(v)]
    return [d]


# --------------------------------------------------------------------------- shapes

def test_shapes_and_columns(ev: Evaluation) -> None:
    assert isinstance(ev, Evaluation)
    assert list(ev.las.columns) == LAS_COLUMNS
    assert list(ev.la_indicators.columns) == IND_COLUMNS
    assert list(ev.families.columns) == FAMILY_COLUMNS
    assert list(ev.memberships.columns) == ["family_id", "worker_id", "weight"]
    assert list(ev.diaries.columns) == ["worker_id", "activity", "minutes"]
    assert list(ev.workers.columns) == ["worker_id", "la_code", "agency", "training",
                                        "confidence", *TOOLS]
    assert ev.las.shape[0] == 152
    assert ev.la_indicators.shape[0] == 152 * 6 * len(INDICATORS)
    assert ev.workers.shape[0] == 200
    assert ev.families.shape[0] == 270
    assert ev.diaries.shape[0] == 121 * len(ACTIVITIES)
    assert 270 <= ev.memberships.shape[0] <= 3 * 270
    assert sorted(ev.la_indicators["year"].unique()) == list(range(2012, 2018))
    assert set(ev.la_indicators["indicator"]) == set(INDICATORS)
    assert ev.sizes == {"n_las": 152, "n_pilots": 10, "n_workers": 200, "n_families": 270,
                        "n_diarists": 121, "years": list(range(2012, 2018)),
                        "suppression_share": 0.015}
    assert "families=270 rows" in repr(ev)


def test_dtypes(ev: Evaluation) -> None:
    las, fam = ev.las, ev.families
    assert isinstance(las["region"].dtype, pd.CategoricalDtype)
    assert las["experience"].dtype.ordered
    assert las["pilot"].dtype == bool
    assert pd.api.types.is_integer_dtype(las["child_population"])
    assert las["sos_start_year"].dtype == float
    assert pd.api.types.is_string_dtype(ev.la_indicators["la_code"])
    assert pd.api.types.is_string_dtype(ev.la_indicators["indicator"])
    for col in ("value", "count", "denominator"):
        assert ev.la_indicators[col].dtype == float
    assert fam["previous_referral"].dtype == bool and fam["responded_t2"].dtype == bool
    assert fam["sdq_t1"].dtype == np.int64 and fam["sdq_t2"].dtype == float
    assert list(fam["concerns_t2"].cat.categories) == ["fewer", "same", "more"]
    assert list(ev.workers["training"].cat.categories) == ["none", "2-day", "5-day"]
    assert ev.diaries["minutes"].dtype == np.int64


def test_evaluation_is_frozen(ev: Evaluation) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.truth = {}  # type: ignore[misc]
    assert ev.pilots.shape[0] == 10 and ev.pilots["pilot"].all()


# --------------------------------------------------------------------------- LAs

def test_la_codes_names_regions(ev: Evaluation) -> None:
    las = ev.las
    assert las["la_code"].is_unique and las["la_name"].is_unique
    assert all(re.fullmatch(r"E(06|08|09|10)9\d{5}", c) for c in las["la_code"])
    prefix = las["la_code"].str[:3]
    # the real 2016 split of English LA types
    assert prefix.value_counts().to_dict() == {"E06": 56, "E08": 36, "E09": 33, "E10": 27}
    assert set(las["region"].cat.categories) == set(REGIONS)
    assert (las.loc[prefix == "E09", "region"] == "London").all()
    assert not (las.loc[prefix != "E09", "region"] == "London").any()
    assert las["child_population"].between(5_000, 330_000).all()
    assert las["child_population"].min() < 20_000 and las["child_population"].max() > 150_000


def test_pilots_experience_start_years(ev: Evaluation) -> None:
    las = ev.las
    pil = las[las["pilot"]]
    assert pil.shape[0] == 10
    assert pil["experience"].value_counts().to_dict() == {"new": 3, "2 years": 4,
                                                          "2 years plus": 3}
    expected = pil["experience"].map({"new": 2016, "2 years": 2014, "2 years plus": 2013})
    np.testing.assert_array_equal(pil["sos_start_year"].to_numpy(),
                                  expected.astype(float).to_numpy())
    non = las[~las["pilot"]]
    assert non["experience"].isna().all() and non["sos_start_year"].isna().all()
    assert ev.truth["start_years"] == {"new": 2016.0, "2 years": 2014.0, "2 years plus": 2013.0}


def test_covariates_correlated_through_deprivation(ev: Evaluation) -> None:
    cov = ev.las[list(COVARIATES)]
    assert cov.notna().all().all()
    corr = cov.corr()
    for name in ("low_income_children_pct", "fsm_pct", "unemployment_pct"):
        assert corr.loc["deprivation_score", name] > 0.6
    assert corr.loc["ethnic_minority_pct", "population_density"] > 0.4
    assert ev.las["ethnic_minority_pct"].between(0, 100).all()


def test_expected_rates_depend_on_covariates(ev: Evaluation) -> None:
    # a LA's covariate neighbours have more similar rates than random LAs
    y, _ = _pivot(ev, "icpc_rate_per_10k")
    level = np.nanmean(y, axis=1)
    x = ev.las[list(COVARIATES)].to_numpy(dtype=float)
    z = (x - x.mean(0)) / x.std(0)
    d = ((z[:, None] - z[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nb = np.argsort(d, axis=1)[:, :10]
    gap_nb = np.abs(level[:, None] - level[nb]).mean()
    gap_all = np.abs(level[:, None] - level[None]).sum() / (level.size * (level.size - 1))
    assert gap_nb < 0.8 * gap_all


# --------------------------------------------------------------------------- indicators

def test_rates_equal_count_over_denominator(ev: Evaluation) -> None:
    d = ev.la_indicators
    ok = d["flag"].isna()
    rate = d[ok & d["indicator"].isin(RATES)]
    np.testing.assert_allclose(rate["value"], rate["count"] / rate["denominator"] * 1e4)
    pop = ev.las.set_index("la_code")["child_population"]
    np.testing.assert_array_equal(rate["denominator"], pop.loc[rate["la_code"]].to_numpy())
    assert (rate["count"] == np.round(rate["count"])).all()
    rr = d[ok & (d["indicator"] == "rereferrals_within_12m_pct")]
    np.testing.assert_allclose(rr["value"], 100 * rr["count"] / rr["denominator"])
    ref = d[d["indicator"] == "referrals_rate_per_10k"].set_index(["la_code", "year"])
    ref_count = ref.loc[list(zip(rr["la_code"], rr["year"])), "count"].to_numpy()
    known = np.isfinite(ref_count)
    np.testing.assert_array_equal(rr["denominator"].to_numpy()[known], ref_count[known])
    means = d[d["indicator"].isin(["assessment_duration_days", "s47_to_icpc_median_wd"])]
    assert means["count"].isna().all() and means["denominator"].isna().all()
    med = means[(means["indicator"] == "s47_to_icpc_median_wd") & means["value"].notna()]
    assert (med["value"] == np.round(med["value"])).all()


def test_indicator_levels_realistic(ev: Evaluation) -> None:
    d = ev.la_indicators
    med = d.groupby("indicator")["value"].median()
    assert 40 < med["icpc_rate_per_10k"] < 100
    assert 300 < med["assessments_rate_per_10k"] < 700
    assert 15 < med["assessment_duration_days"] < 40
    assert 10 < med["s47_to_icpc_median_wd"] < 18
    assert 15 < med["rereferrals_within_12m_pct"] < 30


def test_suppression(ev: Evaluation) -> None:
    d = ev.la_indicators
    flagged = d["flag"].notna()
    assert flagged.sum() == round(0.015 * len(d))
    assert set(d.loc[flagged, "flag"]) <= {"x", "c", ".."}
    assert d.loc[flagged, "value"].isna().all() and d.loc[flagged, "count"].isna().all()
    # outside suppressed cells, values are present (a zero denominator cannot happen here)
    assert d.loc[~flagged, "value"].notna().all()


def test_no_suppression() -> None:
    d = simulate_evaluation(3, suppression_share=0.0).la_indicators
    assert d["flag"].isna().all() and d["value"].notna().all()


@pytest.mark.parametrize("indicator", ["icpc_rate_per_10k", "cpp_started_rate_per_10k",
                                       "assessment_duration_days"])
def test_nearest_neighbour_recovers_pilot_effect(ev: Evaluation, indicator: str) -> None:
    est, se = _nn_difference(ev, indicator, 2017)
    truth = ev.truth["pilot_effects"][indicator]
    assert truth < 0
    assert abs(est - truth) < 4 * se


@pytest.mark.parametrize("indicator", ["icpc_rate_per_10k", "assessments_rate_per_10k",
                                       "s47_to_icpc_median_wd"])
def test_difference_in_differences_recovers_pilot_effect(ev: Evaluation, indicator: str) -> None:
    est, se = _did(ev, indicator)
    truth = ev.truth["pilot_effects"][indicator]
    assert abs(est - truth) < 4 * se


def test_estimators_unbiased_over_replications() -> None:
    # averaged over 40 simulated evaluations, both estimators centre on the truth
    nn, did = [], []
    for seed in range(40):
        e = simulate_evaluation(seed, n_families=10, n_workers=10, n_diarists=0)
        nn.append(_nn_difference(e, "icpc_rate_per_10k", 2017)[0])
        did.append(_did(e, "icpc_rate_per_10k")[0])
    for values in (np.array(nn), np.array(did)):
        se = values.std(ddof=1) / np.sqrt(values.size)
        assert abs(values.mean() - (-15.0)) < 3.5 * se + 0.5


def test_null_pilot_effect_and_override() -> None:
    e = simulate_evaluation(5, pilot_effects={"icpc_rate_per_10k": 0.0,
                                              "cla_rate_per_10k": -8})
    assert e.truth["pilot_effects"]["icpc_rate_per_10k"] == 0.0
    assert e.truth["pilot_effects"]["cla_rate_per_10k"] == -8.0
    assert e.truth["indicators"]["icpc_rate_per_10k"]["pilot_effect_realised"] == 0.0
    est, se = _did(e, "icpc_rate_per_10k")
    assert abs(est) < 3 * se
    # other indicators and the frames' shapes are unaffected
    assert e.truth["pilot_effects"]["assessments_rate_per_10k"] == -100.0


def test_realised_effect_matches_nominal(ev: Evaluation) -> None:
    for name, entry in ev.truth["indicators"].items():
        assert entry["pilot_effect_realised"] == pytest.approx(entry["pilot_effect"], abs=1e-9)
        assert set(entry["coef"]) == set(COVARIATES)
        assert set(entry["year_effect"]) == set(range(2012, 2018))
        assert len(entry["la_effect"]) == 152


def test_years_argument() -> None:
    e = simulate_evaluation(1, years=[2017, 2015, 2016], n_families=5)
    assert sorted(e.la_indicators["year"].unique()) == [2015, 2016, 2017]
    assert e.sizes["years"] == [2015, 2016, 2017]
    assert e.la_indicators.shape[0] == 152 * 3 * len(INDICATORS)


# --------------------------------------------------------------------------- determinism

def test_determinism() -> None:
    a, b = simulate_evaluation(rng=42), simulate_evaluation(rng=42)
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert a.truth == b.truth and a.seed == 42
    c = simulate_evaluation(rng=43)
    assert not a.families.equals(c.families)
    assert not a.la_indicators.equals(c.la_indicators)


def test_generator_and_recorded_state() -> None:
    g = np.random.default_rng(7)
    e1 = simulate_evaluation(rng=g)
    assert e1.seed is None
    g2 = np.random.default_rng()
    g2.bit_generator.state = e1.rng_state
    e2 = simulate_evaluation(rng=g2)
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(e1, name), getattr(e2, name))
    # the passed generator was advanced, so a second call differs
    e3 = simulate_evaluation(rng=g)
    assert not e3.families.equals(e1.families)
    # an int seed and a generator made from it give the same data
    pd.testing.assert_frame_equal(simulate_evaluation(7).families, e1.families)


def test_la_data_do_not_depend_on_family_sizes() -> None:
    a = simulate_evaluation(9)
    b = simulate_evaluation(9, n_families=1000, n_diarists=3)
    pd.testing.assert_frame_equal(a.las, b.las)
    pd.testing.assert_frame_equal(a.la_indicators, b.la_indicators)
    pd.testing.assert_frame_equal(a.workers, b.workers)


# --------------------------------------------------------------------------- workers

def test_workers() -> None:
    e = simulate_evaluation(2, n_workers=20_000, n_diarists=20_000, n_families=10)
    w = e.workers
    pilots = set(e.las.loc[e.las["pilot"], "la_code"])
    assert set(w["la_code"].astype(str)) == pilots
    assert w["worker_id"].is_unique
    assert abs(w["agency"].mean() - 0.2) < 0.015
    assert w["confidence"].between(1, 10).all()
    for tool, (p_all, p_some, p_none) in TOOLS.items():
        share = w[tool].value_counts(normalize=True)
        assert share["all families"] == pytest.approx(p_all, abs=0.015)
        assert share["some families"] == pytest.approx(p_some, abs=0.015)
        assert share["not at all"] == pytest.approx(p_none, abs=0.015)
    # tools go together: engaged workers use several tools
    codes = np.column_stack([w[t].cat.codes for t in TOOLS])
    assert np.corrcoef(codes[:, 0], codes[:, 1])[0, 1] > 0.15
    # diaries: pooled shares match the truth
    d = e.diaries
    assert d["worker_id"].nunique() == 20_000
    pooled = d.groupby("activity", observed=True)["minutes"].sum() / d["minutes"].sum()
    for act, share in e.truth["diaries"]["activity_shares"].items():
        assert pooled[act] == pytest.approx(share, abs=0.004)


def test_diaries_default(ev: Evaluation) -> None:
    d = ev.diaries
    assert d["worker_id"].nunique() == 121
    assert set(d["worker_id"]) <= set(ev.workers["worker_id"])
    assert (d.groupby("worker_id").size() == len(ACTIVITIES)).all()
    assert (d["minutes"] >= 0).all()
    assert sum(ev.truth["diaries"]["activity_shares"].values()) == pytest.approx(1.0)


# --------------------------------------------------------------------------- memberships

def _check_memberships(e: Evaluation) -> None:
    m, fam, w = e.memberships, e.families, e.workers
    np.testing.assert_allclose(m.groupby("family_id")["weight"].sum(), 1.0)
    assert (m["weight"] > 0).all()
    assert set(m["family_id"]) == set(fam["family_id"])
    size = m.groupby("family_id").size()
    assert size.between(1, 3).all()
    assert not m.duplicated(["family_id", "worker_id"]).any()
    worker_la = w.set_index("worker_id")["la_code"].astype(str)
    fam_la = fam.set_index("family_id")["la_code"].astype(str)
    np.testing.assert_array_equal(worker_la.loc[m["worker_id"]].to_numpy(),
                                  fam_la.loc[m["family_id"]].to_numpy())
    first = m.groupby("family_id").head(1)
    assert (first["weight"].to_numpy()
            >= m.groupby("family_id")["weight"].max().loc[first["family_id"]].to_numpy()).all()
    agency = w.set_index("worker_id")["agency"]
    np.testing.assert_array_equal(
        agency.loc[first["worker_id"]].to_numpy(),
        fam.set_index("family_id").loc[first["family_id"], "agency_worker"].to_numpy())


def test_memberships(ev: Evaluation, big: Evaluation) -> None:
    _check_memberships(ev)
    _check_memberships(big)
    share = big.memberships.groupby("family_id").size().value_counts(normalize=True)
    assert share[1] == pytest.approx(0.41, abs=0.01)
    assert share[2] == pytest.approx(0.50, abs=0.01)
    assert share[3] == pytest.approx(0.09, abs=0.01)


def test_worker_effects_enter_through_memberships(big: Evaluation) -> None:
    fam, m, truth = big.families, big.memberships, big.truth["families"]["outcomes"]["sdq"]
    weff = m["worker_id"].map(truth["worker_effect"]) * m["weight"]
    mix = weff.groupby(m["family_id"]).sum().loc[fam["family_id"]].to_numpy()
    peff = fam["la_code"].astype(str).map(truth["pilot_effect"]).to_numpy(dtype=float)
    x = np.column_stack([np.ones(len(fam)), fam["cohort"] == 2, fam["previous_referral"],
                         fam["agency_worker"], peff, mix, fam["experience"] == "2 years",
                         fam["experience"] == "2 years plus"]).astype(float)
    fit = sm.OLS(fam["sdq_t1"].to_numpy(dtype=float), x).fit()
    assert fit.params[5] == pytest.approx(1.0, abs=0.1)      # worker effect, slope 1
    assert fit.params[4] == pytest.approx(1.0, abs=0.15)     # pilot effect, slope 1
    for k, term in ((1, "cohort_2"), (2, "previous_referral"), (3, "agency_worker"),
                    (6, "experience_2_years"), (7, "experience_2_years_plus")):
        assert fit.params[k] == pytest.approx(truth[term], abs=max(0.15, 5 * fit.bse[k]))
    # the worker effects have the stated sd
    eff = np.array(list(truth["worker_effect"].values()))
    assert eff.std() == pytest.approx(truth["sd_worker"], rel=0.35)


# --------------------------------------------------------------------------- families

def test_family_values_and_missingness(ev: Evaluation) -> None:
    fam = ev.families
    assert fam["family_id"].is_unique
    assert set(fam["cohort"]) == {1, 2}
    assert fam["sdq_t1"].between(0, 40).all()
    assert fam["feelings_t1"].between(1, 5).all()
    assert set(fam["shared_understanding_t1"]) <= {0, 1}
    resp = fam["responded_t2"]
    for col in T2_INTERVIEW:
        assert fam.loc[~resp, col].isna().all()
        assert fam.loc[resp, col].notna().all()
    assert fam.loc[~resp, "concerns_t2"].isna().all()
    assert fam.loc[resp, "concerns_t2"].notna().all()
    assert fam[["rereferred_t2", "removed_t2"]].notna().all().all()
    assert set(fam["la_code"].astype(str)) <= set(ev.las.loc[ev.las["pilot"], "la_code"])
    exp = ev.las.set_index("la_code")["experience"].astype(str)
    np.testing.assert_array_equal(fam["experience"].astype(str),
                                  exp.loc[fam["la_code"].astype(str)].to_numpy())


def test_family_proportions_near_study(big: Evaluation) -> None:
    fam = big.families
    assert fam["responded_t2"].mean() == pytest.approx(184 / 270, abs=0.03)
    assert fam["previous_referral"].mean() == pytest.approx(204 / 270, abs=0.005)
    reasons = fam["referral_reason"].value_counts(normalize=True)
    assert reasons["neglect"] == pytest.approx(0.37, abs=0.005)
    assert reasons["domestic violence"] == pytest.approx(0.26, abs=0.005)
    # a family's agency flag is its main worker's, and main workers are drawn uniformly
    assert fam["agency_worker"].mean() == pytest.approx(big.workers["agency"].mean(), abs=0.01)
    concerns = fam["concerns_t2"].value_counts(normalize=True)
    assert concerns["fewer"] == pytest.approx(0.63, abs=0.06)
    assert concerns["more"] == pytest.approx(0.12, abs=0.05)
    assert 0.01 < fam["removed_t2"].mean() < 0.12
    assert 0.35 < fam["rereferred_t2"].mean() < 0.6
    feel = fam["feelings_t1"]
    assert (feel <= 2).mean() == pytest.approx(0.37, abs=0.07)
    assert (feel >= 4).mean() == pytest.approx(0.45, abs=0.07)
    assert fam["shared_understanding_t1"].mean() == pytest.approx(0.53, abs=0.07)


def test_attrition_model_recovered(big: Evaluation) -> None:
    fam = big.families
    names = ["previous_referral", "agency_worker", "feelings_t1", "cohort_2"]
    x = pd.DataFrame({"previous_referral": fam["previous_referral"],
                      "agency_worker": fam["agency_worker"],
                      "feelings_t1": fam["feelings_t1"],
                      "cohort_2": fam["cohort"] == 2}).astype(float)
    fit = sm.Logit(fam["responded_t2"].astype(float), sm.add_constant(x)).fit(disp=0)
    truth = big.truth["families"]["attrition"]
    assert fit.params["const"] == pytest.approx(truth["intercept"], abs=4 * fit.bse["const"])
    for name in names:
        assert fit.params[name] == pytest.approx(truth[name], abs=4 * fit.bse[name])


def test_time_effect_and_all_family_means(big: Evaluation) -> None:
    fam = big.families
    truth = big.truth["families"]
    resp = fam[fam["responded_t2"]]
    change = (resp["sdq_t2"] - resp["sdq_t1"]).mean()
    assert change == pytest.approx(truth["outcomes"]["sdq"]["time_t2"], abs=0.1)
    # respondents differ from all families at T2 (attrition is informative) ...
    means = truth["t2_all_means"]
    assert set(means) == {"sdq", "shared_understanding", "knows_goals", "feelings",
                          "concerns_fewer"}
    assert resp["feelings_t2"].mean() > means["feelings"] + 0.02
    # ... but inverse-probability weights from the true attrition model remove the gap
    a = truth["attrition"]
    eta = (a["intercept"] + a["previous_referral"] * resp["previous_referral"]
           + a["agency_worker"] * resp["agency_worker"] + a["feelings_t1"] * resp["feelings_t1"]
           + a["cohort_2"] * (resp["cohort"] == 2))
    w = 1 + np.exp(-eta)
    assert np.average(resp["feelings_t2"], weights=w) == pytest.approx(means["feelings"],
                                                                       abs=0.02)
    assert np.average(resp["sdq_t2"], weights=w) == pytest.approx(means["sdq"], abs=0.06)


def test_truth_is_plain_numbers(ev: Evaluation) -> None:
    leaves = _leaves(ev.truth)
    assert leaves and all(isinstance(v, (float, int)) and not isinstance(v, bool)
                          for v in leaves)
    assert set(ev.truth) == {"pilot_effects", "start_years", "indicators", "las", "workers",
                             "families", "diaries"}
    assert ev.truth["pilot_effects"]["icpc_rate_per_10k"] == -15.0
    out = ev.truth["families"]["outcomes"]
    assert set(out["sdq"]) >= {"intercept", "cohort_2", "experience_2_years",
                               "experience_2_years_plus", "time_t2", "sd_worker", "sd_pilot",
                               "sd_family", "worker_effect", "pilot_effect"}
    assert "cutpoints" in out["feelings"] and "intercept" not in out["feelings"]
    assert len(out["sdq"]["worker_effect"]) == 200 and len(out["sdq"]["pilot_effect"]) == 10


# --------------------------------------------------------------------------- big run

@pytest.mark.slow
def test_million_families() -> None:
    t0 = time.perf_counter()
    e = simulate_evaluation(0, n_families=1_000_000)
    elapsed = time.perf_counter() - t0
    assert e.families.shape[0] == 1_000_000
    np.testing.assert_allclose(
        np.bincount(e.memberships["family_id"].to_numpy(),
                    weights=e.memberships["weight"].to_numpy())[1:], 1.0)
    assert elapsed < 60


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize(("kwargs", "error", "match"), [
    (dict(n_pilots=152), DesignError, "n_pilots"),
    (dict(n_las=5, n_pilots=8), DesignError, "smaller than `n_las`"),
    (dict(n_las=-3), DesignError, "n_las"),
    (dict(n_families=0), DesignError, "n_families"),
    (dict(n_families=-1), DesignError, "n_families"),
    (dict(n_diarists=-1), DesignError, "n_diarists"),
    (dict(n_workers=5), DesignError, "every pilot LA needs a worker"),
    (dict(n_diarists=300), DesignError, "subset of the workers"),
    (dict(n_families=2.5), DataError, "n_families"),
    (dict(n_las="152"), DataError, "n_las"),
    (dict(n_pilots=True), DataError, "n_pilots"),
    (dict(years=[]), DataError, "years"),
    (dict(years=[2012, 2012]), DataError, "duplicates"),
    (dict(years=[2012.5]), DataError, "integers"),
    (dict(years=2012), DataError, "iterable"),
    (dict(suppression_share=1.0), DataError, "suppression_share"),
    (dict(suppression_share=-0.1), DataError, "suppression_share"),
    (dict(suppression_share="a"), DataError, "suppression_share"),
    (dict(pilot_effects={"nope": 1.0}), DataError, "unknown indicators"),
    (dict(pilot_effects={"icpc_rate_per_10k": float("nan")}), DataError, "finite"),
    (dict(pilot_effects=[1.0]), DataError, "mapping"),
    (dict(start_years={"veteran": 2010}), DataError, "unknown experience"),
    (dict(start_years={"new": 2016.5}), DataError, "integer"),
    (dict(rng="seed"), DataError, "rng"),
])
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        simulate_evaluation(**kwargs)


# --------------------------------------------------------------------------- properties

@st.composite
def _sizes(draw: st.DrawFn) -> dict:
    n_las = draw(st.integers(2, 25))
    n_pilots = draw(st.integers(1, n_las - 1))
    n_workers = draw(st.integers(n_pilots, n_pilots + 15))
    first = draw(st.integers(2008, 2016))
    return dict(n_las=n_las, n_pilots=n_pilots, n_workers=n_workers,
                n_families=draw(st.integers(1, 60)), n_diarists=draw(st.integers(0, n_workers)),
                years=range(first, first + draw(st.integers(1, 6))),
                suppression_share=draw(st.sampled_from([0.0, 0.015, 0.2])),
                rng=draw(st.integers(0, 2**32 - 1)))


@settings(max_examples=30, deadline=None)
@given(_sizes())
def test_invariants_for_small_sizes(sizes: dict) -> None:
    e = simulate_evaluation(**sizes)
    n_years = len(sizes["years"])
    assert e.las.shape[0] == sizes["n_las"] and e.las["la_code"].is_unique
    assert e.las["pilot"].sum() == sizes["n_pilots"]
    assert e.la_indicators.shape[0] == sizes["n_las"] * n_years * len(INDICATORS)
    d = e.la_indicators
    flagged = d["flag"].notna()
    assert flagged.sum() == round(sizes["suppression_share"] * len(d))
    assert d.loc[flagged, "value"].isna().all()
    rate = d[~flagged & d["indicator"].isin(RATES)]
    np.testing.assert_allclose(rate["value"], rate["count"] / rate["denominator"] * 1e4)
    assert e.workers.shape[0] == sizes["n_workers"]
    assert e.workers["la_code"].value_counts().min() >= 1
    assert e.families.shape[0] == sizes["n_families"]
    assert e.diaries.shape[0] == sizes["n_diarists"] * len(ACTIVITIES)
    _check_memberships(e)
    resp = e.families["responded_t2"]
    assert e.families.loc[~resp, T2_INTERVIEW].isna().all().all()
