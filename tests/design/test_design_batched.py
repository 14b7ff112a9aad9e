"""The batched path of simulate_study: families-only simulation, batched CR2, wild per chunk.

Known answers: evaluation_families' tables are simulate_evaluation's bit for bit; the batched
CR2 kernel equals cluster_vcov's CR2 and Satterthwaite df; a batched study equals the
per-replicate study (CR2 to 1e-10, wild bit for bit), and a replicate's numbers do not depend
on the batch (chunk) it was fitted in.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats._kernels.cluster import cluster_vcov
from sosstats._kernels.cluster_cr2_batched import ols_cr2_batched
from sosstats.datasets import simulate_evaluation
from sosstats.design import (
    change_estimator,
    evaluation_families,
    simulate_study,
    study_2017,
)
from sosstats.design._batched import parse_formula
from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.panel import change_model

COLS = ["family_id", "la_code", "experience", "cohort", "previous_referral", "agency_worker",
        "sdq_t1", "sdq_t2", "feelings_t1", "responded_t2"]
SMALL = dict(n_las=30, n_pilots=5, n_workers=40, n_families=90)
VALUES = ["estimate", "std_error", "p_value", "ci_lower", "ci_upper"]


# -- the families table, bit for bit ---------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2017, 987654321])
@pytest.mark.parametrize("sizes", [{}, SMALL], ids=["study", "small"])
def test_families_are_simulate_evaluations_bit_for_bit(seed, sizes):
    extra = dict(n_diarists=10, n_survey=20) if sizes else {}
    ev = simulate_evaluation(rng=seed, **sizes, **extra)
    fam = evaluation_families(**sizes).families(seed)
    pd.testing.assert_frame_equal(fam, ev.families[COLS], check_exact=True)


def test_families_from_a_generator_consume_it_as_simulate_evaluation_does():
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    a = evaluation_families().families(g1)
    b = simulate_evaluation(rng=g2).families[COLS]
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert g1.integers(0, 2**62) == g2.integers(0, 2**62)       # same state afterwards


def test_simulate_evaluation_unchanged_by_the_family_draws_refactor():
    """Frozen values of seed 2017 (before factoring draw_families out of simulate_families)."""
    ev = simulate_evaluation(rng=2017)
    f = ev.families
    assert int(f["sdq_t1"].sum()) == FROZEN["sdq_t1"]
    assert float(np.nansum(f["sdq_t2"])) == FROZEN["sdq_t2"]
    assert int(f["responded_t2"].sum()) == FROZEN["responded"]
    assert int(f["feelings_t2"].fillna(0).sum()) == FROZEN["feelings_t2"]
    assert int(f["removed_t2"].sum()) == FROZEN["removed"]
    assert float(ev.memberships["weight"].sum()) == pytest.approx(270.0)
    assert ev.memberships["worker_id"].tolist()[:6] == FROZEN["workers"]
    assert int(ev.workers["confidence"].sum()) == FROZEN["confidence"]
    assert ev.truth["families"]["outcomes"]["sdq"]["worker_effect"][1] == FROZEN["worker_1"]


FROZEN = {"sdq_t1": 4057, "sdq_t2": 2400.0, "responded": 186, "feelings_t2": 617, "removed": 8,
          "workers": [121, 103, 82, 71, 69, 109], "confidence": 1243,
          "worker_1": -0.8257358054391399}


def test_long_frame_and_truth():
    design = evaluation_families()
    long = design.simulate(3)
    fam = design.families(3)
    assert list(long.columns) == ["family_id", "wave", "sdq", "la_code", "experience",
                                  "cohort", "previous_referral", "agency_worker",
                                  "feelings_t1", "responded"]
    assert len(long) == 2 * len(fam)
    t2 = long[long["wave"] == 2]
    np.testing.assert_array_equal(t2["sdq"].to_numpy(), fam["sdq_t2"].to_numpy())
    assert design.truth == {"Intercept": -1.5, "C(experience)[T.2 years]": 0.0,
                            "C(experience)[T.2 years plus]": 0.0, "C(cohort)[T.2]": 0.0}
    assert design.n_clusters == 10
    assert "EvaluationFamilies(n_las=152" in repr(design)


@pytest.mark.parametrize("kwargs, err, msg", [
    (dict(n_pilots=2), DesignError, "n_pilots"),
    (dict(n_pilots=10, n_las=10), DesignError, "smaller than `n_las`"),
    (dict(n_workers=5), DesignError, "n_workers"),
    (dict(n_families=0), DesignError, "n_families"),
    (dict(n_las=2.5), DataError, "n_las"),
])
def test_bad_sizes(kwargs, err, msg):
    with pytest.raises(err, match=msg):
        evaluation_families(**kwargs)


# -- the batched CR2 kernel ---------------------------------------------------------------------
def _random_batch(rng, B=25, G=8, continuous=True):
    Xs, ys, cls = [], [], []
    for _ in range(B):
        n = int(rng.integers(40, 120))
        c = rng.integers(0, G - 1, n)              # cluster G-1 always empty
        c[:G - 1] = np.arange(G - 1)
        g = c % 3
        cols = [np.ones(n), rng.random(n) < 0.5, g == 1, g == 2]
        if continuous:
            cols.append(rng.lognormal(2.0, 1.0, n))
        X = np.column_stack(cols).astype(float)
        y = X @ rng.normal(size=X.shape[1]) + rng.normal(size=G)[c] + rng.normal(size=n) * 3
        Xs.append(X)
        ys.append(y)
        cls.append(c)
    rep = np.repeat(np.arange(B), [len(y) for y in ys])
    return Xs, ys, cls, np.concatenate(Xs), np.concatenate(ys), rep, np.concatenate(cls)


@pytest.mark.parametrize("continuous", [False, True])
def test_batched_cr2_equals_cluster_vcov(continuous):
    Xs, ys, cls, X, y, rep, cl = _random_batch(np.random.default_rng(11), continuous=continuous)
    fit = ols_cr2_batched(X, y, rep, cl, len(ys), 8)
    assert fit.ok.all() and (fit.n_clusters == 7).all()
    for b in range(len(ys)):
        beta = np.linalg.lstsq(Xs[b], ys[b], rcond=None)[0]
        codes = np.unique(cls[b], return_inverse=True)[1]
        cv = cluster_vcov(Xs[b], ys[b] - Xs[b] @ beta, codes, kind="cr2")
        np.testing.assert_allclose(fit.beta[b], beta, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fit.vcov[b], cv.vcov, rtol=1e-10,
                                   atol=1e-12 * np.abs(cv.vcov).max())
        np.testing.assert_allclose(fit.df[b], cv.df, rtol=1e-10)


def test_batched_cr2_of_a_replicate_does_not_depend_on_its_batch():
    _, ys, _, X, y, rep, cl = _random_batch(np.random.default_rng(3))
    full = ols_cr2_batched(X, y, rep, cl, len(ys), 8)
    for b in (0, 7, len(ys) - 1):
        rows = rep == b
        one = ols_cr2_batched(X[rows], y[rows], np.zeros(rows.sum(), int), cl[rows], 1, 8)
        for name in ("beta", "vcov", "df"):
            assert np.array_equal(getattr(one, name)[0], getattr(full, name)[b])
    part = ols_cr2_batched(X[rep >= 5], y[rep >= 5], rep[rep >= 5] - 5, cl[rep >= 5],
                           len(ys) - 5, 8)
    assert np.array_equal(part.vcov, full.vcov[5:]) and np.array_equal(part.df, full.df[5:])


def test_batched_cr2_flags_what_it_cannot_fit():
    Xs, ys, cls, X, y, rep, cl = _random_batch(np.random.default_rng(4), B=4, continuous=False)
    X = X.copy()
    X[rep == 1, 3] = 0.0                          # a zero column: rank deficient
    X[rep == 2, 2] = X[rep == 2, 0] - X[rep == 2, 1]   # exactly collinear
    cl = cl.copy()
    cl[rep == 3] = 0                              # one cluster
    fit = ols_cr2_batched(X, y, rep, cl, 4, 8)
    assert fit.ok.tolist() == [True, False, False, False]
    assert np.isnan(fit.vcov[1:]).all() and np.isfinite(fit.vcov[0]).all()


# -- the batched study equals the per-replicate study ------------------------------------------
def _compare(batched, per_rep, exact):
    a, b = batched.replicates, per_rep.replicates
    pd.testing.assert_frame_equal(a[["replicate", "term"]], b[["replicate", "term"]])
    for c in VALUES:
        if exact:
            assert np.array_equal(a[c].to_numpy(), b[c].to_numpy(), equal_nan=True), c
        else:
            np.testing.assert_allclose(a[c].to_numpy(), b[c].to_numpy(), rtol=1e-10,
                                       atol=1e-10)


@pytest.mark.parametrize("formula", [
    "sdq ~ C(experience) + C(cohort)",
    "sdq ~ C(cohort) + C(experience)",
    "sdq ~ experience + previous_referral + feelings_t1 + cohort",
    "sdq ~ C(feelings_t1) + agency_worker",
    "sdq ~ 1",
])
def test_batched_cr2_study_equals_the_per_replicate_study(formula):
    design = evaluation_families()
    est = change_estimator(formula, "cr2")
    assert est.batched
    batched = simulate_study(design, est, 30, rng=8, batch_size=13)
    per_rep = simulate_study(design.simulate, est, 30, rng=8, truth=design.truth)
    assert batched.settings["batched"] == 30 and per_rep.settings["batched"] == 0
    _compare(batched, per_rep, exact=False)
    pd.testing.assert_frame_equal(batched.tidy(), per_rep.tidy(), check_exact=False,
                                  rtol=1e-10, atol=1e-10)


def test_batched_wild_study_is_the_per_replicate_study_bit_for_bit():
    design = evaluation_families()
    est = design.estimator("wild")
    batched = simulate_study(design, est, 12, rng=9)
    per_rep = simulate_study(design.simulate, est, 12, rng=9, truth=design.truth)
    assert batched.settings["batched"] == 12
    _compare(batched, per_rep, exact=True)


def test_wild_at_another_level_runs_per_replicate_and_fails_as_change_model_does():
    design = evaluation_families()
    with pytest.raises(DesignError, match="level 0.95"):
        simulate_study(design, design.estimator("wild"), 6, rng=1, level=0.9)


@pytest.mark.parametrize("batch", [1, 5, 64])
def test_batch_size_changes_no_number_on_the_batched_path(batch):
    design = evaluation_families()
    ref = simulate_study(design, design.estimator(), 64, rng=2026, batch_size=64)
    res = simulate_study(design, design.estimator(), 64, rng=2026, batch_size=batch)
    pd.testing.assert_frame_equal(ref.replicates, res.replicates, check_exact=True)


_STUDY = study_2017(structure="fixed", effect=-2.0)
_REF = {}


@settings(max_examples=12, deadline=None)
@given(n=st.integers(1, 30), batch=st.integers(1, 31))
def test_any_batch_size_gives_the_numbers_of_one_batch(n, batch):
    if n not in _REF:
        _REF[n] = simulate_study(_STUDY, _STUDY.estimator(), n, rng=31, batch_size=n)
    res = simulate_study(_STUDY, _STUDY.estimator(), n, rng=31, batch_size=batch)
    assert res.settings["batched"] == n
    pd.testing.assert_frame_equal(_REF[n].replicates, res.replicates, check_exact=True)


def test_batched_path_on_a_pool_and_on_dask_is_bit_for_bit_the_in_process_one():
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    design = evaluation_families()
    est = design.estimator("cr2")
    here = simulate_study(design, est, 40, rng=77)
    pool = simulate_study(design, est, 40, rng=77, n_jobs=2, batch_size=7)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        dask = simulate_study(design, est, 40, rng=77, client=client, batch_size=9)
    for other in (pool, dask):
        assert other.settings["batched"] == 40
        pd.testing.assert_frame_equal(here.replicates, other.replicates, check_exact=True)


def test_replicates_the_batch_cannot_fit_run_per_replicate_with_their_errors():
    """Tiny pilots: some replicates lose an experience group among the respondents."""
    design = evaluation_families(n_las=12, n_pilots=3, n_workers=3, n_families=9)
    est = design.estimator()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SosstatsWarning)
        batched = simulate_study(design, est, 40, rng=5)
        per_rep = simulate_study(design.simulate, est, 40, rng=5, truth=design.truth)
    assert len(per_rep.failures) > 0
    # every failure is refitted per replicate (and so are fits change_model makes that the
    # batch does not: here one with as many respondents as terms, fitted exactly, NaN df)
    assert 0 < batched.settings["batched"] <= 40 - per_rep.failures["replicate"].nunique()
    pd.testing.assert_frame_equal(batched.failures[["replicate", "error", "message"]],
                                  per_rep.failures[["replicate", "error", "message"]])
    a, b = batched.replicates, per_rep.replicates
    pd.testing.assert_frame_equal(a[["replicate", "term"]], b[["replicate", "term"]])
    np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=1e-9, atol=1e-9)
    # nine families in three pilots: many fits are exact (SEs of 1e-15, noise on both sides)
    real = (b["std_error"] > 1e-6).to_numpy()
    np.testing.assert_allclose(a["std_error"][real], b["std_error"][real], rtol=1e-8)


def test_unsupported_formula_runs_per_replicate():
    design = evaluation_families()
    est = change_estimator("sdq ~ C(experience) * C(cohort)", "cr2")
    assert not est.batched and parse_formula(est.formula) is None
    res = simulate_study(design, est, 5, rng=1)
    assert res.settings["batched"] == 0 and res.tidy()["n_ok"].eq(5).all()


def test_cr1_runs_per_replicate_and_equals_change_model():
    design = evaluation_families()
    res = simulate_study(design, design.estimator("cr1"), 3, rng=4)
    assert res.settings["batched"] == 0
    data = design.simulate(np.random.default_rng(np.random.SeedSequence(4, spawn_key=(1,))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SosstatsWarning)
        fit = change_model("sdq ~ C(experience) + C(cohort)", data[data["responded"]],
                           entity="family_id", time="wave", cluster="la_code",
                           inference="cr1")
    got = res.replicates.query("replicate == 1").set_index("term")["estimate"]
    pd.testing.assert_series_equal(got, fit.params.rename("estimate"), check_names=False)


@pytest.mark.parametrize("formula, ok", [
    ("sdq ~ x", True), ("sdq ~ C(x) + z + 1", True), ("sdq~C( x )", True),
    ("sdq ~ x:z", False), ("sdq ~ 0 + x", False), ("sdq ~ x - 1", False),
    ("sdq ~ np.log(x)", False), ("sdq ~ x + x", False), ("sdq ~ C(x) + x", False),
    ("y ~ C(x, Treatment(1))", False), ("no tilde", False),
])
def test_parse_formula(formula, ok):
    assert (parse_formula(formula) is not None) == ok


def test_change_estimator_bad_input():
    with pytest.raises(DataError, match="inference"):
        change_estimator(inference="hc3")
    with pytest.raises(DataError, match="wild_weights"):
        change_estimator(wild_weights="gauss")
    with pytest.raises(DataError, match="formula"):
        change_estimator(formula=3)
    with pytest.raises(DesignError, match="n_resamples"):
        change_estimator(n_resamples=0)


# -- study_2017 on the batched path -------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 3, 2017])
def test_study_2017_structure_is_simulate_evaluations_families_and_memberships(seed):
    design = study_2017(n_pilots=6, families_per_pilot=15, workers_per_pilot=4)
    st = design._structure(seed)
    ev = simulate_evaluation(rng=seed, n_las=7, n_pilots=6, years=[2016], n_workers=24,
                             n_families=90, n_diarists=0, suppression_share=0.0, n_survey=0,
                             n_case_records=0)
    fam, mem = ev.families, ev.memberships
    assert list(st.la_labels) == list(fam["la_code"].cat.categories)
    np.testing.assert_array_equal(st.la, fam["la_code"].cat.codes)
    np.testing.assert_array_equal(st.exp, fam["experience"].cat.codes)
    for mine, theirs in [(st.cohort, "cohort"), (st.prev, "previous_referral"),
                         (st.agency, "agency_worker"), (st.feelings, "feelings_t1")]:
        np.testing.assert_array_equal(mine, fam[theirs].to_numpy())
    assert np.array_equal(st.sdq_t1, fam["sdq_t1"].to_numpy(float))
    assert np.array_equal(st.fam_idx + 1, mem["family_id"].to_numpy())
    assert np.array_equal(st.w_ids + 1, mem["worker_id"].to_numpy())
    assert np.array_equal(st.weight, mem["weight"].to_numpy())


def test_study_2017_replicates_unchanged_by_the_fast_structure():
    """Frozen sums of two replicates, from before the structure stopped calling simulate_evaluation.

    20 design x seed cases were compared frame for frame when the change was made.
    """
    x = study_2017().simulate(0)
    assert float(np.nansum(x["sdq"])) == FROZEN_2017[0] and int(x["responded"].sum()) == 382
    x = study_2017(structure="fixed", attrition_mechanism="mnar").simulate(1)
    assert float(np.nansum(x["sdq"])) == FROZEN_2017[1] and int(x["responded"].sum()) == 386


FROZEN_2017 = (6595.560424400328, 6329.764969231736)


@pytest.mark.parametrize("structure", ["redraw", "fixed"])
def test_study_2017_batched_equals_per_replicate(structure):
    design = study_2017(effect=-3.0, structure=structure, attrition_mechanism="mcar")
    for inference, exact in (("cr2", False), ("wild", True)):
        est = design.estimator(inference)
        batched = simulate_study(design, est, 16, rng=12, batch_size=6)
        per_rep = simulate_study(design.simulate, est, 16, rng=12, truth=design.truth)
        assert batched.settings["batched"] == 16
        _compare(batched, per_rep, exact=exact)


def test_an_estimator_failing_on_every_replicate_stops_early_on_the_batched_path():
    design = evaluation_families()
    est = change_estimator("sdq ~ C(no_such_column)", "cr2")   # parsed, but not in the batch
    with pytest.raises(DesignError, match="each of the first 5 replicates"):
        simulate_study(design, est, 50, rng=1)


def test_a_design_whose_batch_fails_runs_per_replicate():
    class Broken(type(evaluation_families())):
        def simulate_batch(self, generators):
            raise RuntimeError("no batch today")

    design = Broken(152, 10, 200, 270)
    est = design.estimator()
    res = simulate_study(design, est, 6, rng=3)
    ref = simulate_study(evaluation_families(), est, 6, rng=3)
    assert res.settings["batched"] == 0 and ref.settings["batched"] == 6
    _compare(res, ref, exact=False)
