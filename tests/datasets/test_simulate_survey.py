"""Tests of the survey parts of ``simulate_evaluation`` (issue 15).

The social-worker survey, families' views at T1 and T2 and double-coded case records, with
their known truths.
"""

from __future__ import annotations

import copy
import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency
from statsmodels.stats.inter_rater import cohens_kappa

from sosstats.datasets._simulate_families import TOOL_LEVELS, TOOLS
from sosstats.datasets._simulate_records import (
    QUALITY_LEVELS,
    confusion_matrix,
    kappa_from_joint,
    simulate_case_records,
)
from sosstats.datasets._simulate_survey import (
    SURVEY_ITEMS,
    VIEW_ITEMS,
    observed_icc,
    ordinal_probabilities,
)
from sosstats.datasets.simulate import Evaluation, simulate_evaluation
from sosstats.errors import DataError, DesignError

GROUPS = ("new", "2 years", "2 years plus")
OLD_FRAMES = ("las", "la_indicators", "workers", "families", "memberships", "diaries")
NEW_FRAMES = ("worker_survey", "family_views", "case_records")
SURVEY_COLUMNS = ["respondent_id", "la_code", "experience", *TOOLS, "confidence",
                  "sos_supervision"]
VIEW_COLUMNS = ["family_id", "la_code", "experience", "cohort", "wave", "feelings",
                "shared_understanding", "concerns", "contact", "helpfulness"]
RECORD_COLUMNS = ["family_id", "la_code", "experience", "cohort", "wave", "coder_1", "coder_2"]

# sha256 (first 16 hex digits) of ``frame.to_csv(index=False)`` and of the JSON of the truth
# (without the new survey keys), made with the simulator of commit e57f6a9, before the survey
# parts were added: the new parts must leave every existing frame bit-for-bit unchanged.
FROZEN = {
    "rng0": ({"rng": 0}, {
        "las": "e3553391b7473902", "la_indicators": "476d7f4325b35e23",
        "workers": "fdb005e42408f492", "families": "d16a818ba09ce360",
        "memberships": "c9e78efb3c477137", "diaries": "d382085225a6098d"},
        "9d38b772169e7edd"),
    "rng2017": ({"rng": 2017}, {
        "las": "b15b5e8e4d028541", "la_indicators": "47fe15679a1cdb6a",
        "workers": "339a58f96e325059", "families": "589db9377814a163",
        "memberships": "bd38c077e325fa62", "diaries": "7a5aa4a69295d390"},
        "84a673805fcd9de8"),
    "sizes": ({"rng": 5, "n_families": 1000, "n_workers": 40, "n_diarists": 7}, {
        "las": "2d213854111da05f", "la_indicators": "682f41ea437a5e31",
        "workers": "9ea501bc50891e29", "families": "a671fdc0e15a174b",
        "memberships": "a80c200b2e795c98", "diaries": "6a3ed7d026efaa91"}, None),
}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _old_truth(ev: Evaluation) -> dict:
    t = copy.deepcopy(ev.truth)
    del t["workers"]["survey"], t["families"]["views"], t["families"]["case_records"]
    t["families"].pop("worker_change", None)   # added later (wave-specific memberships)
    return t


def _leaves(d: object) -> list[object]:
    if isinstance(d, dict):
        return [leaf for v in d.values() for leaf in _leaves(v)]
    return [d]


@pytest.fixture(scope="module")
def ev() -> Evaluation:
    return simulate_evaluation(rng=0)


@pytest.fixture(scope="module")
def big() -> Evaluation:
    return simulate_evaluation(rng=21, n_families=200_000, n_survey=200_000, n_diarists=0)


def _z(observed: float, p: float, n: int) -> float:
    """Binomial z of an observed share against p (0 when p is 0 or 1 and observed equals p)."""
    var = p * (1 - p) / n
    return 0.0 if var == 0 and observed == p else (observed - p) / np.sqrt(var)


# --------------------------------------------------------------------------- unchanged

@pytest.mark.parametrize("name", list(FROZEN))
def test_existing_frames_unchanged(name: str) -> None:
    kwargs, digests, truth_digest = FROZEN[name]
    e = simulate_evaluation(**kwargs)
    got = {f: _digest(getattr(e, f).to_csv(index=False)) for f in OLD_FRAMES}
    assert got == digests
    if truth_digest is not None:
        assert _digest(json.dumps(_old_truth(e), sort_keys=True)) == truth_digest


def test_survey_arguments_do_not_touch_existing_frames() -> None:
    a = simulate_evaluation(4)
    b = simulate_evaluation(4, n_survey=3, n_case_records=10, survey_icc=0.4,
                            survey_effect_scale=0.0, coder_error=0.9)
    for f in OLD_FRAMES:
        pd.testing.assert_frame_equal(getattr(a, f), getattr(b, f))
    assert _old_truth(a) == _old_truth(b)
    assert set(a.truth) == {"pilot_effects", "start_years", "indicators", "las", "workers",
                            "families", "diaries"}


# --------------------------------------------------------------------------- shapes

def test_shapes_columns_and_dtypes(ev: Evaluation) -> None:
    ws, fv, cr = ev.worker_survey, ev.family_views, ev.case_records
    assert list(ws.columns) == SURVEY_COLUMNS and len(ws) == 165
    assert list(fv.columns) == VIEW_COLUMNS
    assert len(fv) == 270 + int(ev.families["responded_t2"].sum())
    assert list(cr.columns) == RECORD_COLUMNS and len(cr) == 2 * 262
    assert ev.survey_settings == {"n_survey": 165, "n_case_records": 262, "survey_icc": 0.1,
                                  "survey_effect_scale": 1.0, "coder_error": 0.2}
    assert "worker_survey=165 rows" in repr(ev) and "case_records=524 rows" in repr(ev)
    assert ws["respondent_id"].is_unique
    for tool in TOOLS:
        assert list(ws[tool].cat.categories) == list(TOOL_LEVELS) and ws[tool].cat.ordered
    assert ws["confidence"].dtype == np.int64 and ws["confidence"].between(1, 10).all()
    assert ws["sos_supervision"].dtype == bool
    assert list(ws["experience"].cat.categories) == list(GROUPS)
    pilots = set(ev.las.loc[ev.las["pilot"], "la_code"])
    assert set(ws["la_code"].astype(str)) <= pilots
    exp = ev.las.set_index("la_code")["experience"].astype(str)
    np.testing.assert_array_equal(ws["experience"].astype(str),
                                  exp.loc[ws["la_code"].astype(str)].to_numpy())
    assert list(fv["wave"].cat.categories) == ["T1", "T2"]
    assert list(fv["feelings"].cat.categories) == list(VIEW_ITEMS["feelings"]["levels"])
    assert fv["feelings"].cat.ordered
    assert list(fv["shared_understanding"].cat.categories) == ["yes", "no", "not sure"]
    assert list(fv["concerns"].cat.categories) == ["fewer", "same", "more"]
    assert list(fv["contact"].cat.categories) == ["helpful", "mixed", "unhelpful", "no answer"]
    assert fv["helpfulness"].dtype == np.int64 and fv["helpfulness"].between(1, 5).all()
    assert list(cr["coder_1"].cat.categories) == list(QUALITY_LEVELS) and cr["coder_2"].cat.ordered


def test_views_follow_families_and_attrition(ev: Evaluation) -> None:
    fam, fv = ev.families.set_index("family_id"), ev.family_views
    t1, t2 = fv[fv["wave"] == "T1"], fv[fv["wave"] == "T2"]
    np.testing.assert_array_equal(t1["family_id"], fam.index)
    np.testing.assert_array_equal(t2["family_id"], fam.index[fam["responded_t2"]])
    for col in ("la_code", "experience", "cohort"):
        np.testing.assert_array_equal(fv[col].astype(str).to_numpy(),
                                      fam.loc[fv["family_id"], col].astype(str).to_numpy())
    assert t1["concerns"].isna().all() and t2["concerns"].notna().all()
    assert t1["shared_understanding"].notna().all() and t1["contact"].notna().all()
    # feelings non-response is item missingness (NaN), about 3%
    assert 0 < fv["feelings"].isna().mean() < 0.1


def test_views_share_the_outcome_models_pilots_and_pair_within_family(big: Evaluation) -> None:
    views = big.truth["families"]["views"]
    feel = big.truth["families"]["outcomes"]["feelings"]
    for code, value in views["pilot_effect"].items():
        z = feel["pilot_effect"][code] / (feel["sign"] * feel["sd_pilot"])
        assert value == pytest.approx(np.sqrt(views["icc_pilot"]) * z, rel=1e-12)
    # a family's T1 and T2 answers are correlated (family and family-by-item effects)
    fv = big.family_views
    wide = fv.pivot(index="family_id", columns="wave", values="helpfulness").dropna()
    r = np.corrcoef(wide["T1"], wide["T2"])[0, 1]
    assert 0.35 < r < 0.75
    # and the views go with the outcome model's feelings through the shared pilot and worker
    t1 = fv[fv["wave"] == "T1"].set_index("family_id")
    outcome = big.families.set_index("family_id")["feelings_t1"]
    assert np.corrcoef(t1["helpfulness"], outcome.loc[t1.index])[0, 1] > 0.05


def test_case_records_structure(ev: Evaluation) -> None:
    cr, fam = ev.case_records, ev.families.set_index("family_id")
    t1, t2 = cr[cr["wave"] == "T1"], cr[cr["wave"] == "T2"]
    assert t1["family_id"].is_unique and len(t1) == 262
    np.testing.assert_array_equal(t1["family_id"], t2["family_id"])
    assert set(t1["family_id"]) <= set(fam.index)
    np.testing.assert_array_equal(cr["la_code"].astype(str).to_numpy(),
                                  fam.loc[cr["family_id"], "la_code"].astype(str).to_numpy())
    # records exist at T2 whether or not the family was re-interviewed
    assert (~fam.loc[t2["family_id"], "responded_t2"]).any()
    e = simulate_evaluation(1, n_families=40, n_case_records=40)
    assert len(e.case_records) == 80 and e.case_records["family_id"].nunique() == 40
    assert simulate_evaluation(1, n_families=50).survey_settings["n_case_records"] == 49


def test_empty_parts() -> None:
    e = simulate_evaluation(2, n_survey=0, n_case_records=0)
    assert e.worker_survey.shape == (0, len(SURVEY_COLUMNS))
    assert e.case_records.shape == (0, len(RECORD_COLUMNS))
    assert np.isnan(e.truth["families"]["case_records"]["kappa_expected"]["T1"]["quadratic"])


# --------------------------------------------------------------------------- seeds

def test_reproducible_by_seed() -> None:
    a, b, c = simulate_evaluation(42), simulate_evaluation(42), simulate_evaluation(43)
    for f in NEW_FRAMES:
        pd.testing.assert_frame_equal(getattr(a, f), getattr(b, f))
        assert not getattr(a, f).equals(getattr(c, f))
    assert a.truth == b.truth


def test_generator_state_and_settings_rebuild() -> None:
    g = np.random.default_rng(8)
    e1 = simulate_evaluation(rng=g, n_families=60, n_survey=30, survey_icc=0.2,
                             coder_error=0.1)
    g2 = np.random.default_rng()
    g2.bit_generator.state = e1.rng_state
    e2 = simulate_evaluation(rng=g2, **e1.sizes, **e1.survey_settings)
    for f in (*OLD_FRAMES, *NEW_FRAMES):
        pd.testing.assert_frame_equal(getattr(e1, f), getattr(e2, f))


def test_survey_does_not_depend_on_family_sizes() -> None:
    a = simulate_evaluation(9)
    b = simulate_evaluation(9, n_families=1000, n_diarists=3)
    pd.testing.assert_frame_equal(a.worker_survey, b.worker_survey)


# --------------------------------------------------------------------------- truths

def test_truth_is_plain_numbers(ev: Evaluation) -> None:
    survey = ev.truth["workers"]["survey"]
    views = ev.truth["families"]["views"]
    records = ev.truth["families"]["case_records"]
    leaves = _leaves({"s": survey, "v": views, "r": records})
    assert leaves and all(isinstance(v, (float, int)) and not isinstance(v, bool)
                          for v in leaves)
    assert set(survey["proportions"]) == set(SURVEY_ITEMS)
    for item, by_group in survey["proportions"].items():
        for g in GROUPS:
            assert sum(by_group[g].values()) == pytest.approx(1.0)
    assert set(views["proportions"]) == set(VIEW_ITEMS)
    assert set(views["proportions"]["concerns"]) == {"T2"}
    for item, waves in views["proportions"].items():
        for wave, by_group in waves.items():
            for g in GROUPS:
                for cohort in (1, 2):
                    assert sum(by_group[g][cohort].values()) == pytest.approx(1.0)
    assert views["proportions"]["feelings"]["T1"]["new"][1]["missing"] == pytest.approx(0.03)
    assert views["proportions"]["contact"]["T1"]["new"][1]["no answer"] == pytest.approx(0.05)
    assert survey["icc_pilot"] == views["icc_pilot"] == records["icc_pilot"] == 0.1
    assert survey["icc_pilot"] + survey["var_worker"] + survey["var_noise"] == pytest.approx(1)
    assert (views["icc_pilot"] + views["var_worker"] + views["var_family"]
            + views["var_family_item"] + views["var_noise"]) == pytest.approx(1)
    for coder in ("coder_1", "coder_2"):
        for row in records["confusion"][coder].values():
            assert sum(row.values()) == pytest.approx(1.0)


def test_null_scale_gives_study_shares_in_every_group() -> None:
    e = simulate_evaluation(3, survey_effect_scale=0.0)
    survey = e.truth["workers"]["survey"]["proportions"]
    for tool, (p_all, p_some, p_none) in TOOLS.items():
        for g in GROUPS:
            assert survey[tool][g]["all families"] == pytest.approx(p_all, abs=1e-12)
            assert survey[tool][g]["some families"] == pytest.approx(p_some, abs=1e-12)
            assert survey[tool][g]["not at all"] == pytest.approx(p_none, abs=1e-12)
        assert survey["sos_supervision"][g]["yes"] == pytest.approx(0.76, abs=1e-12)
    views = e.truth["families"]["views"]["proportions"]
    feel = views["feelings"]["T1"]["2 years"][2]
    assert feel["positive"] + feel["very positive"] == pytest.approx(0.97 * 0.445)
    assert feel["negative"] + feel["very negative"] == pytest.approx(0.97 * 0.38)
    assert views["contact"]["T2"]["new"][1]["helpful"] == pytest.approx(0.48)
    assert views["concerns"]["T2"]["2 years plus"][2]["fewer"] == pytest.approx(0.63)
    assert views["shared_understanding"]["T1"]["new"][2]["yes"] == pytest.approx(0.53)
    rec = e.truth["families"]["case_records"]
    assert rec["improvement"] == 0.0
    assert rec["proportions"]["T1"] == pytest.approx(rec["proportions"]["T2"])


def test_default_shares_near_study() -> None:
    # at the default effects, the nominal mix (0.3 / 0.4 / 0.3 groups, cohorts 1:1) of the
    # population proportions stays near the study's overall figures
    e = simulate_evaluation(0)
    mix = dict(zip(GROUPS, (0.3, 0.4, 0.3)))
    survey = e.truth["workers"]["survey"]["proportions"]
    for tool, (p_all, _p_some, p_none) in TOOLS.items():
        assert sum(mix[g] * survey[tool][g]["all families"] for g in GROUPS) == \
            pytest.approx(p_all, abs=0.03)
        assert sum(mix[g] * survey[tool][g]["not at all"] for g in GROUPS) == \
            pytest.approx(p_none, abs=0.03)
    views = e.truth["families"]["views"]["by_experience"]

    def mixed(item: str, wave: str, levels: tuple) -> float:
        return sum(mix[g] * sum(views[item][wave][g][lv] for lv in levels) for g in GROUPS)

    assert mixed("feelings", "T1", ("positive", "very positive")) == pytest.approx(0.43, abs=0.02)
    assert mixed("feelings", "T1", ("negative", "very negative")) == pytest.approx(0.37, abs=0.02)
    assert mixed("feelings", "T1", ("no strong feelings",)) == pytest.approx(0.17, abs=0.02)
    assert mixed("shared_understanding", "T1", ("yes",)) == pytest.approx(0.53, abs=0.02)
    assert mixed("concerns", "T2", ("fewer",)) == pytest.approx(0.63, abs=0.02)
    assert mixed("concerns", "T2", ("more",)) == pytest.approx(0.12, abs=0.02)
    assert mixed("contact", "T1", ("helpful",)) == pytest.approx(0.48, abs=0.02)


def test_two_year_group_more_satisfied_and_cohort_2_higher(ev: Evaluation) -> None:
    views = ev.truth["families"]["views"]
    for item, level in (("contact", "helpful"), ("helpfulness", 5)):
        t1 = views["by_experience"][item]["T1"]
        assert t1["2 years"][level] > t1["new"][level] + 0.08
        assert t1["2 years"][level] > t1["2 years plus"][level] + 0.08
        for g in GROUPS:
            p = views["proportions"][item]["T1"][g]
            assert p[2][level] > p[1][level] + 0.03
        # the steep decline of the 2-year group at T2
        t2 = views["by_experience"][item]["T2"]
        assert t1["2 years"][level] - t2["2 years"][level] > 0.1


def test_recording_quality_improves(ev: Evaluation) -> None:
    rec = ev.truth["families"]["case_records"]
    assert rec["improvement"] == pytest.approx(0.4)
    assert rec["mean_score"]["T2"] > rec["mean_score"]["T1"] + 0.2
    assert rec["proportions"]["T2"]["poor"] < rec["proportions"]["T1"]["poor"]
    assert rec["proportions"]["T2"]["very good"] > rec["proportions"]["T1"]["very good"]
    assert 0.5 < rec["kappa"]["pooled"]["quadratic"] < 0.95
    assert rec["kappa"]["T1"]["unweighted"] < rec["kappa"]["T1"]["linear"] \
        < rec["kappa"]["T1"]["quadratic"]


# --------------------------------------------------------------------------- kernels

def test_ordinal_probabilities() -> None:
    cuts = np.array([-1.0, 0.0, 2.0])
    p = ordinal_probabilities(cuts, np.array([[0.0, 0.5], [-3.0, 1.0]]), 1.5)
    assert p.shape == (2, 2, 4)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0)
    from scipy.stats import norm
    np.testing.assert_allclose(p[0, 1, 0], norm.cdf((-1.0 - 0.5) / 1.5))
    np.testing.assert_allclose(p[1, 1, 3], 1 - norm.cdf((2.0 - 1.0) / 1.5))


def test_observed_icc_against_bivariate_normal(ev: Evaluation) -> None:
    from scipy.stats import multivariate_normal, norm

    cuts, mu, rho = np.array([-1.2, 0.4, 1.9]), np.array([0.0, 0.7]), 0.1
    got = observed_icc(cuts, mu, rho)
    biv = multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]])
    for i, m in enumerate(mu):
        for k, c in enumerate(cuts):
            p = norm.cdf(c - m)
            both = biv.cdf([c - m, c - m])
            assert got[i, k] == pytest.approx((both - p * p) / (p * (1 - p)), abs=1e-7)
    np.testing.assert_allclose(observed_icc(cuts, mu, 0.0), 0.0, atol=1e-12)
    # the survey's observed-scale ICCs are below the latent one, as they must be
    survey = ev.truth["workers"]["survey"]
    values = _leaves(survey["icc_observed"])
    assert len(values) == 3 * (7 * 2 + 9 + 1) and all(0 < v < survey["icc_pilot"] for v in values)
    assert all(0 < v < 0.1 for v in _leaves(ev.truth["families"]["case_records"]["icc_observed"]))


def test_confusion_matrix_and_kappa_against_statsmodels() -> None:
    c = confusion_matrix(4, 0.05, 0.15)
    np.testing.assert_allclose(c.sum(axis=1), 1.0)
    # a step past an end stays there: level 0 keeps its "down" mass, level 3 its "up" mass
    assert c[0, 0] == pytest.approx(0.85) and c[3, 3] == pytest.approx(0.95)
    assert c[1, 0] == pytest.approx(0.05) and c[1, 2] == pytest.approx(0.15)
    joint = np.einsum("k,ka,kb->ab", np.array([0.2, 0.4, 0.3, 0.1]), confusion_matrix(4, .1, .1), c)
    ours = kappa_from_joint(joint)
    table = joint * 10_000
    assert ours["agreement"] == pytest.approx(np.trace(joint))
    assert ours["unweighted"] == pytest.approx(cohens_kappa(table).kappa, rel=1e-12)
    assert ours["linear"] == pytest.approx(cohens_kappa(table, wt="linear").kappa, rel=1e-12)
    assert ours["quadratic"] == pytest.approx(cohens_kappa(table, wt="quadratic").kappa,
                                              rel=1e-12)


# --------------------------------------------------------------------------- recovery

def test_survey_recovers_expected_shares(big: Evaluation) -> None:
    # given the realised pilot effects, respondents are independent: binomial error only
    ws, truth = big.worker_survey, big.truth["workers"]["survey"]
    n = len(ws)
    for item in SURVEY_ITEMS:
        col = ws[item] if item != "sos_supervision" else ws[item].map({True: "yes",
                                                                        False: "no"})
        share = col.value_counts(normalize=True)
        for level, p in truth["expected"][item].items():
            assert abs(_z(share.get(level, 0.0), p, n)) < 4.5, (item, level)
        for g in GROUPS:
            rows = ws["experience"] == g
            share_g = col[rows].value_counts(normalize=True)
            for level, p in truth["expected_by_experience"][item][g].items():
                assert abs(_z(share_g.get(level, 0.0), p, int(rows.sum()))) < 4.5
    mean_conf = ws.groupby("experience", observed=True)["confidence"].mean()
    assert mean_conf["2 years plus"] > mean_conf["new"] + 0.5


def test_views_recover_expected_shares(big: Evaluation) -> None:
    fv, truth = big.family_views, big.truth["families"]["views"]
    for item, waves in truth["expected"].items():
        for wave, levels in waves.items():
            col = fv.loc[fv["wave"] == wave, item]
            share = col.value_counts(normalize=True, dropna=False)
            for level, p in levels.items():
                obs = col.isna().mean() if level == "missing" else share.get(level, 0.0)
                assert abs(_z(obs, p, len(col))) < 4.5, (item, wave, level)
    # the 2-year group is more satisfied in the sample too, and cohort 2 more than cohort 1
    t1 = fv[fv["wave"] == "T1"]
    helpful = (t1["contact"] == "helpful").groupby(t1["experience"], observed=True).mean()
    assert helpful["2 years"] > max(helpful["new"], helpful["2 years plus"]) + 0.08
    by_cohort = (t1["contact"] == "helpful").groupby(t1["cohort"]).mean()
    assert by_cohort[2] > by_cohort[1] + 0.03
    exp_c = truth["expected_by_cohort"]["contact"]["T1"]
    assert by_cohort[2] - by_cohort[1] == pytest.approx(
        exp_c[2]["helpful"] - exp_c[1]["helpful"], abs=0.015)


def test_views_t2_respondents_differ_from_all_families(big: Evaluation) -> None:
    # attrition favours cohort 2 (and better-served families), so T2 respondents' shares are
    # not those of all families; the truth states both
    truth = big.truth["families"]["views"]
    resp = truth["expected"]["contact"]["T2"]["helpful"]
    everyone = truth["expected_all_t2"]["contact"]["helpful"]
    assert resp > everyone


def test_case_records_recover_agreement_and_improvement(big: Evaluation) -> None:
    cr, truth = big.case_records, big.truth["families"]["case_records"]
    for wave in ("T1", "T2"):
        d = cr[cr["wave"] == wave]
        n = len(d)
        share = d["coder_1"].value_counts(normalize=True)
        a, b = d["coder_1"].cat.codes.to_numpy(), d["coder_2"].cat.codes.to_numpy()
        agree = float((a == b).mean())
        assert abs(_z(agree, truth["agreement_expected"][wave], n)) < 4.5
        table = np.zeros((4, 4))
        np.add.at(table, (a, b), 1.0)
        for wt, name in ((None, "unweighted"), ("linear", "linear"),
                         ("quadratic", "quadratic")):
            k = cohens_kappa(table, wt=wt) if wt else cohens_kappa(table)
            assert k.kappa == pytest.approx(truth["kappa_expected"][wave][name], abs=0.01)
            assert abs(k.kappa - truth["kappa_expected"][wave][name]) < 5 * k.std_kappa
        assert share.index.isin(QUALITY_LEVELS).all()
    # recording improves within records (paired), as a whole and by coder
    t1 = cr[cr["wave"] == "T1"]["coder_1"].cat.codes.to_numpy()
    t2 = cr[cr["wave"] == "T2"]["coder_1"].cat.codes.to_numpy()
    assert (t2 - t1).mean() > 0.2
    assert (t2 > t1).mean() > (t2 < t1).mean() + 0.1


def test_case_records_recover_confusion_matrix(big: Evaluation) -> None:
    fam = big.families
    fam_la = fam["la_code"].cat.codes.to_numpy().astype(np.int64)
    codes = np.asarray(fam["la_code"].cat.categories, dtype=object)
    frame, truth, true = simulate_case_records(np.random.default_rng(3), 150_000, fam, fam_la,
                                               codes, 0.1, 1.0, 0.3)
    t = true.ravel()
    for name in ("coder_1", "coder_2"):
        r = frame[name].cat.codes.to_numpy()
        for k, level in enumerate(QUALITY_LEVELS):
            rows = t == k
            share = np.bincount(r[rows], minlength=4) / rows.sum()
            target = np.array(list(truth["confusion"][name][level].values()))
            np.testing.assert_allclose(share, target, atol=4.5 * np.sqrt(0.25 / rows.sum()))
    # the true levels recover the expected proportions
    for w, wave in enumerate(("T1", "T2")):
        share = np.bincount(true[w], minlength=4) / true.shape[1]
        target = np.array(list(truth["expected"][wave].values()))
        np.testing.assert_allclose(share, target, atol=4.5 * np.sqrt(0.25 / true.shape[1]))


def test_population_proportions_over_seeds() -> None:
    # averaged over seeds (new pilots and pilot effects each time) the group shares centre on
    # the population truth, which the pilot effects shift within any one evaluation
    shares, recs = [], []
    for seed in range(60):
        e = simulate_evaluation(seed, n_families=300, n_diarists=0, n_survey=300)
        ws = e.worker_survey
        shares.append((ws["tool_mapping"] == "all families").groupby(
            ws["experience"], observed=False).mean().to_numpy())
        cr = e.case_records
        recs.append((cr["coder_1"] == "poor").groupby(cr["wave"], observed=False).mean())
    shares, recs = np.array(shares), np.array(recs)
    truth = e.truth["workers"]["survey"]["proportions"]["tool_mapping"]
    se = np.nanstd(shares, axis=0, ddof=1) / np.sqrt(shares.shape[0])
    target = np.array([truth[g]["all families"] for g in GROUPS])
    assert np.all(np.abs(np.nanmean(shares, axis=0) - target) < 4 * se)
    rec = e.truth["families"]["case_records"]
    c1 = np.array([[row[lv] for lv in QUALITY_LEVELS] for row in
                   rec["confusion"]["coder_1"].values()])
    for w, wave in enumerate(("T1", "T2")):
        pi = np.array(list(rec["proportions"][wave].values()))
        target = (pi @ c1)[0]                     # coder 1's population share of "poor"
        assert abs(recs[:, w].mean() - target) < 4 * recs[:, w].std(ddof=1) / np.sqrt(60)


def test_naive_chi_square_overstates_evidence() -> None:
    # a null simulation (no group differences): a naive Pearson test of tool use by
    # experience group rejects far more often than 5% when pilots are clustered, and about
    # 5% when they are not
    def rejection_rate(icc: float) -> float:
        hits = []
        for seed in range(150):
            e = simulate_evaluation(seed, n_families=20, n_diarists=0, n_case_records=0,
                                    survey_effect_scale=0.0, survey_icc=icc)
            ws = e.worker_survey
            table = pd.crosstab(ws["tool_mapping"] == "all families", ws["experience"])
            hits.append(chi2_contingency(table, correction=False)[1] < 0.05)
        return float(np.mean(hits))

    assert rejection_rate(0.1) > 0.13
    assert rejection_rate(0.0) < 0.11


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize(("kwargs", "error", "match"), [
    (dict(n_survey=-1), DesignError, "n_survey"),
    (dict(n_survey=1.5), DataError, "n_survey"),
    (dict(n_case_records=-1), DesignError, "n_case_records"),
    (dict(n_case_records=271), DesignError, "cannot exceed `n_families`"),
    (dict(n_families=10, n_case_records=11), DesignError, "n_case_records"),
    (dict(n_case_records="262"), DataError, "n_case_records"),
    (dict(survey_icc=0.6), DataError, "survey_icc"),
    (dict(survey_icc=-0.1), DataError, "survey_icc"),
    (dict(survey_icc="a"), DataError, "survey_icc"),
    (dict(survey_icc=True), DataError, "survey_icc"),
    (dict(survey_effect_scale=float("nan")), DataError, "survey_effect_scale"),
    (dict(survey_effect_scale="x"), DataError, "survey_effect_scale"),
    (dict(survey_effect_scale=True), DataError, "survey_effect_scale"),
    (dict(coder_error=1.5), DataError, "coder_error"),
    (dict(coder_error=None), DataError, "coder_error"),
])
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        simulate_evaluation(**kwargs)


# --------------------------------------------------------------------------- properties

@settings(max_examples=25, deadline=None)
@given(n_families=st.integers(1, 40), n_survey=st.integers(0, 40),
       share=st.floats(0, 1), icc=st.sampled_from([0.0, 0.1, 0.5]),
       coder_error=st.sampled_from([0.0, 0.2, 1.0]), seed=st.integers(0, 2**32 - 1))
def test_invariants_for_small_sizes(n_families: int, n_survey: int, share: float, icc: float,
                                    coder_error: float, seed: int) -> None:
    n_records = int(round(share * n_families))
    e = simulate_evaluation(seed, n_las=12, n_pilots=4, n_workers=8, n_diarists=0,
                            n_families=n_families, n_survey=n_survey,
                            n_case_records=n_records, survey_icc=icc, coder_error=coder_error)
    assert len(e.worker_survey) == n_survey
    assert len(e.family_views) == n_families + int(e.families["responded_t2"].sum())
    assert len(e.case_records) == 2 * n_records
    assert e.case_records["family_id"].isin(e.families["family_id"]).all()
    if coder_error == 0.0:
        assert (e.case_records["coder_1"] == e.case_records["coder_2"]).all()
    assert all(isinstance(v, float) for v in
               _leaves(e.truth["families"]["case_records"]["kappa"]))
