"""Sampling tests of MultilevelModel: recovery, results protocol, diagnostics, membership.

Small models (2 chains, a few hundred draws) so the file runs in well under a minute and a
half including compilation; the recovery / calibration studies live in other files.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pymc")
az = pytest.importorskip("arviz")

from sosstats.errors import SosstatsWarning  # noqa: E402
from sosstats.multilevel import MultilevelModel, MultilevelResult  # noqa: E402
from sosstats.multilevel._diagnostics import compute_diagnostics, warn_diagnostics  # noqa: E402

TRUTH = {"Intercept": 2.0, "x": 0.5, "z": -1.0, "sigma_grp": 1.0, "sigma": 1.0}


def _gaussian_data(seed=11, groups=30, per=40):
    rng = np.random.default_rng(seed)
    n = groups * per
    grp = np.repeat(np.arange(groups), per)
    u = rng.normal(0, TRUTH["sigma_grp"], groups)
    x = rng.normal(size=n)
    z = rng.integers(0, 2, n)
    y = (TRUTH["Intercept"] + TRUTH["x"] * x + TRUTH["z"] * z + u[grp]
         + rng.normal(0, TRUTH["sigma"], n))
    return pd.DataFrame({"y": y, "x": x, "z": z, "grp": grp}), u


@pytest.fixture(scope="module")
def gaussian_fit():
    df, u = _gaussian_data()
    model = MultilevelModel("y ~ x + z", df, levels=["grp"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit(draws=300, tune=300, chains=2, rng=5, sampler="auto")
    return model, res, u, df, caught


def test_gaussian_recovers_fixed_effects_and_variance(gaussian_fit):
    model, res, u, df, _ = gaussian_fit
    assert isinstance(res, MultilevelResult)
    ci = res.conf_int(0.99)
    for term in ("Intercept", "x", "z", "sigma_grp", "sigma"):
        assert ci.loc[term, "lower"] < TRUTH[term] < ci.loc[term, "upper"], term
    assert res.params["x"] == pytest.approx(0.5, abs=0.1)
    assert res.params["z"] == pytest.approx(-1.0, abs=0.15)
    effects = res.group_effects("grp")
    assert list(effects.index) == [str(g) for g in range(30)]
    assert np.corrcoef(effects["estimate"], u)[0, 1] > 0.95
    # with 40 rows per group, pooling ~ (sigma^2/n) / (sigma^2/n + tau^2) ~ 0.024
    assert 0.0 < effects["pooling"].mean() < 0.1
    assert np.allclose(effects["n"], 40)
    assert effects["raw_mean"].to_numpy() == pytest.approx(df.groupby("grp")["y"].mean())
    # VPC of the group level: tau^2 / (tau^2 + sigma^2) = 0.5 in truth
    vpc = res.vpc()
    assert vpc.loc["grp", "vpc_lower"] < 0.5 < vpc.loc["grp", "vpc_upper"]
    assert vpc["vpc"].sum() == pytest.approx(1.0)
    assert res.icc().loc["grp", "icc"] == pytest.approx(vpc.loc["grp", "vpc"])


def test_result_protocol(gaussian_fit):
    model, res, *_ = gaussian_fit
    tidy = res.tidy()
    assert list(tidy.columns[:7]) == ["term", "estimate", "std_error", "statistic", "p_value",
                                      "ci_lower", "ci_upper"]
    assert {"prob_positive", "r_hat", "ess_bulk"} <= set(tidy.columns)
    assert tidy["statistic"].isna().all() and tidy["p_value"].isna().all()
    post = res.idata.posterior
    beta = post["beta"].values.reshape(-1, 3)
    assert res.params[["Intercept", "x", "z"]].to_numpy() == pytest.approx(beta.mean(axis=0))
    assert res.std_errors["x"] == pytest.approx(beta[:, 1].std(ddof=1))
    assert res.conf_int(0.9).loc["x", "lower"] == pytest.approx(np.quantile(beta[:, 1], 0.05))
    assert tidy.set_index("term").loc["z", "prob_positive"] == pytest.approx(
        (beta[:, 2] > 0).mean())
    assert list(post["u_grp"].coords["grp"].values) == [str(g) for g in range(30)]
    assert {"beta", "sigma_grp", "z_grp", "u_grp", "sigma"} <= set(post.data_vars)
    assert not any(str(v).endswith("__") for v in post.data_vars)
    assert "MultilevelResult" in str(res.summary()) and res.nobs == 1200
    assert res.to_dict()["nobs"] == 1200
    vc = res.variance_components()
    assert list(vc.index) == ["sigma_grp", "sigma"]
    assert vc.loc["sigma", "var_mean"] == pytest.approx(
        (post["sigma"].values ** 2).mean())
    assert res.timings["total_s"] > 0 and res.seed == res.idata.posterior.attrs["sosstats_seed"]
    diag = res.diagnostics()
    assert {"r_hat", "ess_bulk", "ess_tail"} <= set(diag.table.columns)
    assert diag.divergences.shape == (2,) and diag.ebfmi.shape == (2,)


def test_summary_leaves_out_the_all_nan_test_columns(gaussian_fit):
    # a Bayesian fit has no test: tidy() keeps the protocol's statistic / p_value columns
    # (NaN), summary() leaves out every column that is NaN throughout
    _, res, *_ = gaussian_fit
    table = res.summary().to_frame()
    assert "statistic" not in table.columns and "p_value" not in table.columns
    assert not table.isna().all().any()
    assert {"estimate", "std_error", "ci_lower", "ci_upper", "prob_positive", "r_hat",
            "ess_bulk"} <= set(table.columns)
    header = str(res.summary()).splitlines()[2]  # title, rule, column names
    assert "estimate" in header and "p_value" not in header and "statistic" not in header
    assert {"statistic", "p_value"} <= set(res.tidy().columns)


def test_ess_prints_as_whole_numbers_with_thousands_separators(gaussian_fit):
    import re

    _, res, *_ = gaussian_fit
    whole = re.compile(r"^\d{1,3}(,\d{3})*$")
    diag = res.diagnostics()
    lines = {line.split()[0]: line.split() for line in str(diag).splitlines()[2:]
             if line.split() and line.split()[0] in diag.table.index}
    assert set(lines) == set(diag.table.index)
    for name, tokens in lines.items():
        # parameter, r_hat, ess_bulk, ess_tail, mcse_mean
        assert whole.match(tokens[2]) and whole.match(tokens[3]), tokens
        assert tokens[2] == f"{round(diag.table.loc[name, 'ess_bulk']):,}"
    table = res.summary().to_frame()
    body = str(res.summary()).splitlines()[4:4 + len(table)]  # after the "term" line
    assert [line.split()[-1] for line in body] == [f"{round(v):,}" for v in table["ess_bulk"]]
    # the numbers themselves are not rounded
    assert not np.allclose(diag.table["ess_bulk"], diag.table["ess_bulk"].round())


def test_ppc_and_plots(gaussian_fit):
    import matplotlib

    matplotlib.use("Agg")
    _, res, _, df, _ = gaussian_fit
    check = res.ppc("sd", ndraws=200, rng=1)
    assert check.observed == pytest.approx(df["y"].std(ddof=1))
    assert check.replicated.shape == (200,) and 0.02 < check.p_value < 0.98
    again = res.ppc("sd", ndraws=200, rng=1)
    assert np.array_equal(check.replicated, again.replicated)
    custom = res.ppc(lambda y: np.percentile(y, 90), ndraws=50)
    assert custom.replicated.shape == (50,)
    for kind in ("caterpillar", "shrinkage", "ppc"):
        ax = res.plot(kind=kind)
        assert ax.has_data()
    pred = res.predict_probabilities("z")
    assert pred["estimate"].diff().iloc[1] == pytest.approx(res.params["z"], abs=1e-8)


def test_log_likelihood_matches_direct_formula(gaussian_fit):
    from scipy import stats

    _, res, _, df, _ = gaussian_fit
    ll = res.log_likelihood()
    assert ll.shape == (2, 300, 1200)
    post = res.idata.posterior
    beta, u = post["beta"].values[1, :5], post["u_grp"].values[1, :5]
    sigma = post["sigma"].values[1, :5, None]
    X = np.column_stack([np.ones(len(df)), df["x"], df["z"]])
    eta = beta @ X.T + u[:, df["grp"].to_numpy()]
    assert np.allclose(ll.values[1, :5], stats.norm.logpdf(df["y"].to_numpy(), eta, sigma))
    loo = res.loo()
    assert np.isfinite(loo.elpd_loo) and loo.n_data_points == 1200


def test_bernoulli_collapsed_fit_with_pymc_is_reproducible():
    rng = np.random.default_rng(3)
    n, groups = 2000, 20
    grp = rng.integers(0, groups, n)
    t = rng.integers(0, 2, n)
    u = rng.normal(0, 0.7, groups)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-0.5 + 1.0 * t + u[grp])))).astype(int)
    df = pd.DataFrame({"y": y, "t": t, "grp": grp})
    model = MultilevelModel("y ~ t", df, levels=["grp"], family="bernoulli")
    assert model.design.collapsed and model.design.fit.n <= 2 * groups
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = model.fit(draws=200, tune=300, chains=2, rng=9, sampler="pymc")
        b = model.fit(draws=200, tune=300, chains=2, rng=9, sampler="pymc")
    assert a.sampler == "pymc"
    assert np.array_equal(a.idata.posterior["beta"].values, b.idata.posterior["beta"].values)
    ci = a.conf_int(0.99)
    assert ci.loc["t", "lower"] < 1.0 < ci.loc["t", "upper"]
    assert ci.loc["Intercept", "lower"] < -0.5 < ci.loc["Intercept", "upper"]
    assert a.vpc().loc["residual", "vpc"] > 0.7  # pi^2/3 against 0.49
    probs = a.predict_probabilities("t")
    assert probs["estimate"].between(0, 1).all() and probs["estimate"].iloc[1] > probs[
        "estimate"].iloc[0]
    # posterior predictive check uses the uncollapsed 0/1 rows
    check = a.ppc("mean", ndraws=100)
    assert check.observed == pytest.approx(y.mean()) and 0.01 < check.p_value < 0.99
    effects = a.group_effects("grp")
    assert effects["pooling"].between(0, 1).all()
    assert effects["n"].sum() == n
    # pointwise log-likelihood on the 0/1 rows although the fit used binomial patterns
    post = a.idata.posterior
    beta, ug = post["beta"].values[0, :3], post["u_grp"].values[0, :3]
    p = 1 / (1 + np.exp(-(beta[:, :1] + beta[:, 1:] * t + ug[:, grp])))
    from scipy import stats

    assert np.allclose(a.log_likelihood().values[0, :3], stats.bernoulli.logpmf(y, p))


def test_membership_model_on_the_simulator_runs(evaluation):
    ev = evaluation  # simulate_evaluation(rng=7), shared (conftest.py)
    model = MultilevelModel("sdq_t1 ~ cohort + previous_referral", ev.families,
                            levels=["la_code", "worker_id"], membership=ev.memberships)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(draws=200, tune=200, chains=2, rng=4)
    assert "sigma_worker_id" in res.params.index and res.params["sigma_worker_id"] > 0
    assert res.n_groups["la_code"] == 10
    vpc = res.vpc()
    assert {"vpc_membership", "mean_sum_sq_weights"} <= set(vpc.columns)
    assert 0.5 < vpc.loc["worker_id", "mean_sum_sq_weights"] < 1.0
    # shrinking the membership variance by mean(sum w^2) lowers its share
    assert vpc.loc["worker_id", "vpc_membership"] < vpc.loc["worker_id", "vpc"]
    effects = res.group_effects("worker_id")
    assert effects.shape[0] == model.design.level("worker_id").n_groups
    assert effects["n"].sum() == pytest.approx(270)


def _fake_idata(shift=0.0, diverging=0, draws=200):
    rng = np.random.default_rng(0)
    chains = 2
    beta = rng.normal(size=(chains, draws, 2))
    sig = np.abs(rng.normal(size=(chains, draws))) + np.array([[0.0], [shift]])
    div = np.zeros((chains, draws), dtype=bool)
    div[0, :diverging] = True
    return az.from_dict(
        posterior={"beta": beta, "sigma_la_code": sig, "z_la_code": rng.normal(size=(2, draws, 3))},
        sample_stats={"diverging": div, "energy": rng.normal(size=(chains, draws))},
        coords={"term": ["Intercept", "cohort"], "la_code": ["A", "B", "C"]},
        dims={"beta": ["term"], "z_la_code": ["la_code"]})


def test_diagnostics_warnings_name_the_parameter():
    diag = compute_diagnostics(_fake_idata(shift=3.0, diverging=4))
    assert diag.table.loc["sigma_la_code", "r_hat"] > 1.01
    assert diag.table.loc["beta[cohort]", "r_hat"] < 1.01
    assert diag.divergences.tolist() == [4, 0]
    with pytest.warns(SosstatsWarning) as record:
        warn_diagnostics(diag)
    text = [str(w.message) for w in record]
    assert any("R-hat above 1.01 for sigma_la_code" in t for t in text)
    assert any("4 divergent" in t for t in text)
    assert any("below 400" in t and "sigma_la_code" in t for t in text)
    clean = compute_diagnostics(_fake_idata(draws=4000))
    assert clean.ok and clean.messages == [] and clean.divergences.sum() == 0


def test_short_chains_warn_at_fit_time(gaussian_fit):
    *_, caught = gaussian_fit
    messages = [str(w.message) for w in caught if issubclass(w.category, SosstatsWarning)]
    # 2 x 300 draws: the ESS of at least one parameter falls below 400
    assert any("effective sample size" in m and ("sigma" in m or "z_grp[" in m or "beta[" in m)
               for m in messages)


def test_prior_predictive_draws_every_row():
    df, _ = _gaussian_data(groups=10, per=10)
    model = MultilevelModel("y ~ x", df, levels=["grp"])
    pp = model.prior_predictive(draws=40, rng=1)
    assert pp.prior_predictive["y"].shape == (1, 40, 100)
    assert "sigma_grp" in pp.prior


def _fake_nutpie(monkeypatch, compile_warnings=(), bar=""):
    """Replace nutpie's compile / sample by stand-ins (no numba compile, no sampling)."""
    import sys

    nutpie = pytest.importorskip("nutpie")

    def compile_pymc_model(model, **kwargs):
        for message in compile_warnings:
            warnings.warn(message, UserWarning, stacklevel=2)
        return "compiled"

    def sample(compiled, progress_bar=False, **kwargs):
        if progress_bar:  # a progress bar that leaves the cursor at the end of its line
            sys.stderr.write(bar)
        return az.from_dict(posterior={"a": np.zeros((2, 5))})

    monkeypatch.setattr(nutpie, "compile_pymc_model", compile_pymc_model)
    monkeypatch.setattr(nutpie, "sample", sample)


BLAS_MESSAGE = ("PyTensor could not link to a BLAS installation. Operations that might benefit "
                "from BLAS will be severely degraded.\nThis usually happens when PyTensor is "
                "installed via pip.")


def test_blas_link_warning_is_silenced_around_a_nutpie_fit_and_nothing_else(monkeypatch):
    from sosstats.multilevel._pymc import sample_model

    _fake_nutpie(monkeypatch, compile_warnings=(BLAS_MESSAGE, "another compile warning"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sample_model(None, draws=5, tune=5, chains=2, seed=1, sampler="nutpie",
                     target_accept=0.9, progress=False, cores=1)
        warnings.warn(BLAS_MESSAGE, UserWarning)  # outside the fit: not filtered
    shown = [str(w.message) for w in caught]
    assert shown == ["another compile warning", BLAS_MESSAGE]


class _Terminal:
    """A stand-in for a terminal's stderr: text kept, ``isatty()`` true."""

    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s
        return len(s)

    def flush(self):
        pass

    def isatty(self):
        return True


def test_warning_after_a_progress_bar_starts_on_a_new_line(monkeypatch):
    import sys

    from sosstats.multilevel._pymc import sample_model

    # nutpie's terminal bars end without a newline (seen in a pty: "...200  0s  0s   " then
    # the first warning on the same line)
    _fake_nutpie(monkeypatch, bar="\r  chain 1  200  0s  0s   ")
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    sample_model(None, draws=5, tune=5, chains=2, seed=1, sampler="nutpie", target_accept=0.9,
                 progress=True, cores=1)
    # what Python's warning display then writes to stderr
    sys.stderr.write(warnings.formatwarning("R-hat above 1.01 for sigma_g", SosstatsWarning,
                                            "analysis.py", 7))
    line = next(x for x in term.text.splitlines() if "SosstatsWarning" in x)
    assert "0s" not in line and term.text.count("\n\n") == 0
    # without a bar on screen nothing is added
    quiet = _Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    sample_model(None, draws=5, tune=5, chains=2, seed=1, sampler="nutpie", target_accept=0.9,
                 progress=False, cores=1)
    assert quiet.text == ""
