"""Wild bootstrap cluster weights (issue 14).

The four distributions, enumeration of finite supports (Rademacher 2**G, Webb 6**G), and how a
p-value at enumeration's floor prints.
"""

from __future__ import annotations

import numpy as np
import pytest

from sosstats._kernels.wild import (
    WEBB_POINTS,
    WILD_WEIGHTS,
    enumerates,
    rademacher_enumeration,
    webb_enumeration,
    weight_enumeration,
    wild_cluster_bootstrap,
    wild_weights,
)
from sosstats._kernels.wild_result import pvalue_floor, pvalue_text, tie_note
from sosstats.errors import DataError, DesignError

SQRT5 = np.sqrt(5.0)


def make_data(g, n=60, seed=0, slope=0.0):
    r = np.random.default_rng(seed)
    cl = np.arange(n) % g
    x = r.standard_normal(n) + r.standard_normal(g)[cl]
    y = 1.0 + slope * x + r.standard_normal(g)[cl] + r.standard_normal(n)
    return np.column_stack([np.ones(n), x]), y, cl


def brute_t_star(X, y, cl, V, term, null):
    """Restricted fit, y* = X b~ + v_g u~_g, OLS refit and CR1 t for every row of V (loop)."""
    n, p = X.shape
    labels = np.unique(cl)
    G = len(labels)
    A = np.linalg.inv(X.T @ X)
    b = A @ X.T @ y
    br = b - A[:, term] * (b[term] - null) / A[term, term]
    u = y - X @ br
    idx = np.searchsorted(labels, cl)
    out = []
    for v in V:
        ys = X @ br + v[idx] * u
        bs = A @ X.T @ ys
        e = ys - X @ bs
        meat = sum(np.outer(s, s) for s in (X[cl == g].T @ e[cl == g] for g in labels))
        vc = G / (G - 1) * (n - 1) / (n - p) * A @ meat @ A
        out.append((bs[term] - null) / np.sqrt(vc[term, term]))
    return np.array(out)


# ------------------------------------------------------------------ the four distributions


def test_exact_moments_of_the_finite_supports():
    # Webb: six equally likely points, mean 0, variance 1, fourth moment 7/6
    assert np.allclose(np.sort(WEBB_POINTS), [-np.sqrt(1.5), -1, -np.sqrt(0.5), np.sqrt(0.5), 1,
                                              np.sqrt(1.5)])
    assert WEBB_POINTS.mean() == pytest.approx(0, abs=1e-15)
    assert (WEBB_POINTS ** 2).mean() == pytest.approx(1, abs=1e-15)
    assert (WEBB_POINTS ** 4).mean() == pytest.approx(7 / 6, abs=1e-15)
    # Mammen: two points, mean 0, variance 1, third moment 1
    lo, hi = -(SQRT5 - 1) / 2, (SQRT5 + 1) / 2
    p_lo = (SQRT5 + 1) / (2 * SQRT5)
    for k, want in ((1, 0.0), (2, 1.0), (3, 1.0)):
        assert p_lo * lo ** k + (1 - p_lo) * hi ** k == pytest.approx(want, abs=1e-14)


@pytest.mark.parametrize("kind", WILD_WEIGHTS)
def test_drawn_weights_have_mean_zero_unit_variance_and_their_support(kind):
    v = wild_weights(np.random.default_rng(1), 100_000, 6, kind)
    assert v.shape == (100_000, 6)
    # 4 Monte Carlo SEs: sd(v) <= 1 (normal, Rademacher, Webb), var(v^2) <= 2 (normal)
    assert abs(v.mean()) < 4 / np.sqrt(v.size)
    assert abs(v.var() - 1) < 4 * np.sqrt(2 / v.size)
    support = {"rademacher": 2, "webb": 6, "mammen": 2}
    if kind in support:
        assert np.unique(v).size == support[kind]
    if kind == "mammen":
        assert set(np.unique(v)) == {-(SQRT5 - 1) / 2, (SQRT5 + 1) / 2}
        assert abs((v ** 3).mean() - 1) < 0.05
    if kind == "webb":
        assert set(np.unique(v)) == set(WEBB_POINTS)
        counts = np.unique(v, return_counts=True)[1] / v.size
        assert np.allclose(counts, 1 / 6, atol=0.005)
    if kind == "normal":
        assert np.unique(v).size == v.size


def test_weights_are_reproducible_from_the_generator():
    for kind in WILD_WEIGHTS:
        a = wild_weights(np.random.default_rng(3), 50, 4, kind)
        b = wild_weights(np.random.default_rng(3), 50, 4, kind)
        np.testing.assert_array_equal(a, b)
    with pytest.raises(DataError, match="weight_type"):
        wild_weights(np.random.default_rng(0), 5, 3, "gauss")


# ------------------------------------------------------------------ enumeration


@pytest.mark.parametrize("g", [1, 2, 3, 5])
def test_webb_enumeration_is_the_whole_support_once(g):
    E = webb_enumeration(g)
    assert E.shape == (6 ** g, g)
    assert len({tuple(row) for row in E}) == 6 ** g
    np.testing.assert_array_equal(E[::-1], -E)                 # row b and 6**G-1-b negatives
    assert (E == 1.0).all(axis=1).sum() == 1                    # the sample itself
    # every cluster takes each point equally often; moments over the support are exact
    for col in E.T:
        assert np.allclose(np.unique(col, return_counts=True)[1], 6 ** (g - 1))
    assert np.allclose(E.mean(axis=0), 0, atol=1e-15)
    assert np.allclose((E ** 2).mean(axis=0), 1, atol=1e-14)
    np.testing.assert_array_equal(weight_enumeration("webb", g), E)
    np.testing.assert_array_equal(weight_enumeration("rademacher", g), rademacher_enumeration(g))


def test_when_each_weight_type_enumerates():
    assert enumerates("rademacher", 10, 1024) and not enumerates("rademacher", 10, 1023)
    assert enumerates("rademacher", 13, 9999) and not enumerates("rademacher", 14, 9999)
    assert enumerates("webb", 5, 7776) and not enumerates("webb", 5, 7775)
    assert enumerates("webb", 5, 9999) and not enumerates("webb", 6, 9999)
    assert not enumerates("webb", 9, 10 ** 9)                   # memory cap G <= 8
    assert enumerates("webb", 8, 10, True)                       # forced
    assert not enumerates("rademacher", 4, 10 ** 6, False)
    for kind in ("mammen", "normal"):
        assert not enumerates(kind, 3, 10 ** 6)
        with pytest.raises(DesignError, match="full_enumeration=True"):
            enumerates(kind, 3, 10 ** 6, True)
        with pytest.raises(DesignError, match="no finite support"):
            weight_enumeration(kind, 3)
    with pytest.raises(DesignError, match="G <= 8"):
        enumerates("webb", 9, 10, True)
    with pytest.raises(DesignError, match="G <= 20"):
        enumerates("rademacher", 21, 10, True)


def test_webb_enumerated_single_coefficient_matches_a_brute_force_loop():
    X, y, cl = make_data(4, n=40, seed=2, slope=0.3)
    res = wild_cluster_bootstrap(X, y, cl, term=1, null=0.1, weight_type="webb", ci=False)
    assert res.enumerated and res.n_resamples == 6 ** 4
    ref = brute_t_star(X, y, cl, webb_enumeration(4), 1, 0.1)
    np.testing.assert_allclose(res.t_star, ref, atol=1e-10)
    p = np.count_nonzero(np.abs(ref) > abs(res.statistic) * (1 + 1e-10) + 1e-10) / 6 ** 4
    assert res.p_value == p
    # exact: the seed does not matter, the count is a whole number of vectors, v -> -v pairs
    other = wild_cluster_bootstrap(X, y, cl, term=1, null=0.1, weight_type="webb", rng=99,
                                   ci=False)
    assert other.p_value == res.p_value
    k = res.p_value * 6 ** 4
    assert k == pytest.approx(round(k), abs=1e-9) and round(k) % 2 == 0
    # too few resamples for 6**4: drawn, not enumerated
    drawn = wild_cluster_bootstrap(X, y, cl, term=1, null=0.1, weight_type="webb",
                                   n_resamples=1295, rng=0, ci=False)
    assert not drawn.enumerated and drawn.n_resamples == 1295


def test_default_rademacher_path_is_unchanged_by_the_new_weight_types():
    # the same enumeration as before (2**G sign vectors, row order), so t* is identical
    X, y, cl = make_data(6, seed=5, slope=0.2)
    res = wild_cluster_bootstrap(X, y, cl, term=1, ci=False)
    assert res.enumerated and res.n_resamples == 64 and res.weight_type == "rademacher"
    np.testing.assert_allclose(res.t_star, brute_t_star(X, y, cl, rademacher_enumeration(6), 1,
                                                        0.0), atol=1e-10)


@pytest.mark.parametrize("kind", ["mammen", "normal"])
def test_mammen_and_normal_are_drawn_and_seeded(kind):
    X, y, cl = make_data(4, n=40, seed=2)
    a = wild_cluster_bootstrap(X, y, cl, term=1, weight_type=kind, n_resamples=999, rng=4,
                               ci=False)
    b = wild_cluster_bootstrap(X, y, cl, term=1, weight_type=kind, n_resamples=999, rng=4,
                               ci=False)
    assert not a.enumerated and a.n_resamples == 999 and a.p_value == b.p_value
    assert a.weight_type == kind


# ------------------------------------------------------------------ the floor, in words


def test_floor_text_exact_fraction_and_support():
    assert pvalue_floor(1024) == 1 / 1024
    # the default text is unchanged
    assert pvalue_text(0.0, 1024, True) == "< 0.001 (all 1,024 sign vectors)"
    assert pvalue_text(0.0, 1024, True, fraction=True) == "< 1/1,024 (all 1,024 sign vectors)"
    assert (pvalue_text(0.0, 1024, True, weight_type="rademacher", fraction=True)
            == "< 1/1,024 (all 1,024 sign vectors)")
    assert (pvalue_text(0.0, 7776, True, weight_type="webb", fraction=True)
            == "< 1/7,776 (all 7,776 Webb weight vectors)")
    assert pvalue_text(0.0, 7776, True, weight_type="webb") == (
        "< 0.0002 (all 7,776 Webb weight vectors)")
    assert pvalue_text(0.0, 9999, False, weight_type="mammen", fraction=True) == (
        "< 1/9,999 (9,999 draws)")
    assert pvalue_text(3 / 1024, 1024, True, fraction=True) == pvalue_text(3 / 1024, 1024, True)
    assert pvalue_text(float("nan"), 1024, True) == "nan"


def test_tie_note_names_the_support_and_the_convention():
    note = tie_note(1296, True, "webb")
    assert "all 1,296 Webb weight vectors (enumerated; exact)" in note
    assert "|t*| > |t|" in note and "not counted" in note and "< 1/B" in note
    joint = tie_note(1024, True, "rademacher", statistic="W* > W")
    assert "all 1,024 Rademacher sign vectors" in joint and "with W* > W" in joint
    assert "ties (W* within a relative 1e-10 of W" in joint
    assert "999 drawn mammen weight vectors" in tie_note(999, False, "mammen")


def test_a_webb_enumerated_result_prints_its_floor_not_zero():
    r = np.random.default_rng(8)
    cl = np.repeat(np.arange(4), 20)
    X = np.ones((80, 1))
    y = 5.0 + r.normal(size=80)                                  # far from 0: p at the floor
    res = wild_cluster_bootstrap(X, y, cl, term=0, weight_type="webb", ci=False)
    assert res.enumerated and res.n_resamples == 1296 and res.p_value == 0.0
    text = str(res.summary())
    assert "< 0.0008 (all 1,296 Webb weight vectors)" in text and "0.0000" not in text
    assert "all 1,296 Webb weight vectors (enumerated; exact)" in text
