"""Benchmark: vectorised randomization inference vs the loop an evaluator would write.

Run with ``python benchmarks/neighbours_randomization.py``.

Data: 152 LAs with 8 socio-economic covariates and 30 indicators (from
``simulate_evaluation`` when available: 9 indicators x years, suppressed cells included; random
otherwise), 10 treated LAs, k = 10 neighbours.

* ours: :func:`sosstats.neighbours.randomization.randomization_distribution`, 10,000 draws of
  pseudo-pilot sets x 30 indicators, all at once.
* peer: a Python loop over the same draws; in each, the k nearest neighbours of every
  pseudo-pilot are recomputed with ``scipy.spatial.cKDTree`` on the standardised features of the
  pool minus that draw's pseudo-pilots, then the mean difference per indicator (``nanmean``).
  The loop is timed on the first ``PEER_DRAWS`` draws and scaled linearly to 10,000.

The two must agree (``np.allclose(rtol=1e-12)`` on the same draws); requirement: ours >= 20x.

The public path is timed too: :func:`sosstats.neighbours.compare` from a wide DataFrame and a
neighbour table (the same ranking), 10,000 draws, no bootstrap, beside the peer loop (whose
observed comparison is free: it gets its arrays ready-made).
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from sosstats.neighbours.ranking import NeighbourRanking
from sosstats.neighbours.randomization import randomization_distribution

N_DRAWS, PEER_DRAWS, K, N_TREATED, N_IND = 10_000, 1_000, 10, 10, 30


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """Features (152 x 8, standardised), values (152 x 30), LA codes, treated positions."""
    try:
        from sosstats.datasets.simulate import simulate_evaluation
    except ImportError:  # simulator not available: random data of the same shape
        rng = np.random.default_rng(seed)
        feats = rng.normal(size=(152, 8))
        vals = feats @ rng.normal(size=(8, N_IND)) + rng.normal(size=(152, N_IND))
        codes = np.array([f"E{i:03d}" for i in range(152)], dtype=object)
        return feats, vals, codes, np.arange(N_TREATED), "random"
    ev = simulate_evaluation(rng=seed)
    las = ev.las
    covs = ["deprivation_score", "low_income_children_pct", "lone_parent_pct",
            "ethnic_minority_pct", "population_density", "social_housing_pct",
            "unemployment_pct", "fsm_pct"]
    feats = las[covs].to_numpy(dtype=float)
    feats[:, covs.index("population_density")] = np.log(feats[:, covs.index(
        "population_density")])
    wide = ev.la_indicators.pivot_table(index="la_code", columns=["indicator", "year"],
                                        values="value", aggfunc="first", dropna=False)
    wide = wide.reindex(las["la_code"])
    vals = wide.to_numpy(dtype=float)[:, :N_IND]
    treated = np.flatnonzero(las["pilot"].to_numpy())
    return feats, vals, las["la_code"].to_numpy(dtype=object), treated, "simulate_evaluation"


def peer_loop(z: np.ndarray, vals: np.ndarray, pool: np.ndarray, draws: np.ndarray, k: int
              ) -> np.ndarray:
    """Run the straightforward implementation: per draw, a KD-tree on pool minus the draw."""
    in_pool = np.zeros(len(z), dtype=bool)
    in_pool[pool] = True
    out = np.empty((len(draws), vals.shape[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices -> NaN
        for b, draw in enumerate(draws):
            mask = in_pool.copy()
            mask[draw] = False
            cand = np.flatnonzero(mask)
            _, idx = cKDTree(z[cand]).query(z[draw], k=k)
            nbrs = cand[idx]                                   # (m, k)
            diff = vals[draw] - np.nanmean(vals[nbrs], axis=1)
            out[b] = np.nanmean(diff, axis=0)
    return out


def main() -> None:
    """Run the benchmark and print timings, agreement and the speed ratio."""
    feats, vals, codes, treated, source = make_data()
    z = (feats - feats.mean(axis=0)) / feats.std(axis=0)
    dist = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(axis=-1))
    ranking = NeighbourRanking.from_distances(codes, dist)
    pool = np.setdiff1d(np.arange(len(codes)), treated)
    print(f"data: {len(codes)} LAs, {feats.shape[1]} features, {vals.shape[1]} indicators "
          f"({source}; {int(np.isnan(vals).sum())} missing cells), {len(treated)} treated, "
          f"k = {K}; cores available: {os.cpu_count()}")

    randomization_distribution(vals, ranking, pool, N_TREATED, K, n_draws=200, rng=1)  # warm-up
    times = []
    for _ in range(3):  # best of 3, as timeit does
        t0 = time.perf_counter()
        ours = randomization_distribution(vals, ranking, pool, N_TREATED, K, n_draws=N_DRAWS,
                                          rng=0)
        times.append(time.perf_counter() - t0)
    t_ours = min(times)
    print(f"ours : {N_DRAWS:,} draws x {vals.shape[1]} indicators in {t_ours:.3f} s "
          "(best of 3)")

    times = []
    for _ in range(2):  # best of 2
        t0 = time.perf_counter()
        ref = peer_loop(z, vals, pool, ours.draws[:PEER_DRAWS], K)
        times.append(time.perf_counter() - t0)
    t_peer_part = min(times)
    t_peer = t_peer_part * N_DRAWS / PEER_DRAWS
    print(f"peer : {PEER_DRAWS:,} draws in {t_peer_part:.3f} s (best of 2) -> {t_peer:.2f} s "
          f"for {N_DRAWS:,} draws (scaled linearly)")

    same = np.allclose(ours.null_distribution[:PEER_DRAWS], ref, rtol=1e-12, equal_nan=True)
    err = np.nanmax(np.abs(ours.null_distribution[:PEER_DRAWS] - ref))
    print(f"agree on the same {PEER_DRAWS:,} draws (np.allclose, rtol=1e-12): {same} "
          f"(max abs difference {err:.2e})")
    ratio = t_peer / t_ours
    print(f"speed-up: {ratio:.1f}x (requirement >= 20x: {'met' if ratio >= 20 else 'NOT met'})")
    t_public = public_path(vals, ranking, codes, treated)
    print(f"public path: compare(DataFrame, {N_DRAWS:,} draws, n_resamples=0) {t_public:.3f} s "
          f"(best of 3); peer/ours {t_peer / t_public:.1f}x (kernel {ratio:.1f}x)")
    if not same:
        raise SystemExit("ours and the peer loop disagree")


def public_path(vals: np.ndarray, ranking: NeighbourRanking, codes: np.ndarray,
                treated: np.ndarray) -> float:
    """Best of 3 wall times of ``compare`` from a DataFrame, as a user calls it."""
    from sosstats.errors import SosstatsWarning
    from sosstats.neighbours import compare

    wide = pd.DataFrame(vals, columns=[f"ind_{j:02d}" for j in range(vals.shape[1])])
    wide.insert(0, "la_code", codes)
    table = ranking.to_frame()
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SosstatsWarning)
            compare(wide, list(codes[treated]), table, k=K, n_draws=N_DRAWS, n_resamples=0,
                    exclude_treated=True, rng=0)
        best = min(best, time.perf_counter() - t0)
    return best


if __name__ == "__main__":
    main()
