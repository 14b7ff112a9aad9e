"""Attrition: making the families re-interviewed at Time 2 stand for all 270 seen at Time 1
========================================================================================

The Signs of Safety evaluation interviewed 270 families at Time 1 and fewer at Time 2. If the
families who dropped out differ from those who stayed, naive Time 2 figures and T1 -> T2 changes
are biased. This script runs the attrition analysis an evaluator would, on a simulated evaluation
with the study's shape and a known truth (the real family data are not public):

1. who dropped out: response rates by experience group, pilot and previous referral; tests of
   each Time 1 covariate by response status;
2. weights: a logit response-propensity model on the covariates flagged in step 1, compared with
   entropy balancing and raking; balance diagnostics and a love plot; trimming to a maximum
   design effect;
3. weighted Time 2 means and proportions, with linearised standard errors (weights treated as
   fixed) beside replicate standard errors (the whole weighting re-run on every bootstrap
   resample of the ten pilots);
4. did weighting change the estimate: the weighted minus the unweighted mean, with its SE;
5. the replicate SE of the first-difference change model of ``sosstats.panel``;
6. if the missing data are not at random: Manski bounds for shared understanding, Lee bounds for
   the SDQ gap between new and experienced pilots, and a tipping-point analysis of the mean SDQ
   change;
7. multiple imputation as the alternative, and a last table of complete-case, weighted and
   imputed estimates against the simulator's truth for all 270 families.

Run: ``python examples/weighting.py``; figures go to ``$SOSSTATS_EXAMPLE_OUT`` (default: here).
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
from sosstats.panel import change_model, wide_to_long  # noqa: E402
from sosstats.weighting import (  # noqa: E402
    attrition_weights,
    impute_chained,
    lee_bounds,
    manski_bounds,
    mi_change_model,
    nonresponse_tests,
    pool,
    replicate_weights,
    response_rates,
    tipping_point,
    weighted_mean,
    weighted_proportion,
    weighting_effect,
)

OUT = Path(os.environ.get("SOSSTATS_EXAMPLE_OUT", "."))
pd.set_option("display.width", 150)
pd.set_option("display.max_columns", 12)
warnings.simplefilter("once", SosstatsWarning)


def heading(text: str) -> None:
    print(f"\n{'=' * 8} {text} {'=' * max(4, 90 - len(text))}")


def save(name: str) -> None:
    plt.savefig(OUT / name, dpi=120, bbox_inches="tight")
    plt.close("all")


ev = simulate_evaluation(rng=2017)
families = ev.families
truth = ev.truth["families"]["t2_all_means"]   # T2 means over all 270, respondents or not
# working columns: the SDQ change, a two-group experience split, "fewer concerns" as 0/1
fam = families.assign(
    sdq_change=families["sdq_t2"] - families["sdq_t1"],
    experienced=np.where(families["experience"] == "new", "new", "2 years or more"),
    concerns_fewer=(families["concerns_t2"] == "fewer").astype(float)
    .where(families["responded_t2"]),
)
n, n_r = len(fam), int(fam["responded_t2"].sum())
print(f"{n} families at T1, {n_r} re-interviewed at T2 ({n_r / n:.1%}); "
      f"{fam['la_code'].nunique()} pilots")

# 1. who dropped out ---------------------------------------------------------------------------
heading("1. Who dropped out? Response rates by group (95% Wilson intervals)")
rates = response_rates(fam, "responded_t2",
                       by=["experience", "la_code", "previous_referral", "agency_worker"])
print(rates.summary())

heading("1b. Respondents vs non-respondents on Time 1 covariates")
t1_covariates = ["previous_referral", "agency_worker", "referral_reason", "sdq_t1",
                 "shared_understanding_t1", "knows_goals_t1", "feelings_t1"]
nr = nonresponse_tests(fam, "responded_t2", t1_covariates)
largest_smd = nr.table.assign(abs_smd=nr.table["smd"].abs()).groupby(
    "covariate", sort=False)["abs_smd"].max()
print(nr.tests.set_index("covariate").assign(max_abs_smd=largest_smd)
      [["test", "statistic", "p_value", "p_holm", "max_abs_smd"]].round(3).to_string())
o = nr.overall
print(f"whole response model: LR chi2({o['df']:.0f}) = {o['statistic']:.2f}, "
      f"p = {o['p_value']:.3f}, McFadden R2 = {o['pseudo_r2']:.3f}")
# a weighting model screens liberally (unadjusted p < 0.10): missing a predictor of response
# costs bias, an extra one only a little variance
model_covs = nr.tests.loc[nr.tests["p_value"] < 0.10, "covariate"].tolist()
print(f"flagged after Holm (p < 0.05): {nr.flagged()}; used for weighting (p < 0.10): "
      f"{model_covs}")
fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), layout="constrained")
rates.plot(ax=axes[0])
nr.plot(ax=axes[1])
save("weighting_nonresponse.png")

# 2. weights -----------------------------------------------------------------------------------
heading("2. Attrition weights: logit propensity vs entropy balancing vs raking")
formula = "responded_t2 ~ " + " + ".join(model_covs)
logit = attrition_weights(fam, formula=formula, method="logit")
entropy = attrition_weights(fam, responded="responded_t2", covariates=model_covs,
                            method="entropy")
# raking needs categories: SDQ at T1 in quartile bands, the others are already categorical
fam["sdq_t1_band"] = pd.qcut(fam["sdq_t1"], 4, labels=["Q1", "Q2", "Q3", "Q4"])
rake_covs = [c if c != "sdq_t1" else "sdq_t1_band" for c in model_covs]
rake = attrition_weights(fam, responded="responded_t2", covariates=rake_covs, method="rake")
trimmed = attrition_weights(fam, formula=formula, method="logit", max_deff=1.02)
methods = {"logit": logit, "entropy": entropy, "rake": rake, "logit, deff <= 1.02": trimmed}
rows = {}
for name, aw in methods.items():
    d = aw.diagnostics()
    rows[name] = {"ess": d.attrs["ess"], "deff": d.attrs["design_effect"],
                  "w_min": d.attrs["weight_min"], "w_max": d.attrs["weight_max"],
                  "max|smd| before": d["smd_unweighted"].abs().max(),
                  "max|smd| after": d["smd_weighted"].abs().max(),
                  "sdq_t2 mean": weighted_mean(fam, "sdq_t2", weights=aw).params.iloc[0]}
print(pd.DataFrame(rows).T.round(3).to_string())
print(f"unweighted respondents' SDQ at T2: {fam['sdq_t2'].mean():.3f}; "
      f"truth (all {n} families): {truth['sdq']:.3f}")
print("\nlogit weights, balance against the full T1 sample:")
print(logit.diagnostics().round(3).to_string())
fig, axes = plt.subplots(1, 3, figsize=(16, 3.4), layout="constrained")
for ax, (name, aw) in zip(axes, list(methods.items())[:3]):
    aw.plot(ax=ax)
save("weighting_love_plot.png")

# 3. weighted T2 estimates, linearised vs replicate SEs ----------------------------------------
heading("3. Weighted T2 estimates: linearised SE (fixed weights) vs replicate SE")
reps = replicate_weights(fam, formula=formula, method="logit", cluster="la_code",
                         n_replicates=200, rng=2017)
print(f"{reps.n_replicates} Rao-Wu bootstrap replicates of the {reps.n_clusters} pilots, "
      f"logit weights re-estimated in each ({reps.n_redrawn} resamples redrawn)")
means = ["sdq_t2", "feelings_t2"]
props = ["shared_understanding_t2", "knows_goals_t2", "concerns_fewer"]
parts = []
for fn, cols in ((weighted_mean, means), (weighted_proportion, props)):
    fixed = fn(fam, cols, weights=logit, cluster="la_code").tidy().set_index("term")
    rep = fn(fam, cols, weights=reps).tidy().set_index("term")
    plain = fn(fam, cols, cluster="la_code").tidy().set_index("term")
    parts.append(pd.DataFrame({"unweighted": plain["estimate"], "weighted": fixed["estimate"],
                               "se_linearised": fixed["std_error"],
                               "se_replicate": rep["std_error"], "ci_lower": rep["ci_lower"],
                               "ci_upper": rep["ci_upper"]}))
print(pd.concat(parts).round(3).to_string())
print("(linearised: clustered by pilot, weights fixed; CIs from the replicate SE, t with 9 df, "
      "on the logit scale for proportions)")
shared = weighted_proportion(fam, "shared_understanding_t2", weights=reps, by="experience")
print("\nshared understanding at T2 by experience group (replicate SEs):")
print(shared.tidy()[["group", "estimate", "std_error", "ci_lower", "ci_upper", "n"]]
      .round(3).to_string(index=False))

# 4. did weighting change the answer -----------------------------------------------------------
heading("4. Did weighting change the estimate? weighted - unweighted mean")
for label, kwargs in (("linearised, fixed weights", {"weights": logit, "cluster": "la_code"}),
                      ("replicate, weights re-estimated", {"weights": reps})):
    for outcome in ("sdq_t2", "feelings_t2"):
        eff = weighting_effect(fam, outcome, **kwargs)
        row = eff.tidy().set_index("term").loc["difference"]
        print(f"{outcome:12s} {label:32s} difference {row['estimate']:+.3f} "
              f"(SE {row['std_error']:.3f}, p = {row['p_value']:.4f})")

# 5. replicate SE of the change model ----------------------------------------------------------
heading("5. Change in SDQ (first differences) with attrition weights")
long = wide_to_long(fam[fam["responded_t2"]].assign(w=logit.weights), id="family_id",
                    stubs=["sdq"], time="wave")
change_formula = "sdq ~ C(cohort)"   # family-level terms: a pilot resample keeps both cohorts


def fd_params(weights: pd.Series) -> pd.Series:
    """First-difference coefficients with one set of (replicate) weights."""
    by_family = weights.set_axis(fam["family_id"])
    lw = long.assign(w=long["family_id"].map(by_family))
    return change_model(change_formula, lw, entity="family_id", time="wave",
                        weights="w").params


replicated = reps.apply(fd_params)
cr2 = change_model(change_formula, long, entity="family_id", time="wave", weights="w",
                   cluster="la_code", inference="cr2").tidy().set_index("term")
plain_fd = change_model(change_formula, long, entity="family_id", time="wave",
                        cluster="la_code", inference="cr2").tidy().set_index("term")
print(pd.DataFrame({"unweighted": plain_fd["estimate"], "weighted": cr2["estimate"],
                    "se_cr2_fixed_w": cr2["std_error"],
                    "se_replicate": replicated["std_error"],
                    "replicate_ci_lower": replicated["ci_lower"],
                    "replicate_ci_upper": replicated["ci_upper"]}).round(3).to_string())

# 6. sensitivity to data missing not at random -------------------------------------------------
heading("6. If dropout is not at random: bounds and a tipping point")
manski = manski_bounds(fam, "shared_understanding_t2", "responded_t2", group="cohort")
print("Manski bounds, share with a shared understanding at T2 (missing set to 0 / 1):")
print(manski.table[["response_rate", "observed_mean", "lower", "upper", "ci_lower",
                    "ci_upper"]].round(3).to_string())
lee = lee_bounds(fam, "sdq_t2", "experienced", "responded_t2", reference="new")
row = lee.table.loc["difference"]
print(f"\nLee bounds, SDQ at T2, {lee.groups[1]} - {lee.groups[0]} pilots (response "
      f"{lee.response_rates.iloc[1]:.3f} vs {lee.response_rates.iloc[0]:.3f}; "
      f"{lee.trimming_share:.1%} of '{lee.trimmed_group}' respondents trimmed):")
print(f"  naive {row['naive']:.2f} (SE {row['se_naive']:.2f}); bounds [{row['lower']:.2f}, "
      f"{row['upper']:.2f}]; 95% Imbens-Manski CI [{row['ci_lower']:.2f}, "
      f"{row['ci_upper']:.2f}]")
tip = tipping_point(fam, "sdq_change", "responded_t2", weights=logit, cluster="la_code")
print("\nTipping point: shift the non-respondents' SDQ change by delta (positive = worse "
      "than MAR predicts)")
grid = tip.at([0.0, 1.0, 2.0, 3.0, tip.tipping_point])
print(grid.round(3).to_string(index=False))
print(f"at MAR the mean change is {tip.mar['estimate']:.2f} "
      f"[{tip.mar['ci_lower']:.2f}, {tip.mar['ci_upper']:.2f}]; the improvement stops being "
      f"significant only if the missing families fared {tip.tipping_point:.2f} SDQ points "
      f"worse than MAR predicts (and vanishes at {tip.estimate_tipping_point:.2f})")
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
manski.plot(ax=axes[0])
tip.plot(ax=axes[1])
save("weighting_sensitivity.png")

# 7. multiple imputation -----------------------------------------------------------------------
heading("7. Multiple imputation by chained equations (m = 20)")
t2_outcomes = ["sdq_t2", "shared_understanding_t2", "knows_goals_t2", "feelings_t2",
               "concerns_fewer"]
imp = impute_chained(fam, t2_outcomes,
                     predictors=["sdq_t1", "shared_understanding_t1", "knows_goals_t1",
                                 "feelings_t1", "agency_worker", "previous_referral", "cohort",
                                 "experience"],
                     n_imputations=20, rng=2017)
print("imputation models:", imp.methods)
mi_fd = mi_change_model(change_formula, imp, entity="family_id", time="wave", stubs=["sdq"],
                        cluster="la_code", inference="cr2").tidy().set_index("term")
print("\nchange in SDQ, three ways:")
print(pd.DataFrame({
    "complete case": plain_fd["estimate"], "se_cc": plain_fd["std_error"],
    "weighted": cr2["estimate"], "se_w (replicate)": replicated["std_error"],
    "MI": mi_fd["estimate"], "se_mi": mi_fd["std_error"], "fmi": mi_fd["fmi"],
}).round(3).to_string())
imp.plot(["sdq_t2", "shared_understanding_t2"])
save("weighting_imputations.png")

heading("Complete case vs weighted vs imputed, against the truth for all 270 families")
outcomes = t2_outcomes + ["sdq_change"]
mi_means = pool(imp.map(lambda d: weighted_mean(
    d.assign(sdq_change=d["sdq_t2"] - d["sdq_t1"]), outcomes, cluster="la_code")))
truth_row = {f"{k}_t2" if k != "concerns_fewer" else k: v for k, v in truth.items()}
truth_row["sdq_change"] = truth["sdq"] - fam["sdq_t1"].mean()
table = pd.DataFrame({
    "truth": pd.Series(truth_row),
    "complete case": weighted_mean(fam, outcomes).params,
    "weighted (logit)": weighted_mean(fam, outcomes, weights=logit).params,
    "MI": mi_means.params,
}).loc[outcomes]
print(table.round(3).to_string())
errors = table.drop(columns="truth").sub(table["truth"], axis=0)
print("\nerror (estimate - truth):")
print(errors.round(3).to_string())
worst = errors["complete case"].abs().idxmax()
print(f"largest complete-case error: {worst} ({errors.loc[worst, 'complete case']:+.3f}); "
      f"weighting leaves {errors.loc[worst, 'weighted (logit)']:+.3f}, MI "
      f"{errors.loc[worst, 'MI']:+.3f}.")
se_change = weighted_mean(fam, "sdq_change", weights=logit, cluster="la_code").std_errors.iloc[0]
print(f"mean SDQ change: errors {errors.loc['sdq_change'].abs().min():.3f} to "
      f"{errors.loc['sdq_change'].abs().max():.3f} against an SE of {se_change:.3f}: a "
      "within-family change is much less exposed to this attrition than a T2 level.")
print(f"\nfigures written to {OUT.resolve()}")
