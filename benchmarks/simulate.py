"""Benchmark: ``simulate_evaluation`` at the study's size and with up to a million families.

Run ``python benchmarks/simulate.py``. There is no peer tool that simulates this design, so the
reference is the default (study-sized) call: the table shows best-of-``repeats`` wall time for
each ``n_families``, the time per family, the ratio to the default call and the peak memory
that numpy and pandas allocate during one call (measured in a separate, traced run).

Measured on the development container (2 cores shared with other jobs, Python 3.11, numpy 2.4,
pandas 3.1); one million families take about 1.3-2.3 s depending on load::

    n_families      rows(memberships)   best s   us/family   x default   peak MiB
           270                    438    0.029     109.068         1.0        1.4
        10,000                 16,839    0.032       3.212         1.1        5.3
       100,000                168,061    0.250       2.499         8.5       45.0
     1,000,000              1,680,344    1.290       1.290        43.8      442.1
"""

from __future__ import annotations

import time
import tracemalloc

from sosstats.datasets.simulate import simulate_evaluation

SIZES = (270, 10_000, 100_000, 1_000_000)


def best_of(n_families: int, repeats: int) -> tuple[float, int]:
    """Best wall time of ``repeats`` calls and the number of membership rows."""
    times, rows = [], 0
    for r in range(repeats):
        t0 = time.perf_counter()
        ev = simulate_evaluation(rng=r, n_families=n_families)
        times.append(time.perf_counter() - t0)
        rows = len(ev.memberships)
    return min(times), rows


def peak_mib(n_families: int) -> float:
    """Peak traced allocation (MiB) during one call."""
    tracemalloc.start()
    simulate_evaluation(rng=0, n_families=n_families)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    simulate_evaluation(rng=0)                      # warm imports and caches
    print(f"{'n_families':>10} {'rows(memberships)':>22} {'best s':>8} {'us/family':>11} "
          f"{'x default':>11} {'peak MiB':>10}")
    base = None
    for n in SIZES:
        repeats = 10 if n <= 10_000 else 3
        t, rows = best_of(n, repeats)
        base = base or t
        print(f"{n:>10,} {rows:>22,} {t:>8.3f} {1e6 * t / n:>11.3f} {t / base:>11.1f} "
              f"{peak_mib(n):>10.1f}")


if __name__ == "__main__":
    main()
