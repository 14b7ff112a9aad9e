r"""Correlated random slopes (issue 18): ``(1 + Days | Subject)`` against lme4, recovery, bad input.

The reference is ``tests/fixtures/lme4_correlated_slopes.json`` (made by
``lme4_correlated_slopes.R`` with lme4 1.1-31 on lme4's ``sleepstudy``, frozen as
``lme4_correlated_slopes_input.csv``): ``lmer(Reaction ~ Days + (1 + Days | Subject))``, REML.

Notes
-----
Why the posterior should sit near REML, and how near. With flat-ish priors the marginal
posterior of the variance parameters is proportional to the REML likelihood (Harville 1974,
*Biometrika* 61(2)), whose mode lme4 reports; the posterior of the fixed effects given them is
normal around the GLS estimate. So:

* fixed effects: posterior mean within 0.25 posterior SD of lme4 (the shift from averaging the
  GLS mean over the variance parameters is small; MC error with ~800 ESS is about 0.04 SD);
* SDs and the correlation: with only 18 subjects their posteriors are wide and skewed, and
  the posterior median (not the mode) is compared, so the tolerance is 0.5 posterior SD; the
  default priors (half-normal SD priors at the outcome's scale, LKJ(2) pulling the correlation
  a little towards 0) move the median by less than that here;
* lme4's REML estimates lie inside the 90% credible intervals.

Measured (2 chains x 1000 draws after 1000 tuning, rng=18, on the shared 2-core machine): see
the numbers in docs/multilevel.md, "Correlated random slopes".
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sosstats.errors import DataError, DesignError
from sosstats.multilevel import MultilevelModel

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CORR = "Subject: corr(Intercept, Days)"


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "lme4_correlated_slopes_input.csv")


@pytest.fixture(scope="module")
def lme4() -> dict:
    return json.loads((FIXTURES / "lme4_correlated_slopes.json").read_text())["reml"]


def sleep_model(data: pd.DataFrame, **kwargs) -> MultilevelModel:
    return MultilevelModel("Reaction ~ Days", data, levels=["Subject"], family="gaussian",
                           random_slopes={"Subject": ["Days"]}, **kwargs)


@pytest.fixture(scope="module")
def sleep_fit(sleep):
    pytest.importorskip("pymc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sleep_model(sleep, correlated_slopes=True).fit(draws=1000, tune=1000, chains=2,
                                                              rng=18)


# ---------------------------------------------------------------- against lme4 (one fit)

def test_variance_components_hold_sds_and_correlation(sleep_fit):
    vc = sleep_fit.variance_components(ci_level=0.9)
    assert list(vc.index) == ["sigma_Subject", "slope_sigma_Subject_Days", "sigma", CORR]
    assert any("corr" in name for name in vc.index)
    corr = vc.loc[CORR]
    assert -1 < corr["corr_lower"] < corr["corr_mean"] < corr["corr_upper"] < 1
    assert np.isnan(corr["sd_mean"]) and np.isnan(vc.loc["sigma", "corr_mean"])
    assert (vc.loc[vc.index[:3], "sd_lower"] > 0).all()


def test_fixed_effects_match_lme4(sleep_fit, lme4):
    tidy = sleep_fit.tidy().set_index("term")
    for term, ref in lme4["fixed_effects"].items():
        est, psd = tidy.loc[term, "estimate"], tidy.loc[term, "std_error"]
        assert abs(est - ref["estimate"]) < 0.25 * psd, (term, est, ref)
        # posterior SD at least about the REML SE (it adds the variance parameters' uncertainty)
        assert psd > 0.95 * ref["std_error"], (term, psd, ref)


def test_sds_and_correlation_match_lme4(sleep_fit, lme4):
    post = sleep_fit.idata.posterior
    pairs = {"sigma_Subject": lme4["sd"]["Intercept"],
             "slope_sigma_Subject_Days": lme4["sd"]["Days"],
             "sigma": lme4["residual_sd"]}
    vc = sleep_fit.variance_components(ci_level=0.9)
    for name, ref in pairs.items():
        draws = post[name].values.ravel()
        assert abs(np.median(draws) - ref) < 0.5 * draws.std(), (name, np.median(draws), ref)
        assert vc.loc[name, "sd_lower"] < ref < vc.loc[name, "sd_upper"], name
    draws = post["corr_Subject"].values.ravel()
    assert abs(np.median(draws) - lme4["corr"]) < 0.5 * draws.std()
    assert vc.loc[CORR, "corr_lower"] < lme4["corr"] < vc.loc[CORR, "corr_upper"]


def test_interval_widths_match_lme4_profile(sleep_fit):
    # lme4's 90% profile-likelihood intervals (in the fixture) and the 90% credible intervals
    # answer the same question here; with 18 subjects their widths agree within about 25%
    # (measured ratios 0.94-1.21, the SD intervals a little wider as they average over the
    # other parameters); 0.75-1.35 leaves room for Monte Carlo error in the 5% / 95% quantiles.
    prof = json.loads((FIXTURES / "lme4_correlated_slopes.json").read_text())["reml_profile_ci90"]
    vc = sleep_fit.variance_components(ci_level=0.9)
    pairs = {"sd_Intercept": ("sigma_Subject", "sd_"),
             "sd_Days": ("slope_sigma_Subject_Days", "sd_"),
             "residual_sd": ("sigma", "sd_"), "corr": (CORR, "corr_")}
    for key, (row, pre) in pairs.items():
        lo, hi = prof[key]
        width = vc.loc[row, f"{pre}upper"] - vc.loc[row, f"{pre}lower"]
        assert 0.75 < width / (hi - lo) < 1.35, (key, width, hi - lo)


def test_effects_are_correlated_draws_and_summaries_work(sleep_fit):
    post = sleep_fit.idata.posterior
    assert post["z_Subject"].shape[2:] == (18, 2)
    # the reported SDs are those of LKJCholeskyCov, and the effects are z @ L^T with them
    u = post["u_Subject"].values.reshape(-1, 18)
    v = post["slope_u_Subject_Days"].values.reshape(-1, 18)
    assert u.shape == v.shape
    groups = sleep_fit.group_effects("Subject")
    assert len(groups) == 18 and groups["estimate"].notna().all()
    ll = sleep_fit.log_likelihood()
    assert ll.shape[2] == 180 and np.isfinite(ll.values).all()


# ---------------------------------------------------------------- structure, no sampling

def test_priors_show_lkj_and_take_overrides(sleep):
    m = sleep_model(sleep, correlated_slopes=True)
    assert str(m.priors["corr_Subject"]) == "LKJCorr(eta=2)"
    assert "LKJCorr(eta=2)" in str(m.priors)
    m4 = sleep_model(sleep, correlated_slopes=True,
                     priors={"corr_Subject": ("lkj", {"eta": 4})})
    assert m4.priors["corr_Subject"].params == {"eta": 4.0}
    with pytest.raises(DataError, match="eta"):
        sleep_model(sleep, correlated_slopes=True, priors={"corr_Subject": ("lkj", {"eta": -1})})
    with pytest.raises(DataError, match="lkj"):
        sleep_model(sleep, correlated_slopes=True,
                    priors={"corr_Subject": ("halfnormal", {"sigma": 1})})
    with pytest.raises(DataError, match="share one distribution family"):
        sleep_model(sleep, correlated_slopes=True,
                    priors={"sigma_Subject": ("exponential", {"lam": 0.1})})
    # independent slopes have no LKJ prior
    assert "corr_Subject" not in sleep_model(sleep).priors


def test_independent_path_unchanged(sleep):
    pytest.importorskip("pymc")
    m = sleep_model(sleep)
    assert m.design.correlated == ()
    free = sorted(v.name for v in m.build().free_RVs)
    assert free == sorted(["intercept_centred", "b", "sigma_Subject", "z_Subject",
                           "slope_sigma_Subject_Days", "slope_z_Subject_Days", "sigma"])
    same = sleep_model(sleep, correlated_slopes=False)
    assert sorted(v.name for v in same.build().free_RVs) == free


def test_correlated_model_structure_and_prior_correlation(sleep):
    pm = pytest.importorskip("pymc")
    m = sleep_model(sleep, correlated_slopes=True)
    model = m.build()
    assert sorted(v.name for v in model.free_RVs) == sorted(
        ["intercept_centred", "b", "chol_Subject", "z_Subject", "sigma"])
    assert m.centred == ()
    # LKJ(eta) marginal of one correlation for p = 2: (r + 1) / 2 ~ Beta(eta, eta), so with
    # eta = 2 the prior correlation has mean 0 and variance 1 / (2 eta + 1) = 0.2.
    draws = pm.draw(model["corr_Subject"], draws=4000, random_seed=5)[:, 0]
    assert abs(draws.mean()) < 0.03
    assert abs(draws.var() - 0.2) < 0.02


def test_effects_have_the_covariance_of_the_cholesky_factor(sleep):
    pm = pytest.importorskip("pymc")
    model = sleep_model(sleep, correlated_slopes=True).build()
    # fix L = [[2, 0], [1.5, 1]] (packed row-wise); the effects z L^T then have covariance
    # L L^T = [[4, 3], [3, 3.25]] (z @ L without the transpose would give [[6.25, 1.5],
    # [1.5, 1]]), SDs 2 and sqrt(3.25) and correlation 3 / (2 sqrt(3.25)) = 0.832.
    fixed = pm.do(model, {"chol_Subject": np.array([2.0, 1.5, 1.0])})
    u, v, sd0, sd1, corr = pm.draw(
        [fixed[n] for n in ("u_Subject", "slope_u_Subject_Days", "sigma_Subject",
                            "slope_sigma_Subject_Days", "corr_Subject")],
        draws=2000, random_seed=3)
    # 36,000 (draw, subject) pairs: sampling SE of each entry below 0.04
    np.testing.assert_allclose(np.cov(u.ravel(), v.ravel()), [[4.0, 3.0], [3.0, 3.25]],
                               atol=0.15)
    np.testing.assert_allclose(sd0, 2.0)
    np.testing.assert_allclose(sd1, np.sqrt(3.25))
    np.testing.assert_allclose(corr[:, 0], 3.0 / (2.0 * np.sqrt(3.25)))


def test_nested_and_crossed_levels(sleep):
    pytest.importorskip("pymc")
    d = sleep.copy()
    d["block"] = d["Subject"].str[-1].map(lambda c: f"b{int(c) % 3}")  # subjects nest in blocks
    nested = MultilevelModel("Reaction ~ Days", d, levels=["block", "Subject"],
                             random_slopes={"Subject": ["Days"]}, correlated_slopes=["Subject"])
    assert nested.design.correlated == ("Subject",)
    assert "chol_Subject" in nested.build().named_vars
    d["rater"] = np.tile(["r1", "r2", "r3"], len(d) // 3)  # crossed with Subject
    crossed = MultilevelModel("Reaction ~ Days", d, levels=["Subject", "rater"],
                              cross_classified=True,
                              random_slopes={"Subject": ["Days"], "rater": ["Days"]},
                              correlated_slopes={"Subject": True, "rater": False})
    assert crossed.design.correlated == ("Subject",)
    names = crossed.build().named_vars
    assert "chol_Subject" in names and "slope_z_rater_Days" in names
    both = MultilevelModel("Reaction ~ Days", d, levels=["Subject", "rater"],
                           cross_classified=True,
                           random_slopes={"Subject": ["Days"], "rater": ["Days"]},
                           correlated_slopes=True)
    assert both.design.correlated == ("Subject", "rater")


# ---------------------------------------------------------------- bad input

def test_slope_constant_within_every_group_is_refused(sleep):
    d = sleep.copy()
    d["dose"] = d.groupby("Subject")["Days"].transform("size") * (d["Subject"].str[-1] == "0")
    for corr in (True, False):
        with pytest.raises(DesignError, match="'dose'.*constant within every Subject group"):
            MultilevelModel("Reaction ~ Days + dose", d, levels=["Subject"],
                            random_slopes={"Subject": ["dose"]}, correlated_slopes=corr)


def test_lkj_on_a_single_effect_is_refused(sleep):
    with pytest.raises(DesignError, match="no random slopes.*LKJ"):
        MultilevelModel("Reaction ~ Days", sleep, levels=["Subject"], correlated_slopes=True)
    d = sleep.assign(block=sleep["Subject"].str[-1])
    with pytest.raises(DesignError, match="'block', which has no random slopes.*single effect"):
        MultilevelModel("Reaction ~ Days", d, levels=["block", "Subject"],
                        random_slopes={"Subject": ["Days"]}, correlated_slopes=["block"])


def test_unknown_level_and_bad_types_are_refused(sleep):
    with pytest.raises(DataError, match="'Patient', which is not among `levels`"):
        sleep_model(sleep, correlated_slopes=["Patient"])
    with pytest.raises(DataError, match="'Patient'"):
        sleep_model(sleep, correlated_slopes={"Patient": True})
    with pytest.raises(DataError, match="must be True / False"):
        sleep_model(sleep, correlated_slopes=1.5)
    with pytest.raises(DataError, match="True / False"):
        sleep_model(sleep, correlated_slopes={"Subject": "yes"})


def test_membership_level_is_refused():
    from sosstats.datasets import simulate_evaluation

    ev = simulate_evaluation(rng=3)
    with pytest.raises(DesignError, match="multiple-membership level 'worker_id'"):
        MultilevelModel("sdq_t1 ~ cohort", ev.families, levels=["la_code", "worker_id"],
                        membership=ev.memberships, correlated_slopes=["worker_id"])


def test_centred_correlated_level_is_refused(sleep):
    with pytest.raises(DesignError, match="always sampled non-centred"):
        sleep_model(sleep, correlated_slopes=True, centred=["Subject"])
    assert sleep_model(sleep, correlated_slopes=True, centred=True).centred == ()


def test_data_not_modified(sleep):
    before = sleep.copy()
    sleep_model(sleep, correlated_slopes=True)
    pd.testing.assert_frame_equal(sleep, before)


# ---------------------------------------------------------------- recovery (slow)

def simulate_correlated(seed: int = 2026, groups: int = 150, per: int = 6,
                        rho: float = 0.6) -> pd.DataFrame:
    """Simulate groups with intercept SD 1, slope SD 0.7, correlation ``rho``, residual SD 1."""
    rng = np.random.default_rng(seed)
    sd = np.array([1.0, 0.7])
    cov = np.outer(sd, sd) * np.array([[1.0, rho], [rho, 1.0]])
    eff = rng.multivariate_normal(np.zeros(2), cov, size=groups)
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=g.size)
    y = 2.0 + 0.5 * x + eff[g, 0] + eff[g, 1] * x + rng.normal(0, 1.0, g.size)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{k:03d}" for k in g]})


@pytest.mark.slow
def test_recovers_a_known_correlation():
    # 150 groups of 6 rows: enough groups to pin a correlation down (posterior SD about 0.08;
    # the simulated effects' own correlation is 0.548), few rows per group, where the
    # non-centred form mixes well. Measured (rng=4): corr 0.544, 95% interval 0.376 to 0.687.
    pytest.importorskip("pymc")
    d = simulate_correlated()
    m = MultilevelModel("y ~ x", d, levels=["g"], random_slopes={"g": ["x"]},
                        correlated_slopes=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = m.fit(draws=1000, tune=1000, chains=2, rng=4)
    vc = res.variance_components(ci_level=0.95)
    row = vc.loc["g: corr(Intercept, x)"]
    assert row["corr_lower"] < 0.6 < row["corr_upper"]
    assert row["corr_lower"] > 0.2  # the data say the correlation is clearly positive
    for name, truth in {"sigma_g": 1.0, "slope_sigma_g_x": 0.7, "sigma": 1.0}.items():
        assert vc.loc[name, "sd_lower"] < truth < vc.loc[name, "sd_upper"], name
    # 2 x 1000 draws: measured R-hat up to 1.013 (sigma_g); 1.02 flags chains that disagree
    assert res.diagnostics().table["r_hat"].max() < 1.02


def test_correlations_are_reported_and_checked_like_the_sds(sleep_fit):
    # the correlation is a reported parameter: in tidy() (so its R-hat / ESS are checked and
    # warned about) as the SDs are, not only in variance_components()
    terms = [str(t) for t in sleep_fit.tidy()["term"]]
    assert any("corr(Intercept, Days)" in t for t in terms), terms


def test_prior_scaling_leaves_the_lkj_prior_alone(sleep):
    # the LKJ correlation prior has no scale: prior_sensitivity(method="power") must not try to
    # raise it to a power (its log density has no entry for "lkj")
    from sosstats.multilevel.prior_scaling import prior_targets

    priors = sleep_model(sleep, correlated_slopes=True).priors
    targets = prior_targets(priors, None)
    assert "corr_Subject" not in targets and "sigma_Subject" in targets
