"""MultilevelModel.fit's national-scale path (likelihood="census" / "auto").

- the census model built from a MultilevelModel (its priors, its centring) has the row-wise
  model's log density, up to a constant, at matched points (1e-9);
- a fit on the census path returns the row-wise model's posterior names, and every result
  method (tidy, variance components, posterior predictive check) works on it;
- "auto" keeps small models on the rows; bad values of ``likelihood`` and a model the table
  cannot represent raise.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sosstats.errors import DataError, DesignError

pytest.importorskip("pymc")

FORMULA = "rereferred ~ C(age_band) + previous_referral + pilot"
PRIORS = {"sigma_worker_id": ("halfnormal", {"sigma": 0.7}),
          "beta": ("normal", {"mu": 0.0, "sigma": 1.5}),
          "Intercept": ("normal", {"mu": -1.0, "sigma": 2.0})}


@pytest.fixture(scope="module")
def census():
    from sosstats.datasets import simulate_census

    return simulate_census(5, n_children=3000, n_workers=200, n_las=20, n_pilots=4)


@pytest.fixture(scope="module")
def model(census):
    from sosstats.multilevel import MultilevelModel

    return MultilevelModel(FORMULA, census.children, levels=["la_code", "worker_id"],
                           family="bernoulli", priors=PRIORS, centred=None)


def _binomial(children):
    """Sum the children to successes / trials per worker x covariate pattern."""
    keys = ["la_code", "worker_id", "pilot", "age_band", "previous_referral"]
    agg = (children.groupby(keys, observed=True)["rereferred"].agg(["sum", "size"])
           .reset_index().rename(columns={"sum": "rereferred", "size": "n"}))
    return agg.assign(age_band=agg["age_band"].astype(str))


@pytest.mark.parametrize("family", ["bernoulli", "binomial"])
@pytest.mark.parametrize("centred", [None, ["la_code"]])
def test_census_model_has_the_row_wise_log_density(census, family, centred):
    """Census and row-wise models, same priors and centring: logp differences agree (1e-9)."""
    from sosstats.multilevel import MultilevelModel
    from sosstats.multilevel._census_fit import census_model, census_table_for
    from sosstats.multilevel._pymc import build_model

    data = census.children if family == "bernoulli" else _binomial(census.children)
    model = MultilevelModel(FORMULA, data, levels=["la_code", "worker_id"], family=family,
                            trials="n" if family == "binomial" else None, priors=PRIORS,
                            centred=centred)
    table = census_table_for(model.design, model.priors, "census")
    assert table is not None
    census_pm = census_model(table, model.design, model.priors, model.centred)
    rows_pm = build_model(model.design, model.priors, centred=model.centred)
    logp_c, logp_r = census_pm.compile_logp(), rows_pm.compile_logp()
    terms = list(model.design.terms)
    coefs = [t for t in terms if t != "Intercept"]
    row_terms, la_terms = list(table.terms), list(table.la_terms)
    centre_la = model.design.x_mean[[terms.index(t) for t in la_terms]]
    la_centred = (table.la_X - centre_la)         # (L, r) LA-level terms at the design's centre
    rng = np.random.default_rng(3)
    values_c, values_r = [], []
    for _ in range(2):
        b = rng.normal(scale=0.4, size=len(coefs))
        alpha = rng.normal()
        common = {"sigma_la_code_log__": rng.normal(scale=0.3),
                  "sigma_worker_id_log__": rng.normal(scale=0.3),
                  "z_worker_id": rng.normal(size=200)}
        point_r = dict(common, intercept_centred=alpha, b=b)
        point_c = dict(common, intercept_centred=alpha,
                       b=b[[coefs.index(t) for t in row_terms]],
                       b_la=b[[coefs.index(t) for t in la_terms]])
        if centred is None:
            point_r["z_la_code"] = point_c["z_la_code"] = rng.normal(size=20)
        else:   # rows: the LA means absorb the intercept; census: they add the LA terms
            mean = alpha + rng.normal(scale=0.3, size=20)
            point_r["mean_la_code"] = mean
            point_c["mean_la_code"] = mean + la_centred @ point_c["b_la"]
        assert set(point_r) == {v.name for v in rows_pm.value_vars}
        assert set(point_c) == {v.name for v in census_pm.value_vars}
        values_c.append(float(logp_c(point_c)))
        values_r.append(float(logp_r(point_r)))
    want = values_r[0] - values_r[1]
    got = values_c[0] - values_c[1]
    assert got == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_census_and_rows_paths_agree(model):
    """The same model sampled both ways: posterior means within 4 combined MCSEs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = model.fit(draws=400, tune=300, chains=2, rng=8, likelihood="rows")
        table = model.fit(draws=400, tune=300, chains=2, rng=8, likelihood="census")
    assert rows.idata.posterior.attrs["sosstats_likelihood"] == "rows"
    a, b = table.tidy().set_index("term"), rows.tidy().set_index("term")
    assert list(a.index) == list(b.index)
    names = [t if t.startswith("sigma_") else f"beta[{t}]" for t in a.index]
    mcse = np.hypot(table.diagnostics().table.loc[names, "mcse_mean"].to_numpy(),
                    rows.diagnostics().table.loc[names, "mcse_mean"].to_numpy())
    gap = (a["estimate"] - b["estimate"]).abs().to_numpy()
    assert (gap < 4 * mcse).all(), dict(zip(names, gap / mcse))
    # and the Monte Carlo error is small beside the posterior SD (the check has power)
    assert (mcse < 0.2 * b["std_error"].to_numpy()).all()


def test_fit_on_the_census_path_gives_the_row_wise_result(model, census):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(draws=200, tune=300, chains=2, rng=4, likelihood="census")
    post = res.idata.posterior
    assert post.attrs["sosstats_likelihood"] == "census"
    for name in ("beta", "b", "intercept_centred", "sigma_la_code", "sigma_worker_id",
                 "u_la_code", "z_la_code", "u_worker_id", "z_worker_id"):
        assert name in post.data_vars, name
    assert "b_la" not in post.data_vars
    assert list(post["beta"].coords["term"].values) == list(model.design.terms)
    # the sampled intercept_centred is the intercept at the design's predictor means, as on
    # the rows path (the census model is centred there)
    x_mean = model.design.x_mean[1:]
    beta = post["beta"].values
    np.testing.assert_allclose(post["intercept_centred"].values,
                               beta[..., 0] + beta[..., 1:] @ x_mean, rtol=1e-10, atol=1e-10)
    tidy = res.tidy()
    assert list(tidy["term"]) == [*model.design.terms, "sigma_la_code", "sigma_worker_id"]
    assert tidy["estimate"].notna().all()
    vc = res.variance_components()
    assert len(vc) >= 2
    assert len(res.group_effects("la_code")) == 20
    assert np.isfinite(res.vpc().select_dtypes("number").to_numpy()).all()
    check = res.ppc("mean", ndraws=50)
    assert check.observed == pytest.approx(census.children["rereferred"].mean())
    assert 0.01 < check.p_value < 0.99


def test_auto_keeps_small_models_on_the_rows(model):
    from sosstats.multilevel._census_fit import CENSUS_MIN_ROWS, census_table_for

    assert model.design.fit.n < CENSUS_MIN_ROWS
    assert census_table_for(model.design, model.priors, "auto") is None
    assert census_table_for(model.design, model.priors, "rows") is None


def test_auto_takes_the_table_for_a_large_nested_logit_unless_collapse_is_off():
    from sosstats.datasets import simulate_census
    from sosstats.multilevel import MultilevelModel
    from sosstats.multilevel._census_fit import CENSUS_MIN_ROWS, census_table_for

    ch = simulate_census(1, n_children=60_000, n_workers=2_000).children
    model = MultilevelModel(FORMULA, ch, levels=["la_code", "worker_id"], family="bernoulli")
    assert model.design.fit.n >= CENSUS_MIN_ROWS
    table = census_table_for(model.design, model.priors, "auto")
    assert table is not None and table.trials.sum() == len(ch)
    raw = MultilevelModel(FORMULA, ch, levels=["la_code", "worker_id"], family="bernoulli",
                          collapse=False)
    assert census_table_for(raw.design, raw.priors, "auto") is None


def test_bad_likelihood_values(model, census):
    from sosstats.multilevel import MultilevelModel

    with pytest.raises(DataError, match="likelihood"):
        model.fit(draws=10, tune=10, chains=1, likelihood="collapsed")
    gaussian = MultilevelModel("age ~ previous_referral", census.children.assign(
        age=census.children["age_band"].cat.codes.astype(float)),
        levels=["la_code", "worker_id"])
    with pytest.raises(DesignError, match="likelihood='census'.*logit"):
        gaussian.fit(draws=10, tune=10, chains=1, likelihood="census")
    mixed = MultilevelModel(FORMULA, census.children, levels=["la_code", "worker_id"],
                            family="bernoulli",
                            priors={"beta": {"previous_referral": ("studentt", {
                                "nu": 3, "mu": 0.0, "sigma": 1.0})}})
    with pytest.raises(DesignError, match="one distribution family"):
        mixed.fit(draws=10, tune=10, chains=1, likelihood="census")


def test_a_continuous_covariate_keeps_the_rows():
    """Every row its own pattern: the dense table would be workers x rows, so it is refused."""
    from sosstats.datasets import simulate_census
    from sosstats.multilevel import MultilevelModel
    from sosstats.multilevel._census_fit import CENSUS_MIN_ROWS, census_table_for

    ch = simulate_census(2, n_children=12_000, n_workers=400, n_las=20, n_pilots=4).children
    ch = ch.assign(score=np.random.default_rng(0).normal(size=len(ch)))
    model = MultilevelModel("rereferred ~ score + pilot", ch, levels=["la_code", "worker_id"],
                            family="bernoulli")
    assert model.design.fit.n >= CENSUS_MIN_ROWS
    assert census_table_for(model.design, model.priors, "auto") is None
    with pytest.raises(DesignError, match="patterns.*continuous"):
        census_table_for(model.design, model.priors, "census")
    # few workers: the table (60 x 12,000) fits in memory, but costs more than the rows
    few = ch.assign(worker_id=ch["la_code"].cat.codes.astype(str) + "-"
                    + (ch["child_id"] % 3).astype(str))
    small = MultilevelModel("rereferred ~ score + pilot", few, levels=["la_code", "worker_id"],
                            family="bernoulli")
    assert census_table_for(small.design, small.priors, "auto") is None
    assert census_table_for(small.design, small.priors, "census") is not None
