"""simulate_study against known answers: size, coverage and power with closed forms.

Every check is "within 3 Monte Carlo standard errors" of the analytic value, the MCSE taken at
the analytic value (sqrt(p (1 - p) / n)), so a correct implementation fails one of them about
3 times in 1,000; seeds are fixed, so the figures are deterministic and a failure is a change
in the code, not chance. The replicate counts are chosen so that 3 MCSEs is small enough to
catch a wrong formula (an interval at the wrong level, a z instead of a t quantile, a design
effect left out), as the comments say.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sosstats._results import Result
from sosstats.design import SimulationResult, simulate_study
from sosstats.design.result import TIDY_COLUMNS, operating_characteristics
from sosstats.panel.change import change_model


@dataclass(frozen=True, repr=False)
class TTest(Result):
    """A minimal sosstats Result: one term, t interval on ``df``."""

    estimate: float
    std_error: float
    df: float
    term: str = "diff"
    method: str = "t test"

    def _estimates(self) -> pd.DataFrame:
        t = self.estimate / self.std_error
        return pd.DataFrame({"estimate": [self.estimate], "std_error": [self.std_error],
                             "statistic": [t], "p_value": [2 * stats.t.sf(abs(t), self.df)],
                             "df": [self.df]}, index=pd.Index([self.term], name="term"))


def one_sample(data: pd.DataFrame) -> TTest:
    y = np.asarray(data["y"])
    return TTest(y.mean(), y.std(ddof=1) / np.sqrt(y.size), y.size - 1.0, term="mean")


def two_sample(data: pd.DataFrame) -> TTest:
    return _two_sample(np.asarray(data["y"]), np.asarray(data["g"]))


def _two_sample(y: np.ndarray, g: np.ndarray) -> TTest:
    a, b = y[g == 1], y[g == 0]
    sp2 = ((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2)
    return TTest(a.mean() - b.mean(), np.sqrt(sp2 * (1 / a.size + 1 / b.size)),
                 a.size + b.size - 2.0)


# the i.i.d. designs return dicts of arrays: a design returns whatever its estimator takes
# (a DataFrame for sosstats' estimators), and a dict keeps these fast
def normal_one(rng):
    return {"y": rng.normal(0.0, 2.0, 15)}


def normal_two(rng, effect=0.0, n=20):
    g = np.repeat([1, 0], n)
    return {"y": rng.normal(0.0, 1.0, 2 * n) + effect * g, "g": g}


def within_3_mcse(observed: float, expected: float, n: int) -> bool:
    return abs(observed - expected) < 3 * np.sqrt(expected * (1 - expected) / n)


def test_contract_columns_and_types():
    res = simulate_study(normal_one, one_sample, 20, truth={"mean": 3.0}, rng=0)
    assert isinstance(res, SimulationResult)
    tidy = res.tidy()
    assert list(tidy.columns) == TIDY_COLUMNS
    assert list(tidy["term"]) == ["mean"]
    assert tidy.loc[0, "n_ok"] == 20 and tidy.loc[0, "n_failed"] == 0
    assert list(res.replicates.columns) == ["replicate", "term", "estimate", "std_error",
                                            "p_value", "ci_lower", "ci_upper"]
    assert res.replicates["replicate"].tolist() == list(range(20))
    assert res.failures.empty and list(res.failures.columns) == ["replicate", "error",
                                                                  "message", "traceback"]
    text = str(res)
    assert "20 replicates of one_sample on normal_one" in text and "rng=0" in text
    assert res.to_dict()["table"][0]["term"] == "mean"


def test_size_of_one_sample_t_test_is_five_percent():
    # 2,000 replicates: MCSE 0.0049, so 3 MCSEs (0.015) separate 5% from a z test's 6.9% at
    # n = 15 (normal quantile instead of t with 14 df)
    n = 2000
    res = simulate_study(normal_one, one_sample, n, truth={"mean": 0.0}, rng=11)
    row = res.tidy().iloc[0]
    assert within_3_mcse(row.rejection_rate, 0.05, n), row.rejection_rate
    # the same replicates' intervals: covered exactly when the test of the truth does not reject
    assert row.coverage == pytest.approx(1 - row.rejection_rate, abs=1e-12)
    assert within_3_mcse(row.coverage, 0.95, n)
    # the estimator is unbiased; bias within 3 MCSE of 0
    assert abs(row.bias) < 3 * row.bias_mcse
    # SD of the mean is 2 / sqrt(15); empirical SD within 3 of its MCSEs
    assert abs(row.empirical_sd - 2 / np.sqrt(15)) < 3 * row.empirical_sd_mcse


def test_size_and_coverage_of_two_sample_t_test():
    n = 1500
    res = simulate_study(normal_two, two_sample, n, truth={"diff": 0.0}, level=0.9,
                         alpha=0.1, rng=12)
    row = res.tidy().iloc[0]
    assert within_3_mcse(row.rejection_rate, 0.10, n), row.rejection_rate
    assert within_3_mcse(row.coverage, 0.90, n), row.coverage
    rates = res.rejection_rates([0.01, 0.05])
    assert within_3_mcse(rates.loc["diff", "rejection_rate_0.05"], 0.05, n)
    assert within_3_mcse(rates.loc["diff", "rejection_rate_0.01"], 0.01, n)


def test_power_of_two_sample_t_test_matches_statsmodels():
    from statsmodels.stats.power import TTestIndPower

    effect, n_per, n = 0.7, 20, 1500
    power = TTestIndPower().power(effect_size=effect, nobs1=n_per, alpha=0.05)  # 0.5 to 0.6
    res = simulate_study(lambda rng: normal_two(rng, effect, n_per), two_sample, n,
                         truth={"diff": effect}, rng=13)
    row = res.tidy().iloc[0]
    # MCSE ~0.013: 3 MCSEs (0.038) is less than the power change of 0.1 SD of effect (~0.04)
    assert within_3_mcse(row.rejection_rate, power, n), (row.rejection_rate, power)
    assert within_3_mcse(row.coverage, 0.95, n)


def cluster_trial(rng, *, g=8, m=10, icc=0.1, effect=0.5):
    """Draw g clusters per arm of m units: y = effect arm + u_c + e, var(u) = icc."""
    arm = np.repeat([1, 0], g)
    u = rng.normal(0.0, np.sqrt(icc), 2 * g)
    y = (effect * arm + u)[:, None] + rng.normal(0.0, np.sqrt(1 - icc), (2 * g, m))
    return {"y": y.ravel(), "g": np.repeat(arm, m), "cluster": np.repeat(np.arange(2 * g), m)}


def cluster_means_t(data: pd.DataFrame) -> TTest:
    """Two-sample t test on the cluster means (clusters are contiguous and of equal size)."""
    k = np.unique(data["cluster"]).size
    y = data["y"].reshape(k, -1).mean(axis=1)
    g = data["g"].reshape(k, -1)[:, 0]
    return _two_sample(y, g)


def test_power_of_cluster_randomised_design_with_design_effect():
    g, m, icc, effect, n = 8, 10, 0.1, 0.5, 1500
    deff = 1 + (m - 1) * icc                     # 1.9
    # cluster means have variance deff / m; two-sample t on 2g cluster means, df 2g - 2
    ncp = effect / np.sqrt(2 * deff / (m * g))
    crit = stats.t.ppf(0.975, 2 * g - 2)
    power = stats.nct.sf(crit, 2 * g - 2, ncp) + stats.nct.cdf(-crit, 2 * g - 2, ncp)
    res = simulate_study(lambda rng: cluster_trial(rng, g=g, m=m, icc=icc, effect=effect),
                         cluster_means_t, n, truth={"diff": effect}, rng=14)
    row = res.tidy().iloc[0]
    assert within_3_mcse(row.rejection_rate, power, n), (row.rejection_rate, power)
    # ignoring the design effect would promise far more power: the test must tell them apart
    naive = stats.nct.sf(crit, 2 * g - 2, effect / np.sqrt(2 / (m * g)))
    assert not within_3_mcse(row.rejection_rate, naive, n)
    # the empirical SD of the difference is sqrt(2 deff / (m g))
    assert abs(row.empirical_sd - np.sqrt(2 * deff / (m * g))) < 3 * row.empirical_sd_mcse


# -- few clusters: CR1 under-covers, CR2 is near nominal (docs/panel.md) ------------------------
SIZES = np.array([9, 29, 9, 25, 21, 12, 13, 12, 75, 65])
TREATED = np.array([0, 0, 1, 0, 1, 0, 0, 0, 0, 1], dtype=float)


def ten_pilots(rng):
    """docs/panel.md's `binary` design: ten pilots of 9-75 families, pilot-level x, beta = 0."""
    pilot = np.repeat(np.arange(SIZES.size), SIZES)
    n = pilot.size
    a = rng.normal(0.0, 4.0, n)
    v = rng.normal(0.0, 1.0, SIZES.size)
    e = rng.normal(0.0, 3.0, (n, 2))
    y1 = 15.0 + a + e[:, 0]
    y2 = 15.0 + a - 1.5 + v[pilot] + e[:, 1]
    return pd.DataFrame({"family_id": np.repeat(np.arange(n), 2),
                         "wave": np.tile(["t1", "t2"], n),
                         "sdq": np.column_stack([y1, y2]).ravel(),
                         "pilot": np.repeat(pilot, 2), "x": np.repeat(TREATED[pilot], 2)})


def cr1_and_cr2(data: pd.DataFrame) -> pd.DataFrame:
    """Both fits on the same data, as one tidy frame (terms x:cr1 and x:cr2): paired."""
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # CR1's few-cluster warning
        for kind in ("cr1", "cr2"):
            fit = change_model("sdq ~ x", data, entity="family_id", time="wave",
                               cluster="pilot", inference=kind)
            est, ci = fit._estimates().loc["x"], fit.conf_int().loc["x"]
            rows.append((f"x:{kind}", est.estimate, est.std_error, est.p_value, ci.lower,
                         ci.upper))
    return pd.DataFrame(rows, columns=["term", "estimate", "std_error", "p_value", "ci_lower",
                                       "ci_upper"])


def _cr_study(n):
    return simulate_study(ten_pilots, cr1_and_cr2, n, truth={"x:cr1": 0.0, "x:cr2": 0.0},
                          rng=20170901).tidy().set_index("term")


def test_cr1_under_covers_cr2_does_not_with_ten_unequal_pilots():
    # 120 replicates (~4 s): CR1 ~0.81, CR2 ~0.95; paired difference ~0.14 with SE ~0.035
    t = _cr_study(120)
    c1, c2 = t.loc["x:cr1", "coverage"], t.loc["x:cr2", "coverage"]
    assert c2 - c1 > 0.04, (c1, c2)
    assert c1 < 0.92, c1                         # 3.3 MCSEs above the expected ~0.81
    assert abs(c2 - 0.95) < 3 * np.sqrt(0.95 * 0.05 / 120) + 0.01, c2
    # same estimates (same data), different SEs
    assert t.loc["x:cr1", "mean_estimate"] == t.loc["x:cr2", "mean_estimate"]
    assert t.loc["x:cr1", "mean_std_error"] < t.loc["x:cr2", "mean_std_error"]


@pytest.mark.slow
def test_cr1_and_cr2_coverage_reproduce_docs_panel_figures():
    # docs/panel.md, 5,000 replicates (other seeds): CR1 0.809 (MC SE 0.006), CR2 0.954 (0.003).
    # 1,000 here: the difference of two independent estimates has SE sqrt(mcse^2 + docs^2).
    n = 1000
    t = _cr_study(n)
    for term, docs, docs_se in (("x:cr1", 0.809, 0.006), ("x:cr2", 0.954, 0.003)):
        c = t.loc[term, "coverage"]
        se = np.sqrt(docs * (1 - docs) / n + docs_se ** 2)
        assert abs(c - docs) < 3 * se, (term, c, docs)


# -- the Monte Carlo standard errors themselves ------------------------------------------------
def test_mcse_formulas_against_hand_computation():
    rng = np.random.default_rng(5)
    n = 57
    est = rng.normal(0.3, 1.0, n)
    se = np.abs(rng.normal(1.0, 0.1, n))
    p = rng.uniform(size=n)
    values = np.column_stack([est, se, p, est - 1.96 * se, est + 1.96 * se])
    out = operating_characteristics(np.zeros(n, np.int64), values, np.array([0.0]), n + 3, 0.05)
    sd = est.std(ddof=1)
    assert out["n_ok"][0] == n and out["n_failed"][0] == 3
    assert out["bias"][0] == pytest.approx(est.mean())
    assert out["bias_mcse"][0] == pytest.approx(sd / np.sqrt(n))
    assert out["empirical_sd_mcse"][0] == pytest.approx(sd / np.sqrt(2 * (n - 1)))
    rmse = np.sqrt(np.mean(est ** 2))
    assert out["rmse"][0] == pytest.approx(rmse)
    # jackknife by an explicit leave-one-out loop
    loo = np.array([np.sqrt(np.mean(np.delete(est, i) ** 2)) for i in range(n)])
    jack = np.sqrt((n - 1) / n * np.sum((loo - loo.mean()) ** 2))
    assert out["rmse_mcse"][0] == pytest.approx(jack, rel=1e-10)
    # ... and close to the delta method's MCSE(MSE) / (2 RMSE)
    d = est ** 2
    delta = np.sqrt(np.sum((d - d.mean()) ** 2) / (n * (n - 1))) / (2 * rmse)
    assert out["rmse_mcse"][0] == pytest.approx(delta, rel=0.05)
    cov = np.mean(np.abs(est) <= 1.96 * se)
    assert out["coverage"][0] == pytest.approx(cov)
    assert out["coverage_mcse"][0] == pytest.approx(np.sqrt(cov * (1 - cov) / n))
    rej = np.mean(p <= 0.05)
    assert out["rejection_rate"][0] == pytest.approx(rej)
    assert out["mean_std_error"][0] == pytest.approx(se.mean())


def test_terms_missing_in_some_replicates_and_terms_without_truth():
    def design(rng):
        return pd.DataFrame({"y": rng.normal(size=10)})   # a frame, as sosstats' estimators take

    def est(data):
        rows = [("a", data["y"].mean())]
        if data["y"].iloc[0] > 0:                  # term b in about half the replicates
            rows.append(("b", data["y"].iloc[0]))
        return pd.DataFrame({"term": [r[0] for r in rows], "estimate": [r[1] for r in rows],
                             "std_error": 1.0, "p_value": 0.5, "ci_lower": -1.0,
                             "ci_upper": 1.0})

    res = simulate_study(design, est, 40, truth={"a": 0.0}, rng=3)
    t = res.tidy().set_index("term")
    nb = int((res.replicates["term"] == "b").sum())
    assert 0 < nb < 40
    assert t.loc["b", "n_ok"] == nb and t.loc["b", "n_failed"] == 40 - nb
    assert np.isnan(t.loc["b", "bias"]) and np.isnan(t.loc["b", "coverage"])
    assert t.loc["b", "rejection_rate"] == 0.0 and t.loc["a", "n_ok"] == 40
    assert list(t.index) == ["a", "b"]           # order of first appearance


def test_truth_from_design_object_and_settings_in_summary():
    class Design:
        truth = {"mean": 3.0}
        n_clusters = 15
        settings = {"n": 15, "sd": 2.0}

        def simulate(self, rng):
            return normal_one(rng)

    res = simulate_study(Design(), one_sample, 10, rng=1)
    assert res.truth == {"mean": 3.0}
    assert res.settings["design"] == "Design" and res.settings["design_settings"]["sd"] == 2.0
    assert np.isfinite(res.tidy().loc[0, "coverage"])
    # an explicit truth wins over the design's
    res = simulate_study(Design(), one_sample, 10, truth={"mean": 0.0}, rng=1)
    assert res.tidy().loc[0, "truth"] == 0.0


def test_result_estimator_and_its_tidy_frame_give_identical_replicates():
    a = simulate_study(normal_two, two_sample, 25, rng=8)
    b = simulate_study(normal_two, lambda d: two_sample(d).tidy(), 25, rng=8)
    # the runner computes a base Result's t interval on arrays: equal to conf_int to the bit
    pd.testing.assert_frame_equal(a.replicates, b.replicates, check_exact=True)
    # level is asked of the result: 0.8 intervals are shorter than 0.95 ones
    c = simulate_study(normal_two, two_sample, 25, rng=8, level=0.8)
    w95 = a.replicates.ci_upper - a.replicates.ci_lower
    w80 = c.replicates.ci_upper - c.replicates.ci_lower
    assert (w80 < w95).all()


def test_plots_return_axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = simulate_study(normal_two, two_sample, 30, truth={"diff": 0.0}, rng=2)
    for kind in ("estimates", "coverage", "rejection"):
        ax = res.plot(kind)
        assert ax.get_title().endswith(kind)
        plt.close(ax.figure)
    _, ax = plt.subplots()
    assert res.plot("coverage", ax=ax) is ax
    plt.close("all")
    from sosstats.errors import DataError

    with pytest.raises(DataError, match="kind"):
        res.plot("power")
    with pytest.raises(DataError, match="terms"):
        res.plot(terms=["nope"])
