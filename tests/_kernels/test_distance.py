"""Tests of the distance / k-nearest kernels against scipy references."""

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

from sosstats._kernels import distance as kd


@pytest.fixture
def data():
    rng = np.random.default_rng(42)
    return rng.standard_normal((203, 5)) * [1, 2, 3, 0.5, 10] + [0, 5, -3, 1, 100]


def test_standardize_closed_forms(data):
    z, c, s = kd.standardize(data, "zscore")
    np.testing.assert_allclose(c, data.mean(axis=0))
    np.testing.assert_allclose(s, data.std(axis=0, ddof=1))
    np.testing.assert_allclose(z, stats.zscore(data, ddof=1), atol=1e-12)
    z, c, s = kd.standardize(data, "robust")
    np.testing.assert_allclose(c, np.median(data, axis=0))
    np.testing.assert_allclose(s, stats.median_abs_deviation(data, scale="normal"))
    z, c, s = kd.standardize(data, "range")
    assert np.allclose(z.min(axis=0), 0) and np.allclose(z.max(axis=0), 1)
    z, c, s = kd.standardize(data, "none")
    np.testing.assert_array_equal(z, data)
    with pytest.raises(ValueError, match="unknown standardisation"):
        kd.standardize(data, "minmax")


def test_standardize_zero_scale_column_is_zero():
    x = np.column_stack([np.arange(5.0), np.full(5, 3.0)])
    z, _, s = kd.standardize(x, "zscore")
    assert s[1] == 0 and np.all(z[:, 1] == 0)


@pytest.mark.parametrize("method", ["exact", "expand", "auto"])
def test_sq_distances_match_weighted_cdist(data, method):
    w = np.array([0.1, 0.4, 0.2, 0.3, 0.0])
    ref = cdist(data[:50], data[50:], "sqeuclidean", w=w)
    got = kd.sq_distances(data[:50], data[50:], w, method=method)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-8)
    same = kd.distances(data, weights=w, method=method)
    np.testing.assert_allclose(same, cdist(data, data, "euclidean", w=w), rtol=1e-9, atol=1e-6)
    assert np.all(np.diag(same) == 0) and np.all(same >= 0)


def test_sq_distances_rejects_unknown_method(data):
    with pytest.raises(ValueError, match="unknown method"):
        kd.sq_distances(data, method="fast")


@pytest.mark.parametrize("algorithm", ["brute", "kdtree", "auto"])
@pytest.mark.parametrize("batch", [1, 7, 64, None])
def test_knn_matches_ckdtree_self(data, algorithm, batch):
    k = 6
    idx, dist = kd.knn(data, k=k, exclude_self=True, batch=batch, algorithm=algorithm)
    d_ref, i_ref = cKDTree(data).query(data, k=k + 1)
    np.testing.assert_array_equal(idx, i_ref[:, 1:])  # continuous data: self first, no ties
    np.testing.assert_allclose(dist, d_ref[:, 1:], rtol=1e-10)
    assert not (idx == np.arange(len(data))[:, None]).any()


@pytest.mark.parametrize("algorithm", ["brute", "kdtree"])
def test_knn_query_vs_reference_with_weights(data, algorithm):
    w = np.array([1.0, 0.5, 2.0, 0.0, 0.25])
    q, r = data[:37], data[37:]
    idx, dist = kd.knn(q, r, k=9, weights=w, batch=5, algorithm=algorithm)
    d_ref, i_ref = cKDTree(r * np.sqrt(w)).query(q * np.sqrt(w), k=9)
    np.testing.assert_array_equal(idx, i_ref)
    np.testing.assert_allclose(dist, d_ref, rtol=1e-10)


@pytest.mark.parametrize("algorithm", ["brute", "kdtree"])
def test_knn_ties_broken_by_index(algorithm):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, size=(120, 2)).astype(float)  # many exact ties and duplicates
    k = 7
    idx, dist = kd.knn(x, k=k, exclude_self=True, batch=13, algorithm=algorithm)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    ref = np.argsort(d2, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(idx, ref)
    np.testing.assert_allclose(dist, np.sqrt(np.take_along_axis(d2, ref, 1)))


def test_knn_k_equal_to_available():
    x = np.random.default_rng(0).standard_normal((8, 3))
    idx, _ = kd.knn(x, k=7, exclude_self=True, algorithm="brute")
    assert all(set(row) == set(range(8)) - {i} for i, row in enumerate(idx))


def test_knn_bad_arguments(data):
    with pytest.raises(ValueError, match="k must be between 1 and 202"):
        kd.knn(data, k=203, exclude_self=True)
    with pytest.raises(ValueError, match="k must be between"):
        kd.knn(data, k=0)
    with pytest.raises(ValueError, match="exclude_self"):
        kd.knn(data, data, k=2, exclude_self=True)
    with pytest.raises(ValueError, match="unknown algorithm"):
        kd.knn(data, k=2, algorithm="ball")
    with pytest.raises(ValueError, match="columns"):
        kd.knn(data, data[:, :3], k=2)


def test_choose_algorithm():
    assert kd.choose_algorithm(152, 152, 7) == "brute"
    assert kd.choose_algorithm(100_000, 100_000, 10) == "kdtree"
    assert kd.choose_algorithm(100_000, 100_000, 40) == "brute"


def test_inputs_unmodified(data):
    before = data.copy()
    kd.knn(data, k=3, weights=np.ones(5), exclude_self=True)
    kd.standardize(data)
    kd.sq_distances(data, method="expand")
    np.testing.assert_array_equal(data, before)


def test_not_two_d_is_a_data_error_from_the_shared_check():
    # issue 13: the 2-D check is _validate.check_array_2d (DataError, still a ValueError)
    from sosstats.errors import DataError

    with pytest.raises(DataError, match="`x` must be a 2-D array; got 1 dimension"):
        kd.knn(np.arange(5.0), k=1)
