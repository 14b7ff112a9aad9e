"""Coverage of 95% intervals with ten pilots: CR1 vs CR2 vs CR3 vs the wild cluster bootstrap.

Monte Carlo study for ``sosstats.panel.change_model`` (first differences, clustered by pilot).
The design copies the Signs of Safety evaluation: 270 families in ten pilots of very unequal
sizes (9 to 75 families, as ``simulate_evaluation(rng=0)``), and a regressor of interest that
varies only between pilots, so that only ten clusters carry information about it:

* ``binary``: a pilot-level indicator, "2 years plus" experience (3 of the 10 pilots, with 9,
  21 and 65 families), in ``sdq ~ x``;
* ``experience``: the three experience groups (new 3 pilots / 2 years 4 / 2 years plus 3) in
  ``sdq ~ C(experience)``, interval for "2 years plus" vs "new".

Data-generating process (long, two waves), with family effect ``a_i ~ N(0, 4^2)``, pilot shock
on the change ``v_g ~ N(0, 1)`` (the within-cluster correlation: intra-pilot correlation of the
change scores 1 / (1 + 2 * 3^2) = 0.053, large with 65-75 families a pilot) and
``e_it ~ N(0, 3^2)``:

    sdq_i1 = 15 + a_i + e_i1
    sdq_i2 = 15 + a_i - 1.5 + beta * x_g(i) + v_g(i) + e_i2,      beta = 0 (the truth)

Each replicate draws a fresh data set from ``numpy.random.default_rng([seed, design, r])``
(deterministic) and records whether each method's 95% interval for the pilot-level coefficient
covers ``beta``: ``cr1`` (Stata small-sample factor, t with G - 1 = 9 df), ``cr2``
(Bell-McCaffrey, Satterthwaite df), ``cr3`` (jackknife, t with 9 df) and ``wild`` (wild cluster
restricted bootstrap, all 2^10 = 1,024 Rademacher sign vectors, interval by test inversion).
The wild interval costs a root search per term, so it runs on every ``WILD_EVERY``-th replicate
only (fewer replications: its Monte Carlo standard error is larger, printed beside it).

Run ``python benchmarks/panel_coverage.py`` (about 2-3 minutes on 2 cores; ``--quick`` for a
~20 s smoke run, ``--reps N`` to change the number of replicates, ``--workers K``).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

METHODS = ("cr1", "cr2", "cr3", "wild")
SIZES = np.array([9, 29, 9, 25, 21, 12, 13, 12, 75, 65])           # families per pilot
EXPERIENCE = np.array(["new", "2 years", "2 years plus", "2 years", "2 years plus", "new",
                       "2 years", "2 years", "new", "2 years plus"])
DESIGNS = {
    "binary": ("sdq ~ x", "x"),
    "experience": ("sdq ~ C(experience)", "C(experience)[T.2 years plus]"),
}
SD_FAMILY, SD_PILOT, SD_RESID, BETA = 4.0, 1.0, 3.0, 0.0
SEED = 20170901
WILD_EVERY = 4


def simulate(rng: np.random.Generator, beta: float = BETA) -> pd.DataFrame:
    """One long two-wave data set (540 rows) under the design above."""
    pilot = np.repeat(np.arange(SIZES.size), SIZES)
    n = pilot.size
    x = (EXPERIENCE == "2 years plus").astype(float)
    a = rng.normal(0.0, SD_FAMILY, n)
    v = rng.normal(0.0, SD_PILOT, SIZES.size)
    e = rng.normal(0.0, SD_RESID, (n, 2))
    y1 = 15.0 + a + e[:, 0]
    y2 = 15.0 + a - 1.5 + beta * x[pilot] + v[pilot] + e[:, 1]
    return pd.DataFrame({
        "family_id": np.repeat(np.arange(n), 2),
        "wave": np.tile(["t1", "t2"], n),
        "sdq": np.column_stack([y1, y2]).ravel(),
        "pilot": np.repeat(pilot, 2),
        "x": np.repeat(x[pilot], 2),
        "experience": np.repeat(EXPERIENCE[pilot], 2),
    })


def replicate(design: str, r: int, methods: tuple[str, ...] = METHODS,
              seed: int = SEED) -> dict[str, tuple[bool, float, float, float]]:
    """Coverage, interval length, df and p-value of H0: beta = truth per method, replicate r."""
    from sosstats.panel.change import change_model

    formula, term = DESIGNS[design]
    data = simulate(np.random.default_rng([seed, list(DESIGNS).index(design), r]))
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # the few-cluster warning of cr1, every time
        for m in methods:
            fit = change_model(formula, data, entity="family_id", time="wave",
                               cluster="pilot", inference=m, rng=r)
            lo, hi = fit.conf_int().loc[term]
            row = fit.table.loc[term]
            out[m] = (bool(lo <= BETA <= hi), float(hi - lo), float(row["df"]),
                      float(row["p_value"]))
    return out


def _chunk(args: tuple[str, list[int], int]) -> list[dict]:
    design, reps, seed = args
    rows = []
    for r in reps:
        methods = METHODS if r % WILD_EVERY == 0 else METHODS[:-1]
        for m, (cov, length, df, p) in replicate(design, r, methods, seed).items():
            rows.append({"design": design, "rep": r, "method": m, "covered": cov,
                         "length": length, "df": df, "p_value": p})
    return rows


def run(n_reps: int, *, workers: int = 2, seed: int = SEED) -> pd.DataFrame:
    """All replicates of both designs, split over ``workers`` processes; one row per fit."""
    jobs = [(d, list(range(k, n_reps, 8 * workers)), seed)
            for d in DESIGNS for k in range(8 * workers)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_chunk, jobs))
    else:
        parts = [_chunk(j) for j in jobs]
    return pd.DataFrame([row for part in parts for row in part])


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Coverage with its Monte Carlo SE sqrt(p (1 - p) / R), mean length and median df.

    ``inverts`` is the share of replicates where "the interval covers the truth" agrees with
    "the test of H0: beta = truth does not reject at 5%" (BETA = 0 is the null change_model
    tests): 1 when the interval is the inversion of the test, as it must be for every method.
    """
    rows = rows.assign(inverts=rows["covered"] == (rows["p_value"] > 0.05))
    g = rows.groupby(["design", "method"], sort=False)
    out = g.agg(reps=("covered", "size"), coverage=("covered", "mean"),
                mean_length=("length", "mean"), median_df=("df", "median"),
                inverts=("inverts", "mean"))
    out.insert(2, "mc_se", np.sqrt(out["coverage"] * (1 - out["coverage"]) / out["reps"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--quick", action="store_true", help="400 replicates")
    args = parser.parse_args()
    n_reps = 400 if args.quick else args.reps
    t0 = time.perf_counter()
    rows = run(n_reps, workers=args.workers)
    elapsed = time.perf_counter() - t0
    table = summarise(rows)
    print(f"Coverage of nominal 95% intervals, 10 pilots (sizes {SIZES.tolist()}), "
          f"first differences clustered by pilot, truth beta = {BETA}.")
    print(f"{n_reps} replicates per design for cr1/cr2/cr3; wild (Rademacher, 1,024 sign "
          f"vectors enumerated, CI by test inversion) on every {WILD_EVERY}th replicate.")
    with pd.option_context("display.width", 120, "display.float_format", "{:.4f}".format):
        print(table)
    print(f"\nelapsed {elapsed:.1f} s with {args.workers} worker(s); "
          f"{len(rows)} fits ({1e3 * elapsed * args.workers / len(rows):.1f} ms per fit).")


if __name__ == "__main__":
    main()
