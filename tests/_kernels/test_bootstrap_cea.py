"""The CEA bootstrap kernel: draw-for-draw equal to a plain loop, to scipy, and its summaries."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sosstats._kernels.bootstrap_cea import (
    bootstrap_cea,
    cea_summaries,
    draw_method,
    resample_sums,
)

WTP = np.linspace(0, 50_000, 101)


def _data(sizes, seed=0):
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    group = np.repeat(np.arange(len(sizes)), sizes)
    perm = rng.permutation(n)  # groups interleaved: the kernel must keep input order per group
    return rng.gamma(2.0, 500.0, n), rng.normal(0.5, 0.2, n), group[perm]


def _loop(sum_cost, sum_effect, group, n_groups, n_resamples, rng, sum_weight=None):
    """Reproduce the documented default draws: per group, blocks of max(1, 262,144 // n_g)
    replicates of 16-bit lanes of the raw 64-bit words, x % n_g below n_g * (65,536 // n_g),
    the rest redrawn by one compact call; then a plain loop over replicates."""
    if sum_weight is None:
        sum_weight = np.ones_like(sum_cost)
    cost = np.empty((n_resamples, n_groups))
    effect = np.empty((n_resamples, n_groups))
    for g in range(n_groups):
        units = np.flatnonzero(group == g)
        n_g = len(units)
        assert draw_method(n_g) == "table"
        rows, accept = max(1, 262_144 // n_g), n_g * (65_536 // n_g)
        for b0 in range(0, n_resamples, rows):
            m = min(rows, n_resamples - b0)
            raw = rng.bit_generator.random_raw(-(-m * n_g // 4)).astype("<u8")
            x = raw.view("<u2")[: m * n_g].reshape(m, n_g)
            pick = (x % n_g).astype(np.intp)
            redo = x >= accept
            if redo.any():
                pick[redo] = rng.integers(0, n_g, size=redo.sum(), dtype=np.uint16)
            for r in range(len(x)):
                i = units[pick[r]]
                cost[b0 + r, g] = sum_cost[i].sum() / sum_weight[i].sum()
                effect[b0 + r, g] = sum_effect[i].sum() / sum_weight[i].sum()
    return cost, effect


@pytest.mark.parametrize("sizes, n_resamples", [([13, 7, 21], 60), ([3001, 5, 40], 200)])
@pytest.mark.parametrize("chunk_bytes", [1, 2_000, 1 << 20, 1 << 24])
def test_equals_plain_loop_draw_for_draw(chunk_bytes, sizes, n_resamples):
    # 3001 units: blocks of 87 replicates, so 200 take three calls (the last short), with
    # (65,536 mod 3001) / 65,536 = 2.5% of words redrawn
    c, e, g = _data(sizes)
    out = bootstrap_cea(c, e, g, n_groups=3, n_resamples=n_resamples,
                        rng=np.random.default_rng(3), wtp=WTP, chunk_bytes=chunk_bytes)
    ref_c, ref_e = _loop(c, e, g, 3, n_resamples, np.random.default_rng(3))
    np.testing.assert_allclose(out.cost, ref_c, rtol=1e-12)
    np.testing.assert_allclose(out.effect, ref_e, rtol=1e-12)
    np.testing.assert_allclose(out.d_cost, ref_c - ref_c[:, [0]], rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(out.icer[:, 1:], (ref_c[:, 1:] - ref_c[:, [0]])
                               / (ref_e[:, 1:] - ref_e[:, [0]]), rtol=1e-8)
    assert np.isnan(out.icer[:, 0]).all()


def test_compact_draws_for_sizes_the_table_would_reject_often():
    # 10,000 units: (65,536 mod 10,000) / 65,536 = 8.4% of words rejected -> compact uint16
    assert draw_method(10_000) == "compact" and draw_method(4_096) == "table"
    assert draw_method(70_000) == "compact" and draw_method(50, "scipy") == "scipy"
    c, e, g = _data([10_000, 3], seed=4)
    s_c, _, s_w = resample_sums(c, e, g, 2, 30, np.random.default_rng(5), chunk_bytes=1)
    rng = np.random.default_rng(5)
    units = np.flatnonzero(g == 0)
    for b0 in range(0, 30, 26):  # blocks of 262,144 // 10,000 = 26 replicates
        idx = rng.integers(0, 10_000, size=(min(26, 30 - b0), 10_000), dtype=np.uint16)
        np.testing.assert_allclose(s_c[b0:b0 + len(idx), 0], c[units[idx]].sum(axis=1),
                                   rtol=1e-12)
    assert np.all(s_w[:, 0] == 10_000)


def test_table_draws_are_uniform_on_the_units():
    # a sum of n uniform picks of 0..n-1: mean n(n-1)/2, variance n(n^2-1)/12
    n, b = 3_001, 4_000
    s_c, _, _ = resample_sums(np.arange(n, dtype=float), np.zeros(n), np.zeros(n, int), 1, b,
                              np.random.default_rng(0))
    mean, var = n * (n - 1) / 2, n * (n * n - 1) / 12
    z = (s_c[:, 0].mean() - mean) / np.sqrt(var / b)
    assert abs(z) < 4
    assert s_c[:, 0].var() == pytest.approx(var, rel=0.1)


def test_weighted_equals_plain_loop():
    c, e, g = _data([9, 11])
    w = np.random.default_rng(1).uniform(0.2, 3.0, c.size)
    s_c, s_e, s_w = resample_sums(w * c, w * e, g, 2, 40, np.random.default_rng(8),
                                  sum_weight=w, chunk_bytes=500)
    ref_c, ref_e = _loop(w * c, w * e, g, 2, 40, np.random.default_rng(8), sum_weight=w)
    np.testing.assert_allclose(s_c / s_w, ref_c, rtol=1e-12)
    np.testing.assert_allclose(s_e / s_w, ref_e, rtol=1e-12)


def test_generator_left_where_the_loop_leaves_it():
    c, e, g = _data([5, 6])
    r1, r2 = np.random.default_rng(4), np.random.default_rng(4)
    bootstrap_cea(c, e, g, n_groups=2, n_resamples=33, rng=r1, wtp=WTP, chunk_bytes=100)
    _loop(c, e, g, 2, 33, r2)
    assert r1.integers(0, 2**62) == r2.integers(0, 2**62)


def test_icer_percentiles_equal_scipy_bootstrap():
    c, e, g = _data([40, 55], seed=2)
    i0, i1 = np.flatnonzero(g == 0), np.flatnonzero(g == 1)

    def icer(a, b, axis=-1):
        return ((c[i1][b].mean(axis) - c[i0][a].mean(axis))
                / (e[i1][b].mean(axis) - e[i0][a].mean(axis)))

    ref = stats.bootstrap((np.arange(i0.size), np.arange(i1.size)), icer, n_resamples=300,
                          method="percentile", rng=np.random.default_rng(11), vectorized=True)
    out = bootstrap_cea(c, e, g, n_groups=2, n_resamples=300, rng=np.random.default_rng(11),
                        wtp=WTP, chunk_bytes=4_000, draws="scipy")
    np.testing.assert_allclose(out.icer[:, 1], ref.bootstrap_distribution, rtol=1e-8)
    np.testing.assert_allclose(np.quantile(out.icer[:, 1], [0.025, 0.975]),
                               [ref.confidence_interval.low, ref.confidence_interval.high],
                               rtol=1e-8)


def test_summaries_closed_forms():
    rng = np.random.default_rng(5)
    cost = rng.normal(1000, 100, (500, 3))
    effect = rng.normal(0.5, 0.1, (500, 3))
    out = cea_summaries(cost, effect, WTP, reference=1, probs=np.array([0.05, 0.5, 0.95]),
                        max_bytes=10_000)
    nmb = WTP[None, :, None] * effect[:, None, :] - cost[:, None, :]
    np.testing.assert_allclose(out.nmb_mean, nmb.mean(axis=0), rtol=1e-10, atol=1e-6)
    top = nmb.argmax(axis=2)
    for j in range(3):
        np.testing.assert_allclose(out.ceac[:, j], (top == j).mean(axis=0))
    best = nmb.mean(axis=0).argmax(axis=1)
    evpi = nmb.max(axis=2).mean(axis=0) - nmb.mean(axis=0)[np.arange(WTP.size), best]
    np.testing.assert_allclose(out.evpi, evpi, rtol=1e-9, atol=1e-6)
    inc = WTP[None, :] * (effect[:, [0]] - effect[:, [1]]) - (cost[:, [0]] - cost[:, [1]])
    np.testing.assert_allclose(out.nmb_quantiles[:, :, 0],
                               np.quantile(inc, [0.05, 0.5, 0.95], axis=0), rtol=1e-12)
    assert np.all(out.nmb_quantiles[:, :, 1] == 0)
    np.testing.assert_allclose(out.ceac.sum(axis=1), 1.0)
    assert np.all(out.d_cost[:, 1] == 0)


def test_ceac_at_zero_is_share_cheaper():
    c, e, g = _data([15, 20, 12], seed=9)
    out = bootstrap_cea(c, e, g, n_groups=3, n_resamples=400, rng=np.random.default_rng(1),
                        wtp=WTP)
    cheapest = out.cost.argmin(axis=1)
    np.testing.assert_allclose(out.ceac[0], [(cheapest == j).mean() for j in range(3)])
    np.testing.assert_allclose(out.ceac[0, 1] + out.ceac[0, 2] + out.ceac[0, 0], 1.0)


def test_unit_weights_equal_unweighted():
    c, e, g = _data([10, 10])
    a = bootstrap_cea(c, e, g, n_groups=2, n_resamples=50, rng=np.random.default_rng(0), wtp=WTP)
    b = bootstrap_cea(c, e, g, n_groups=2, n_resamples=50, rng=np.random.default_rng(0), wtp=WTP,
                      sum_weight=np.ones_like(c))
    np.testing.assert_array_equal(a.cost, b.cost)
    np.testing.assert_array_equal(a.ceac, b.ceac)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6), st.integers(2, 6), st.integers(0, 2**31 - 1),
       st.floats(-5, 5), st.floats(0.1, 3))
def test_evpi_nonnegative_and_ceac_monotone_when_all_gain(n0, n1, seed, shift, gap):
    rng = np.random.default_rng(seed)
    cost = np.r_[rng.gamma(2, 100, n0), rng.gamma(2, 100, n1) + 50 * shift]
    effect = np.r_[rng.uniform(0, 1, n0), rng.uniform(1, 2, n1) + gap]  # every replicate gains
    group = np.repeat([0, 1], [n0, n1])
    out = bootstrap_cea(cost, effect, group, n_groups=2, n_resamples=64,
                        rng=np.random.default_rng(seed), wtp=WTP)
    assert np.all(out.evpi >= 0)
    assert np.all(np.diff(out.ceac[:, 1]) >= 0)
    np.testing.assert_allclose(out.ceac[0, 1], np.mean(out.d_cost[:, 1] < 0))
    lam = WTP[:, None]
    np.testing.assert_allclose(out.ceac[:, 1],
                               np.mean(lam * out.d_effect[:, 1] - out.d_cost[:, 1] > 0, axis=1))


@pytest.mark.parametrize("cost, effect, match", [
    (np.zeros(5), np.zeros((5, 2)), "`cost` must be a 2-D array"),
    (np.zeros((5, 2)), np.zeros((5, 3)), "`effect` must have 2 columns"),
    (np.zeros((5, 2)), np.full((5, 2), np.nan), "`effect` has 10 non-finite"),
])
def test_summaries_check_their_2d_inputs(cost, effect, match):
    from sosstats.errors import DataError

    with pytest.raises(DataError, match=match):
        cea_summaries(cost, effect, WTP)
