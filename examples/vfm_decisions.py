"""From posterior draws to a decision: a multilevel model's pilot predictions in a CEAC and EVPPI
==============================================================================================

The multilevel model measures how uncertain each pilot's outcome is; this script carries that
uncertainty into the value-for-money decision instead of dropping it at a point estimate. A
Bayesian logit of re-referral by Time 2 with pilot effects (``sosstats.multilevel``) gives
posterior draws of every pilot's predicted probability of re-referral; averaged over the pilots
of each experience group they are draws of each option's effect. Costs (workers' hours per
family, the cost of an hour, the cost of a re-referral) are drawn from distributions, joint
with the posterior draw by draw. ``cea(draws=...)`` turns the joint draws into the
cost-effectiveness acceptability curve and EVPI; ``evppi`` says which uncertainty is worth
resolving: the pilots' outcomes, the hours, or the price of an hour.

The data are simulated (``simulate_evaluation``); every money input is ILLUSTRATIVE, and the
experience groups are not randomised options (see docs/vfm.md). Run:
``python examples/vfm_decisions.py``; figures go to ``$SOSSTATS_EXAMPLE_OUT`` (default: here).
"""  # noqa: D205, D400

from __future__ import annotations

import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import arviz as az  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.special import expit  # noqa: E402

from sosstats.datasets import simulate_evaluation  # noqa: E402
from sosstats.errors import SosstatsWarning  # noqa: E402
from sosstats.multilevel import MultilevelModel  # noqa: E402
from sosstats.vfm import cea, evppi, gamma_cost  # noqa: E402

OUT = Path(os.environ.get("SOSSTATS_EXAMPLE_OUT", "."))
OUT.mkdir(parents=True, exist_ok=True)
OPTIONS = ["new", "2 years", "2 years plus"]


def banner(text: str) -> None:
    """Print a section heading."""
    print(f"\n{'=' * 78}\n{text}\n{'=' * 78}")


# -- 1. the multilevel model: re-referral with pilot effects ------------------------------------
banner("1. Re-referral by Time 2: Bayesian logit with pilot effects (2 chains x 500 draws)")
ev = simulate_evaluation(rng=1)
families = ev.families.assign(experience=lambda d: d["experience"].astype(str))
model = MultilevelModel("rereferred_t2 ~ C(experience)", families, levels=["la_code"],
                        family="bernoulli")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", SosstatsWarning)
    fit = model.fit(draws=500, tune=500, chains=2, rng=3, progress=False)
for w in caught:
    print(f"[diagnostics] {w.message}")
print(fit.summary())

# each pilot's predicted probability of re-referral, per posterior draw (chain, draw, pilot):
# intercept + its experience group's coefficient + its own pilot effect
post = fit.idata.posterior
beta = post["beta"]
pilots = ev.pilots.set_index("la_code").loc[post["la_code"].values, "experience"].astype(str)
eta = beta.sel(term="Intercept") + post["u_la_code"]
for exp in OPTIONS:
    term = f"C(experience)[T.{exp}]"
    if term in beta["term"].values:
        in_group = post["la_code"].isin(list(pilots.index[pilots == exp])).astype(float)
        eta = eta + beta.sel(term=term) * in_group
p_reref = expit(eta)                                     # DataArray (chain, draw, la_code)
print("\nPosterior mean P(re-referred) by pilot:")
print(p_reref.mean(("chain", "draw")).to_series().rename(index=dict(
    zip(ev.pilots["la_code"], ev.pilots["la_name"]))).round(3).to_string())

# -- 2. draws of each option's effect and cost ---------------------------------------------------
banner("2. Joint draws of cost and effect per option (families weigh each pilot)")
n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
S = n_chain * n_draw
size = families.groupby("la_code").size()
effect = np.empty((S, len(OPTIONS)))
for j, exp in enumerate(OPTIONS):
    codes = pilots.index[pilots == exp]
    w = size.loc[codes].to_numpy() / size.loc[codes].sum()
    p = p_reref.sel(la_code=list(codes)).to_numpy().reshape(S, -1)
    effect[:, j] = 1.0 - p @ w                           # P(not re-referred), family-weighted
rng = np.random.default_rng(12)
hour = gamma_cost(45.0, 5.0).draws(S, rng)               # ILLUSTRATIVE cost of a worker hour
hours = {"new": gamma_cost(55.0, 6.0), "2 years": gamma_cost(50.0, 5.0),   # ILLUSTRATIVE
         "2 years plus": gamma_cost(48.0, 5.0)}
hours = np.column_stack([hours[o].draws(S, rng) for o in OPTIONS])
training = np.array([400.0, 150.0, 50.0])                # per family, ILLUSTRATIVE
cost = hours * hour[:, None] + training + 2_500.0 * (1.0 - effect)   # re-referral £2,500
draws = az.from_dict(posterior={"cost": cost.reshape(n_chain, n_draw, -1),
                                "effect": effect.reshape(n_chain, n_draw, -1)},
                     coords={"option": OPTIONS},
                     dims={"cost": ["option"], "effect": ["option"]})
wtp = np.linspace(0, 20_000, 81)                         # £ per re-referral avoided
res = cea(draws=draws, reference="new", wtp=wtp)
print(res.summary())
print("\nProbability each option has the highest net benefit:")
print(res.ceac.loc[[0.0, 2_500.0, 5_000.0, 10_000.0, 20_000.0]].round(3).to_string())
print("\nFrontier (CEAF) at selected thresholds:")
print(res.ceaf.loc[[0.0, 5_000.0, 20_000.0]].round(3).to_string())

# -- 3. which uncertainty is worth resolving? ---------------------------------------------------
banner("3. EVPPI: the value of learning each group of parameters (per family)")
params = pd.DataFrame(effect, columns=[f"effect[{o}]" for o in OPTIONS])
params[[f"hours[{o}]" for o in OPTIONS]] = hours
params["hour_cost"] = hour
params["sigma_la_code"] = post["sigma_la_code"].to_numpy().ravel()
value = evppi(res, params, groups={
    "pilot outcomes (posterior)": [f"effect[{o}]" for o in OPTIONS],
    "hours per family": [f"hours[{o}]" for o in OPTIONS],
    "cost of an hour": "hour_cost",
    "between-pilot SD": "sigma_la_code"})
table = value.evppi.loc[[2_500.0, 5_000.0, 10_000.0, 20_000.0]].assign(EVPI=value.evpi)
print(table.round(1).to_string())
print("\n" + "\n".join(value.summary().notes[1:2]))

# -- figures -------------------------------------------------------------------------------------
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
res.plot(kind="ceac", ax=axes[0])
value.plot(ax=axes[1])
fig.tight_layout()
fig.savefig(OUT / "vfm_decisions.png", dpi=100)
plt.close(fig)
print(f"\nFigure: {OUT / 'vfm_decisions.png'} (CEAC with its frontier; EVPPI by group)")
