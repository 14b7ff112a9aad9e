"""Signs of Safety pilots against their statistical nearest neighbours, on real DfE data
=====================================================================================

An evaluator's analysis end to end:

1. recompute the evaluation's published 2015/16 pilots-vs-neighbours table;
2. compare the ten pilots with their DfE statistical neighbours on the children-in-need rates of
   2015/16, with randomization inference and multiplicity adjustment, and draw a forest plot;
3. put the pilots' ICPC rates on a funnel plot against the England rate;
4. check how close a neighbour model fitted on public context measures comes to DfE's lists;
5. follow the pilots over 2013-2019 against their neighbours (difference in differences and an
   event study) and against synthetic controls.

Run: ``python examples/neighbours.py``; figures are written to ``$SOSSTATS_EXAMPLE_OUT`` (default:
the current folder).
"""  # noqa: D205, D400

from __future__ import annotations

import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from sosstats.datasets import (  # noqa: E402
    load_la_indicators,
    load_statistical_neighbours,
    signs_of_safety_pilots,
)
from sosstats.errors import SosstatsWarning  # noqa: E402
from sosstats.neighbours import (  # noqa: E402
    StatisticalNeighbours,
    compare,
    funnel_plot,
    neighbour_did,
    reproduce_2016,
    synthetic_control,
)
from sosstats.neighbours.reproduce import LAIT_CONTEXT  # noqa: E402

OUT = Path(os.environ.get("SOSSTATS_EXAMPLE_OUT", "."))
print(f"figures go to {OUT.resolve()} (set SOSSTATS_EXAMPLE_OUT to change)\n")


def save(name: str) -> None:
    """Write the current figure to OUT and say where it went."""
    path = OUT / name
    plt.savefig(path, dpi=120, bbox_inches="tight")
    plt.close()
    print(f"figure written: {path.resolve()}")


pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 12)
# Several pilots have fewer than ten DfE neighbours once the other pilots (and LAs created after
# 2016) are left out; sosstats warns each time. Show each message once.
warnings.simplefilter("once", SosstatsWarning)

pilots = signs_of_safety_pilots()
codes = pilots["la_code"].tolist()

# 1. The published table, recomputed --------------------------------------------------------
print(reproduce_2016(n_draws=5_000, rng=2017).report())

# 2. Pilots vs DfE statistical neighbours (2021 model) on every CIN rate of 2015/16 --------------
data = load_la_indicators(years=2016)
rates = ["referrals_rate_per_10k", "s47_rate_per_10k", "icpc_rate_per_10k",
         "cpp_started_rate_per_10k", "cpp_at_31_march_rate_per_10k",
         "cin_at_31_march_rate_per_10k", "s47_to_icpc_median_wd", "rereferrals_within_12m_pct"]
dfe_2021 = load_statistical_neighbours(model="2021")
result = compare(data, codes, dfe_2021, indicator=rates, n_draws=10_000, adjust="holm", rng=1)
print()
print(result.summary())
if len(result.dropped):
    print(f"\n{len(result.dropped)} missing or suppressed cells were left out:")
    print(result.dropped.head(10).to_string(index=False))
result.plot("icpc_rate_per_10k")
save("neighbours_forest_icpc.png")
plt.close("all")

# 3. Funnel plot: ICPC rates of all LAs against the England rate --------------------------------
wide = load_la_indicators(indicators=["icpc", "child_population_0_17"], years=2016, wide=True)
wide = wide.dropna(subset=["icpc", "child_population_0_17"])
england = 1e4 * wide["icpc"].sum() / wide["child_population_0_17"].sum()
print(f"\nEngland ICPC rate 2015/16 (sum of LAs): {england:.1f} per 10,000 children")
funnel_plot(wide, count="icpc", population="child_population_0_17", label="la_name",
            target=england, highlight=pilots["la_name"].tolist())
save("neighbours_funnel_icpc.png")
plt.close("all")

# 4. A neighbour model fitted on public context measures, against DfE's 2021 list --------------
context = load_la_indicators(indicators=list(LAIT_CONTEXT), years=2019, wide=True)
context = context.dropna(subset=list(LAIT_CONTEXT))
fitted = StatisticalNeighbours(list(LAIT_CONTEXT), k=10).fit(context)
recovery = fitted.recovery(dfe_2021)
print("\nFitted on LAIT context (2019) vs DfE's 2021 neighbours:")
print(recovery.totals.round(3).to_string())
wakefield = "E08000036"
print("\nWakefield's fitted neighbours:")
print(fitted.neighbours_of(wakefield).round(3).to_string(index=False))

# 5. Over years: difference in differences and synthetic control -------------------------------
# The pilots' start dates are not in the published summary; as an assumption we take the
# Innovation Programme's first year, 2014/15 (year 2015), for all ten. The data begin in 2012/13,
# so there are two pre-period years.
panel = load_la_indicators(indicators=["icpc_rate_per_10k"], years=range(2013, 2020))
did = neighbour_did(panel, codes, dfe_2021, indicator="icpc_rate_per_10k", start_year=2015)
print()
print(did.summary())
did.plot()
save("neighbours_event_study_icpc.png")
plt.close("all")

sc = synthetic_control(panel, codes, indicator="icpc_rate_per_10k", start_year=2015, rng=3)
print()
print(sc.summary())
sc.plot()
save("neighbours_synthetic_icpc.png")
plt.close("all")
print(f"\nall figures written to {OUT.resolve()}")
