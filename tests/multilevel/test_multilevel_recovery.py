r"""Recovery of the true parameters of ``simulate_evaluation`` by :class:`MultilevelModel`.

Issue 5: true values inside 90% credible intervals across several seeds, for each family of
outcome, and for multiple membership, where ignoring the membership biases the worker SD.

Notes
-----
Calibration is judged by counts. With :math:`n` parameters each covered with probability 0.9,
the number outside the 90% intervals is about Binomial(n, 0.1); a fit may miss at most the
0.99 quantile of that (3 of 9 parameters, 3 of 10 pilots), so a correct model fails a given
check with probability below 1%. Every truth must also lie within 4 posterior SDs of the
posterior mean (a gross error check), and intervals must not be uselessly wide where the data
are informative (asserted per test).

The outcomes follow ``sosstats.datasets._simulate_families``:
:math:`\eta_f = x_f^\top\beta + s(\sigma_F a_f + \sigma_P v_{p(f)} + \sigma_W \sum_j w_{fj}
z_j)`. With one row per family the family term :math:`\sigma_F a_f` is not identified apart
from the residual: for SDQ it joins the residual (true residual SD
:math:`\sqrt{\sigma_F^2 + \sigma_R^2 + 1/12}`, the 1/12 from rounding), for a logit outcome it
attenuates the coefficients by about :math:`1/\sqrt{1 + 0.346\sigma_F^2}` (Zeger, Liang &
Albert 1988, *Biometrics* 44(4)). The binary check uses ``rereferred_t2`` (:math:`\sigma_F =
0.5`, attenuation 4%, far inside the intervals); the ordinal check redraws ``feelings`` from
the simulator's own coefficients, cutpoints, pilot and worker effects without the family term
(with it, :math:`\sigma_F = 1` would move the cutpoints by 14%); the simulator has no count
outcome, so a negative binomial one is drawn on its families, memberships and latent worker
and pilot effects.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from scipy import stats

pytest.importorskip("pymc")

from sosstats.datasets import simulate_evaluation  # noqa: E402
from sosstats.errors import SosstatsWarning  # noqa: E402
from sosstats.multilevel import MultilevelModel  # noqa: E402

N_FAMILIES = 3000
TERMS = ("cohort_2", "experience_2_years", "experience_2_years_plus", "previous_referral",
         "agency_worker")
RHS = " + ".join(TERMS)
LEVELS = ["la_code", "worker_id"]
# Share of the 200 true worker effects inside their 90% intervals. The intervals share
# sigma_W and the intercept (which absorbs the realised mean of the worker effects), so the
# share varies more than Binomial(200, 0.9) would (sd 0.02); measured 0.82 to 0.92.
WORKER_COVERAGE = (0.75, 0.99)


def _frame(ev) -> pd.DataFrame:
    """Numeric family frame (0/1 dummies named as the truth's terms) plus the main worker."""
    f = ev.families
    out = pd.DataFrame({
        "family_id": f["family_id"].to_numpy(),
        "la_code": f["la_code"].astype(str).to_numpy(),
        "cohort_2": (f["cohort"] == 2).to_numpy(int),
        "experience_2_years": (f["experience"] == "2 years").to_numpy(int),
        "experience_2_years_plus": (f["experience"] == "2 years plus").to_numpy(int),
        "previous_referral": f["previous_referral"].to_numpy(int),
        "agency_worker": f["agency_worker"].to_numpy(int),
        "sdq_t1": f["sdq_t1"].to_numpy(float),
        "rereferred_t2": f["rereferred_t2"].to_numpy(int),
    })
    # main worker: largest share of contact, ties to the lowest id
    m = ev.memberships.sort_values(["family_id", "weight", "worker_id"],
                                   ascending=[True, False, True])
    main = m.drop_duplicates("family_id").set_index("family_id")["worker_id"]
    out["main_worker"] = main.reindex(out["family_id"]).to_numpy()
    return out


def _worker_mix(ev, effect: np.ndarray) -> np.ndarray:
    """Each family's membership-weighted sum of per-worker effects (``effect[worker_id - 1]``)."""
    mem = ev.memberships
    fam = mem["family_id"].to_numpy() - 1
    contrib = mem["weight"].to_numpy() * effect[mem["worker_id"].to_numpy() - 1]
    return np.bincount(fam, weights=contrib, minlength=len(ev.families))


def _latent(ev, outcome: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-worker and per-pilot effects of ``outcome`` (in worker-id and pilot order)."""
    t = ev.truth["families"]["outcomes"][outcome]
    worker = np.array([t["worker_effect"][k] for k in sorted(t["worker_effect"])])
    return worker, np.array(list(t["pilot_effect"].values()))


def _pilot_codes(ev) -> np.ndarray:
    return ev.families["la_code"].cat.codes.to_numpy()


def _fit(model: MultilevelModel, rng: int, draws: int = 1000, tune: int = 800):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SosstatsWarning)
        return model.fit(draws=draws, tune=tune, chains=2, rng=rng)


def _allowed_misses(n: int) -> int:
    """0.99 quantile of Binomial(n, 0.1): misses of a calibrated 90% interval."""
    return int(stats.binom.ppf(0.99, n, 0.1))


def _check_recovery(res, truth: dict[str, float]) -> list[str]:
    """Assert calibrated 90% coverage of ``truth`` (see the module notes); return the misses."""
    ci = res.conf_int(0.9)
    est, psd = res.params, res.std_errors
    names = list(truth)
    value = np.array([truth[k] for k in names])
    lower, upper = ci.loc[names, "lower"].to_numpy(), ci.loc[names, "upper"].to_numpy()
    misses = [k for k, lo, hi, v in zip(names, lower, upper, value) if not lo <= v <= hi]
    assert len(misses) <= _allowed_misses(len(names)), (misses, ci.loc[names], truth)
    z = np.abs(est[names].to_numpy() - value) / psd[names].to_numpy()
    assert (z < 4).all(), dict(zip(names, z.round(2)))
    return misses


def _group_inside(res, level: str, truth: pd.Series) -> np.ndarray:
    """Whether each true group effect lies inside its 90% interval (groups of the fit)."""
    eff = res.group_effects(level, ci_level=0.9)
    true = truth.reindex(eff.index).to_numpy()
    assert not np.isnan(true).any()
    return (eff["lower"].to_numpy() <= true) & (true <= eff["upper"].to_numpy())


# -- Gaussian SDQ with multiple membership, several seeds ------------------------------------

@lru_cache(maxsize=None)
def _gaussian(seed: int):
    ev = simulate_evaluation(rng=seed, n_families=N_FAMILIES)
    df = _frame(ev)
    model = MultilevelModel(f"sdq_t1 ~ {RHS}", df, levels=LEVELS, membership=ev.memberships)
    return ev, df, model, _fit(model, rng=seed)


def _sdq_truth(ev) -> dict[str, float]:
    t = ev.truth["families"]["outcomes"]["sdq"]
    out = {"Intercept": t["intercept"], **{k: t[k] for k in TERMS}}
    out["sigma_la_code"] = t["sd_pilot"]
    out["sigma_worker_id"] = t["sd_worker"]
    # family effect and residual are one per family; rounding adds 1/12
    out["sigma"] = float(np.sqrt(t["sd_family"] ** 2 + t["sd_residual"] ** 2 + 1 / 12))
    return out


@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=pytest.mark.slow),
                                  pytest.param(3, marks=pytest.mark.slow)])
def test_gaussian_membership_model_recovers_the_truth(seed):
    ev, df, model, res = _gaussian(seed)
    # clipping to 0..40 is negligible, so the Gaussian model is right up to rounding
    assert np.isin(df["sdq_t1"], [0, 40]).mean() < 0.01
    truth = _sdq_truth(ev)
    _check_recovery(res, truth)
    # informative intervals: family-level coefficients to within +-0.6 (measured widths 0.6
    # to 0.93), the worker SD within 30% (measured 0.94 to 1.07)
    ci = res.conf_int(0.9)
    width = ci["upper"] - ci["lower"]
    assert (width[["cohort_2", "previous_referral", "agency_worker"]] < 1.2).all()
    assert res.params["sigma_worker_id"] == pytest.approx(truth["sigma_worker_id"], rel=0.3)
    # group effects: 10 pilots (count rule), and about 200 workers, whose effects enter
    # only through membership-weighted sums
    worker, pilot = _latent(ev, "sdq")
    codes = ev.families["la_code"].cat.categories.astype(str)
    pilot_truth = pd.Series(pilot, index=codes)
    inside = _group_inside(res, "la_code", pilot_truth)
    assert inside.size == 10 and (~inside).sum() <= _allowed_misses(10)
    worker_truth = pd.Series(worker, index=[str(k) for k in range(1, worker.size + 1)])
    share = _group_inside(res, "worker_id", worker_truth).mean()
    assert WORKER_COVERAGE[0] <= share <= WORKER_COVERAGE[1], share


def test_ignoring_membership_biases_the_worker_sd_down():
    ev, df, _, res = _gaussian(1)
    naive = MultilevelModel(f"sdq_t1 ~ {RHS}", df, levels=["la_code", "main_worker"])
    res_naive = _fit(naive, rng=1)
    true_sd = ev.truth["families"]["outcomes"]["sdq"]["sd_worker"]
    mm = res.params["sigma_worker_id"]
    lone = res_naive.params["sigma_main_worker"]
    ci = res.conf_int(0.9).loc["sigma_worker_id"]
    assert ci["lower"] < true_sd < ci["upper"]
    # Two families sharing a main worker share only w_i w_i' sigma_W^2 of worker variance,
    # so the main-worker model estimates roughly E[w_main] sigma_W (the mean share of the
    # main worker is 0.81 here); the rest of the worker variation moves to the residual.
    # Measured (seeds 1 and 2): 0.79 and 0.73 against the truth 1 (90% intervals 0.49 to
    # 1.05 and 0.40 to 0.99), ratio to the membership model 0.73 and 0.69.
    w_main = ev.memberships.groupby("family_id")["weight"].max().mean()
    assert 0.75 < w_main < 0.85
    assert lone < 0.9 * true_sd
    assert 0.6 < lone / mm < 0.9
    assert res_naive.params["sigma"] > res.params["sigma"]


# -- other families (one fit each) -------------------------------------------------------------

@pytest.mark.slow
def test_bernoulli_rereferral_recovers_the_truth():
    ev = simulate_evaluation(rng=11, n_families=N_FAMILIES)
    df = _frame(ev)
    model = MultilevelModel(f"rereferred_t2 ~ {RHS}", df, levels=LEVELS,
                            membership=ev.memberships, family="bernoulli")
    res = _fit(model, rng=11)
    t = ev.truth["families"]["outcomes"]["rereferred"]
    truth = {"Intercept": t["intercept"], **{k: t[k] for k in TERMS},
             "sigma_la_code": t["sd_pilot"], "sigma_worker_id": t["sd_worker"]}
    _check_recovery(res, truth)
    assert res.conf_int(0.9).loc["previous_referral", "lower"] > 0.3


@pytest.mark.slow
def test_negative_binomial_counts_recover_the_truth():
    ev = simulate_evaluation(rng=12, n_families=N_FAMILIES)
    df = _frame(ev)
    gen = np.random.default_rng(1212)
    beta = {"Intercept": np.log(3.0), "cohort_2": -0.2, "experience_2_years": -0.1,
            "experience_2_years_plus": -0.3, "previous_referral": 0.3, "agency_worker": 0.2}
    sd_pilot, sd_worker, alpha = 0.3, 0.4, 4.0
    # the simulator's standardised worker and pilot latents, rescaled
    worker, pilot = _latent(ev, "sdq")
    sdq = ev.truth["families"]["outcomes"]["sdq"]
    u_worker = sd_worker * worker / (sdq["sign"] * sdq["sd_worker"])
    u_pilot = sd_pilot * pilot / (sdq["sign"] * sdq["sd_pilot"])
    eta = (beta["Intercept"] + df[list(TERMS)].to_numpy(float) @ np.array([beta[k] for k in TERMS])
           + u_pilot[_pilot_codes(ev)] + _worker_mix(ev, u_worker))
    mu = np.exp(eta)
    df["contacts"] = gen.poisson(gen.gamma(alpha, mu / alpha))   # NB2: var = mu + mu^2/alpha
    model = MultilevelModel(f"contacts ~ {RHS}", df, levels=LEVELS, membership=ev.memberships,
                            family="negative_binomial")
    res = _fit(model, rng=12)
    truth = {**beta, "sigma_la_code": sd_pilot, "sigma_worker_id": sd_worker, "alpha": alpha}
    # Measured: 3 of 9 outside the 90% intervals, the most allowed: sigma_worker_id 0.34
    # (0.30 to 0.38; the realised SD of these 200 worker effects is 0.36), alpha 4.7 (4.2 to
    # 5.2) and previous_referral (lower end 0.302). Not a bias: the same test on simulator
    # seeds 21 and 22 missed none (sigma_worker_id 0.41, 0.42; alpha 3.9, 4.2).
    _check_recovery(res, truth)
    worker_truth = pd.Series(u_worker, index=[str(k) for k in range(1, u_worker.size + 1)])
    share = _group_inside(res, "worker_id", worker_truth).mean()
    assert WORKER_COVERAGE[0] <= share <= WORKER_COVERAGE[1], share


@pytest.mark.slow
def test_ordinal_feelings_recover_the_cutpoints_and_effects():
    ev = simulate_evaluation(rng=13, n_families=N_FAMILIES)
    df = _frame(ev)
    t = ev.truth["families"]["outcomes"]["feelings"]
    worker, pilot = _latent(ev, "feelings")
    eta = (df[list(TERMS)].to_numpy(float) @ np.array([t[k] for k in TERMS])
           + pilot[_pilot_codes(ev)] + _worker_mix(ev, worker))
    # the simulator's ordered logit, P(Y <= k) = expit(cut_k - eta), without the family term
    cuts = np.array(list(t["cutpoints"].values()))
    latent = eta + np.random.default_rng(1313).logistic(size=eta.size)
    df["feelings"] = np.searchsorted(cuts, latent) + 1
    model = MultilevelModel(f"feelings ~ {RHS}", df, levels=LEVELS, membership=ev.memberships,
                            family="ordinal")
    res = _fit(model, rng=13)
    truth = {k: t[k] for k in TERMS}
    truth.update({f"cutpoints[{k}]": v for k, v in t["cutpoints"].items()})
    truth.update({"sigma_la_code": t["sd_pilot"], "sigma_worker_id": t["sd_worker"]})
    _check_recovery(res, truth)
    # The cutpoints' location shares the pilot-level uncertainty (10 pilots; 90% intervals
    # about 0.7 wide), but the gaps between them are sharp with 3,000 families: measured
    # 90% widths 0.11 to 0.17, |mean - truth| / sd 0.2, 2.0 and 0.7
    draws = res.idata.posterior["cutpoints"].values.reshape(-1, cuts.size)
    gaps = np.diff(draws, axis=1)
    lo, hi = np.quantile(gaps, [0.05, 0.95], axis=0)
    assert (hi - lo < 0.3).all(), hi - lo
    z = np.abs(gaps.mean(axis=0) - np.diff(cuts)) / gaps.std(axis=0)
    assert (z < 3).all(), z
