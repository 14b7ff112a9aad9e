"""Benchmark: k-nearest-neighbour search, sosstats kernel vs scipy cKDTree and scikit-learn.

Run ``python benchmarks/neighbours_knn.py``. Two problems, k = 10, each unit's own row excluded:

1. the 152 English LAs on seven LAIT context measures (z-scored), as
   ``StatisticalNeighbours`` would search them (simulated if the shipped data cannot be read);
2. 100,000 synthetic units with 10 standard-normal features, all queried against themselves.

Every method must return the same neighbours (continuous data: no ties). Timings are best-of
``repeats`` in one process; ratios are peer time / our time (> 1: we are faster), for
wall-clock and for CPU time (the sum over threads, which other processes' load disturbs less).
"""

from __future__ import annotations

import os

import numpy as np
from _timing import best_of
from scipy.spatial import cKDTree

from sosstats._kernels.distance import choose_algorithm, knn

K = 10


def la_features() -> np.ndarray:
    try:
        from sosstats.datasets.loaders import load_la_indicators

        cols = ["lait_ChildPov", "lait_PriFSM", "lait_SecFSM", "lait_Ever6_FSM_Prim",
                "lait_Ever6_FSM_Sec", "lait_EALPri", "lait_EALSec"]
        d = load_la_indicators(indicators=cols, years=2019)
        x = d.pivot_table(index="la_code", columns="indicator", values="value")[cols].dropna()
        x = x.to_numpy(float)
    except Exception:  # pragma: no cover - data or loader unavailable
        x = np.random.default_rng(0).standard_normal((152, 7))
    return (x - x.mean(0)) / x.std(0, ddof=1)


def run(name: str, x: np.ndarray, repeats: int) -> None:
    from sklearn.neighbors import NearestNeighbors

    n, p = x.shape
    print(f"\n{name}: n={n:,}, p={p}, k={K}, ours uses {choose_algorithm(n, n, p)!r}")

    def ours():
        return knn(x, k=K, exclude_self=True)

    def ckdtree():
        d, i = cKDTree(x).query(x, k=K + 1, workers=-1)
        return i[:, 1:], d[:, 1:]

    def sklearn():
        d, i = NearestNeighbors(n_neighbors=K + 1, n_jobs=-1).fit(x).kneighbors(x)
        return i[:, 1:], d[:, 1:]

    (t_ours, c_ours), (i_ours, d_ours) = best_of(ours, repeats)
    rows = [("sosstats knn", t_ours, c_ours)]
    for label, fn in [("scipy cKDTree", ckdtree), ("sklearn NearestNeighbors", sklearn)]:
        (t, c), (i, d) = best_of(fn, repeats)
        same = np.array_equal(i, i_ours) and np.allclose(d, d_ours, rtol=1e-9)
        assert same, f"{label} returned different neighbours"
        rows.append((label, t, c))
    for label, t, c in rows:
        print(f"  {label:26s} wall {t * 1e3:11.2f} ms (peer/ours {t / t_ours:5.2f})   "
              f"cpu {c * 1e3:11.2f} ms (peer/ours {c / c_ours:5.2f})")


if __name__ == "__main__":
    print(f"cores available: {len(os.sched_getaffinity(0))}")
    run("152 LAs, LAIT context measures", la_features(), repeats=50)
    big = np.random.default_rng(1).standard_normal((100_000, 10))
    run("100,000 synthetic units", big, repeats=1)
