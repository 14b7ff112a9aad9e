"""Benchmarks of ``sosstats.neighbours`` beside the peers, in one process on the same data.

Run with ``python benchmarks/neighbours.py`` (peers: ``pip install -e '.[bench]'``). It runs, in
turn:

1. ``neighbours_knn.py``: the k-nearest search (k = 10) for all LAs (real LAIT context
   measures) and for 100,000 synthetic units on 10 features, against scikit-learn's
   NearestNeighbors and scipy's cKDTree (same neighbours checked; requirement: no slower than
   cKDTree);
2. ``neighbours_randomization.py``: randomization inference, 10,000 draws x 30 indicators, each
   pseudo-pilot's neighbours excluding the other pseudo-pilots of its draw, against the loop an
   evaluator would write (neighbours recomputed with cKDTree per draw; same draws, agreement to
   rtol 1e-12; requirement: at least 20x faster);
3. ``neighbours_synth.py``: the synthetic-control placebo runs, our simplex least-squares kernel
   against a loop of scipy SLSQP fits.

Each prints the public-path ratio (``StatisticalNeighbours.fit``, ``compare`` and
``synthetic_control`` called from a DataFrame, beside the peer doing the same job) next to the
kernel ratio. Pass ``--quick`` to skip the 100,000-unit search (about a minute on 2 cores).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import neighbours_knn  # noqa: E402
import neighbours_randomization  # noqa: E402
import neighbours_synth  # noqa: E402


def main(quick: bool = False) -> None:
    """Run the three neighbour benchmarks and print their ratios."""
    start = time.perf_counter()
    print(f"cores available: {len(os.sched_getaffinity(0))}\n")
    print("== 1. k-nearest search ==")
    neighbours_knn.run("152 LAs, LAIT context measures", neighbours_knn.la_features(),
                       repeats=50)
    neighbours_knn.run_public()
    if not quick:
        big = np.random.default_rng(1).standard_normal((100_000, 10))
        neighbours_knn.run("100,000 synthetic units", big, repeats=1)
    print("\n== 2. randomization inference ==")
    neighbours_randomization.main()
    print("\n== 3. synthetic control placebos ==")
    neighbours_synth.main()
    print(f"\ntotal {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
