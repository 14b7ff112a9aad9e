"""The agreement kernels (sosstats._kernels.agreement) against plain loops."""

from __future__ import annotations

import numpy as np
import pytest

from sosstats._kernels import agreement as K


@pytest.fixture
def codes() -> np.ndarray:
    rng = np.random.default_rng(3)
    c = rng.integers(0, 4, (50, 3))
    c[rng.random((50, 3)) < 0.2] = -1
    return c


def test_rating_counts_and_cross_tables(codes):
    R = K.rating_counts(codes, 4)
    for i in range(len(codes)):                       # plain loop reference
        for k in range(4):
            assert R[i, k] == (codes[i] == k).sum()
    ok = (codes[:, :2] >= 0).all(axis=1)
    a, b = codes[ok, 0], codes[ok, 1]
    g = np.arange(ok.sum()) % 3
    T = K.cross_tables(a, b, 4, g, 3)
    for gg in range(3):
        ref = np.zeros((4, 4))
        for x, y in zip(a[g == gg], b[g == gg]):
            ref[x, y] += 1
        np.testing.assert_array_equal(T[gg], ref)


def test_group_sums_with_empty_groups():
    v = np.arange(12.0).reshape(6, 2)
    g = np.array([3, 0, 3, 0, 5, 3])
    out = K.group_sums(v, g, 7)
    ref = np.zeros((7, 2))
    for i, gg in enumerate(g):
        ref[gg] += v[i]
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(K.group_sums(v, None, 1), v.sum(axis=0, keepdims=True))


def test_coincidence_grouped_sums_to_whole(codes):
    R = K.rating_counts(codes, 4)
    whole = K.coincidence(R)[0]
    g = np.arange(len(R)) % 5
    parts = K.coincidence(R, g, 5)
    np.testing.assert_allclose(parts.sum(axis=0), whole, atol=1e-12)
    ref = np.zeros((4, 4))
    for row in codes:                                  # pairs of values within each unit
        vals = row[row >= 0]
        m = len(vals)
        if m < 2:
            continue
        for i in range(m):
            for j in range(m):
                if i != j:
                    ref[vals[i], vals[j]] += 1 / (m - 1)
    np.testing.assert_allclose(whole, ref, atol=1e-12)


def test_ordinal_delta_by_hand():
    n = np.array([3.0, 5.0, 2.0, 4.0])
    d = K.krippendorff_delta(np.arange(4.0), n, "ordinal")
    for c in range(4):
        for k in range(4):
            lo, hi = min(c, k), max(c, k)
            ref = (n[lo:hi + 1].sum() - (n[c] + n[k]) / 2) ** 2
            assert d[c, k] == pytest.approx(ref)
    batch = K.krippendorff_delta(np.arange(4.0), np.stack([n, 2 * n]), "ordinal")
    np.testing.assert_allclose(batch[1], 4 * d)


def test_cluster_multiplicities_and_resampled_sums():
    rng = np.random.default_rng(0)
    M = K.cluster_multiplicities(rng, 7, 5)
    assert M.shape == (7, 5) and (M.sum(axis=1) == 5).all()
    idx = np.random.default_rng(0).integers(0, 5, (7, 5), dtype=np.uint16)
    ref = np.stack([np.bincount(r, minlength=5) for r in idx])
    np.testing.assert_array_equal(M, ref)
    sums = np.arange(15.0).reshape(5, 3)
    out = K.resample_cluster_sums(sums, np.random.default_rng(0), 7, batch=7)
    np.testing.assert_allclose(out, ref @ sums)


def test_cluster_variance_reduces_to_the_iid_form():
    z = np.random.default_rng(1).normal(size=40)
    z -= z.mean()
    v = K.cluster_variance(z, np.arange(40), 40, 40)
    assert v == pytest.approx((z ** 2).sum() / (40 * 39))


def test_weights_and_tables_batch():
    W = K.agreement_weights(np.array([1.0, 2.0, 4.0]), "linear")
    np.testing.assert_allclose(W[0], [1, 2 / 3, 0])
    Q = K.agreement_weights(np.array([1.0, 2.0, 4.0]), "quadratic")
    np.testing.assert_allclose(Q[0], [1, 1 - 1 / 9, 0])
    with pytest.raises(ValueError, match="unknown weights"):
        K.agreement_weights(np.arange(3.0), "cubic")
    kap, po, pe = K.cohen_kappa_tables(np.zeros((2, 3, 3)), np.eye(3))
    assert np.isnan(kap).all()
