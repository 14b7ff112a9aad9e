"""Strand (2): Time 1 / Time 2 change in family outcomes by cohort and experience group.

Runs on the families of the shared simulated evaluation (``ctx.evaluation().families``) or on a
user's ``families`` frame, with :func:`sosstats.panel.change_model` (first differences, CR2 and
the wild cluster restricted bootstrap for ten pilots), a joint test of the experience groups
(:meth:`~sosstats.panel.ChangeResult.wald_test`), a contrast between the two experienced groups,
and the binary change in shared understanding and knowing the goals
(:func:`sosstats.panel.conditional_logit`). The simulator's true change effects sit beside the
estimates in ``Section.truth``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sosstats.report._context import StrandContext
from sosstats.report._section import Section
from sosstats.report.strands._notes import captured_notes

__all__ = ["KEY", "TITLE", "FRAMES", "run"]

KEY = "change"
TITLE = "Change between Time 1 and Time 2, by cohort and experience group"

#: the user frames this strand accepts and the columns each must have
FRAMES: dict[str, tuple[str, ...]] = {
    "families": ("family_id", "la_code", "cohort", "experience", "sdq_t1", "sdq_t2",
                 "shared_understanding_t1", "shared_understanding_t2",
                 "knows_goals_t1", "knows_goals_t2"),
}

EXPERIENCE_ORDER = ("new", "2 years", "2 years plus")
FORMULA = "sdq ~ C(cohort) + C(experience)"
BINARY = {"shared_understanding": "shared understanding", "knows_goals": "knows the goals"}
INFERENCE_LABELS = {
    "independent": "families independent (no clustering)",
    "cr1": "CR1 by pilot, t(G-1) (naive with 10 pilots)",
    "cr2": "CR2 by pilot, Satterthwaite df",
    "wild": "wild cluster restricted bootstrap",
}


def _families(ctx: StrandContext) -> tuple[pd.DataFrame, bool]:
    """Return the families frame (the user's, checked, or the simulation's) and whose it is."""
    user = "families" in ctx.frames
    data = ctx.user_frame("families", FRAMES["families"],
                          numeric_nan=["sdq_t1", "sdq_t2", "shared_understanding_t1",
                                       "shared_understanding_t2", "knows_goals_t1",
                                       "knows_goals_t2"])
    data = data.copy()
    labels = set(pd.Series(data["experience"]).dropna().astype(str).unique())
    if labels <= set(EXPERIENCE_ORDER):      # keep 'new' the reference group, whatever the dtype
        data["experience"] = pd.Categorical(data["experience"].astype(object),
                                            categories=list(EXPERIENCE_ORDER), ordered=True)
    return data, user


def _term_truth(term: str, time_t2: float) -> float:
    """Return the true coefficient of a first-difference term (the change is ``time_t2``).

    Cohort and experience shift the level of SDQ at both waves in the simulator, not its
    change, so their true coefficients on the change are 0.
    """
    return float(time_t2) if term == "Intercept" else 0.0


def _binary_change(conditional_logit: Any, families: pd.DataFrame, stub: str,
                   notes: list[str]) -> Any:
    """Fit the conditional logit of ``stub`` by experience; without it if that separates.

    With a few hundred families a small experience group can have every discordant family
    change the same way (separation: an infinite estimate), which the library refuses with a
    DesignError; the strand then reports the time effect alone, or nothing, and says so.
    """
    from sosstats.errors import DesignError

    for covariates in (["experience"], None):
        try:
            return conditional_logit(families, f"{stub}_t1", f"{stub}_t2",
                                     covariates=covariates, cluster="la_code")
        except DesignError as exc:
            what = "by experience group" if covariates else "without covariates"
            notes.append(f"conditional logit of {BINARY[stub]} {what} not estimable: {exc}")
    return None


def _interval_row(quantity: str, truth: float | None, estimate: float, lower: float,
                  upper: float, method: str) -> dict[str, Any]:
    covered = (bool(lower <= truth <= upper) if truth is not None and np.isfinite(lower)
               and np.isfinite(upper) else None)
    return {"quantity": quantity, "truth": truth, "estimate": estimate, "ci_lower": lower,
            "ci_upper": upper, "covered": covered, "method": method}


def _coefficient_figure(fit: Any, truths: pd.Series) -> Any:
    """Draw the library's coefficient plot of the CR2 fit, with the simulator's truth marked."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 3.8), layout="constrained")
    ax = fig.add_subplot()
    terms = list(fit.params.index)
    fit.plot(ax=ax, terms=terms)
    if truths is not None:
        pos = np.arange(len(terms))[::-1]
        ax.scatter(truths.reindex(terms).to_numpy(float), pos, marker="x", color="crimson",
                   zorder=5, label="simulator's truth")
        # outside the axes: inside, it sat over the last term's interval
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.set_title("SDQ change (T2 - T1): first differences, CR2 by pilot", fontsize=10)
    ax.set_xlabel("estimate (95% interval, CR2)")      # the library writes 'cr2'
    return ax.figure


def _interval_figure(tables: dict[str, pd.DataFrame], truths: pd.Series | None) -> Any:
    """Draw each term's interval under the four kinds of inference, beside the truth."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.add_subplot()
    terms = list(next(iter(tables.values()))["term"])
    base = np.arange(len(terms))[::-1] * (len(tables) + 1.0)
    colours = ["0.55", "tab:orange", "tab:blue", "tab:green"]
    for k, (name, tab) in enumerate(tables.items()):
        tab = tab.set_index("term").loc[terms]
        y = base + (len(tables) - 1) / 2 - k
        est = tab["estimate"].to_numpy(float)
        ax.errorbar(est, y, xerr=np.vstack([est - tab["ci_lower"].to_numpy(float),
                                            tab["ci_upper"].to_numpy(float) - est]),
                    fmt="o", ms=4, capsize=2, color=colours[k % len(colours)],
                    label=INFERENCE_LABELS.get(name, name))
    if truths is not None:
        ax.scatter(truths.reindex(terms).to_numpy(float), base + (len(tables) - 1) / 2 - 1.5,
                   marker="x", s=60, color="crimson", zorder=5, label="simulator's truth")
    ax.axvline(0.0, color="grey", lw=0.8, ls="--")
    ax.set_yticks(base + (len(tables) - 1) / 2 - 1.5)
    ax.set_yticklabels(terms)
    ax.set_xlabel("coefficient on the SDQ change (95% interval)")
    ax.set_title("One model, four kinds of inference (95% intervals)", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    return fig


def _change_figure(long: pd.DataFrame) -> Any:
    """Draw T1 and T2 mean SDQ by experience group, the same families at both waves (CR2)."""
    from matplotlib.figure import Figure

    from sosstats.panel import change_plot

    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.add_subplot()
    change_plot(long, "sdq", "wave", by="experience", entity="family_id", cluster="la_code",
                ax=ax)
    # the report's words, not the column names the library plot labels with
    n_families = long["family_id"].nunique()
    ax.set_title(f"the same {n_families} families at both waves", fontsize=10)
    ax.set_ylabel("mean SDQ (95% CI, CR2 by pilot)")
    ax.set_xlabel("wave")
    ax.set_xticks(ax.get_xticks(), [t.get_text().upper() for t in ax.get_xticklabels()])
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        # outside the axes: inside, it covered the lower T1 whiskers
        ax.legend(handles, [lab.replace("experience = ", "") for lab in labels],
                  title="experience", fontsize=8, frameon=False, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0))
    return ax.figure


def run(ctx: StrandContext) -> Section:
    """Fit the T1/T2 change models and return the strand's :class:`Section`.

    Parameters
    ----------
    ctx : StrandContext
        Seed, quick mode and the user's frames; ``ctx.frame("families")`` (wide: one row per
        family, ``sdq_t1`` / ``sdq_t2`` and the binary outcomes at both waves) is used.

    Returns
    -------
    Section
        Tables ``coefficients`` (the first-difference model under CR1, CR2 and the wild
        bootstrap, and with families treated as independent), ``joint_tests``, ``contrasts``,
        ``binary_change`` and ``mean_change``; figures ``coefficient_plot``, ``intervals`` and
        ``change_by_group``; the simulator's truth beside the estimates.

    Notes
    -----
    First differences: ``sdq_t2 - sdq_t1 = a + b_c [cohort 2] + b_e [experience] + e`` fitted to
    the families seen at both waves; the coefficients say how the change differs by group
    (Allison 1990). With ten pilots the default cluster-robust errors (CR1) are biased down, so
    the strand reports CR2 (Bell and McCaffrey 2002) with Satterthwaite df and the wild cluster
    restricted bootstrap (Cameron, Gelbach and Miller 2008), and tests the experience groups
    jointly with the HTZ test (Tipton and Pustejovsky 2015).
    """
    from sosstats.panel import change_model, conditional_logit, wide_to_long

    notes: list[str] = []
    families, user = _families(ctx)
    ev_truth = None if user else ctx.evaluation().truth["families"]["outcomes"]
    rng = ctx.rng(KEY)
    ctx.step(0.05, "reshaping the families")

    with captured_notes(notes):
        long_all = wide_to_long(families, id="family_id", stubs=["sdq"])
        complete = long_all.groupby("family_id")["sdq"].transform(lambda s: s.notna().all())
        long = long_all[complete.to_numpy(bool)]
        n_t1 = int(families["sdq_t1"].notna().sum())
        n_both = int(long["family_id"].nunique())
        n_pilots = int(long["la_code"].nunique())
        notes.append(f"{n_both} of {len(families)} families have SDQ at both waves; the change "
                     f"models use them ({n_t1 - n_both} families without a T2 score are left "
                     "out: the attrition strand weights for them).")
        kw: dict[str, Any] = {"entity": "family_id", "time": "wave"}
        ctx.step(0.15, "first differences: CR1, CR2, wild bootstrap")
        fits = {
            "independent": change_model(FORMULA, long, **kw),
            "cr1": change_model(FORMULA, long, cluster="la_code", inference="cr1", **kw),
            "cr2": change_model(FORMULA, long, cluster="la_code", inference="cr2", **kw),
            # ten pilots: all 2^10 sign vectors fit in the default n_resamples (exact, cheap)
            "wild": change_model(FORMULA, long, cluster="la_code", inference="wild", rng=rng,
                                 **kw),
        }
        ctx.step(0.4, "joint test and contrast")
        joint = {name: fits[name].wald_test("C(experience)") for name in ("cr1", "cr2", "wild")}
        terms = list(fits["cr2"].params.index)
        exp_terms = [t for t in terms if t.startswith("C(experience)")]
        contrast = (fits["cr2"].contrast({exp_terms[0]: 1, exp_terms[1]: -1})
                    if len(exp_terms) == 2 else None)
        prepost = {name: change_model("sdq ~ 1", long, cluster="la_code", inference=name,
                                      rng=rng, **kw) for name in ("cr2", "wild")}
        ctx.step(0.6, "binary change: conditional logit")
        binary = {}
        for stub in BINARY:
            binary[stub] = _binary_change(conditional_logit, families, stub, notes)
        binary = {k: v for k, v in binary.items() if v is not None}

    # ---------------------------------------------------------------- tables
    time_t2 = None if ev_truth is None else ev_truth["sdq"]["time_t2"]
    truths = (None if time_t2 is None else
              pd.Series({t: _term_truth(t, time_t2) for t in terms}))
    cols = ["term", "estimate", "std_error", "p_value", "ci_lower", "ci_upper", "df"]
    tidy = {name: fit.tidy() for name, fit in fits.items()}
    coef_rows = []
    for name, tab in tidy.items():
        part = tab[[c for c in cols if c in tab.columns]].copy()
        part.insert(0, "inference", INFERENCE_LABELS[name])
        if truths is not None:
            part["truth"] = part["term"].map(truths)
        coef_rows.append(part)
    coefficients = pd.concat(coef_rows, ignore_index=True)
    coefficients["ci_width"] = coefficients["ci_upper"] - coefficients["ci_lower"]

    joint_rows = []
    for name, test in joint.items():
        t = test.tidy().iloc[0]
        joint_rows.append({"inference": INFERENCE_LABELS[name], "test": t["test"],
                           "statistic": t["statistic"], "df_num": t["df_num"],
                           "df_denom": t["df_denom"], "p_value": t["p_value"]})
    joint_tests = pd.DataFrame(joint_rows)

    mean_rows = []
    for name, fit in prepost.items():
        r = fit.tidy().iloc[0]
        mean_rows.append({"inference": INFERENCE_LABELS[name], "estimate": r["estimate"],
                          "std_error": r["std_error"], "p_value": r["p_value"],
                          "p_value_text": fit.p_value_text("Intercept"),
                          "ci_lower": r["ci_lower"], "ci_upper": r["ci_upper"],
                          "truth": time_t2})
    mean_change = pd.DataFrame(mean_rows)

    bin_rows = []
    for stub, res in binary.items():
        tab = res.tidy()
        for _, r in tab.iterrows():
            true_value = None
            if ev_truth is not None:
                true_value = ev_truth[stub]["time_t2"] if r["term"] == "time" else 0.0
            bin_rows.append({"outcome": BINARY[stub], "term": r["term"],
                             "estimate": r["estimate"], "std_error": r["std_error"],
                             "p_value": r["p_value"], "ci_lower": r["ci_lower"],
                             "ci_upper": r["ci_upper"], "df": r.get("df", np.nan),
                             "nobs": res.nobs, "truth": true_value})
    binary_change = pd.DataFrame(bin_rows)

    tables: dict[str, pd.DataFrame] = {
        "coefficients": coefficients,
        "mean_change": mean_change,
        "joint_tests": joint_tests,
    }
    if contrast is not None:
        ctab = contrast.tidy().copy()
        if truths is not None:
            ctab["truth"] = 0.0
        tables["contrasts"] = ctab
    if len(binary_change):
        tables["binary_change"] = binary_change

    # ---------------------------------------------------------------- truth
    truth = None
    if truths is not None:
        rows = []
        cr2 = tidy["cr2"].set_index("term")
        labels = {"Intercept": "SDQ change, cohort 1 in new pilots (Intercept)"}
        for term in terms:
            r = cr2.loc[term]
            label = labels.get(term, f"difference in SDQ change: {term}")
            rows.append(_interval_row(label, truths[term], r["estimate"], r["ci_lower"],
                                      r["ci_upper"], "first differences, CR2"))
        w = prepost["wild"].tidy().iloc[0]
        rows.append(_interval_row("mean SDQ change, all families seen twice", time_t2,
                                  w["estimate"], w["ci_lower"], w["ci_upper"],
                                  "sdq ~ 1, wild cluster bootstrap"))
        if contrast is not None:
            c = contrast.tidy().iloc[0]
            rows.append(_interval_row(f"contrast {c['contrast']}", 0.0, c["estimate"],
                                      c["ci_lower"], c["ci_upper"], "CR2 contrast"))
        for stub, res in binary.items():
            tab = res.tidy().set_index("term")
            r = tab.loc["time"]
            who = ("new pilots" if any(str(t).startswith("time:") for t in tab.index)
                   else "all families (fitted without experience)")
            rows.append(_interval_row(f"{BINARY[stub]}: T2 vs T1 log-odds, {who}",
                                      ev_truth[stub]["time_t2"], r["estimate"],
                                      r["ci_lower"], r["ci_upper"], "conditional logit, CR2"))
        truth = pd.DataFrame(rows)

    # ---------------------------------------------------------------- published
    published = _published(families, user, ctx.seed)

    # ---------------------------------------------------------------- figures
    ctx.step(0.8, "figures")
    with captured_notes(notes):
        figures = {
            "coefficient_plot": _coefficient_figure(fits["cr2"], truths),
            "intervals": _interval_figure({k: tidy[k] for k in fits}, truths),
            "change_by_group": _change_figure(long),
        }

    # ---------------------------------------------------------------- text
    cr1 = tidy["cr1"].set_index("term")
    cr2 = tidy["cr2"].set_index("term")
    plus = exp_terms[-1] if exp_terms else terms[-1]
    j_cr1, j_cr2 = joint["cr1"], joint["cr2"]
    source = ("the user's `families` frame" if user else
              f"`simulate_evaluation(rng={ctx.seed})` families (simulated: the real family "
              "data are not public)")
    question = ("How did the families' outcomes (SDQ, 0-40, lower is better; shared "
                "understanding and knowing the goals, yes/no) change between Time 1 and "
                "Time 2, and does the change differ by cohort or by the pilot's experience "
                "of Signs of Safety?")
    method = (
        f"Data: {source}; {n_both} families seen at both waves in {n_pilots} pilots.\n\n"
        f"**First differences** (`sosstats.panel.change_model`, `{FORMULA}`): the T2 - T1 "
        "change regressed on cohort and experience group. The coefficients answer *did the "
        "groups change by different amounts?*, which is the question for pre-existing groups "
        "(ANCOVA of T2 on T1 would answer a different one, Lord's paradox).\n\n"
        "**Inference with ten pilots.** Families share pilots, and experience group is a "
        "property of the pilot, so only ten clusters carry information about it. The usual "
        "cluster-robust errors (CR1, Stata's) are biased down with ten clusters; the strand "
        "reports **CR2** (Bell-McCaffrey with Satterthwaite degrees of freedom, as R's "
        "clubSandwich) and the **wild cluster restricted bootstrap** (all 1,024 Rademacher "
        "sign vectors of ten pilots), and tests the two experience dummies **jointly** with "
        "the HTZ test (`fit.wald_test(\"C(experience)\")`). In the package's coverage study "
        "CR2 intervals covered 94.5-95.4% with ten pilots, CR1 81-83%.\n\n"
        "**Binary change** in shared understanding and knowing the goals: a conditional "
        "(fixed-effects) logit of the T2 answer against the T1 answer "
        "(`sosstats.panel.conditional_logit`), which removes everything stable about a "
        "family, with CR2 errors by pilot; `time:experience[...]` says how the change "
        "differs by group.")
    ind = tidy["independent"].set_index("term")
    naive = (
        "The usual analysis clusters by pilot with CR1 and t on 9 df (Stata's default). Same "
        f"estimates, narrower intervals: for `{plus}` CR1 gives "
        f"{cr1.loc[plus, 'estimate']:.2f} "
        f"[{cr1.loc[plus, 'ci_lower']:.2f}, {cr1.loc[plus, 'ci_upper']:.2f}] "
        f"(p = {cr1.loc[plus, 'p_value']:.3f}) where CR2 gives "
        f"[{cr2.loc[plus, 'ci_lower']:.2f}, {cr2.loc[plus, 'ci_upper']:.2f}] "
        f"(p = {cr2.loc[plus, 'p_value']:.3f}, {cr2.loc[plus, 'df']:.1f} df). "
        f"Treating the {n_both} families as independent gives "
        f"[{ind.loc[plus, 'ci_lower']:.2f}, {ind.loc[plus, 'ci_upper']:.2f}]: it ignores "
        "that families in one pilot share its shocks, and with a pilot-level label it is "
        "not a valid reference either (its intervals can be wider or narrower than CR2's). "
        f"The joint test of experience: CR1's F gives p = {j_cr1.p_value:.3f}, CR2's HTZ "
        f"p = {j_cr2.p_value:.3f} on {j_cr2.df_denom:.1f} denominator df. With ten pilots "
        "CR1's F test rejected a true null 42.5% of the time at 5% in the package's size "
        "study (HTZ 3.8%), so a CR1 'significant experience effect' would most likely be "
        "an artefact of the ten clusters.")
    caveats = [
        "Simulated data: the numbers show what each method recovers from a known truth, not "
        "what happened in the ten pilots." if not user else
        "The user's data: no truth is known, so no truth table is shown.",
        "Only families seen at both waves enter the change models; if the families lost at "
        "T2 changed differently, the change is biased (see the attrition strand: weights, "
        "bounds and a tipping point).",
        "Experience group is a pilot-level label with 3-4 pilots per group: CR2's "
        "Satterthwaite df are 2-5 and the joint test has about 2-3 denominator df, so a "
        "difference between groups can rarely be shown with ten pilots. That is the honest "
        "answer, not a failure of the method.",
        "The wild bootstrap with ten very unequal pilots covered 91-93% in the package's "
        "coverage study: read it beside CR2, not instead of it.",
        "Conditional logit coefficients are within-family (conditional) log-odds; they are "
        "larger than a marginal (population-averaged) logit would give.",
    ]
    captions = {
        "coefficients": "First-difference coefficients under each kind of inference "
                        "(families independent, CR1, CR2, wild bootstrap), with the truth; "
                        "p-values per coefficient, unadjusted (the experience groups are "
                        "tested jointly in joint_tests).",
        "mean_change": "Mean T2 - T1 change in SDQ over the families seen twice (one test "
                       "under two kinds of inference: no multiplicity adjustment needed).",
        "joint_tests": "Does experience group matter at all? Both experience dummies, one test "
                       "under three kinds of inference (no multiplicity adjustment needed).",
        "contrasts": "2 years minus 2 years plus, CR2 standard error and Satterthwaite df (a "
                     "single contrast: no multiplicity adjustment needed).",
        "coefficient_plot": "CR2 coefficient plot (library `fit.plot()`), truth marked x.",
        "intervals": "Each coefficient's 95% interval under the four kinds of inference.",
        "change_by_group": "Mean SDQ at T1 and T2 by experience group, the same families at "
                           "both waves, CR2 intervals by pilot.",
        "binary_change": "Conditional logit of the T2 answer (time = T2 vs T1 log-odds in new "
                         "pilots; time:experience = how the change differs by group); "
                         "p-values per term, unadjusted.",
    }
    # the library's CR1 warning comes from the comparison fit; read alone it suggested the
    # strand's own inference was CR1
    notes = [("From the CR1 fit shown for comparison (the naive analysis; this strand's "
              "inference is CR2 and the wild bootstrap): " + n)
             if n.startswith("Only ") and "CR1" in n else n for n in notes]
    return Section(
        key=KEY, title=TITLE, question=question, method=method, tables=tables,
        figures=figures, naive=naive, caveats=caveats, simulated=not user, truth=truth,
        published=published, notes=notes, captions=captions,
        results={"fits": fits, "joint": joint, "contrast": contrast, "prepost": prepost,
                 "binary": binary},
    )


def _published(families: pd.DataFrame, user: bool, seed: int) -> pd.DataFrame | None:
    """Set concerns at T2 and re-referral as published (study.md) beside the frame's shares."""
    where = ("user's families frame" if user else
             f"simulated families, simulate_evaluation(rng={seed})")
    rows = []
    if "concerns_t2" in families.columns:
        concerns = families["concerns_t2"].dropna().astype(str)
        if len(concerns):
            share = concerns.value_counts(normalize=True)
            for level, text, pub in (("fewer", "with fewer concerns than at T1", 63.0),
                                     ("same", "with the same concerns as at T1", 25.0),
                                     ("more", "more worried than at T1", 12.0)):
                rows.append({"quantity": f"families at T2 {text}, % (recomputed on "
                                         f"{where})",
                             "published": pub,
                             "recomputed": 100.0 * float(share.get(level, 0.0)),
                             "source": "study summary: 63% fewer concerns, 25% the same, "
                                       "12% more worried"})
    if "rereferred_t2" in families.columns:
        rr = pd.to_numeric(families["rereferred_t2"], errors="coerce").dropna()
        if len(rr):
            rows.append({"quantity": f"families not re-referred at T2, % (recomputed on "
                                     f"{where})",
                         "published": 50.0, "recomputed": 100.0 * float((rr == 0).mean()),
                         "source": "study summary: 'just over half not re-referred at T2' "
                                   "(shown as 50)"})
    if not rows:
        return None
    out = pd.DataFrame(rows)
    out["difference"] = out["recomputed"] - out["published"]
    out["source"] = ("Baginsky et al. (2017), " + out["source"] + "; recomputed from "
                     + ("the user's data" if user else "SIMULATED data, not the study's"))
    return out[["quantity", "published", "recomputed", "difference", "source"]]
