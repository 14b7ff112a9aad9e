"""Strand (3): attrition between Time 1 and Time 2, and weighting for it.

270 families were interviewed at Time 1 and 184 again at Time 2. The strand asks who dropped
out (:func:`sosstats.weighting.response_rates`, :func:`~sosstats.weighting.nonresponse_tests`),
builds attrition weights (:func:`~sosstats.weighting.attrition_weights`, logit propensity and
entropy balancing, with balance diagnostics), estimates the Time 2 means with replicate standard
errors that re-estimate the weights on every resample of the ten pilots
(:func:`~sosstats.weighting.replicate_weights`), asks whether weighting mattered
(:func:`~sosstats.weighting.weighting_effect`) and how far the answer could move if dropout
depended on the outcome itself (Manski bounds, Lee bounds, a tipping point). On simulated data
the true Time 2 means over all 270 families (respondents or not) sit beside the estimates.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sosstats.report._context import StrandContext
from sosstats.report._section import Section
from sosstats.report.strands._notes import captured_notes

__all__ = ["KEY", "TITLE", "FRAMES", "run"]

KEY = "attrition"
TITLE = "Attrition between Time 1 and Time 2: who dropped out, weights, and bounds"

#: the user frames this strand accepts and the columns each must have
FRAMES: dict[str, tuple[str, ...]] = {
    "families": ("family_id", "la_code", "cohort", "experience", "responded_t2",
                 "previous_referral", "agency_worker", "feelings_t1", "sdq_t1", "sdq_t2"),
}

#: T1 covariates of the response model (family-level: a resample of pilots keeps them all)
COVARIATES = ["previous_referral", "agency_worker", "feelings_t1", "sdq_t1", "cohort"]
#: the love plot's words for the covariates (the library labels its rows with column names)
COVARIATE_LABELS = {"previous_referral": "previous referral", "agency_worker": "agency worker",
                    "feelings_t1": "feelings about the worker at T1 (1-5)",
                    "sdq_t1": "SDQ at T1 (0-40)", "cohort": "cohort"}
FORMULA = ("responded_t2 ~ previous_referral + agency_worker + feelings_t1 + sdq_t1 "
           "+ C(cohort)")
#: T2 outcomes: column -> (label, kind, key in truth["families"]["t2_all_means"])
OUTCOMES = {
    "sdq_t2": ("SDQ at T2 (0-40)", "mean", "sdq"),
    "feelings_t2": ("feelings about the worker at T2 (1-5)", "mean", "feelings"),
    "shared_understanding_t2": ("shared understanding at T2", "proportion",
                                "shared_understanding"),
    "knows_goals_t2": ("knows the goals at T2", "proportion", "knows_goals"),
    "concerns_fewer": ("fewer concerns at T2 than at T1", "proportion", "concerns_fewer"),
    "sdq_change": ("SDQ change T2 - T1", "mean", None),
}
N_REPLICATES = {True: 60, False: 400}
PUBLISHED = {"t1": 270, "t2": 184}


def _families(ctx: StrandContext) -> tuple[pd.DataFrame, bool]:
    """Return the families frame with the working columns added, and whether it is the user's."""
    user = "families" in ctx.frames
    data = ctx.user_frame("families", FRAMES["families"], numeric=["sdq_t1", "feelings_t1"],
                          numeric_nan=["sdq_t2"])
    fam = data.copy()
    responded = fam["responded_t2"].astype(bool)
    fam["sdq_change"] = fam["sdq_t2"] - fam["sdq_t1"]
    if "concerns_t2" in fam.columns:
        fam["concerns_fewer"] = ((fam["concerns_t2"].astype(object) == "fewer")
                                 .astype(float).where(responded & fam["concerns_t2"].notna()))
    fam["experienced"] = np.where(fam["experience"].astype(str) == "new", "new",
                                  "2 years or more")
    return fam, user


def _t2_table(fam: pd.DataFrame, outcomes: list[str], logit: Any, reps: Any) -> pd.DataFrame:
    """Complete-case and weighted T2 estimates, each with the SE it should carry."""
    from sosstats.weighting import weighted_mean, weighted_proportion

    rows = []
    for col in outcomes:
        label, kind, _ = OUTCOMES[col]
        fn = weighted_mean if kind == "mean" else weighted_proportion
        fits = {
            "complete case, families independent": fn(fam, col),
            "complete case, clustered by pilot": fn(fam, col, cluster="la_code"),
            "weighted, weights fixed, by pilot": fn(fam, col, weights=logit, cluster="la_code"),
            "weighted, replicate SE": fn(fam, col, weights=reps),
        }
        for analysis, fit in fits.items():
            r = fit.tidy().iloc[0]
            rows.append({"outcome": label, "column": col, "analysis": analysis,
                         "estimate": r["estimate"], "std_error": r["std_error"],
                         "ci_lower": r["ci_lower"], "ci_upper": r["ci_upper"], "df": r["df"],
                         "n": r["n"]})
    return pd.DataFrame(rows)


def _truth_values(fam: pd.DataFrame, ev_truth: dict[str, Any]) -> dict[str, float]:
    """Return the true T2 means over all families (respondents or not), by outcome column."""
    means = ev_truth["t2_all_means"]
    out = {col: float(means[key]) for col, (_, _, key) in OUTCOMES.items()
           if key is not None and key in means}
    out["sdq_change"] = float(means["sdq"]) - float(fam["sdq_t1"].mean())
    return out


def _love_figure(logit: Any) -> Any:
    """Draw the love plot of the logit attrition weights (the library's plot)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 3.6), layout="constrained")
    ax = fig.add_subplot()
    logit.plot(ax=ax)
    # the same rows and points, labelled in words ('agency worker', not 'agency_worker')
    ax.set_yticks(ax.get_yticks(), [_covariate_label(t.get_text())
                                     for t in ax.get_yticklabels()])
    return ax.figure


def _covariate_label(column: str) -> str:
    """Return the report's words for covariate ``column`` (underscores as spaces otherwise)."""
    return COVARIATE_LABELS.get(column, column.replace("_", " "))


def _estimates_figure(t2: pd.DataFrame, truth: dict[str, float] | None) -> Any:
    """Draw complete-case and weighted T2 estimates per outcome, beside the truth."""
    from matplotlib.figure import Figure

    shown = ["complete case, families independent", "weighted, replicate SE"]
    colours = {"complete case, families independent": "tab:orange",
               "weighted, replicate SE": "tab:blue"}
    cols = list(dict.fromkeys(t2["column"]))
    ncol = 3
    nrow = int(np.ceil(len(cols) / ncol))
    fig = Figure(figsize=(10, 2.6 * nrow), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol)).ravel()
    for ax, col in zip(axes, cols):
        part = t2[t2["column"] == col].set_index("analysis")
        for k, name in enumerate(shown):
            r = part.loc[name]
            ax.errorbar([r["estimate"]], [1 - k], xerr=[[r["estimate"] - r["ci_lower"]],
                                                        [r["ci_upper"] - r["estimate"]]],
                        fmt="o", capsize=3, color=colours[name], label=name)
        if truth is not None and col in truth:
            ax.axvline(truth[col], color="crimson", ls="--", lw=1.2,
                       label="truth, all families")
        ax.set_yticks([1, 0])
        ax.set_yticklabels(["complete case", "weighted"])
        ax.set_ylim(-0.6, 1.6)
        ax.set_title(OUTCOMES[col][0], fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in axes[len(cols):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8)
    return fig


def _report_words(ax: Any) -> None:
    """Put the report's outcome names in place of column names in a library plot's labels."""
    def words(text: str) -> str:
        for col in sorted(OUTCOMES, key=len, reverse=True):
            text = text.replace(col, OUTCOMES[col][0])
        return text

    ax.set_xlabel(words(ax.get_xlabel()))
    ax.set_ylabel(words(ax.get_ylabel()))
    ax.set_title(words(ax.get_title()))


def _sensitivity_figure(manski: Any, tip: Any, truth_share: float | None,
                        true_delta: float | None) -> Any:
    """Draw the Manski bounds and the tipping-point band side by side (library plots)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11 if manski is not None else 6, 3.8), layout="constrained")
    if manski is None:
        ax1, ax2 = None, fig.add_subplot()
    else:
        ax1, ax2 = fig.subplots(1, 2)
        manski.plot(ax=ax1)
    tip.plot(ax=ax2)
    for ax in (ax1, ax2):
        if ax is not None:
            _report_words(ax)
    if ax1 is not None:
        ax1.set_yticks([])                         # a single row labelled 'all'
    if truth_share is not None and ax1 is not None:
        ax1.axvline(truth_share, color="crimson", ls="--", lw=1.2, label="truth, all families")
        ax1.legend(fontsize=8)
    if true_delta is not None:
        ax2.axvline(true_delta, color="crimson", ls=":", lw=1.5,
                    label=f"true delta {true_delta:.2f}")
        ax2.legend(fontsize=8, loc="upper left")
    return fig


def run(ctx: StrandContext) -> Section:
    """Run the attrition analyses and return the strand's :class:`Section`.

    Parameters
    ----------
    ctx : StrandContext
        Seed, quick mode and the user's frames; ``ctx.frame("families")`` (one row per family
        seen at T1, ``responded_t2`` and the T2 outcomes, NaN for non-respondents) is used.
        Under ``ctx.quick`` the replicate weights use 60 resamples of the pilots, else 400.

    Returns
    -------
    Section
        Tables ``response_rates``, ``response_tests``, ``nonresponse``, ``weights``,
        ``balance``, ``t2_estimates``, ``weighting_effect``, ``bounds`` and ``tipping_point``;
        figures ``love_plot``, ``weighted_vs_unweighted`` and ``sensitivity``; on simulated
        data the true T2 means over all families in ``truth``; the published 270 / 184
        beside the frame's.

    Notes
    -----
    Inverse probability weights: a logit response model
    ``P(responded | x) = expit(x'b)`` on T1 covariates, weights ``mean(R) / p_hat`` for
    respondents (Robins, Rotnitzky and Zhao 1995; Seaman and White 2013), checked against
    entropy balancing (Hainmueller 2012). Standard errors: the Rao-Wu rescaling bootstrap of
    the ten pilots with the weighting re-run on every replicate (Rao and Wu 1988), t on 9 df.
    Sensitivity: Manski (1990) bounds, Lee (2009) bounds and a delta-adjusted tipping point
    (Carpenter and Kenward 2013).
    """
    from sosstats.weighting import (
        attrition_weights,
        lee_bounds,
        manski_bounds,
        nonresponse_tests,
        replicate_weights,
        response_rates,
        tipping_point,
        weighting_effect,
    )

    notes: list[str] = []
    fam, user = _families(ctx)
    ev_truth = None if user else ctx.evaluation().truth["families"]
    outcomes = [c for c in OUTCOMES if c in fam.columns]
    n = len(fam)
    n_resp = int(fam["responded_t2"].astype(bool).sum())
    n_pilots = int(fam["la_code"].nunique())
    B = N_REPLICATES[bool(ctx.quick)]

    ctx.step(0.05, "response rates and non-response tests")
    with captured_notes(notes):
        by = [c for c in ("experience", "cohort", "previous_referral", "agency_worker",
                          "la_code") if c in fam.columns]
        rates = response_rates(fam, "responded_t2", by=by)
        nr_covs = COVARIATES + (["referral_reason"] if "referral_reason" in fam.columns
                                else [])
        nonresp = nonresponse_tests(fam, "responded_t2", nr_covs)

        ctx.step(0.2, "attrition weights")
        logit = attrition_weights(fam, formula=FORMULA, method="logit")
        entropy = attrition_weights(fam, responded="responded_t2", covariates=COVARIATES,
                                    method="entropy")
        ctx.step(0.3, f"replicate weights ({B} resamples of the pilots)")
        reps = replicate_weights(fam, formula=FORMULA, method="logit", cluster="la_code",
                                 n_replicates=B, rng=ctx.rng(KEY), progress=False)

        ctx.step(0.6, "weighted T2 estimates")
        t2 = _t2_table(fam, outcomes, logit, reps)
        effects = []
        for col in [c for c in ("sdq_t2", "feelings_t2", "sdq_change") if c in outcomes]:
            e = weighting_effect(fam, col, reps).tidy().set_index("term").loc["difference"]
            effects.append({"outcome": OUTCOMES[col][0], "difference": e["estimate"],
                            "std_error": e["std_error"], "p_value": e["p_value"],
                            "ci_lower": e["ci_lower"], "ci_upper": e["ci_upper"],
                            "df": e["df"]})
        weighting_eff = pd.DataFrame(effects)

        ctx.step(0.75, "bounds and tipping point")
        bound_rows = []
        manski, manski_col = None, None
        for col in [c for c in ("shared_understanding_t2", "knows_goals_t2") if c in outcomes]:
            mb = manski_bounds(fam, col, "responded_t2")
            r = mb.table.iloc[0]
            bound_rows.append({"bound": "Manski (no assumption)", "outcome": OUTCOMES[col][0],
                               "observed": r["observed_mean"], "lower": r["lower"],
                               "upper": r["upper"], "ci_lower": r["ci_lower"],
                               "ci_upper": r["ci_upper"]})
            if manski is None:
                manski, manski_col = mb, col
        lee = lee_bounds(fam, "sdq_t2", "experienced", "responded_t2", reference="new")
        r = lee.table.loc["difference"]
        bound_rows.append({"bound": f"Lee (monotone response; {lee.trimming_share:.1%} of "
                                    f"'{lee.trimmed_group}' trimmed)",
                           "outcome": "SDQ at T2: 2 years or more - new",
                           "observed": r["naive"], "lower": r["lower"], "upper": r["upper"],
                           "ci_lower": r["ci_lower"], "ci_upper": r["ci_upper"]})
        bounds = pd.DataFrame(bound_rows)
        tip = tipping_point(fam, "sdq_change", "responded_t2", weights=logit,
                            cluster="la_code")

    # ---------------------------------------------------------------- tables
    diag = logit.diagnostics()
    weights_rows = []
    for name, aw in (("logit propensity", logit), ("entropy balancing", entropy)):
        d = aw.diagnostics()
        weights_rows.append({"method": name, "ess": d.attrs["ess"],
                             "design_effect": d.attrs["design_effect"],
                             "weight_min": d.attrs["weight_min"],
                             "weight_max": d.attrs["weight_max"],
                             "max_abs_smd_before": d["smd_unweighted"].abs().max(),
                             "max_abs_smd_after": d["smd_weighted"].abs().max()})
    weights_table = pd.DataFrame(weights_rows)
    q = n_resp / n
    truth_vals = None if ev_truth is None else _truth_values(fam, ev_truth)
    sens = {"mar_estimate": tip.mar["estimate"], "mar_ci_lower": tip.mar["ci_lower"],
            "mar_ci_upper": tip.mar["ci_upper"], "tipping_point": tip.tipping_point,
            "estimate_tipping_point": tip.estimate_tipping_point}
    if truth_vals is not None:
        # theta(delta) = theta_MAR + (1 - q) delta: the delta that reproduces the truth
        sens["true_delta"] = (truth_vals["sdq_change"] - tip.mar["estimate"]) / (1 - q)
    sensitivity = pd.DataFrame([sens])

    tables = {
        "response_rates": rates.table,
        "response_tests": rates.tests,
        "nonresponse": nonresp.tests,
        "weights": weights_table,
        "balance": diag.reset_index(),
        "t2_estimates": t2,
        "weighting_effect": weighting_eff,
        "bounds": bounds,
        "tipping_point": sensitivity,
    }

    # ---------------------------------------------------------------- truth
    truth = None
    if truth_vals is not None:
        rows = []
        for col in outcomes:
            if col not in truth_vals:
                continue
            part = t2[t2["column"] == col].set_index("analysis")
            for analysis, short in (("complete case, families independent", "complete case"),
                                    ("weighted, replicate SE", "attrition-weighted")):
                r = part.loc[analysis]
                rows.append({"quantity": f"{OUTCOMES[col][0]}, all {n} families: {short}",
                             "truth": truth_vals[col], "estimate": r["estimate"],
                             "ci_lower": r["ci_lower"], "ci_upper": r["ci_upper"],
                             "covered": bool(r["ci_lower"] <= truth_vals[col]
                                             <= r["ci_upper"]),
                             "method": analysis})
        for _, b in bounds[bounds["bound"].str.startswith("Manski")].iterrows():
            col = [c for c in outcomes if OUTCOMES[c][0] == b["outcome"]][0]
            rows.append({"quantity": f"{b['outcome']}, all {n} families: Manski bounds "
                                     "(interval = the identified set)",
                         "truth": truth_vals[col], "estimate": b["observed"],
                         "ci_lower": b["lower"], "ci_upper": b["upper"],
                         "covered": bool(b["lower"] <= truth_vals[col] <= b["upper"]),
                         "method": "worst / best case for the missing answers"})
        truth = pd.DataFrame(rows)

    published = _published(n, n_resp, user, ctx.seed)

    # ---------------------------------------------------------------- figures
    ctx.step(0.9, "figures")
    with captured_notes(notes):
        figures = {"love_plot": _love_figure(logit),
                   "weighted_vs_unweighted": _estimates_figure(t2, truth_vals),
                   "sensitivity": _sensitivity_figure(
                       manski, tip,
                       None if truth_vals is None or manski_col is None
                       else truth_vals.get(manski_col),
                       sens.get("true_delta"))}

    # ---------------------------------------------------------------- text
    sdq = t2[t2["column"] == "sdq_t2"].set_index("analysis")
    cc, wt = sdq.loc["complete case, families independent"], sdq.loc["weighted, replicate SE"]
    flagged = nonresp.flagged()
    source = ("the user's `families` frame" if user else
              f"`simulate_evaluation(rng={ctx.seed})` families (simulated: the real family "
              "data are not public)")
    question = (f"{n} families were interviewed at Time 1 and {n_resp} at Time 2 "
                f"({1 - q:.0%} attrition). Who dropped out, do the Time 2 figures of the "
                "families who stayed stand for all the families seen at Time 1, and how far "
                "could they move if dropout depended on how the families were doing?")
    method = (
        f"Data: {source}; {n_pilots} pilots.\n\n"
        "**Who dropped out.** Response rates by group with Wilson intervals and chi-square "
        "tests; respondents against non-respondents on each T1 covariate (Welch t or "
        "chi-square, Holm-adjusted) and a likelihood-ratio test of the whole response "
        "model.\n\n"
        f"**Weights.** A logit response model `{FORMULA}` gives inverse-probability weights "
        "(stabilised, summing to the respondents), which make the respondents resemble the "
        "full T1 sample on those covariates; entropy balancing on the same covariates is the "
        "check (exact balance on their means). Balance is read from standardised mean "
        "differences against the full T1 sample (the love plot), the cost from the design "
        "effect of weighting.\n\n"
        f"**Standard errors** that know the weights were estimated: {B} Rao-Wu bootstrap "
        "resamples of the ten pilots, the response model re-fitted on each, t on 9 df "
        "(`replicate_weights`, then `weighted_mean` / `weighted_proportion` / "
        "`weighting_effect`).\n\n"
        "**If dropout is not at random** (it depends on the T2 outcome itself), no weighting "
        "can see it: Manski bounds (no assumption at all), Lee bounds (monotone response) and "
        "a tipping point (how much worse the missing families would have to be than the "
        "weighting assumes before the mean SDQ change stops being significant).")
    naive = (
        f"The complete-case analysis reports the {n_resp} respondents as if they were all "
        f"{n}: mean SDQ at T2 {cc['estimate']:.2f} (95% CI {cc['ci_lower']:.2f} to "
        f"{cc['ci_upper']:.2f}, families independent), against {wt['estimate']:.2f} "
        f"({wt['ci_lower']:.2f} to {wt['ci_upper']:.2f}) weighted with replicate SEs"
        + (f"; the truth for all {n} families is {truth_vals['sdq_t2']:.2f}."
           if truth_vals is not None else ".")
        + " Families who felt better about their worker at T1 stayed more often, and "
        "feelings go with the T2 outcomes, so the stayers look better than all families did. "
        "Its interval also ignores the ten pilots.")
    caveats = [
        ("Simulated data: attrition in the simulator is missing at random given T1 "
         "covariates, so weighting can remove its bias; real attrition may not be." if not user
         else "The user's data: no truth is known, so no truth table is shown."),
        "Weights correct only for the covariates in the response model (missing at random "
        "given them); the bounds and the tipping point are what is left if that fails.",
        "Ten pilots make a coarse bootstrap: the replicate SE rests on ten pilot totals and "
        "is itself uncertain by about a quarter; t on 9 df allows for that on average.",
        "Manski bounds are as wide as the missing share by construction; Lee bounds assume "
        "monotone response and groups comparable apart from attrition, which the "
        "non-randomised experience groups are not.",
        f"Non-response tests flagged (Holm, 5%): {', '.join(flagged) if flagged else 'none'}; "
        "with a few hundred families they have little power, so the weighting uses the T1 "
        "covariates that plausibly drive response, not only those that pass a test.",
    ]
    captions = {
        "response_rates": "Response at T2 by group (Wilson 95% intervals).",
        "nonresponse": "T1 covariates by response status (Holm-adjusted p-values).",
        "response_tests": "Response at T2 by group: one chi-square test per grouping, "
                          "p-values unadjusted (descriptive; the covariates are tested with "
                          "Holm in nonresponse).",
        "weights": "Two weightings: effective sample size, design effect, balance.",
        "balance": "Standardised differences against the full T1 sample, before and after "
                   "the logit weights.",
        "t2_estimates": "T2 estimates: complete case (families independent / by pilot) and "
                        "weighted (weights fixed / replicate SE).",
        "weighting_effect": "Weighted minus unweighted mean, replicate SE; p-values per "
                            "outcome, unadjusted.",
        "bounds": "Bounds if dropout depends on the outcome.",
        "tipping_point": "Tipping point of the weighted mean SDQ change (delta in SDQ "
                         "points; true_delta: the shift that reproduces the truth).",
        "sensitivity": "Manski bounds of shared understanding, and the tipping-point band.",
        "love_plot": "Love plot of the logit attrition weights.",
        "weighted_vs_unweighted": "Complete case (families independent) and weighted "
                                  "(replicate SE) T2 estimates beside the truth.",
    }
    return Section(
        key=KEY, title=TITLE, question=question, method=method, tables=tables,
        figures=figures, naive=naive, caveats=caveats, simulated=not user, truth=truth,
        published=published, notes=notes, captions=captions,
        results={"response_rates": rates, "nonresponse": nonresp, "logit": logit,
                 "entropy": entropy, "replicates": reps, "lee": lee, "manski": manski,
                 "tipping_point": tip},
    )


def _published(n: int, n_resp: int, user: bool, seed: int) -> pd.DataFrame:
    """Set the published 270 / 184 / 32% beside the frame's counts."""
    where = ("the user's families frame" if user else
             f"simulated families, simulate_evaluation(rng={seed})")
    rows = [
        {"quantity": f"families interviewed at T1 (recomputed: rows of {where})",
         "published": float(PUBLISHED["t1"]), "recomputed": float(n)},
        {"quantity": f"families re-interviewed at T2 (recomputed: responded_t2 in {where})",
         "published": float(PUBLISHED["t2"]), "recomputed": float(n_resp)},
        {"quantity": f"attrition T1 to T2, % (recomputed on {where})",
         "published": 32.0, "recomputed": 100.0 * (1 - n_resp / n)},
    ]
    out = pd.DataFrame(rows)
    out["difference"] = out["recomputed"] - out["published"]
    out["source"] = ("Baginsky et al. (2017), summary presentation; recomputed from "
                     + ("the user's data" if user else
                        "SIMULATED data (the simulator draws response at random, about 68%)"))
    return out
