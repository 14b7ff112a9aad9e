"""Strand (4): families in social workers in pilots, a Bayesian multilevel model.

SDQ scores at Time 1 and Time 2 are repeated measures within families; families are nested in
the ten pilots and belong to one, two or three social workers with shares of contact (multiple
membership). The strand fits :class:`sosstats.multilevel.MultilevelModel` on the shared
simulated evaluation (or on the user's ``families`` and ``memberships`` frames) and sets the
posterior beside the simulator's truth and beside a single-level regression with iid errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sosstats.report._context import StrandContext
from sosstats.report._section import Section
from sosstats.report.strands._notes import captured_notes

__all__ = ["KEY", "TITLE", "FRAMES", "run"]

KEY = "multilevel"
TITLE = "Families in social workers in pilots: a multilevel model with multiple membership"

#: user frames this strand accepts, with their required columns
FRAMES: dict[str, tuple[str, ...]] = {
    "families": ("family_id", "la_code", "experience", "cohort", "previous_referral",
                 "agency_worker", "sdq_t1", "sdq_t2"),
    "memberships": ("family_id", "worker_id", "weight"),
}

#: fixed effects of the model (right-hand side); T1 and T2 are two rows per family
FORMULA = "sdq ~ wave + C(cohort) + C(experience) + previous_referral + agency_worker"
#: sampler settings: quick (``--quick``) and full (the worked example's, 2,000 draws a chain)
QUICK_FIT = {"draws": 300, "tune": 300, "chains": 2}
FULL_FIT = {"draws": 2000, "tune": 1000, "chains": 4}   # as examples/multilevel.py
TARGET_ACCEPT = 0.95
#: the study's experience groups, reference first
EXPERIENCE = ("new", "2 years", "2 years plus")

# model term -> (quantity shown, key in truth["families"]["outcomes"]["sdq"])
_FIXED_TRUTH = {
    "Intercept": ("intercept (cohort 1, new, T1)", "intercept"),
    "wave[T.t2]": ("T2 - T1 change", "time_t2"),
    "C(cohort)[T.2]": ("cohort 2 - cohort 1", "cohort_2"),
    "C(experience)[T.2 years]": ("experience: 2 years - new", "experience_2_years"),
    "C(experience)[T.2 years plus]": ("experience: 2 years plus - new",
                                      "experience_2_years_plus"),
    "previous_referral": ("previous referral", "previous_referral"),
    "agency_worker": ("agency worker", "agency_worker"),
}
_SD_TRUTH = {
    "sigma_la_code": ("SD of pilot effects", "sd_pilot", "la_code"),
    "sigma_worker_id": ("SD of worker effects (membership)", "sd_worker", "worker_id"),
    "sigma_family_id": ("SD of family effects", "sd_family", "family_id"),
    "sigma": ("residual SD", "sd_residual", "residual"),
}


def _frame(ctx: StrandContext, name: str) -> pd.DataFrame:
    """Return frame ``name`` (the user's, its required columns checked, or the simulation's)."""
    return ctx.user_frame(name, FRAMES[name])


def _fit(model: Any, settings: dict[str, int], seed: int, what: str, notes: list[str]) -> Any:
    """Fit quietly (no progress bar); its sosstats warnings become notes prefixed ``what: ``."""
    with captured_notes(notes, prefix=f"{what}: "):
        return model.fit(rng=seed, progress=False, target_accept=TARGET_ACCEPT, **settings)


def _ols(long: pd.DataFrame) -> pd.DataFrame:
    """Fit the naive analysis: one-level OLS of every SDQ score with iid standard errors."""
    import statsmodels.formula.api as smf

    fit = smf.ols(FORMULA, data=long.assign(
        previous_referral=long["previous_referral"].astype(float),
        agency_worker=long["agency_worker"].astype(float))).fit()
    ci = fit.conf_int()
    return pd.DataFrame({"ols_estimate": fit.params, "ols_se_iid": fit.bse,
                         "ols_ci_lower": ci[0], "ols_ci_upper": ci[1]})


def _vpc_truth(sdq: dict[str, Any]) -> dict[str, float]:
    total = sdq["sd_pilot"] ** 2 + sdq["sd_worker"] ** 2 + sdq["sd_family"] ** 2 \
        + sdq["sd_residual"] ** 2
    return {"la_code": sdq["sd_pilot"] ** 2 / total, "worker_id": sdq["sd_worker"] ** 2 / total,
            "family_id": sdq["sd_family"] ** 2 / total, "residual": sdq["sd_residual"] ** 2 / total}


def _truth_frame(tidy: pd.DataFrame, vpc: pd.DataFrame, pilots: pd.DataFrame,
                 sdq: dict[str, Any], names: pd.Series) -> pd.DataFrame:
    rows = []
    est = tidy.set_index("term")
    for term, (label, key) in _FIXED_TRUTH.items():
        if term in est.index:
            r = est.loc[term]
            rows.append((label, sdq[key], r["estimate"], r["ci_lower"], r["ci_upper"]))
    for term, (label, key, _) in _SD_TRUTH.items():
        if term in est.index:
            r = est.loc[term]
            rows.append((label, sdq[key], r["estimate"], r["ci_lower"], r["ci_upper"]))
    labels = {"la_code": "pilot", "worker_id": "worker (membership)", "family_id": "family",
              "residual": "residual"}
    for level, value in _vpc_truth(sdq).items():
        if level in vpc.index:
            r = vpc.loc[level]
            rows.append((f"VPC {labels[level]}", value, r["vpc"], r["vpc_lower"], r["vpc_upper"]))
    for code, r in pilots.iterrows():
        if code in sdq["pilot_effect"]:
            rows.append((f"pilot effect: {names.get(code, code)}", sdq["pilot_effect"][code],
                         r["estimate"], r["lower"], r["upper"]))
    out = pd.DataFrame(rows, columns=["quantity", "truth", "estimate", "ci_lower", "ci_upper"])
    out["covered"] = (out["ci_lower"] <= out["truth"]) & (out["truth"] <= out["ci_upper"])
    return out


def _figure(res: Any, pilots: pd.DataFrame, names: pd.Series, truth: dict | None) -> Any:
    """Caterpillar (with LA names and, on simulated data, the true effects) and shrinkage."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.5, 4.6), layout="constrained")
    ax_cat, ax_shr = fig.subplots(1, 2)
    res.plot(ax=ax_cat, kind="caterpillar", level="la_code",
             names={str(k): str(v) for k, v in names.items()} or None)
    order = pilots.sort_values("estimate")        # the caterpillar's own order
    ax_cat.set_ylabel("pilot")
    ax_cat.set_xlabel("pilot effect on SDQ (points; lower is better)")
    ax_cat.set_title("Pilot effects, 95% credible intervals")
    if truth is not None:
        values = [truth.get(c, np.nan) for c in order.index]
        ax_cat.scatter(values, np.arange(order.shape[0]), marker="x", color="C3", zorder=3,
                       label="simulator's truth")
        ax_cat.legend(loc="best", frameon=False, fontsize=8)
    res.plot(ax=ax_shr, kind="shrinkage", level="la_code")
    ax_shr.set_xlabel("raw pilot deviation (no pooling, SDQ points)")
    ax_shr.set_ylabel("posterior mean pilot effect")
    ax_shr.set_title("Shrinkage: ten pilots pulled towards 0")
    return fig


def run(ctx: StrandContext) -> Section:
    """Fit the multilevel model of SDQ with multiple membership and report it.

    Parameters
    ----------
    ctx : StrandContext
        Seed, quick mode and the user's frames (``families``, ``memberships``; see
        :data:`FRAMES`).

    Returns
    -------
    Section
        Tables ``fixed_effects``, ``variance_components``, ``vpc``, ``pilot_effects``,
        ``naive_ols``, ``diagnostics`` (and ``main_worker`` without quick), the figure
        ``pilots``, and on simulated data the ``truth`` frame.

    Notes
    -----
    The model is, for family :math:`f` at wave :math:`t`,
    ``sdq_ft = a + x_ft b + u_pilot(f) + sum_j w_fj v_j + c_f + e_ft`` with normal pilot, worker,
    family effects and residual; ``w_fj`` are the shares of contact (Browne, Goldstein &
    Rasbash 2001, Multiple membership multiple classification models, Statistical Modelling
    1(2), 103-124). See ``docs/multilevel.md``.
    """
    from sosstats.multilevel import MultilevelModel
    from sosstats.panel import wide_to_long

    families = _frame(ctx, "families")
    memberships = _frame(ctx, "memberships")
    simulated = not ({"families", "memberships"} & set(ctx.frames))
    ev = ctx.evaluation() if simulated else None
    sdq_truth = ev.truth["families"]["outcomes"]["sdq"] if ev is not None else None
    names = (ev.pilots.set_index("la_code")["la_name"] if ev is not None
             else pd.Series(dtype=object))
    rng = ctx.rng(KEY)
    seeds = rng.integers(0, 2**31 - 1, size=2)
    settings = QUICK_FIT if ctx.quick else FULL_FIT
    ctx.step(0.02, "reshaping T1/T2 to long")

    long = wide_to_long(families, id="family_id", stubs=["sdq"]).dropna(subset=["sdq"])
    groups = set(long["experience"].dropna().astype(str))
    if groups <= set(EXPERIENCE) and not isinstance(long["experience"].dtype,
                                                     pd.CategoricalDtype):
        # plain text labels: keep 'new' the reference group, as in the simulation
        long["experience"] = pd.Categorical(long["experience"].astype(str),
                                            categories=list(EXPERIENCE), ordered=True)
    n_several = int((memberships.groupby("family_id").size() > 1).sum())
    model = MultilevelModel(FORMULA, long, levels=["la_code", "worker_id"],
                            membership=memberships, repeated="family_id")
    ctx.step(0.05, "compiling and sampling the membership model")
    notes: list[str] = []
    res = _fit(model, settings, int(seeds[0]), "membership model", notes)
    ctx.step(0.6 if not ctx.quick else 0.85, "summarising")

    tidy = res.tidy()
    fixed = tidy[~tidy["term"].str.startswith("sigma")][
        ["term", "estimate", "std_error", "ci_lower", "ci_upper", "prob_positive", "r_hat",
         "ess_bulk"]].reset_index(drop=True)
    vc = res.variance_components()
    vpc = res.vpc()
    pilots = res.group_effects("la_code")
    # interval columns named as in every other table of the report
    pilot_table = pilots[["n", "raw_effect", "estimate", "lower", "upper", "pooling"]] \
        .rename(columns={"lower": "ci_lower", "upper": "ci_upper"})
    if ev is not None:
        pilot_table.insert(0, "la_name", [names.get(c, c) for c in pilot_table.index])
        pilot_table["truth"] = [sdq_truth["pilot_effect"].get(c, np.nan)
                                for c in pilot_table.index]
    diag = res.diagnostics()
    diag_table = diag.to_frame()
    diag_table = diag_table.loc[[i for i in diag_table.index if not str(i).startswith("z_")]]
    n_div = int(np.sum(diag.divergences))

    ols = _ols(long)
    naive = fixed.set_index("term")[["estimate", "std_error"]].rename(
        columns={"estimate": "posterior_mean", "std_error": "posterior_sd"}).join(ols)
    naive["sd_ratio"] = naive["posterior_sd"] / naive["ols_se_iid"]
    tables = {
        "fixed_effects": fixed,
        "variance_components": vc.reset_index(),
        "vpc": vpc.reset_index(),
        "pilot_effects": pilot_table.reset_index(),
        "naive_ols": naive.reset_index(),
        "diagnostics": diag_table.reset_index(),
    }
    results: dict[str, Any] = {"model": res, "ols": ols}

    side_text = ""
    if not ctx.quick:
        ctx.step(0.65, "fitting the main-worker model (membership ignored)")
        main = (memberships.sort_values("weight", kind="stable").groupby("family_id").tail(1)
                [["family_id", "worker_id"]])
        with_main = long.merge(main, on="family_id")
        nested = MultilevelModel(FORMULA, with_main, levels=["la_code", "worker_id"],
                                 repeated="family_id")
        res_main = _fit(nested, settings, int(seeds[1]), "main-worker model", notes)
        side = pd.DataFrame({"membership": vc["sd_mean"],
                             "main_worker_only": res_main.variance_components()["sd_mean"]})
        if sdq_truth is not None:
            side["truth"] = [sdq_truth[_SD_TRUTH[c][1]] if c in _SD_TRUTH else np.nan
                             for c in side.index]
        tables["main_worker"] = side.reset_index()
        results["main_worker"] = res_main
        side_text = (f" Ignoring the changes of worker (each family in its main worker only) "
                     f"gives a worker SD of {side.loc['sigma_worker_id', 'main_worker_only']:.2f} "
                     f"against {side.loc['sigma_worker_id', 'membership']:.2f} with membership"
                     + (f" (truth {sdq_truth['sd_worker']:.1f})." if sdq_truth else "."))

    truth = None
    if sdq_truth is not None:
        truth = _truth_frame(tidy, vpc, pilots, sdq_truth, names)
    fig = _figure(res, pilots, names, sdq_truth["pilot_effect"] if sdq_truth else None)
    ctx.step(1.0, "done")

    term = "C(experience)[T.2 years plus]"
    if term not in naive.index:                        # a user frame with other labels
        term = next((t for t in naive.index if t.startswith("C(experience)")), naive.index[-1])
    nv = naive.loc[term]
    wave = naive.loc["wave[T.t2]"] if "wave[T.t2]" in naive.index else None
    n_fam, n_rows = long["family_id"].nunique(), long.shape[0]
    draws = settings
    truth_note = ""
    if truth is not None:
        truth_note = (f" On this simulated evaluation {int(truth['covered'].sum())} of "
                      f"{truth.shape[0]} true values lie inside their 95% credible intervals.")
    naive_text = (
        f"A single-level regression of all {n_rows} SDQ scores with iid standard errors puts "
        f"`{term}` at {nv['ols_estimate']:.2f} with SE {nv['ols_se_iid']:.2f} "
        f"(95% CI {nv['ols_ci_lower']:.2f} to {nv['ols_ci_upper']:.2f}); the multilevel "
        f"posterior has {nv['posterior_mean']:.2f} with SD {nv['posterior_sd']:.2f}, "
        f"{nv['sd_ratio']:.1f} times as wide. Experience varies only between ten pilots, and a "
        "family's two scores share its family and worker effects, so the iid SE counts "
        "correlated scores as independent information and is too small."
        + (f" For the T2 - T1 change, which varies within families, it is the other way round: "
           f"OLS SE {wave['ols_se_iid']:.2f} against posterior SD {wave['posterior_sd']:.2f} "
           "(the family effect is removed from the within-family comparison)."
           if wave is not None else "")
        + side_text)
    data_words = ("the shared simulated evaluation (`simulate_evaluation`, seed "
                  f"{ctx.seed})" if simulated else "the frames you supplied")
    method = (
        f"Data: {data_words}: {n_fam} families, {n_rows} SDQ scores (T1 for all, T2 for those "
        f"re-interviewed), {memberships['worker_id'].nunique()} social workers, "
        f"{long['la_code'].nunique()} pilots; {n_several} families "
        f"({n_several / max(families.shape[0], 1):.0%}) had more than one worker.\n\n"
        "Model: `MultilevelModel(\"" + FORMULA + "\", long, levels=[\"la_code\", "
        "\"worker_id\"], membership=memberships, repeated=\"family_id\")`. T1 and T2 are two "
        "rows per family with a family random effect (repeated measures); pilots get random "
        "intercepts; each family gets the contact-weighted sum of its workers' random effects "
        "(multiple membership), so a family seen by three workers is not filed under one of "
        "them. Default weakly informative priors scaled to the data; posterior means with "
        "equal-tailed 95% credible intervals.\n\n"
        "Why: ten pilots are too few for maximum likelihood to pin down a between-pilot "
        "variance (REML often returns 0); the Bayesian posterior says honestly how little ten "
        "groups tell, and partial pooling keeps the pilot effects from being over-fitted. "
        "Families who changed worker need multiple membership; nesting them in one worker "
        "misattributes the others' influence.\n\n"
        f"Sampler: nutpie, {draws['chains']} chains x ({draws['tune']} tuning + "
        f"{draws['draws']} draws), target_accept {TARGET_ACCEPT}"
        + (" (quick mode: short chains, read the diagnostics)" if ctx.quick else "")
        + f"; {n_div} divergent transition(s)." + truth_note)
    caveats = [
        "Ten pilots: the pilot SD and the pilot-level fixed effects (experience group) rest on "
        "ten observations and depend on the prior as much as on the data "
        "(`sosstats.multilevel.prior_sensitivity` checks this).",
        "Membership weights are taken as known shares of contact; errors in them attenuate the "
        "worker variance. Workers are treated as crossed with pilots.",
        "T2 scores exist only for re-interviewed families. The model is valid if attrition is "
        "missing at random given what it contains; in the simulation response depends on "
        "feelings at T1, which is not in the model.",
        "The true pilot effects are the realised draws of the simulation; the model estimates "
        "them relative to the intercept, so a shared shift of all ten moves into the "
        "intercept and the experience effects.",
    ]
    if ctx.quick:
        caveats.append("Quick mode: short chains, so R-hat and effective sample sizes can fail "
                       "the usual thresholds (see notes); run without --quick before quoting "
                       "these numbers.")
    if n_div:
        caveats.append(f"{n_div} divergent transition(s): the posterior may be slightly biased; "
                       "raise target_accept or reparameterise before reporting.")
    return Section(
        key=KEY, title=TITLE,
        question=("How much of the variation in families' SDQ scores lies between pilots, "
                  "between social workers and between families, how much did scores change "
                  "from T1 to T2, and how do the ten pilots compare once their small samples "
                  "are allowed for?"),
        method=method, tables=tables, figures={"pilots": fig}, naive=naive_text,
        caveats=caveats, simulated=simulated, truth=truth, notes=notes,
        captions={
            "published": "None: the 2017 evaluation fitted no multilevel model; its family "
                         "figures (concerns, re-referral, interviews at T1 and T2) are set "
                         "beside ours in the change and attrition strands.",
            "fixed_effects": "Posterior means, SDs and 95% credible intervals of the fixed "
                             "effects (SDQ points; lower is better).",
            "variance_components": "SDs and variances of the pilot, worker (membership), "
                                   "family and residual effects.",
            "vpc": "Variance partition coefficients; vpc_membership allows for a family's "
                   "variance from its workers being shared between them.",
            "pilot_effects": "Pilot effects: raw deviation, partially pooled estimate, 95% "
                             "interval and pooling factor (1 = pulled fully to 0).",
            "naive_ols": "The naive single-level OLS with iid SEs beside the posterior.",
            "diagnostics": "R-hat, bulk and tail effective sample sizes, MCSE.",
            "main_worker": "Variance components when each family is put in its main worker "
                           "only (membership ignored).",
            "pilots": "Left: pilot effects sorted, with 95% credible intervals (x: the "
                      "simulator's true effect, on simulated data). Right: raw deviations "
                      "against partially pooled estimates (dashed: no pooling).",
        },
        results=results,
    )
