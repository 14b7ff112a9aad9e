r"""Standardisation, weighted Euclidean distances and k-nearest-neighbour search.

Arrays in, arrays out: nothing here knows about DataFrames or LA codes. Callers validate input
(finite values, non-zero scales, ``k`` smaller than the number of candidates) before calling.

The weighted squared Euclidean distance between rows ``a`` and ``b`` is

.. math:: d^2(a, b) = \sum_j w_j (a_j - b_j)^2,

which is the plain squared Euclidean distance between ``a * sqrt(w)`` and ``b * sqrt(w)``; every
function below works on the rescaled rows.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from sosstats._validate import check_array_2d

__all__ = [
    "STANDARDIZE_METHODS",
    "standardize_params",
    "standardize",
    "sq_distances",
    "distances",
    "knn",
    "choose_algorithm",
]

STANDARDIZE_METHODS = ("zscore", "robust", "range", "none")

#: normal-consistency constant of the median absolute deviation, 1 / Phi^{-1}(3/4)
MAD_NORMAL = 1.482602218505602

#: below this many multiply-adds (rows x rows x columns) pairwise distances use exact
#: differences; above it the ||a||^2 + ||b||^2 - 2 a.b expansion (one matrix product)
EXACT_LIMIT = 1 << 22

#: the auto rule uses scipy's cKDTree when there are at most this many columns and at least
#: KDTREE_MIN_PAIRS query x reference pairs (measured crossover: benchmarks/neighbours_knn.py)
KDTREE_MAX_DIM = 12
KDTREE_MIN_PAIRS = 1 << 22

#: leaf size of the kd-tree (scipy's default is 16; 32 measured 15-25% less CPU time at 10-D)
KDTREE_LEAFSIZE = 32

#: target number of distance-matrix entries per block of the brute-force search (16 MiB each)
DEFAULT_BLOCK_ENTRIES = 1 << 21


def standardize_params(x: np.ndarray, method: str = "zscore") -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale of each column of ``x`` for a standardisation ``method``.

    Parameters
    ----------
    x : ndarray of shape (n, p)
        Finite values.
    method : {"zscore", "robust", "range", "none"}
        ``zscore``: mean and sample standard deviation (ddof=1). ``robust``: median and
        ``1.4826 * MAD`` (the median absolute deviation, scaled to estimate the standard
        deviation under normality). ``range``: minimum and ``max - min``. ``none``: 0 and 1.

    Returns
    -------
    (center, scale) : ndarrays of shape (p,)
        A zero scale (a constant column, or a MAD of zero) is returned as zero; callers must
        check for it.
    """
    x = np.asarray(x, dtype=float)
    if method == "zscore":
        center = x.mean(axis=0)
        scale = x.std(axis=0, ddof=1) if x.shape[0] > 1 else np.zeros(x.shape[1])
    elif method == "robust":
        center = np.median(x, axis=0)
        scale = MAD_NORMAL * np.median(np.abs(x - center), axis=0)
    elif method == "range":
        center = x.min(axis=0)
        scale = x.max(axis=0) - center
    elif method == "none":
        center = np.zeros(x.shape[1])
        scale = np.ones(x.shape[1])
    else:
        raise ValueError(f"unknown standardisation {method!r}; use one of {STANDARDIZE_METHODS}")
    return center, scale


def standardize(x: np.ndarray, method: str = "zscore"
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardise the columns of ``x``: ``z = (x - center) / scale``.

    Columns with zero scale become zero (they carry no information about differences).

    Returns
    -------
    (z, center, scale) : the standardised copy and the parameters from
        :func:`standardize_params`.
    """
    center, scale = standardize_params(x, method)
    safe = np.where(scale > 0, scale, 1.0)
    z = (np.asarray(x, dtype=float) - center) / safe
    z[:, scale <= 0] = 0.0
    return z, center, scale


def _scaled(x: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    x = check_array_2d(x, "x", allow_nan=True)      # DataError (a ValueError) if not 2-D
    if weights is None:
        return x
    return x * np.sqrt(np.asarray(weights, dtype=float))


def sq_distances(a: np.ndarray, b: np.ndarray | None = None,
                 weights: np.ndarray | None = None, *, method: str = "auto") -> np.ndarray:
    """Weighted squared Euclidean distances between the rows of ``a`` and of ``b``.

    Parameters
    ----------
    a : ndarray of shape (n, p)
    b : ndarray of shape (m, p), optional
        Defaults to ``a`` (then the diagonal is exactly zero).
    weights : ndarray of shape (p,), optional
        Non-negative feature weights ``w_j``; ``None`` means all ones.
    method : {"auto", "exact", "expand"}
        ``exact`` sums squared differences by broadcasting (``n * m * p`` memory, no rounding
        beyond the sums); ``expand`` uses ``||a||^2 + ||b||^2 - 2 a b^T`` (one matrix product,
        clipped at zero because cancellation can make it slightly negative); ``auto`` picks
        ``exact`` when ``n * m * p`` is at most :data:`EXACT_LIMIT`.

    Returns
    -------
    ndarray of shape (n, m)
    """
    same = b is None
    a = _scaled(a, weights)
    b = a if same else _scaled(b, weights)
    if method == "auto":
        method = "exact" if a.shape[0] * b.shape[0] * a.shape[1] <= EXACT_LIMIT else "expand"
    if method == "exact":
        diff = a[:, None, :] - b[None, :, :]
        return np.einsum("ijk,ijk->ij", diff, diff)
    if method != "expand":
        raise ValueError(f"unknown method {method!r}")
    na = np.einsum("ij,ij->i", a, a)
    nb = na if same else np.einsum("ij,ij->i", b, b)
    d2 = a @ b.T
    d2 *= -2.0
    d2 += na[:, None]
    d2 += nb[None, :]
    np.maximum(d2, 0.0, out=d2)
    if same:
        np.fill_diagonal(d2, 0.0)
    return d2


def distances(a: np.ndarray, b: np.ndarray | None = None,
              weights: np.ndarray | None = None, *, method: str = "auto") -> np.ndarray:
    """Weighted Euclidean distances ``sqrt(sum_j w_j (a_j - b_j)^2)``; see :func:`sq_distances`."""
    return np.sqrt(sq_distances(a, b, weights, method=method))


def choose_algorithm(n_query: int, n_ref: int, n_features: int) -> str:
    """Pick the search ``knn(algorithm="auto")`` uses: ``"kdtree"`` or ``"brute"``.

    scipy's cKDTree wins for many points in few dimensions; blocked brute force wins for small
    problems (up to about 2,000 x 2,000 pairs) and in many dimensions (kd-trees prune poorly
    there; measured 3x slower than brute force at 20 dimensions). Thresholds:
    :data:`KDTREE_MAX_DIM` and :data:`KDTREE_MIN_PAIRS`.
    """
    if n_features <= KDTREE_MAX_DIM and n_query * n_ref >= KDTREE_MIN_PAIRS:
        return "kdtree"
    return "brute"


def knn(query: np.ndarray, reference: np.ndarray | None = None, k: int = 10, *,
        weights: np.ndarray | None = None, exclude_self: bool = False,
        batch: int | None = None, algorithm: str = "auto", workers: int = -1
        ) -> tuple[np.ndarray, np.ndarray]:
    """Find the ``k`` nearest rows of ``reference`` to each row of ``query`` (weighted Euclidean).

    Parameters
    ----------
    query : ndarray of shape (n, p)
    reference : ndarray of shape (m, p), optional
        Defaults to ``query`` (search a set against itself).
    k : int
        Neighbours per query row; at most ``m`` (``m - 1`` with ``exclude_self``).
    weights : ndarray of shape (p,), optional
        Non-negative feature weights.
    exclude_self : bool
        Only when ``reference`` is None: row ``i`` is never its own neighbour (duplicates of
        row ``i`` still are).
    batch : int, optional
        Query rows per block of the brute-force search (a memory cap: a block holds
        ``batch * m`` distances). Default: about :data:`DEFAULT_BLOCK_ENTRIES` entries.
    algorithm : {"auto", "brute", "kdtree"}
        See :func:`choose_algorithm`. Both give the same neighbours.
    workers : int
        Threads (-1: all cores) for the kd-tree queries and for the brute-force blocks.

    Returns
    -------
    (indices, dist) : ndarrays of shape (n, k)
        Positions in ``reference`` ordered by increasing distance, ties broken by the smaller
        position, and the (unsquared) weighted distances.

    Notes
    -----
    Brute force works block by block of query rows. One matrix product gives the ranking key
    ``||b||^2 - 2 a.b`` (the squared distance less the row constant ``||a||^2``) against every
    reference row; ``np.partition`` finds each row's ``k``-th and ``k+1``-th smallest keys
    (values only: several times faster than ``np.argpartition``), the ``k`` columns with key at
    most the ``k``-th are the neighbours; their exact squared distances are recomputed from the
    differences and sorted by (distance, position). Rows whose ``k``-th and ``k+1``-th keys
    lie within the rounding error of the expansion (ties, near ties) are recomputed exactly, so
    the ranking is exact and ties go to the smaller position. Blocks run on ``workers``
    threads (numpy releases the GIL).
    The kd-tree search (Bentley 1975; scipy's ``cKDTree``, leaf size :data:`KDTREE_LEAFSIZE`,
    a set searched against itself is queried in the tree's leaf order for cache locality) asks
    for one neighbour more than needed; rows where that extra neighbour ties with the ``k``-th
    are recomputed exactly too.

    Measured on 2 cores (benchmarks/neighbours_knn.py): brute force is 5x faster than cKDTree
    for 152 points, and at 20,000 points in 20 or 40 dimensions 3x faster; the kd-tree wins
    from about 2,000-3,000 points in 10 dimensions (100,000 points in 10 dimensions: about 20 s
    against about 2 minutes) and by 20-40x in 3 dimensions. Hence :func:`choose_algorithm`.

    References
    ----------
    Bentley, J. L. (1975). Multidimensional binary search trees used for associative
    searching. *Communications of the ACM*, 18(9), 509-517.
    """
    same = reference is None
    if exclude_self and not same:
        raise ValueError("exclude_self needs reference=None (a set searched against itself)")
    q = _scaled(query, weights)
    r = q if same else _scaled(reference, weights)
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"query has {q.shape[1]} columns, reference {r.shape[1]}")
    n, m = q.shape[0], r.shape[0]
    avail = m - 1 if exclude_self else m
    if not 1 <= k <= avail:
        raise ValueError(f"k must be between 1 and {avail}; got {k}")
    self_idx = np.arange(n) if exclude_self else None
    if algorithm == "auto":
        algorithm = choose_algorithm(n, m, q.shape[1])
    if algorithm == "kdtree":
        return _knn_kdtree(q, r, k, self_idx, batch, workers)
    if algorithm != "brute":
        raise ValueError(f"unknown algorithm {algorithm!r}; use 'auto', 'brute' or 'kdtree'")
    return _knn_brute(q, r, k, self_idx, batch, workers)


def _knn_brute(q: np.ndarray, r: np.ndarray, k: int, self_idx: np.ndarray | None,
               batch: int | None, workers: int) -> tuple[np.ndarray, np.ndarray]:
    n, m = q.shape[0], r.shape[0]
    if batch is None:
        batch = max(1, DEFAULT_BLOCK_ENTRIES // max(m, 1))
    batch = int(max(1, min(batch, n)))
    nr = np.einsum("ij,ij->i", r, r)
    # augmented reference: one product gives the key ||b||^2 - 2 a.b (= d^2 - ||a||^2)
    r_aug = np.hstack([-2.0 * r, nr[:, None]])
    nr_max = float(nr.max())
    kth = k if k < m else k - 1  # one pass: the first k are the k smallest
    tol = 8 * (q.shape[1] + 2) * np.finfo(float).eps
    idx = np.empty((n, k), dtype=np.intp)
    d2 = np.empty((n, k))
    redo = np.zeros(n, dtype=bool)

    def block(start: int) -> None:
        stop = min(start + batch, n)
        qb = q[start:stop]
        key = np.hstack([qb, np.ones((stop - start, 1))]) @ r_aug.T
        rows = np.arange(stop - start)[:, None]
        if self_idx is not None:
            key[rows[:, 0], self_idx[start:stop]] = np.inf
        # np.partition (values only) is several times faster than np.argpartition
        pk = np.partition(key, kth, axis=1)
        vk = pk[:, :k].max(axis=1)  # k-th smallest key of each row
        bad = np.zeros(stop - start, dtype=bool)
        if kth == k:
            # the k-th and (k+1)-th keys within rounding error of each other (a tie, or a
            # near tie the expansion cannot order): recompute that row exactly afterwards
            nq = np.einsum("ij,ij->i", qb, qb)
            bad = pk[:, k] - vk <= tol * (nq + 2 * nr_max + 1.0)
            redo[start:stop] = bad
        mask = key <= vk[:, None]  # exactly k per row where not bad
        mask[bad] = False
        good = np.flatnonzero(~bad)
        _, cc = np.nonzero(mask)
        cand = cc.reshape(-1, k)
        diff = qb[good][:, None, :] - r[cand]
        dd = np.einsum("ijk,ijk->ij", diff, diff)
        order = np.lexsort((cand, dd), axis=-1)
        idx[start + good] = np.take_along_axis(cand, order, axis=1)
        d2[start + good] = np.take_along_axis(dd, order, axis=1)

    starts = range(0, n, batch)
    n_threads = _n_threads(workers)
    if n_threads > 1 and len(starts) > 1:
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(block, starts))
    else:
        for s in starts:
            block(s)
    if redo.any():
        rows = np.flatnonzero(redo)
        idx[rows], d2[rows] = _exact_rows(q[rows], r, k,
                                          None if self_idx is None else self_idx[rows])
    return idx, np.sqrt(d2)


def _exact_rows(q: np.ndarray, r: np.ndarray, k: int, self_idx: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Exact search (squared differences, stable sort: ties by position) for a few rows."""
    n, m = q.shape[0], r.shape[0]
    idx = np.empty((n, k), dtype=np.intp)
    d2 = np.empty((n, k))
    step = max(1, DEFAULT_BLOCK_ENTRIES // max(m * q.shape[1], 1))
    for start in range(0, n, step):  # blocks of rows; usually there are no such rows at all
        stop = min(start + step, n)
        diff = q[start:stop, None, :] - r[None, :, :]
        dd = np.einsum("ijk,ijk->ij", diff, diff)
        if self_idx is not None:
            dd[np.arange(stop - start), self_idx[start:stop]] = np.inf
        o = np.argsort(dd, axis=1, kind="stable")[:, :k]
        idx[start:stop] = o
        d2[start:stop] = np.take_along_axis(dd, o, axis=1)
    return idx, d2


def _n_threads(workers: int) -> int:
    if workers is None or workers < 1:
        import os

        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                   else (os.cpu_count() or 1))
    return int(workers)


def _knn_kdtree(q: np.ndarray, r: np.ndarray, k: int, self_idx: np.ndarray | None,
                batch: int | None, workers: int) -> tuple[np.ndarray, np.ndarray]:
    from scipy.spatial import cKDTree

    n, m = q.shape[0], r.shape[0]
    extra = 1 if self_idx is None else 2
    kq = min(k + extra, m)
    tree = cKDTree(r, leafsize=KDTREE_LEAFSIZE)
    if q is r:
        # query in the tree's leaf order: consecutive queries visit the same nodes (cache)
        perm = tree.indices
        dist = np.empty((n, kq))
        ind = np.empty((n, kq), dtype=np.intp)
        d_p, i_p = tree.query(q[perm], k=kq, workers=workers)
        dist[perm], ind[perm] = d_p.reshape(n, kq), i_p.reshape(n, kq)
    else:
        dist, ind = tree.query(q, k=kq, workers=workers)
        dist = dist.reshape(n, kq)
        ind = ind.reshape(n, kq).astype(np.intp)
    redo = np.zeros(n, dtype=bool)
    if self_idx is not None:
        is_self = ind == self_idx[:, None]
        found = is_self.any(axis=1)
        redo |= ~found  # self pushed out by duplicates at distance zero
        # drop self (or the last column where self is absent)
        drop = np.where(found, is_self.argmax(axis=1), kq - 1)
        keep = np.ones_like(ind, dtype=bool)
        keep[np.arange(n), drop] = False
        ind = ind[keep].reshape(n, kq - 1)
        dist = dist[keep].reshape(n, kq - 1)
    if ind.shape[1] > k:
        redo |= dist[:, k] == dist[:, k - 1]
    ind, dist = ind[:, :k], dist[:, :k]
    order = np.lexsort((ind, dist), axis=-1)
    ind = np.take_along_axis(ind, order, axis=1)
    dist = np.take_along_axis(dist, order, axis=1)
    if redo.any():
        rows = np.flatnonzero(redo)
        sub_self = None if self_idx is None else self_idx[rows]
        ind[rows], d2 = _exact_rows(q[rows], r, k, sub_self)
        dist[rows] = np.sqrt(d2)
    return ind, dist
