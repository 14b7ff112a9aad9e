"""Families in workers in pilots: a Bayesian multilevel analysis of the evaluation's outcomes
==========================================================================================

The 270 families of the Signs of Safety evaluation were seen by social workers in ten pilot
local authorities, and most had more than one worker. This script runs the multilevel
analysis an evaluator would, on a simulated evaluation with the study's shape and a known truth
(the real family data are not public):

1. SDQ at Time 1: random intercepts for pilots and, by multiple membership, for the workers
   each family had (weighted by their share of contact); the default priors, the fixed
   effects, variance components, variance partition coefficients (membership-aware), pilot
   effects against their raw means (shrinkage), a posterior predictive check, diagnostics;
2. what ignoring the changes of worker does: the same model with each family's main worker
   nested in its pilot, compared with the first by PSIS-LOO;
3. re-referral by Time 2 (logit): predicted probabilities for each experience group and cohort;
4. change from Time 1 to Time 2: T1 and T2 as repeated measures within families, with a
   wave-by-cohort interaction;
5. with ten pilots, how much the pilot-level conclusions depend on the priors.

Run: ``python examples/multilevel.py``; figures go to ``$SOSSTATS_EXAMPLE_OUT`` (default:
here). Needs the ``bayes`` extra (PyMC, nutpie, ArviZ).
"""  # noqa: D205, D400

from __future__ import annotations

import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sosstats.datasets import simulate_evaluation  # noqa: E402
from sosstats.errors import SosstatsWarning  # noqa: E402
from sosstats.multilevel import (  # noqa: E402
    MultilevelModel,
    compare_models,
    prior_sensitivity,
)
from sosstats.panel import wide_to_long  # noqa: E402

OUT = Path(os.environ.get("SOSSTATS_EXAMPLE_OUT", "."))
FIT = {"draws": 2000, "tune": 1000, "chains": 4}  # sampling is cheap; compiling is not
pd.set_option("display.width", 120)
pd.set_option("display.max_columns", 12)


def heading(text: str) -> None:
    print(f"\n{'=' * 78}\n{text}\n{'=' * 78}")


def fit(model: MultilevelModel, seed: int, **kwargs):
    """Fit, printing (not raising) any convergence warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SosstatsWarning)
        result = model.fit(rng=seed, **(FIT | kwargs))
    for w in caught:
        if issubclass(w.category, SosstatsWarning):
            print(f"[diagnostics] {w.message}")
    return result


ev = simulate_evaluation(rng=1)
families, memberships = ev.families, ev.memberships
truth = ev.truth["families"]["outcomes"]
several = np.mean(memberships.groupby("family_id").size() > 1)
print(f"{len(families)} families, {memberships.worker_id.nunique()} workers, "
      f"{families.la_code.nunique()} pilots; {several:.0%} of families had more than one worker")

# 1. SDQ at T1 ---------------------------------------------------------------------------------
heading("1. SDQ at Time 1: pilots and workers (multiple membership)")
formula = "sdq_t1 ~ cohort + C(experience) + previous_referral + agency_worker"
sdq = MultilevelModel(formula, families, levels=["la_code", "worker_id"],
                      membership=memberships)
print(sdq.priors)
res = fit(sdq, seed=1)
print(res.summary())
print("\nVariance components (SDs; truth: pilot 0.8, worker 1.0, residual 5.0 = sqrt(4^2 + 3^2)):")
print(res.variance_components()[["sd_mean", "sd_lower", "sd_upper"]].round(2))
print("\nVariance partition coefficients:")
print(res.vpc().round(3))
pilots = res.group_effects("la_code")
pilots["truth"] = pd.Series(truth["sdq"]["pilot_effect"])
print("\nPilot effects (posterior) against raw mean deviations and the truth:")
print(pilots[["n", "raw_effect", "estimate", "lower", "upper", "pooling", "truth"]].round(2))
print("\n" + str(res.ppc("sd")))
print(res.diagnostics())
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
res.plot(kind="caterpillar", level="la_code", ax=axes[0])
res.plot(kind="shrinkage", level="la_code", ax=axes[1])
fig.tight_layout()
fig.savefig(OUT / "multilevel_pilots.png", dpi=100)
plt.close(fig)

# 2. Ignoring the changes of worker ---------------------------------------------------------------
heading("2. Each family's main worker only (membership ignored)")
main = memberships.sort_values("weight").groupby("family_id").tail(1)
with_main = families.merge(main[["family_id", "worker_id"]], on="family_id")
nested = MultilevelModel(formula, with_main, levels=["la_code", "worker_id"])
res_main = fit(nested, seed=2)
side = pd.DataFrame({
    "membership": res.variance_components()["sd_mean"],
    "main worker only": res_main.variance_components()["sd_mean"],
})
print(side.round(2))
print("\nPSIS-LOO comparison (same 270 observations):")
print(compare_models({"multiple membership": res, "main worker": res_main}))

# 3. Re-referral: predicted probabilities ------------------------------------------------------
heading("3. Re-referral by Time 2 (logit): predicted probabilities")
rereferral = MultilevelModel("rereferred_t2 ~ cohort + C(experience) + previous_referral",
                             families, levels=["la_code", "worker_id"],
                             membership=memberships, family="bernoulli")
res_logit = fit(rereferral, seed=3)
print(res_logit.tidy().set_index("term")[["estimate", "std_error", "ci_lower", "ci_upper",
                                          "prob_positive"]].round(3))
print(res_logit.predict_probabilities(["experience", "cohort"]).round(3))

# 4. T1 -> T2 change as repeated measures ------------------------------------------------------
heading("4. SDQ change from Time 1 to Time 2 (repeated measures within families)")
long = wide_to_long(families, id="family_id", stubs=["sdq"]).dropna(subset=["sdq"])
change = MultilevelModel("sdq ~ wave * cohort + C(experience)", long,
                         levels=["la_code", "worker_id"], membership=memberships,
                         repeated="family_id")
res_change = fit(change, seed=4, target_accept=0.95)  # 0.9 left a few divergences
change_table = res_change.tidy().set_index("term")[["estimate", "ci_lower", "ci_upper", "r_hat",
                                                    "ess_bulk"]].round(3)
change_table["ess_bulk"] = change_table["ess_bulk"].map("{:,.0f}".format)  # whole draws
print(change_table)
print(f"truth: T2 - T1 = {truth['sdq']['time_t2']}, family SD {truth['sdq']['sd_family']}, "
      f"residual SD {truth['sdq']['sd_residual']}")
print(res_change.variance_components()[["sd_mean", "sd_lower", "sd_upper"]].round(2))

# 5. Prior sensitivity with ten pilots ------------------------------------------------------------
heading("5. How much do the pilot-level conclusions depend on the priors?")
sens = prior_sensitivity(sdq, scales=(0.5, 1, 2), rng=5, **FIT)
print(sens)
