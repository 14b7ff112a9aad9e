"""Unit-level matched comparisons: cohort 2 vs cohort 1 families, and 5-day-trained workers
========================================================================================

``sosstats.neighbours`` compares pilot *local authorities* with similar LAs; this script compares
*units*. It runs the analyses an evaluator would, on a simulated evaluation large enough for
matching to have room (4,000 families, 1,500 workers; the real unit data are not public), with
the simulator's known truth to check against:

1. families in cohort 2 against cohort 1 families of the same pilot: a logistic propensity score,
   greedy 1:1 nearest-neighbour matching without replacement, caliper 0.2 SD of the score, exact
   on the pilot LA; the units left unmatched and why; balance table and love plot; the effect on
   SDQ at Time 1 and on re-referral by Time 2 with standard errors clustered by pair, against
   the truth;
2. the same comparison by Mahalanobis distance, optimal pair matching, 1:3 matching with
   replacement (Abadie-Imbens standard error), coarsened exact matching and propensity
   subclassification: one table of estimates;
3. workers with 5-day Signs of Safety training against workers without it, where training
   depends on an engagement the evaluator cannot see: what matching on observed proxies removes,
   and what it leaves (balance on the hidden engagement itself);
4. Rosenbaum bounds: how strong would a hidden bias have to be to explain each result away?

Run: ``python examples/matching.py``. It writes three figures (``matching_love_families.png``,
``matching_love_workers.png``, ``matching_rosenbaum_workers.png``) to the folder named by the
environment variable ``SOSSTATS_EXAMPLE_OUT`` (default: the current directory), creating it if
needed, and prints each file's full path.
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

from sosstats.datasets import simulate_evaluation  # noqa: E402
from sosstats.matching import (  # noqa: E402
    abadie_imbens_se,
    match,
    matched_effect,
    rosenbaum_bounds,
)

OUT = Path(os.environ.get("SOSSTATS_EXAMPLE_OUT", "."))
OUT.mkdir(parents=True, exist_ok=True)
pd.set_option("display.width", 150)
pd.set_option("display.max_columns", 14)
START = time.perf_counter()


def heading(text: str) -> None:
    print(f"\n{'=' * 8} {text} {'=' * max(4, 90 - len(text))}")


def save(name: str) -> None:
    """Write the current figure to ``OUT / name`` and say where."""
    path = OUT / name
    plt.savefig(path, dpi=120, bbox_inches="tight")
    plt.close("all")
    print(f"figure written to {path.resolve()}")


def effect_row(result, se_kind: str, m=None, *, truth: float = np.nan) -> dict:
    """One row of a comparison table: sample sizes, balance, estimate and SE."""
    tab = result.tidy().iloc[0]
    row = {"n_treated": result.n_treated, "n_control": result.n_control}
    if m is not None:
        sizes = m.sample_sizes()
        row.update(n_treated=int(sizes.loc["matched", "treated"]),
                   n_control=int(sizes.loc["matched", "control"]),
                   ess_control=sizes.loc["matched (ESS)", "control"],
                   max_abs_diff=m.balance().table["diff_after"].abs().max())
    row.update(estimate=tab["estimate"], std_error=tab["std_error"], se=se_kind,
               ci_lower=tab["ci_lower"], ci_upper=tab["ci_upper"], truth=truth)
    return row


ev = simulate_evaluation(rng=1, n_families=4000, n_workers=1500)
truth_fam = ev.truth["families"]["outcomes"]
fam = ev.families.assign(cohort2=(ev.families["cohort"] == 2).astype(int))
covs = ["previous_referral", "agency_worker", "referral_reason"]
print(f"{len(fam)} families in {fam['la_code'].nunique()} pilots: "
      f"{fam['cohort2'].sum()} in cohort 2, {(1 - fam['cohort2']).sum()} in cohort 1; "
      f"{len(ev.workers)} workers")


def true_att_rereferral(treated_ids: np.ndarray) -> float:
    """Return the simulator's true effect of cohort 2 on re-referral for these families.

    The mean over the cohort-2 families of P(re-referred) minus the same probability had they
    been in cohort 1, integrating over the family random effect (Gauss-Hermite).
    """
    t = truth_fam["rereferred"]
    f = fam.set_index("family_id").loc[treated_ids]
    mem = ev.memberships[ev.memberships["family_id"].isin(treated_ids)]
    worker = (mem["weight"] * mem["worker_id"].map(t["worker_effect"])).groupby(
        mem["family_id"]).sum().reindex(treated_ids).to_numpy()
    eta = (t["intercept"] + t["cohort_2"]
           + t["experience_2_years"] * (f["experience"] == "2 years").to_numpy()
           + t["experience_2_years_plus"] * (f["experience"] == "2 years plus").to_numpy()
           + t["previous_referral"] * f["previous_referral"].to_numpy()
           + t["agency_worker"] * f["agency_worker"].to_numpy()
           + f["la_code"].astype(str).map(t["pilot_effect"]).to_numpy() + worker)
    nodes, wts = np.polynomial.hermite_e.hermegauss(40)         # family effect ~ N(0, sd^2)
    u = t["sign"] * t["sd_family"] * nodes[None, :]
    p1 = (1 / (1 + np.exp(-(eta[:, None] + u)))) @ wts / wts.sum()
    p0 = (1 / (1 + np.exp(-(eta[:, None] - t["cohort_2"] + u)))) @ wts / wts.sum()
    return float(np.mean(p1 - p0))


# 1. propensity-score matching ------------------------------------------------------------------
heading("1. Cohort 2 vs cohort 1: propensity 1:1, caliper 0.2 SD, exact on pilot")
ps = match(fam, treatment="cohort2", covariates=covs, distance="logit", caliper=0.2,
           exact="la_code")
print(ps.summary())
print("\nwhy units are outside the matched sample:")
print(ps.discarded.groupby(["group", "reason"]).size().to_string())
bal = ps.balance()
print("\nbalance (binary covariates: raw difference in proportions; ATT, treated SD):")
print(bal.table[["mean_treated_before", "mean_control_before", "diff_before",
                 "mean_treated_after", "mean_control_after", "diff_after",
                 "ecdf_max_after"]].round(3).to_string())
fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
ps.plot(ax=ax)
ax.set_title("Cohort 2 vs cohort 1 families: propensity matching")
save("matching_love_families.png")

sdq_truth = truth_fam["sdq"]["cohort_2"]
treated_ids = ps.matched.query("cohort2 == 1")["family_id"].to_numpy()
reref_truth = true_att_rereferral(treated_ids)
print("\neffect of cohort 2 on the matched sample (SE clustered by pair, CR1):")
for outcome, truth in (("sdq_t1", sdq_truth), ("rereferred_t2", reref_truth)):
    res = ps.estimate_effect(outcome)
    adj = ps.estimate_effect(outcome, covariates=covs)
    for label, r in (("difference", res), ("regression-adjusted", adj)):
        t = r.tidy().iloc[0]
        print(f"  {outcome:14s} {label:20s} {t['estimate']:+.3f} (SE {t['std_error']:.3f}; "
              f"95% CI {t['ci_lower']:+.3f} to {t['ci_upper']:+.3f}); truth {truth:+.3f}")
print("  (SDQ truth: the simulator's cohort-2 coefficient; re-referral truth: the mean change "
      "in probability over these treated families, random effects integrated out)")

# 2. alternatives -------------------------------------------------------------------------------
heading("2. The same comparison six ways: SDQ at Time 1")
rows = {"no matching (all families)": effect_row(
    matched_effect(fam, "sdq_t1", "cohort2", cluster=None), "HC3",
    truth=sdq_truth)}
rows["propensity 1:1, caliper, exact pilot"] = effect_row(
    ps.estimate_effect("sdq_t1"), "CR1 pair", ps, truth=sdq_truth)
maha = match(fam, treatment="cohort2", covariates=covs, distance="mahalanobis",
             exact="la_code")
rows["Mahalanobis 1:1, exact pilot"] = effect_row(
    maha.estimate_effect("sdq_t1"), "CR1 pair", maha, truth=sdq_truth)
opt = match(fam, treatment="cohort2", covariates=covs, method="optimal", exact="la_code")
rows["optimal pair (propensity), exact pilot"] = effect_row(
    opt.estimate_effect("sdq_t1"), "CR1 pair", opt, truth=sdq_truth)
k3 = match(fam, treatment="cohort2", covariates=covs, ratio=3, replace=True, exact="la_code")
rows["propensity 1:3 with replacement"] = effect_row(
    k3.estimate_effect("sdq_t1"), "HC3, weights fixed", k3, truth=sdq_truth)
ai = abadie_imbens_se(fam, "sdq_t1", "cohort2", covs, pairs=k3.pairs, exact="la_code")
rows["propensity 1:3 with replacement"].update(
    std_error_ai=ai.std_errors.iloc[0], naive_se_ai=ai.naive_std_error)
cem = match(fam, treatment="cohort2", covariates=covs, method="cem", exact="la_code")
rows["CEM (all covariates exact), pilot"] = effect_row(
    cem.estimate_effect("sdq_t1"), "HC3, weights fixed", cem, truth=sdq_truth)
sub = match(fam, treatment="cohort2", covariates=covs + ["la_code"], method="subclass",
            subclass=6)
rows["propensity subclasses (6)"] = effect_row(
    sub.estimate_effect("sdq_t1"), "HC3, weights fixed", sub, truth=sdq_truth)
table = pd.DataFrame(rows).T
print(table.drop(columns=["std_error_ai", "naive_se_ai"]).to_string(
    float_format=lambda v: f"{v:.3f}"))
print(f"\n1:3 with replacement: {int((k3.weights[fam['cohort2'] == 0] > 0).sum())} distinct "
      f"controls, used up to {int(ai.match_counts.max())} times; Abadie-Imbens SE "
      f"{ai.std_errors.iloc[0]:.3f} (estimate {ai.params.iloc[0]:+.3f}; matched sets treated "
      f"as independent: {ai.naive_std_error:.3f}; WLS HC3 with the weights fixed: "
      f"{table.loc['propensity 1:3 with replacement', 'std_error']:.3f})")

# 3. workers ------------------------------------------------------------------------------------
heading("3. Workers with 5-day training vs without: confidence (1-10)")
wk = ev.workers
tools = [c for c in wk.columns if c.startswith("tool_")]
wk = wk.assign(five_day=(wk["training"] == "5-day").astype(int),
               training_code=wk["training"].cat.codes,
               engagement=wk["worker_id"].map(ev.truth["workers"]["engagement"]),
               **{c: wk[c].cat.codes for c in tools})   # 0 not at all, 1 some, 2 all families
print(f"{wk['five_day'].sum()} workers with 5-day training, {(1 - wk['five_day']).sum()} "
      "without (none or 2-day). Truth: each training level adds 0.4 to confidence, so the "
      "effect on the matched 5-day workers is 0.4 x (2 - mean level of their controls).")
worker_rows, worker_matches = {}, {}
for label, wcovs in (("agency", ["agency"]), ("agency + tool use", ["agency"] + tools)):
    m = match(wk, treatment="five_day", covariates=wcovs, caliper=0.2, exact="la_code")
    ctrl = m.matched.query("five_day == 0")
    truth = 0.4 * (2 - np.average(ctrl["training_code"], weights=ctrl["weights"]))
    row = effect_row(m.estimate_effect("confidence"), "CR1 pair", m, truth=truth)
    row["engagement_diff_after"] = m.balance(["engagement"]).table["diff_after"].iloc[0]
    worker_rows[f"matched on {label}, exact pilot"] = row
    worker_matches[label] = m
naive = matched_effect(wk, "confidence", "five_day", cluster=None)
worker_rows = {"no matching": effect_row(naive, "HC3", truth=0.4 * (
    2 - wk.loc[wk["five_day"] == 0, "training_code"].mean()))} | worker_rows
print(pd.DataFrame(worker_rows).T.to_string(float_format=lambda v: f"{v:.3f}"))
best = worker_matches["agency + tool use"]
print("\nbalance, including the engagement the evaluator cannot see (standardised):")
wbal = best.balance(["agency"] + tools + ["engagement"])
print(wbal.table[["diff_before", "diff_after", "var_ratio_before", "var_ratio_after",
                  "ecdf_max_before", "ecdf_max_after"]].round(3).to_string())
print("tool use proxies engagement here because the simulator makes it depend on engagement, "
      "not on training; in real data, tool use measured after training is a consequence of "
      "it and must not be matched on.")
fig, ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
wbal.plot(ax=ax)
ax.set_title("5-day training: matched on agency + tool use (engagement hidden)")
save("matching_love_workers.png")

# 4. Rosenbaum bounds ---------------------------------------------------------------------------
heading("4. Rosenbaum bounds: how much hidden bias would explain the results away?")
sens = {
    "families, SDQ at T1 (lower in cohort 2)": rosenbaum_bounds(
        data=fam, pairs=ps.pairs, outcome="sdq_t1", alternative="less",
        gammas=[1, 1.02, 1.05, 1.1]),
    "families, re-referred by T2 (McNemar)": rosenbaum_bounds(
        data=fam, pairs=ps.pairs, outcome="rereferred_t2", kind="binary", alternative="less",
        gammas=[1, 1.05, 1.1, 1.2]),
    "workers, confidence (matched on agency + tools)": rosenbaum_bounds(
        data=wk, pairs=best.pairs, outcome="confidence", gammas=[1, 1.5, 2, 2.5, 3]),
}
for label, r in sens.items():
    print(f"\n{label}: {r.n_pairs} pairs, {r.n_informative} informative, {r.method}; "
          f"critical Gamma {r.gamma_critical:.3f}")
    print(r.table.map(lambda v: f"{v:.3g}").T.to_string())
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
sens["workers, confidence (matched on agency + tools)"].plot(ax=ax)
ax.set_title("Workers: upper bound on the signed rank p-value")
save("matching_rosenbaum_workers.png")
print("\nA Gamma of 1.05 means two matched units' odds of treatment may differ by 5% "
      "through something unmeasured. The family results, small effects on noisy outcomes, "
      "would be overturned by almost any hidden bias (none exists here: cohort is as good as "
      "random in the simulator; the bounds measure fragility, not bias). The worker result "
      "survives a doubling of the odds, and the effect is real, though the hidden engagement "
      "still inflates the estimate.")
print(f"\nfigures written to {OUT.resolve()} (set SOSSTATS_EXAMPLE_OUT to choose the folder); "
      f"{time.perf_counter() - START:.1f} s")
