"""Collapsed binomial likelihoods (issue 18): equal to the row-wise Bernoulli log density.

- ``collapse`` sums successes and trials per (design pattern, group combination); the
  collapsed log-likelihood equals the row-wise one to 1e-10 (relative to its size), with no
  binomial-coefficient constant; hypothesis properties: invariance to row order, splitting a
  binomial row into Bernoulli rows, merging two data sets;
- the census model's log density (PyMC, on the worker x pattern table) equals the row-wise
  Bernoulli model's at random parameter values, to 1e-10;
- bad input raises ``DataError`` naming the argument;
- (slow) the census model recovers ``simulate_census``'s truths on a small census.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats.errors import DataError
from sosstats.multilevel._collapse import (
    bernoulli_loglik,
    collapse,
    collapsed_loglik,
    row_log_choose,
    segment_sum,
)


def _data(seed: int, n: int = 5000, groups: int = 50, levels: int = 3):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.integers(0, levels, n), rng.integers(0, 2, n)]).astype(float)
    g1 = rng.integers(0, groups, n)
    g2 = g1 // 5  # nested
    y = rng.integers(0, 2, n).astype(float)
    return X, np.column_stack([g1, g2]), y


def _eta(cells, rng, k: int = 2):
    """A linear predictor constant within cells: pattern part + group effects."""
    b = rng.normal(size=cells.patterns.shape[1])
    effects = [rng.normal(size=cells.cell_groups[:, j].max() + 1) for j in range(k)]
    eta = cells.X @ b
    for j in range(k):
        eta = eta + effects[j][cells.cell_groups[:, j]]
    return eta


def test_collapsed_equals_rowwise_to_1e10():
    X, G, y = _data(0)
    cells = collapse(X, G, y)
    assert cells.n_cells < len(y)
    assert cells.successes.sum() == y.sum() and cells.trials.sum() == len(y)
    rng = np.random.default_rng(1)
    for _ in range(5):
        eta_c = 3 * _eta(cells, rng)
        rowwise = bernoulli_loglik(eta_c[cells.row_cell], y)
        assert abs(collapsed_loglik(eta_c, cells) - rowwise) <= 1e-10 * max(1.0, abs(rowwise))
        # and each row's cell really has that row's pattern and groups
    np.testing.assert_array_equal(cells.X[cells.row_cell], X)
    np.testing.assert_array_equal(cells.cell_groups[cells.row_cell], G)


def test_bernoulli_rowwise_equals_scipy_logpmf():
    from scipy.stats import bernoulli

    X, G, y = _data(2, n=300)
    eta = np.random.default_rng(3).normal(size=300) * 2
    p = 1 / (1 + np.exp(-eta))
    assert bernoulli_loglik(eta, y) == pytest.approx(bernoulli.logpmf(y, p).sum(), abs=1e-10)


def test_binomial_coefficient_is_the_only_difference():
    X, G, y = _data(4, n=2000)
    cells = collapse(X, G, y)
    eta_c = _eta(cells, np.random.default_rng(5))
    from scipy.stats import binom

    full = binom.logpmf(cells.successes, cells.trials, 1 / (1 + np.exp(-eta_c))).sum()
    assert collapsed_loglik(eta_c, cells, with_binomial_coefficient=True) == pytest.approx(
        full, abs=1e-8)
    assert row_log_choose(y, np.ones_like(y)) == 0.0


def test_binomial_rows_collapse_with_their_constant():
    rng = np.random.default_rng(6)
    n = 1000
    X = rng.integers(0, 3, (n, 1)).astype(float)
    G = rng.integers(0, 20, n)
    m = rng.integers(1, 6, n).astype(float)
    y = rng.binomial(m.astype(int), 0.3).astype(float)
    cells = collapse(X, G, y, trials=m)
    eta_c = rng.normal(size=cells.n_cells)
    from scipy.stats import binom

    rowwise = binom.logpmf(y, m, 1 / (1 + np.exp(-eta_c[cells.row_cell]))).sum()
    got = collapsed_loglik(eta_c, cells) + row_log_choose(y, m)
    assert got == pytest.approx(rowwise, abs=1e-9)


def test_cells_sorted_by_first_level_and_segment_sum():
    X, G, y = _data(7)
    cells = collapse(X, G, y)
    lead = cells.cell_groups[:, 0]
    assert (np.diff(lead) >= 0).all()
    per_group = segment_sum(cells.successes, cells.segment_starts)
    expected = np.bincount(G[:, 0], weights=y)
    np.testing.assert_allclose(per_group, expected[np.unique(G[:, 0])], atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 400))
def test_row_order_invariance(seed, n):
    X, G, y = _data(seed, n=n, groups=7)
    perm = np.random.default_rng(seed + 1).permutation(n)
    a, b = collapse(X, G, y), collapse(X[perm], G[perm], y[perm])
    np.testing.assert_array_equal(a.patterns, b.patterns)
    np.testing.assert_array_equal(a.cell_groups, b.cell_groups)
    np.testing.assert_array_equal(a.cell_pattern, b.cell_pattern)
    np.testing.assert_allclose(a.successes, b.successes, atol=0)
    np.testing.assert_allclose(a.trials, b.trials, atol=0)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 300), st.integers(1, 299))
def test_merging_two_data_sets_adds_their_cells(seed, n, cut):
    """Collapsing all rows equals collapsing two halves and summing cell by cell."""
    cut = min(cut, n - 1)
    X, G, y = _data(seed, n=n, groups=6)
    whole = collapse(X, G, y)
    total_s = np.zeros(whole.n_cells)
    total_n = np.zeros(whole.n_cells)
    for part in (slice(0, cut), slice(cut, n)):
        c = collapse(X[part], G[part], y[part])
        # locate each part cell in the whole by its (groups, pattern)
        key_whole = {(*g, *p): k for k, (g, p) in enumerate(zip(whole.cell_groups.tolist(),
                                                                 whole.X.tolist()))}
        for g, p, s, t in zip(c.cell_groups.tolist(), c.X.tolist(), c.successes, c.trials):
            k = key_whole[(*g, *p)]
            total_s[k] += s
            total_n[k] += t
    np.testing.assert_array_equal(total_s, whole.successes)
    np.testing.assert_array_equal(total_n, whole.trials)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 200))
def test_splitting_binomial_rows_into_bernoulli_rows(seed, n):
    """A binomial row (s of m) and m Bernoulli rows (s ones) collapse to the same cells."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 2, (n, 2)).astype(float)
    G = rng.integers(0, 5, n)
    m = rng.integers(1, 5, n)
    s = rng.binomial(m, 0.4)
    rows = np.repeat(np.arange(n), m)
    within = np.arange(rows.size) - np.repeat(np.cumsum(m) - m, m)
    ybern = (within < s[rows]).astype(float)
    a = collapse(X, G, s, trials=m)
    b = collapse(X[rows], G[rows], ybern)
    np.testing.assert_array_equal(a.successes, b.successes)
    np.testing.assert_array_equal(a.trials, b.trials)
    eta_c = rng.normal(size=a.n_cells)
    assert collapsed_loglik(eta_c, a) == pytest.approx(
        bernoulli_loglik(eta_c[b.row_cell], ybern), abs=1e-10 * max(1, n))


def test_no_levels_and_no_covariates():
    y = np.array([1.0, 0.0, 1.0, 1.0])
    cells = collapse(np.zeros((4, 0)), None, y)
    assert cells.n_cells == 1 and cells.successes[0] == 3 and cells.trials[0] == 4
    assert cells.segment_starts.size == 0


def test_caller_data_not_modified():
    X, G, y = _data(8, n=200)
    copies = X.copy(), G.copy(), y.copy()
    collapse(X, G, y)
    for a, b in zip((X, G, y), copies):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, word", [
    ({"X": np.zeros((3, 1)), "groups": np.zeros(4, dtype=int), "y": np.zeros(4)}, "X"),
    ({"X": np.zeros((4, 1)), "groups": np.zeros(3, dtype=int), "y": np.zeros(4)}, "groups"),
    ({"X": np.zeros((4, 1)), "groups": np.zeros(4), "y": np.zeros(4)}, "groups"),
    ({"X": np.zeros((4, 1)), "groups": None, "y": np.array([0, 1, 2, 0.0])}, "y"),
    ({"X": np.zeros((4, 1)), "groups": None, "y": np.zeros(4), "trials": np.ones(3)}, "trials"),
    ({"X": np.full((4, 1), np.nan), "groups": None, "y": np.zeros(4)}, "finite"),
])
def test_bad_input(kwargs, word):
    with pytest.raises(DataError, match=word):
        collapse(**kwargs)


# --- the census model on the worker x pattern table ------------------------------------------

@pytest.fixture(scope="module")
def small_census():
    from sosstats.datasets import simulate_census

    return simulate_census(3, n_children=3000, n_workers=200, n_las=20, n_pilots=4)


def test_census_model_logp_equals_rowwise_bernoulli(small_census):
    """The PyMC census model's log density equals the row-wise Bernoulli model's (1e-10)."""
    from sosstats.multilevel._census_model import build_census_model, census_table

    ch = small_census.children
    table = census_table(ch, "rereferred", ["age_band", "previous_referral"],
                         worker="worker_id", la="la_code", la_covariates="pilot")
    assert table.n_cells < len(ch)
    model = build_census_model(table, la="non-centred")
    # Row-wise reference with the same parameterisation, computed from the point's values.
    rng = np.random.default_rng(0)
    point = model.initial_point()
    point = {k: rng.normal(size=np.shape(v)) * 0.5 for k, v in point.items()}
    fn = model.compile_fn([model.potentials[0], model["beta"], model["u_la"], model["u_worker"]],
                          inputs=model.value_vars, on_unused_input="ignore")
    loglik, beta, u_la, u_w = fn(point)
    age = ch["age_band"].cat.codes.to_numpy()
    X = np.column_stack([(age == k) for k in (1, 2, 3)] + [ch["previous_referral"]]).astype(float)
    la_code = np.searchsorted(np.array(table.las), ch["la_code"].astype(str))
    w_code = np.searchsorted(np.array(table.workers), ch["worker_id"].astype(str))
    eta = (beta[0] + X @ beta[1:5] + beta[5] * ch["pilot"].to_numpy(float) + u_la[la_code]
           + u_w[w_code])
    rowwise = bernoulli_loglik(eta, ch["rereferred"].to_numpy(float))
    assert float(loglik) == pytest.approx(rowwise, abs=1e-10 * abs(rowwise))


def test_census_table_bad_input(small_census):
    from sosstats.multilevel._census_model import census_table

    ch = small_census.children.copy()
    with pytest.raises(DataError, match="missing column"):
        census_table(ch, "nope", [], worker="worker_id", la="la_code", la_covariates="pilot")
    bad = ch.copy()
    bad.loc[0, "pilot"] = not bad.loc[0, "pilot"]
    with pytest.raises(DataError, match="pilot"):
        census_table(bad, "rereferred", [], worker="worker_id", la="la_code", la_covariates="pilot")
    bad = ch.copy()
    bad["la_code"] = bad["la_code"].cat.codes.to_numpy()
    bad.loc[0, "la_code"] = (bad.loc[0, "la_code"] + 1) % 20
    with pytest.raises(DataError, match="nested"):
        census_table(bad, "rereferred", [], worker="worker_id", la="la_code", la_covariates="pilot")
    bad = ch.copy()
    bad["rereferred"] = bad["rereferred"] * 2
    with pytest.raises(DataError, match="rereferred"):
        census_table(bad, "rereferred", [], worker="worker_id", la="la_code", la_covariates="pilot")


@pytest.mark.slow
def test_census_model_recovers_simulator_truths():
    """60,000 children, 2,000 workers, 152 LAs: every truth inside its 99% interval."""
    import arviz as az

    from sosstats.datasets import simulate_census
    from sosstats.multilevel._census_model import census_table, fit_census

    census = simulate_census(11, n_children=60_000, n_workers=2_000)
    table = census_table(census.children, "rereferred", ["age_band", "previous_referral"],
                         worker="worker_id", la="la_code", la_covariates="pilot")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata, _ = fit_census(table, draws=600, tune=600, chains=2, seed=2)
    t = census.truth
    truths = {"beta[Intercept]": t["intercept"], "beta[previous_referral]": t["previous_referral"],
              "beta[pilot]": t["pilot_effect"], "sigma_la": t["sigma_la"],
              "sigma_worker": t["sigma_worker"]}
    for band, value in t["age_band"].items():
        truths[f"beta[C(age_band)[T.{band}]]"] = value
    summ = az.summary(idata, var_names=["beta", "sigma_la", "sigma_worker"], hdi_prob=0.99)
    for name, value in truths.items():
        lo, hi = summ.loc[name, "hdi_0.5%"], summ.loc[name, "hdi_99.5%"]
        assert lo <= value <= hi, (name, value, lo, hi)
    assert summ["r_hat"].max() <= 1.02
    # LA effects track the truth
    u_la = idata.posterior["u_la"].mean(("chain", "draw")).to_series()
    assert np.corrcoef(u_la.to_numpy(), t["u_la"].loc[u_la.index].to_numpy())[0, 1] > 0.8


def test_table_from_a_multilevel_design_equals_census_table(small_census):
    """The hook's adapter: a MultilevelModel design gives the same worker x pattern table."""
    from sosstats.multilevel import MultilevelModel
    from sosstats.multilevel._census_model import census_table, table_from_design

    ch = small_census.children
    model = MultilevelModel("rereferred ~ C(age_band) + previous_referral + pilot", ch,
                            levels=["la_code", "worker_id"], family="bernoulli")
    got = table_from_design(model.design)
    want = census_table(ch, "rereferred", ["age_band", "previous_referral"],
                        worker="worker_id", la="la_code", la_covariates="pilot")
    assert got is not None
    assert got.worker_name == "worker_id" and got.la_name == "la_code"
    assert got.term_order == tuple(model.design.terms)
    assert len(got.la_terms) == 1 and "pilot" in got.la_terms[0]
    np.testing.assert_array_equal(got.patterns, want.patterns)
    np.testing.assert_array_equal(got.successes, want.successes)
    np.testing.assert_array_equal(got.trials, want.trials)
    np.testing.assert_array_equal(got.worker_la, want.worker_la)
    np.testing.assert_array_equal(got.la_X, want.la_X)
    # designs the census model does not cover give None
    one_level = MultilevelModel("rereferred ~ previous_referral", ch, levels=["worker_id"],
                                family="bernoulli")
    assert table_from_design(one_level.design) is None
    gaussian = MultilevelModel("child_id ~ previous_referral", ch,
                               levels=["la_code", "worker_id"])
    assert table_from_design(gaussian.design) is None
