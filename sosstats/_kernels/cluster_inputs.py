"""Input checks of the cluster-robust kernels (:mod:`sosstats._kernels.cluster`).

Each takes what a caller passed (arrays, labels, weights, a bread, a share matrix) and returns
clean float arrays, dense cluster codes ``0..G-1`` or raises a :mod:`sosstats.errors`
exception naming the argument: ``X`` (n, p), ``resid`` (n,), ``weights`` (n,, rows with weight
0 dropped), ``clusters`` (n,), ``bread`` (p, p), ``membership`` (n, G).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sosstats.errors import DataError, DesignError

__all__ = ["as_float", "prepare", "cluster_codes", "bread_matrix", "membership_shares"]


def check_finite_array(a: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(a)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(a.shape[0], -1).any(axis=1))
        shown = ", ".join(map(str, rows[:10])) + (" ..." if len(rows) > 10 else "")
        raise DataError(f"`{name}` has NaN or infinite values (rows {shown}).")


def as_float(a: Any, name: str, ndim: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.asarray(a, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"`{name}` must be numeric.") from exc
    if arr.ndim not in ndim:
        raise DesignError(f"`{name}` must have {' or '.join(map(str, ndim))} dimension(s); "
                          f"got shape {arr.shape}.")
    check_finite_array(arr, name)
    return arr


def prepare(x: Any, resid: Any, weights: Any) -> tuple[np.ndarray, np.ndarray | None,
                                                        np.ndarray | None, np.ndarray]:
    """Check X (n, p), resid (n,) or None, weights (n,) or None; return them and the rows kept."""
    xa = as_float(x, "X", (1, 2))
    if xa.ndim == 1:
        xa = xa[:, None]
    n = xa.shape[0]
    if n == 0 or xa.shape[1] == 0:
        raise DesignError(f"`X` must have at least one row and one column; got shape {xa.shape}.")
    ra = None
    if resid is not None:
        ra = as_float(resid, "resid", (1,))
        if ra.shape[0] != n:
            raise DesignError(f"`resid` has {ra.shape[0]} values but `X` has {n} rows.")
    keep = np.ones(n, dtype=bool)
    wa = None
    if weights is not None:
        wa = as_float(weights, "weights", (1,))
        if wa.shape[0] != n:
            raise DesignError(f"`weights` has {wa.shape[0]} values but `X` has {n} rows.")
        neg = np.flatnonzero(wa < 0)
        if len(neg):
            raise DataError(f"`weights` has {len(neg)} negative value(s) (rows "
                            f"{', '.join(map(str, neg[:10]))}); weights must be >= 0.")
        keep = wa > 0
        if not keep.any():
            raise DataError("`weights` are all zero.")
        if not keep.all():
            wa = wa[keep]
            xa = xa[keep]
            ra = None if ra is None else ra[keep]
    return xa, ra, wa, keep


def cluster_codes(clusters: Any, n: int, keep: np.ndarray, name: str = "clusters"
           ) -> tuple[np.ndarray, int]:
    """Cluster labels (n,) -> dense codes 0..G-1 over the kept rows, and G."""
    arr = np.asarray(clusters)
    if arr.ndim != 1:
        raise DesignError(f"`{name}` must be one-dimensional; got shape {arr.shape}.")
    if arr.shape[0] != n:
        raise DesignError(f"`{name}` has {arr.shape[0]} values but `X` has {n} rows.")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise DataError(f"`{name}` has {int(np.isnan(arr).sum())} missing (NaN) value(s).")
    if arr.dtype.kind == "O" and any(v is None for v in arr):
        raise DataError(f"`{name}` has missing (None) value(s).")
    if not keep.all():
        arr = arr[keep]
    if arr.dtype.kind in "iu" and arr.min() >= 0 and arr.max() < 4 * len(arr) + 1024:
        # integer codes (the usual case): relabel the present codes 0..G-1 in O(n)
        present = np.bincount(arr) > 0
        codes = (np.cumsum(present) - 1)[arr].astype(np.intp)
        n_groups = int(present.sum())
    else:
        _, codes = np.unique(arr, return_inverse=True)
        codes = codes.reshape(-1).astype(np.intp)
        n_groups = int(codes.max()) + 1
    if n_groups < 2:
        raise DesignError(f"`{name}` has a single cluster; cluster-robust variance needs at "
                          "least two.")
    return codes, n_groups


def bread_matrix(xa: np.ndarray, wa: np.ndarray | None, bread: Any) -> np.ndarray:
    p = xa.shape[1]
    if bread is not None:
        m = as_float(bread, "bread", (2,))
        if m.shape != (p, p):
            raise DesignError(f"`bread` must be ({p}, {p}); got shape {m.shape}.")
        return m
    xw = xa if wa is None else xa * wa[:, None]
    xtx = xw.T @ xa
    eig = np.linalg.eigvalsh(xtx)
    if not eig[0] > 1e-10 * max(eig[-1], np.finfo(float).tiny):
        raise DesignError(f"`X` is rank deficient (X'WX has condition number above 1e10 with "
                          f"{p} columns); drop collinear columns.")
    m = np.linalg.inv(xtx)
    return 0.5 * (m + m.T)


def membership_shares(membership: Any, n: int, keep: np.ndarray) -> Any:
    """Check the (n, G) share matrix; return it over the kept rows, empty columns dropped."""
    if hasattr(membership, "tocsr"):
        mat = membership.tocsr().astype(float)
        if mat.shape[0] != n:
            raise DesignError(f"`membership` has {mat.shape[0]} rows but `X` has {n}.")
        data = mat.data
        row_sums = np.asarray(mat.sum(axis=1)).reshape(-1)
    else:
        mat = as_float(membership, "membership", (2,))
        if mat.shape[0] != n:
            raise DesignError(f"`membership` has {mat.shape[0]} rows but `X` has {n}.")
        data = mat
        row_sums = mat.sum(axis=1)
    if not np.isfinite(data).all():
        raise DataError("`membership` has NaN or infinite shares.")
    if (data < 0).any():
        raise DataError("`membership` has negative shares; shares must be >= 0.")
    off = np.flatnonzero(np.abs(row_sums - 1.0) > 1e-8)
    if len(off):
        raise DataError(f"`membership` rows must sum to 1; {len(off)} do not (rows "
                        f"{', '.join(map(str, off[:10]))}).")
    mat = mat[keep]
    col_tot = np.asarray(mat.sum(axis=0)).reshape(-1)
    used = np.flatnonzero(col_tot > 0)
    if len(used) < 2:
        raise DesignError("`membership` loads on a single cluster; cluster-robust variance "
                          "needs at least two.")
    return mat[:, used]
