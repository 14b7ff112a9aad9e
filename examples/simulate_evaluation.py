"""A simulated Signs of Safety evaluation, and the truths a method should recover from it
======================================================================================

Builds one synthetic evaluation with the study's shape (152 LAs, 10 pilots in three experience
groups, 270 families at T1 and about 184 at T2, about 200 workers, 121 diarists), prints what is
in it, then checks two of its truths with the neighbours module: the pilots' effect on ICPC
rates by comparison with fitted statistical neighbours in the last year, and by difference in
differences over all years.

Run: ``python examples/simulate_evaluation.py``; the event-study figure is written to
``$SOSSTATS_EXAMPLE_OUT`` (default: the current folder), and the script prints its path.
"""  # noqa: D205, D400

from __future__ import annotations

import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from sosstats.datasets import COVARIATES, simulate_evaluation  # noqa: E402
from sosstats.errors import SosstatsWarning  # noqa: E402
from sosstats.neighbours import StatisticalNeighbours, compare, neighbour_did  # noqa: E402

OUT = Path(os.environ.get("SOSSTATS_EXAMPLE_OUT", "."))

pd.set_option("display.width", 140)
pd.set_option("display.max_columns", 12)
warnings.simplefilter("once", SosstatsWarning)

ev = simulate_evaluation(rng=2017)
print(ev)
print("\nLAs:", ev.las.shape, "| pilots by experience group:",
      ev.pilots["experience"].value_counts().to_dict())
print("families re-interviewed at T2:", int(ev.families["responded_t2"].sum()), "of",
      len(ev.families))
print("workers per family:", ev.memberships.groupby("family_id").size()
      .value_counts(normalize=True).sort_index().round(2).to_dict())
print("suppressed indicator cells:", int(ev.la_indicators["flag"].notna().sum()))
print("true pilot effects:", ev.truth["pilot_effects"])

# 1. one year: pilots vs their 10 nearest neighbours on the LA covariates ----------------------
pilots = ev.pilots["la_code"].tolist()
fitted = StatisticalNeighbours(list(COVARIATES), k=10, exclude=pilots).fit(ev.las)
last = int(ev.la_indicators["year"].max())
res = compare(ev.la_indicators, pilots, fitted, year=last, indicator="icpc_rate_per_10k",
              n_draws=5_000, rng=1)
row = res.tidy().iloc[0]
truth = ev.truth["pilot_effects"]["icpc_rate_per_10k"]
print(f"\n{last}: ICPC rate, pilots minus neighbours = {row['estimate']:.1f} "
      f"(95% CI {row['ci_lower']:.1f} to {row['ci_upper']:.1f}); truth {truth:.1f}")

# 2. over years: difference in differences with each pilot's own start year ------------------
starts = dict(zip(ev.pilots["la_code"], ev.pilots["sos_start_year"].astype(int)))
did = neighbour_did(ev.la_indicators, pilots, fitted, indicator="icpc_rate_per_10k",
                    start_year=starts)
d = did.tidy().set_index("term").loc["did"]
print(f"difference in differences = {d['estimate']:.1f} "
      f"(95% CI {d['ci_lower']:.1f} to {d['ci_upper']:.1f}); truth {truth:.1f}")
print("\nevent study:")
print(did.event_study.round(2).to_string(index=False))
did.plot()
figure = OUT / "simulate_event_study_icpc.png"
plt.savefig(figure, dpi=120, bbox_inches="tight")
print(f"\nfigure written: {figure.resolve()} (set SOSSTATS_EXAMPLE_OUT to change the folder)")
