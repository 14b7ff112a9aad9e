"""Benchmark: k-nearest-neighbour search, sosstats kernel vs scipy cKDTree and scikit-learn.

Run ``python benchmarks/neighbours_knn.py``. Two problems, k = 10, each unit's own row excluded:

1. the 152 English LAs on seven LAIT context measures (z-scored), as
   ``StatisticalNeighbours`` would search them (simulated if the shipped data cannot be read);
2. 100,000 synthetic units with 10 standard-normal features, all queried against themselves.

Every method must return the same neighbours (continuous data: no ties). Timings are best-of
``repeats`` in one process; ratios are peer time / our time (> 1: we are faster), for
wall-clock and for CPU time (the sum over threads, which other processes' load disturbs less).

The public path is timed for the LAs: ``StatisticalNeighbours(features, k=10).fit(frame)`` from
a DataFrame (checks, z-scores, distances, ranking, neighbour table) beside the same job by the
peers (z-score the frame's columns, then cKDTree / NearestNeighbors, then a tidy table).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from _timing import best_of
from scipy.spatial import cKDTree

from sosstats._kernels.distance import choose_algorithm, knn

K = 10


def la_frame() -> tuple[pd.DataFrame, list[str]]:
    """The LAs' LAIT context measures (2019) as a one-row-per-LA frame."""
    from sosstats.datasets.loaders import load_la_indicators

    cols = ["lait_ChildPov", "lait_PriFSM", "lait_SecFSM", "lait_Ever6_FSM_Prim",
            "lait_Ever6_FSM_Sec", "lait_EALPri", "lait_EALSec"]
    d = load_la_indicators(indicators=cols, years=2019)
    x = d.pivot_table(index="la_code", columns="indicator", values="value")[cols].dropna()
    return x.reset_index(), cols


def run_public(repeats: int = 20) -> None:
    """Public path: StatisticalNeighbours.fit from a frame, beside the peers' same job."""
    from sosstats.neighbours import StatisticalNeighbours

    frame, cols = la_frame()

    def ours():
        return StatisticalNeighbours(cols, k=K).fit(frame).neighbours_

    def peer(search):
        x = frame[cols].to_numpy(float)
        z = (x - x.mean(0)) / x.std(0, ddof=1)
        d, i = search(z)
        codes = frame["la_code"].to_numpy()
        return pd.DataFrame({"la_code": np.repeat(codes, K), "neighbour": codes[i].ravel(),
                             "rank": np.tile(np.arange(1, K + 1), len(codes)),
                             "distance": d.ravel()})

    def ckdtree(z):
        d, i = cKDTree(z).query(z, k=K + 1)
        return d[:, 1:], i[:, 1:]

    def sklearn(z):
        d, i = NearestNeighbors(n_neighbors=K + 1).fit(z).kneighbors(z)
        return d[:, 1:], i[:, 1:]

    NearestNeighbors = _sklearn()
    (t_ours, _), _ = best_of(ours, repeats)
    print(f"\npublic path, {len(frame)} LAs from a DataFrame: StatisticalNeighbours(k={K}).fit "
          f"{t_ours * 1e3:.2f} ms")
    peers = [("scipy cKDTree", ckdtree)]
    if NearestNeighbors is not None:
        peers.append(("sklearn NearestNeighbors", sklearn))
    for label, search in peers:
        (t, _), _ = best_of(lambda s=search: peer(s), repeats)
        print(f"  {label:26s} {t * 1e3:8.2f} ms (peer/ours {t / t_ours:5.2f})")


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


def _sklearn():
    """scikit-learn's NearestNeighbors, or None when it is not installed (then skipped)."""
    try:
        from sklearn.neighbors import NearestNeighbors
    except ImportError:
        print("  (scikit-learn not installed: its rows are skipped; pip install -e '.[bench]')")
        return None
    return NearestNeighbors


def run(name: str, x: np.ndarray, repeats: int) -> None:
    NearestNeighbors = _sklearn()

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
    peers = [("scipy cKDTree", ckdtree)]
    if NearestNeighbors is not None:
        peers.append(("sklearn NearestNeighbors", sklearn))
    for label, fn in peers:
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
    run_public()
    big = np.random.default_rng(1).standard_normal((100_000, 10))
    run("100,000 synthetic units", big, repeats=1)
