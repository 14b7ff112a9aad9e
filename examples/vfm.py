"""Value for money of Signs of Safety: unit costs, diaries, avoided costs, budget and CEA
======================================================================================

A commissioner asks whether the approach was worth its cost. This script answers the way the
2017 evaluation set out to (time diaries, unit costs, process costs against statistical
neighbours, training and programme costs), with the uncertainty of every step:

a. the cost of a social worker hour, built up PSSRU-style (salary, on-costs, overheads,
   capital) with distributions on the uncertain inputs;
b. time diaries (simulated: the real ones are not public): shares of time by activity against
   the simulator's truth, cost per worker and per case by pilot and experience group, and
   whether direct contact differs between groups (worker bootstrap);
c. processes avoided against statistical neighbours and their cost: on the simulated
   indicators (against the known pilot effects) and on the real DfE 2015/16 data, with a
   difference-in-differences check of how much of the gap the programme can claim;
d. the budget view: training and programme fees against avoided costs over five years,
   discounted at the Green Book rate: NPV, benefit-cost ratio, payback year and P(NPV > 0);
e. one-way sensitivity (tornado) and break-even values;
f. a probabilistic sensitivity analysis with gamma, beta and log-normal inputs;
g. cost-effectiveness of the experience groups on the families' outcomes (cost of workers' time
   and of re-referrals and placements against re-referral and SDQ change), with a bootstrap
   clustered by pilot or worker, ICERs, dominance, CEAC and EVPI, and attrition weights for the
   SDQ change that only re-interviewed families have.

Every money input is ILLUSTRATIVE unless a source is named; prices are 2015/16 unless said.
Run: ``python examples/vfm.py``; figures go to ``$SOSSTATS_EXAMPLE_OUT`` (default: here).
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

from sosstats.datasets import (  # noqa: E402
    load_la_indicators,
    load_statistical_neighbours,
    signs_of_safety_pilots,
    simulate_evaluation,
)
from sosstats.errors import SosstatsWarning  # noqa: E402
from sosstats.neighbours import StatisticalNeighbours, neighbour_did  # noqa: E402
from sosstats.vfm import (  # noqa: E402
    Amount,
    avoided_costs,
    beta_probability,
    break_even,
    budget,
    cea,
    diary_costs,
    gamma_cost,
    lognormal_ratio,
    one_way,
    present_value,
    psa,
    reprice,
    training_cost,
    unit_cost,
)
from sosstats.weighting import attrition_weights  # noqa: E402

OUT = Path(os.environ.get("SOSSTATS_EXAMPLE_OUT", "."))
pd.set_option("display.width", 150)
pd.set_option("display.max_columns", 14)
warnings.simplefilter("once", SosstatsWarning)
N_DRAWS = 2_000


def heading(text: str) -> None:
    print(f"\n{'=' * 8} {text} {'=' * max(4, 90 - len(text))}")


def save(name: str) -> None:
    plt.savefig(OUT / name, dpi=120, bbox_inches="tight")
    plt.close("all")


def money(x: float) -> str:
    return f"{'-' if x < 0 else ''}£{abs(x):,.0f}"


print(f"figures (vfm_*.png) are written to {OUT.resolve()} (set SOSSTATS_EXAMPLE_OUT to change)")
ev = simulate_evaluation(rng=1)
PRICE_YEAR = "2015/16"
# ILLUSTRATIVE price index (made up for this example): use PSSRU's pay and prices index.
INDEX = {"2013/14": 100.0, "2014/15": 101.2, "2015/16": 102.3, "2016/17": 104.0}

# a. unit cost of a social worker hour ------------------------------------------------------
heading("a. Cost of a children's social worker hour (PSSRU schema, 2015/16 prices)")
# Illustrative inputs. NI: 13.8% above the 2015/16 employer threshold of £8,112 a year.
# direct_share 0.73: PSSRU's children's social worker costs £40 per hour and £55 per hour of
# client-related work (2013/14 prices, Curtis 2014, via the New Economy unit cost database):
# 40 / 55 = 0.73 of hours are client-related.
uc = unit_cost(salary=gamma_cost(33_000, 1_500),
               on_costs={"national_insurance": 0.138, "ni_threshold": 8_112,
                         "pension": beta_probability(0.18, 0.02)},
               overheads={"direct": beta_probability(0.25, 0.04),
                          "indirect": beta_probability(0.15, 0.03),
                          "capital": Amount(gamma_cost(2_600, 400))},
               working_hours=42 * 37, direct_share=beta_probability(0.73, 0.04),
               price_year=PRICE_YEAR, n_draws=N_DRAWS, rng=11, label="social worker (children)")
print(uc.table.round(2).to_string(), uc.summary(), sep="\n\n")
pssru = reprice(40.0, from_year="2013/14", to_year=PRICE_YEAR, index=INDEX)
print(f"benchmark: PSSRU's £40 an hour (2013/14) is {money(pssru)} in 2015/16 prices with the "
      f"illustrative index; ours £{uc.per_hour:.2f}; in 2016/17 prices ours is "
      f"£{uc.reprice('2016/17', INDEX).per_hour:.2f}")

# b. time diaries -----------------------------------------------------------------------------
heading("b. Time diaries: shares of time, cost per worker and per case (worker bootstrap)")
real = load_la_indicators(years=2016)
pilots = signs_of_safety_pilots()["la_code"].tolist()
workforce = real[real["la_code"].isin(pilots)].pivot_table(index="la_code", columns="indicator",
                                                             values="value")
caseload = workforce["lait_Work_Force_AvgNumCase_SW"].mean()   # DfE LAIT, September 2016
print(f"caseload: {caseload:.1f} cases per social worker (mean of the 10 real pilots, DfE LAIT "
      "2016), used for every diarist")
workers = ev.workers.merge(ev.pilots[["la_code", "experience"]], on="la_code")
workers = workers.assign(la_code=workers["la_code"].astype(str), caseload=caseload)
common = dict(workers=workers, cases="caseload", period_hours=7 * 24, n_resamples=2_000)
overall = diary_costs(ev.diaries, uc, rng=3, **common)
truth = pd.Series(ev.truth["diaries"]["activity_shares"], name="truth")
shares = overall.shares.droplevel("group").join(truth)
print(shares.round(3).to_string())
covered = ((shares["ci_lower"] <= shares["truth"]) & (shares["truth"] <= shares["ci_upper"]))
print(f"{covered.sum()} of {len(shares)} true shares inside their 95% intervals")
by_pilot = diary_costs(ev.diaries, uc, by="la_code", rng=4, **common)
by_exp = diary_costs(ev.diaries, uc, by="experience", rng=5,
                     compare=("2 years plus", "new"), **common)
names = ev.pilots.set_index("la_code")["la_name"]
print("\nper week, by pilot and by experience group (costs include the unit-cost draws):")
print(pd.concat([by_pilot.by_group.rename(index=names), by_exp.by_group]).round(3).to_string())
print(f"a direct-contact hour (face to face, {overall.params['direct_share']:.0%} of time) costs "
      f"{money(overall.params['cost_per_direct_hour'])}; an hour of client-related work "
      f"(PSSRU's wider definition, 73%) {money(uc.per_direct_hour)}")
diff = by_exp.comparison.tidy().set_index("term")
row = diff.loc["direct_share[2 years plus - new]"]
print(f"\ndirect contact, 2 years plus - new: {row['estimate']:+.3f} "
      f"[{row['ci_lower']:+.3f}, {row['ci_upper']:+.3f}], bootstrap p = {row['p_value']:.2f} "
      "(truth: 0, the simulator gives every group the same shares)")
fig, axes = plt.subplots(2, 1, figsize=(8, 7), layout="constrained")
by_exp.plot(ax=axes[0])
by_pilot.plot(ax=axes[1])
save("vfm_diary_shares.png")

# c. avoided process costs ---------------------------------------------------------------------
heading("c. Processes avoided against statistical neighbours, and their cost")
# ILLUSTRATIVE unit costs per process (2015/16 prices; mean, SE): process-based costing in the
# manner of Holmes & McDermid (2012); replace with your own.
COSTS = {"assessments_rate_per_10k": (450, 100), "s47_rate_per_10k": (850, 200),
         "icpc_rate_per_10k": (1_500, 350), "cpp_started_rate_per_10k": (3_200, 800)}
dists = {k: gamma_cost(*v) for k, v in COSTS.items()}
covs = ["deprivation_score", "low_income_children_pct", "lone_parent_pct", "ethnic_minority_pct",
        "population_density", "social_housing_pct", "unemployment_pct", "fsm_pct"]
sim_nb = StatisticalNeighbours(covs, k=10).fit(ev.las)
sim = avoided_costs(ev.la_indicators, ev.pilots["la_code"].tolist(), sim_nb,
                    {k: dists[k] for k in ("assessments_rate_per_10k", "icpc_rate_per_10k",
                                           "cpp_started_rate_per_10k")},
                    ev.las.set_index("la_code")["child_population"], year=2016,
                    n_draws=N_DRAWS, rng=6)
gaps = sim.gaps[["estimate", "std_error", "ci_lower", "ci_upper"]]
print("simulated: pilots - neighbours (rate per 10,000), against the true pilot effect")
print(gaps.join(pd.Series(ev.truth["pilot_effects"], name="truth")).round(1).to_string())
dfe = load_statistical_neighbours(model="2021")
processes = ["s47_rate_per_10k", "icpc_rate_per_10k", "cpp_started_rate_per_10k"]
# some pilots have 8-9 eligible SNNs once the other pilots are left out: one warning says so
av = avoided_costs(real, pilots, dfe, {k: dists[k] for k in processes},
                   "child_population_0_17", year=2016, n_draws=N_DRAWS, rng=7)
print("\nreal DfE 2015/16 (assessment counts are not published by LA here: s47 enquiries "
      "instead), ten pilots pooled:")
pooled = av.tidy().query("la_code == 'pooled'").set_index("term")
print(pooled[["estimate", "std_error", "ci_lower", "ci_upper", "gap", "unit_cost"]]
      .round(1).to_string())
av.plot()
save("vfm_avoided_costs.png")
# A cross-sectional gap is not all the programme's doing: the pilots' rates were already
# different before. Difference in differences (start 2014/15) against the same neighbours:
panel = load_la_indicators(indicators=processes, years=range(2013, 2020))
with warnings.catch_warnings():
    warnings.simplefilter("ignore", SosstatsWarning)
    did = pd.DataFrame({p: neighbour_did(panel, pilots, dfe, indicator=p, start_year=2015)
                        .tidy().set_index("term").loc["did", ["estimate", "std_error"]]
                        for p in processes}).T
cost_mean = np.array([COSTS[p][0] for p in processes])
gap = av.gaps.loc[processes, "estimate"].to_numpy()
attribution = float(cost_mean @ did["estimate"] / (cost_mean @ gap))
attribution_se = float(np.sqrt((cost_mean**2) @ did["std_error"] ** 2) / abs(cost_mean @ gap))
print(pd.DataFrame({"gap_2015_16": gap, "did": did["estimate"], "did_se": did["std_error"]},
                   index=processes).round(2).to_string())
print(f"share of the cost-weighted gap the DiD supports (attribution): {attribution:.2f} "
      f"(SE {attribution_se:.2f})")

# d. budget view -------------------------------------------------------------------------------
heading("d. Budget view, ten pilots, five years, Green Book 3.5%")
YEARS = ["2015/16", "2016/17", "2017/18", "2018/19", "2019/20"]
FIRST = np.array([1.0, 0, 0, 0, 0])
LATER = 1 - FIRST
RAMP = np.array([0.5, 1, 1, 1, 1])        # illustrative: half the steady-state saving in year 0
N_SW = float(workforce["lait_Work_Force_NoSW"].sum())           # DfE LAIT, 2016
TURNOVER = float(workforce["lait_Work_Force_TO_Rate"].mean()) / 100
BASE = {"avoided": float(pooled.loc["cost[total: pooled]", "estimate"]),
        "attribution": attribution, "trainer_fee": 150.0, "hourly_cost": uc.per_hour,
        "lead_share": 0.2, "turnover": TURNOVER, "fee_first": 75_000.0, "fee_later": 30_000.0,
        "discount_rate": 0.035}
print(f"{N_SW:,.0f} FTE social workers in the pilots, turnover {TURNOVER:.1%} (DfE LAIT 2016); "
      "illustrative: trainer and venue £150 per trainee-day plus a day (7.4 h) of the worker's "
      "time; 2-day course for all, 5-day course for 20% (practice leads), 2 days for each "
      "starter; fees £75,000 per pilot in year 0 and £30,000 a year after")


def flows(*, avoided, attribution, trainer_fee, hourly_cost, lead_share, turnover, fee_first,
          fee_later, discount_rate=None):
    """Investment and avoided costs by year; arrays of draws give draws x years."""
    col = [np.asarray(v, dtype=float)[..., None] for v in
           (avoided, attribution, trainer_fee, hourly_cost, lead_share, turnover)]
    avoided, attribution, trainer_fee, hourly_cost, lead_share, turnover = col
    day = trainer_fee + 7.4 * hourly_cost
    training = (training_cost(2 * FIRST, N_SW, day)
                + training_cost(5 * FIRST, lead_share * N_SW, day)
                + training_cost(2 * LATER, turnover * N_SW, day))
    fees = len(pilots) * (fee_first * FIRST + fee_later * LATER)
    return training + fees, avoided * attribution * RAMP


def npv(**params):
    """Net present value (discount_rate: constant rate; Green Book 3.5% for years 0-30)."""
    inv, ben = flows(**params)
    return present_value(ben - inv, rate=params.get("discount_rate", 0.035))


rng = np.random.default_rng(8)
total_draws = av.draws_of("cost[total: pooled]")
inv_d, ben_d = flows(**{**BASE, "avoided": total_draws, "hourly_cost": uc.hourly(),
                        "trainer_fee": gamma_cost(150, 40).draws(N_DRAWS, rng)})
fees = len(pilots) * (BASE["fee_first"] * FIRST + BASE["fee_later"] * LATER)
view = budget({"training": inv_d - fees, "programme fees": fees}, {"processes avoided": ben_d},
              years=YEARS, price_year=PRICE_YEAR)
print(view)
head = view.tidy().set_index("term")
print(f"NPV at the base values (no draws): {money(npv(**BASE))}")
view.plot()
save("vfm_budget.png")

# e. one-way sensitivity and break-even ------------------------------------------------------
heading("e. One-way sensitivity of the NPV, and break-even values")
lo, hi = pooled.loc["cost[total: pooled]", ["ci_lower", "ci_upper"]]
ranges = {"avoided": (lo, hi), "attribution": (max(0.05, attribution - 2 * attribution_se),
                                               attribution + 2 * attribution_se),
          "trainer_fee": (80, 250),
          "hourly_cost": tuple(uc.conf_int().loc["cost_per_working_hour"]),
          "lead_share": (0.1, 0.3), "turnover": (0.1, 0.3), "fee_first": (40_000, 120_000),
          "fee_later": (10_000, 50_000), "discount_rate": (0.015, 0.06)}
tornado = one_way(npv, BASE, ranges, name="NPV")
print(tornado)
tornado.plot()
save("vfm_tornado.png")
be_share = break_even(npv, BASE, "attribution", bracket=(0.0, 1.0))
be = break_even(npv, BASE, "avoided", bracket=(0.0, 5e7))
print(be_share, be, sep="\n")
print(f"=> NPV = 0 when the costs the programme itself avoids come to "
      f"{money(be.value * attribution)} a year (steady state; estimate "
      f"{money(BASE['avoided'] * attribution)}), or when {be_share.value:.0%} of the gap to the "
      f"neighbours is its doing (estimate {attribution:.0%})")

# f. probabilistic sensitivity analysis --------------------------------------------------------
heading("f. Probabilistic sensitivity analysis of the NPV")
g = av.gaps.loc[processes]
inputs = {f"rr_{p.split('_')[0]}": lognormal_ratio(g.loc[p, "ratio"],
                                                    log_se=g.loc[p, "std_error"]
                                                    / g.loc[p, "neighbour_mean"])
          for p in processes}
inputs |= {f"cost_{p.split('_')[0]}": dists[p] for p in processes}
inputs |= {"attribution": beta_probability(attribution, attribution_se),
           "trainer_fee": gamma_cost(150, 40), "hourly_cost": uc.hourly(),
           "turnover": beta_probability(TURNOVER, 0.02)}
population = float(av.table.loc["cost[total: pooled]", "population"])


def psa_npv(**x):
    avoided = sum((1 - x[f"rr_{p.split('_')[0]}"]) * g.loc[p, "neighbour_mean"] * population
                  / 1e4 * x[f"cost_{p.split('_')[0]}"] for p in processes)
    return npv(**{**BASE, "avoided": avoided, **{k: x[k] for k in
                                                 ("attribution", "trainer_fee", "hourly_cost",
                                                  "turnover")}})


sa = psa(psa_npv, inputs, n=N_DRAWS, rng=9, name="NPV")
print(sa.summary())
print("rank correlation with the NPV:", sa.rank_correlations.round(2).to_dict())
sa.plot()
save("vfm_psa_npv.png")

# g. cost-effectiveness of the experience groups ---------------------------------------------
heading("g. Cost-effectiveness on the families' outcomes, by experience group")
# cost of a family T1 -> T2 (about 35 weeks, from the study's interview dates): its workers'
# time (diary minutes x hourly cost / caseload; agency staff at an illustrative 1.35 x the
# employed rate; non-diarists at their pilot's mean minutes), a re-referral (illustrative:
# referral £150 + assessment £450), and a placement for a removed child (illustrative 17 weeks
# at PSSRU 2017's £646 per child per week in foster care, 2016/17 prices, repriced).
minutes = ev.diaries.groupby("worker_id")["minutes"].sum()
wk = workers.set_index("worker_id")
wk["minutes"] = minutes.reindex(wk.index)
wk["minutes"] = wk["minutes"].fillna(wk.groupby("la_code")["minutes"].transform("mean"))
wk["hourly"] = uc.per_hour * np.where(wk["agency"], 1.35, 1.0)
week_cost = wk["minutes"] / 60 * wk["hourly"] / caseload
m = ev.memberships
sw_cost = 35 * (m["weight"] * m["worker_id"].map(week_cost)).groupby(m["family_id"]).sum()
foster = reprice(646.0, from_year="2016/17", to_year=PRICE_YEAR, index=INDEX)
fam = ev.families.assign(
    cost=lambda d: d["family_id"].map(sw_cost) + 600 * d["rereferred_t2"]
    + 17 * foster * d["removed_t2"],
    not_rereferred=lambda d: 1 - d["rereferred_t2"],
    main_worker=lambda d: d["family_id"].map(m.groupby("family_id")["worker_id"].first()),
    experience=lambda d: d["experience"].astype(str))
print(fam.groupby("experience")[["cost", "not_rereferred", "removed_t2"]].mean().round(3)
      .to_string())
# families who share a main worker are resampled together (workers are nested in pilots, so
# in experience groups); resampling pilots is shown below: 3 / 4 / 3 clusters are too few
res = cea(fam, cost="cost", effect="not_rereferred", group="experience", cluster="main_worker",
          reference="new", n_resamples=5_000, rng=10)
print(res.summary())
print(res.increments[["delta_cost", "delta_effect", "icer", "quadrant", "share_NE", "share_SE",
                      "share_SW", "share_NW"]].round(3).to_string())
print("\nincremental analysis (dominance and extended dominance):")
print(res.frontier.round(2).to_string())
at = [0, 2_000, 5_000, 10_000, 20_000, 50_000]
print("\nCEAC, frontier and EVPI per family at some willingness-to-pay per re-referral avoided:")
print(res.ceac.join(res.ceaf[["option"]]).join(res.evpi).loc[at].round(3).to_string())
families_per_year = float(real[real["la_code"].isin(pilots)
                               & (real["indicator"] == "cpp_started")]["value"].sum())
horizon = present_value(np.ones(5))
print(f"population EVPI at £20,000: {money(res.evpi.loc[20_000])} x {families_per_year:,.0f} "
      f"children starting plans a year in the pilots (DfE 2015/16) x {horizon:.2f} "
      f"(5 discounted years) = {money(res.evpi.loc[20_000] * families_per_year * horizon)}")
ses = {}
for label, cl in (("none", None), ("main worker", "main_worker"), ("pilot", "la_code")):
    fit = cea(fam, cost="cost", effect="not_rereferred", group="experience", cluster=cl,
              reference="new", n_resamples=2_000, rng=10)
    ses[label] = fit.std_errors.filter(like="delta")
print("\nbootstrap SE of the increments: units, main workers or pilots (3 / 4 / 3) resampled")
print(pd.DataFrame(ses).round(4).to_string())
print("(with 3 or 4 pilots per group the pilot bootstrap has 10 to 35 distinct resamples and "
      "its SE can fall below the unit-level one: do not trust it)")
res.plot(kind="plane", wtp=20_000)
save("vfm_ce_plane.png")
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
res.plot(ax=axes[0], kind="ceac")
res.plot(ax=axes[1], kind="evpi")
save("vfm_ceac.png")

# SDQ change is seen only for the families re-interviewed at T2: weight them to stand for all
# 270 (attrition weights), give the others weight 0 (cea leaves them out, NaN change and all).
aw = attrition_weights(fam, formula="responded_t2 ~ previous_referral + agency_worker "
                       "+ feelings_t1 + cohort", method="logit")
sdq = fam.assign(sdq_gain=fam["sdq_t1"] - fam["sdq_t2"], w=aw.weights.fillna(0.0))
print(f"\nSDQ improvement (T1 - T2), {int((sdq['w'] > 0).sum())} respondents, attrition "
      f"weights (ESS {aw.ess:.0f}); truth: no difference between groups")
for label, wcol, cl in (("complete case", None, "main_worker"),
                        ("weighted", "w", "main_worker"), ("weighted, pilots", "w", "la_code")):
    data = sdq if wcol else sdq[sdq["responded_t2"]]
    fit = cea(data, cost="cost", effect="sdq_gain", group="experience", cluster=cl,
              weights=wcol, reference="new", n_resamples=2_000, rng=12)
    inc = fit.increments
    ci = fit.conf_int().filter(like="delta_effect", axis=0)
    print(f"{label:17s}" + "; ".join(
        f"{o}: dE {inc.loc[o, 'delta_effect']:+.2f} [{lo_:+.2f}, {hi_:+.2f}], dC "
        f"{money(inc.loc[o, 'delta_cost'])}, {inc.loc[o, 'quadrant']}"
        for o, (lo_, hi_) in zip(inc.index, ci.to_numpy())))

heading("Headlines for the commissioner (2015/16 prices; inputs marked illustrative above)")
icer = res.frontier.dropna(subset=["icer"])
lines = {
    "social worker, per working hour": f"{money(uc.per_hour)} "
    f"[{money(uc.conf_int().loc['cost_per_working_hour', 'lower'])}, "
    f"{money(uc.conf_int().loc['cost_per_working_hour', 'upper'])}]",
    "time in direct contact": f"{overall.params['direct_share']:.1%}, no difference between "
    "experience groups",
    "process costs below neighbours' rates, a year": f"{money(BASE['avoided'])} "
    f"[{money(lo)}, {money(hi)}], of which the DiD supports {attribution:.0%}",
    "5-year NPV (budget view, Green Book 3.5%)": f"{money(head.loc['npv', 'estimate'])}, "
    f"BCR {head.loc['bcr', 'estimate']:.2f}, payback {view.payback_year}",
    "P(NPV > 0)": f"{view.prob_positive:.2f} (attribution fixed), {sa.prob_positive:.2f} (PSA)",
    "break-even attribution": f"{be_share.value:.0%} of the gap",
    "cost-effectiveness frontier": ", ".join(
        f"{o} (ICER {money(r['icer'])} per re-referral avoided vs {r['compared_with']})"
        for o, r in icer.iterrows()) + "; 'new' dominated",
}
for key, text in lines.items():
    print(f"{key:<47} {text}")
print(f"\nfigures written to {OUT.resolve()}")
