"""Coverage of 95% intervals for a proportion with ten pilots: design-based vs naive binomial.

Monte Carlo study for ``sosstats.survey.SurveyDesign.proportion``: 165 respondents in ten
pilots of the study's unequal sizes (as the social workers' survey: 6 to 35 a pilot), a binary
item with a pilot random effect on the logit scale (``N(0, sd^2)``, ``sd`` 0.5: intra-pilot
correlation about 0.06), at true population proportions near 2%, 8%, 42% and 76% (the study's
"not at all" for safety planning, family network meetings "all families", safety planning
"all families" and SoS-aligned supervision). The truth of a replicate is the population
proportion implied by the random-effect distribution (the mean of ``expit(mu + sd z)`` over
``z ~ N(0, 1)``, by Gauss-Hermite quadrature), so the estimand is the population share, not the
sample's.

Methods (each a 95% interval for the proportion of 1s):

* ``naive wilson``: the Wilson score interval on n = 165 (every respondent independent);
* ``design logit``, ``design wilson``, ``design beta``: ``design.proportion(..., method=)``
  with ``SurveyDesign(data, cluster="pilot")`` (Taylor linearisation, df = 9; Korn-Graubard
  "beta" with the design-effect-adjusted effective n).

Run ``python benchmarks/survey_coverage.py`` (``--reps N``, default 1,000; about a minute on 2
cores). Prints coverage with its Monte Carlo standard error ``sqrt(c (1 - c) / R)``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import special, stats

from sosstats.survey import SurveyDesign

SIZES = np.array([6, 9, 11, 13, 14, 16, 18, 20, 23, 35])        # 165 respondents
SD = 0.5
TARGETS = (0.02, 0.08, 0.42, 0.76)


def population_share(mu: float, sd: float) -> float:
    """Mean of expit(mu + sd z), z ~ N(0, 1), by 60-point Gauss-Hermite quadrature."""
    x, w = np.polynomial.hermite_e.hermegauss(60)
    return float(np.sum(w * special.expit(mu + sd * x)) / np.sum(w))


def location_for(target: float, sd: float) -> float:
    """Return the logit-scale mean whose population share is ``target``."""
    from scipy.optimize import brentq

    return brentq(lambda m: population_share(m, sd) - target, -15, 15)


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    z = stats.norm.ppf(0.5 + level / 2)
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return mid - half, mid + half


def replicate(rng: np.random.Generator, mu: float, truth: float) -> dict[str, bool]:
    pilot = np.repeat(np.arange(SIZES.size), SIZES)
    effect = rng.normal(0.0, SD, SIZES.size)
    y = rng.random(pilot.size) < special.expit(mu + effect[pilot])
    out = {}
    lo, hi = wilson(int(y.sum()), y.size)
    out["naive wilson"] = lo <= truth <= hi
    design = SurveyDesign(pd.DataFrame({"pilot": pilot, "y": y}), cluster="pilot")
    for method in ("logit", "wilson", "beta"):
        tidy = design.proportion("y", method=method).tidy().set_index("term")
        if "y=True" not in tidy.index:                 # no 1s at all: the interval of 0%
            row = tidy.loc["y=False"]
            lo, hi = 1 - row["ci_upper"], 1 - row["ci_lower"]
        else:
            row = tidy.loc["y=True"]
            lo, hi = row["ci_lower"], row["ci_upper"]
        out[f"design {method}"] = bool(np.nan_to_num(lo, nan=np.inf) <= truth
                                       <= np.nan_to_num(hi, nan=-np.inf))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2017)
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"{SIZES.sum()} respondents in {SIZES.size} pilots (sizes {SIZES.min()}-"
          f"{SIZES.max()}), pilot SD {SD} on the logit scale, {args.reps} replicates, "
          "nominal 95%")
    rows = []
    for j, target in enumerate(TARGETS):
        mu = location_for(target, SD)
        rng = np.random.default_rng([args.seed, j])
        hits = pd.DataFrame([replicate(rng, mu, target) for _ in range(args.reps)])
        c = hits.mean()
        rows.append({"true %": 100 * target,
                     **{k: f"{100 * v:.1f} ({100 * np.sqrt(v * (1 - v) / args.reps):.1f})"
                        for k, v in c.items()}})
    print(pd.DataFrame(rows).to_string(index=False))
    print("coverage % (Monte Carlo SE); "
          f"{time.perf_counter() - start:.0f} s on this machine")


if __name__ == "__main__":
    main()
