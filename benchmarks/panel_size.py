"""Size of the joint test "does experience group matter?" with ten pilots (issue 14).

A design simulation under the null: the study's ten pilots with their unequal sizes (9 to 75
families, ``simulate_evaluation(rng=0)``) and their experience groups (three groups, a
pilot-level regressor: two dummies), a family-level cohort regressor, and the T1 -> T2 change
``y = 0.5 cohort + u_pilot + e`` with pilot effects ``u ~ N(0, 0.5^2)`` and family noise whose SD
differs between pilots (0.5 to 2). Experience has no effect, so a 5% test should reject in 5% of
replicates. Each replicate fits the change regression and tests both experience dummies jointly:

* CR1 with ``F(2, G - 1)`` (what a user gets from the usual cluster-robust Wald test);
* CR2 with the HTZ test (``wald_test`` on a CR2 fit, the default below 42 clusters);
* the wild cluster restricted bootstrap of the joint statistic (Rademacher, all 1,024 sign
  vectors: ``sosstats._kernels.wild_joint``).

Run ``python benchmarks/panel_size.py [--reps N]`` (default 2,000 replicates: the Monte Carlo
SE of a 5% rate is 0.5 points). Prints each rejection rate with its Monte Carlo SE.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from sosstats._kernels.cluster import cluster_vcov
from sosstats._kernels.cluster_wald import cluster_wald_test
from sosstats._kernels.wild_joint import wild_joint_test
from sosstats.datasets import simulate_evaluation

ALPHA = 0.05


def study_design() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pilot code of each family, the experience dummies of each pilot, pilot noise SDs."""
    fam = simulate_evaluation(rng=0).families
    labels, codes = np.unique(fam["la_code"].astype(str).to_numpy(), return_inverse=True)
    exp = fam.groupby(fam["la_code"].astype(str))["experience"].first().reindex(labels)
    groups = exp.astype(str).to_numpy()
    dummies = np.column_stack([groups == "2 years", groups == "2 years plus"]).astype(float)
    sd = np.linspace(0.5, 2.0, len(groups))
    return codes, dummies, sd


def simulate_rates(reps: int, seed: int = 2017) -> dict[str, tuple[float, float]]:
    """Rejection rate at 5% and its Monte Carlo SE for each test."""
    codes, dummies, sd = study_design()
    n = codes.size
    rng = np.random.default_rng(seed)
    R = np.zeros((2, 4))
    R[0, 1] = R[1, 2] = 1.0
    rejected: dict[str, list[bool]] = {"CR1, F(2, 9)": [], "CR2, HTZ": [],
                                       "wild (Rademacher, enumerated)": []}
    for _ in range(reps):
        cohort = rng.integers(0, 2, n).astype(float)
        X = np.column_stack([np.ones(n), dummies[codes], cohort])
        y = 0.5 * cohort + rng.normal(0, 0.5, sd.size)[codes] + rng.normal(0, sd[codes])
        b = np.linalg.lstsq(X, y, rcond=None)[0]
        e = y - X @ b
        v1 = cluster_vcov(X, e, codes, kind="cr1").vcov
        v2 = cluster_vcov(X, e, codes, kind="cr2").vcov
        p1 = cluster_wald_test(X, e, codes, b, R, vcov=v1, kind="cr1", test="f").p_value
        p2 = cluster_wald_test(X, e, codes, b, R, vcov=v2, kind="cr2", test="htz").p_value
        rejected["CR1, F(2, 9)"].append(p1 < ALPHA)
        rejected["CR2, HTZ"].append(p2 < ALPHA)
        pw = wild_joint_test(X, y, codes, R=R, n_resamples=1024).p_value
        rejected["wild (Rademacher, enumerated)"].append(pw < ALPHA)
    out = {}
    for name, flags in rejected.items():
        rate = float(np.mean(flags))
        out[name] = (rate, float(np.sqrt(rate * (1 - rate) / len(flags))))
    return out


def main(reps: int = 2000) -> dict[str, tuple[float, float]]:
    t0 = time.perf_counter()
    rates = simulate_rates(reps)
    print(f"Joint test of the two experience dummies under H0, 10 pilots (9-75 families), "
          f"{reps:,} replicates, nominal {ALPHA:.0%} ({time.perf_counter() - t0:.1f} s):")
    for name, (rate, se) in rates.items():
        print(f"  {name:34s} rejects {rate:6.1%}  (MC SE {se:.1%})")
    return rates


if __name__ == "__main__":
    reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 2000
    main(reps)
