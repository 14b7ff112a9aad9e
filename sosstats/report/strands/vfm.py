"""Strand (5): value for money, from time diaries to cost-effectiveness with its uncertainty.

On the shared simulated evaluation (or the user's frames): the cost of a social worker hour
(PSSRU-style, illustrative inputs), what the time diaries say about time use and cost per case,
the processes the pilots avoided against their statistical neighbours and what they are worth,
a five-year budget view with a tornado and a probabilistic sensitivity analysis, and the
cost-effectiveness of the three experience groups (ICER, net monetary benefit, CEAC, EVPI),
each set beside the simulator's truth and, where the study published a figure, beside it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sosstats.report._context import StrandContext
from sosstats.report._section import Section
from sosstats.report.strands._notes import captured_notes

__all__ = ["KEY", "TITLE", "FRAMES", "run"]

KEY = "vfm"
TITLE = "Value for money: unit costs, avoided process costs and cost-effectiveness"

COVARIATES = ("deprivation_score", "low_income_children_pct", "lone_parent_pct",
              "ethnic_minority_pct", "population_density", "social_housing_pct",
              "unemployment_pct", "fsm_pct")

#: user frames this strand accepts, with their required columns
FRAMES: dict[str, tuple[str, ...]] = {
    "diaries": ("worker_id", "activity", "minutes"),
    "workers": ("worker_id", "la_code"),
    "families": ("family_id", "la_code", "experience", "rereferred_t2", "removed_t2"),
    "memberships": ("family_id", "worker_id", "weight"),
    "las": ("la_code", "child_population", "pilot", "experience") + COVARIATES,
    "la_indicators": ("la_code", "year", "indicator", "value"),
}

PRICE_YEAR = "2015/16"
YEAR = 2016                                   # 2015/16, the study's comparison year
YEARS = ["2015/16", "2016/17", "2017/18", "2018/19", "2019/20"]
#: ILLUSTRATIVE unit costs per process (2015/16 prices; mean, SE), as in examples/vfm.py
PROCESS_COSTS = {"assessments_rate_per_10k": (450.0, 100.0),
                 "icpc_rate_per_10k": (1_500.0, 350.0),
                 "cpp_started_rate_per_10k": (3_200.0, 800.0)}
PROCESS_LABELS = {"assessments_rate_per_10k": "assessments", "icpc_rate_per_10k": "ICPCs",
                  "cpp_started_rate_per_10k": "child protection plans"}
#: published 2015/16 rates per 10,000 children: (pilots, statistical neighbours), study.md
PUBLISHED_RATES = {"assessments_rate_per_10k": (362.0, 497.0),
                   "icpc_rate_per_10k": (44.0, 61.0),
                   "cpp_started_rate_per_10k": (29.0, 41.0)}
REREFERRAL_COST = 600.0                       # illustrative: referral + assessment
REMOVAL_COST = 17 * 646.0                     # 17 weeks at PSSRU 2017's foster care week
WEEKS = 35                                    # T1 to T2, from the study's interview dates
WTP = 20_000.0                                # willingness to pay per re-referral avoided
RAMP = np.array([0.5, 1.0, 1.0, 1.0, 1.0])    # half the steady-state saving in year 0
FIRST = np.array([1.0, 0.0, 0.0, 0.0, 0.0])


def _frame(ctx: StrandContext, name: str) -> pd.DataFrame:
    """Return frame ``name`` (the user's, its required columns checked, or the simulation's)."""
    return ctx.user_frame(name, FRAMES[name])


#: the unit of each budget input (one-way and PSA tables), and of the NPV they move
PARAMETER_UNITS = {"avoided": "£ a year", "attribution": "share", "trainer_fee": "£ per "
                   "trainee-day", "hourly_cost": "£ per working hour", "lead_share": "share",
                   "turnover": "share a year", "fee_first": "£ per pilot (year 0)",
                   "fee_later": "£ per pilot a year", "discount_rate": "rate a year",
                   "NPV": "£"}
#: the unit of each tidy row, by the term's name before '[' (CEA, diary comparison, budget)
TERM_UNITS = {"cost": "£ per family", "delta_cost": "£ per family",
              "effect": "share not re-referred", "delta_effect": "share not re-referred",
              "icer": "£ per re-referral avoided", "direct_share": "share",
              "hours_per_worker": "hours per worker", "cost_per_worker": "£ per worker",
              "cost_per_case": "£ per case", "pv_investment": "£", "pv_avoided": "£",
              "npv": "£", "net_undiscounted": "£", "bcr": "ratio"}
#: money columns of the wide tables, renamed with their unit (the numbers are unchanged)
MONEY_COLUMNS = {
    "unit_cost_items": {"per_year": "cost per year (£)",
                        "per_working_hour": "cost per working hour (£)",
                        "per_direct_hour": "cost per direct hour (£)"},
    "diary_costs": {"cost_per_worker": "cost per worker (£)",
                    "cost_per_direct_hour": "cost per direct hour (£)",
                    "cost_per_case": "cost per case (£)"},
    "avoided_costs": {"unit_cost": "unit cost (£)"},
    "one_way": {"outcome_low": "NPV at low (£)", "outcome_high": "NPV at high (£)",
                "swing": "swing (£)"},
    "frontier": {"cost": "cost (£ per family)", "delta_cost": "delta cost (£ per family)",
                 "icer": "ICER (£ per re-referral avoided)"},
    "acceptability": {"wtp": "WTP (£ per re-referral avoided)",
                      "evpi": "EVPI (£ per family)"},
    "nmb": {"wtp": "WTP (£ per re-referral avoided)", "nmb": "NMB (£ per family)",
            "incremental_nmb": "incremental NMB (£ per family)",
            "ci_lower": "ci_lower (£ per family)", "ci_upper": "ci_upper (£ per family)"},
}


def _with_units(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Name the unit of every money figure: a column per unit, or a ``unit`` column by row.

    Wide tables get their money columns renamed (``cost per case (£)``); tidy tables, whose
    rows mix pounds with shares and counts, get a ``unit`` column beside the term. No number
    changes.
    """
    out = {name: table.rename(columns=MONEY_COLUMNS.get(name, {}))
           for name, table in tables.items()}

    def by_term(table: pd.DataFrame, column: str, units: dict[str, str]) -> pd.DataFrame:
        stem = table[column].astype(str).str.split("[", n=1, regex=False).str[0]
        table = table.copy()
        table.insert(table.columns.get_loc(column) + 1, "unit", stem.map(units))
        return table

    for name in ("cea", "diary_comparison", "budget"):
        if name in out:
            out[name] = by_term(out[name], "term", TERM_UNITS)
    if "one_way" in out:
        out["one_way"] = by_term(out["one_way"], "parameter", PARAMETER_UNITS)
    if "psa" in out:
        out["psa"] = by_term(out["psa"], "term", PARAMETER_UNITS)
    if "avoided_costs" in out:
        out["avoided_costs"] = by_term(out["avoided_costs"], "quantity",
                                       {"processes": "processes a year", "cost": "£ a year"})
    if "unit_cost" in out and "unit" in out["unit_cost"]:
        out["unit_cost"] = out["unit_cost"].assign(unit="£ " + out["unit_cost"]["unit"])
    return out


def _money(x: float) -> str:
    return f"{'-' if x < 0 else ''}£{abs(x):,.0f}"


def _workforce() -> tuple[float, float, float]:
    """Caseload, FTE social workers and turnover of the ten real pilots (DfE LAIT, 2016)."""
    from sosstats.datasets import load_la_indicators, signs_of_safety_pilots

    real = load_la_indicators(years=YEAR)
    codes = signs_of_safety_pilots()["la_code"].tolist()
    wf = real[real["la_code"].isin(codes)].pivot_table(index="la_code", columns="indicator",
                                                       values="value")
    return (float(wf["lait_Work_Force_AvgNumCase_SW"].mean()),
            float(wf["lait_Work_Force_NoSW"].sum()),
            float(wf["lait_Work_Force_TO_Rate"].mean()) / 100)


def _expected(outcome: dict[str, Any], fam: pd.DataFrame, mix: pd.Series) -> np.ndarray:
    """Return the true P(outcome) per family: the simulator's logit, family effect integrated out.

    ``eta_f = x_f b + pilot_f + sum_j w_fj worker_j``; the family effect
    ``s sd_family a_f``, ``a_f ~ N(0, 1)``, is integrated by 40-point Gauss-Hermite.
    """
    exp = fam["experience"].astype(str).to_numpy()
    eta = (outcome["intercept"] + outcome["cohort_2"] * (fam["cohort"].to_numpy() == 2)
           + outcome["experience_2_years"] * (exp == "2 years")
           + outcome["experience_2_years_plus"] * (exp == "2 years plus")
           + outcome["previous_referral"] * fam["previous_referral"].to_numpy(float)
           + outcome["agency_worker"] * fam["agency_worker"].to_numpy(float)
           + fam["la_code"].astype(str).map(outcome["pilot_effect"]).to_numpy(float)
           + fam["family_id"].map(mix).to_numpy(float))
    x, w = np.polynomial.hermite.hermgauss(40)
    shift = np.sqrt(2.0) * outcome["sd_family"] * x
    p = 1.0 / (1.0 + np.exp(-(eta[:, None] + shift[None, :])))
    return p @ w / np.sqrt(np.pi)


def _cea_truth(ev: Any, fam: pd.DataFrame, memberships: pd.DataFrame) -> pd.DataFrame:
    """Return the true mean cost and effect (not re-referred) per experience group."""
    out = {}
    for name in ("rereferred", "removed"):
        spec = ev.truth["families"]["outcomes"][name]
        mix = (memberships["weight"] * memberships["worker_id"].map(spec["worker_effect"])
               ).groupby(memberships["family_id"]).sum()
        out[name] = _expected(spec, fam, mix)
    frame = pd.DataFrame({
        "experience": fam["experience"].astype(str).to_numpy(),
        "cost": fam["sw_cost"].to_numpy() + REREFERRAL_COST * out["rereferred"]
        + REMOVAL_COST * out["removed"],
        "effect": 1.0 - out["rereferred"]})
    return frame.groupby("experience")[["cost", "effect"]].mean()


def run(ctx: StrandContext) -> Section:
    """Run the value-for-money strand.

    Parameters
    ----------
    ctx : StrandContext
        Seed, quick mode and the user's frames (see :data:`FRAMES`).

    Returns
    -------
    Section
        Tables ``unit_cost``, ``unit_cost_items``, ``time_shares``, ``diary_costs``,
        ``diary_comparison``, ``avoided_costs``, ``budget``, ``one_way``, ``psa``, ``cea``,
        ``frontier``, ``acceptability``, ``nmb``; figures ``ceac``, ``ce_plane``,
        ``tornado``; the ``truth`` frame on simulated data and the ``published`` frame.

    Notes
    -----
    Incremental cost-effectiveness ratio ``ICER = dC / dE`` and net monetary benefit
    ``NMB(l) = l E - C`` (Stinnett & Mullahy 1998, Net health benefits, Medical Decision
    Making 18, S68-S80); CEAC and EVPI from the clustered bootstrap (Briggs, Claxton &
    Sculpher 2006, Decision Modelling for Health Economic Evaluation). See ``docs/vfm.md``.
    """
    from matplotlib.figure import Figure

    from sosstats.neighbours import StatisticalNeighbours
    from sosstats.vfm import (
        Amount,
        avoided_costs,
        beta_probability,
        break_even,
        budget,
        cea,
        diary_costs,
        gamma_cost,
        one_way,
        present_value,
        psa,
        training_cost,
        unit_cost,
    )

    diaries = _frame(ctx, "diaries")
    workers = _frame(ctx, "workers")
    families = _frame(ctx, "families")
    memberships = _frame(ctx, "memberships")
    las = _frame(ctx, "las")
    indicators = _frame(ctx, "la_indicators")
    user = set(FRAMES) & set(ctx.frames)
    simulated = not user
    ev = ctx.evaluation() if simulated else None
    rng = ctx.rng(KEY)
    seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=8)]
    n_draws = 1_000 if ctx.quick else 4_000
    n_boot = 2_000 if ctx.quick else 5_000
    tables: dict[str, pd.DataFrame] = {}
    truth_rows: list[tuple] = []
    results: dict[str, Any] = {}

    notes: list[str] = []
    with captured_notes(notes):

        # a. unit cost of a social worker hour (illustrative PSSRU-style inputs) ------------
        ctx.step(0.05, "unit costs")
        uc = unit_cost(salary=gamma_cost(33_000, 1_500),
                       on_costs={"national_insurance": 0.138, "ni_threshold": 8_112,
                                 "pension": beta_probability(0.18, 0.02)},
                       overheads={"direct": beta_probability(0.25, 0.04),
                                  "indirect": beta_probability(0.15, 0.03),
                                  "capital": Amount(gamma_cost(2_600, 400))},
                       working_hours=42 * 37, direct_share=beta_probability(0.73, 0.04),
                       price_year=PRICE_YEAR, n_draws=n_draws, rng=seeds[0],
                       label="social worker (children)")
        results["unit_cost"] = uc
        tables["unit_cost"] = uc.tidy().reset_index(drop=True)
        tables["unit_cost_items"] = uc.table.reset_index()

        # b. time diaries ---------------------------------------------------------------
        ctx.step(0.15, "time diaries")
        caseload, n_sw, turnover = _workforce()
        experience = las.set_index(las["la_code"].astype(str))["experience"]
        wk = workers.assign(la_code=workers["la_code"].astype(str))
        wk = wk.assign(experience=wk["la_code"].map(experience).astype(str), caseload=caseload)
        common = dict(workers=wk, cases="caseload", period_hours=7 * 24, n_resamples=n_boot)
        overall = diary_costs(diaries, uc, rng=seeds[1], **common)
        by_exp = diary_costs(diaries, uc, by="experience", rng=seeds[2],
                             compare=("2 years plus", "new"), **common)
        results["diaries"] = overall
        results["diaries_by_experience"] = by_exp
        shares = overall.shares.droplevel("group")[["share", "std_error", "ci_lower",
                                                    "ci_upper"]]
        tables["time_shares"] = shares.reset_index()
        tables["diary_costs"] = pd.concat(
            [overall.by_group.rename(index=lambda _: "all diarists"), by_exp.by_group]
        ).reset_index()
        comp = by_exp.comparison
        comp_table = comp.tidy()
        keep = comp_table["term"].str.match(r"(direct_share|hours_per_worker|cost_per_worker"
                                            r"|cost_per_case)\[")
        tables["diary_comparison"] = comp_table[keep].reset_index(drop=True)
        direct_diff = comp_table.set_index("term")

        # c. processes avoided against statistical neighbours ---------------------------
        ctx.step(0.3, "avoided process costs")
        pilot_codes = las.loc[las["pilot"].astype(bool), "la_code"].astype(str).tolist()
        nb = StatisticalNeighbours(list(COVARIATES), k=10).fit(las)
        population = las.set_index(las["la_code"].astype(str))["child_population"]
        dists = {k: gamma_cost(*v) for k, v in PROCESS_COSTS.items()}
        av = avoided_costs(indicators, pilot_codes, nb, dists, population, year=YEAR,
                           n_draws=n_draws, rng=seeds[3])
        results["avoided_costs"] = av
        pooled = av.table[av.table["la_code"] == "pooled"]
        tables["avoided_costs"] = pooled[["indicator", "quantity", "estimate", "std_error",
                                          "ci_lower", "ci_upper", "gap", "unit_cost"]] \
            .reset_index(names="term")
        gaps = av.gaps
        total = pooled.loc["cost[total: pooled]"]
        pop_total = float(population.reindex(pilot_codes).sum())

        # d. budget view ----------------------------------------------------------------
        ctx.step(0.45, "budget view")
        base = {"avoided": float(total["estimate"]), "attribution": 1.0,
                "trainer_fee": 150.0, "hourly_cost": float(uc.per_hour), "lead_share": 0.2,
                "turnover": turnover, "fee_first": 75_000.0, "fee_later": 30_000.0,
                "discount_rate": 0.035}
        n_pilots = len(pilot_codes)

        def flows(*, avoided: Any, attribution: Any, trainer_fee: Any, hourly_cost: Any,
                  lead_share: Any, turnover: Any, fee_first: Any, fee_later: Any,
                  discount_rate: Any = None) -> tuple[Any, Any]:
            col = [np.asarray(v, dtype=float)[..., None] for v in
                   (avoided, attribution, trainer_fee, hourly_cost, lead_share, turnover)]
            avoided_, attribution_, fee_, hourly_, lead_, turnover_ = col
            day = fee_ + 7.4 * hourly_
            training = (training_cost(2 * FIRST, n_sw, day)
                        + training_cost(5 * FIRST, lead_ * n_sw, day)
                        + training_cost(2 * (1 - FIRST), turnover_ * n_sw, day))
            fees = n_pilots * (fee_first * FIRST + fee_later * (1 - FIRST))
            return training + fees, avoided_ * attribution_ * RAMP

        def npv(**params: Any) -> Any:
            inv, ben = flows(**params)
            return present_value(ben - inv, rate=params.get("discount_rate", 0.035))

        total_draws = av.draws_of("cost[total: pooled]")
        trainer_draws = gamma_cost(150, 40).draws(n_draws, np.random.default_rng(seeds[4]))
        inv_d, ben_d = flows(**{**base, "avoided": total_draws, "hourly_cost": uc.hourly(),
                                "trainer_fee": trainer_draws})
        fees = n_pilots * (base["fee_first"] * FIRST + base["fee_later"] * (1 - FIRST))
        view = budget({"training": inv_d - fees, "programme fees": fees},
                      {"processes avoided": ben_d}, years=YEARS, price_year=PRICE_YEAR)
        results["budget"] = view
        tables["budget"] = view.tidy().reset_index(drop=True)

        # e. one-way sensitivity and break-even -----------------------------------------
        ctx.step(0.55, "sensitivity")
        ranges = {"avoided": (float(total["ci_lower"]), float(total["ci_upper"])),
                  "attribution": (0.35, 1.0), "trainer_fee": (80.0, 250.0),
                  "hourly_cost": tuple(uc.conf_int().loc["cost_per_working_hour"]),
                  "lead_share": (0.1, 0.3), "turnover": (0.1, 0.3),
                  "fee_first": (40_000.0, 120_000.0), "fee_later": (10_000.0, 50_000.0),
                  "discount_rate": (0.015, 0.06)}
        tornado = one_way(npv, base, ranges, name="NPV")
        results["tornado"] = tornado
        tables["one_way"] = tornado.tidy().reset_index(drop=True)
        be = break_even(npv, base, "attribution", bracket=(0.0, 1.0))
        results["break_even_attribution"] = be

        # f. probabilistic sensitivity analysis -----------------------------------------
        ctx.step(0.65, "probabilistic sensitivity analysis")
        inputs = {"avoided": total_draws, "hourly_cost": uc.hourly(),
                  "trainer_fee": gamma_cost(150, 40),
                  "turnover": beta_probability(turnover, 0.02),
                  "lead_share": beta_probability(0.2, 0.05)}

        def psa_npv(**x: Any) -> Any:
            return npv(**{**base, **x})

        sa = psa(psa_npv, inputs, n=n_draws, rng=seeds[5], name="NPV")
        results["psa"] = sa
        tables["psa"] = sa.tidy().reset_index(drop=True)

        # g. cost-effectiveness of the experience groups --------------------------------
        ctx.step(0.75, "cost-effectiveness")
        minutes = diaries.groupby("worker_id")["minutes"].sum()
        wk_idx = wk.set_index("worker_id")
        wk_min = minutes.reindex(wk_idx.index)
        wk_min = wk_min.fillna(wk_min.groupby(wk_idx["la_code"]).transform("mean"))
        wk_min = wk_min.fillna(minutes.mean())
        week_cost = wk_min / 60 * uc.per_hour / caseload
        m = memberships
        sw_cost = WEEKS * (m["weight"] * m["worker_id"].map(week_cost)).groupby(
            m["family_id"]).sum()
        main = (m.sort_values("weight", ascending=False, kind="stable")
                .groupby("family_id")["worker_id"].first())
        fam = families.assign(
            sw_cost=families["family_id"].map(sw_cost),
            main_worker=families["family_id"].map(main),
            experience=families["experience"].astype(str))
        fam = fam.assign(cost=fam["sw_cost"] + REREFERRAL_COST * fam["rereferred_t2"]
                         + REMOVAL_COST * fam["removed_t2"],
                         not_rereferred=1 - fam["rereferred_t2"])
        res = cea(fam, cost="cost", effect="not_rereferred", group="experience",
                  cluster="main_worker", reference="new", n_resamples=n_boot, rng=seeds[6])
        results["cea"] = res
        inc = res.increments
        tables["cea"] = res.tidy().reset_index(drop=True)
        tables["frontier"] = res.frontier.reset_index()
        at = [w for w in (0, 5_000, 10_000, 20_000, 30_000, 50_000) if w in res.ceac.index]
        tables["acceptability"] = res.ceac.join(res.ceaf[["option"]]).join(res.evpi).loc[at] \
            .reset_index()
        nmb = res.nmb()
        tables["nmb"] = nmb[nmb["wtp"].isin(at)].reset_index(drop=True)

    # columns that are empty throughout (no test statistic for a cost, say) are left out
    tables = {k: v.dropna(axis=1, how="all") for k, v in _with_units(tables).items()}
    ctx.step(0.9, "figures and truth")

    # figures --------------------------------------------------------------------------------
    fig_ceac = Figure(figsize=(11.5, 4.2), layout="constrained")
    ax1, ax2 = fig_ceac.subplots(1, 2)
    res.plot(ax=ax1, kind="ceac")
    res.plot(ax=ax2, kind="evpi")
    fig_plane = Figure(figsize=(6.5, 5.0), layout="constrained")
    ax_plane = fig_plane.subplots()
    res.plot(ax=ax_plane, kind="plane", wtp=WTP)
    # the library labels with the column names ('cost', 'not_rereferred')
    ax_plane.set_xlabel("incremental effect (share of families not re-referred by T2)")
    ax_plane.set_ylabel("incremental cost per family (£)")
    fig_tornado = Figure(figsize=(7.5, 4.5), layout="constrained")
    tornado.plot(ax=fig_tornado.subplots())

    # truth ----------------------------------------------------------------------------------
    truth = None
    conf = res.conf_int()
    if ev is not None:
        true_shares = ev.truth["diaries"]["activity_shares"]
        for act, r in shares.iterrows():
            if act in true_shares:
                truth_rows.append((f"share of diary time: {act}", true_shares[act], r["share"],
                                   r["ci_lower"], r["ci_upper"]))
        term = "direct_share[2 years plus - new]"
        if term in direct_diff.index:
            d = direct_diff.loc[term]
            truth_rows.append(("direct-contact share, 2 years plus - new", 0.0, d["estimate"],
                               d["ci_lower"], d["ci_upper"]))
        ind = ev.truth["indicators"]
        cost_truth = 0.0
        for p, (mean_cost, _) in PROCESS_COSTS.items():
            delta = ind[p]["pilot_effect_realised"]
            g = gaps.loc[p]
            truth_rows.append((f"gap per 10,000: {PROCESS_LABELS[p]}", delta, g["estimate"],
                               g["ci_lower"], g["ci_upper"]))
            r = pooled.loc[f"processes[{p}: pooled]"]
            truth_rows.append((f"{PROCESS_LABELS[p]} avoided (10 pilots, a year)",
                               -delta * pop_total / 1e4, r["estimate"], r["ci_lower"],
                               r["ci_upper"]))
            cost_truth += -delta * pop_total / 1e4 * mean_cost
        truth_rows.append(("process costs avoided a year (£, mean unit costs)", cost_truth,
                           total["estimate"], total["ci_lower"], total["ci_upper"]))
        # like for like: the truth and the estimate both at the base inputs (the point
        # estimate of the avoided costs, as the row above), the interval over the draws
        npv_truth = float(npv(**{**base, "avoided": cost_truth}))
        npv_row = view.tidy().set_index("term").loc["npv"]
        truth_rows.append(("5-year NPV (£, other inputs at base; interval over the input "
                           "draws)", npv_truth, float(npv(**base)), npv_row["ci_lower"],
                           npv_row["ci_upper"]))
        ct = _cea_truth(ev, fam, memberships)
        for option in inc.index:
            for q, col in (("delta_cost", "cost"), ("delta_effect", "effect")):
                term = f"{q}[{option} vs new]"
                tv = ct.loc[option, col] - ct.loc["new", col]
                unit = "£ per family" if q == "delta_cost" else "share not re-referred"
                truth_rows.append((f"{q.replace('_', ' ')} ({unit}): {option} vs new", tv,
                                   inc.loc[option, q], conf.loc[term].iloc[0],
                                   conf.loc[term].iloc[1]))
        truth = pd.DataFrame(truth_rows, columns=["quantity", "truth", "estimate", "ci_lower",
                                                  "ci_upper"])
        truth["covered"] = (truth["ci_lower"] <= truth["truth"]) \
            & (truth["truth"] <= truth["ci_upper"])

    # published figures beside ours -------------------------------------------------------
    where = "simulated data" if simulated else "your data"
    pub = []
    for p, (pil, snn) in PUBLISHED_RATES.items():
        if p in gaps.index:
            pub.append((f"{PROCESS_LABELS[p]} per 10,000, pilots - neighbours (2015/16)",
                        pil - snn, float(gaps.loc[p, "estimate"]),
                        f"study summary 2017 ({pil:.0f} vs {snn:.0f}); recomputed on {where}"))
    pub.append(("social workers keeping time diaries", 121.0,
                float(diaries["worker_id"].nunique()),
                f"study summary 2017; recomputed: diarists in the {where}"))
    pub.append(("social worker cost per working hour (£)", 40.0, float(uc.per_hour),
                "PSSRU Unit Costs 2014 (Curtis 2014), 2013/14 prices; recomputed from "
                "illustrative PSSRU-style inputs, 2015/16 prices"))
    pub.append(("social worker cost per hour of client-related work (£)", 55.0,
                float(uc.per_direct_hour),
                "PSSRU Unit Costs 2014 (Curtis 2014), 2013/14 prices; recomputed from "
                "illustrative inputs (direct share 0.73), 2015/16 prices"))
    published = pd.DataFrame(pub, columns=["quantity", "published", "recomputed", "source"])
    published.insert(3, "difference", published["recomputed"] - published["published"])

    # words ----------------------------------------------------------------------------------
    ctx.step(1.0, "done")
    head = view.tidy().set_index("term")
    options = list(inc.index)
    icer_lines = []
    for o in options:
        r = inc.loc[o]
        icer_lines.append(f"{o} vs new: {_money(r['delta_cost'])} per family and "
                          f"{r['delta_effect']:+.3f} in the chance of no re-referral, ICER "
                          f"{_money(r['icer'])} ({r['quadrant']})")
    ceac_at = res.ceac.loc[WTP] if WTP in res.ceac.index else res.ceac.iloc[-1]
    evpi_at = float(res.evpi.loc[WTP]) if WTP in res.evpi.index else float("nan")
    o0 = options[0]
    nmb_o0 = nmb[(nmb["wtp"] == WTP) & (nmb["option"] == o0)].iloc[0]
    naive = (
        f"A point ICER without its uncertainty: {o0} against new costs "
        f"{_money(inc.loc[o0, 'delta_cost'])} more per family for "
        f"{inc.loc[o0, 'delta_effect']:+.3f} more families kept out of re-referral, an ICER of "
        f"{_money(inc.loc[o0, 'icer'])} per re-referral avoided, which reads as a clear "
        f"answer. With the clustered bootstrap, at {_money(WTP)} per re-referral avoided the "
        f"probability that each option is the best is "
        + ", ".join(f"{k} {v:.2f}" for k, v in ceac_at.items())
        + f"; the incremental net monetary benefit of {o0} at that price is "
        f"{_money(nmb_o0['incremental_nmb'])} (95% interval {_money(nmb_o0['ci_lower'])} to "
        f"{_money(nmb_o0['ci_upper'])}), and the expected value of perfect information is "
        f"{_money(evpi_at)} per family: "
        "the choice between the groups is uncertain. Likewise the budget's NPV at the "
        f"estimated avoided costs, {_money(float(npv(**base)))} (mean over the input draws "
        f"{_money(head.loc['npv', 'estimate'])}), hides a 95% interval of "
        f"{_money(head.loc['npv', 'ci_lower'])} to {_money(head.loc['npv', 'ci_upper'])} "
        f"(P(NPV > 0) = {view.prob_positive:.2f}).")
    truth_note = ""
    if truth is not None:
        truth_note = (f"\n\nOn this simulated evaluation {int(truth['covered'].sum())} of "
                      f"{truth.shape[0]} true values lie inside their 95% intervals.")
    method = (
        "Data: " + ("the shared simulated evaluation (`simulate_evaluation`, seed "
                    f"{ctx.seed}): " if simulated else "the frames you supplied: ")
        + f"{diaries['worker_id'].nunique()} diarists, {families.shape[0]} families, "
        f"{len(pilot_codes)} pilots among {las.shape[0]} LAs. Money inputs not from data are "
        "ILLUSTRATIVE (as in `examples/vfm.py`); caseload, FTE social workers and turnover are "
        f"DfE LAIT 2016 for the ten real pilots ({caseload:.1f} cases, {n_sw:,.0f} FTE, "
        f"{turnover:.1%}); prices {PRICE_YEAR}.\n\n"
        "1. Unit cost of a social worker hour, PSSRU schema (`unit_cost`: salary, on-costs, "
        f"overheads, capital with distributions): {_money(uc.per_hour)} per working hour.\n"
        "2. Time diaries (`diary_costs`): shares of time as ratios of sums with a worker "
        "bootstrap, cost per worker and per case, direct contact compared between experience "
        "groups.\n"
        "3. Avoided processes (`avoided_costs`): each pilot against its 10 statistical "
        "neighbours (`StatisticalNeighbours` on the eight census covariates) in 2015/16; "
        "processes avoided = minus the gap times the child population / 10,000, priced with "
        "gamma unit costs.\n"
        "4. Budget view (`budget`): training (2 days for every social worker, 5 for a fifth, "
        "2 for each new starter; a trainee-day is a £150 fee plus 7.4 hours of the worker's "
        "time) and £75,000 / £30,000 a year of fees per pilot, against the avoided costs "
        "(half in year 0), discounted at the Green Book 3.5%.\n"
        "5. One-way sensitivity (`one_way`, a tornado), break-even attribution "
        "(`break_even`) and a probabilistic sensitivity analysis (`psa`).\n"
        "6. Cost-effectiveness (`cea`) of the experience groups: a family's cost is "
        f"{WEEKS} weeks of its workers' diary time over the caseload (weighted by contact "
        f"shares), plus {_money(REREFERRAL_COST)} per re-referral and {_money(REMOVAL_COST)} "
        "per removal (17 weeks of foster care at PSSRU 2017's £646); the effect is not being "
        "re-referred by T2; families sharing a main worker are resampled together.\n\n"
        "Why: a commissioner needs each figure with its uncertainty; the bootstrap over "
        "workers (diaries) and main workers (CEA) respects how the data are clustered, and "
        "the CEAC and EVPI say how sure the choice is and what more research is worth."
        + truth_note)
    caveats = [
        "Unit costs per process and programme fees are illustrative: replace them with your "
        "own before quoting any money figure.",
        "\"Avoided\" means below what the neighbours' rates imply. On simulated data the "
        "pilots are a random sample of LAs, so the gap is the programme's effect "
        "(attribution 1); on the real 2015/16 data a difference in differences supports only "
        "about a third of the gap (docs/vfm.md): the NPV reaches 0 at an attribution of "
        f"{be.value:.0%} (break-even), and the tornado's widest bar is "
        f"`{tables['one_way']['parameter'].iloc[0]}`.",
        "The experience groups are not randomised, and their 3 / 4 / 3 pilots are too few to "
        "resample: the CEA resamples main workers, which ignores correlation through "
        "secondary workers and between workers of one pilot.",
        "A diary week stands for the year, and the diarists for the workforce.",
        "The published comparison uses the pre-2021 DfE neighbour model and the real pilots; "
        "the recomputed gaps here are on simulated LAs with simulated pilot effects, so they "
        "should be close in size, not equal.",
    ]
    if ctx.quick:
        caveats.append(f"Quick mode: {n_boot:,} bootstrap replicates and {n_draws:,} draws.")
    return Section(
        key=KEY, title=TITLE,
        question=("What does an hour of social work cost and how is it spent; what processes "
                  "did the pilots avoid against their statistical neighbours and what are they "
                  "worth; does the investment pay back; and which experience group is most "
                  "cost-effective at keeping families out of re-referral, and how sure is "
                  "that?"),
        method=method, tables=tables,
        figures={"ceac": fig_ceac, "ce_plane": fig_plane, "tornado": fig_tornado},
        naive=naive + " " + "; ".join(icer_lines) + ".",
        caveats=caveats, simulated=simulated, truth=truth, published=published, notes=notes,
        captions={
            "unit_cost": "Cost of a social worker hour (illustrative inputs), with intervals "
                         "from the input distributions.",
            "time_shares": "Shares of diary time by activity, worker bootstrap intervals.",
            "diary_comparison": "Diary week, 2 years plus minus new (worker bootstrap; the "
                                "simulator gives every group the same shares); p-values "
                                "unadjusted across the four measures.",
            "diary_costs": "Per diary week: direct share, hours, cost per worker, per direct "
                           "hour and per case.",
            "avoided_costs": "Processes and process costs avoided against statistical "
                             "neighbours, ten pilots pooled, a year.",
            "budget": "Five-year budget view: NPV, benefit-cost ratio, present values "
                      "(estimate: the mean over the input draws; the tornado's base is the "
                      "NPV at the point inputs).",
            "one_way": "One-way sensitivity of the NPV, sorted by swing.",
            "psa": "Probabilistic sensitivity analysis of the NPV.",
            "cea": "Costs, effects, increments and ICERs by experience group (clustered "
                   "bootstrap); p-values per increment, unadjusted: the choice rests on the "
                   "CEAC and EVPI, not on these tests.",
            "nmb": "Net monetary benefit per family and its increment over 'new' (95% "
                   "bootstrap interval), at some willingness-to-pay values.",
            "frontier": "Incremental analysis: dominance and extended dominance.",
            "acceptability": "Probability each option is best (CEAC), the option with the highest "
                    "expected NMB and the EVPI per family, at some willingness-to-pay values.",
            "ce_plane": f"Cost-effectiveness plane: bootstrap clouds, {_money(WTP)} threshold.",
            "ceac": "Left: cost-effectiveness acceptability curves with the frontier; right: "
                    "EVPI per family, by willingness to pay per re-referral avoided.",
            "tornado": "Tornado: the NPV at the ends of each input's range, the others at "
                       "base.",
        },
        results=results,
    )
