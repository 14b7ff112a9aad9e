"""Tests of compare_models: PSIS-LOO comparison of fitted multilevel models.

Two small Gaussian fits (10 pilots x 15 families; 2 chains x 400 draws; ``pilot_fit`` and
``pilot_fit_intercept_only`` of conftest.py, shared with the sensitivity tests) are compared;
the table logic is also tested on synthetic pointwise values without sampling, against
arviz.compare and with hypothesis. The brute-force exact-LOO check refits 12 times (slow).
"""

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("pymc")
az = pytest.importorskip("arviz")

from sosstats.errors import DataError, SosstatsWarning  # noqa: E402
from sosstats.multilevel import MultilevelModel  # noqa: E402
from sosstats.multilevel.compare import (  # noqa: E402
    ModelComparison,
    compare_models,
    comparison_table,
    stacking_weights,
)

def _data(seed=5, pilots=10, per=12):
    rng = np.random.default_rng(seed)
    n = pilots * per
    pilot = np.repeat(np.arange(pilots), per)
    x = rng.normal(size=n)
    y = 1.0 + 0.8 * x + rng.normal(0, 0.5, pilots)[pilot] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "pilot": pilot})


@pytest.fixture(scope="module")
def fits(pilot_data, pilot_fit, pilot_fit_intercept_only):
    return pilot_data, pilot_fit, pilot_fit_intercept_only


def _quiet_compare(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compare_models(*args, **kwargs)


def test_elpd_equals_arviz_loo_and_compare(fits):
    _, a, b = fits
    cmp = compare_models({"with x": a, "without": b})
    assert isinstance(cmp, ModelComparison)
    for name, res in (("with x", a), ("without", b)):
        ref = res.loo()
        row = cmp.table.loc[name]
        assert row["elpd_loo"] == pytest.approx(ref.elpd_loo, rel=1e-10)
        assert row["se"] == pytest.approx(ref.se, rel=1e-10)
        assert row["p_loo"] == pytest.approx(ref.p_loo, rel=1e-10)
    ref = az.compare({"with x": a.loo(pointwise=True), "without": b.loo(pointwise=True)})
    assert list(cmp.table.index) == list(ref.index)
    for col in ("elpd_diff", "dse", "se"):
        assert cmp.table[col].to_numpy() == pytest.approx(ref[col].to_numpy(), abs=1e-8)
    assert cmp.table["weight"].to_numpy() == pytest.approx(ref["weight"].to_numpy(), abs=1e-4)
    # x has a strong effect (0.5 per sd, n = 150): the model with it must win clearly over
    # the intercept-only model
    assert cmp.best == "with x" and cmp.table.loc["without", "elpd_diff"] > 2 * cmp.table.loc[
        "without", "dse"]
    assert (cmp.table["n_high_k"] == 0).all() and cmp.warnings == []
    # stacking gives the clear winner most of the weight (measured 0.947 on the shared
    # 150-family data, x at 0.5 per sd; the bound was 0.95 on the former 120-family data with
    # x at 0.8 per sd); the weights equal ArviZ's to 1e-4 above
    assert cmp.table.loc["with x", "weight"] > 0.9
    assert cmp.nobs == 150 and cmp.pointwise.shape == (150, 2)
    assert cmp.pointwise.sum().to_numpy() == pytest.approx(
        cmp.table.loc[["with x", "without"], "elpd_loo"].to_numpy())


def test_list_input_order_and_output(fits):
    import matplotlib

    matplotlib.use("Agg")
    _, a, b = fits
    one = _quiet_compare([b, a])
    assert list(one.table.index) == ["model_2", "model_1"]
    two = _quiet_compare({"A": a, "B": b})
    assert one.table.loc["model_2", "elpd_loo"] == two.table.loc["A", "elpd_loo"]
    assert one.table.loc["model_1", "elpd_diff"] == pytest.approx(two.table.loc["B", "elpd_diff"])
    assert list(one.table.columns) == ["rank", "elpd_loo", "se", "p_loo", "elpd_diff", "dse",
                                       "weight", "n_high_k", "max_k", "warning"]
    text = str(two)
    assert "Model comparison by PSIS-LOO" in text and "A" in text and "150 observations" in text
    assert two.summary().to_frame().shape == (2, 9)
    assert two.plot().has_data()
    pseudo = _quiet_compare({"A": a, "B": b}, method="pseudo-BMA")
    elpd = pseudo.table["elpd_loo"].to_numpy()
    assert pseudo.table["weight"].to_numpy() == pytest.approx(
        np.exp(elpd - elpd.max()) / np.exp(elpd - elpd.max()).sum())


def test_comparison_is_a_table_result(fits):
    import json

    from sosstats._results import TableResult

    _, a, b = fits
    cmp = _quiet_compare({"A": a, "B": b})
    assert isinstance(cmp, TableResult)
    assert "__str__" not in ModelComparison.__dict__  # the base's, from the one table
    tidy = cmp.tidy()
    assert list(tidy.columns) == ["model", "rank", "elpd_loo", "se", "p_loo", "elpd_diff",
                                  "dse", "weight", "n_high_k", "max_k"]
    assert list(tidy["model"]) == list(cmp.table.index)
    assert tidy.set_index("model").equals(cmp.summary().to_frame())
    out = cmp.to_dict()
    assert out["nobs"] == 150 and len(out["table"]) == 2
    json.dumps(out)
    assert str(cmp) == str(cmp.summary()) and repr(cmp) == str(cmp)
    assert "<h4>Model comparison by PSIS-LOO</h4>" in cmp._repr_html_()


def test_pareto_k_warning_names_model_and_count(fits):
    df, a, b = fits
    # the same posteriors judged on data with one gross outlier: its importance ratios are
    # heavy-tailed, so PSIS flags it (k > 0.7) for both models
    bad = df.copy()
    bad.loc[0, "y"] = 60.0
    a_bad = replace(a, design=MultilevelModel("y ~ x + expg", bad, levels=["pilot"]).design)
    b_bad = replace(b, design=MultilevelModel("y ~ 1", bad, levels=["pilot"]).design)
    with pytest.warns(SosstatsWarning) as record:
        cmp = compare_models({"with x": a_bad, "without": b_bad})
    text = [str(w.message) for w in record]
    n_high = cmp.table["n_high_k"]
    assert any("'with x'" in t and f"{n_high['with x']} of 150 observations" in t for t in text)
    assert any("'without'" in t and f"{n_high['without']} of 150 observations" in t for t in text)
    assert (cmp.pareto_k.iloc[0] > 0.7).all() and (n_high >= 1).all()
    assert len(cmp.warnings) == 2 and "Pareto k > 0.7" in str(cmp)


def test_bad_inputs(fits):
    df, a, b = fits
    with pytest.raises(DataError, match="at least two"):
        compare_models([a])
    with pytest.raises(DataError, match="at least two.*'only'"):
        compare_models({"only": a})
    with pytest.raises(DataError, match="MultilevelResult"):
        compare_models({"a": a, "b": "not a fit"})
    with pytest.raises(DataError, match="dict of name"):
        compare_models(a)
    with pytest.raises(DataError, match="`ic`"):
        compare_models([a, b], ic="waic")
    with pytest.raises(DataError, match="`method`"):
        compare_models([a, b], method="bma")
    with pytest.raises(DataError, match="k_threshold"):
        compare_models([a, b], k_threshold=0)
    fewer = replace(b, design=MultilevelModel("y ~ 1", df.iloc[:100],
                                              levels=["pilot"]).design, nobs=100)
    with pytest.raises(DataError, match="'full' and 'subset'.*150 rows.*100 rows"):
        compare_models({"full": a, "subset": fewer})
    shifted = df.assign(y=df["y"] + 1.0)
    moved = replace(b, design=MultilevelModel("y ~ 1", shifted, levels=["pilot"]).design)
    with pytest.raises(DataError, match="'a' and 'b'.*150 of the 150 values"):
        compare_models({"a": a, "b": moved})


def _fake_loo(seed, n=30, shift=0.0, draws=400):
    """ArviZ loo of a fake posterior (normal log-likelihood draws): no sampling needed."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(shift, 0.2, size=(2, draws, 1))
    y = np.random.default_rng(99).normal(size=n)
    ll = -0.5 * (y - mu) ** 2 - 0.5 * np.log(2 * np.pi)
    idata = az.from_dict(posterior={"mu": mu[..., 0]}, log_likelihood={"y": ll})
    return az.loo(idata, pointwise=True)


def test_table_logic_matches_arviz_compare_on_synthetic_loo():
    loos = {"a": _fake_loo(1), "b": _fake_loo(2, shift=0.3), "c": _fake_loo(3, shift=-0.5)}
    ref = az.compare(loos)
    table = comparison_table({k: np.asarray(v.loo_i) for k, v in loos.items()},
                             {k: v.p_loo for k, v in loos.items()})
    assert list(table.index) == list(ref.index)
    for col in ("rank", "elpd_loo", "p_loo", "elpd_diff", "se", "dse"):
        assert table[col].to_numpy() == pytest.approx(ref[col].to_numpy(), abs=1e-8), col
    assert table["weight"].to_numpy() == pytest.approx(ref["weight"].to_numpy(), abs=1e-3)


def test_stacking_weights_closed_form():
    # two observations, two models: densities p = [[1, 0], [0, 1]] (log scale with -inf
    # replaced by a very negative number) -> w = (0.5, 0.5) maximises log w1 + log w2
    lpd = np.log(np.array([[1.0, 1e-300], [1e-300, 1.0]]))
    assert stacking_weights(lpd) == pytest.approx([0.5, 0.5], abs=1e-6)
    # three observations, densities (2, 1), (2, 1), (1, 4): maximise
    # 2 log(1 + w) + log(4 - 3w) -> w = 5/9
    lpd = np.log(np.array([[2.0, 1.0], [2.0, 1.0], [1.0, 4.0]]))
    assert stacking_weights(lpd) == pytest.approx([5 / 9, 4 / 9], abs=1e-5)
    # shifting every log density of one observation leaves the weights unchanged
    shifted = lpd + np.array([[-700.0], [3.0], [0.0]])
    assert stacking_weights(shifted) == pytest.approx([5 / 9, 4 / 9], abs=1e-5)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 40), k=st.integers(2, 4))
def test_table_properties(seed, n, k):
    rng = np.random.default_rng(seed)
    lpd = rng.normal(-1.0, 1.0, size=(n, k))
    names = [f"m{j}" for j in range(k)]
    p_loo = dict(zip(names, rng.uniform(1, 5, k)))
    table = comparison_table(dict(zip(names, lpd.T)), p_loo)
    elpd = lpd.sum(axis=0)
    assert table["elpd_loo"].is_monotonic_decreasing
    assert list(table["rank"]) == list(range(k))
    assert table["elpd_diff"].to_numpy() == pytest.approx(elpd.max() - table["elpd_loo"])
    assert (table["elpd_diff"] >= 0).all() and table["dse"].iloc[0] == 0
    assert table["weight"].sum() == pytest.approx(1.0) and (table["weight"] >= 0).all()
    # relabelling / reordering the models permutes the rows only
    perm = rng.permutation(k)
    again = comparison_table({names[j]: lpd[:, j] for j in perm}, p_loo)
    cols = ["elpd_loo", "se", "elpd_diff", "dse"]
    assert again.loc[table.index, cols].to_numpy() == pytest.approx(table[cols].to_numpy())
    assert again.loc[table.index, "weight"].to_numpy() == pytest.approx(
        table["weight"].to_numpy(), abs=2e-3)
    # a model better at every observation takes all the stacking weight
    dominant = dict(zip(names, lpd.T))
    dominant["best"] = lpd.max(axis=1) + 0.5
    assert comparison_table(dominant, {**p_loo, "best": 1.0}).loc["best", "weight"] > 0.999


def _normal_loglik(res, frame):
    """Return log p(y_i | theta_s) per draw for rows ``frame`` of a Gaussian pilot model."""
    from scipy import stats

    post = res.idata.posterior
    beta = post["beta"].values.reshape(-1, post["beta"].shape[-1])
    u = post["u_pilot"].values.reshape(-1, post["u_pilot"].shape[-1])
    sigma = post["sigma"].values.reshape(-1)
    labels = list(post["u_pilot"].coords["pilot"].values)
    col = np.array([labels.index(str(p)) for p in frame["pilot"]])
    mu = beta[:, :1] + u[:, col]
    return stats.norm.logpdf(frame["y"].to_numpy(), mu, sigma[:, None])


@pytest.mark.slow
def test_psis_loo_close_to_exact_loo_by_refits():
    from scipy.special import logsumexp

    df = _data(seed=8, pilots=4, per=3)
    full = MultilevelModel("y ~ 1", df, levels=["pilot"])
    priors = full.priors.to_dict()  # the same priors for every refit (defaults use the data)
    fit_kw = {"draws": 1000, "tune": 500, "chains": 2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = full.fit(rng=1, **fit_kw)
        exact = []
        for i in range(len(df)):
            part = MultilevelModel("y ~ 1", df.drop(index=i), levels=["pilot"], priors=priors)
            ll = _normal_loglik(part.fit(rng=2 + i, **fit_kw), df.iloc[[i]])[:, 0]
            exact.append(logsumexp(ll) - np.log(ll.size))
        other = MultilevelModel("y ~ 1", df, levels=["pilot"],
                                priors={**priors, "sigma_pilot": ("halfnormal", {"sigma": 0.1})})
        cmp = compare_models({"default": res, "tight": other.fit(rng=3, **fit_kw)})
    diff = cmp.pointwise["default"].to_numpy() - np.array(exact)
    k = cmp.pareto_k["default"].to_numpy()
    # where PSIS is reliable (k < 0.5) it matches exact LOO to Monte Carlo error; an
    # influential observation (one seed gave 0.34 for one row) is where PSIS is optimistic
    assert (k < 0.5).sum() >= 9
    assert np.abs(diff[k < 0.5]).max() < 0.06
    assert cmp.table.loc["default", "elpd_loo"] == pytest.approx(np.sum(exact), abs=0.5)
