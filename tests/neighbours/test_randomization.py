"""Randomization inference: vectorised kernel against a plain loop on the same draws."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sosstats._kernels.resample import (
    bootstrap_indices,
    first_k_valid,
    subset_draws,
    weighted_neighbour_means,
)
from sosstats.errors import DataError, DesignError
from sosstats.neighbours.ranking import NeighbourRanking
from sosstats.neighbours.compare import compare
from sosstats.neighbours.randomization import randomization_distribution, randomization_pvalue


def _world(n=30, p=3, seed=0, nan_share=0.1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    dist = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    ids = np.array([f"A{i:02d}" for i in range(n)], dtype=object)
    ranking = NeighbourRanking.from_distances(ids, dist)
    values = x @ rng.normal(size=(2, p)) + rng.normal(size=(n, p))
    values[rng.random((n, p)) < nan_share] = np.nan
    return ranking, values


def reference_statistics(values, ranking, pool, draws, k, weighting="equal",
                         exclude_draws=True):
    """Compute the statistics with the plain loop an evaluator would write."""
    inpool = set(int(i) for i in pool)
    n_draws, p = len(draws), values.shape[1]
    out = np.full((n_draws, p), np.nan)
    for b, members in enumerate(draws):
        members = [int(i) for i in members]
        diffs = [[] for _ in range(p)]
        for i in members:
            nbrs = []
            for r, j in enumerate(ranking.order[i]):
                if j < 0 or j == i or j not in inpool or (exclude_draws and j in members):
                    continue
                nbrs.append((j, ranking.distance[i, r]))
                if len(nbrs) == k:
                    break
            for c in range(p):
                if np.isnan(values[i, c]):
                    continue
                pairs = [(1.0 if weighting == "equal" else 1.0 / d, values[j, c])
                         for j, d in nbrs if not np.isnan(values[j, c])]
                if not pairs:
                    continue
                mean = sum(w * y for w, y in pairs) / sum(w for w, _ in pairs)
                diffs[c].append(values[i, c] - mean)
        for c in range(p):
            if diffs[c]:
                out[b, c] = np.mean(diffs[c])
    return out


@pytest.mark.parametrize("weighting", ["equal", "distance"])
@pytest.mark.parametrize("exclude_draws", [True, False])
def test_kernel_matches_loop(weighting, exclude_draws):
    ranking, values = _world()
    pool = np.arange(3, 30)
    res = randomization_distribution(values, ranking, pool, 4, 3, n_draws=200, rng=1,
                                     weighting=weighting, exclude_draws=exclude_draws, batch=37)
    ref = reference_statistics(values, ranking, pool, res.draws, 3, weighting, exclude_draws)
    assert res.null_distribution.shape == (200, 3)
    np.testing.assert_allclose(res.null_distribution, ref, rtol=1e-12, atol=1e-12)
    assert np.isin(res.draws, pool).all()


@pytest.mark.parametrize("weighting", ["equal", "distance"])
def test_kernel_matches_loop_crowded_draws(weighting):
    """Large draws from a small pool: many members have several excluded neighbours."""
    ranking, values = _world(n=24, p=4, seed=9, nan_share=0.2)
    pool = np.arange(1, 24)
    res = randomization_distribution(values, ranking, pool, 9, 4, n_draws=300, rng=4,
                                     weighting=weighting, batch=64)
    ref = reference_statistics(values, ranking, pool, res.draws, 4, weighting)
    np.testing.assert_allclose(res.null_distribution, ref, rtol=1e-12, atol=1e-12)


def test_kernel_matches_loop_published_list():
    """Incomplete (published-style) lists: exclusions leave fewer neighbours, no refill."""
    ranking, values = _world(n=25, seed=3)
    table = ranking.to_frame(5).drop(columns="distance")
    short = NeighbourRanking.from_table(table)
    vals = pd.DataFrame(values, index=ranking.ids).loc[short.ids].to_numpy()
    pool = np.arange(short.n_units)
    for m, k in [(5, 4), (8, 2), (3, 5)]:
        res = randomization_distribution(vals, short, pool, m, k, n_draws=150, rng=2)
        ref = reference_statistics(vals, short, pool, res.draws, k)
        np.testing.assert_allclose(res.null_distribution, ref, rtol=1e-12, atol=1e-12)


def test_given_draws_are_used_and_batch_does_not_matter():
    ranking, values = _world()
    pool = np.arange(30)
    draws = subset_draws(np.random.default_rng(0), 50, 30, 3)
    a = randomization_distribution(values, ranking, pool, 3, 2, draws=draws, batch=1)
    b = randomization_distribution(values, ranking, pool, 3, 2, draws=draws, batch=1000)
    np.testing.assert_array_equal(a.draws, draws)
    np.testing.assert_allclose(a.null_distribution, b.null_distribution, rtol=1e-13)


def test_same_rng_same_draws_and_different_rng_different():
    ranking, values = _world()
    a = randomization_distribution(values, ranking, np.arange(30), 3, 2, n_draws=40, rng=5)
    b = randomization_distribution(values, ranking, np.arange(30), 3, 2, n_draws=40,
                                   rng=np.random.default_rng(5))
    c = randomization_distribution(values, ranking, np.arange(30), 3, 2, n_draws=40, rng=6)
    np.testing.assert_array_equal(a.draws, b.draws)
    assert not np.array_equal(a.draws, c.draws)


def test_observed_statistic_is_the_kernel_on_the_treated_set():
    """The pooled difference of compare() equals the kernel run on the real treated set."""
    ranking, values = _world(n=40, seed=4)
    wide = pd.DataFrame(values, columns=["a", "b", "c"]).assign(la_code=ranking.ids)
    treated = list(ranking.ids[[0, 5, 9, 13]])
    # an LA present in the table with every cell missing still holds its neighbour slot: the
    # pool is every LA with a row, not every LA with a value
    blank = int(ranking.order[0, 0])
    values[blank] = np.nan
    wide.loc[blank, ["a", "b", "c"]] = np.nan
    res = compare(wide, treated, ranking, k=4, n_draws=0, n_resamples=0)
    assert ranking.ids[blank] in set(res.neighbour_sets["neighbour"])
    dist = randomization_distribution(values, ranking, np.arange(ranking.n_units), 4, 4,
                                      draws=np.array([[0, 5, 9, 13]]))
    np.testing.assert_allclose(dist.null_distribution[0], res.pooled["estimate"], rtol=1e-12)


def test_pool_is_present_las_and_one_indicator_does_not_depend_on_others():
    """Adding an indicator changes neither the pool nor the draws' statistics of another."""
    ranking, values = _world(n=40, seed=5, nan_share=0.0)
    ids = ranking.ids
    rows = [(c, "a", v) for c, v in zip(ids, values[:, 0]) if c not in ("A07", "A21")]
    rows += [(c, "b", v) for c, v in zip(ids, values[:, 1]) if c != "A33"]  # A33: b only
    long = pd.DataFrame(rows, columns=["la_code", "indicator", "value"])
    long = long[long["la_code"] != "A30"]                      # A30 absent from the year
    treated = ["A00", "A05", "A09", "A13"]
    kw = dict(k=4, n_draws=300, n_resamples=0, rng=11, exclude=["A02"])
    one = compare(long, treated, ranking, indicator="a", **kw)
    two = compare(long, treated, ranking, indicator=["a", "b"], **kw)
    assert one.pool_size == two.pool_size == 40 - 4 - 1 - 1     # A07, A21, A33 in; A30 out
    np.testing.assert_array_equal(one.null_distribution["a"], two.null_distribution["a"])
    assert one.pooled["p_randomization"].iloc[0] == two.pooled["p_randomization"].iloc[0]


def test_subset_draws_are_distinct_and_roughly_uniform():
    d = subset_draws(np.random.default_rng(0), 20_000, 12, 4)
    assert d.shape == (20_000, 4)
    assert (np.diff(d, axis=1) > 0).all()
    assert d.min() >= 0 and d.max() <= 11
    freq = np.bincount(d.ravel(), minlength=12) / 20_000
    np.testing.assert_allclose(freq, 4 / 12, atol=0.02)
    full = subset_draws(np.random.default_rng(0), 3, 5, 5)
    np.testing.assert_array_equal(full, np.tile(np.arange(5), (3, 1)))


def test_bootstrap_indices_match_scipy_call():
    a = bootstrap_indices(np.random.default_rng(3), 10, 7)
    b = np.random.default_rng(3).integers(0, 7, (10, 7))
    np.testing.assert_array_equal(a, b)


def test_first_k_valid_and_neighbour_means():
    cand = np.array([[4, 2, 7, 1], [3, 0, 5, 6]])
    valid = np.array([[True, False, True, True], [False, True, True, True]])
    kept, slot = first_k_valid(cand, valid, 2)
    np.testing.assert_array_equal(kept, [[True, False, True, False], [False, True, True, False]])
    np.testing.assert_array_equal(slot, [[0, -1, 1, -1], [-1, 0, 1, -1]])
    vals = np.arange(16.0).reshape(8, 2)
    obs = np.ones_like(vals, dtype=bool)
    obs[7, 1] = False
    nbrs = np.where(kept, cand, -1)
    mean, den, cnt = weighted_neighbour_means(nbrs, np.ones((2, 4)), vals, obs)
    np.testing.assert_allclose(mean[0], [(8 + 14) / 2, 9.0])  # LA 7's 2nd value missing
    np.testing.assert_allclose(mean[1], [(0 + 10) / 2, (1 + 11) / 2])
    np.testing.assert_array_equal(cnt, [[2, 1], [2, 2]])


def test_pvalue_formula_and_properties():
    null = np.array([[0.5, 1.0], [-2.0, np.nan], [1.5, 3.0], [-0.1, -1.0]])
    p = randomization_pvalue(null, np.array([1.0, 1.0]))
    np.testing.assert_allclose(p, [(1 + 2) / 5, (1 + 3) / 4])
    assert randomization_pvalue(null, np.array([0.0, 0.0]))[0] == 1.0
    assert randomization_pvalue(null, np.array([100.0, 100.0]))[0] == pytest.approx(1 / 5)
    # sign of the observed statistic does not matter (two-sided)
    np.testing.assert_array_equal(randomization_pvalue(null, np.array([-1.0, -1.0])), p)
    # draws equal to the observed value up to rounding still count as extreme
    assert randomization_pvalue(np.array([[0.1 + 0.2]]), np.array([0.3]))[0] == 1.0


def test_randomization_p_in_unit_interval_and_scale_invariant():
    ranking, values = _world(n=40, seed=7, nan_share=0.0)
    wide = pd.DataFrame(values, columns=["a", "b", "c"]).assign(la_code=ranking.ids)
    treated = list(ranking.ids[:5])
    res = compare(wide, treated, ranking, k=3, n_draws=300, n_resamples=0, rng=3)
    p = res.pooled["p_randomization"].to_numpy()
    assert ((p > 0) & (p <= 1)).all()
    assert np.all(np.round(p * 301) == p * 301)  # (1 + count) / (1 + n_draws)
    scaled = wide.assign(a=wide["a"] * 7.5 - 3, b=wide["b"] * 0.01, c=wide["c"] + 1e3)
    res2 = compare(scaled, treated, ranking, k=3, n_draws=300, n_resamples=0, rng=3)
    np.testing.assert_array_equal(res2.pooled["p_randomization"], p)


def test_kernel_bad_inputs():
    ranking, values = _world()
    pool = np.arange(10, 30)
    with pytest.raises(DataError, match="not in the pool"):
        randomization_distribution(values, ranking, pool, 2, 2, draws=np.array([[0, 11]]))
    with pytest.raises(DataError, match="repeats"):
        randomization_distribution(values, ranking, pool, 2, 2, draws=np.array([[11, 11]]))
    with pytest.raises(DataError, match="shape"):
        randomization_distribution(values, ranking, pool, 2, 2, draws=np.array([11, 12]))
    with pytest.raises(DesignError, match="pool"):
        randomization_distribution(values, ranking, np.arange(3), 3, 2, n_draws=5)
    with pytest.raises(DataError, match="shape"):
        randomization_distribution(values[:5], ranking, pool, 2, 2, n_draws=5)
    with pytest.raises(DataError, match="weighting"):
        randomization_distribution(values, ranking, pool, 2, 2, weighting="inverse")
    with pytest.raises(DesignError, match="n_draws"):
        randomization_distribution(values, ranking, pool, 2, 2, n_draws=0)
    table = ranking.to_frame(5).drop(columns="distance")
    with pytest.raises(DesignError, match="distance"):
        randomization_distribution(values, NeighbourRanking.from_table(table), pool, 2, 2,
                                   n_draws=5, weighting="distance")


def test_randomization_result_protocol():
    """RandomizationResult (one name with panel's) is a TableResult: one row per indicator."""
    from sosstats._results import TableResult
    from sosstats.neighbours import RandomizationResult

    rng = np.random.default_rng(2)
    n = 30
    ids = np.array([f"L{i:02d}" for i in range(n)], dtype=object)
    ranking = NeighbourRanking.from_distances(ids, rng.uniform(size=(n, n)))
    vals = rng.normal(size=(n, 2))
    res = randomization_distribution(vals, ranking, np.arange(5, n), 4, 3, n_draws=300, rng=1,
                                     indicators=["a", "b"])
    assert isinstance(res, RandomizationResult) and isinstance(res, TableResult)
    tidy = res.tidy()
    assert list(tidy["indicator"]) == ["a", "b"]
    np.testing.assert_allclose(tidy["null_mean"], res.null_distribution.mean(axis=0))
    assert (tidy["n_draws"] == 300).all()
    wide = res.tidy(level=0.99)
    assert (wide["null_lower"] <= tidy["null_lower"]).all()
    assert "pseudo-pilot" in str(res)
    np.testing.assert_array_equal(res.p_values(np.zeros(2)), randomization_pvalue(
        res.null_distribution, np.zeros(2)))
