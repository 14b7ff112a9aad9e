"""Invariances (hypothesis) and recovery of known agreement by the agreement statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats.survey.agreement import (
    cohens_kappa,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    percent_agreement,
)

TOL = 1e-12


@st.composite
def ratings(draw, raters: int = 2, missing: bool = False):
    """Coded case files: n cases, k levels, coders agreeing with probability theta."""
    n = draw(st.integers(12, 60))
    k = draw(st.integers(2, 5))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    theta = draw(st.floats(0.2, 0.95))
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    cols = {}
    for j in range(raters):
        c = np.where(rng.random(n) < theta, truth, rng.integers(0, k, n)).astype(float)
        if missing and j > 0:
            c[rng.random(n) < 0.2] = np.nan
        cols[f"c{j + 1}"] = c
    d = pd.DataFrame(cols)
    d["pilot"] = rng.integers(0, 4, n)
    # make sure every coder uses every level (Cohen refuses differing levels otherwise)
    d.iloc[:k, :raters] = np.repeat(np.arange(k, dtype=float)[:, None], raters, axis=1)
    return d, k, rng


@settings(max_examples=40, deadline=None)
@given(ratings())
def test_cohen_swap_raters_and_row_order(case):
    d, _, rng = case
    perm = rng.permutation(len(d))
    for w in (None, "linear", "quadratic"):
        a = cohens_kappa(d, "c1", "c2", weights=w, cluster="pilot", n_resamples=0)
        b = cohens_kappa(d, "c2", "c1", weights=w, cluster="pilot", n_resamples=0)
        c = cohens_kappa(d.iloc[perm], "c1", "c2", weights=w, cluster="pilot", n_resamples=0)
        u = cohens_kappa(d, "c1", "c2", weights=w, n_resamples=0)
        v = cohens_kappa(d, "c2", "c1", weights=w, n_resamples=0)
        for x in (b, c):
            assert x.estimate == pytest.approx(a.estimate, abs=TOL)
            assert x.std_error == pytest.approx(a.std_error, abs=TOL)
        assert v.std_error == pytest.approx(u.std_error, abs=TOL)
        assert v.std_error_null == pytest.approx(u.std_error_null, abs=TOL)
        np.testing.assert_array_equal(b.table.to_numpy(), a.table.to_numpy().T)


@settings(max_examples=40, deadline=None)
@given(ratings(raters=3, missing=True))
def test_nominal_relabelling_and_row_order(case):
    """A bijective relabelling of nominal levels (to text, shuffled) changes nothing."""
    d, k, rng = case
    names = np.array(list("QWERTYU"))[rng.permutation(7)[:k]]
    relab = d.copy()
    for c in ("c1", "c2", "c3"):
        relab[c] = pd.Series(d[c]).map(lambda v: names[int(v)] if v == v else None)
    perm = rng.permutation(len(d))
    raters = ["c1", "c2", "c3"]
    for f in (fleiss_kappa, gwet_ac1, percent_agreement):
        a = f(d, raters, cluster="pilot", n_resamples=0)
        b = f(relab, raters, cluster="pilot", n_resamples=0)
        c = f(relab.iloc[perm], raters, cluster="pilot", n_resamples=0)
        for x in (b, c):
            assert x.estimate == pytest.approx(a.estimate, abs=TOL)
            assert x.std_error == pytest.approx(a.std_error, abs=TOL)
    a = krippendorff_alpha(d, raters, n_resamples=0)
    b = krippendorff_alpha(relab.iloc[perm], raters, n_resamples=0)
    assert b.estimate == pytest.approx(a.estimate, abs=TOL)
    assert b.std_error == pytest.approx(a.std_error, abs=TOL)
    a2 = cohens_kappa(d, "c1", "c3", n_resamples=0)
    b2 = cohens_kappa(relab, "c1", "c3", n_resamples=0)
    assert b2.estimate == pytest.approx(a2.estimate, abs=TOL)


@settings(max_examples=30, deadline=None)
@given(ratings(raters=3, missing=True), st.floats(0.1, 10), st.floats(-5, 5))
def test_affine_rescaling_of_scores(case, scale, shift):
    """Weighted kappa, AC2 and interval alpha depend on the scores only up to a x + b."""
    d, _, _ = case
    e = d.copy()
    for c in ("c1", "c2", "c3"):
        e[c] = d[c] * scale + shift
    for w in ("linear", "quadratic"):
        assert cohens_kappa(e, "c1", "c2", weights=w, n_resamples=0).estimate == pytest.approx(
            cohens_kappa(d, "c1", "c2", weights=w, n_resamples=0).estimate, abs=1e-10)
        assert gwet_ac1(e, ["c1", "c2", "c3"], weights=w, n_resamples=0).estimate == \
            pytest.approx(gwet_ac1(d, ["c1", "c2", "c3"], weights=w, n_resamples=0).estimate,
                          abs=1e-10)
    for m in ("ordinal", "interval"):
        assert krippendorff_alpha(e, ["c1", "c2", "c3"], metric=m, n_resamples=0).estimate == \
            pytest.approx(krippendorff_alpha(d, ["c1", "c2", "c3"], metric=m,
                                             n_resamples=0).estimate, abs=1e-10)


@settings(max_examples=20, deadline=None)
@given(ratings())
def test_bootstrap_row_order_with_clusters(case):
    """Clusters are resampled by their sorted IDs, so row order does not move the bootstrap."""
    d, _, rng = case
    perm = rng.permutation(len(d))
    a = cohens_kappa(d, "c1", "c2", cluster="pilot", n_resamples=50, rng=3)
    b = cohens_kappa(d.iloc[perm], "c1", "c2", cluster="pilot", n_resamples=50, rng=3)
    np.testing.assert_allclose(a.boot, b.boot, atol=1e-12)


def _two_coders(rng, n, theta, pi):
    """Each coder reports the true level with probability theta, else a fresh draw from pi."""
    k = len(pi)
    truth = rng.choice(k, n, p=pi)
    c1 = np.where(rng.random(n) < theta, truth, rng.choice(k, n, p=pi))
    c2 = np.where(rng.random(n) < theta, truth, rng.choice(k, n, p=pi))
    return pd.DataFrame({"c1": c1, "c2": c2})


def test_recovery_of_known_kappa_and_ac1():
    """Under this model the population kappa is theta^2 and AC1 is known in closed form."""
    rng = np.random.default_rng(2026)
    theta, pi = 0.8, np.array([0.5, 0.3, 0.15, 0.05])
    d = _two_coders(rng, 40_000, theta, pi)
    k = cohens_kappa(d, "c1", "c2", n_resamples=0)
    assert abs(k.estimate - theta ** 2) < 3 * k.std_error
    assert k.std_error < 0.005
    pa = theta ** 2 + (1 - theta ** 2) * (pi ** 2).sum()
    pe = (pi * (1 - pi)).sum() / (len(pi) - 1)
    ac1 = gwet_ac1(d, ["c1", "c2"], n_resamples=0)
    assert abs(ac1.estimate - (pa - pe) / (1 - pe)) < 3 * ac1.std_error
    al = krippendorff_alpha(d, ["c1", "c2"], n_resamples=0)
    assert abs(al.estimate - theta ** 2) < 3 * al.std_error


def test_analytic_se_matches_sampling_spread():
    """Over 300 samples of 262 files the FCE standard error tracks the spread of kappa."""
    rng = np.random.default_rng(7)
    est, se = [], []
    for _ in range(300):       # a Monte Carlo over samples, each a public call
        d = _two_coders(rng, 262, 0.75, np.array([0.4, 0.3, 0.2, 0.1]))
        r = cohens_kappa(d, "c1", "c2", weights="quadratic", levels=[0, 1, 2, 3],
                         n_resamples=0)
        est.append(r.estimate)
        se.append(r.std_error)
    assert np.mean(se) == pytest.approx(np.std(est, ddof=1), rel=0.12)


def test_recovery_on_simulate_evaluation():
    """The simulator's double-coded case records (262 at T1, ten pilots) with known kappas.

    Over 15 evaluations the mean estimates sit on the truths (the expected-sample truths
    given the realised pilot effects differ from the population ones by < 0.003), and the
    cluster-robust SE is about the spread of the estimates.
    """
    from sosstats.datasets import simulate_evaluation

    est = {w: [] for w in ("unweighted", "quadratic")}
    se = {w: [] for w in est}
    truth = None
    for seed in range(15):          # 15 simulated evaluations, each a public call
        ev = simulate_evaluation(rng=seed)
        cr = ev.case_records
        t1 = cr[cr["wave"] == "T1"]
        truth = ev.truth["families"]["case_records"]["kappa"]["T1"]
        for w in est:
            r = cohens_kappa(t1, "coder_1", "coder_2", weights=None if w == "unweighted" else w,
                             cluster="la_code", n_resamples=0)
            # pilots with no sampled record are not clusters (seed 17 samples none in one)
            assert r.nobs == 262 and r.n_clusters == t1["la_code"].astype(str).nunique()
            est[w].append(r.estimate)
            se[w].append(r.std_error)
    for w in est:
        e = np.asarray(est[w])
        assert abs(e.mean() - truth[w]) < 3 * e.std(ddof=1) / np.sqrt(len(e)) + 0.003
        assert np.mean(se[w]) == pytest.approx(e.std(ddof=1), rel=0.35)
