"""Agreement coefficients against references: statsmodels live, irrCAC and krippendorff frozen.

The frozen values come from tests/fixtures/agreement_reference.py (irrCAC 0.4.4, a port of
Gwet's R package, and krippendorff 0.9.0, run in their own venv because irrCAC pins old
pandas / scipy; R's irr and psych are not installed). Deterministic quantities match to 1e-10
(irrCAC was asked for 15 digits).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats import inter_rater as smir

from sosstats.errors import DesignError
from sosstats.survey.agreement import (
    AgreementResult,
    CohenKappaResult,
    agreement,
    cohens_kappa,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    percent_agreement,
)

FIX = Path(__file__).resolve().parents[1] / "fixtures"
TOL = 1e-10


def _input() -> dict[str, pd.DataFrame]:
    long = pd.read_csv(FIX / "agreement_reference_input.csv")
    out = {}
    for name, part in long.groupby("dataset", sort=False):
        wide = part.pivot(index="unit", columns="rater", values="value")
        wide = wide[list(pd.unique(part["rater"]))]
        wide.columns.name = None
        if part["cluster"].notna().all():
            wide["pilot"] = part.groupby("unit")["cluster"].first().astype(int)
        out[name] = wide.reset_index(drop=True)
    out["coded2"] = out["coded"][["coder1", "coder2", "pilot"]]
    return out


DATA = _input()
REF = pd.read_csv(FIX / "agreement_reference_values.csv")
RATERS = {"krippendorff2011": ["A", "B", "C", "D"], "fleiss1971": [f"r{i}" for i in range(1, 7)],
          "gwet5": ["O1", "O2", "O3", "O4", "O5"], "coded": ["coder1", "coder2", "coder3"],
          "skewed": ["coder1", "coder2"], "coded2": ["coder1", "coder2"]}
CASES = [(d, w) for d in RATERS for w in ("identity", "linear", "quadratic")]


def _ref(dataset: str, coefficient: str, weights: str) -> pd.Series:
    row = REF[(REF.dataset == dataset) & (REF.coefficient == coefficient)
              & (REF.weights == weights)]
    assert len(row) == 1
    return row.iloc[0]


def _w(weights: str) -> str | None:
    return None if weights == "identity" else weights


@pytest.mark.parametrize(("dataset", "weights"), CASES)
@pytest.mark.parametrize(("func", "coefficient"), [(fleiss_kappa, "fleiss"), (gwet_ac1, "ac1")])
def test_gwet_family_matches_irrcac(func, coefficient, dataset, weights):
    res = func(DATA[dataset], RATERS[dataset], weights=_w(weights), n_resamples=0)
    ref = _ref(dataset, coefficient, weights)
    assert res.estimate == pytest.approx(ref.estimate, abs=TOL)
    assert res.std_error == pytest.approx(ref.se, abs=TOL)
    assert res.p_observed == pytest.approx(ref.pa, abs=TOL)
    assert res.p_expected == pytest.approx(ref.pe, abs=TOL)
    assert res.df == res.nobs - 1


@pytest.mark.parametrize("dataset", list(RATERS))
@pytest.mark.parametrize("weights", ["identity", "linear", "quadratic"])
def test_percent_agreement_is_irrcac_pa(dataset, weights):
    res = percent_agreement(DATA[dataset], RATERS[dataset], weights=_w(weights),
                            n_resamples=0)
    assert res.estimate == pytest.approx(_ref(dataset, "ac1", weights).pa, abs=TOL)
    assert np.isnan(res.tidy()["statistic"].iloc[0])


@pytest.mark.parametrize("dataset", list(RATERS))
@pytest.mark.parametrize("metric", ["nominal", "ordinal", "interval"])
def test_alpha_matches_krippendorff_package(dataset, metric):
    res = krippendorff_alpha(DATA[dataset], RATERS[dataset], metric=metric, n_resamples=0)
    assert res.estimate == pytest.approx(_ref(dataset, "alpha", metric).estimate, abs=TOL)


@pytest.mark.parametrize("dataset", list(RATERS))
@pytest.mark.parametrize(("metric", "weights"), [("nominal", "identity"),
                                                  ("interval", "quadratic")])
def test_alpha_standard_error_matches_irrcac(dataset, metric, weights):
    res = krippendorff_alpha(DATA[dataset], RATERS[dataset], metric=metric, n_resamples=0)
    ref = _ref(dataset, "alpha_gwet", weights)
    assert res.estimate == pytest.approx(ref.estimate, abs=TOL)
    assert res.std_error == pytest.approx(ref.se, abs=TOL)


def test_published_values():
    """Published values.

    Fleiss (1971): kappa 0.430; Krippendorff (2011): 0.743 / 0.815 / 0.849; Gwet (2014): AC1
    0.7754 on the same data.
    """
    assert round(fleiss_kappa(DATA["fleiss1971"], RATERS["fleiss1971"], n_resamples=0)
                 .estimate, 3) == 0.430
    k = DATA["krippendorff2011"]
    got = [round(krippendorff_alpha(k, list("ABCD"), metric=m, n_resamples=0).estimate, 3)
           for m in ("nominal", "ordinal", "interval")]
    assert got == [0.743, 0.815, 0.849]
    assert round(gwet_ac1(k, list("ABCD"), n_resamples=0).estimate, 4) == 0.7754


def test_fleiss_matches_statsmodels_on_complete_data():
    d = DATA["fleiss1971"]
    table, _ = smir.aggregate_raters(d.to_numpy(dtype=int))
    ours = fleiss_kappa(d, RATERS["fleiss1971"], n_resamples=0).estimate
    assert ours == pytest.approx(smir.fleiss_kappa(table, method="fleiss"), abs=TOL)


def _sm_table(d: pd.DataFrame, a: str, b: str) -> np.ndarray:
    x = d[[a, b]].dropna()
    lv = sorted(set(x[a]) | set(x[b]))
    return pd.crosstab(pd.Categorical(x[a], lv), pd.Categorical(x[b], lv),
                       dropna=False).to_numpy()


@pytest.mark.parametrize("dataset", ["coded2", "skewed"])
@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_matches_statsmodels(dataset, weights):
    d = DATA[dataset]
    res = cohens_kappa(d, "coder1", "coder2", weights=weights, n_resamples=0)
    t = _sm_table(d, "coder1", "coder2")
    sm = smir.cohens_kappa(t, wt=weights) if weights else smir.cohens_kappa(t)
    assert res.estimate == pytest.approx(sm.kappa, abs=TOL)
    assert res.std_error == pytest.approx(sm.std_kappa, abs=TOL)
    assert res.std_error_null == pytest.approx(sm.std_kappa0, abs=TOL)
    assert res.tidy()["statistic"].iloc[0] == pytest.approx(sm.z_value, abs=1e-8)
    assert res.p_value == pytest.approx(sm.pvalue_two_sided, abs=1e-12)
    np.testing.assert_array_equal(res.table.to_numpy(), t)


def test_cohen_with_missing_ratings_drops_rows_and_matches_statsmodels():
    d = DATA["coded"]
    res = cohens_kappa(d, "coder1", "coder3", weights="quadratic", n_resamples=0)
    sm = smir.cohens_kappa(_sm_table(d, "coder1", "coder3"), wt="quadratic")
    assert res.estimate == pytest.approx(sm.kappa, abs=TOL)
    assert res.n_dropped == int(d["coder3"].isna().sum())
    assert res.nobs + res.n_dropped == len(d)


def test_two_rater_ac1_is_gwet_2008_by_hand():
    """AC1 of two raters is Gwet (2008)'s two-rater formula, computed by hand."""
    d = DATA["coded2"]
    a, b = d["coder1"].to_numpy(), d["coder2"].to_numpy()
    lv = np.unique(np.r_[a, b])
    pa = np.mean(a == b)
    pi = np.array([(np.mean(a == v) + np.mean(b == v)) / 2 for v in lv])
    pe = (pi * (1 - pi)).sum() / (len(lv) - 1)
    res = gwet_ac1(d, ["coder1", "coder2"], n_resamples=0)
    assert res.estimate == pytest.approx((pa - pe) / (1 - pe), abs=TOL)


def test_acceptance_call_and_tidy_columns():
    d = DATA["coded2"]
    import sosstats.survey as survey

    f = getattr(survey, "cohens_kappa", cohens_kappa)   # the lead re-exports it
    res = f(d, "coder1", "coder2", weights="quadratic", rng=1)
    assert isinstance(res, CohenKappaResult)
    tidy = res.tidy()
    for col in ("term", "estimate", "std_error", "statistic", "p_value", "ci_lower", "ci_upper",
                "df", "boot_lower", "boot_upper", "boot_se"):
        assert col in tidy.columns
    assert tidy.shape[0] == 1 and tidy["term"].iloc[0] == "kappa"
    text = str(res.summary())
    assert "Fleiss, Cohen & Everitt" in text and "Bootstrap: 2,000 resamples" in text
    assert res.to_dict()["estimates"][0]["estimate"] == pytest.approx(res.estimate)


def test_clustered_inference_is_stated_and_uses_g_minus_1():
    d = DATA["coded2"]
    res = cohens_kappa(d, "coder1", "coder2", cluster="pilot", rng=3, n_resamples=500)
    assert res.df == 9 and res.n_clusters == 10
    s = str(res)
    assert "10 clusters of 'pilot', t on 9 df" in s
    assert "500 resamples of the 10 clusters" in s
    # the cluster-robust variance by hand: G/(G-1) sum_g (sum z)^2 / n^2
    t = res.table.to_numpy(dtype=float)
    n = t.sum()
    p = t / n
    r, c = p.sum(1), p.sum(0)
    po, pe = np.trace(p), r @ c
    kap = (po - pe) / (1 - pe)
    idx = {v: i for i, v in enumerate(res.levels)}
    ia = d["coder1"].map(idx).to_numpy()
    ib = d["coder2"].map(idx).to_numpy()
    z = ((ia == ib) - po - (c[ia] + r[ib] - 2 * pe) * (1 - kap)) / (1 - pe)
    zg = pd.Series(z).groupby(d["pilot"].to_numpy()).sum().to_numpy()
    assert res.std_error == pytest.approx(np.sqrt(10 / 9 * (zg ** 2).sum() / n ** 2), rel=1e-12)


def test_bootstrap_is_reproducible_and_resamples_clusters():
    d = DATA["coded2"]
    a = cohens_kappa(d, "coder1", "coder2", cluster="pilot", rng=7, n_resamples=300)
    b = cohens_kappa(d, "coder1", "coder2", cluster="pilot", rng=7, n_resamples=300)
    np.testing.assert_array_equal(a.boot, b.boot)
    # the same resamples drawn by hand: clusters with replacement, tables added, kappa
    rng = np.random.default_rng(7)
    idx = rng.integers(0, 10, (300, 10), dtype=np.uint16)
    lv = list(a.levels)
    reps = []
    for row in idx:                      # plain loop reference
        part = pd.concat([d[d.pilot == g] for g in row])
        t = pd.crosstab(pd.Categorical(part.coder1, lv), pd.Categorical(part.coder2, lv),
                        dropna=False).to_numpy()
        reps.append(smir.cohens_kappa(t).kappa)
    np.testing.assert_allclose(a.boot, reps, atol=1e-12)


def test_alpha_and_gwet_bootstraps_equal_plain_loops():
    d = DATA["coded"]
    cols = ["coder1", "coder2", "coder3"]
    rng = np.random.default_rng(11)
    idx = rng.integers(0, 10, (40, 10), dtype=np.uint16)
    al = krippendorff_alpha(d, cols, metric="ordinal", cluster="pilot", rng=11, n_resamples=40)
    ac = gwet_ac1(d, cols, cluster="pilot", rng=11, n_resamples=40)
    ra, rc = [], []
    for row in idx:
        part = pd.concat([d[d.pilot == g] for g in row])
        ra.append(krippendorff_alpha(part, cols, metric="ordinal", levels=list(al.levels),
                                     n_resamples=0).estimate)
        rc.append(gwet_ac1(part, cols, levels=list(ac.levels), n_resamples=0).estimate)
    np.testing.assert_allclose(al.boot, ra, atol=1e-12)
    np.testing.assert_allclose(ac.boot, rc, atol=1e-12)


def test_agreement_table():
    d = DATA["coded2"]
    tab = agreement(d, ["coder1", "coder2"], cluster="pilot", rng=2, n_resamples=200)
    tidy = tab.tidy()
    assert list(tidy["method"]) == ["Percent agreement", "Cohen's kappa", "Fleiss' kappa",
                                    "Gwet's AC1", "Krippendorff's alpha (nominal)"]
    assert tidy.loc[1, "estimate"] == pytest.approx(
        cohens_kappa(d, "coder1", "coder2", n_resamples=0).estimate, abs=TOL)
    assert all(isinstance(r, AgreementResult) for r in tab.results.values())
    with pytest.raises(DesignError, match="exactly two raters"):
        agreement(DATA["coded"], ["coder1", "coder2", "coder3"], methods=["cohen"])


def test_plot_heatmap():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    res = cohens_kappa(DATA["coded2"], "coder1", "coder2", weights="linear", n_resamples=0)
    ax = res.plot()
    assert ax.get_xlabel() == "coder2" and ax.get_ylabel() == "coder1"
    assert len(ax.texts) == 16
    assert not hasattr(fleiss_kappa(DATA["coded2"], ["coder1", "coder2"], n_resamples=0),
                       "plot")
    import matplotlib.pyplot as plt

    plt.close("all")


def test_intervals_and_levels():
    d = DATA["skewed"]
    res = gwet_ac1(d, ["coder1", "coder2"], rng=0, n_resamples=400)
    lo, hi = res.conf_int().iloc[0]
    assert hi <= 1.0 and lo < res.estimate
    t90 = res.tidy(level=0.9)
    assert t90["ci_upper"].iloc[0] - t90["ci_lower"].iloc[0] < hi - lo
    blo, bhi = res.bootstrap_interval(0.9)
    assert t90["boot_lower"].iloc[0] == blo and t90["boot_upper"].iloc[0] == bhi


@pytest.mark.parametrize("wt", [None, "linear", "quadratic"])
def test_kernel_cohen_scores_and_variances(wt):
    """The kernel's FCE variance, null variance and per-cell scores (sum p z^2 / n = var)."""
    from sosstats._kernels import agreement as K

    t = _sm_table(DATA["coded2"], "coder1", "coder2").astype(float)
    W = K.agreement_weights(np.arange(4.0), wt or "identity")
    kappa, z, var, var0 = K.cohen_kappa_scores(t, W)
    sm = smir.cohens_kappa(t, wt=wt) if wt else smir.cohens_kappa(t)
    assert kappa == pytest.approx(sm.kappa, abs=TOL)
    assert var == pytest.approx(sm.var_kappa, abs=1e-14)
    assert var0 == pytest.approx(sm.var_kappa0, abs=1e-14)
    assert (t * z).sum() == pytest.approx(0.0, abs=1e-10)          # scores are centred
    assert (t * z ** 2).sum() / t.sum() ** 2 == pytest.approx(var, rel=1e-12)
    k3, _, _ = K.cohen_kappa_tables(np.stack([t, t.T, 2 * t]), W)
    np.testing.assert_allclose(k3, kappa, atol=1e-14)
