"""Designing the next evaluation: size and power of the 2017 study's design, by simulation
=======================================================================================

The 2017 Signs of Safety evaluation compared family outcomes between experience groups of ten
pilot LAs. Before running the next one, a methodologist asks: with ten pilots (or twenty), 270
families and about 30% attrition, do our tests hold their size, and what difference in the
T1 to T2 change in SDQ between the "2 years plus" and the "new" pilots could we detect? This
script answers with sosstats.design:

1. the design: ``study_2017`` (pilots in three experience groups, two cohorts, families seen by
   one to three workers, attrition missing at random), its truth and one simulated data set;
2. size with ten pilots: CR1, CR2 and the wild cluster bootstrap on the SAME replicates under
   a true null of no experience effect (rejection rate of a 5% test, with Monte Carlo SEs);
3. power of the CR2 test of "2 years plus" vs "new" with 10 and 20 pilots over a grid of
   effects, and the minimum detectable effect (80% power) of each, with its uncertainty.

Run: ``python examples/design.py`` (20 to 50 s on two shared cores). It writes
``design_size.png`` and ``design_power.png`` to ``$SOSSTATS_EXAMPLE_OUT`` (default: the current
folder) and prints their paths.
"""  # noqa: D205, D400

from __future__ import annotations

import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sosstats.design.designs import study_2017  # noqa: E402
from sosstats.design.power import combine_estimators, power_curve  # noqa: E402

OUT = Path(os.environ.get("SOSSTATS_EXAMPLE_OUT", "."))
OUT.mkdir(parents=True, exist_ok=True)
pd.set_option("display.width", 150)
pd.set_option("display.max_columns", 14)
TERM = "C(experience)[T.2 years plus]"
t0 = time.perf_counter()

# 1. the design ------------------------------------------------------------------------------
# structure="fixed": the LAs, workers and families are drawn once (seed 2017) and each
# replicate redraws the outcome, the pilot and worker effects and attrition: power given this
# study's cluster sizes, about ten times faster than redrawing everything
design = study_2017(n_pilots=10, families_per_pilot=27, icc=0.05, attrition=0.3,
                    structure="fixed")
print(design)
print("truth:", design.truth)
data = design.simulate(1)
fam = data[data["wave"] == 2]
print(f"{fam['family_id'].nunique()} families in {fam['la_code'].nunique()} pilots, "
      f"{int(fam['responded'].sum())} re-interviewed at T2; families per pilot "
      f"{fam.groupby('la_code', observed=True).size().min()} to "
      f"{fam.groupby('la_code', observed=True).size().max()}")
print(design.estimator("cr2")(data).tidy()[["term", "estimate", "std_error", "df",
                                             "p_value"]].round(3).to_string(index=False))

# 2. size of CR1, CR2 and wild with ten pilots, same replicates ------------------------------
methods = {"CR1": design.estimator("cr1"), "CR2": design.estimator("cr2"),
           "wild": design.estimator("wild")}
size = power_curve(study_2017, combine_estimators(methods),
                   {"n_pilots": [10], "effect": [0.0], "structure": ["fixed"]}, 200,
                   term=TERM, rng=20170)
size_tab = size.tidy()[["method", "power", "power_mcse", "coverage", "mean_std_error",
                        "empirical_sd"]].rename(columns={"power": "size",
                                                         "power_mcse": "size_mcse"})
print(f"\nSize of the 5% test of '{TERM}' with 10 pilots (true effect 0), 200 replicates:")
print(size_tab.round(3).to_string(index=False))

fig, ax = plt.subplots(figsize=(5, 3.2))
ax.errorbar(size_tab["method"], size_tab["size"], yerr=1.96 * size_tab["size_mcse"],
            fmt="o", capsize=4)
ax.axhline(0.05, color="grey", ls=":", label="nominal 5%")
ax.set_ylabel("rejection rate under the null")
ax.set_title("Size with ten pilots (95% MC intervals)", fontsize=10)
ax.legend(fontsize=8)
fig.tight_layout()
path = OUT / "design_size.png"
fig.savefig(path, dpi=120)
print(f"figure written: {path.resolve()}")

# 3. power and MDE of CR2 with 10 and 20 pilots ----------------------------------------------
grid = {"effect": [-2.0, -4.0, -6.0], "n_pilots": [10, 20], "structure": ["fixed"]}
curve = power_curve(study_2017, methods["CR2"], grid, 100, term=TERM,
                    rng=20171)
print(f"\nPower of CR2 for '{TERM}' (100 replicates per point):")
print(curve.tidy()[["effect", "n_pilots", "power", "power_mcse", "coverage",
                    "mean_std_error"]].round(3).to_string(index=False))
mde = curve.minimum_detectable_effect(0.8).tidy()
print("\nMinimum detectable effect at 80% power (SDQ points of change):")
print(mde[["n_pilots", "mde", "mde_mcse", "mde_lower", "mde_upper", "note"]].round(2)
      .to_string(index=False))

ax = curve.plot("effect", target=0.8)
ax.set_title("Power of CR2, 2 years plus vs new", fontsize=10)
ax.invert_xaxis()
path = OUT / "design_power.png"
ax.figure.tight_layout()
ax.figure.savefig(path, dpi=120)
print(f"figure written: {path.resolve()}")
print(f"\n{size.results[0].n_replicates + 6 * 100} replicates in "
      f"{time.perf_counter() - t0:.0f} s; per replicate "
      f"{1e3 * np.mean([r.timing['per_replicate_s'] for r in curve.results]):.0f} ms (CR2) "
      f"and {1e3 * size.results[0].timing['per_replicate_s']:.0f} ms (all three methods)")
